package scan

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"webfim/baseline"
	"webfim/indicators"
	"webfim/indicators/yara"
	"webfim/internal/itest"
	"webfim/store"
)

const shell = "<?php\nif (isset($_POST['x'])) { eval($_POST['x']); }\n"

func engine(t *testing.T) *indicators.Engine {
	t.Helper()
	e, err := indicators.New(indicators.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// ids lists the indicators of the new content of each change, by path
// ("-" when not scanned).
func ids(changes []baseline.Change) map[string]string {
	out := map[string]string{}
	for _, ch := range changes {
		s := "-"
		if ch.New != nil && ch.New.Indicators != nil {
			var l []string
			for _, m := range ch.New.Indicators.Matches {
				l = append(l, m.ID)
			}
			s = fmt.Sprintf("%s %d %s", ch.New.Indicators.Level, ch.New.Indicators.Score, strings.Join(l, ","))
		}
		out[string(ch.Kind)+" "+ch.Path] = s
	}
	return out
}

// Every comparison (a live diff fast or full, one root, one path, a
// subtree) reports the indicators of the new content of each change, the
// same ones; unchanged content is not scanned again.
func TestComparisonsCarryIndicators(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	root := filepath.Join(dir, "www")
	write(t, filepath.Join(root, "index.php"), "<?php echo 1;\n")
	write(t, filepath.Join(root, "same.php"), "<?php echo 2;\n")
	db, err := store.Open(filepath.Join(dir, "webfim.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	target := Target{Roots: []string{root}, Indicators: engine(t)}
	m, err := Create(ctx, db, target, "v1", "test", Options{}, true)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "index.php"), "<?php echo 1;\n"+shell)
	write(t, filepath.Join(root, "uploads", "pic.php.gif"), "GIF89a"+shell)
	write(t, filepath.Join(root, "uploads", "readme.txt"), "eval($_POST['x'])\n")
	if err := os.Chmod(filepath.Join(root, "same.php"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"content_changed index.php": "high 135 php.request-eval,php.eval-dynamic,php.eval",
		"added uploads":             "-",
		"added uploads/pic.php.gif": "high 135 php.request-eval,php.eval-dynamic,php.eval",
		"added uploads/readme.txt":  "-",
		"metadata_changed same.php": "-",
	}
	check := func(name string, got map[string]string) {
		t.Helper()
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s: %s: indicators %q, want %q", name, k, got[k], w)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d changes %v, want %d", name, len(got), got, len(want))
		}
	}
	for _, full := range []bool{false, true} {
		var c collected
		if _, err := Diff(ctx, db, m, nil, TargetOf(m).withContent(target), Options{Full: full}, c.emitter()); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("diff (full %v)", full), ids(c.files))
	}
	var c collected
	if _, err := DiffRoot(ctx, db, m, target, root, Options{}, c.emitter()); err != nil {
		t.Fatal(err)
	}
	check("DiffRoot", ids(c.files))
	var sub collected
	if _, err := CheckSubtree(ctx, db, m, target, root, "", Options{}, sub.emitter()); err != nil {
		t.Fatal(err)
	}
	got := ids(sub.files)
	for _, k := range []string{"content_changed index.php", "metadata_changed same.php"} {
		if got[k] != want[k] {
			t.Errorf("CheckSubtree: %s: %q, want %q", k, got[k], want[k])
		}
	}
	for _, rel := range []string{"uploads/pic.php.gif", "index.php"} {
		var p collected
		if _, err := CheckPath(db, m, target, root, rel, Options{}, p.emitter()); err != nil {
			t.Fatal(err)
		}
		g := ids(p.files)
		for k, v := range g {
			if v != want[k] {
				t.Errorf("CheckPath %s: %s: %q, want %q", rel, k, v, want[k])
			}
		}
		if len(g) != 1 {
			t.Errorf("CheckPath %s: %v", rel, g)
		}
	}

	// Without an engine, nothing is scanned.
	var plain collected
	if _, err := Diff(ctx, db, m, nil, TargetOf(m), Options{}, plain.emitter()); err != nil {
		t.Fatal(err)
	}
	for k, v := range ids(plain.files) {
		if v != "-" {
			t.Errorf("no engine: %s scanned: %s", k, v)
		}
	}
}

// withContent gives t the content scan of o.
func (t Target) withContent(o Target) Target {
	t.Indicators, t.YARA = o.Indicators, o.YARA
	return t
}

// Create reports the scripts it scanned: all of them for a first
// baseline, the new content for the next.
func TestCreateReportsScanned(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	root := filepath.Join(dir, "www")
	write(t, filepath.Join(root, "index.php"), "<?php echo 1;\n")
	write(t, filepath.Join(root, "old.php"), shell)
	write(t, filepath.Join(root, "style.css"), "body {}\n")
	db, err := store.Open(filepath.Join(dir, "webfim.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	target := Target{Roots: []string{root}, Indicators: engine(t)}
	create := func(full bool) []string {
		var got []string
		opt := Options{Full: full, OnIndicators: func(r baseline.Record) {
			got = append(got, fmt.Sprintf("%s %s", r.Path, r.Indicators.Level))
		}}
		if _, err := Create(ctx, db, target, "", "test", opt, true); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got, want := create(false), []string{"index.php none", "old.php high"}; !slices.Equal(got, want) {
		t.Errorf("first baseline scanned %q, want %q", got, want)
	}
	write(t, filepath.Join(root, "new.php"), shell)
	if got, want := create(false), []string{"new.php high"}; !slices.Equal(got, want) {
		t.Errorf("next baseline scanned %q, want %q", got, want)
	}
	if got := create(true); len(got) != 3 {
		t.Errorf("full baseline scanned %q, want every script", got)
	}
}

func needYARA(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("yara"); err != nil {
		itest.Skip(t, "yara not installed (apt-get install -y yara)")
	}
}

// YARA rules run on the files whose content was scanned, in batches, and
// their matches join the indicators; the changes keep their order.
func TestDiffYARA(t *testing.T) {
	needYARA(t)
	ctx := context.Background()
	dir := t.TempDir()
	root := filepath.Join(dir, "www")
	write(t, filepath.Join(root, "index.php"), "<?php echo 1;\n")
	db, err := store.Open(filepath.Join(dir, "webfim.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := yara.Compile(ctx, yara.Settings{Rules: []string{"../indicators/yara/testdata/webshells.yar"}})
	if err != nil {
		t.Fatal(err)
	}
	defer rules.Close()
	target := Target{Roots: []string{root}, Indicators: engine(t), YARA: rules}
	m, err := Create(ctx, db, target, "v1", "test", Options{}, true)
	if err != nil {
		t.Fatal(err)
	}
	// More files than a batch, scanned and not, interleaved.
	n := yaraBatchFiles + 40
	for i := range n {
		write(t, filepath.Join(root, fmt.Sprintf("d/f%03d.php", i)), fmt.Sprintf("<?php echo %d;\n", i))
		write(t, filepath.Join(root, fmt.Sprintf("d/f%03d.txt", i)), "text\n")
	}
	write(t, filepath.Join(root, "d/f007.php"), shell)
	write(t, filepath.Join(root, "d/f290.php"), shell)
	write(t, filepath.Join(root, "index.php"), "<?php echo 1;\n"+shell)
	var c collected
	var warnings []string
	if _, err := Diff(ctx, db, m, nil, TargetOf(m).withContent(target), Options{OnError: func(root, rel string, err error) {
		warnings = append(warnings, err.Error())
	}, OnContentError: func(err error) {
		warnings = append(warnings, err.Error())
	}}, c.emitter()); err != nil {
		t.Fatal(err)
	}
	if len(c.files) != 1+1+2*n || len(warnings) > 0 {
		t.Fatalf("%d changes, warnings %v", len(c.files), warnings)
	}
	var order []string
	for _, ch := range c.files {
		order = append(order, ch.Path)
		res := ch.New.Indicators
		if strings.HasSuffix(ch.Path, ".txt") || ch.Path == "d" {
			if res != nil {
				t.Errorf("%s scanned", ch.Path)
			}
			continue
		}
		yaraHit := res != nil && res.Has("yara.webshells.php_eval_request")
		if want := ch.Path == "d/f007.php" || ch.Path == "d/f290.php" || ch.Path == "index.php"; yaraHit != want || res == nil {
			t.Errorf("%s: YARA match %v, want %v (%+v)", ch.Path, yaraHit, want, res)
		}
		if yaraHit && (res.Level != indicators.LevelHigh || res.Score != 135+yara.DefaultWeight) {
			t.Errorf("%s: score %d level %s after the YARA match", ch.Path, res.Score, res.Level)
		}
	}
	// Content changes as the walk finds them, then the additions in path order.
	if order[0] != "index.php" || !slices.IsSortedFunc(order[1:], baseline.ComparePaths) {
		t.Errorf("changes out of order: %v...", order[:5])
	}

	// A batch that fails (here: its rules are gone) is reported, and says
	// so in the indicators; the change is still emitted.
	gone, err := yara.Compile(ctx, yara.Settings{Rules: []string{"../indicators/yara/testdata/webshells.yar"}})
	if err != nil {
		t.Fatal(err)
	}
	gone.Close()
	target.YARA = gone
	c = collected{}
	warnings = nil
	if _, err := CheckPath(db, m, target, root, "index.php", Options{OnContentError: func(err error) {
		warnings = append(warnings, err.Error())
	}}, c.emitter()); err != nil {
		t.Fatal(err)
	}
	if len(c.files) != 1 || c.files[0].New.Indicators == nil || len(c.files[0].New.Indicators.Errors) == 0 || len(warnings) != 1 {
		t.Errorf("a YARA batch that failed: changes %+v, warnings %v", c.files, warnings)
	} else if res := c.files[0].New.Indicators; !res.Has("php.request-eval") {
		t.Errorf("the engine's indicators are lost with the YARA batch: %+v", res)
	}
}
