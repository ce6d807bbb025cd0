package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"webfim/baseline"
	"webfim/export"
	"webfim/scan"
)

// diffFromFile compares an export file with the live roots (or the
// server mounted at --sysroot) without opening the database.
func diffFromFile(c *cli.Context, path string) error {
	if c.String("to") != "live" {
		return usageError{errors.New("diff --from FILE compares with the live roots only (--to live)")}
	}
	ring, requireSigned, err := keyRing(c)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	contents, err := export.Read(f, nil)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	st := contents.Statement
	var signedBy string
	for _, s := range contents.Signatures {
		v, err := ring.Verify(s)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if v.Trusted != nil && v.Statement.Digest() == st.Digest() {
			signedBy = v.Signer()
			break
		}
	}
	switch {
	case signedBy != "":
		infof(c, "export %s: baseline %s, signed by %s\n", path, describeStatement(st), signedBy)
	case requireSigned:
		return fmt.Errorf("%s: refusing an export that is not signed by a trusted key (require_signed in webfim.yml)", path)
	default:
		fmt.Fprintf(c.App.ErrWriter, "webfim: warning: export %s (baseline %s) is not signed by a trusted key: it is only known to be intact\n", path, describeStatement(st))
	}

	meta := metaOfStatement(st)
	meta.ID = contents.Header.BaselineID
	t := scan.TargetOf(meta)
	// The baseline may have been taken on the live server and be compared
	// with its disk image mounted elsewhere: move the roots and configs
	// into the new sysroot, and the records with them.
	rootMap := map[string]string{}
	if sys := c.String("sysroot"); sys != "" {
		abs, err := filepath.Abs(sys)
		if err != nil {
			return usageError{fmt.Errorf("--sysroot %s: %w", sys, err)}
		}
		move := func(p string) string {
			rel := p
			if meta.Sysroot != "" && meta.Sysroot != "/" {
				rel = strings.TrimPrefix(p, meta.Sysroot)
			}
			return filepath.Join(abs, filepath.FromSlash(rel))
		}
		for i, r := range t.Roots {
			rootMap[r] = move(r)
			t.Roots[i] = rootMap[r]
		}
		for i := range t.Configs {
			t.Configs[i].Path = move(t.Configs[i].Path)
		}
		t.Sysroot = abs
		meta.Roots, meta.Sysroot = t.Roots, abs
	}
	pol, err := loadConfig(c.String("config"))
	if err != nil {
		return err
	}
	if c.String("config") != "" {
		var s scan.Scope
		applyPolicy(&s, pol)
		t = s.Over(t)
	}
	if t.Indicators, t.YARA, err = contentScan(c.Context, pol); err != nil {
		return err
	}
	records := export.Records(func() (io.ReadCloser, error) { return os.Open(path) })
	old := func(yield func(baseline.Record, error) bool) {
		for r, err := range records {
			if to, ok := rootMap[r.Root]; ok {
				r.Root = to
			}
			if !yield(r, err) {
				return
			}
		}
	}
	rep, err := newReporter(c)
	if err != nil {
		return err
	}
	if err := rep.begin(meta, nil); err != nil {
		return err
	}
	opt := scan.Options{Full: !c.Bool("fast"), OnError: warnEntry(c), OnContentError: warnContent(c)}
	res, err := scan.DiffLive(c.Context, old, contents.Items, t, opt, scan.Emitter{File: rep.file, Item: rep.item})
	if err != nil {
		return fmt.Errorf("diff: %w", err)
	}
	if err := rep.end(res); err != nil {
		return err
	}
	if bits := res.ExitBits(); bits != 0 {
		return differences(bits)
	}
	return nil
}
