package store

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDigestStoredAtCommit(t *testing.T) {
	db := openTemp(t)
	w, err := db.Begin(Meta{Label: "v1", Roots: []string{"/srv"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range genRecords("/srv", 10, 1) {
		if err := w.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	var seen Meta
	w.SetDigest(func(m Meta) (Digest, error) {
		seen = m
		return Digest{
			Statement:  []byte("statement of " + m.Label),
			Index:      map[string][][]byte{"/srv": {[]byte("c0"), []byte("c1")}},
			Signatures: [][]byte{[]byte("sig")},
		}, nil
	})
	m, err := w.Commit(Meta{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if seen.ID != m.ID || seen.Files != m.Files || seen.Files == 0 {
		t.Fatalf("digest callback saw %+v, commit returned %+v", seen, m)
	}
	d, err := db.Digest(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Statement) != "statement of v1" || !cmp.Equal(d.Signatures, [][]byte{[]byte("sig")}) {
		t.Fatalf("digest %+v", d)
	}
	chunks, err := db.IndexChunks(m.ID, "/srv")
	if err != nil || !cmp.Equal(chunks, [][]byte{[]byte("c0"), []byte("c1")}) {
		t.Fatalf("index %q, %v", chunks, err)
	}
	if c, err := db.IndexChunks(m.ID, "/other"); err != nil || c != nil {
		t.Fatalf("index of an unknown root: %q, %v", c, err)
	}

	// Signatures are added once each; a new statement replaces the old
	// one and its index, keeping the signatures.
	if err := db.AddSignature(m.ID, []byte("sig2")); err != nil {
		t.Fatal(err)
	}
	if err := db.AddSignature(m.ID, []byte("sig")); err != nil {
		t.Fatal(err)
	}
	if err := db.PutDigest(m.ID, Digest{Statement: []byte("new"), Index: map[string][][]byte{"/srv": {[]byte("n0")}}}); err != nil {
		t.Fatal(err)
	}
	d, _ = db.Digest(m.ID)
	chunks, _ = db.IndexChunks(m.ID, "/srv")
	if string(d.Statement) != "new" || len(d.Signatures) != 2 || !cmp.Equal(chunks, [][]byte{[]byte("n0")}) {
		t.Fatalf("after PutDigest: %+v %q", d, chunks)
	}
	if err := db.AddSignature(99, []byte("x")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("signature for a missing baseline: %v", err)
	}
	// The digest goes with the baseline.
	if err := db.Delete(m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Digest(m.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("digest of a deleted baseline: %v", err)
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestDigestFailureFailsCommit(t *testing.T) {
	db := openTemp(t)
	w, err := db.Begin(Meta{Roots: []string{"/srv"}})
	if err != nil {
		t.Fatal(err)
	}
	w.Put(genRecords("/srv", 3, 1)[0])
	w.SetDigest(func(Meta) (Digest, error) { return Digest{}, errors.New("boom") })
	if _, err := w.Commit(Meta{}, true); err == nil {
		t.Fatal("commit succeeded")
	}
	w.Abort()
	if list, _ := db.List(); len(list) != 0 {
		t.Fatalf("a baseline without its digest was published: %+v", list)
	}
}

func TestBaselineWithoutDigest(t *testing.T) {
	db := openTemp(t)
	m := writeBaseline(t, db, "", true, genRecords("/srv", 3, 1))
	d, err := db.Digest(m.ID)
	if err != nil || d.Statement != nil || d.Signatures != nil {
		t.Fatalf("%+v %v", d, err)
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
