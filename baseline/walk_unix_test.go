//go:build unix

package baseline

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWalkAllTypes(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/a.b", "dotted")
	write(t, root+"/a b/x.php", "<?php echo 1;")
	write(t, root+"/a/b/deep.txt", "deep")
	write(t, root+"/a/.htaccess", "Options -Indexes")
	write(t, root+"/odd\xff\xfe name", "latin1")
	write(t, root+"/new\nline.php", "newline")
	write(t, root+"/empty", "")
	if err := os.Symlink("a/b", root+"/link"); err != nil {
		t.Fatal(err)
	}
	// A symlink loop must not hang: links are never followed.
	os.Symlink("loop2", root+"/loop1")
	os.Symlink("loop1", root+"/loop2")
	os.Symlink("/", root+"/rootlink")
	if err := syscall.Mkfifo(root+"/fifo", 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(root, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("cannot create a unix socket (path too long?): %v", err)
	}
	defer l.Close()

	var onErr []string
	recs := collect(t, Walk(context.Background(), []string{root}, Options{
		Workers: 3,
		OnError: func(root, rel string, err error) { onErr = append(onErr, rel+": "+err.Error()) },
	}))
	checkSorted(t, recs)
	if len(onErr) > 0 {
		t.Errorf("unexpected errors: %q", onErr)
	}
	want := []string{"", "a", "a/.htaccess", "a/b", "a/b/deep.txt", "a b", "a b/x.php", "a.b", "empty", "fifo",
		"link", "loop1", "loop2", "new\nline.php", "odd\xff\xfe name", "rootlink", "sock"}
	if diff := cmp.Diff(want, paths(recs)); diff != "" {
		t.Fatalf("paths (-want +got):\n%s", diff)
	}
	m := byPath(recs)
	for _, r := range recs {
		if r.Root != root {
			t.Errorf("%q: Root = %q, want %q", r.Path, r.Root, root)
		}
	}
	types := map[string]Type{"": TypeDir, "a": TypeDir, "a/b/deep.txt": TypeFile, "fifo": TypeOther, "sock": TypeOther,
		"link": TypeSymlink, "loop1": TypeSymlink, "empty": TypeFile}
	for p, typ := range types {
		if m[p].Type != typ {
			t.Errorf("%q: type %v, want %v", p, m[p].Type, typ)
		}
	}
	if m["fifo"].Mode&fs.ModeNamedPipe == 0 || m["sock"].Mode&fs.ModeSocket == 0 {
		t.Errorf("fifo mode %v, socket mode %v", m["fifo"].Mode, m["sock"].Mode)
	}
	if m["fifo"].BLAKE3 != nil || m["sock"].BLAKE3 != nil || m["link"].BLAKE3 != nil || m["a"].BLAKE3 != nil {
		t.Errorf("non-regular entries got digests")
	}
	if m["link"].Target != "a/b" || m["loop1"].Target != "loop2" || m["rootlink"].Target != "/" {
		t.Errorf("targets: %q %q %q", m["link"].Target, m["loop1"].Target, m["rootlink"].Target)
	}
	for p, content := range map[string]string{"a": "", "a/b/deep.txt": "deep", "odd\xff\xfe name": "latin1", "empty": "", "a b/x.php": "<?php echo 1;"} {
		if p == "a" {
			continue
		}
		if r := m[p]; !slices.Equal(r.BLAKE3, b3(content)) || r.Size != int64(len(content)) {
			t.Errorf("%q: BLAKE3 %x size %d, want %x size %d", p, r.BLAKE3, r.Size, b3(content), len(content))
		}
	}
	// SHA-256 only for script types, by extension and by name.
	for p, want := range map[string][]byte{"a b/x.php": s256("<?php echo 1;"), "a/.htaccess": s256("Options -Indexes"),
		"new\nline.php": s256("newline"), "a/b/deep.txt": nil, "empty": nil} {
		if !slices.Equal(m[p].SHA256, want) || (want == nil) != (m[p].SHA256 == nil) {
			t.Errorf("%q: SHA256 %x, want %x", p, m[p].SHA256, want)
		}
	}
	st, _ := os.Lstat(root + "/a/b/deep.txt")
	sys := st.Sys().(*syscall.Stat_t)
	r := m["a/b/deep.txt"]
	if r.Inode != sys.Ino || r.Dev != uint64(sys.Dev) || r.UID != sys.Uid || r.GID != sys.Gid ||
		r.Mtime != st.ModTime().UnixNano() || r.Ctime != sys.Ctim.Nano() || r.Mode != st.Mode() {
		t.Errorf("metadata of deep.txt %+v does not match lstat %+v", r, sys)
	}
	if m[""].Type != TypeDir || m[""].Path != "" {
		t.Errorf("root record %+v", m[""])
	}
}

func TestWalkFileVanishesOrBecomesFIFO(t *testing.T) {
	root := t.TempDir()
	setHook(t, &testHookBeforeOpen, func(p string) {
		switch filepath.Base(p) {
		case "gone":
			os.Remove(p)
		case "pipe":
			os.Remove(p)
			syscall.Mkfifo(p, 0o644) // opening it without O_NONBLOCK would hang
		}
	})
	walk := func(opt Options) (map[string]Record, map[string]error) {
		write(t, root+"/gone", "x")
		os.Remove(root + "/pipe")
		write(t, root+"/pipe", "y")
		errs := map[string]error{}
		opt.OnError = func(_, rel string, err error) { errs[rel] = err }
		return byPath(collect(t, Walk(context.Background(), []string{root}, opt))), errs
	}

	// Without a previous record a listed regular file is opened right away:
	// gone before open means gone before anything was known of it, and a
	// FIFO in its place is recorded as what it is.
	recs, errs := walk(Options{})
	if _, ok := recs["gone"]; ok || errs["gone"] != nil {
		t.Errorf("full walk, vanished file: recorded %+v, OnError %v; want neither", recs["gone"], errs["gone"])
	}
	if r := recs["pipe"]; r.Type != TypeOther || r.Mode&fs.ModeNamedPipe == 0 || r.BLAKE3 != nil || errs["pipe"] != nil {
		t.Errorf("full walk, file swapped for a FIFO: %+v, OnError %v", r, errs["pipe"])
	}

	// With a previous record that does not allow reuse, lstat comes first:
	// the entry is known, and what happens to it before open is an error.
	prev := []Record{{Root: root, Type: TypeDir}, {Root: root, Path: "gone", Type: TypeFile, Size: -1}, {Root: root, Path: "pipe", Type: TypeFile, Size: -1}}
	recs, errs = walk(Options{Previous: sliceState(prev)})
	if !errors.Is(errs["gone"], fs.ErrNotExist) || recs["gone"].Err == "" || recs["gone"].BLAKE3 != nil || recs["gone"].Size != 1 {
		t.Errorf("vanished between lstat and open: OnError %v, record %+v", errs["gone"], recs["gone"])
	}
	if !errors.Is(errs["pipe"], errNotRegular) || recs["pipe"].Err == "" || recs["pipe"].BLAKE3 != nil {
		t.Errorf("swapped for a FIFO between lstat and open: OnError %v, record %+v", errs["pipe"], recs["pipe"])
	}
}

// A symlink to a file outside every root (x.php -> /var/tmp/.s.php) has
// its target's content hashed with it, so that a later change of the
// target is a content change of the link (issue 10, item 10). Links to
// targets inside a root, to directories, to other links and dangling
// links are not followed.
func TestWalkLinkTargetOutsideRoots(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	write(t, outside+"/.s.php", "<?php echo 1;")
	write(t, root+"/in.txt", "inside")
	os.Mkdir(outside+"/dir", 0o755)
	os.Symlink(outside+"/.s.php", outside+"/hop")
	for name, target := range map[string]string{
		"x.php": outside + "/.s.php", "in.php": "in.txt", "dir.php": outside + "/dir",
		"hop.php": outside + "/hop", "dangling.php": outside + "/missing",
	} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	walk := func(opt Options) map[string]Record {
		return byPath(collect(t, Walk(context.Background(), []string{root}, opt)))
	}
	first := walk(Options{})
	x := first["x.php"]
	if x.Type != TypeSymlink || x.Linked == nil || !slices.Equal(x.BLAKE3, b3("<?php echo 1;")) || !x.Sniffed || x.ContentFamily == 0 {
		t.Fatalf("x.php = %+v, want the target's digest, stat and PHP family", x)
	}
	for _, name := range []string{"in.php", "dir.php", "hop.php", "dangling.php"} {
		if r := first[name]; r.Linked != nil || r.BLAKE3 != nil || r.Err != "" {
			t.Errorf("%s was followed: %+v", name, r)
		}
	}
	if s, err := Stat(root, "x.php", Options{}, nil); err != nil || !slices.Equal(s.BLAKE3, x.BLAKE3) || s.Linked == nil || *s.Linked != *x.Linked {
		t.Errorf("Stat of the link = %+v, %v; want what Walk recorded", s, err)
	}
	prev := collect(t, Walk(context.Background(), []string{root}, Options{}))
	var p Progress
	walk(Options{Previous: sliceState(prev), Progress: func(q Progress) { p = q }})
	if p.Hashed != 0 {
		t.Errorf("unchanged target re-read: hashed %d, want 0", p.Hashed)
	}
	// Same size, content replaced in place: a content change of the link.
	write(t, outside+"/.s.php", "<?php system(1)")
	second := collect(t, Walk(context.Background(), []string{root}, Options{Previous: sliceState(prev)}))
	var changes []Change
	if _, err := Compare(sliceState(prev), sliceState(second), func(c Change) error { changes = append(changes, c); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Path != "x.php" || changes[0].Kind != ContentChanged || !slices.Contains(changes[0].Fields, "content") {
		t.Fatalf("changes after the target changed = %+v, want one content change of x.php", changes)
	}
	// Unreadable target: recorded as an error of the link, not silently skipped.
	if os.Geteuid() != 0 {
		os.Chmod(outside+"/.s.php", 0)
		if r := walk(Options{Full: true})["x.php"]; r.Err == "" || r.BLAKE3 != nil {
			t.Errorf("unreadable target: %+v, want an error and no digest", r)
		}
	}
}

// Links are resolved as the server would see them: under the sysroot of
// an offline image, never out of it, and a target in another root of the
// state (Options.Roots) is not outside.
func TestLinkTargetSysrootAndOtherRoots(t *testing.T) {
	img := t.TempDir()
	root, other := filepath.Join(img, "var/www"), filepath.Join(img, "srv/other")
	write(t, filepath.Join(img, "var/tmp/.s.php"), "<?php in the image")
	write(t, filepath.Join(other, "lib.php"), "<?php other root")
	host := t.TempDir()
	write(t, filepath.Join(host, "secret"), "host file")
	os.MkdirAll(root, 0o755)
	os.Symlink("/var/tmp/.s.php", filepath.Join(root, "abs.php"))
	rel, _ := filepath.Rel(root, filepath.Join(host, "secret"))
	os.Symlink(rel, filepath.Join(root, "escape.php"))
	os.Symlink(filepath.Join(other, "lib.php"), filepath.Join(root, "other.php"))
	recs := byPath(collect(t, Walk(context.Background(), []string{root}, Options{Sysroot: img, Roots: []string{root, other}})))
	if r := recs["abs.php"]; r.Linked == nil || !slices.Equal(r.BLAKE3, b3("<?php in the image")) {
		t.Errorf("absolute target not read inside the sysroot: %+v", r)
	}
	if r := recs["escape.php"]; r.Linked != nil || r.BLAKE3 != nil {
		t.Errorf("a target outside the sysroot was read: %+v", r)
	}
	if r := recs["other.php"]; r.Linked != nil || r.BLAKE3 != nil {
		t.Errorf("a target in another root of the state was read as outside: %+v", r)
	}
}
