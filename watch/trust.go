package watch

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"webfim/scan"
	"webfim/trust"
)

// Verifier checks that a baseline is what a trusted key signed before the
// daemon judges changes against it (require_signed in webfim.yml). The
// command wires one over the store and the trusted keys.
type Verifier interface {
	// Verify checks b: signed by a trusted key, its records, inventory
	// and metadata what was signed, and, as the active baseline, not
	// older than the newest signed baseline the database has seen from
	// its host. It returns the signed statement and the signing key, or
	// an error that says what is wrong: one wrapping trust.ErrUntrusted
	// when b is not trusted (records that cannot be read included), any
	// other when it could not be checked now (the database is locked),
	// which the daemon tries again later. With full unset, a result for
	// the same baseline with the same signatures may be reused; full
	// re-reads every record.
	Verify(ctx context.Context, b scan.Baseline, full bool) (Verified, error)
}

// Verified is a baseline's signed statement and the key that signed it.
type Verified struct {
	Statement *trust.Statement
	Signer    string
}

// memoryMark is where a mark kept by the daemon comes from, for people.
const memoryMark = "the watch daemon's memory (since it started)"

// verify checks b with v and against the newest signed baseline the
// daemon has seen since it started, which an attacker cannot roll back by
// restoring an older database (the database's own marks go with it).
func (d *Daemon) verify(ctx context.Context, v Verifier, b scan.Baseline, full bool) (Verified, error) {
	ver, err := v.Verify(ctx, b, full)
	if err != nil {
		return Verified{}, err
	}
	d.mu.Lock()
	newest, ok := d.newestSigned[ver.Statement.Host]
	d.mu.Unlock()
	if ok {
		if err := trust.CheckFresh(ver.Statement, newest); err != nil {
			return Verified{}, err
		}
	}
	return ver, nil
}

// trusted records a verified baseline as the newest signed one seen from
// its host, if it is.
func (d *Daemon) trusted(ver Verified) {
	st := ver.Statement
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.newestSigned[st.Host]; !ok || st.Sequence > old.Sequence {
		d.newestSigned[st.Host] = trust.MarkOf(st, memoryMark)
	}
}

// reason is what an untrusted-baseline alert says is wrong.
func reason(err error) string {
	var ue *trust.UntrustedError
	if errors.As(err, &ue) {
		return strings.Join(ue.Reasons, "; ")
	}
	return "it cannot be verified: " + err.Error()
}

// refuse reports that baseline b is not trusted, once per baseline and
// reason: an error in the log and the alert of rule webfim-031 (unless
// the policy disables it). Changes stay judged against the last verified
// baseline.
func (d *Daemon) refuse(ctx context.Context, b scan.Baseline, err error) {
	why := reason(err)
	d.mu.Lock()
	repeated := d.refused[b.ID] == why
	d.refused[b.ID] = why
	judged, judge := d.active, d.judge
	d.mu.Unlock()
	if repeated {
		return
	}
	d.log.Error("baseline not trusted (require_signed); changes are judged against the last verified baseline",
		"baseline", b.ID, "label", b.Label, "reason", why, "judged_against", judged.ID)
	v := judge.EvaluateBaseline(why)
	if v.Drop {
		return
	}
	d.notice(ctx, Notice{Kind: NoticeBaselineUntrusted, Baseline: b, Judged: judged, Message: why, Verdict: v})
}

// accept checks a baseline that became active: true if it is trusted
// (or nothing is required), false if it was refused.
func (d *Daemon) accept(ctx context.Context, v Verifier, b scan.Baseline) bool {
	if v == nil {
		return true
	}
	ver, err := d.verify(ctx, v, b, false)
	if err != nil {
		if errors.Is(err, trust.ErrUntrusted) {
			d.refuse(ctx, b, err)
		} else {
			d.log.Warn("cannot verify the new active baseline now; trying again", "baseline", b.ID, "err", err)
		}
		return false
	}
	d.trusted(ver)
	d.mu.Lock()
	delete(d.refused, b.ID)
	d.mu.Unlock()
	d.log.Info("active baseline verified", "baseline", b.ID, "label", b.Label, "signed_by", ver.Signer, "sequence", ver.Statement.Sequence)
	return true
}

// reverify checks the baseline changes are judged against again, reading
// every record: an edit of its records in the database since it was
// verified is reported (at each full rescan).
func (d *Daemon) reverify(ctx context.Context, v Verifier) {
	_, _, b, _ := d.snapshot()
	if v == nil || b.ID == 0 {
		return
	}
	ver, err := d.verify(ctx, v, b, true)
	switch {
	case err == nil:
		d.trusted(ver)
	case errors.Is(err, trust.ErrUntrusted):
		d.refuse(ctx, b, err)
	case ctx.Err() == nil:
		d.log.Warn("cannot verify the baseline judged against now; trying again at the next full rescan", "baseline", b.ID, "err", err)
	}
}

// checkStart is require_signed at start: the active baseline must be
// trusted, or the daemon does not start.
func (d *Daemon) checkStart(ctx context.Context, v Verifier, b scan.Baseline) error {
	if v == nil {
		return nil
	}
	ver, err := d.verify(ctx, v, b, true)
	if err != nil {
		return fmt.Errorf("watch: refusing to start: %w", err)
	}
	d.trusted(ver)
	d.log.Info("active baseline verified", "baseline", b.ID, "label", b.Label, "signed_by", ver.Signer, "sequence", ver.Statement.Sequence)
	return nil
}
