//go:build unix

package safefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const nobody = 65534

// needRoot skips a test that has to create files owned by other users,
// unless WEBFIM_REQUIRE_INTEGRATION is set (CI runs as root).
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("WEBFIM_REQUIRE_INTEGRATION") != "" {
		t.Fatal("this test needs root (to chown to another user), and WEBFIM_REQUIRE_INTEGRATION is set")
	}
	t.Skip("needs root: files owned by another user cannot be made otherwise")
}

func dir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "d")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return d
}

func wantErr(t *testing.T, err, sentinel error, msg string) {
	t.Helper()
	if !errors.Is(err, sentinel) || !strings.Contains(err.Error(), msg) {
		t.Errorf("error %v; want one wrapping %v that says %q", err, sentinel, msg)
	}
}

func TestOpenFileRegular(t *testing.T) {
	d := dir(t, 0o700)
	p := filepath.Join(d, "f")
	f, err := OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("x"); err != nil {
		t.Error(err)
	}
	f.Close()
	if f, err = OpenFile(p, os.O_RDONLY, 0); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	f.Close()
	if _, err := OpenFile(filepath.Join(d, "missing"), os.O_RDONLY, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

// A symbolic link at the path is not followed, whatever it points to and
// whether or not that exists; nothing is created at its target.
func TestSymlinkRefused(t *testing.T) {
	d := dir(t, 0o700)
	victim := filepath.Join(d, "victim")
	os.WriteFile(victim, []byte("keep"), 0o600)
	for _, target := range []string{victim, filepath.Join(d, "new"), d} {
		link := filepath.Join(d, "link")
		os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		for _, flag := range []int{os.O_RDONLY, os.O_RDWR | os.O_CREATE | os.O_APPEND} {
			f, err := OpenFile(link, flag, 0o600)
			if err == nil {
				f.Close()
			}
			wantErr(t, err, ErrUnsafe, link+" is a symbolic link (to "+target+")")
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Error("the link's target was written")
	}
	if _, err := os.Lstat(filepath.Join(d, "new")); err == nil {
		t.Error("a file was created at the link's target")
	}
}

func TestNotRegularRefused(t *testing.T) {
	d := dir(t, 0o700)
	sub := filepath.Join(d, "sub")
	os.Mkdir(sub, 0o700)
	for _, flag := range []int{os.O_RDONLY, os.O_RDWR} {
		_, err := OpenFile(sub, flag, 0)
		wantErr(t, err, ErrNotRegular, sub+" is a directory, not a file")
	}
	// A FIFO would block an open for reading until a writer came.
	fifo := filepath.Join(d, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := OpenFile(fifo, os.O_RDONLY, 0); done <- err }()
	select {
	case err := <-done:
		wantErr(t, err, ErrNotRegular, fifo+" is not a regular file")
	case <-time.After(5 * time.Second):
		t.Fatal("OpenFile of a FIFO blocked")
	}
}

// A directory others can write to is refused, whoever owns it, unless it
// is sticky and owned by root.
func TestWritableDirRefused(t *testing.T) {
	for _, mode := range []os.FileMode{0o777, 0o770, 0o757, 0o777 | os.ModeSticky} {
		d := dir(t, mode)
		if mode&os.ModeSticky != 0 && os.Geteuid() == 0 {
			continue // root's sticky directory: accepted (TestStickyRootDir)
		}
		who := "other users"
		if mode&0o002 == 0 {
			who = "its group"
		}
		_, err := OpenFile(filepath.Join(d, "f"), os.O_RDWR|os.O_CREATE, 0o600)
		wantErr(t, err, ErrUnsafe, fmt.Sprintf("directory %s is writable by %s (mode %#o)", d, who, mode.Perm()))
		wantErr(t, err, ErrUnsafe, "chmod go-w "+d)
		if _, serr := os.Lstat(filepath.Join(d, "f")); serr == nil {
			t.Errorf("mode %v: the file was created", mode)
		}
		if err := CheckDir(d); !errors.Is(err, ErrUnsafe) {
			t.Errorf("CheckDir of a directory of mode %v: %v", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o700, 0o755, 0o750} {
		if err := CheckDir(dir(t, mode)); err != nil {
			t.Errorf("CheckDir of a directory of mode %#o: %v", mode, err)
		}
	}
}

// Like /tmp: a sticky directory owned by root is accepted, but a file in
// it that another user planted is refused.
func TestStickyRootDir(t *testing.T) {
	needRoot(t)
	d := dir(t, 0o777|os.ModeSticky)
	f, err := OpenFile(filepath.Join(d, "mine"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatalf("a file in root's sticky directory: %v", err)
	}
	f.Close()
	planted := filepath.Join(d, "planted")
	os.WriteFile(planted, nil, 0o666)
	if err := os.Chown(planted, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	_, err = OpenFile(planted, os.O_RDWR|os.O_APPEND, 0)
	wantErr(t, err, ErrUnsafe, "(uid 65534), not to you or root")
}

// A directory owned by another user (not root) is refused even if only
// its owner can write to it, and so is a sticky one.
func TestOtherUsersDir(t *testing.T) {
	needRoot(t)
	for _, mode := range []os.FileMode{0o755, 0o777 | os.ModeSticky} {
		d := dir(t, mode)
		if err := os.Chown(d, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		_, err := OpenFile(filepath.Join(d, "f"), os.O_RDWR|os.O_CREATE, 0o600)
		wantErr(t, err, ErrUnsafe, "directory "+d+" belongs to ")
		wantErr(t, err, ErrUnsafe, "(uid 65534), who could replace the files in it")
	}
}
