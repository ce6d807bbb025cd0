package baseline

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zeebo/blake3"
)

// collect drains a state.
func collect(t testing.TB, s State) []Record {
	t.Helper()
	var out []Record
	for r, err := range s {
		if err != nil {
			t.Fatalf("state: %v", err)
		}
		out = append(out, r)
	}
	return out
}

func sliceState(recs []Record) State {
	return func(yield func(Record, error) bool) {
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

func paths(recs []Record) []string {
	var p []string
	for _, r := range recs {
		p = append(p, r.Path)
	}
	return p
}

func byPath(recs []Record) map[string]Record {
	m := map[string]Record{}
	for _, r := range recs {
		m[r.Path] = r
	}
	return m
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func b3(s string) []byte { d := blake3.Sum256([]byte(s)); return d[:] }
func s256(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

// sortedByKey reports whether recs are in (Root, Key) order.
func checkSorted(t *testing.T, recs []Record) {
	t.Helper()
	sorted := slices.Clone(recs)
	slices.SortStableFunc(sorted, func(a, b Record) int {
		if c := strings.Compare(a.Root, b.Root); c != 0 {
			return c
		}
		return strings.Compare(string(Key(a.Path)), string(Key(b.Path)))
	})
	if diff := cmp.Diff(paths(sorted), paths(recs)); diff != "" {
		t.Errorf("walk order is not Key order (-sorted +walk):\n%s", diff)
	}
}

func TestWalkHashAllAndExtensions(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/x.txt", "t")
	write(t, root+"/y.JS", "j")
	recs := byPath(collect(t, Walk(context.Background(), []string{root}, Options{HashAllSHA256: true})))
	if !slices.Equal(recs["x.txt"].SHA256, s256("t")) {
		t.Errorf("HashAllSHA256: x.txt SHA256 = %x", recs["x.txt"].SHA256)
	}
	recs = byPath(collect(t, Walk(context.Background(), []string{root}, Options{ScriptExtensions: []string{"js"}})))
	if recs["x.txt"].SHA256 != nil || !slices.Equal(recs["y.JS"].SHA256, s256("j")) {
		t.Errorf("ScriptExtensions js: x.txt %x y.JS %x", recs["x.txt"].SHA256, recs["y.JS"].SHA256)
	}
}

func TestWalkManyFilesOrder(t *testing.T) {
	// More entries than the reorder window, with files of varied sizes so
	// workers finish out of order.
	root := t.TempDir()
	for i := range 5000 {
		write(t, fmt.Sprintf("%s/d%d/f%04d", root, i%7, i), strings.Repeat("x", (i*7919)%70000))
	}
	var last Progress
	calls := 0
	recs := collect(t, Walk(context.Background(), []string{root}, Options{Workers: 4, Progress: func(p Progress) { last = p; calls++ }}))
	checkSorted(t, recs)
	if len(recs) != 5000+7+1 {
		t.Errorf("%d records, want %d", len(recs), 5008)
	}
	if !last.Done || last.Files != int64(len(recs)) || last.Hashed != 5000 || last.HashedBytes != last.Bytes {
		t.Errorf("final progress %+v after %d calls", last, calls)
	}
	for _, r := range recs {
		if r.Type == TypeFile {
			want := strings.Repeat("x", int(r.Size))
			if !slices.Equal(r.BLAKE3, b3(want)) {
				t.Fatalf("%s: wrong digest", r.Path)
			}
		}
	}
}

func TestWalkMultiRootAndBadRoots(t *testing.T) {
	base := t.TempDir()
	write(t, base+"/b/f", "1")
	write(t, base+"/a/f", "2")
	write(t, base+"/file", "")
	recs := collect(t, Walk(context.Background(), []string{base + "/b", base + "/a"}, Options{}))
	var got []string
	for _, r := range recs {
		got = append(got, strings.TrimPrefix(r.Root, base)+":"+r.Path)
	}
	if diff := cmp.Diff([]string{"/a:", "/a:f", "/b:", "/b:f"}, got); diff != "" {
		t.Errorf("multi-root order (-want +got):\n%s", diff)
	}
	for _, roots := range [][]string{
		nil,
		{"relative"},
		{base + "/a/"},
		{base + "/a/../a"},
		{base + "/missing"},
		{base + "/file"},
		{base, base + "/a"},
		{base + "/a", base + "/a"},
	} {
		n := 0
		var gotErr error
		for _, err := range Walk(context.Background(), roots, Options{}) {
			n++
			gotErr = err
		}
		if n != 1 || !errors.Is(gotErr, ErrBadRoot) {
			t.Errorf("roots %q: %d items, err %v; want one ErrBadRoot", roots, n, gotErr)
		} else {
			t.Logf("roots %q: %v", roots, gotErr)
		}
	}
}

func TestWalkExclude(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/cache/x", "1")
	write(t, root+"/keep", "2")
	recs := collect(t, Walk(context.Background(), []string{root}, Options{
		Exclude: func(r, rel string, isDir bool) bool { return rel == "cache" && isDir },
	}))
	if diff := cmp.Diff([]string{"", "keep"}, paths(recs)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestWalkUnreadable(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("chmod cannot make a file unreadable on Windows")
	}
	if os.Geteuid() == 0 {
		t.Skip("running as root: permission checks are bypassed, so nothing is unreadable")
	}
	root := t.TempDir()
	write(t, root+"/secret", "x")
	write(t, root+"/closed/inner", "y")
	os.Chmod(root+"/secret", 0)
	os.Chmod(root+"/closed", 0)
	defer os.Chmod(root+"/closed", 0o755)
	errs := map[string]error{}
	recs := byPath(collect(t, Walk(context.Background(), []string{root}, Options{
		OnError: func(_, rel string, err error) { errs[rel] = err },
	})))
	for _, p := range []string{"secret", "closed"} {
		if !errors.Is(errs[p], fs.ErrPermission) || recs[p].Err == "" {
			t.Errorf("%s: OnError %v, record Err %q; want permission denied on both", p, errs[p], recs[p].Err)
		}
	}
	if recs["secret"].BLAKE3 != nil || recs["secret"].Type != TypeFile || recs["secret"].Size != 1 {
		t.Errorf("unreadable file record %+v", recs["secret"])
	}
	if _, ok := recs["closed/inner"]; ok {
		t.Errorf("entry under an unreadable directory recorded")
	}
}

// setHook installs a test hook for the duration of the test.
func setHook[T any](t *testing.T, hook *T, f T) {
	old := *hook
	*hook = f
	t.Cleanup(func() { *hook = old })
}

func TestWalkFileChangingWhileHashed(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "f")
	for _, tc := range []struct {
		name         string
		changeOn     map[int]bool // attempts after whose first chunk the file changes
		wantUnstable bool
	}{
		{"changes once, re-read is stable", map[int]bool{0: true}, false},
		{"changes on every read", map[int]bool{0: true, 1: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write(t, path, "version 0")
			version := 0
			done := map[int]bool{}
			setHook(t, &testHookAfterRead, func(p string, attempt int) {
				if p == path && tc.changeOn[attempt] && !done[attempt] {
					done[attempt] = true
					version++
					// Different length, so size differs even on coarse mtime.
					write(t, path, fmt.Sprintf("version %d%s", version, strings.Repeat("!", version)))
				}
			})
			r := byPath(collect(t, Walk(context.Background(), []string{root}, Options{})))["f"]
			final, _ := os.ReadFile(path)
			if r.Unstable != tc.wantUnstable {
				t.Errorf("Unstable = %v, want %v", r.Unstable, tc.wantUnstable)
			}
			if !tc.wantUnstable && (!slices.Equal(r.BLAKE3, b3(string(final))) || r.Size != int64(len(final))) {
				t.Errorf("stable re-read: digest/size %x/%d do not match final content %q", r.BLAKE3, r.Size, final)
			}
			if r.BLAKE3 == nil {
				t.Errorf("no digest recorded")
			}
		})
	}
}

func TestWalkIncremental(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/a.php", "a")
	write(t, root+"/b.txt", "b")
	write(t, root+"/sub/c.txt", "c")
	walk := func(opt Options) ([]Record, Progress) {
		var last Progress
		opt.Progress = func(p Progress) { last = p }
		return collect(t, Walk(context.Background(), []string{root}, opt)), last
	}
	first, p := walk(Options{})
	if p.Hashed != 3 {
		t.Fatalf("first walk hashed %d files, want 3", p.Hashed)
	}
	second, p := walk(Options{Previous: sliceState(first)})
	if p.Hashed != 0 {
		t.Errorf("unchanged tree: hashed %d files, want 0 (all reused)", p.Hashed)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("incremental walk differs (-first +second):\n%s", diff)
	}
	_, p = walk(Options{Previous: sliceState(first), Full: true})
	if p.Hashed != 3 {
		t.Errorf("Full: hashed %d files, want 3", p.Hashed)
	}
	// A SHA-256 now wanted but not recorded before forces a re-hash.
	_, p = walk(Options{Previous: sliceState(first), HashAllSHA256: true})
	if p.Hashed != 2 {
		t.Errorf("HashAllSHA256 over a baseline without it: hashed %d, want 2 (the non-scripts)", p.Hashed)
	}
	// Changed content (and so ctime) is re-hashed; a forged digest in the
	// previous state for a changed file is not trusted.
	write(t, root+"/sub/c.txt", "changed")
	forged := slices.Clone(first)
	for i := range forged {
		forged[i].BLAKE3 = b3("forged")
	}
	third, p := walk(Options{Previous: sliceState(forged)})
	if p.Hashed != 1 {
		t.Errorf("one file changed: hashed %d, want 1", p.Hashed)
	}
	if got := byPath(third)["sub/c.txt"].BLAKE3; !slices.Equal(got, b3("changed")) {
		t.Errorf("changed file digest %x, want the new content's", got)
	}
	// Previous with entries that no longer exist and a missing middle.
	extra := append([]Record{{Root: root, Path: "0gone", Type: TypeFile}}, first...)
	extra = slices.DeleteFunc(extra, func(r Record) bool { return r.Path == "b.txt" })
	_, p = walk(Options{Previous: sliceState(extra)})
	if p.Hashed != 2 { // b.txt (absent before) and sub/c.txt (changed)
		t.Errorf("previous with gaps: hashed %d, want 2", p.Hashed)
	}
	// A failing previous state is reported and everything else hashed.
	var reported error
	failing := func(yield func(Record, error) bool) { yield(Record{}, errors.New("disk on fire")) }
	recs := collect(t, Walk(context.Background(), []string{root}, Options{Previous: failing,
		OnError: func(_, _ string, err error) { reported = err }}))
	if reported == nil || !strings.Contains(reported.Error(), "disk on fire") || len(recs) != 5 {
		t.Errorf("failing previous: reported %v, %d records", reported, len(recs))
	}
}

func TestWalkCancel(t *testing.T) {
	root := t.TempDir()
	for i := range 300 {
		write(t, fmt.Sprintf("%s/f%03d", root, i), "x")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	var gotErr error
	for _, err := range Walk(ctx, []string{root}, Options{Workers: 2}) {
		if err != nil {
			gotErr = err
			break
		}
		n++
		if n == 5 {
			cancel()
		}
	}
	if !errors.Is(gotErr, context.Canceled) {
		t.Errorf("after cancel: err %v, want context.Canceled", gotErr)
	}
	if n > 5 {
		t.Errorf("%d records yielded after cancel", n-5)
	}
	// Breaking out early ends the walk without error or hang.
	before := runtime.NumGoroutine()
	for range Walk(context.Background(), []string{root}, Options{Workers: 4}) {
		break
	}
	// Goroutines signal the WaitGroup in a deferred call and exit right
	// after: give them a moment.
	after := runtime.NumGoroutine()
	for i := 0; i < 100 && after > before; i++ {
		time.Sleep(10 * time.Millisecond)
		after = runtime.NumGoroutine()
	}
	if after > before {
		t.Errorf("goroutines: %d before, %d after an early break", before, after)
	}
}

func TestStat(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/x.php", "<?php")
	os.Symlink("x.php", root+"/l")
	r, err := Stat(root, "x.php", Options{}, nil)
	if err != nil || !slices.Equal(r.BLAKE3, b3("<?php")) || !slices.Equal(r.SHA256, s256("<?php")) || r.Path != "x.php" || r.Root != root {
		t.Fatalf("Stat = %+v, %v", r, err)
	}
	walked := byPath(collect(t, Walk(context.Background(), []string{root}, Options{})))
	if diff := cmp.Diff(walked["x.php"], r); diff != "" {
		t.Errorf("Stat and Walk disagree (-walk +stat):\n%s", diff)
	}
	// Reuse: a forged previous digest with matching metadata is reused
	// (that is the incremental rule), Full ignores it.
	prev := r
	prev.BLAKE3 = b3("other")
	if got, _ := Stat(root, "x.php", Options{}, &prev); !slices.Equal(got.BLAKE3, b3("other")) {
		t.Errorf("Stat did not reuse the previous digest")
	}
	if got, _ := Stat(root, "x.php", Options{Full: true}, &prev); !slices.Equal(got.BLAKE3, b3("<?php")) {
		t.Errorf("Stat with Full reused the previous digest")
	}
	if l, err := Stat(root, "l", Options{}, nil); err != nil || l.Type != TypeSymlink || l.Target != "x.php" {
		t.Errorf("Stat symlink = %+v, %v", l, err)
	}
	if d, err := Stat(root, "", Options{}, nil); err != nil || d.Type != TypeDir {
		t.Errorf("Stat root = %+v, %v", d, err)
	}
	if _, err := Stat(root, "missing", Options{}, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat missing: %v, want fs.ErrNotExist", err)
	}
}

func TestComparePathsMatchesKey(t *testing.T) {
	ps := []string{"", "a", "a/b", "a.b", "a b", "a/b/c", "ab", "a\xff", "a/\xff", "b", "a\x01"}
	for _, a := range ps {
		for _, b := range ps {
			want := strings.Compare(string(Key(a)), string(Key(b)))
			if got := ComparePaths(a, b); got != want {
				t.Errorf("ComparePaths(%q, %q) = %d, Key order says %d", a, b, got, want)
			}
		}
	}
}

// BenchmarkWalk walks a generated tree (1000 files of 1-64 KiB in 20
// directories), full and incremental. Set WEBFIM_BENCH_ROOT to walk an
// existing tree instead (e.g. the reference tree of bench/setup.sh).
func BenchmarkWalk(b *testing.B) {
	root := os.Getenv("WEBFIM_BENCH_ROOT")
	if root == "" {
		root = b.TempDir()
		for i := range 1000 {
			write(b, fmt.Sprintf("%s/d%02d/f%04d.php", root, i%20, i), strings.Repeat("<?php ", (i%64+1)*170))
		}
	}
	prev := collect(b, Walk(context.Background(), []string{root}, Options{}))
	for _, bc := range []struct {
		name string
		opt  Options
	}{{"full", Options{}}, {"incremental", Options{Previous: sliceState(prev)}}} {
		b.Run(bc.name, func(b *testing.B) {
			var bytes int64
			for b.Loop() {
				bc.opt.Progress = func(p Progress) { bytes = p.HashedBytes }
				for _, err := range Walk(context.Background(), []string{root}, bc.opt) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			b.SetBytes(bytes)
		})
	}
}

func TestCanReuse(t *testing.T) {
	prev := Record{Type: TypeFile, Size: 10, Mtime: 1, Ctime: 2, Inode: 3, Dev: 4, BLAKE3: make([]byte, 32), SHA256: make([]byte, 32)}
	cur := Record{Type: TypeFile, Size: 10, Mtime: 1, Ctime: 2, Inode: 3, Dev: 4}
	if !canReuse(&prev, &cur, true, false) {
		t.Fatal("identical metadata not reused")
	}
	for name, change := range map[string]func(p, c *Record){
		"size":               func(p, c *Record) { c.Size++ },
		"mtime":              func(p, c *Record) { c.Mtime++ },
		"ctime":              func(p, c *Record) { c.Ctime++ },
		"inode":              func(p, c *Record) { c.Inode++ },
		"dev":                func(p, c *Record) { c.Dev++ },
		"prev error":         func(p, c *Record) { p.Err = "permission denied" },
		"prev unstable":      func(p, c *Record) { p.Unstable = true },
		"prev no BLAKE3":     func(p, c *Record) { p.BLAKE3 = nil },
		"prev no SHA256":     func(p, c *Record) { p.SHA256 = nil },
		"prev was a symlink": func(p, c *Record) { p.Type = TypeSymlink },
	} {
		p, c := prev, cur
		change(&p, &c)
		if canReuse(&p, &c, true, false) {
			t.Errorf("%s differs: digest reused", name)
		}
	}
	if canReuse(nil, &cur, false, false) {
		t.Error("reuse without a previous record")
	}
	noSHA := prev
	noSHA.SHA256 = nil
	if !canReuse(&noSHA, &cur, false, false) {
		t.Error("SHA-256 missing but not needed: not reused")
	}
	// A sampled digest stands only for a sampled one (the large-file
	// threshold changed: re-hash), and needs no SHA-256.
	if canReuse(&prev, &cur, true, true) {
		t.Error("full digest reused where a sampled one is needed")
	}
	sampled := noSHA
	sampled.Sampled = true
	if !canReuse(&sampled, &cur, true, true) || canReuse(&sampled, &cur, true, false) {
		t.Error("sampled digest: reuse only for a sampled one, without SHA-256")
	}
}

// countingLimiter is called by the workers and the large-file lane at
// once.
type countingLimiter struct {
	mu           sync.Mutex
	calls, bytes int
}

func (l *countingLimiter) WaitN(ctx context.Context, n int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	l.bytes += n
	return ctx.Err()
}

func TestWalkLimiter(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/big", strings.Repeat("x", 3*readBufferSize+5))
	write(t, root+"/small", "y")
	lim := &countingLimiter{}
	var last Progress
	collect(t, Walk(context.Background(), []string{root}, Options{Workers: 1, Limiter: lim, Progress: func(p Progress) { last = p }}))
	if int64(lim.bytes) != last.HashedBytes || lim.bytes != 3*readBufferSize+6 || lim.calls < 5 {
		t.Errorf("limiter saw %d bytes in %d calls; hashed %d bytes", lim.bytes, lim.calls, last.HashedBytes)
	}
}

func TestWalkUnsearchableDirectory(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no search permission bit on Windows")
	}
	if os.Geteuid() == 0 {
		t.Skip("running as root: permission checks are bypassed")
	}
	root := t.TempDir()
	write(t, root+"/d/f", "x")
	os.Mkdir(root+"/d/sub", 0o755)
	os.Chmod(root+"/d", 0o644) // listable, not searchable
	defer os.Chmod(root+"/d", 0o755)
	errs := 0
	recs := byPath(collect(t, Walk(context.Background(), []string{root}, Options{OnError: func(string, string, error) { errs++ }})))
	if recs["d/f"].Type != TypeFile || recs["d/f"].Err == "" || recs["d/sub"].Type != TypeDir || recs["d/sub"].Err == "" || errs != 2 {
		t.Errorf("entries of an unsearchable directory: f %+v, sub %+v, %d errors", recs["d/f"], recs["d/sub"], errs)
	}
}
