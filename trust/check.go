package trust

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// SignatureCheck is one stored signature, checked.
type SignatureCheck struct {
	// Verified is the signature's key and statement when Err is nil.
	Verified Verified
	// Err says why the signature does not verify (it wraps
	// [ErrBadSignature]).
	Err error
}

// Report is a baseline checked against the statement recorded when it
// was taken and against its signatures ([CheckBaseline]).
type Report struct {
	// Recorded is the statement recorded when the baseline was taken; nil
	// when there is none (a baseline of an older webfim) or it is damaged
	// (RecordedErr).
	Recorded    *Statement
	RecordedErr error
	Signatures  []SignatureCheck
	// NoTrustedKeys: the key ring is empty, so nothing can be trusted.
	NoTrustedKeys bool
	// Signed is the statement signed by a trusted key, the one with the
	// highest sequence if several are; nil if none. SignedBy names the
	// key.
	Signed   *Statement
	SignedBy string
	// Reference is what the content was compared with: Signed, else
	// Recorded (which proves nothing against an attacker who rewrites the
	// database, but catches damage); nil if neither.
	Reference *Statement
	// Current is the statement of the baseline as it is now, its sequence
	// and version set to the reference's (the sequence is not a property
	// of the content; a version 1 reference signed no review).
	Current Statement
	// Mismatches are the differences between Reference and Current.
	Mismatches []Mismatch
}

// CheckBaseline checks a baseline whose statement, recomputed now from its
// records, inventory and metadata, is current; recorded is the statement
// text recorded when it was taken (nil if none) and sigs its stored
// signatures.
func CheckBaseline(ring *KeyRing, recorded []byte, sigs []Signature, current Statement) *Report {
	r := &Report{Current: current, NoTrustedKeys: ring.Len() == 0}
	if recorded != nil {
		r.Recorded, r.RecordedErr = ParseStatement(recorded)
	}
	for _, s := range sigs {
		v, err := ring.Verify(s)
		r.Signatures = append(r.Signatures, SignatureCheck{Verified: v, Err: err})
		if err == nil && v.Trusted != nil && (r.Signed == nil || v.Statement.Sequence > r.Signed.Sequence) {
			r.Signed, r.SignedBy = v.Statement, v.Signer()
		}
	}
	r.Reference = r.Recorded
	if r.Signed != nil {
		r.Reference = r.Signed
	}
	if r.Reference != nil {
		r.Current.Sequence = r.Reference.Sequence
		// A version 1 reference is compared in its own version.
		r.Current.V1 = r.Reference.V1
		r.Mismatches = Compare(r.Reference, &r.Current)
	}
	return r
}

// ReferenceName says what the reference is: "signed" or "recorded".
func (r *Report) ReferenceName() string {
	if r.Signed != nil {
		return "signed"
	}
	return "recorded"
}

// ErrUntrusted is what an [*UntrustedError] is.
var ErrUntrusted = errors.New("baseline not trusted")

// UntrustedError says why a baseline is not trusted: each reason is a
// clause for people ("it is not signed").
type UntrustedError struct{ Reasons []string }

func (e *UntrustedError) Error() string { return strings.Join(e.Reasons, "; ") }

// Is makes errors.Is(err, ErrUntrusted) true.
func (e *UntrustedError) Is(target error) bool { return target == ErrUntrusted }

// Trusted returns nil if the baseline is signed by a trusted key and its
// content and metadata are what was signed; otherwise an
// [*UntrustedError] that says what is wrong.
func (r *Report) Trusted() error {
	var problems []string
	if r.Signed == nil {
		problems = append(problems, r.unsignedReason())
	}
	if len(r.Mismatches) > 0 {
		var what []string
		for i, m := range r.Mismatches {
			if i == 3 {
				what = append(what, fmt.Sprintf("and %d more", len(r.Mismatches)-i))
				break
			}
			what = append(what, m.Describe(r.ReferenceName()))
		}
		problems = append(problems, fmt.Sprintf("it differs from its %s digest (%s)", r.ReferenceName(), strings.Join(what, "; ")))
	}
	if len(problems) == 0 {
		return nil
	}
	return &UntrustedError{Reasons: problems}
}

func (r *Report) unsignedReason() string {
	if r.NoTrustedKeys {
		return "no trusted keys to check its signatures with (webfim.yml trusted_keys)"
	}
	if len(r.Signatures) == 0 {
		return "it is not signed"
	}
	var reasons []string
	for _, s := range r.Signatures {
		switch {
		case s.Err != nil:
			reasons = append(reasons, s.Err.Error())
		case s.Verified.Trusted == nil:
			reasons = append(reasons, "signed by "+s.Verified.Signer()+", which is not a trusted key")
		}
	}
	return "it is not signed by a trusted key (" + strings.Join(reasons, "; ") + ")"
}

// Mark is the newest signed baseline seen from a host: a baseline older
// than it is a replay.
type Mark struct {
	Host     string
	Sequence uint64
	Created  time.Time
	Digest   string
	// From says where it was seen, for people ("baseline 12", "the
	// database's signed marks", "the watch daemon's memory").
	From string
}

// MarkOf is the mark a signed statement sets.
func MarkOf(st *Statement, from string) Mark {
	return Mark{Host: st.Host, Sequence: st.Sequence, Created: st.Created, Digest: st.Digest().String(), From: from}
}

// CheckFresh returns nil unless signed is older (by sequence) than
// newest, a mark of the same host: then it is a replay, and the
// [*UntrustedError] says so.
func CheckFresh(signed *Statement, newest Mark) error {
	if newest.Host != signed.Host || newest.Sequence <= signed.Sequence {
		return nil
	}
	return &UntrustedError{Reasons: []string{fmt.Sprintf("signed baseline sequence %d (created %s) is older than the newest signed baseline seen from host %s: sequence %d (created %s, %s, in %s)",
		signed.Sequence, signed.Created.UTC().Format("2006-01-02 15:04:05 UTC"), Quote(signed.Host), newest.Sequence,
		newest.Created.UTC().Format("2006-01-02 15:04:05 UTC"), newest.Digest, newest.From)}}
}
