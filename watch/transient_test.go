package watch

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"webfim/baseline"
)

// Issue 12, item 8: a script written and deleted within the debounce
// period (upload -> run -> self-delete) is reported as a transient
// script, high, with what was seen of it; five in a row are five
// findings, and the same name coming back is reported again. A temporary
// file of an editor is not reported, nor is a new script renamed away
// (its new name is reported as added).
func TestDaemonTransientScript(t *testing.T) {
	root := tempRoot(t)
	writeFile(t, filepath.Join(root, "index.php"), "<?php")
	// The upload directory exists and is watched: in a directory created
	// just before, a file may come and go before its watch exists.
	writeFile(t, filepath.Join(root, "up", ".keep"), "")
	db := openDB(t)
	cfg := testConfig(root)
	makeBaseline(t, db, cfg)
	td := startDaemon(t, db, cfg, Deps{})

	body := "<?php system($_GET['c']); unlink(__FILE__);"
	for i := range 5 {
		p := filepath.Join(root, fmt.Sprintf("up/s%d.php", i))
		writeFile(t, p, body)
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		rel := fmt.Sprintf("up/s%d.php", i)
		f := td.sink.waitFor(t, "transient "+rel, fileFinding(baseline.Transient, rel))
		if !f.Verdict.Alert || f.Verdict.RuleID != "webfim-021" || f.Verdict.Severity.String() != "high" {
			t.Errorf("%s: verdict %+v, want a high webfim-021 alert", rel, f.Verdict)
		}
		if f.Seen == nil || f.Seen.First.IsZero() || f.Seen.Last.Before(f.Seen.First) {
			t.Errorf("%s: seen %+v", rel, f.Seen)
		}
		if f.File.New == nil || f.File.New.Path != rel {
			t.Errorf("%s: record %+v", rel, f.File.New)
		}
	}

	// In a directory made for it and removed with it.
	writeFile(t, filepath.Join(root, "up/tmpdir/.keep"), "")
	if !waitUntil(waitDeadline, func() bool { return td.currentTree().Dirs() >= 3 }) {
		t.Fatal("up/tmpdir not watched")
	}
	writeFile(t, filepath.Join(root, "up/tmpdir/run.php"), body)
	if err := os.RemoveAll(filepath.Join(root, "up/tmpdir")); err != nil {
		t.Fatal(err)
	}
	td.sink.waitFor(t, "transient in a removed directory", fileFinding(baseline.Transient, "up/tmpdir/run.php"))

	// The same name again: another appearance, another finding.
	p := filepath.Join(root, "up/s0.php")
	writeFile(t, p, body)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if !waitUntil(waitDeadline, func() bool { return td.sink.count(fileFinding(baseline.Transient, "up/s0.php")) == 2 }) {
		t.Errorf("s0.php appearing twice: %d findings", td.sink.count(fileFinding(baseline.Transient, "up/s0.php")))
	}

	// Not scripts, or not gone: nothing transient.
	writeFile(t, filepath.Join(root, ".index.php.swp"), "vim")
	os.Remove(filepath.Join(root, ".index.php.swp"))
	writeFile(t, filepath.Join(root, "new.php"), "<?php")
	if err := os.Rename(filepath.Join(root, "new.php"), filepath.Join(root, "final.php")); err != nil {
		t.Fatal(err)
	}
	td.sink.waitFor(t, "final.php added", fileFinding(baseline.Added, "final.php"))
	writeFile(t, filepath.Join(root, "marker.txt"), "")
	td.sink.waitFor(t, "marker", fileFinding(baseline.Added, "marker.txt"))
	for _, rel := range []string{".index.php.swp", "new.php", "final.php"} {
		if n := td.sink.count(fileFinding(baseline.Transient, rel)); n != 0 {
			t.Errorf("%s reported as transient", rel)
		}
	}
	td.stop(t)
}

// Issue 12, item 3, in the daemon: the live check of a large file runs
// in the large-file lane, so a script written after it is reported
// first, not after the large file was read (here 2 GiB, read whole: the
// large-file threshold is off).
func TestDaemonLargeFileLane(t *testing.T) {
	root := tempRoot(t)
	writeFile(t, filepath.Join(root, "index.php"), "<?php")
	db := openDB(t)
	cfg := testConfig(root)
	cfg.Target.LargeFileThreshold = -1
	makeBaseline(t, db, cfg)
	td := startDaemon(t, db, cfg, Deps{})
	big := filepath.Join(root, "huge.bin")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(2 << 30); err != nil {
		t.Skip(err)
	}
	f.WriteAt([]byte("data"), 1<<30)
	f.Close()
	writeFile(t, filepath.Join(root, "shell.php"), "<?php system($_GET['c']);")
	td.sink.waitFor(t, "shell.php", fileFinding(baseline.Added, "shell.php"))
	td.sink.waitFor(t, "huge.bin", fileFinding(baseline.Added, "huge.bin"))
	var order []string
	for _, f := range td.sink.all() {
		if f.File != nil {
			order = append(order, f.File.Path)
		}
	}
	if len(order) < 2 || order[0] != "shell.php" {
		t.Errorf("findings in order %v: the script waited for the large file", order)
	}
	td.stop(t)
}
