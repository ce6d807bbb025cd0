package safebolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"webfim/safefile"
	"webfim/store/internal/filelock"
)

func newDB(t *testing.T) *DB {
	t.Helper()
	db := New(filepath.Join(t.TempDir(), "t.db"), time.Second)
	if err := db.Create(func(tx *Tx) error { _, err := tx.CreateBucket([]byte("top")); return err }); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestCreate(t *testing.T) {
	db := newDB(t)
	fi, err := os.Stat(db.Path())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("created file: %v, %v; want mode 0600", fi, err)
	}
	if err := db.View(func(tx *Tx) error {
		if tx.Bucket([]byte("top")) == nil {
			return errors.New("bucket top missing")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(db.Path())
	err = db.Create(func(tx *Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create over an existing file: %v, want fs.ErrExist", err)
	}
	if after, _ := os.ReadFile(db.Path()); string(after) != string(before) {
		t.Error("Create over an existing file changed it")
	}
	entries, _ := os.ReadDir(filepath.Dir(db.Path()))
	if len(entries) != 1 {
		t.Errorf("directory holds %v, want the database only (no temporary file)", entries)
	}
}

func TestCreateFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	db := New(filepath.Join(dir, "t.db"), time.Second)
	if err := db.Create(func(*Tx) error { return errors.New("setup failed") }); err == nil || !strings.Contains(err.Error(), "setup failed") {
		t.Fatalf("Create with a failing setup: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed Create left %v", entries)
	}
}

// Sessions never create the file, and explain what is at the path when
// it is not a database.
func TestNotADatabase(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o600)
	os.Mkdir(filepath.Join(dir, "dir.db"), 0o700)
	os.Symlink(filepath.Join(dir, "target.db"), filepath.Join(dir, "link.db"))
	for _, tc := range []struct {
		name string
		is   error
		msg  string
	}{
		{"missing.db", fs.ErrNotExist, "does not exist"},
		{"empty.db", nil, "is an empty file (0 bytes), not a webfim database"},
		{"dir.db", safefile.ErrNotRegular, "is a directory, not a file: give the path of the database file itself, such as " + filepath.Join(dir, "dir.db", "webfim.db")},
		{"link.db", safefile.ErrUnsafe, "is a symbolic link (to " + filepath.Join(dir, "target.db") + ")"},
	} {
		db := New(filepath.Join(dir, tc.name), time.Second)
		for _, op := range []func(func(*Tx) error) error{db.View, db.Update} {
			err := op(func(*Tx) error { return nil })
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.msg) || errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: %v; want %q, wrapping %v and not ErrCorrupt", tc.name, err, tc.msg, tc.is)
			}
		}
	}
	for _, name := range []string{"missing.db", "target.db"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s was created", name)
		}
	}
}

// rootOf returns the root page of bucket path (names) in the file.
func rootOf(t *testing.T, path string, names ...string) uint64 {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	var root uint64
	bdb.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(names[0]))
		for _, n := range names[1:] {
			b = b.Bucket([]byte(n))
		}
		root = uint64(b.Root())
		return nil
	})
	return root
}

// loopBranch makes the first child of branch page id point to id itself.
func loopBranch(t *testing.T, path string, id uint64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ps := uint64(os.Getpagesize())
	b := make([]byte, boltHeaderSize+boltBranchElem)
	f.ReadAt(b, int64(id*ps))
	if h := parseHeader(b); h.flags != boltBranchFlag {
		t.Fatalf("test setup: page %d is not a branch (flags %#x)", id, h.flags)
	}
	binary.NativeEndian.PutUint64(b[boltHeaderSize+8:], id)
	if _, err := f.WriteAt(b, int64(id*ps)); err != nil {
		t.Fatal(err)
	}
}

// fill puts n keys into top > nested (a tree with branch pages) and an
// empty bucket top > nested > inner.
func fill(t *testing.T, db *DB, n int) {
	t.Helper()
	err := db.Update(func(tx *Tx) error {
		nb, err := tx.Bucket([]byte("top")).CreateBucket([]byte("nested"))
		if err != nil {
			return err
		}
		for i := range n {
			if err := nb.Put(fmt.Appendf(nil, "%08d", i), make([]byte, 80)); err != nil {
				return err
			}
		}
		_, err = nb.CreateBucket([]byte("inner"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A bucket with a damaged page tree is handed out as nil, and the session
// fails with the damage, naming the bucket, whatever fn returns; an update
// is rolled back.
func TestDamagedBucket(t *testing.T) {
	db := newDB(t)
	fill(t, db, 5000)
	loopBranch(t, db.Path(), rootOf(t, db.Path(), "top", "nested"))
	db = New(db.Path(), time.Second) // forget the pages validated before the damage
	for _, write := range []bool{false, true} {
		gotNil := false
		err := db.session(write, func(tx *Tx) error {
			top := tx.Bucket([]byte("top"))
			if write {
				if err := top.Put([]byte("written"), []byte("1")); err != nil {
					return err
				}
			}
			gotNil = top.Bucket([]byte("nested")) == nil
			return nil
		})
		if !gotNil {
			t.Errorf("write=%v: the damaged bucket was handed out", write)
		}
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "bucket top > nested: branch page") || !strings.Contains(err.Error(), db.Path()) {
			t.Errorf("write=%v: %v; want ErrCorrupt naming the file and bucket top > nested", write, err)
		}
	}
	db.View(func(tx *Tx) error {
		if tx.Bucket([]byte("top")).Get([]byte("written")) != nil {
			t.Error("an update that met damage was committed")
		}
		return nil
	})
}

// DeleteBucket validates every bucket nested in the one it deletes, since
// bbolt frees their pages by walking them.
func TestDeleteBucketChecksNested(t *testing.T) {
	db := newDB(t)
	fill(t, db, 5000)
	loopBranch(t, db.Path(), rootOf(t, db.Path(), "top", "nested"))
	db = New(db.Path(), time.Second)
	err := db.Update(func(tx *Tx) error {
		return tx.Bucket([]byte("top")).DeleteBucket([]byte("nested"))
	})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "bucket top > nested") {
		t.Errorf("DeleteBucket of a damaged bucket: %v", err)
	}
}

// A fault on the memory-mapped file (another program truncates it during
// a session) becomes an error, and the file lock is released.
func TestFaultBecomesError(t *testing.T) {
	db := newDB(t)
	fill(t, db, 20000)
	err := db.View(func(tx *Tx) error {
		if err := os.Truncate(db.Path(), int64(3*os.Getpagesize())); err != nil {
			return err
		}
		c := tx.Bucket([]byte("top")).Bucket([]byte("nested")).Cursor()
		n := 0
		for k, v := c.First(); k != nil; k, v = c.Next() {
			n += len(v)
		}
		return fmt.Errorf("read %d bytes past the end of a truncated file without a fault", n)
	})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "is damaged") {
		t.Errorf("View over a file truncated meanwhile: %v, want ErrCorrupt", err)
	}
	f, err := os.OpenFile(db.Path(), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := filelock.Lock(f, true, 0); err != nil {
		t.Errorf("the file is still locked after the fault: %v", err)
	}
}

// Sessions of one handle, and of two handles, see each other's commits;
// a lock held elsewhere for longer than the timeout yields ErrLocked.
func TestLockTimeout(t *testing.T) {
	db := newDB(t)
	f, err := os.OpenFile(db.Path(), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := filelock.Lock(f, true, 0); err != nil {
		t.Fatal(err)
	}
	db = New(db.Path(), 100*time.Millisecond)
	err = db.View(func(*Tx) error { return nil })
	want := fmt.Sprintf("database %s is locked by another process (waited 100ms)", db.Path())
	if !errors.Is(err, ErrLocked) || err.Error() != want {
		t.Errorf("View while locked: %v, want %q", err, want)
	}
	f.Close()
	if err := db.Update(func(tx *Tx) error { return tx.Bucket([]byte("top")).Put([]byte("k"), []byte("v")) }); err != nil {
		t.Errorf("Update once the lock is gone: %v", err)
	}
}

// A bucket created or modified in a transaction is opened again in it
// without the check reading its page (an inline bucket that got a nested
// bucket has its state in memory, and its page reads as empty).
func TestReopenBucketModifiedInTx(t *testing.T) {
	db := newDB(t)
	for round := range 2 { // created in this transaction, then read from the file
		err := db.Update(func(tx *Tx) error {
			top := tx.Bucket([]byte("top"))
			tb, err := top.CreateBucketIfNotExists([]byte("inline"))
			if err != nil {
				return err
			}
			nb, err := tb.CreateBucketIfNotExists([]byte(fmt.Sprint("nested", round)))
			if err != nil {
				return err
			}
			if err := nb.Put([]byte("k"), []byte("v")); err != nil {
				return err
			}
			if again, err := top.CreateBucketIfNotExists([]byte("inline")); again == nil || err != nil {
				return fmt.Errorf("reopening the bucket: %v", err)
			}
			return tx.Err()
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}
