package baseline

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"webfim/indicators"
)

const testShell = "<?php\n// tool\nif (isset($_GET['c'])) { system($_GET['c']); }\n"

func testEngine(t testing.TB) *indicators.Engine {
	t.Helper()
	e, err := indicators.New(indicators.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// scanned returns the ids of the indicators found in r, or nil if r was
// not scanned.
func scanned(r Record) []string {
	if r.Indicators == nil {
		return nil
	}
	ids := []string{}
	for _, m := range r.Indicators.Matches {
		ids = append(ids, m.ID)
	}
	return ids
}

// The hashing pass scans scripts by extension, once, whatever their size,
// and leaves other files alone (script content under another name is
// issue 10's sniffing).
func TestWalkIndicators(t *testing.T) {
	root := t.TempDir()
	big := strings.Repeat("<?php echo 'hello';\n", 30000) + testShell // 600 KB: fed chunk by chunk
	huge := strings.Repeat("<?php echo 'hello';\n", 100000) + testShell
	files := map[string]string{
		"shell.php":     testShell,
		"clean.php":     "<?php echo 'hello';\n",
		"s.php.jpg":     testShell,                                              // a script by its inner extension
		"pic.jpg":       "GIF89a" + testShell,                                   // not by name: by its sniffed content
		"photo.png":     "\x89PNG\r\n\x1a\n" + strings.Repeat("\x00<x", 200000), // not a script
		"notes.txt":     "system($_GET['c']) is how shells run commands\n",
		"big.php":       big,
		"huge.php":      huge, // beyond max_bytes: prefix and tail
		"empty.php":     "",
		"deep/x/y.aspx": `<%@ Page Language="C#" %><% System.Diagnostics.Process.Start("cmd.exe", "/c " + Request["c"]); %>`,
	}
	for name, content := range files {
		write(t, root+"/"+name, content)
	}
	recs := byPath(collect(t, Walk(context.Background(), []string{root}, Options{Workers: 2, Indicators: testEngine(t)})))
	for name, content := range files {
		r := recs[name]
		if !slices.Equal(r.BLAKE3, b3(content)) {
			t.Errorf("%s: wrong digest", name)
		}
	}
	for _, name := range []string{"shell.php", "s.php.jpg", "pic.jpg", "big.php", "huge.php"} {
		res := recs[name].Indicators
		if res == nil || !res.Has("php.request-exec") || res.Level != indicators.LevelHigh {
			t.Errorf("%s: want php.request-exec, high; got %+v", name, res)
			continue
		}
		if res.Size != int64(len(files[name])) {
			t.Errorf("%s: result size %d, want %d", name, res.Size, len(files[name]))
		}
	}
	if r := recs["huge.php"].Indicators; r == nil || !r.Truncated || r.Matches[0].Line != 100000+3 {
		t.Errorf("huge.php: want truncated with the shell's true line, got %+v", r)
	}
	if r := recs["big.php"].Indicators; r == nil || r.Truncated {
		t.Errorf("big.php: want scanned whole, got %+v", r)
	}
	if r := recs["deep/x/y.aspx"].Indicators; r == nil || r.Family != indicators.FamilyASP || r.Level < indicators.LevelMedium {
		t.Errorf("y.aspx: want asp at medium or above, got %+v", r)
	}
	for _, name := range []string{"clean.php", "empty.php"} {
		if r := recs[name].Indicators; r == nil || r.Score != 0 {
			t.Errorf("%s: want scanned with score 0, got %+v", name, r)
		}
	}
	if r := recs["pic.jpg"]; r.ContentFamily != indicators.FamilyPHP {
		t.Errorf("pic.jpg: content family %v, want php (sniffed)", r.ContentFamily)
	}
	for _, name := range []string{"photo.png", "notes.txt", "deep", ""} {
		if r := recs[name].Indicators; r != nil {
			t.Errorf("%s: not a script, yet scanned: %+v", name, r)
		}
	}

	// Without an engine nothing is scanned.
	for _, r := range collect(t, Walk(context.Background(), []string{root}, Options{})) {
		if r.Indicators != nil {
			t.Errorf("%s scanned without an engine", r.Path)
		}
	}
}

// Only new content is scanned: a file whose digest is its previous
// record's is not (its indicators are those it had), in an incremental
// walk, a full merged walk and Stat alike.
func TestIndicatorsOnlyForNewContent(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/same.php", testShell)
	write(t, root+"/touched.php", testShell)
	write(t, root+"/changed.php", "<?php echo 1;\n")
	write(t, root+"/added.php", testShell)
	e := testEngine(t)
	old := collect(t, Walk(context.Background(), []string{root}, Options{}))
	oldRecs := byPath(old)
	delete(oldRecs, "added.php")
	old = slices.DeleteFunc(old, func(r Record) bool { return r.Path == "added.php" })
	write(t, root+"/changed.php", testShell)
	touch(t, root+"/touched.php") // same content, new mtime: read again

	want := map[string]bool{"same.php": false, "touched.php": false, "changed.php": true, "added.php": true}
	check := func(how string, recs map[string]Record) {
		t.Helper()
		for name, w := range want {
			if got := recs[name].Indicators != nil; got != w {
				t.Errorf("%s: %s scanned = %v, want %v", how, name, got, w)
			}
		}
	}
	check("incremental walk", byPath(collect(t, Walk(context.Background(), []string{root}, Options{Previous: sliceState(old), Indicators: e}))))
	merged := map[string]Record{}
	for p, err := range MergeWalk(context.Background(), []string{root}, sliceState(old), Options{Full: true, Indicators: e}) {
		if err != nil {
			t.Fatal(err)
		}
		if p.HasNew {
			merged[p.New.Path] = p.New
		}
	}
	check("full merged walk", merged)
	stat := map[string]Record{}
	for name := range want {
		var prev *Record
		if r, ok := oldRecs[name]; ok {
			prev = &r
		}
		r, err := Stat(root, name, Options{Full: true, Indicators: e}, prev)
		if err != nil {
			t.Fatal(err)
		}
		stat[name] = r
	}
	check("Stat", stat)
}

// A file that changes while it is read is scanned as read the second
// time, like its digest.
func TestIndicatorsOfUnstableFile(t *testing.T) {
	root := t.TempDir()
	p := root + "/x.php"
	write(t, p, "<?php echo 1;\n")
	testHookAfterRead = func(path string, attempt int) {
		if path == p && attempt == 0 {
			if err := os.WriteFile(p, []byte(testShell), 0o644); err != nil {
				t.Error(err)
			}
		}
	}
	defer func() { testHookAfterRead = nil }()
	r, err := Stat(root, "x.php", Options{Indicators: testEngine(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.BLAKE3, b3(testShell)) || r.Indicators == nil || !r.Indicators.Has("php.request-exec") {
		t.Errorf("digest %x, indicators %+v: want those of the content read the second time", r.BLAKE3, r.Indicators)
	}
}

// touch moves a file's mtime forward by a second.
func touch(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	mt := fi.ModTime().Add(time.Second)
	if err := os.Chtimes(path, mt, mt); err != nil {
		t.Fatal(err)
	}
}
