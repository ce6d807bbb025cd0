//go:build unix

package output

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"webfim/safefile"
)

// A file output is opened like webfim's other own files (package
// safefile): a symbolic link planted at its path, or put there while the
// daemon runs, never makes it append alerts to the link's target.
func TestFileRefusesSymlinks(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "alerts.ndjson")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	_, err := File(FileConfig{Path: link})
	if !errors.Is(err, safefile.ErrUnsafe) || !strings.Contains(err.Error(), "is a symbolic link") {
		t.Fatalf("File over a symlink: %v; want an error wrapping safefile.ErrUnsafe", err)
	}

	// Swapped for a link after it was opened: the next write reopens the
	// path, which is refused; the victim is untouched.
	path := filepath.Join(dir, "out.ndjson")
	o, err := File(FileConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	if err := o.Write(ctx, testDocs(0, 1)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}
	if err := o.Write(ctx, testDocs(1, 1)); !errors.Is(err, safefile.ErrUnsafe) {
		t.Errorf("write after the path became a symlink: %v; want an error wrapping safefile.ErrUnsafe", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep\n" {
		t.Errorf("the link's target was written to: %q", b)
	}

	// A directory other users can write to is refused too.
	shared := filepath.Join(dir, "shared")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := File(FileConfig{Path: filepath.Join(shared, "a.ndjson")}); !errors.Is(err, safefile.ErrUnsafe) {
		t.Errorf("file output in a world-writable directory: %v; want an error wrapping safefile.ErrUnsafe", err)
	}
}
