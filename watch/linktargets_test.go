package watch

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"webfim/baseline"
)

// linkOut makes root/name a symlink to target, or fails the test.
func linkOut(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// repoint switches link to target as ln -sfn does: a new link renamed
// over the old one.
func repoint(t *testing.T, target, link string) {
	t.Helper()
	tmp := link + ".tmp"
	linkOut(t, target, tmp)
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
}

// A symlink in a root to a file outside every root (x.php ->
// /var/tmp/.s.php) has its target followed: a write of the target, or a
// file renamed over it, hints the link; once the link leads elsewhere the
// old target is no longer followed (its watch is gone) and the new one is.
func TestTreeFollowsLinkTargets(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on Windows")
	}
	root, outside := tempRoot(t), tempRoot(t)
	oldTarget, newTarget := filepath.Join(outside, ".s.php"), filepath.Join(outside, "other", "t.php")
	writeFile(t, oldTarget, "<?php echo 1;")
	writeFile(t, newTarget, "<?php echo 2;")
	writeFile(t, filepath.Join(outside, "unrelated.txt"), "")
	linkOut(t, oldTarget, filepath.Join(root, "x.php"))
	linkOut(t, filepath.Join(root, "x.php"), filepath.Join(root, "inside.php")) // inside a root: not followed
	n := newFaultNotifier(t)
	tr, hints := startTree(t, n, TreeOptions{Roots: []string{root}})
	if got := tr.LinkTargets(); !slices.Equal(got, []string{oldTarget}) {
		t.Fatalf("followed targets %q, want [%s]", got, oldTarget)
	}

	writeFile(t, oldTarget, "<?php system($_GET['c']);")
	hints.waitFor(t, "x.php after its target was written", pathHint(root, "x.php"))
	hints.reset()
	placeFile(t, oldTarget, "<?php eval($_POST['c']);")
	hints.waitFor(t, "x.php after a file was renamed over its target", pathHint(root, "x.php"))
	hints.reset()
	writeFile(t, filepath.Join(outside, "unrelated.txt"), "x")
	hints.expectNone(t, root, "x.php after an unrelated file beside its target changed", pathHint(root, "x.php"))

	repoint(t, newTarget, filepath.Join(root, "x.php"))
	if !waitUntil(waitDeadline, func() bool { return slices.Equal(tr.LinkTargets(), []string{newTarget}) }) {
		t.Fatalf("followed targets %q after re-pointing, want [%s]", tr.LinkTargets(), newTarget)
	}
	hints.reset()
	writeFile(t, oldTarget, "<?php echo 3;")
	hints.expectNone(t, root, "x.php after its old target changed", pathHint(root, "x.php"))
	writeFile(t, newTarget, "<?php echo 4;")
	hints.waitFor(t, "x.php after its new target was written", pathHint(root, "x.php"))

	if err := os.Remove(filepath.Join(root, "x.php")); err != nil {
		t.Fatal(err)
	}
	if !waitUntil(waitDeadline, func() bool { return len(tr.LinkTargets()) == 0 }) {
		t.Fatalf("followed targets %q after the link was removed, want none", tr.LinkTargets())
	}
}

// The extra watches are bounded: over the bound a link's target is not
// followed, and that is logged once, saying the rescans cover it.
func TestTreeLinkTargetBound(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on Windows")
	}
	root, outside := tempRoot(t), tempRoot(t)
	for _, d := range []string{"a", "b", "c"} {
		writeFile(t, filepath.Join(outside, d, "f.php"), "<?php")
		linkOut(t, filepath.Join(outside, d, "f.php"), filepath.Join(root, d+".php"))
	}
	var logged syncBuffer
	tr, _ := startTree(t, newFaultNotifier(t), TreeOptions{Roots: []string{root}, MaxLinkTargetDirs: 2, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if got := tr.LinkTargets(); len(got) != 2 {
		t.Errorf("followed targets %q, want 2 (the bound)", got)
	}
	if c := strings.Count(logged.String(), "too many directories to watch for the targets of symlinks"); c != 1 {
		t.Errorf("bound logged %d times, want once; log:\n%s", c, logged.String())
	}
}

// The daemon reports a change of a link's outside target as a content
// change of the link at once, with no periodic rescan configured; after
// the link is re-pointed, a change of the old target is not reported.
func TestDaemonLinkTargetLive(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on Windows")
	}
	root, outside := tempRoot(t), tempRoot(t)
	oldTarget, newTarget := filepath.Join(outside, ".s.php"), filepath.Join(outside, "n.php")
	writeFile(t, oldTarget, "<?php echo 1;")
	writeFile(t, newTarget, "<?php echo 2;")
	writeFile(t, filepath.Join(root, "index.php"), "<?php")
	linkOut(t, oldTarget, filepath.Join(root, "x.php"))
	db := openDB(t)
	cfg := testConfig(root) // no periodic rescans: only the live path can report
	makeBaseline(t, db, cfg)
	logs := &syncBuffer{}
	td := startDaemon(t, db, cfg, Deps{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if !waitUntil(waitDeadline, func() bool { return strings.Contains(logs.String(), "reason=startup") }) {
		t.Fatalf("no catch-up rescan; log:\n%s", logs.String())
	}

	writeFile(t, oldTarget, "<?php system($_GET['c']);")
	td.sink.waitFor(t, "x.php's content change through its target", fileFinding(baseline.ContentChanged, "x.php"))

	repoint(t, newTarget, filepath.Join(root, "x.php"))
	td.sink.waitFor(t, "x.php re-pointed", func(f Finding) bool {
		return f.File != nil && f.File.Path == "x.php" && f.File.New != nil && f.File.New.Target == newTarget
	})
	before := td.sink.count(func(f Finding) bool { return f.File != nil && f.File.Path == "x.php" })
	writeFile(t, oldTarget, "<?php passthru($_GET['c']);")
	writeFile(t, filepath.Join(root, "marker.txt"), "")
	td.sink.waitFor(t, "marker.txt", fileFinding(baseline.Added, "marker.txt"))
	if after := td.sink.count(func(f Finding) bool { return f.File != nil && f.File.Path == "x.php" }); after != before {
		t.Errorf("a change of x.php's old target was reported (%d findings on x.php, were %d)", after, before)
	}
	td.stop(t)
}

// A link whose creation event was lost is followed once a rescan finds it
// (the daemon hands it over with NoteLink); until then it is not.
func TestTreeNoteLinkAfterLostEvent(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on Windows")
	}
	root, outside := tempRoot(t), tempRoot(t)
	target := filepath.Join(outside, "s.php")
	writeFile(t, target, "<?php")
	n := newFaultNotifier(t)
	tr, hints := startTree(t, n, TreeOptions{Roots: []string{root}})
	n.loseEvents(t, filepath.Join(root, "lost.marker"), func() {
		linkOut(t, target, filepath.Join(root, "y.php"))
	})
	if got := tr.LinkTargets(); len(got) != 0 {
		t.Fatalf("followed targets %q without any event, want none", got)
	}
	tr.NoteLink(root, "y.php")
	if !waitUntil(waitDeadline, func() bool { return slices.Equal(tr.LinkTargets(), []string{target}) }) {
		t.Fatalf("followed targets %q after NoteLink, want [%s]", tr.LinkTargets(), target)
	}
	writeFile(t, target, "<?php system($_GET['c']);")
	hints.waitFor(t, "y.php after its target was written", pathHint(root, "y.php"))
}

// A link whose target's directory does not exist yet (or was removed) is
// retried at every tick: once the directory is there, the link is
// checked, and later writes of the target are followed.
func TestTreeLinkTargetDirAppears(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on Windows")
	}
	root, outside := tempRoot(t), tempRoot(t)
	target := filepath.Join(outside, "later", "s.php")
	linkOut(t, target, filepath.Join(root, "x.php"))
	_, hints := startTree(t, newFaultNotifier(t), TreeOptions{Roots: []string{root}, DegradedInterval: 50 * time.Millisecond})
	writeFile(t, target, "<?php")
	hints.waitFor(t, "x.php once its target's directory appeared", pathHint(root, "x.php"))
	hints.reset()
	writeFile(t, target, "<?php system($_GET['c']);")
	hints.waitFor(t, "x.php after its target was written", pathHint(root, "x.php"))
}
