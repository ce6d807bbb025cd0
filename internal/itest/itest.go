// Package itest holds helpers for integration tests: checks that skip a
// test with a stated reason, or fail it when WEBFIM_REQUIRE_INTEGRATION is
// set (as .ci/run does, so that CI never hides a missing tool or
// privilege), directories other users can write, and private instances of
// real servers ([StartApache], [StartPostgres]) on loopback, from
// temporary configurations that never touch the system's own.
package itest

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// RequireEnv is the environment variable that turns the skips of this
// package into failures.
const RequireEnv = "WEBFIM_REQUIRE_INTEGRATION"

// Skip skips the test with the reason, or fails it when RequireEnv is set.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s, and %s is set", reason, RequireEnv)
	}
	t.Skip(reason)
}

// RequireRoot skips (or fails) the test unless it runs as root on Linux;
// why says what needs root.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("%s: Linux only", why)
	}
	if os.Geteuid() != 0 {
		Skip(t, "%s needs root (CI runs as root)", why)
	}
}

// SharedDir returns a new empty directory that every user can enter and
// write (mode 1777, like /tmp), removed at the end of the test.
// t.TempDir's directories are private to the test's user.
func SharedDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "webfim-it-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o1777); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// ExecutableCopy copies the running test binary into a directory every
// user can read, so the test can run itself as another user.
func ExecutableCopy(t testing.TB) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := SharedDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(self))
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}
