package safebolt

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// The checks read bbolt's private page format (layout.go). These tests
// pin what they read against what bbolt's public API says about the same
// file, so that a bbolt upgrade that changes the format fails here, loudly,
// instead of making the checks reject every file or accept damage.

// layoutDB writes a database with a bucket deep enough to have branch
// pages under branch pages, an inline bucket, nested buckets, large values
// on overflow pages and free pages, and returns its path.
func layoutDB(t *testing.T, opt *bolt.Options) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "layout.db")
	db, err := bolt.Open(path, 0o600, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		big, err := tx.CreateBucket([]byte("big"))
		if err != nil {
			return err
		}
		for i := range 40000 {
			if err := big.Put(fmt.Appendf(nil, "key-%08d", i), bytes.Repeat([]byte{byte(i)}, 60)); err != nil {
				return err
			}
		}
		tiny, err := tx.CreateBucket([]byte("tiny"))
		if err != nil {
			return err
		}
		if err := tiny.Put([]byte("k"), []byte("v")); err != nil {
			return err
		}
		parent, err := tx.CreateBucket([]byte("parent"))
		if err != nil {
			return err
		}
		nested, err := parent.CreateBucket([]byte("nested"))
		if err != nil {
			return err
		}
		if err := nested.Put([]byte("large"), bytes.Repeat([]byte("x"), 5*os.Getpagesize())); err != nil {
			return err
		}
		_, err = tx.CreateBucket([]byte("doomed"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		d := tx.Bucket([]byte("doomed"))
		for i := range 3000 {
			if err := d.Put(fmt.Appendf(nil, "%06d", i), make([]byte, 100)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("doomed")) }); err != nil {
		t.Fatal(err)
	}
	return path
}

// viewLayout opens path read-only with the free list loaded (tx.Page
// needs it) and runs fn with the raw file.
func viewLayout(t *testing.T, path string, fn func(db *bolt.DB, tx *bolt.Tx, f *os.File)) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := db.View(func(tx *bolt.Tx) error { fn(db, tx, f); return nil }); err != nil {
		t.Fatal(err)
	}
}

func readPage(t *testing.T, f *os.File, id, pageSize uint64, n uint64) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, int64(id*pageSize)); err != nil {
		t.Fatalf("read page %d: %v", id, err)
	}
	return b
}

func TestLayoutMeta(t *testing.T) {
	path := layoutDB(t, nil)
	viewLayout(t, path, func(db *bolt.DB, tx *bolt.Tx, f *os.File) {
		m, ok := currentMeta(f)
		if !ok {
			t.Fatal("no valid meta page")
		}
		if want := uint64(db.Info().PageSize); m.pageSize != want {
			t.Errorf("meta page size %d, bbolt says %d", m.pageSize, want)
		}
		if want := uint64(tx.ID()); m.txid != want {
			t.Errorf("meta txid %d, bbolt says %d", m.txid, want)
		}
		if want := uint64(tx.Cursor().Bucket().Root()); m.root != want {
			t.Errorf("meta root page %d, bbolt says %d", m.root, want)
		}
		if want := uint64(tx.Size()); m.pages*m.pageSize != want {
			t.Errorf("meta high-water mark %d pages (%d bytes), bbolt says %d bytes", m.pages, m.pages*m.pageSize, want)
		}
		for i := range uint64(2) {
			if _, ok := readMeta(f, int64(i*m.pageSize)); !ok {
				t.Errorf("meta page %d does not validate", i)
			}
			if info, _ := tx.Page(int(i)); info == nil || info.Type != "meta" {
				t.Errorf("page %d is %+v for bbolt, want a meta page", i, info)
			}
		}
		if info, _ := tx.Page(int(m.freelist)); info == nil || info.Type != "freelist" {
			t.Errorf("meta free list page %d is %+v for bbolt", m.freelist, info)
		}
		fi, _ := f.Stat()
		if err := precheck(f, uint64(fi.Size())); err != nil {
			t.Errorf("precheck of an intact file: %v", err)
		}
	})
}

// TestLayoutPageHeaders compares the header of every page in use with
// bbolt's tx.Page.
func TestLayoutPageHeaders(t *testing.T) {
	path := layoutDB(t, nil)
	viewLayout(t, path, func(db *bolt.DB, tx *bolt.Tx, f *os.File) {
		ps := uint64(db.Info().PageSize)
		pages := uint64(tx.Size()) / ps
		types := map[uint16]string{boltBranchFlag: "branch", boltLeafFlag: "leaf", boltMetaFlag: "meta", boltFreelistFlag: "freelist"}
		seen := map[string]int{}
		for id := uint64(0); id < pages; {
			info, err := tx.Page(int(id))
			if err != nil || info == nil {
				t.Fatalf("tx.Page(%d) = %v, %v", id, info, err)
			}
			h := parseHeader(readPage(t, f, id, ps, boltHeaderSize))
			if info.Type != "free" {
				seen[info.Type]++
				if h.id != id || uint64(info.ID) != id {
					t.Errorf("page %d: header says id %d, bbolt %d", id, h.id, info.ID)
				}
				if types[h.flags] != info.Type {
					t.Errorf("page %d: flags %#x (%q), bbolt says %q", id, h.flags, types[h.flags], info.Type)
				}
				if h.count != uint64(info.Count) && info.Type != "freelist" {
					t.Errorf("page %d: count %d, bbolt says %d", id, h.count, info.Count)
				}
				if h.overflow != uint64(info.OverflowCount) {
					t.Errorf("page %d: overflow %d, bbolt says %d", id, h.overflow, info.OverflowCount)
				}
			}
			id += uint64(info.OverflowCount) + 1
		}
		for _, typ := range []string{"meta", "freelist", "branch", "leaf"} {
			if seen[typ] == 0 {
				t.Errorf("test setup: no %s page in the file (saw %v)", typ, seen)
			}
		}
	})
}

// TestLayoutBranches walks each bucket's tree through the branch elements
// as the checks read them, and compares what it finds with the bucket's
// Stats; the checks accept every bucket of the intact file.
func TestLayoutBranches(t *testing.T) {
	path := layoutDB(t, nil)
	viewLayout(t, path, func(db *bolt.DB, tx *bolt.Tx, f *os.File) {
		ps := uint64(db.Info().PageSize)
		var walk func(id uint64, depth int) (branches, leaves, maxDepth int)
		walk = func(id uint64, depth int) (branches, leaves, maxDepth int) {
			h := parseHeader(readPage(t, f, id, ps, boltHeaderSize))
			if h.flags == boltLeafFlag {
				return 0, 1, depth + 1
			}
			b := readPage(t, f, id, ps, boltHeaderSize+h.count*boltBranchElem)
			branches, maxDepth = 1, depth+1
			for i := range h.count {
				nb, nl, d := walk(branchChild(b, i), depth+1)
				branches, leaves, maxDepth = branches+nb, leaves+nl, max(maxDepth, d)
			}
			return branches, leaves, maxDepth
		}
		big := tx.Bucket([]byte("big"))
		st := big.Stats()
		branches, leaves, depth := walk(uint64(big.Root()), 0)
		if branches != st.BranchPageN || leaves != st.LeafPageN || depth != st.Depth {
			t.Errorf("walk found %d branch and %d leaf pages, depth %d; Stats says %d, %d, depth %d",
				branches, leaves, depth, st.BranchPageN, st.LeafPageN, st.Depth)
		}
		if depth < 3 {
			t.Errorf("test setup: tree of depth %d, want branches under branches", depth)
		}
		fi, _ := f.Stat()
		c := newTreeCheck(&pageTrees{}, tx, f, fi)
		if err := c.bucket(tx.Cursor().Bucket(), false); err != nil {
			t.Errorf("root bucket: %v", err)
		}
		for _, name := range []string{"big", "tiny", "parent"} {
			if err := c.bucket(tx.Bucket([]byte(name)), true); err != nil {
				t.Errorf("bucket %s: %v", name, err)
			}
		}
		if tx.Bucket([]byte("tiny")).Root() != 0 {
			t.Error("test setup: bucket tiny is not inline")
		}
	})
}

// TestLayoutFreelist compares the free list page with the free pages bbolt
// loaded, with a count small enough for the header and one that is not
// (0xFFFF or more free pages: the count moves into the page body).
func TestLayoutFreelist(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opt     *bolt.Options
		escaped bool
	}{
		{"small", nil, false},
		{"escaped", &bolt.Options{PageSize: 512, NoSync: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := layoutDB(t, tc.opt)
			if tc.escaped {
				db, err := bolt.Open(path, 0o600, tc.opt)
				if err != nil {
					t.Fatal(err)
				}
				huge := make([]byte, 0x10000*512)
				err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("big")).Put([]byte("huge"), huge) })
				if err == nil {
					err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("big")).Delete([]byte("huge")) })
				}
				db.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			viewLayout(t, path, func(db *bolt.DB, tx *bolt.Tx, f *os.File) {
				m, _ := currentMeta(f)
				b := readPage(t, f, m.freelist, m.pageSize, boltHeaderSize+8)
				h := parseHeader(b)
				first, count := freelistCount(h, b[boltHeaderSize:])
				if want := uint64(db.Stats().FreePageN + db.Stats().PendingPageN); count != want {
					t.Errorf("free list count %d, bbolt loaded %d free pages", count, want)
				}
				if escaped := first == 1; escaped != tc.escaped {
					t.Errorf("count escaped = %v with %d free pages, want %v", escaped, count, tc.escaped)
				}
				fi, _ := f.Stat()
				if err := precheck(f, uint64(fi.Size())); err != nil {
					t.Errorf("precheck of an intact file: %v", err)
				}
			})
		})
	}
}
