package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"webfim/baseline"
	"webfim/config"
	"webfim/store"
	"webfim/trust"
)

// trustedKeyFlag adds trusted keys besides webfim.yml's trusted_keys.
var trustedKeyFlag = &cli.StringSliceFlag{
	Name:  "trusted-key",
	Usage: "trust the public keys in `FILE` (a .pub file or authorized_keys lines; repeatable), besides webfim.yml's trusted_keys",
}

// signingFlags choose the key that signs.
var signingFlags = []cli.Flag{
	&cli.StringFlag{Name: "key", Usage: "sign with the private key in `FILE`; a public key file (.pub) signs with its private half in ssh-agent"},
	&cli.BoolFlag{Name: "agent", Usage: "sign with the Ed25519 key held by ssh-agent (SSH_AUTH_SOCK)"},
}

// keyRing returns the trusted keys of the config file and of --trusted-key,
// and whether the config requires signed baselines.
func keyRing(c *cli.Context) (*trust.KeyRing, bool, error) {
	pol, err := loadConfig(c.String("config"))
	if err != nil {
		return nil, false, err
	}
	ring, err := configKeyRing(pol)
	if err != nil {
		return nil, false, err
	}
	for _, f := range c.StringSlice("trusted-key") {
		if err := ring.AddFile(f); err != nil {
			return nil, false, usageError{err}
		}
	}
	return ring, pol.RequireSigned, nil
}

// newBaselineSigningFlags choose the key that signs a baseline as it is
// taken (baseline create, deploy finish).
var newBaselineSigningFlags = []cli.Flag{
	&cli.StringFlag{Name: "sign-key", Usage: "sign the new baseline before it is published with the private key in `FILE` (a .pub file: its private half in ssh-agent)"},
	&cli.BoolFlag{Name: "agent", Usage: "sign the new baseline before it is published with the Ed25519 key held by ssh-agent (SSH_AUTH_SOCK)"},
}

// configKeyRing returns the trusted keys of a config file.
func configKeyRing(pol *config.Config) (*trust.KeyRing, error) {
	ring := &trust.KeyRing{}
	for _, k := range pol.TrustedKeys {
		tk, err := trust.ParseTrustedKey(k)
		if err != nil {
			return nil, usageError{err} // Load validated it already
		}
		ring.Add(tk)
	}
	return ring, nil
}

// signer returns the signer chosen by --key/--agent and a function to
// call when done.
func signer(c *cli.Context) (ssh.Signer, func(), error) {
	keyFile, useAgent := c.String("key"), c.Bool("agent")
	if keyFile == "" && !useAgent {
		return nil, nil, usageError{errors.New("choose the signing key: --key FILE (a private key, or a .pub file whose key is in ssh-agent) or --agent")}
	}
	return loadSigner(keyFile, useAgent)
}

// loadSigner returns the signer of a key file (a private key; a public
// key file whose private half is in ssh-agent), or of ssh-agent's only
// Ed25519 key, and a function to call when done.
func loadSigner(keyFile string, useAgent bool) (ssh.Signer, func(), error) {
	var want ssh.PublicKey
	if keyFile != "" {
		s, pub, err := trust.LoadSigner(keyFile, passphrase(keyFile))
		switch {
		case err == nil && !useAgent:
			return s, func() {}, nil
		case err == nil:
			want = pub
		case errors.Is(err, trust.ErrPublicKeyFile):
			want = pub
		default:
			return nil, nil, err
		}
	}
	s, closer, err := trust.AgentSigner(os.Getenv("SSH_AUTH_SOCK"), want)
	if err != nil {
		return nil, nil, err
	}
	return s, func() { closer.Close() }, nil
}

// newBaselineSigner returns the hook that signs a baseline being taken
// (scan.Options.OnStatement) when --sign-key or --agent is given, nil
// otherwise, and a function to call when done. Under require_signed a key
// that is not trusted is refused before anything is hashed.
func newBaselineSigner(c *cli.Context, ring *trust.KeyRing, required bool) (func(*trust.Statement, []byte) ([][]byte, error), func(), error) {
	keyFile, useAgent := c.String("sign-key"), c.Bool("agent")
	if keyFile == "" && !useAgent {
		return nil, func() {}, nil
	}
	s, done, err := loadSigner(keyFile, useAgent)
	if err != nil {
		return nil, nil, err
	}
	if ring.Find(s.PublicKey()) == nil {
		if required {
			done()
			return nil, nil, usageError{fmt.Errorf("the signing key %s is not a trusted key (webfim.yml trusted_keys), and require_signed is set: diff and watch would refuse the baseline", trust.DescribeKey(s.PublicKey(), ""))}
		}
		fmt.Fprintf(c.App.ErrWriter, "webfim: warning: the signing key %s is not a trusted key (webfim.yml trusted_keys): verify will not accept its signature\n", trust.DescribeKey(s.PublicKey(), ""))
	}
	hook := func(_ *trust.Statement, text []byte) ([][]byte, error) {
		armored, err := trust.Sign(text, s)
		if err != nil {
			return nil, err
		}
		blob, err := json.Marshal(trust.Signature{Statement: text, Armored: armored})
		if err != nil {
			return nil, err
		}
		return [][]byte{blob}, nil
	}
	return hook, done, nil
}

// passphrase asks for the passphrase of an encrypted key: from
// $WEBFIM_KEY_PASSPHRASE, else on the terminal.
func passphrase(keyFile string) func() ([]byte, error) {
	return func() ([]byte, error) {
		if p, ok := os.LookupEnv("WEBFIM_KEY_PASSPHRASE"); ok {
			return []byte(p), nil
		}
		tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err != nil || !term.IsTerminal(int(tty.Fd())) {
			return nil, errors.New("the key is encrypted: set WEBFIM_KEY_PASSPHRASE or run on a terminal")
		}
		defer tty.Close()
		fmt.Fprintf(tty, "passphrase for %s: ", keyFile)
		p, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		return p, err
	}
}

// recompute computes the statement and index of a stored baseline from
// its records, inventory and metadata as they are now; the sequence is
// the baseline's id.
func recompute(db *store.DB, m store.Meta) (trust.Statement, *trust.Index, error) {
	b := trust.NewBuilder()
	if err := b.AddAll(db.Records(m.ID, "")); err != nil {
		return trust.Statement{}, nil, err
	}
	items, err := db.Inventory(m.ID)
	if err != nil {
		return trust.Statement{}, nil, err
	}
	for i := range items {
		if err := b.AddItem(&items[i]); err != nil {
			return trust.Statement{}, nil, err
		}
	}
	st, ix := b.Finish(m.Statement())
	return st, ix, nil
}

// recordedStatement returns the statement recorded when the baseline was
// taken. A baseline taken before digests were recorded gets one computed
// now, from the records as they are, and stored (with a warning).
func recordedStatement(c *cli.Context, db *store.DB, m store.Meta) (*trust.Statement, []byte, error) {
	d, err := db.Digest(m.ID)
	if err != nil {
		return nil, nil, err
	}
	if d.Statement != nil {
		st, err := trust.ParseStatement(d.Statement)
		if err != nil {
			return nil, nil, fmt.Errorf("baseline %d: recorded digest: %w", m.ID, err)
		}
		return st, d.Statement, nil
	}
	fmt.Fprintf(c.App.ErrWriter, "webfim: warning: baseline %d has no recorded digest (taken by an older webfim): computing it now from the records as they are stored; this vouches for the database as it is\n", m.ID)
	st, ix, err := recompute(db, m)
	if err != nil {
		return nil, nil, err
	}
	text := st.MarshalText()
	if err := db.PutDigest(m.ID, text, ix); err != nil {
		return nil, nil, err
	}
	return &st, text, nil
}

// storedSignatures decodes the signatures stored with a baseline.
func storedSignatures(db *store.DB, id uint64) ([]trust.Signature, error) {
	d, err := db.Digest(id)
	if err != nil {
		return nil, err
	}
	var out []trust.Signature
	for i, blob := range d.Signatures {
		var s trust.Signature
		if err := json.Unmarshal(blob, &s); err != nil {
			return nil, fmt.Errorf("baseline %d: signature %d is damaged: %v", id, i+1, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// markOf is the signed mark a verified statement sets.
func markOf(st *trust.Statement) store.SignedMark {
	return store.SignedMark{Host: st.Host, Sequence: st.Sequence, Created: st.Created, Digest: st.Digest().String()}
}

// checkStored checks a stored baseline against the statement recorded
// when it was taken and against its signatures, recomputing its
// statement (and index) from every record: one read of the baseline.
func checkStored(db *store.DB, ring *trust.KeyRing, m store.Meta) (*trust.Report, *trust.Index, error) {
	d, err := db.Digest(m.ID)
	if err != nil {
		return nil, nil, err
	}
	sigs, err := storedSignatures(db, m.ID)
	if err != nil {
		return nil, nil, err
	}
	cur, ix, err := recompute(db, m)
	if err != nil {
		return nil, nil, err
	}
	return trust.CheckBaseline(ring, d.Statement, sigs, cur), ix, nil
}

// newestSigned returns the newest signed baseline the database has seen
// from host, besides baseline except: any other baseline signed by a
// trusted key, and the host's signed mark (which outlives the deletion
// of that baseline). ok is false if there is none.
func newestSigned(db *store.DB, ring *trust.KeyRing, host string, except uint64) (newest trust.Mark, ok bool, err error) {
	list, err := db.List()
	if err != nil {
		return trust.Mark{}, false, err
	}
	for _, o := range list {
		if o.ID == except {
			continue
		}
		sigs, err := storedSignatures(db, o.ID)
		if err != nil {
			continue // that baseline's own verify reports it
		}
		for _, s := range sigs {
			v, err := ring.Verify(s)
			if err != nil || v.Trusted == nil || v.Statement.Host != host {
				continue
			}
			if !ok || v.Statement.Sequence > newest.Sequence {
				newest, ok = trust.MarkOf(v.Statement, fmt.Sprintf("baseline %d", o.ID)), true
			}
		}
	}
	marks, err := db.SignedMarks()
	if err != nil {
		return trust.Mark{}, false, err
	}
	if mk, found := marks[host]; found && (!ok || mk.Sequence > newest.Sequence) {
		newest, ok = trust.Mark{Host: mk.Host, Sequence: mk.Sequence, Created: mk.Created, Digest: mk.Digest, From: "the database's signed marks"}, true
	}
	return newest, ok, nil
}

// trustedBaseline is the check of require_signed: it returns the
// statement that a trusted key signed for m if m is what was signed
// (content and metadata) and, when m is the active baseline, not older
// than the newest signed baseline seen from its host; otherwise an error
// that names the baseline and says what is wrong (wrapping
// trust.ErrUntrusted).
func trustedBaseline(db *store.DB, ring *trust.KeyRing, m store.Meta) (*trust.Report, error) {
	rep, _, err := checkStored(db, ring, m)
	if err != nil {
		return nil, err
	}
	return rep, checkTrusted(db, ring, m, rep)
}

// checkTrusted is trustedBaseline's verdict on rep, the report of
// checkStored: the check of the records (rep) is costly, this one is not
// (it reads the signatures of the database's baselines and its marks).
func checkTrusted(db *store.DB, ring *trust.KeyRing, m store.Meta, rep *trust.Report) error {
	err := rep.Trusted()
	if err == nil && m.Active {
		newest, ok, nerr := newestSigned(db, ring, rep.Signed.Host, m.ID)
		if nerr != nil {
			return nerr
		}
		if ok {
			err = trust.CheckFresh(rep.Signed, newest)
		}
	}
	if err != nil {
		return fmt.Errorf("baseline %d%s is not trusted: %w (require_signed is set; 'webfim baseline verify %d' says more)", m.ID, labelSuffix(m), err, m.ID)
	}
	return nil
}

// isExportFile reports whether a --from value or argument names an
// export file rather than a baseline: a path (with a separator) or a name
// ending in .webfim that exists.
func isExportFile(ref string) bool {
	if !strings.ContainsRune(ref, '/') && !strings.ContainsRune(ref, filepath.Separator) && !strings.HasSuffix(ref, ".webfim") {
		return false
	}
	fi, err := os.Stat(ref)
	return err == nil && fi.Mode().IsRegular()
}

// metaOfStatement is the store metadata an exported or imported baseline
// has.
func metaOfStatement(st *trust.Statement) store.Meta {
	m := store.Meta{
		Label: st.Label, Created: st.Created, Host: st.Host, Configs: st.Configs, Version: st.Version,
		Full: st.Full, HashAllSHA256: st.HashAllSHA256, Sysroot: st.Sysroot,
		Files: st.Counts.Files, Dirs: st.Counts.Dirs, Symlinks: st.Counts.Symlinks, Others: st.Counts.Others,
		Errors: st.Counts.Errors, Unstable: st.Counts.Unstable, Bytes: st.Counts.Bytes,
		Review: st.Review, StatementV1: st.V1,
	}
	for _, r := range st.Roots {
		m.Roots = append(m.Roots, r.Path)
	}
	return m
}

// describeBaseline names a signed statement for people.
func describeStatement(st *trust.Statement) string {
	s := fmt.Sprintf("sequence %d of host %s, created %s", st.Sequence, trust.Quote(st.Host), st.Created.UTC().Format("2006-01-02 15:04:05 UTC"))
	if st.Label != "" {
		s = fmt.Sprintf("%q, ", st.Label) + s
	}
	return s
}

// recordPaths returns the paths of the records of one root at the given
// positions (counted from 0).
func recordPaths(records baseline.State, positions map[uint64]bool) (map[uint64]string, error) {
	out := map[uint64]string{}
	var i uint64
	for r, err := range records {
		if err != nil {
			return out, err
		}
		if positions[i] {
			out[i] = r.Path
			if len(out) == len(positions) {
				break
			}
		}
		i++
	}
	return out, nil
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
