//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"webfim/internal/itest"
)

// TestMain lets the test binary act as the watcher child that drive
// starts (it re-executes itself with -child).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestMedian(t *testing.T) {
	if got := median([]time.Duration{3, 1, 2}); got != 2 {
		t.Errorf("median of 3 1 2 = %v", got)
	}
	if got := median([]int{4, 1, 3, 2}); got != 2 {
		t.Errorf("median of 4 values = %v, want the lower middle 2", got)
	}
	if got := median[int](nil); got != 0 {
		t.Errorf("median of nothing = %v", got)
	}
}

// A small burst end to end: both watchers check every path, and with
// attribution on every path has its writer.
func TestSmallBurst(t *testing.T) {
	itest.RequireRoot(t, "fanotify and eBPF")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, on := range []bool{false, true} {
		s, err := runRound(self, dir, on, 20, 3, "")
		if err != nil {
			t.Fatal(err)
		}
		if s.checked != 60 || (on && s.written != 60) || s.cpu <= 0 || s.rssKB <= 0 {
			t.Errorf("%s: %+v, want 60 paths checked (and 60 with a writer when on)", mode(on), s)
		}
	}
}

// The daemon mode end to end on a small burst: every file alerted by
// both daemons, with its writer only when attribution is on.
func TestDaemonSmallBurst(t *testing.T) {
	itest.RequireRoot(t, "fanotify and eBPF")
	webfim := filepath.Join(t.TempDir(), "webfim")
	if out, err := exec.Command("go", "build", "-o", webfim, "webfim/cmd/webfim").CombinedOutput(); err != nil {
		t.Fatalf("building webfim: %v\n%s", err, out)
	}
	dir := t.TempDir()
	for _, on := range []bool{false, true} {
		s, err := daemonRound(webfim, dir, on, 20, 3)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		if on {
			want = 60
		}
		if s.alerts != 60 || s.withWriter != want || s.cpu <= 0 || s.rssKB <= 0 {
			t.Errorf("%s: %+v, want 60 alerts, %d with a writer", mode(on), s, want)
		}
	}
}
