package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"webfim/baseline"
	"webfim/export"
	"webfim/store"
	"webfim/trust"
)

// Exit status bits of baseline verify (errors use 16 and above).
const (
	verifyUnsigned = 1 // no valid signature by a trusted key
	verifyAltered  = 2 // the content or metadata differs from the signed (or recorded) digest
	verifyStale    = 4 // older than the newest signed baseline seen from its host
)

// baselineVerifyCommand is "webfim baseline verify", registered in main.go.
func baselineVerifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check a baseline (or an export file) against its signed digest",
		ArgsUsage: "[flags] ID|FILE",
		Description: `Recomputes the digest of the baseline from the records, inventory and
metadata as stored, checks its signatures with the trusted keys, and
says which metadata field, root or path differs from what was signed,
or which key signed it. The active baseline must also be the newest
signed one seen from its host (a replayed older baseline is refused).
With --against FILE, the baseline is compared record by record with an
export kept elsewhere. An argument that names a file (a path, or *.webfim)
verifies that export file on its own, without a database.

Exit status: 0 verified; otherwise the bit sum of 1 (not signed by a
trusted key), 2 (differs from the signed digest), 4 (older than the newest
signed baseline seen); 16 error, 17 usage error, 18 database locked.`,
		Flags: []cli.Flag{
			trustedKeyFlag,
			&cli.StringFlag{Name: "against", Usage: "compare with the export `FILE` (kept off the server) record by record"},
		},
		Action: baselineVerify,
	}
}

// verifyReport collects what verify finds and prints it.
type verifyReport struct {
	w    io.Writer
	bits int
}

func (r *verifyReport) fail(bit int, format string, args ...any) {
	r.bits |= bit
	fmt.Fprintf(r.w, "FAIL: "+format+"\n", args...)
}

func (r *verifyReport) ok(format string, args ...any) {
	fmt.Fprintf(r.w, "ok: "+format+"\n", args...)
}

func (r *verifyReport) result() error {
	if r.bits != 0 {
		return differences(r.bits)
	}
	return nil
}

// printSignatures reports each checked signature; digest is the one the
// baseline should have. It fails verifyUnsigned when no trusted key
// signed.
func printSignatures(rep *verifyReport, r *trust.Report, digest trust.Digest) {
	for _, s := range r.Signatures {
		v := s.Verified
		switch {
		case s.Err != nil:
			rep.fail(verifyAltered, "%v", s.Err)
		case v.Trusted == nil:
			fmt.Fprintf(rep.w, "note: signed by %s, which is not a trusted key\n", v.Signer())
		case v.Statement.Digest() == digest:
			rep.ok("signed by %s", v.Signer())
		default:
			fmt.Fprintf(rep.w, "note: signed by %s as %s\n", v.Signer(), v.Statement.Digest())
		}
	}
	switch {
	case r.Signed != nil:
	case r.NoTrustedKeys:
		rep.fail(verifyUnsigned, "no trusted keys to check signatures with (webfim.yml trusted_keys, or --trusted-key FILE)")
	case len(r.Signatures) == 0:
		rep.fail(verifyUnsigned, "not signed")
	default:
		rep.fail(verifyUnsigned, "not signed by a trusted key")
	}
}

func baselineVerify(c *cli.Context) error {
	if c.NArg() == 1 && isExportFile(c.Args().First()) {
		return verifyExportFile(c, c.Args().First())
	}
	return withBaseline(c, func(db *store.DB, m store.Meta) error {
		ring, _, err := keyRing(c)
		if err != nil {
			return err
		}
		rep := &verifyReport{w: c.App.Writer}
		fmt.Fprintf(rep.w, "baseline %d%s, created %s on %s\n", m.ID, labelSuffix(m), m.Created.UTC().Format("2006-01-02 15:04:05 UTC"), displayText(m.Host))
		r, curIndex, err := checkStored(db, ring, m)
		if err != nil {
			return err
		}
		if r.RecordedErr != nil {
			rep.fail(verifyAltered, "the recorded digest is damaged: %v", r.RecordedErr)
		}
		var recorded trust.Digest
		if r.Recorded != nil {
			recorded = r.Recorded.Digest()
		}
		printSignatures(rep, r, recorded)
		ref, refName := r.Reference, r.ReferenceName()
		if ref == nil {
			rep.fail(verifyAltered, "no digest was recorded and nothing is signed: nothing to verify against")
			return rep.result()
		}
		if len(r.Mismatches) == 0 {
			rep.ok("content and metadata match the %s digest %s (%s)", refName, ref.Digest(), describeStatement(ref))
		}
		for _, mm := range r.Mismatches {
			rep.fail(verifyAltered, "%s", mm.Describe(refName))
			if mm.Field == "root" {
				if err := locate(rep, db, m, ref, mm.Root, curIndex); err != nil {
					return err
				}
			}
		}
		if r.Signed != nil {
			if err := checkFreshness(rep, db, ring, m, r.Signed); err != nil {
				return err
			}
		}
		if against := c.String("against"); against != "" {
			if err := verifyAgainst(rep, c, db, m, ring, against); err != nil {
				return err
			}
		}
		return rep.result()
	})
}

// locate names the records of root that differ from the signed ones,
// with the stored index.
func locate(rep *verifyReport, db *store.DB, m store.Meta, ref *trust.Statement, root string, current *trust.Index) error {
	head, ok := ref.Root(root)
	if !ok {
		return nil
	}
	raw, err := db.IndexChunks(m.ID, root)
	if err != nil {
		return err
	}
	var stored []trust.Chunk
	for _, r := range raw {
		ch, err := trust.ParseChunk(r)
		if err != nil {
			stored = nil
			break
		}
		stored = append(stored, ch)
	}
	loc := trust.Locate(head.TreeHead, stored, current.Roots[root])
	if loc.IndexAltered {
		fmt.Fprintf(rep.w, "  the record index was altered too: it cannot name the records; compare with an export kept elsewhere (--against FILE)\n")
		return nil
	}
	want := map[uint64]bool{}
	for _, f := range loc.Findings {
		want[f.Position] = true
		if f.Position > 0 {
			want[f.Position-1] = true
		}
	}
	for _, r := range loc.Ranges {
		want[r.From] = true
		if r.To > r.From {
			want[r.To-1] = true
		}
	}
	paths, err := recordPaths(db.RootRecords(m.ID, root, ""), want)
	if err != nil {
		return err
	}
	name := func(pos uint64) string {
		p, ok := paths[pos]
		if !ok {
			return "(the end)"
		}
		return fullPath(root, p)
	}
	for _, f := range loc.Findings {
		switch f.Kind {
		case trust.RecordChanged:
			fmt.Fprintf(rep.w, "  changed: %s\n", name(f.Position))
		case trust.RecordAdded:
			fmt.Fprintf(rep.w, "  not in the signed baseline: %s\n", name(f.Position))
		case trust.RecordRemoved:
			before := "the start"
			if f.Position > 0 {
				before = name(f.Position - 1)
			}
			fmt.Fprintf(rep.w, "  removed: a signed record between %s and %s\n", before, name(f.Position))
		}
	}
	for _, r := range loc.Ranges {
		fmt.Fprintf(rep.w, "  records %d to %d (%s to %s) differ; the index does not say which\n", r.From+1, r.To, name(r.From), name(r.To-1))
	}
	if loc.Truncated {
		fmt.Fprintf(rep.w, "  ... and more\n")
	}
	return nil
}

// checkFreshness refuses an active baseline older than the newest signed
// baseline seen from its host: in this database (any baseline signed by
// a trusted key) or recorded in its signed marks. A fresh one raises the
// host's mark.
func checkFreshness(rep *verifyReport, db *store.DB, ring *trust.KeyRing, m store.Meta, signed *trust.Statement) error {
	newest, ok, err := newestSigned(db, ring, signed.Host, m.ID)
	if err != nil {
		return err
	}
	stale := ok && trust.CheckFresh(signed, newest) != nil
	if !stale {
		if _, err := db.RaiseSignedMark(markOf(signed)); err != nil {
			return err
		}
		rep.ok("newest signed baseline seen from host %s (sequence %d)", trust.Quote(signed.Host), signed.Sequence)
		return nil
	}
	msg := trust.CheckFresh(signed, newest).Error()
	if m.Active {
		rep.fail(verifyStale, "the active baseline is a replay: %s", msg)
	} else {
		fmt.Fprintf(rep.w, "note: %s (it is not the active baseline)\n", msg)
	}
	return nil
}

// verifyAgainst compares the baseline with an export file record by
// record and names every difference.
func verifyAgainst(rep *verifyReport, c *cli.Context, db *store.DB, m store.Meta, ring *trust.KeyRing, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	contents, err := export.Read(f, nil)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(rep.w, "export %s: baseline %s\n", path, describeStatement(contents.Statement))
	printSignatures(rep, trust.CheckBaseline(ring, nil, contents.Signatures, trust.Statement{}), contents.Statement.Digest())
	cur, _, err := recompute(db, m)
	if err != nil {
		return err
	}
	cur.Sequence = contents.Statement.Sequence
	for _, mm := range trust.Compare(contents.Statement, &cur) {
		if mm.Field != "root" && mm.Field != "inventory" {
			rep.fail(verifyAltered, "%s", mm.Describe("in the export"))
		}
	}
	exported := export.Records(func() (io.ReadCloser, error) { return os.Open(path) })
	n := 0
	_, err = baseline.ComparePairs(baseline.Merge(exported, db.Records(m.ID, "")), func(ch baseline.Change) error {
		n++
		if n > 1000 {
			return nil
		}
		switch ch.Kind {
		case baseline.Added:
			rep.fail(verifyAltered, "not in the export: %s", fullPath(ch.Root, ch.Path))
		case baseline.Removed:
			rep.fail(verifyAltered, "removed (in the export, not in the database): %s", fullPath(ch.Root, ch.Path))
		case baseline.Moved:
			rep.fail(verifyAltered, "moved: %s -> %s", fullPath(ch.Root, ch.From), ch.Path)
		default:
			rep.fail(verifyAltered, "%s: %s", fullPath(ch.Root, ch.Path), changeDetail(ch))
		}
		return nil
	})
	if err != nil {
		return err
	}
	items, err := db.Inventory(m.ID)
	if err != nil {
		return err
	}
	cmp, _ := json.Marshal(items)
	exp, _ := json.Marshal(contents.Items)
	if string(cmp) != string(exp) {
		rep.fail(verifyAltered, "the server configuration inventory differs from the export's")
	}
	if n == 0 {
		rep.ok("every record matches the export")
	}
	return nil
}

// verifyExportFile verifies an export file on its own.
func verifyExportFile(c *cli.Context, path string) error {
	ring, _, err := keyRing(c)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	contents, err := export.Read(f, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	rep := &verifyReport{w: c.App.Writer}
	fmt.Fprintf(rep.w, "export %s: baseline %s\n", path, describeStatement(contents.Statement))
	rep.ok("%d records and %d inventory items match the file's digest %s", contents.Records, len(contents.Items), contents.Statement.Digest())
	r := trust.CheckBaseline(ring, nil, contents.Signatures, trust.Statement{})
	printSignatures(rep, r, contents.Statement.Digest())
	if r.Signed != nil && r.Signed.Digest() != contents.Statement.Digest() {
		rep.fail(verifyAltered, "the signatures vouch for %s, not for this file's digest", r.Signed.Digest())
	}
	return rep.result()
}
