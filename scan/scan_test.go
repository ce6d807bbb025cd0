package scan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"webfim/baseline"
	"webfim/serverconf"
	"webfim/store"
)

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

type collected struct {
	files []baseline.Change
	items []serverconf.Change
}

func (c *collected) emitter() Emitter {
	return Emitter{
		File: func(ch baseline.Change) error { c.files = append(c.files, ch); return nil },
		Item: func(ch serverconf.Change) error { c.items = append(c.items, ch); return nil },
	}
}

// TestCreateAndDiff takes a baseline of a root and an nginx config, then
// plants a web shell, an .htaccess handler and an nginx module, and checks
// that Diff reports each at the right level with the right exit bits.
func TestCreateAndDiff(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	root := filepath.Join(dir, "www")
	conf := filepath.Join(dir, "nginx.conf")
	write(t, filepath.Join(root, "index.php"), "<?php echo 1;")
	write(t, conf, "http {\n  server {\n    root /srv;\n  }\n}\n")
	db, err := store.Open(filepath.Join(dir, "webfim.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	target := Target{Roots: []string{root}, Configs: []serverconf.Config{{Server: "nginx", Path: conf}}}
	m, err := Create(ctx, db, target, "v1", "test", Options{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if m.Files != 1 || m.Dirs != 1 || m.Label != "v1" {
		t.Errorf("meta counts: files %d dirs %d label %q, want 1, 1, v1", m.Files, m.Dirs, m.Label)
	}
	if got := TargetOf(m); !cmp.Equal(got.Configs, target.Configs) || !cmp.Equal(got.Roots, target.Roots) {
		t.Errorf("TargetOf(meta) = %+v, want the target's roots and configs %+v", got, target)
	}

	var none collected
	res, err := Diff(ctx, db, m, nil, TargetOf(m), Options{Full: true}, none.emitter())
	if err != nil {
		t.Fatal(err)
	}
	if res.Differs() || len(none.files)+len(none.items) != 0 {
		t.Fatalf("unchanged tree differs: %+v %+v", none.files, none.items)
	}

	write(t, filepath.Join(root, "uploads", "x.php"), "<?php system($_GET['c']);")
	write(t, filepath.Join(root, ".htaccess"), "AddType application/x-httpd-php .jpg\n")
	write(t, conf, "load_module modules/evil.so;\nhttp {\n  server {\n    root /srv;\n  }\n}\n")
	var got collected
	res, err = Diff(ctx, db, m, nil, TargetOf(m), Options{Full: true}, got.emitter())
	if err != nil {
		t.Fatal(err)
	}
	var added []string
	for _, ch := range got.files {
		if ch.Kind != baseline.Added {
			t.Errorf("unexpected file change %s %s", ch.Kind, ch.Path)
		}
		added = append(added, ch.Path)
	}
	if want := []string{".htaccess", "uploads", "uploads/x.php"}; !cmp.Equal(added, want) {
		t.Errorf("added files = %q, want %q", added, want)
	}
	var kinds []string
	for _, ch := range got.items {
		if ch.Kind != serverconf.ItemAdded {
			t.Errorf("unexpected inventory change %s of %+v", ch.Kind, ch.Old)
			continue
		}
		kinds = append(kinds, ch.New.Server+" "+ch.New.Kind)
	}
	slices.Sort(kinds)
	if want := []string{"htaccess script_handler", "nginx load_module"}; !cmp.Equal(kinds, want) {
		t.Errorf("inventory changes = %q, want %q", kinds, want)
	}
	if bits := res.ExitBits(); bits != 1|4 {
		t.Errorf("exit bits = %d, want 5 (added, and inventory changes count as changed)", bits)
	}

	// The same comparison between two stored baselines.
	m2, err := Create(ctx, db, target, "v2", "test", Options{}, true)
	if err != nil {
		t.Fatal(err)
	}
	var stored collected
	res2, err := Diff(ctx, db, m, &m2, TargetOf(m), Options{}, stored.emitter())
	if err != nil {
		t.Fatal(err)
	}
	if res2 != res {
		t.Errorf("baseline-to-baseline result %+v, want the live result %+v", res2, res)
	}
}

func TestConfigRefRoundTrip(t *testing.T) {
	for _, c := range []serverconf.Config{
		{Server: "iis", Path: `/mnt/img/Windows/System32/inetsrv/config/applicationHost.config`},
		{Server: "", Path: `C:\inetpub\wwwroot\web.config`},
		{Server: "apache", Path: `C:\Apache24\conf\httpd.conf`},
		{Server: "", Path: "/etc/nginx/nginx.conf"},
	} {
		if got := parseConfigRef(configRef(c)); got != c {
			t.Errorf("parseConfigRef(configRef(%+v)) = %+v", c, got)
		}
	}
}

// TestDiffLiveFastMatchesStored: a live diff, fast or full, reports what
// the diff of the baseline with a new baseline of the changed tree reports
// (removed subtree, edits, additions, a server config under the root).
func TestDiffLiveFastMatchesStored(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	root := filepath.Join(dir, "www")
	write(t, filepath.Join(root, "index.php"), "<?php echo 1;")
	write(t, filepath.Join(root, "old", "a.txt"), "a")
	write(t, filepath.Join(root, "old", "deep", "b.txt"), "b")
	write(t, filepath.Join(root, "z.txt"), "last")
	db, err := store.Open(filepath.Join(dir, "webfim.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	target := Target{Roots: []string{root}}
	m1, err := Create(ctx, db, target, "v1", "test", Options{}, true)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "index.php"), "<?php eval($_POST['x']);")
	write(t, filepath.Join(root, ".htaccess"), "AddType application/x-httpd-php .jpg\n")
	os.RemoveAll(filepath.Join(root, "old"))
	os.Remove(filepath.Join(root, "z.txt"))
	summarize := func(c collected, res Result) []string {
		var s []string
		for _, ch := range c.files {
			s = append(s, string(ch.Kind)+" "+ch.Path)
		}
		for _, ch := range c.items {
			s = append(s, string(ch.Kind)+" item")
		}
		return append(s, fmt.Sprintf("bits %d", res.ExitBits()))
	}
	var live [2][]string
	for i, full := range []bool{false, true} {
		var c collected
		res, err := Diff(ctx, db, m1, nil, TargetOf(m1), Options{Full: full}, c.emitter())
		if err != nil {
			t.Fatalf("live diff (full %v): %v", full, err)
		}
		live[i] = summarize(c, res)
	}
	m2, err := Create(ctx, db, target, "v2", "test", Options{Full: true}, true)
	if err != nil {
		t.Fatal(err)
	}
	var c collected
	res, err := Diff(ctx, db, m1, &m2, TargetOf(m1), Options{}, c.emitter())
	if err != nil {
		t.Fatal(err)
	}
	stored := summarize(c, res)
	want := []string{"content_changed index.php", "added .htaccess",
		"removed old", "removed old/a.txt", "removed old/deep", "removed old/deep/b.txt", "removed z.txt",
		"added item", "bits 7"}
	if diff := cmp.Diff(want, stored); diff != "" {
		t.Errorf("stored diff (-want +got):\n%s", diff)
	}
	for i, name := range []string{"fast", "full"} {
		if diff := cmp.Diff(stored, live[i]); diff != "" {
			t.Errorf("%s live diff and stored diff disagree (-stored +live):\n%s", name, diff)
		}
	}
}
