package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(&OutboxEntry{ID: "id", Doc: []byte(`{"a":1}`), Enqueued: time.Unix(1, 2)}))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(1, b)
		if err != nil {
			return
		}
		again, err := decodeEntry(1, encodeEntry(&e))
		if err != nil || again.ID != e.ID || !bytes.Equal(again.Doc, e.Doc) || !again.Enqueued.Equal(e.Enqueued) {
			t.Fatalf("re-encoding changed %+v into %+v, %v", e, again, err)
		}
	})
}

var (
	fuzzDBOnce sync.Once
	fuzzDB     []byte
)

// fuzzBaseDB returns the bytes of a small database with deterministic
// content, so that a failing input reproduces.
func fuzzBaseDB(f testing.TB) []byte {
	fuzzDBOnce.Do(func() {
		db := openTemp(f)
		w, err := db.Begin(Meta{Label: "x", Created: time.Unix(1e9, 0), Host: "h"})
		if err != nil {
			f.Fatal(err)
		}
		for _, r := range genRecords("/r", 300, 1) {
			if err := w.Put(r); err != nil {
				f.Fatal(err)
			}
		}
		if _, err := w.Commit(Meta{}, true); err != nil {
			f.Fatal(err)
		}
		db.StartWindow(Window{Start: time.Unix(0, 0), End: time.Unix(10, 0)})
		db.Enqueue(10, OutboxEntry{ID: "a", Doc: []byte("{}"), Enqueued: time.Unix(5, 0)})
		// Compacting drops the free pages, whose stale contents (writer
		// heartbeats) differ from run to run.
		src, err := bolt.Open(db.Path(), 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			f.Fatal(err)
		}
		defer src.Close()
		compact := filepath.Join(filepath.Dir(db.Path()), "compact.db")
		dst, err := bolt.Open(compact, 0o600, nil)
		if err != nil {
			f.Fatal(err)
		}
		if err := bolt.Compact(dst, src, 0); err != nil {
			f.Fatal(err)
		}
		dst.Close()
		b, err := os.ReadFile(compact)
		if err != nil {
			f.Fatal(err)
		}
		fuzzDB = b
	})
	return fuzzDB
}

// FuzzDamagedFile damages a small real database at one offset and checks
// that opening and reading it fails cleanly or works, never crashes.
func FuzzDamagedFile(f *testing.F) {
	fuzzDB := fuzzBaseDB(f)
	page := os.Getpagesize()

	for _, off := range []int{16, page + 16, 2*page + 8, 3 * page, 4*page + 20, 5*page + 100, 6*page + 11} {
		f.Add(uint32(off), []byte{0xff, 0x00, 0x7f})
	}
	// Found by the fuzzer: branch pages made to point back into their own
	// tree, on which bbolt's cursors used to descend until out of memory.
	f.Add(uint32(16396), []byte("\xad\xad\xad\xad\xad\xad00001"))
	f.Add(uint32(24670), []byte("0\x0080000"))
	f.Add(uint32(24670), []byte("0\x0000000"))
	f.Add(uint32(16400), []byte("\xff\xff\xff\x00\x00\x7f"))
	f.Add(uint32(16400), []byte("1\n\xd1\xc1\xe9c\xd5\x04\x13"))
	f.Add(uint32(16416), []byte("\xad\xad\xadtest")) // an inline bucket page made a branch
	f.Fuzz(func(t *testing.T, off uint32, patch []byte) {
		data := bytes.Clone(fuzzDB)
		o := int(off) % len(data)
		copy(data[o:], patch)
		path := filepath.Join(t.TempDir(), "f.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(path, Options{LockTimeout: time.Second})
		if err != nil {
			return
		}
		list, err := db.List()
		if err != nil {
			return
		}
		for _, m := range list {
			for _, err := range db.Records(m.ID, "") {
				_ = err
			}
			db.Inventory(m.ID)
		}
		db.Windows()
		db.Pending(0)
		db.Check()
	})
}

// FuzzDecodeBlock: any bytes decode to entries or an error wrapping
// errBlock, never a crash; what decodes is in strict key order and
// encodes back to a block that decodes to the same entries.
func FuzzDecodeBlock(f *testing.F) {
	var b blockBuilder
	b.start("/r", []byte("a"), nil)
	b.add([]byte("a"), []byte{1, 2})
	b.add([]byte("a\x00b"), nil)
	b.add([]byte("a.b"), []byte("xyz"))
	f.Add([]byte("a"), b.data)
	f.Add([]byte("a"), []byte{blockVersion, 1, 0, 0})
	f.Add([]byte{}, []byte{blockVersion, 0, 0, 0, 0, 1, 'x', 0})
	f.Fuzz(func(t *testing.T, key, data []byte) {
		type entry struct{ key, val []byte }
		decode := func(key, data []byte) ([]entry, error) {
			var got []entry
			err := decodeBlock(key, data, func(k, v []byte) bool {
				got = append(got, entry{bytes.Clone(k), bytes.Clone(v)})
				return true
			})
			return got, err
		}
		got, err := decode(key, data)
		if err != nil && !errors.Is(err, errBlock) {
			t.Fatalf("error %v does not wrap errBlock", err)
		}
		for i := 1; i < len(got); i++ {
			if bytes.Compare(got[i-1].key, got[i].key) >= 0 {
				t.Fatalf("entry %d key %q not after %q", i, got[i].key, got[i-1].key)
			}
		}
		if err != nil || len(got) == 0 {
			return
		}
		var b blockBuilder
		b.start("/r", got[0].key, nil)
		for _, e := range got {
			b.add(e.key, e.val)
		}
		again, err := decode(got[0].key, b.data)
		if err != nil || len(again) != len(got) {
			t.Fatalf("re-encoded block: %d entries, %v; want %d", len(again), err, len(got))
		}
		for i := range got {
			if !bytes.Equal(again[i].key, got[i].key) || !bytes.Equal(again[i].val, got[i].val) {
				t.Fatalf("entry %d changed by re-encoding", i)
			}
		}
	})
}
