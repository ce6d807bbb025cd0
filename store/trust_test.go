package store

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"webfim/serverconf"
	"webfim/store/internal/safebolt"
	"webfim/trust"
)

// The writer computes the digest of what it stores: the statement and
// index are those of a trust.Builder fed the same records and items, and
// the index is written with the batches, not held until the commit.
func TestDigestComputedByWriter(t *testing.T) {
	db := openTemp(t)
	www := genRecords("/srv/www", 3*batchRecords+77, 1)
	other := genRecords("/srv/x", 70, 2)
	items := []serverconf.Item{
		{Server: "apache", Kind: "load_module", Name: "php_module", Source: "/etc/apache2/mods-enabled/php.load", Line: 1},
		{Server: "apache", Kind: "handler", Name: "application/x-httpd-php", Source: "/etc/apache2/mods-enabled/php.conf", Line: 3},
	}
	w, err := db.Begin(Meta{Label: "v1", Roots: []string{"/srv/empty", "/srv/www", "/srv/x"}, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	maxPending := 0
	for _, r := range append(slices.Clone(www), other...) {
		if err := w.Put(r); err != nil {
			t.Fatal(err)
		}
		maxPending = max(maxPending, len(w.chunks))
	}
	if limit := batchRecords/trust.ChunkRecords + 2; maxPending > limit {
		t.Errorf("the writer held %d index chunks at once, more than a batch's %d", maxPending, limit)
	}
	if err := w.PutInventory(items); err != nil {
		t.Fatal(err)
	}
	var hooked *trust.Statement
	w.OnStatement(func(st *trust.Statement, text []byte) ([][]byte, error) {
		if !bytes.Equal(st.MarshalText(), text) {
			t.Error("the hook's statement and text differ")
		}
		hooked = st
		return [][]byte{[]byte("sig"), []byte("sig")}, nil
	})
	m, err := w.Commit(Meta{}, true)
	if err != nil {
		t.Fatal(err)
	}

	b := trust.NewBuilder()
	for _, r := range append(slices.Clone(www), other...) {
		if err := b.AddRecord(&r); err != nil {
			t.Fatal(err)
		}
	}
	for i := range items {
		if err := b.AddItem(&items[i]); err != nil {
			t.Fatal(err)
		}
	}
	want, ix := b.Finish(m.Statement())
	d, err := db.Digest(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want.MarshalText()), string(d.Statement)); diff != "" {
		t.Fatalf("stored statement (-want +got):\n%s", diff)
	}
	if want.Sequence != m.ID || hooked == nil || hooked.Digest() != want.Digest() {
		t.Fatalf("sequence %d (id %d), hook saw %v", want.Sequence, m.ID, hooked)
	}
	if !cmp.Equal(d.Signatures, [][]byte{[]byte("sig")}) {
		t.Fatalf("signatures %q: want the hook's, once", d.Signatures)
	}
	for _, root := range []string{"/srv/www", "/srv/x", "/srv/empty"} {
		chunks, err := db.IndexChunks(m.ID, root)
		if err != nil {
			t.Fatal(err)
		}
		if len(chunks) != len(ix.Roots[root]) {
			t.Fatalf("root %s: %d index chunks, want %d", root, len(chunks), len(ix.Roots[root]))
		}
		for i, c := range ix.Roots[root] {
			data, _ := c.MarshalBinary()
			if !bytes.Equal(chunks[i], data) {
				t.Fatalf("root %s: index chunk %d differs", root, i)
			}
		}
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}

	// Signatures are added once each; the digest goes with the baseline.
	if err := db.AddSignature(m.ID, []byte("sig2")); err != nil {
		t.Fatal(err)
	}
	if err := db.AddSignature(m.ID, []byte("sig")); err != nil {
		t.Fatal(err)
	}
	if d, _ := db.Digest(m.ID); len(d.Signatures) != 2 {
		t.Fatalf("signatures %q", d.Signatures)
	}
	if err := db.AddSignature(99, []byte("x")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("signature for a missing baseline: %v", err)
	}
	if err := db.Delete(m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Digest(m.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("digest of a deleted baseline: %v", err)
	}
}

// An imported baseline keeps the sequence it was signed with.
func TestDigestKeepsSequence(t *testing.T) {
	db := openTemp(t)
	w, err := db.Begin(Meta{Roots: []string{"/srv"}, Sequence: 41})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, r := range genRecords("/srv", 5, 1) {
		if err := w.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	m, err := w.Commit(Meta{}, false)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := db.Digest(m.ID)
	st, err := trust.ParseStatement(d.Statement)
	if err != nil || st.Sequence != 41 || m.Sequence != 41 || m.ID == 41 {
		t.Fatalf("sequence %v (meta %d, id %d): %v", st, m.Sequence, m.ID, err)
	}
}

func TestStatementHookFailureFailsCommit(t *testing.T) {
	db := openTemp(t)
	w, err := db.Begin(Meta{Roots: []string{"/srv"}})
	if err != nil {
		t.Fatal(err)
	}
	w.Put(genRecords("/srv", 3, 1)[0])
	w.OnStatement(func(*trust.Statement, []byte) ([][]byte, error) { return nil, errors.New("boom") })
	if _, err := w.Commit(Meta{}, true); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("commit: %v", err)
	}
	w.Abort()
	if list, _ := db.List(); len(list) != 0 {
		t.Fatalf("a baseline whose statement was refused was published: %+v", list)
	}
}

func TestRootsInOrder(t *testing.T) {
	db := openTemp(t)
	w, err := db.Begin(Meta{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := w.Put(genRecords("/b", 1, 1)[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.Put(genRecords("/a", 1, 1)[0]); err == nil || !strings.Contains(err.Error(), "byte order") {
		t.Fatalf("root /a after /b: %v", err)
	}
}

// A baseline of an older webfim has no digest until one is put.
func TestBaselineWithoutDigest(t *testing.T) {
	db := openTemp(t)
	m := writeBaseline(t, db, "", true, genRecords("/srv", 3, 1))
	if err := db.update(func(tx *safebolt.Tx) error {
		return db.committed(tx, m.ID).DeleteBucket(bucketTrust)
	}); err != nil {
		t.Fatal(err)
	}
	d, err := db.Digest(m.ID)
	if err != nil || d.Statement != nil || d.Signatures != nil {
		t.Fatalf("%+v %v", d, err)
	}
	b := trust.NewBuilder()
	for _, r := range genRecords("/srv", 3, 1) {
		b.AddRecord(&r)
	}
	st, ix := b.Finish(m.Statement())
	if err := db.PutDigest(m.ID, st.MarshalText(), ix); err != nil {
		t.Fatal(err)
	}
	d, _ = db.Digest(m.ID)
	chunks, _ := db.IndexChunks(m.ID, "/srv")
	if !bytes.Equal(d.Statement, st.MarshalText()) || len(chunks) != 1 {
		t.Fatalf("after PutDigest: %q, %d chunks", d.Statement, len(chunks))
	}
}

func TestSignedMarks(t *testing.T) {
	db := openTemp(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		mark SignedMark
		want bool
	}{
		{SignedMark{Host: "a", Sequence: 2, Created: t0}, true},
		{SignedMark{Host: "a", Sequence: 1, Created: t0.Add(time.Hour)}, false},
		{SignedMark{Host: "a", Sequence: 2, Created: t0}, false},
		{SignedMark{Host: "a", Sequence: 3, Created: t0}, true},
		{SignedMark{Host: "b", Sequence: 1, Created: t0}, true},
	} {
		got, err := db.RaiseSignedMark(c.mark)
		if err != nil || got != c.want {
			t.Fatalf("raise %+v: %v, %v", c.mark, got, err)
		}
	}
	marks, err := db.SignedMarks()
	if err != nil || marks["a"].Sequence != 3 || marks["b"].Sequence != 1 || len(marks) != 2 {
		t.Fatalf("%+v %v", marks, err)
	}
}
