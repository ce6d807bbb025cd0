package watch

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"webfim/baseline"
)

// Issue 12, item 4: a root that is a symbolic link (current ->
// releases/1) is watched as baseline create and diff walk it: through
// the link. A shell dropped into it is reported under the root's name;
// when a deploy switches the link (ln -sfn releases/2 current, a rename
// over the link), the new target is watched and rescanned: its extra
// script is reported, and a shell dropped into the new target afterwards
// too, while the old release no longer is watched.
func TestDaemonSymlinkedRoot(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on Windows")
	}
	base := tempRoot(t)
	rel1, rel2 := filepath.Join(base, "releases/1"), filepath.Join(base, "releases/2")
	writeFile(t, filepath.Join(rel1, "index.php"), "<?php echo 1;")
	writeFile(t, filepath.Join(rel2, "index.php"), "<?php echo 1;")
	writeFile(t, filepath.Join(rel2, "new.php"), "<?php echo 2;")
	current := filepath.Join(base, "current")
	if err := os.Symlink("releases/1", current); err != nil {
		t.Fatal(err)
	}
	db := openDB(t)
	cfg := testConfig(current)
	makeBaseline(t, db, cfg)
	td := startDaemon(t, db, cfg, Deps{})
	if st := td.currentTree().Status(); len(st) != 1 || st[0].Target != rel1 || st[0].Missing {
		t.Fatalf("root status %+v, want %s watched through the link", st, rel1)
	}

	writeFile(t, filepath.Join(current, "shell.php"), "<?php system($_GET['c']);")
	f := td.sink.waitFor(t, "shell.php in the symlinked root", fileFinding(baseline.Added, "shell.php"))
	if f.File.Root != current {
		t.Errorf("finding root %q, want the configured %q", f.File.Root, current)
	}

	tmp := filepath.Join(base, "current.tmp")
	if err := os.Symlink("releases/2", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, current); err != nil {
		t.Fatal(err)
	}
	td.sink.waitFor(t, "new.php of the new release", fileFinding(baseline.Added, "new.php"))
	if !waitUntil(waitDeadline, func() bool { st := td.currentTree().Status(); return len(st) == 1 && st[0].Target == rel2 }) {
		t.Fatalf("root status %+v after the switch, want %s", td.currentTree().Status(), rel2)
	}
	writeFile(t, filepath.Join(rel2, "late.php"), "<?php system($_GET['c']);")
	td.sink.waitFor(t, "late.php in the new release", fileFinding(baseline.Added, "late.php"))
	writeFile(t, filepath.Join(rel1, "old-release.php"), "<?php")
	writeFile(t, filepath.Join(current, "marker.txt"), "")
	td.sink.waitFor(t, "marker.txt", fileFinding(baseline.Added, "marker.txt"))
	if n := td.sink.count(fileFinding(baseline.Added, "old-release.php")); n != 0 {
		t.Error("a file of the old release, no longer the root's target, was reported")
	}
	td.stop(t)
}

// A root that is a link to something other than a directory is refused
// with the reason, as before.
func TestTreeRootLinkToFile(t *testing.T) {
	base := tempRoot(t)
	writeFile(t, filepath.Join(base, "f"), "x")
	if err := os.Symlink("f", filepath.Join(base, "root")); err != nil {
		t.Skip(err)
	}
	_, err := NewTree(newFaultNotifier(t), TreeOptions{Roots: []string{filepath.Join(base, "root")}})
	if err == nil || err.Error() != "watch root "+filepath.Join(base, "root")+": not a directory" {
		t.Errorf("NewTree of a link to a file: %v", err)
	}
}
