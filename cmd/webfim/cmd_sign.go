package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"webfim/store"
	"webfim/trust"
)

// baselineSignCommand is "webfim baseline sign", registered in main.go.
func baselineSignCommand() *cli.Command {
	return &cli.Command{
		Name:      "sign",
		Usage:     "sign a baseline's digest, or print the statement to sign elsewhere",
		ArgsUsage: "[flags] ID",
		Description: `Checks that the baseline still matches the digest recorded when it was
taken, then signs it (an SSH signature in the namespace webfim-baseline)
with --key FILE or --agent and stores the signature with it.
With --print-digest, prints the statement to sign instead (sign it on
another host with 'webfim sign-digest' or 'ssh-keygen -Y sign -n
webfim-baseline', then 'webfim baseline attach-signature').`,
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "print-digest", Usage: "print the statement to sign (its SHA-256 is the digest) and sign nothing"},
			trustedKeyFlag,
		}, signingFlags...),
		Action: baselineSign,
	}
}

// baselineAttachSignatureCommand is "webfim baseline attach-signature",
// registered in main.go.
func baselineAttachSignatureCommand() *cli.Command {
	return &cli.Command{
		Name:      "attach-signature",
		Usage:     "store a signature made elsewhere (webfim sign-digest, ssh-keygen -Y sign) with a baseline",
		ArgsUsage: "[flags] ID SIGNATURE_FILE",
		Flags: []cli.Flag{
			trustedKeyFlag,
			&cli.BoolFlag{Name: "activate", Usage: "then make the baseline the active one, if a trusted key signed it"},
		},
		Action: baselineAttach,
	}
}

// signDigestCommand is the "webfim sign-digest" command, registered in main.go.
func signDigestCommand() *cli.Command {
	return &cli.Command{
		Name:      "sign-digest",
		Usage:     "sign a baseline statement printed by 'baseline sign --print-digest' (on the signing host)",
		ArgsUsage: "[flags] [STATEMENT_FILE|-]",
		Description: `Reads the statement (from the file, or standard input), shows what it
describes on standard error, and writes the armored SSH signature to
standard output or --output.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the signature to `FILE`"},
		}, signingFlags...),
		Action: signDigest,
	}
}

// checkedStatement returns the baseline's recorded statement after
// checking that the baseline still matches it.
func checkedStatement(c *cli.Context, db *store.DB, m store.Meta) (*trust.Statement, []byte, error) {
	st, text, err := recordedStatement(c, db, m)
	if err != nil {
		return nil, nil, err
	}
	cur, _, err := recompute(db, m)
	if err != nil {
		return nil, nil, err
	}
	cur.Sequence = st.Sequence
	if mm := trust.Compare(st, &cur); len(mm) > 0 {
		msg := fmt.Sprintf("baseline %d no longer matches the digest recorded when it was taken (run 'webfim baseline verify %d'):", m.ID, m.ID)
		for _, x := range mm {
			msg += "\n  " + x.Describe("recorded")
		}
		return nil, nil, errors.New(msg)
	}
	return st, text, nil
}

func baselineSign(c *cli.Context) error {
	return withBaseline(c, func(db *store.DB, m store.Meta) error {
		st, text, err := checkedStatement(c, db, m)
		if err != nil {
			return err
		}
		if c.Bool("print-digest") {
			_, err := c.App.Writer.Write(text)
			infof(c, "baseline %d%s: digest %s\n", m.ID, labelSuffix(m), st.Digest())
			return err
		}
		ring, _, err := keyRing(c)
		if err != nil {
			return err
		}
		s, done, err := signer(c)
		if err != nil {
			return err
		}
		defer done()
		armored, err := trust.Sign(text, s)
		if err != nil {
			return err
		}
		return storeSignature(c, db, m, ring, trust.Signature{Statement: text, Armored: armored})
	})
}

// storeSignature verifies a signature over the baseline's statement and
// stores it; a signature by a trusted key raises the host's signed mark.
func storeSignature(c *cli.Context, db *store.DB, m store.Meta, ring *trust.KeyRing, sig trust.Signature) error {
	v, err := ring.Verify(sig)
	if err != nil {
		return fmt.Errorf("baseline %d: %w (is it a signature of this baseline's statement, 'baseline sign --print-digest %d'?)", m.ID, err, m.ID)
	}
	blob, err := json.Marshal(sig)
	if err != nil {
		return err
	}
	if err := db.AddSignature(m.ID, blob); err != nil {
		return err
	}
	if v.Trusted != nil {
		if _, err := db.RaiseSignedMark(markOf(v.Statement)); err != nil {
			return err
		}
	}
	infof(c, "baseline %d%s: digest %s signed by %s\n", m.ID, labelSuffix(m), v.Statement.Digest(), v.Signer())
	if v.Trusted == nil {
		fmt.Fprintf(c.App.ErrWriter, "webfim: warning: the key %s is not a trusted key (webfim.yml trusted_keys, --trusted-key): verify will not accept this signature\n", v.Signer())
	}
	return nil
}

func baselineAttach(c *cli.Context) error {
	if c.NArg() != 2 {
		return usageError{errors.New("baseline attach-signature needs ID SIGNATURE_FILE")}
	}
	armored, err := os.ReadFile(c.Args().Get(1))
	if err != nil {
		return err
	}
	db, err := openExistingDB(c)
	if err != nil {
		return err
	}
	m, err := resolve(db, c.Args().First())
	if err != nil {
		return err
	}
	_, text, err := checkedStatement(c, db, m)
	if err != nil {
		return err
	}
	ring, _, err := keyRing(c)
	if err != nil {
		return err
	}
	sig := trust.Signature{Statement: text, Armored: armored}
	if err := storeSignature(c, db, m, ring, sig); err != nil {
		return err
	}
	if !c.Bool("activate") {
		return nil
	}
	v, err := ring.Verify(sig)
	if err != nil || v.Trusted == nil {
		return fmt.Errorf("baseline %d%s not activated: the signature is not by a trusted key", m.ID, labelSuffix(m))
	}
	newest, ok, err := newestSigned(db, ring, v.Statement.Host, m.ID)
	if err != nil {
		return err
	}
	if ok {
		if err := trust.CheckFresh(v.Statement, newest); err != nil {
			return fmt.Errorf("baseline %d%s not activated: %w", m.ID, labelSuffix(m), err)
		}
	}
	if err := db.Activate(m.ID); err != nil {
		return err
	}
	infof(c, "baseline %d%s is active\n", m.ID, labelSuffix(m))
	return nil
}

func signDigest(c *cli.Context) error {
	if c.NArg() > 1 {
		return usageError{errors.New("sign-digest takes at most one STATEMENT_FILE")}
	}
	var in io.Reader = os.Stdin
	if name := c.Args().First(); name != "" && name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	text, err := io.ReadAll(io.LimitReader(in, 16<<20+1))
	if err != nil {
		return err
	}
	st, err := trust.ParseStatement(text)
	if err != nil {
		return fmt.Errorf("not signing: %w", err)
	}
	infof(c, "signing baseline %s\n  digest %s\n", describeStatement(st), st.Digest())
	for _, r := range st.Roots {
		infof(c, "  root %s: %d entries\n", trust.Quote(r.Path), r.Leaves)
	}
	// The signer vouches for what the deploy review trusted: say it.
	if rv := st.Review; rv != nil {
		infof(c, "  review by %s: %d finding(s) accepted (%s), %d held out\n", trust.Quote(rv.By), len(rv.Accepted), trust.Quote(rv.Reason), len(rv.Held))
		for _, f := range rv.Accepted {
			infof(c, "    accepted %s %s %s\n", f.Severity, f.Rule, trust.Quote(f.Subject))
		}
	}
	s, done, err := signer(c)
	if err != nil {
		return err
	}
	defer done()
	armored, err := trust.Sign(text, s)
	if err != nil {
		return err
	}
	if out := c.String("output"); out != "" {
		return os.WriteFile(out, armored, 0o644)
	}
	_, err = c.App.Writer.Write(armored)
	return err
}
