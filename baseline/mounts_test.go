package baseline

import (
	"errors"
	"os"
	"runtime"
	"slices"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	table := "22 1 0:21 / / rw - ext4 /dev/sda1 rw\n" +
		"40 22 0:35 / /srv/www/up\\040loads rw,nosuid - tmpfs tmpfs rw\n" +
		"41 22 0:36 / /srv/www/a\\134b rw - tmpfs tmpfs rw\n" +
		"short line\n" +
		"42 22 0:37 / /srv/www/bad\\09 rw - tmpfs tmpfs rw\n"
	got := parseMountinfo(table)
	want := []string{"/", "/srv/www/up loads", `/srv/www/a\b`, `/srv/www/bad\09`}
	if !slices.Equal(got, want) {
		t.Errorf("mount points %q, want %q", got, want)
	}
}

// Issue 12, item 9: a file system mounted inside a root is found. /proc
// is a mount point inside / on every Linux system; a temporary directory
// holds none.
func TestMountsUnder(t *testing.T) {
	if runtime.GOOS != "linux" {
		if _, err := MountsUnder(t.TempDir()); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("MountsUnder off Linux: %v", err)
		}
		return
	}
	m, err := MountsUnder("/")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m, "/proc") {
		t.Errorf("mounts under /: %v, want /proc among them", m)
	}
	if slices.Contains(m, "/") {
		t.Error("the root itself is listed")
	}
	if m, err := MountsUnder(t.TempDir()); err != nil || len(m) != 0 {
		t.Errorf("mounts under a fresh directory: %v, %v", m, err)
	}
	if _, err := os.Stat("/proc/self/mountinfo"); err != nil {
		t.Skip(err)
	}
}
