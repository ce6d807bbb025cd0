package watch

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"webfim/alert"
	"webfim/baseline"
	"webfim/store"
)

func gapFinding(reason, path string) func(Finding) bool {
	return func(f Finding) bool { return f.Gap != nil && f.Gap.Reason == reason && f.Gap.Path == path }
}

func (s *findingSink) resolved(reason string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.notices {
		if n.Kind == NoticeGapResolved && n.Gap != nil && n.Gap.Reason == reason {
			return true
		}
	}
	return false
}

func healthGap(d *Daemon, reason string) bool {
	h := d.Health()
	if h.OK {
		return false
	}
	for _, g := range h.Gaps {
		if g.Reason == reason {
			return true
		}
	}
	return false
}

// Issue 12, item 6: a deleted root is one high "monitoring gap" alert
// (webfim-020), not one low alert per removed file, and /healthz says not
// ok until the root is back; then the gap is resolved (one event), the
// root rescanned and /healthz ok again.
func TestDaemonRootDeletedIsOneGap(t *testing.T) {
	parent := tempRoot(t)
	root := filepath.Join(parent, "www")
	for i := range 50 {
		writeFile(t, filepath.Join(root, "d", "f"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+".html"), "x")
	}
	writeFile(t, filepath.Join(root, "index.php"), "<?php")
	db := openDB(t)
	cfg := testConfig(root)
	makeBaseline(t, db, cfg)
	td := startDaemon(t, db, cfg, Deps{})
	if h := td.Health(); !h.OK {
		t.Fatalf("health at start: %+v", h)
	}

	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	f := td.sink.waitFor(t, "root gone", gapFinding(alert.GapRootMissing, root))
	if !f.Verdict.Alert || f.Verdict.RuleID != "webfim-020" || f.Verdict.Severity.String() != "high" {
		t.Errorf("gap verdict %+v, want a high webfim-020 alert", f.Verdict)
	}
	if !waitUntil(waitDeadline, func() bool { return healthGap(td.Daemon, alert.GapRootMissing) }) {
		t.Fatalf("health with the root gone: %+v", td.Health())
	}
	if n := td.sink.count(func(f Finding) bool { return f.File != nil && f.File.Kind == baseline.Removed }); n != 0 {
		t.Errorf("%d per-file removal findings for a deleted root, want none", n)
	}
	if n := td.sink.count(gapFinding(alert.GapRootMissing, root)); n != 1 {
		t.Errorf("%d gap alerts, want one", n)
	}

	writeFile(t, filepath.Join(root, "index.php"), "<?php")
	if !waitUntil(waitDeadline*3, func() bool { return td.sink.resolved(alert.GapRootMissing) && td.Health().OK }) {
		t.Fatalf("root back: resolved=%v health %+v", td.sink.resolved(alert.GapRootMissing), td.Health())
	}
	td.stop(t)
}

// Issue 12, item 6: the last baseline deleted, and the database file
// removed, are monitoring gaps too.
func TestDaemonBaselineAndDatabaseGaps(t *testing.T) {
	root := tempRoot(t)
	writeFile(t, filepath.Join(root, "index.php"), "<?php")
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "webfim.db")
	db := openDBAt(t, dbPath)
	cfg := testConfig(root)
	b := makeBaseline(t, db, cfg)
	td := startDaemon(t, db, cfg, Deps{DatabasePath: dbPath})

	if err := db.Delete(b.ID); err != nil {
		t.Fatal(err)
	}
	td.sink.waitFor(t, "baseline deleted", gapFinding(alert.GapBaselineLost, ""))
	if !waitUntil(waitDeadline, func() bool { return healthGap(td.Daemon, alert.GapBaselineLost) }) {
		t.Fatalf("health without a baseline: %+v", td.Health())
	}
	makeBaseline(t, db, cfg)
	if !waitUntil(waitDeadline, func() bool { return td.sink.resolved(alert.GapBaselineLost) && td.Health().OK }) {
		t.Fatalf("new baseline: health %+v", td.Health())
	}

	if err := os.Rename(dbPath, dbPath+".moved"); err != nil {
		t.Fatal(err)
	}
	td.sink.waitFor(t, "database file gone", gapFinding(alert.GapDatabaseLost, dbPath))
	if !waitUntil(waitDeadline, func() bool { return healthGap(td.Daemon, alert.GapDatabaseLost) }) {
		t.Fatalf("health with the database gone: %+v", td.Health())
	}
	// Another file in its place is no better: still a gap.
	writeFile(t, dbPath, "not the database")
	if !waitUntil(waitDeadline, func() bool { return healthGap(td.Daemon, alert.GapDatabaseLost) }) {
		t.Fatalf("health with a replaced database: %+v", td.Health())
	}
	td.stop(t)
}

// Issue 12, item 9: a file system mounted inside a root (a tmpfs, where a
// shell would be invisible) is a monitoring gap, and an excluded one is
// not. Mounting needs root: CI runs this.
func TestDaemonMountInsideRootIsGap(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		if os.Getenv("WEBFIM_REQUIRE_INTEGRATION") != "" {
			t.Fatal("mounting a tmpfs needs root on Linux, and WEBFIM_REQUIRE_INTEGRATION is set")
		}
		t.Skip("mounting a tmpfs needs root on Linux (CI runs it)")
	}
	old := mountCheckEvery
	mountCheckEvery = 100 * time.Millisecond
	t.Cleanup(func() { mountCheckEvery = old })
	root := tempRoot(t)
	sub := filepath.Join(root, "sub")
	writeFile(t, filepath.Join(sub, "keep"), "")
	db := openDB(t)
	cfg := testConfig(root)
	makeBaseline(t, db, cfg)
	td := startDaemon(t, db, cfg, Deps{})
	if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", sub).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	defer exec.Command("umount", sub).Run()
	td.sink.waitFor(t, "tmpfs mounted inside the root", gapFinding(alert.GapMountNotCrossed, sub))
	if !waitUntil(waitDeadline*3, func() bool { return healthGap(td.Daemon, alert.GapMountNotCrossed) }) {
		t.Fatalf("health with a mount inside the root: %+v", td.Health())
	}
	if out, err := exec.Command("umount", sub).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v: %s", err, out)
	}
	if !waitUntil(waitDeadline*3, func() bool { return td.sink.resolved(alert.GapMountNotCrossed) }) {
		t.Fatal("unmounted: the gap was not resolved")
	}
	td.stop(t)
}

func openDBAt(t testing.TB, path string) *store.DB {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return db
}
