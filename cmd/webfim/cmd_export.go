package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"webfim/baseline"
	"webfim/export"
	"webfim/store"
	"webfim/trust"
)

// baselineExportCommand is "webfim baseline export", registered in main.go.
func baselineExportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write a baseline, its digest and signatures to a file to keep off the server",
		ArgsUsage: "[flags] ID",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "export `FILE` (conventionally NAME.webfim)", Required: true},
			&cli.BoolFlag{Name: "force", Usage: "overwrite an existing file"},
		},
		Action: baselineExport,
	}
}

// baselineImportCommand is "webfim baseline import", registered in main.go.
func baselineImportCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "verify an export file and store its baseline",
		ArgsUsage: "[flags] FILE",
		Description: `The whole file is checked (framing, digest, end) while its records are
staged as a pending baseline: a damaged or truncated file stores
nothing. The imported baseline keeps its label, time, host, sequence and
signatures; it gets a new id and is not made active unless --activate.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "activate", Usage: "make the imported baseline the active one"},
			trustedKeyFlag,
		},
		Action: baselineImport,
	}
}

func baselineExport(c *cli.Context) error {
	return withBaseline(c, func(db *store.DB, m store.Meta) error {
		st, text, err := recordedStatement(c, db, m)
		if err != nil {
			return err
		}
		sigs, err := storedSignatures(db, m.ID)
		if err != nil {
			return err
		}
		out := c.String("output")
		if _, err := os.Stat(out); err == nil && !c.Bool("force") {
			return fmt.Errorf("%s exists (--force overwrites it)", out)
		}
		tmp, err := os.CreateTemp(filepath.Dir(out), ".webfim-export-*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name()) // a no-op once renamed
		defer tmp.Close()
		w, err := export.NewWriter(tmp, export.Header{
			Exported: time.Now().UTC(), ExportedBy: "webfim " + version, BaselineID: m.ID, DurationNS: int64(m.Duration),
		}, text, sigs)
		if err != nil {
			return err
		}
		// The records are checked against the recorded digest as they
		// are written: a tampered baseline is not exported as intact.
		b := trust.NewBuilder()
		items, err := db.Inventory(m.ID)
		if err != nil {
			return err
		}
		for i := range items {
			if err := b.AddItem(&items[i]); err != nil {
				return err
			}
			if err := w.Item(&items[i]); err != nil {
				return err
			}
		}
		for r, err := range db.Records(m.ID, "") {
			if err == nil {
				err = b.AddRecord(&r)
			}
			if err == nil {
				err = w.Record(&r)
			}
			if err != nil {
				return err
			}
		}
		base := m.Statement()
		base.Sequence = st.Sequence
		cur, _ := b.Finish(base)
		if mm := trust.Compare(st, &cur); len(mm) > 0 {
			return fmt.Errorf("baseline %d does not match its recorded digest (%s): not exported; run 'webfim baseline verify %d'", m.ID, mm[0].Describe("recorded"), m.ID)
		}
		if err := w.Close(); err != nil {
			return err
		}
		if err := tmp.Sync(); err != nil {
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), out); err != nil {
			return err
		}
		fi, _ := os.Stat(out)
		infof(c, "baseline %d%s exported to %s: %d records, %d signatures, %s, digest %s\n",
			m.ID, labelSuffix(m), out, cur.Counts.Files+cur.Counts.Dirs+cur.Counts.Symlinks+cur.Counts.Others, len(sigs), humanBytes(fi.Size()), st.Digest())
		return nil
	})
}

func baselineImport(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError{errors.New("baseline import needs exactly one FILE")}
	}
	path := c.Args().First()
	ring, _, err := keyRing(c)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	db, err := openDB(c)
	if err != nil {
		return err
	}
	// The writer is begun with the statement's metadata, which comes
	// before the first record.
	var w *store.BaselineWriter
	defer func() {
		if w != nil {
			w.Abort()
		}
	}()
	contents, err := export.ReadStatementFirst(f, func(st *trust.Statement) error {
		var err error
		m := metaOfStatement(st)
		m.Sequence = st.Sequence
		w, err = db.Begin(m)
		return err
	}, func(r *baseline.Record) error { return w.Put(*r) })
	if err != nil {
		return fmt.Errorf("%s: %w (nothing was imported)", path, err)
	}
	if err := w.PutInventory(contents.Items); err != nil {
		return err
	}
	st := contents.Statement
	sigs := make([][]byte, len(contents.Signatures))
	for i, s := range contents.Signatures {
		if sigs[i], err = jsonMarshal(s); err != nil {
			return err
		}
	}
	// The store computes the digest of what it stored: it must be the
	// file's, metadata included (the counts are recomputed by the store).
	w.OnStatement(func(stored *trust.Statement, text []byte) ([][]byte, error) {
		if !bytes.Equal(text, contents.StatementText) {
			mm := trust.Compare(st, stored)
			if len(mm) == 0 {
				return nil, errors.New("the stored baseline's statement differs from the file's")
			}
			return nil, fmt.Errorf("the records do not agree with the file's metadata: %s", mm[0].Describe("in the file"))
		}
		return sigs, nil
	})
	meta := metaOfStatement(st)
	meta.Duration = time.Duration(contents.Header.DurationNS)
	m, err := w.Commit(meta, c.Bool("activate"))
	if err != nil {
		return fmt.Errorf("%s: %w (nothing was imported)", path, err)
	}
	w = nil
	active := ""
	if m.Active {
		active = ", active"
	}
	infof(c, "imported %s as baseline %d%s: %s, digest %s%s\n", path, m.ID, labelSuffix(m), describeStatement(st), st.Digest(), active)
	for _, s := range contents.Signatures {
		v, err := ring.Verify(s)
		switch {
		case err != nil:
			fmt.Fprintf(c.App.ErrWriter, "webfim: warning: %v\n", err)
		case v.Trusted == nil:
			infof(c, "  signed by %s (not a trusted key)\n", v.Signer())
		default:
			infof(c, "  signed by %s\n", v.Signer())
		}
	}
	return nil
}
