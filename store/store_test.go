package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"webfim/baseline"
	"webfim/serverconf"
	"webfim/store/internal/safebolt"
	"webfim/trust"
)

func openTemp(t testing.TB) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "state", "webfim.db"), Options{LockTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// genRecords returns n records under root in the order the store wants
// them, including the root entry, names that are not UTF-8 and names with
// newlines. seed varies the content.
func genRecords(root string, n, seed int) []baseline.Record {
	recs := []baseline.Record{{Root: root, Path: "", Type: baseline.TypeDir, Mode: fs.ModeDir | 0o755, Inode: 2}}
	for i := 1; i < n; i++ {
		var p string
		switch i % 97 {
		case 5:
			p = fmt.Sprintf("d%02d/bad\xff\xfe%d", i%13, i)
		case 7:
			p = fmt.Sprintf("d%02d/new\nline%d.php", i%13, i)
		default:
			p = fmt.Sprintf("d%02d/sub%d/file%06d.php", i%13, i%7, i)
		}
		h := sha256.Sum256([]byte(fmt.Sprint(seed, p)))
		r := baseline.Record{
			Root: root, Path: p, Type: baseline.TypeFile, Mode: 0o644,
			Size: int64(i * 10), UID: 33, GID: 33, Mtime: int64(i) * 1e9, Ctime: int64(i)*1e9 + 5,
			Inode: uint64(1000 + i), Dev: 2049, BLAKE3: h[:],
		}
		if i%10 == 0 {
			r.SHA256 = h[:]
		}
		if i%251 == 0 {
			r.Type, r.BLAKE3, r.SHA256, r.Target = baseline.TypeSymlink, nil, nil, "../target"
		}
		if i%509 == 0 {
			r.Err, r.BLAKE3, r.SHA256 = "permission denied", nil, nil
		}
		if i%1009 == 0 {
			r.Unstable = true
		}
		recs = append(recs, r)
	}
	// The directories of the paths are not records here; order by key.
	slices.SortFunc(recs, func(a, b baseline.Record) int {
		return bytes.Compare(storeKeyOf(a.Path), storeKeyOf(b.Path))
	})
	return recs
}

func storeKeyOf(p string) []byte {
	k, err := storeKey(p)
	if err != nil {
		panic(err)
	}
	return k
}

func writeBaseline(t testing.TB, db *DB, label string, activate bool, recs ...[]baseline.Record) Meta {
	t.Helper()
	var roots []string
	for _, rs := range recs {
		roots = append(roots, rs[0].Root)
	}
	w, err := db.Begin(Meta{Label: label, Roots: roots})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, rs := range recs {
		for _, r := range rs {
			if err := w.Put(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	m, err := w.Commit(Meta{Label: label, Roots: roots, Version: "test"}, activate)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// diffRecords compares two record lists quickly (cmp.Diff on tens of
// thousands of records is slow) and describes the first difference.
func diffRecords(want, got []baseline.Record) string {
	for i := range min(len(want), len(got)) {
		if !reflect.DeepEqual(want[i], got[i]) {
			return fmt.Sprintf("record %d:\n%s", i, cmp.Diff(want[i], got[i]))
		}
	}
	if len(want) != len(got) {
		return fmt.Sprintf("%d records, want %d", len(got), len(want))
	}
	return ""
}

func collect(t testing.TB, st baseline.State) ([]baseline.Record, error) {
	t.Helper()
	var out []baseline.Record
	for r, err := range st {
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func TestBaselineRoundTrip(t *testing.T) {
	db := openTemp(t)
	// More records than a batch and than a read chunk, in two roots.
	a := genRecords("/srv/a", 3*chunkRecords+17, 1)
	b := genRecords("/srv/b", 1200, 2)
	m := writeBaseline(t, db, "first", true, a, b)
	if m.ID != 1 || !m.Active || m.Label != "first" {
		t.Errorf("meta = %+v, want id 1, active, label first", m)
	}
	var files, symlinks, errs, unstable, bytes int64
	for _, r := range append(slices.Clone(a), b...) {
		switch r.Type {
		case baseline.TypeFile:
			files++
			bytes += r.Size
		case baseline.TypeSymlink:
			symlinks++
		}
		if r.Err != "" {
			errs++
		}
		if r.Unstable {
			unstable++
		}
	}
	if m.Files != files || m.Dirs != 2 || m.Symlinks != symlinks || m.Errors != errs || m.Unstable != unstable || m.Bytes != bytes {
		t.Errorf("counts = files %d dirs %d symlinks %d errors %d unstable %d bytes %d, want %d 2 %d %d %d %d",
			m.Files, m.Dirs, m.Symlinks, m.Errors, m.Unstable, m.Bytes, files, symlinks, errs, unstable, bytes)
	}

	got, err := collect(t, db.Records(m.ID, ""))
	if err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(a), b...)
	if diff := diffRecords(want, got); diff != "" {
		t.Fatalf("Records mismatch (-want +got):\n%s", diff)
	}

	for _, prefix := range []string{"d03/", "d03/sub2", "d1", "zzz", "d05/bad\xff"} {
		var want []baseline.Record
		for _, r := range append(slices.Clone(a), b...) {
			if strings.HasPrefix(r.Path, prefix) {
				want = append(want, r)
			}
		}
		got, err := collect(t, db.Records(m.ID, prefix))
		if err != nil {
			t.Fatal(err)
		}
		if diff := diffRecords(want, got); diff != "" {
			t.Errorf("Records(prefix %q) mismatch (-want +got):\n%s", prefix, diff)
		}
	}

	gotB, err := collect(t, db.RootRecords(m.ID, "/srv/b", ""))
	if err != nil {
		t.Fatal(err)
	}
	if diff := diffRecords(b, gotB); diff != "" {
		t.Errorf("RootRecords mismatch (-want +got):\n%s", diff)
	}
	if _, err := collect(t, db.RootRecords(m.ID, "/srv/none", "")); !errors.Is(err, ErrNotFound) {
		t.Errorf("RootRecords of unknown root: err = %v, want ErrNotFound", err)
	}

	for _, r := range []baseline.Record{a[0], a[100], b[len(b)-1]} {
		got, ok, err := db.Lookup(m.ID, r.Root, r.Path)
		if err != nil || !ok {
			t.Fatalf("Lookup(%q, %q) = %v, %v", r.Root, r.Path, ok, err)
		}
		if diff := cmp.Diff(r, got); diff != "" {
			t.Errorf("Lookup mismatch (-want +got):\n%s", diff)
		}
	}
	if _, ok, err := db.Lookup(m.ID, "/srv/a", "no/such"); ok || err != nil {
		t.Errorf("Lookup of a missing path = %v, %v; want false, nil", ok, err)
	}
}

func TestRecordsEarlyStop(t *testing.T) {
	db := openTemp(t)
	m := writeBaseline(t, db, "", true, genRecords("/r", 2*chunkRecords, 1))
	n := 0
	for _, err := range db.Records(m.ID, "") {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n == chunkRecords+3 {
			break
		}
	}
	if n != chunkRecords+3 {
		t.Fatalf("got %d records", n)
	}
}

func TestPutOrder(t *testing.T) {
	db := openTemp(t)
	w, err := db.Begin(Meta{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, p := range []string{"", "a", "a/b", "a.b"} {
		if err := w.Put(baseline.Record{Root: "/r", Path: p, Type: baseline.TypeFile}); err != nil {
			t.Fatalf("Put(%q): %v", p, err)
		}
	}
	for _, p := range []string{"a/b", "a", "/abs"} {
		err := w.Put(baseline.Record{Root: "/r", Path: p, Type: baseline.TypeFile})
		if err == nil || !strings.Contains(err.Error(), "/r") {
			t.Errorf("Put(%q) after a.b: err = %v, want an error naming the root", p, err)
		}
	}
	if err := w.Put(baseline.Record{Path: "x"}); err == nil {
		t.Error("Put without root: no error")
	}
	// Another root starts its own order; roots come in byte order, each
	// once (the digest's trees are per root).
	if err := w.Put(baseline.Record{Root: "/s", Path: "a", Type: baseline.TypeFile}); err != nil {
		t.Errorf("Put in a second root: %v", err)
	}
	for _, root := range []string{"/q", "/r"} {
		if err := w.Put(baseline.Record{Root: root, Path: "z", Type: baseline.TypeFile}); err == nil || !strings.Contains(err.Error(), "byte order") {
			t.Errorf("Put in root %s after /s: err = %v, want an error about the order of roots", root, err)
		}
	}
}

func TestPendingIsInvisible(t *testing.T) {
	db := openTemp(t)
	old := writeBaseline(t, db, "old", true, genRecords("/r", 10, 1))
	w, err := db.Begin(Meta{Label: "new"})
	if err != nil {
		t.Fatal(err)
	}
	// Enough records that some batches are committed to the file.
	for _, r := range genRecords("/r", batchRecords*2+10, 2) {
		if err := w.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	id := w.ID()
	list, err := db.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != old.ID {
		t.Errorf("List while pending = %+v, want only baseline %d", list, old.ID)
	}
	for _, ref := range []string{fmt.Sprint(id), "new"} {
		if _, err := db.Resolve(ref); !errors.Is(err, ErrNotFound) {
			t.Errorf("Resolve(%q) of pending: err = %v, want ErrNotFound", ref, err)
		}
	}
	if err := db.Activate(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Activate(pending) err = %v, want ErrNotFound", err)
	}
	if err := db.Delete(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete(pending) err = %v, want ErrNotFound", err)
	}
	if _, err := collect(t, db.Records(id, "")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Records(pending) err = %v, want ErrNotFound", err)
	}
	// A live writer's pending baseline survives Prune's garbage collection.
	if _, err := db.Prune(5); err != nil {
		t.Fatal(err)
	}
	m, err := w.Commit(Meta{Label: "new"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if m.Active {
		t.Error("committed with activate=false but is active")
	}
	act, err := db.Resolve("active")
	if err != nil || act.ID != old.ID {
		t.Errorf("active = %d, %v; want %d", act.ID, err, old.ID)
	}
	if r, err := db.Resolve("new"); err != nil || r.ID != id || r.Files+r.Symlinks+r.Dirs != int64(batchRecords*2+10) {
		t.Errorf("Resolve(new) = %+v, %v", r, err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if _, err := db.Resolve("new"); err != nil {
		t.Errorf("Abort after Commit removed the baseline: %v", err)
	}
}

func TestAbort(t *testing.T) {
	db := openTemp(t)
	w, err := db.Begin(Meta{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range genRecords("/r", batchRecords+10, 1) {
		if err := w.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if n := countBaselineBuckets(t, db); n != 0 {
		t.Errorf("%d baseline buckets after Abort, want 0", n)
	}
	if _, err := w.Commit(Meta{}, true); err == nil {
		t.Error("Commit after Abort: no error")
	}
}

// countBaselineBuckets counts committed and pending baselines in the file.
func countBaselineBuckets(t testing.TB, db *DB) int {
	t.Helper()
	n := 0
	err := db.view(func(tx *safebolt.Tx) error {
		return tx.Bucket(bucketBaselines).ForEachBucket(func([]byte) error { n++; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFirstBaselineIsActive(t *testing.T) {
	db := openTemp(t)
	m := writeBaseline(t, db, "", false, genRecords("/r", 3, 1))
	if !m.Active {
		t.Error("first baseline committed with activate=false is not active")
	}
	if _, err := db.Resolve("active"); err != nil {
		t.Error(err)
	}
}

func TestResolveListActivateDeletePrune(t *testing.T) {
	db := openTemp(t)
	if _, err := db.Resolve("active"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve(active) on empty db: %v, want ErrNotFound", err)
	}
	recs := genRecords("/r", 5, 1)
	labels := []string{"v1", "v2", "v1", "", "v3"}
	for _, l := range labels {
		writeBaseline(t, db, l, true, recs)
	}
	list, err := db.List()
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, m := range list {
		ids = append(ids, m.ID)
		if m.Active != (m.ID == 5) {
			t.Errorf("baseline %d Active = %v", m.ID, m.Active)
		}
	}
	if diff := cmp.Diff([]uint64{1, 2, 3, 4, 5}, ids); diff != "" {
		t.Errorf("List ids (-want +got):\n%s", diff)
	}
	for ref, want := range map[string]uint64{"active": 5, "v1": 3, "v2": 2, " 4 ": 4, "v3": 5} {
		m, err := db.Resolve(ref)
		if err != nil || m.ID != want {
			t.Errorf("Resolve(%q) = %d, %v; want %d", ref, m.ID, err, want)
		}
	}
	for _, ref := range []string{"9", "nope", ""} {
		if _, err := db.Resolve(ref); err == nil {
			t.Errorf("Resolve(%q): no error", ref)
		}
	}
	if err := db.Activate(2); err != nil {
		t.Fatal(err)
	}
	if m, _ := db.Resolve("active"); m.ID != 2 || !m.Active {
		t.Errorf("after Activate(2) active = %+v", m)
	}
	if err := db.Activate(42); !errors.Is(err, ErrNotFound) {
		t.Errorf("Activate(42): %v", err)
	}

	// Deleting the active baseline moves the pointer to the newest remaining.
	if err := db.Delete(2); err != nil {
		t.Fatal(err)
	}
	if m, _ := db.Resolve("active"); m.ID != 5 {
		t.Errorf("after deleting the active 2, active = %d, want 5", m.ID)
	}
	if err := db.Delete(2); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete(2): %v", err)
	}

	// Prune keeps the newest and the active one.
	if err := db.Activate(1); err != nil {
		t.Fatal(err)
	}
	deleted, err := db.Prune(1)
	if err != nil {
		t.Fatal(err)
	}
	var delIDs []uint64
	for _, m := range deleted {
		delIDs = append(delIDs, m.ID)
	}
	if diff := cmp.Diff([]uint64{3, 4}, delIDs); diff != "" {
		t.Errorf("Prune(1) deleted (-want +got):\n%s", diff)
	}
	list, _ = db.List()
	if len(list) != 2 || list[0].ID != 1 || list[1].ID != 5 {
		t.Errorf("after Prune(1): %+v", list)
	}
	if deleted, err := db.Prune(0); err != nil || len(deleted) != 1 || deleted[0].ID != 5 {
		t.Errorf("Prune(0) = %+v, %v; want only 5 deleted", deleted, err)
	}
	if _, err := db.Prune(-1); err == nil {
		t.Error("Prune(-1): no error")
	}
	// Ids are not reused after deletion.
	if m := writeBaseline(t, db, "", true, recs); m.ID != 6 {
		t.Errorf("next id = %d, want 6", m.ID)
	}
	// Deleting the last baseline leaves none active.
	for _, id := range []uint64{1, 6} {
		if err := db.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Resolve("active"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve(active) with no baselines: %v", err)
	}
}

func TestLabels(t *testing.T) {
	db := openTemp(t)
	for _, l := range []string{"active", "12"} {
		if _, err := db.Begin(Meta{Label: l}); err == nil {
			t.Errorf("Begin with label %q: no error", l)
		}
	}
}

func TestInventory(t *testing.T) {
	db := openTemp(t)
	items := []serverconf.Item{
		{Server: "iis", Kind: "global_module", Name: "Evil", Image: `C:\x.dll`, Source: "applicationHost.config", Line: 12, Attrs: map[string]string{"preCondition": "bitness64"}},
		{Server: "apache", Kind: "load_module", Name: "php_module", Image: "/usr/lib/php.so", Source: "/etc/apache2/a.conf", Line: 3},
	}
	w, err := db.Begin(Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Put(baseline.Record{Root: "/r", Type: baseline.TypeDir}); err != nil {
		t.Fatal(err)
	}
	if err := w.PutInventory(items[:1]); err != nil {
		t.Fatal(err)
	}
	if err := w.PutInventory(items[1:]); err != nil {
		t.Fatal(err)
	}
	m, err := w.Commit(Meta{}, true)
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Inventory(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(items, got); diff != "" {
		t.Errorf("Inventory (-want +got):\n%s", diff)
	}
	if _, err := db.Inventory(99); !errors.Is(err, ErrNotFound) {
		t.Errorf("Inventory(99): %v", err)
	}
}

func TestRecordsWhileBaselineDeleted(t *testing.T) {
	db := openTemp(t)
	m := writeBaseline(t, db, "", true, genRecords("/r", 3*chunkRecords, 1))
	n := 0
	var gotErr error
	for _, err := range db.Records(m.ID, "") {
		if err != nil {
			gotErr = err
			break
		}
		n++
		if n == 1 {
			// The stream holds no lock between chunks, so this does not
			// deadlock or wait.
			if err := db.Delete(m.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !errors.Is(gotErr, ErrNotFound) || !strings.Contains(gotErr.Error(), "deleted while it was being read") {
		t.Fatalf("err = %v, want one saying the baseline was deleted", gotErr)
	}
	// A chunk ends after the block that reaches chunkRecords.
	if n < chunkRecords || n >= chunkRecords+blockRecords {
		t.Errorf("read %d records before the error, want one chunk (%d to %d)", n, chunkRecords, chunkRecords+blockRecords-1)
	}
}

func TestCorruptRecord(t *testing.T) {
	db := openTemp(t)
	recs := genRecords("/srv/a", 50, 1)
	m := writeBaseline(t, db, "", true, recs)
	i := slices.IndexFunc(recs, func(r baseline.Record) bool { return strings.Contains(r.Path, "\xff") })
	if i < 0 {
		t.Fatal("test setup: no record with a non-UTF-8 name")
	}
	bad := recs[i]
	rewriteBlock(t, db, m.ID, "/srv/a", func(key, val []byte) []byte {
		if bytes.Equal(key, storeKeyOf(bad.Path)) {
			return []byte{1, 0xff, 0xff, 0xff}
		}
		return val
	})
	n, errs := readAll(db, m.ID)
	if len(errs) != 1 || n != len(recs)-1 {
		t.Fatalf("got %d errors (%v) and %d records, want 1 error and %d records", len(errs), errs, n, len(recs)-1)
	}
	msg := errs[0].Error()
	if !errors.Is(errs[0], baseline.ErrCorruptRecord) || !strings.Contains(msg, fmt.Sprintf("baseline %d", m.ID)) ||
		!strings.Contains(msg, "/srv/a") || !strings.Contains(msg, `\xff\xfe`) {
		t.Errorf("error %q does not wrap ErrCorruptRecord or name baseline, root and escaped path", msg)
	}
	if err := db.Check(); !errors.Is(err, ErrCorrupt) || !errors.Is(err, baseline.ErrCorruptRecord) || !strings.Contains(err.Error(), `\xff\xfe`) {
		t.Errorf("Check with a corrupt record: %v", err)
	}
	if _, _, err := db.Lookup(m.ID, bad.Root, bad.Path); !errors.Is(err, baseline.ErrCorruptRecord) {
		t.Errorf("Lookup of the corrupt record: %v", err)
	}
}

// readAll reads every record of baseline id, counting the records and
// collecting the errors (the stream goes on after an error).
func readAll(db *DB, id uint64) (n int, errs []error) {
	for _, err := range db.Records(id, "") {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errs
}

// rewriteBlock re-encodes every block of root in baseline id, with each
// record's value replaced by what edit returns for it.
func rewriteBlock(t *testing.T, db *DB, id uint64, root string, edit func(key, val []byte) []byte) {
	t.Helper()
	err := db.update(func(tx *safebolt.Tx) error {
		rb := tx.Bucket(bucketBaselines).Bucket(u64(id)).Bucket(bucketRoots).Bucket([]byte(root))
		var blocks []rawBlock
		err := rb.ForEach(func(k, v []byte) error {
			var b blockBuilder
			err := decodeBlock(k, v, func(key, val []byte) bool {
				if b.n == 0 {
					b.start(root, key, nil)
				}
				b.add(key, edit(key, val))
				return true
			})
			blocks = append(blocks, rawBlock{key: bytes.Clone(k), val: b.data})
			return err
		})
		if err != nil {
			return err
		}
		for _, b := range blocks {
			if err := rb.Put(b.key, b.val); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDamagedBlock: a block whose framing is damaged loses its records
// from the damage on, with one error naming the baseline, root and block;
// the other blocks are read.
func TestDamagedBlock(t *testing.T) {
	db := openTemp(t)
	recs := genRecords("/srv/a", 1000, 1)
	m := writeBaseline(t, db, "", true, recs)
	var keys [][]byte
	var sizes []int
	err := db.update(func(tx *safebolt.Tx) error {
		rb := tx.Bucket(bucketBaselines).Bucket(u64(m.ID)).Bucket(bucketRoots).Bucket([]byte("/srv/a"))
		err := rb.ForEach(func(k, v []byte) error {
			n := 0
			decodeBlock(k, v, func(_, _ []byte) bool { n++; return true })
			keys, sizes = append(keys, bytes.Clone(k)), append(sizes, n)
			return nil
		})
		if err != nil || len(keys) < 3 {
			return fmt.Errorf("want at least 3 blocks, got %d (%v)", len(keys), err)
		}
		// The second block: its first entry is kept, the second's key
		// length is made impossible.
		v := bytes.Clone(rb.Get(keys[1]))
		_, n1 := binary.Uvarint(v[1:])
		_, n2 := binary.Uvarint(v[1+n1:])
		vlen, n3 := binary.Uvarint(v[1+n1+n2:])
		second := 1 + n1 + n2 + n3 + int(vlen)
		v[second] = 0xff
		v[second+1] = 0xff
		v[second+2] = 0x7f
		return rb.Put(keys[1], v)
	})
	if err != nil {
		t.Fatal(err)
	}
	n, errs := readAll(db, m.ID)
	if want := len(recs) - sizes[1] + 1; len(errs) != 1 || n != want {
		t.Fatalf("got %d errors (%v) and %d records, want 1 error and %d records", len(errs), errs, n, want)
	}
	msg := errs[0].Error()
	if !errors.Is(errs[0], errBlock) || !strings.Contains(msg, fmt.Sprintf("baseline %d", m.ID)) ||
		!strings.Contains(msg, "/srv/a") || !strings.Contains(msg, "entry 2") || !strings.Contains(msg, "impossible key length") {
		t.Errorf("error %q does not say which baseline, root, block and entry", msg)
	}
	if err := db.Check(); !errors.Is(err, ErrCorrupt) || !errors.Is(err, errBlock) {
		t.Errorf("Check with a damaged block: %v", err)
	}
}

func TestNewerSchema(t *testing.T) {
	db := openTemp(t)
	err := db.update(func(tx *safebolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, u64(SchemaVersion+1))
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(db.Path(), Options{})
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Open: %v, want ErrNewerSchema", err)
	}
	want := fmt.Sprintf("database %s was written by a newer webfim (schema %d, this binary knows %d); upgrade webfim", db.Path(), SchemaVersion+1, SchemaVersion)
	if err.Error() != want {
		t.Errorf("message %q\nwant      %q", err, want)
	}
}

func TestReopenKeepsState(t *testing.T) {
	db := openTemp(t)
	m := writeBaseline(t, db, "x", true, genRecords("/r", 20, 1))
	db2, err := Open(db.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db2.Resolve("active")
	if err != nil || got.ID != m.ID {
		t.Errorf("after reopen active = %d, %v", got.ID, err)
	}
	if err := db2.Check(); err != nil {
		t.Error(err)
	}
	boltCheck(t, db.Path())
}

func TestCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	// A real database to damage.
	good := openTemp(t)
	writeBaseline(t, good, "", true, genRecords("/r", 20000, 1))
	data, err := os.ReadFile(good.Path())
	if err != nil {
		t.Fatal(err)
	}
	garbage := bytes.Repeat([]byte("not a database, just some text\n"), 4096)
	pageSize := os.Getpagesize()
	var used int // bytes of pages in use: the file may be longer
	bdb, err := bolt.Open(good.Path(), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	bdb.View(func(tx *bolt.Tx) error { used = int(tx.Size()); return nil })
	bdb.Close()
	cases := map[string][]byte{
		"garbage":          garbage,
		"short garbage":    []byte("hello"),
		"one page":         data[:pageSize],
		"truncated 3pages": data[:3*pageSize],
		"truncated half":   data[:len(data)/2],
		"truncated -1page": data[:used-pageSize],
	}
	// Destroy both meta pages' checksums.
	noMeta := bytes.Clone(data)
	for i := 0; i < 2; i++ {
		copy(noMeta[i*pageSize+64:], "XXXXXXXXXXXXXXXX")
	}
	cases["meta pages damaged"] = noMeta
	// Overwrite every data page past the meta pages with noise.
	noise := bytes.Clone(data)
	for i := 2 * pageSize; i < len(noise); i++ {
		noise[i] = byte(i*7 + i>>9)
	}
	cases["data pages overwritten"] = noise

	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".db")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := Open(path, Options{LockTimeout: time.Second})
			if err == nil {
				// Opening may work when only data pages are damaged; then
				// reading must fail cleanly.
				if _, err = db.List(); err == nil {
					_, err = collect(t, db.Records(1, ""))
				}
				if err == nil {
					err = db.Check()
				}
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			t.Logf("%v", err)
			// The lock must have been released: a fresh database at the
			// same path can be opened right away.
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(path, Options{LockTimeout: 200 * time.Millisecond}); err != nil {
				t.Errorf("reopen after failure: %v", err)
			}
		})
	}
}

func TestForeignBoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("users"))
		return err
	})
	bdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(path, Options{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not a webfim database") {
		t.Errorf("Open of a foreign bbolt file: %v", err)
	}
}

func TestWindows(t *testing.T) {
	db := openTemp(t)
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	if _, ok, err := db.CurrentWindow(t0); ok || err != nil {
		t.Fatalf("CurrentWindow on empty db = %v, %v", ok, err)
	}
	if _, err := db.FinishWindow(t0); !errors.Is(err, ErrNoWindow) {
		t.Errorf("FinishWindow with none open: %v, want ErrNoWindow", err)
	}
	w1, err := db.StartWindow(Window{Label: "v2.3.1", By: "jenkins", Start: t0, End: t0.Add(30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if w1.ID == 0 {
		t.Error("window has no ID")
	}
	_, err = db.StartWindow(Window{Label: "v2.3.2", Start: t0.Add(10 * time.Minute), End: t0.Add(time.Hour)})
	if !errors.Is(err, ErrWindowOpen) || !strings.Contains(err.Error(), "v2.3.1") || !strings.Contains(err.Error(), "jenkins") {
		t.Errorf("second StartWindow: %v, want ErrWindowOpen naming the open one", err)
	}
	cur, ok, err := db.CurrentWindow(t0.Add(29 * time.Minute))
	if err != nil || !ok || cur.ID != w1.ID {
		t.Errorf("CurrentWindow inside = %+v, %v, %v", cur, ok, err)
	}
	// It expires by itself at End.
	if _, ok, _ := db.CurrentWindow(t0.Add(30 * time.Minute)); ok {
		t.Error("window still open at its end time")
	}
	if _, err := db.FinishWindow(t0.Add(31 * time.Minute)); !errors.Is(err, ErrNoWindow) {
		t.Errorf("FinishWindow after expiry: %v, want ErrNoWindow", err)
	}
	w2, err := db.StartWindow(Window{Label: "v2.4", Start: t0.Add(30 * time.Minute), End: t0.Add(2 * time.Hour)})
	if err != nil {
		t.Fatalf("StartWindow after expiry: %v", err)
	}
	fin, err := db.FinishWindow(t0.Add(40 * time.Minute))
	if err != nil || fin.ID != w2.ID || !fin.Finished.Equal(t0.Add(40*time.Minute)) {
		t.Errorf("FinishWindow = %+v, %v", fin, err)
	}
	if _, ok, _ := db.CurrentWindow(t0.Add(41 * time.Minute)); ok {
		t.Error("finished window still open")
	}
	if _, err := db.FinishWindow(t0.Add(42 * time.Minute)); !errors.Is(err, ErrNoWindow) {
		t.Errorf("second FinishWindow: %v", err)
	}
	all, err := db.Windows()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Label != "v2.3.1" || all[1].Label != "v2.4" || all[1].Finished.IsZero() {
		t.Errorf("Windows = %+v", all)
	}
	if _, err := db.StartWindow(Window{Start: t0, End: t0}); err == nil {
		t.Error("empty window accepted")
	}
}

func TestOutbox(t *testing.T) {
	db := openTemp(t)
	mk := func(i int) OutboxEntry {
		return OutboxEntry{ID: fmt.Sprintf("id-%d", i), Doc: []byte(fmt.Sprintf(`{"n":%d}`, i))}
	}
	if d, err := db.Enqueue(3, mk(1), mk(2)); d != 0 || err != nil {
		t.Fatalf("Enqueue = %d, %v", d, err)
	}
	if d, err := db.Enqueue(3, mk(3), mk(4), mk(5)); d != 2 || err != nil {
		t.Fatalf("Enqueue over the bound = %d, %v; want 2 dropped", d, err)
	}
	// Counters survive reopening.
	db, err := Open(db.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	depth, dropped, err := db.OutboxStats()
	if depth != 3 || dropped != 2 || err != nil {
		t.Errorf("OutboxStats = %d, %d, %v; want 3, 2", depth, dropped, err)
	}
	p, err := db.Pending(2)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 2 || p[0].ID != "id-3" || p[1].ID != "id-4" || string(p[0].Doc) != `{"n":3}` || p[0].Seq >= p[1].Seq || p[0].Enqueued.IsZero() {
		t.Fatalf("Pending(2) = %+v", p)
	}
	if err := db.Ack(p[0].Seq, p[0].Seq, 9999); err != nil {
		t.Fatal(err)
	}
	all, err := db.Pending(0)
	if err != nil || len(all) != 2 || all[0].ID != "id-4" || all[1].ID != "id-5" {
		t.Errorf("Pending(0) after Ack = %+v, %v", all, err)
	}
	if depth, dropped, _ := db.OutboxStats(); depth != 2 || dropped != 2 {
		t.Errorf("OutboxStats after Ack = %d, %d", depth, dropped)
	}
	if d, err := db.Enqueue(0, mk(6), mk(7), mk(8)); d != 0 || err != nil {
		t.Errorf("unbounded Enqueue = %d, %v", d, err)
	}
	if depth, _, _ := db.OutboxStats(); depth != 5 {
		t.Errorf("depth = %d, want 5", depth)
	}
}

// PendingAfter seeks past the entries a deliverer already has, whatever
// is left before them (not acknowledged, or acknowledged in between).
func TestOutboxPendingAfter(t *testing.T) {
	db := openTemp(t)
	var seqs []uint64
	for i := range 10 {
		if _, err := db.Enqueue(0, OutboxEntry{ID: fmt.Sprint(i), Doc: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := db.Pending(0)
	if err != nil || len(all) != 10 {
		t.Fatalf("Pending(0) = %d entries, %v", len(all), err)
	}
	for _, e := range all {
		seqs = append(seqs, e.Seq)
	}
	ids := func(list []OutboxEntry) string {
		var s []string
		for _, e := range list {
			s = append(s, e.ID)
		}
		return strings.Join(s, ",")
	}
	if err := db.Ack(seqs[5], seqs[6]); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		after uint64
		n     int
		want  string
	}{
		{0, 3, "0,1,2"},
		{seqs[0], 3, "1,2,3"},
		{seqs[3], 3, "4,7,8"}, // 5 and 6 were acknowledged
		{seqs[4], 0, "7,8,9"},
		{seqs[9], 5, ""},
		{math.MaxUint64, 5, ""},
	} {
		got, err := db.PendingAfter(c.after, c.n)
		if err != nil || ids(got) != c.want {
			t.Errorf("PendingAfter(%d, %d) = %q, %v; want %q", c.after, c.n, ids(got), err, c.want)
		}
	}
}

func TestOutboxEntryDecoding(t *testing.T) {
	e := OutboxEntry{ID: "abc", Doc: []byte("{}"), Enqueued: time.Unix(0, 12345)}
	got, err := decodeEntry(7, encodeEntry(&e))
	if err != nil || got.ID != "abc" || string(got.Doc) != "{}" || got.Seq != 7 || !got.Enqueued.Equal(e.Enqueued) {
		t.Errorf("round trip = %+v, %v", got, err)
	}
	for _, bad := range [][]byte{nil, {1}, {2, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0, 0, 0, 0, 50, 'a'}, {1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff}} {
		if _, err := decodeEntry(1, bad); err == nil {
			t.Errorf("decodeEntry(%x): no error", bad)
		}
	}
}

func TestSeen(t *testing.T) {
	db := openTemp(t)
	if _, ok, err := db.Seen("fp1"); ok || err != nil {
		t.Fatalf("Seen on empty = %v, %v", ok, err)
	}
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	if err := db.MarkSeen("fp1", t1); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkSeenAll(t1.Add(time.Hour), "fp2", "fp3"); err != nil {
		t.Fatal(err)
	}
	got, ok, err := db.Seen("fp1")
	if err != nil || !ok || !got.Equal(t1) {
		t.Errorf("Seen(fp1) = %v, %v, %v", got, ok, err)
	}
	if err := db.MarkSeen("", t1); err == nil {
		t.Error("empty fingerprint accepted")
	}
	n, err := db.ForgetSeen(t1.Add(time.Minute))
	if err != nil || n != 1 {
		t.Errorf("ForgetSeen = %d, %v; want 1", n, err)
	}
	if _, ok, _ := db.Seen("fp1"); ok {
		t.Error("fp1 still seen after ForgetSeen")
	}
	if _, ok, _ := db.Seen("fp3"); !ok {
		t.Error("fp3 forgotten")
	}
}

func TestForgetSeenUnder(t *testing.T) {
	db := openTemp(t)
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	keys := []string{"f\x00/www\x00a\x00id1", "f\x00/www\x00a\x00id2", "f\x00/www\x00ab\x00id3",
		"f\x00/www\x00d/x\x00id4", "f\x00/www2\x00a\x00id5", "legacy0123456789abcdef"}
	if err := db.MarkSeenAll(t1, keys...); err != nil {
		t.Fatal(err)
	}
	seen := func() []string {
		var out []string
		for _, k := range keys {
			if _, ok, err := db.Seen(k); err != nil {
				t.Fatal(err)
			} else if ok {
				out = append(out, k)
			}
		}
		return out
	}
	// A subject's entries but one: "a" and not "ab"; overlapping prefixes
	// count a key once.
	n, err := db.ForgetSeenUnder([]string{"f\x00/www\x00a\x00", "f\x00/www\x00a\x00id"}, func(k string, last time.Time) bool {
		if !last.Equal(t1) {
			t.Errorf("last = %v, want %v", last, t1)
		}
		return k == keys[1]
	})
	if err != nil || n != 1 {
		t.Errorf("ForgetSeenUnder(subject a) = %d, %v; want 1", n, err)
	}
	// A directory's entries.
	if n, err := db.ForgetSeenUnder([]string{"f\x00/www\x00d/"}, nil); err != nil || n != 1 {
		t.Errorf("ForgetSeenUnder(dir d) = %d, %v; want 1", n, err)
	}
	// Nothing to forget: no error, nothing written.
	if n, err := db.ForgetSeenUnder([]string{"zzz"}, nil); err != nil || n != 0 {
		t.Errorf("ForgetSeenUnder(nothing) = %d, %v", n, err)
	}
	want := []string{keys[1], keys[2], keys[4], keys[5]}
	if got := seen(); !slices.Equal(got, want) {
		t.Errorf("left %q, want %q", got, want)
	}
	// Every key, but those kept.
	if n, err := db.ForgetSeenUnder([]string{""}, func(k string, _ time.Time) bool { return strings.Contains(k, "\x00") }); err != nil || n != 1 {
		t.Errorf("ForgetSeenUnder(legacy) = %d, %v; want 1", n, err)
	}
	if got := seen(); !slices.Equal(got, want[:3]) {
		t.Errorf("left %q, want %q", got, want[:3])
	}
}

// putPending writes a pending baseline with the given owner directly.
func putPending(t testing.TB, db *DB, o owner) uint64 {
	t.Helper()
	var id uint64
	err := db.update(func(tx *safebolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		id, _ = getU64(m.Get(keyNextBaselineID))
		m.Put(keyNextBaselineID, u64(id+1))
		b, err := tx.Bucket(bucketBaselines).CreateBucket(u64(id))
		if err != nil {
			return err
		}
		oj := fmt.Appendf(nil, `{"host":%q,"pid":%d,"start":%q,"heartbeat":%q}`, o.Host, o.PID, o.Start, o.Heartbeat.Format(time.RFC3339Nano))
		b.Put(keyBaselineMeta, []byte(`{}`))
		b.Put(keyPending, oj)
		_, err = b.CreateBucket(bucketRoots)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func hasBaselineBucket(t testing.TB, db *DB, id uint64) bool {
	var ok bool
	db.view(func(tx *safebolt.Tx) error {
		ok = tx.Bucket(bucketBaselines).Bucket(u64(id)) != nil
		return nil
	})
	return ok
}

func TestGarbageCollectPending(t *testing.T) {
	db := openTemp(t)
	now := time.Now()
	self := currentOwner(now)
	live := putPending(t, db, self)
	otherHostFresh := putPending(t, db, owner{Host: "elsewhere", PID: 1, Heartbeat: now})
	otherHostStale := putPending(t, db, owner{Host: "elsewhere", PID: 1, Heartbeat: now.Add(-StaleAfter - time.Minute)})
	selfStale := putPending(t, db, owner{Host: self.Host, PID: self.PID, Start: self.Start, Heartbeat: now.Add(-StaleAfter - time.Minute)})
	reusedPID := putPending(t, db, owner{Host: self.Host, PID: self.PID, Start: "another-boot:1", Heartbeat: now})
	deadPID := putPending(t, db, owner{Host: self.Host, PID: deadPid(t), Heartbeat: now})
	if _, err := db.Prune(10); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[uint64]bool{live: true, otherHostFresh: true, otherHostStale: false, selfStale: false, deadPID: false} {
		if got := hasBaselineBucket(t, db, id); got != want {
			t.Errorf("pending %d kept = %v, want %v", id, got, want)
		}
	}
	if self.Start != "" && hasBaselineBucket(t, db, reusedPID) {
		t.Error("pending baseline of a reused pid (other start time) was kept")
	}
	// A pending baseline with a damaged marker is removed too.
	err := db.update(func(tx *safebolt.Tx) error {
		return tx.Bucket(bucketBaselines).Bucket(u64(live)).Put(keyPending, []byte("{garbage"))
	})
	if err != nil {
		t.Fatal(err)
	}
	w, err := db.Begin(Meta{})
	if err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if hasBaselineBucket(t, db, live) {
		t.Error("pending baseline with a damaged marker kept by Begin")
	}
}

func TestWriterNoticesRemoval(t *testing.T) {
	db := openTemp(t)
	w, err := db.Begin(Meta{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.update(func(tx *safebolt.Tx) error { return tx.Bucket(bucketBaselines).DeleteBucket(u64(w.ID())) })
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range genRecords("/r", 10, 1) {
		if err := w.Put(r); err != nil {
			t.Fatal(err) // buffered, not yet written
		}
	}
	if _, err := w.Commit(Meta{}, true); err == nil || !strings.Contains(err.Error(), "removed") {
		t.Errorf("Commit after removal: %v, want an error saying it was removed", err)
	}
}

func TestConcurrentHandlesInProcess(t *testing.T) {
	db := openTemp(t)
	db2, err := Open(db.Path(), Options{LockTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	recs := genRecords("/r", 3*batchRecords, 1)
	done := make(chan error, 1)
	go func() {
		w, err := db.Begin(Meta{})
		if err != nil {
			done <- err
			return
		}
		for _, r := range recs {
			if err := w.Put(r); err != nil {
				done <- err
				return
			}
		}
		_, err = w.Commit(Meta{}, true)
		done <- err
	}()
	for i := 0; ; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db2.Resolve("active"); err != nil {
				t.Fatal(err)
			}
			return
		default:
		}
		if _, err := db2.Enqueue(100, OutboxEntry{ID: fmt.Sprint(i)}); err != nil {
			t.Fatalf("Enqueue while another handle writes: %v", err)
		}
		if _, err := db2.List(); err != nil {
			t.Fatalf("List while another handle writes: %v", err)
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{"a/b c.php": "a/b c.php", "a\nb": `"a\nb"`, "x\xffy": `"x\xffy"`, "é": "é"} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestDefaultPath(t *testing.T) {
	p, err := DefaultPath()
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(p) || filepath.Base(p) != "webfim.db" {
		t.Errorf("DefaultPath = %q", p)
	}
}

func TestCommitMetaDefaultsFromBegin(t *testing.T) {
	db := openTemp(t)
	begin := Meta{Label: "deploy-1", Roots: []string{"/r"}, Configs: []string{"/etc/nginx/nginx.conf"}, Version: "1.2", Sysroot: "/", Full: true, Files: 99}
	w, err := db.Begin(begin)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Put(baseline.Record{Root: "/r", Type: baseline.TypeDir}); err != nil {
		t.Fatal(err)
	}
	m, err := w.Commit(Meta{Duration: time.Second}, true)
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Resolve("deploy-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, got); diff != "" {
		t.Errorf("Resolve differs from Commit's meta (-commit +resolve):\n%s", diff)
	}
	if got.Version != "1.2" || !got.Full || got.Duration != time.Second || got.Files != 0 || got.Dirs != 1 ||
		len(got.Configs) != 1 || got.Host == "" || got.Created.IsZero() {
		t.Errorf("meta = %+v", got)
	}
}

func TestDatabaseRemoved(t *testing.T) {
	db := openTemp(t)
	if err := os.Remove(db.Path()); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkSeen("x", time.Now()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("MarkSeen on a removed database: %v", err)
	}
	if _, err := os.Stat(db.Path()); err == nil {
		t.Error("a write recreated the removed database file")
	}
}

// TestMigrateSchema1: a database of schema 1 (one bbolt value per record)
// is converted to blocks when opened, with every record kept.
func TestMigrateSchema1(t *testing.T) {
	db := openTemp(t)
	a := genRecords("/srv/a", 700, 1)
	b := genRecords("/srv/b", 40, 2)
	m1 := writeBaseline(t, db, "one", true, a, b)
	m2 := writeBaseline(t, db, "two", true, b)
	// Turn it into the schema 1 layout.
	err := db.update(func(tx *safebolt.Tx) error {
		for _, id := range []uint64{m1.ID, m2.ID} {
			roots := tx.Bucket(bucketBaselines).Bucket(u64(id)).Bucket(bucketRoots)
			var names [][]byte
			roots.ForEachBucket(func(k []byte) error { names = append(names, bytes.Clone(k)); return nil })
			for _, name := range names {
				type kv struct{ k, v []byte }
				var recs []kv
				err := roots.Bucket(name).ForEach(func(k, v []byte) error {
					return decodeBlock(k, v, func(key, val []byte) bool {
						recs = append(recs, kv{bytes.Clone(key), bytes.Clone(val)})
						return true
					})
				})
				if err != nil {
					return err
				}
				roots.DeleteBucket(name)
				rb, _ := roots.CreateBucket(name)
				for _, r := range recs {
					if err := rb.Put(r.k, r.v); err != nil {
						return err
					}
				}
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, u64(1))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := collect(t, db.Records(m1.ID, "")); err == nil {
		t.Fatal("test setup: the schema 1 layout reads as blocks")
	}

	db2, err := Open(db.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id   uint64
		want []baseline.Record
	}{{m1.ID, append(slices.Clone(a), b...)}, {m2.ID, b}} {
		got, err := collect(t, db2.Records(c.id, ""))
		if err != nil {
			t.Fatal(err)
		}
		if diff := diffRecords(c.want, got); diff != "" {
			t.Errorf("baseline %d after migration (-want +got):\n%s", c.id, diff)
		}
	}
	if r, ok, err := db2.Lookup(m1.ID, "/srv/a", a[500].Path); !ok || err != nil || r.Path != a[500].Path {
		t.Errorf("Lookup after migration: %v, %v", ok, err)
	}
	err = db2.view(func(tx *safebolt.Tx) error {
		if v, _ := getU64(tx.Bucket(bucketMeta).Get(keySchema)); v != SchemaVersion {
			t.Errorf("schema after migration = %d, want %d", v, SchemaVersion)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db2.Check(); err != nil {
		t.Error(err)
	}
	boltCheck(t, db.Path())
}

// TestLookupEveryRecord looks up every record of a baseline spanning many
// blocks (first, middle and last entries of blocks), and paths between
// and around them.
func TestLookupEveryRecord(t *testing.T) {
	db := openTemp(t)
	recs := genRecords("/r", 600, 1)
	m := writeBaseline(t, db, "", true, recs)
	for _, r := range recs {
		got, ok, err := db.Lookup(m.ID, r.Root, r.Path)
		if err != nil || !ok {
			t.Fatalf("Lookup(%q) = %v, %v", r.Path, ok, err)
		}
		if diff := cmp.Diff(r, got); diff != "" {
			t.Fatalf("Lookup(%q) mismatch (-want +got):\n%s", r.Path, diff)
		}
		for _, missing := range []string{r.Path + "~", r.Path + "/x"} {
			if r.Path == "" {
				break
			}
			if i := slices.IndexFunc(recs, func(q baseline.Record) bool { return q.Path == missing }); i >= 0 {
				continue
			}
			if _, ok, err := db.Lookup(m.ID, r.Root, missing); ok || err != nil {
				t.Fatalf("Lookup(%q) of a missing path = %v, %v", missing, ok, err)
			}
		}
	}
	if _, ok, err := db.Lookup(m.ID, "/r", "\x01before-all"); ok || err != nil {
		t.Errorf("Lookup before the first key = %v, %v", ok, err)
	}
	if _, ok, err := db.Lookup(m.ID, "/other", "x"); ok || err != nil {
		t.Errorf("Lookup in an unknown root = %v, %v", ok, err)
	}
}

// TestLargeRecords: records larger than a block are stored in a block of
// their own, between ordinary ones.
func TestLargeRecords(t *testing.T) {
	db := openTemp(t)
	recs := genRecords("/r", 300, 1)
	for _, i := range []int{1, 2, 150, 299} {
		recs[i].Type, recs[i].BLAKE3, recs[i].SHA256 = baseline.TypeSymlink, nil, nil
		recs[i].Target = strings.Repeat("t", blockBytes*(i%3+1))
	}
	m := writeBaseline(t, db, "", true, recs)
	got, err := collect(t, db.Records(m.ID, ""))
	if err != nil {
		t.Fatal(err)
	}
	if diff := diffRecords(recs, got); diff != "" {
		t.Fatalf("Records mismatch (-want +got):\n%s", diff)
	}
	for _, i := range []int{1, 2, 3, 150, 151, 299} {
		r, ok, err := db.Lookup(m.ID, "/r", recs[i].Path)
		if !ok || err != nil || r.Target != recs[i].Target {
			t.Errorf("Lookup(%q) = %v, %v, target of %d bytes", recs[i].Path, ok, err, len(r.Target))
		}
	}
	if err := db.Check(); err != nil {
		t.Error(err)
	}
}

// within runs fn and fails the test if it does not return within d (a
// damaged page tree used to make bbolt loop until out of memory).
func within(t *testing.T, d time.Duration, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
		return nil
	}
}

// TestPageTreeLoop: a branch page of a baseline's records pointing back
// into its own tree (to itself, or to an ancestor two levels up) is
// reported as damage by every operation that would walk it, instead of
// sending bbolt's cursor down forever.
func TestPageTreeLoop(t *testing.T) {
	for _, target := range []string{"itself", "grandparent"} {
		t.Run(target, func(t *testing.T) {
			db := openTemp(t)
			recs := genRecords("/r", 30000, 1)
			m := writeBaseline(t, db, "", true, recs)
			var root, branch, child uint64
			bdb, err := bolt.Open(db.Path(), 0o600, &bolt.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			bdb.View(func(tx *bolt.Tx) error {
				rb := tx.Bucket(bucketBaselines).Bucket(u64(m.ID)).Bucket(bucketRoots).Bucket([]byte("/r"))
				root = uint64(rb.Root())
				return nil
			})
			bdb.Close()
			data, err := os.ReadFile(db.Path())
			if err != nil {
				t.Fatal(err)
			}
			ps := uint64(os.Getpagesize())
			page := func(id uint64) []byte { return data[id*ps : (id+1)*ps] }
			flags := func(id uint64) uint16 { return binary.NativeEndian.Uint16(page(id)[8:]) }
			const boltHeaderSize, boltBranchFlag = 16, 1 // pinned by the safebolt layout test
			firstChild := func(id uint64) uint64 { return binary.NativeEndian.Uint64(page(id)[boltHeaderSize+8:]) }
			if flags(root) != boltBranchFlag || flags(firstChild(root)) != boltBranchFlag {
				t.Fatalf("test setup: the records' tree is not two branch levels deep (root flags %#x)", flags(root))
			}
			// root -> branch -> leaves: the branch's first child becomes
			// the branch itself, or root.
			branch = firstChild(root)
			child = branch
			if target == "grandparent" {
				child = root
			}
			binary.NativeEndian.PutUint64(page(branch)[boltHeaderSize+8:], child)
			if err := os.WriteFile(db.Path(), data, 0o600); err != nil {
				t.Fatal(err)
			}
			db2, err := Open(db.Path(), Options{LockTimeout: time.Second})
			if err != nil {
				t.Fatal(err) // the structure outside the records is intact
			}
			check := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), db.Path()) {
					t.Errorf("%s: err = %v, want ErrCorrupt naming the file", what, err)
				}
			}
			check("Records", within(t, 10*time.Second, "Records", func() error {
				_, err := collect(t, db2.Records(m.ID, ""))
				return err
			}))
			check("Lookup", within(t, 10*time.Second, "Lookup", func() error {
				_, _, err := db2.Lookup(m.ID, "/r", recs[100].Path)
				return err
			}))
			check("Check", within(t, 10*time.Second, "Check", db2.Check))
			check("Delete", within(t, 10*time.Second, "Delete", func() error { return db2.Delete(m.ID) }))
			if _, err := db2.List(); err != nil {
				t.Errorf("List after the refused operations: %v", err)
			}
		})
	}
}

// Outbox entries queued with a baseline are published in its commit
// transaction: with it, never without it, and never for a baseline that
// was not stored.
func TestEnqueueOnCommit(t *testing.T) {
	db := openTemp(t)
	ids := func() []string {
		t.Helper()
		p, err := db.Pending(0)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range p {
			out = append(out, e.ID)
		}
		return out
	}
	entry := func(id string) OutboxEntry { return OutboxEntry{ID: id, Doc: []byte(`{}`)} }
	if _, err := db.Enqueue(0, entry("old-1"), entry("old-2")); err != nil {
		t.Fatal(err)
	}

	// Aborted: nothing queued.
	w, err := db.Begin(Meta{Label: "aborted"})
	if err != nil {
		t.Fatal(err)
	}
	w.EnqueueOnCommit(0, entry("aborted"))
	w.Abort()
	// A commit that fails (its statement hook refuses): nothing queued.
	w, err = db.Begin(Meta{Label: "failed"})
	if err != nil {
		t.Fatal(err)
	}
	w.EnqueueOnCommit(0, entry("failed"))
	w.OnStatement(func(*trust.Statement, []byte) ([][]byte, error) { return nil, errors.New("no") })
	if _, err := w.Commit(Meta{Label: "failed"}, true); err == nil {
		t.Fatal("commit with a failing hook succeeded")
	}
	if got := ids(); !slices.Equal(got, []string{"old-1", "old-2"}) {
		t.Fatalf("outbox after abort and failed commit: %q", got)
	}

	// Committed: queued after what was there, bounded like Enqueue.
	w, err = db.Begin(Meta{Label: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	w.EnqueueOnCommit(3, entry("a"), entry("b"))
	m, err := w.Commit(Meta{Label: "v1"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(); !slices.Equal(got, []string{"old-2", "a", "b"}) {
		t.Fatalf("outbox after commit: %q, want the oldest dropped by the bound", got)
	}
	if depth, dropped, _ := db.OutboxStats(); depth != 3 || dropped != 1 {
		t.Errorf("OutboxStats = %d, %d; want 3, 1", depth, dropped)
	}
	if _, err := db.Resolve(fmt.Sprint(m.ID)); err != nil {
		t.Errorf("baseline %d: %v", m.ID, err)
	}
}
