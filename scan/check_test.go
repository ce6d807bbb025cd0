package scan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"webfim/serverconf"
	"webfim/store"
)

func (c *collected) summary() []string {
	var s []string
	for _, ch := range c.files {
		s = append(s, string(ch.Kind)+" "+ch.Path)
	}
	for _, ch := range c.items {
		it := ch.New
		if it == nil {
			it = ch.Old
		}
		s = append(s, string(ch.Kind)+" "+it.Server+" "+it.Kind+" "+it.Name)
	}
	slices.Sort(s)
	return s
}

// The checks of part of a target report what Diff of the whole target
// reports for that part: DiffRoot for a root, DiffConfigs for the
// configured server configs, CheckPath and CheckSubtree for entries.
func TestPartsMatchDiff(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	root := filepath.Join(dir, "www")
	conf := filepath.Join(dir, "nginx.conf")
	write(t, filepath.Join(root, "index.php"), "<?php echo 1;")
	write(t, filepath.Join(root, "old", "a.txt"), "a")
	write(t, filepath.Join(root, "old", "deep", "b.txt"), "b")
	write(t, filepath.Join(root, ".htaccess"), "Options -Indexes\n")
	write(t, filepath.Join(root, "cache", "x.tmp"), "x")
	write(t, conf, "http {\n  server {\n    root /srv;\n  }\n}\n")
	db, err := store.Open(filepath.Join(dir, "webfim.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	target := Target{Roots: []string{root}, Configs: []serverconf.Config{{Server: "nginx", Path: conf}},
		Exclude: func(_, rel string, _ bool) bool { return rel == "cache" || filepath.Dir(rel) == "cache" }}
	m, err := Create(ctx, db, target, "v1", "test", Options{}, true)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "index.php"), "<?php eval($_POST['x']);")
	write(t, filepath.Join(root, "uploads", "shell.php"), "<?php system($_GET['c']);")
	write(t, filepath.Join(root, ".htaccess"), "AddType application/x-httpd-php .jpg\n")
	write(t, filepath.Join(root, "cache", "y.tmp"), "excluded")
	write(t, conf, "load_module modules/evil.so;\nhttp {\n  server {\n    root /srv;\n  }\n}\n")
	if err := os.RemoveAll(filepath.Join(root, "old")); err != nil {
		t.Fatal(err)
	}

	var whole collected
	if _, err := Diff(ctx, db, m, nil, target, Options{}, whole.emitter()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"added htaccess script_handler .jpg", "added nginx load_module modules/evil.so",
		"added uploads", "added uploads/shell.php", "content_changed .htaccess", "content_changed index.php",
		"removed old", "removed old/a.txt", "removed old/deep", "removed old/deep/b.txt",
	}
	if diff := cmp.Diff(want, whole.summary()); diff != "" {
		t.Fatalf("whole diff (-want +got):\n%s", diff)
	}

	var rootPart, configPart collected
	if _, err := DiffRoot(ctx, db, m, target, root, Options{}, rootPart.emitter()); err != nil {
		t.Fatal(err)
	}
	if _, err := DiffConfigs(db, m, target, Options{}, configPart.emitter()); err != nil {
		t.Fatal(err)
	}
	parts := collected{files: append(rootPart.files, configPart.files...), items: append(rootPart.items, configPart.items...)}
	if diff := cmp.Diff(whole.summary(), parts.summary()); diff != "" {
		t.Errorf("DiffRoot + DiffConfigs differ from Diff (-diff +parts):\n%s", diff)
	}
	if len(configPart.files) != 0 || len(configPart.items) != 1 || configPart.items[0].New.Server != "nginx" {
		t.Errorf("DiffConfigs reported %q; want the nginx module only (the .htaccess is under the root)", configPart.summary())
	}

	var paths collected
	for _, rel := range []string{"index.php", "uploads", "uploads/shell.php", ".htaccess", "cache/y.tmp", "never-there.php"} {
		if _, err := CheckPath(db, m, target, root, rel, Options{}, paths.emitter()); err != nil {
			t.Fatalf("CheckPath(%s): %v", rel, err)
		}
	}
	if _, err := CheckSubtree(ctx, db, m, target, root, "old", Options{}, paths.emitter()); err != nil {
		t.Fatal(err)
	}
	checked := collected{files: paths.files, items: append(paths.items, configPart.items...)}
	if diff := cmp.Diff(whole.summary(), checked.summary()); diff != "" {
		t.Errorf("CheckPath/CheckSubtree of the changed entries differ from Diff (-diff +checks):\n%s", diff)
	}
	// Unchanged, excluded or absent entries are no change.
	var none collected
	for _, rel := range []string{"", "cache", "cache/x.tmp", "cache/y.tmp", "nothing"} {
		if _, err := CheckPath(db, m, target, root, rel, Options{}, none.emitter()); err != nil {
			t.Fatalf("CheckPath(%q): %v", rel, err)
		}
	}
	if len(none.files)+len(none.items) != 0 {
		t.Errorf("unchanged or excluded entries reported: %q", none.summary())
	}
}

type fakeActive struct {
	m   Baseline
	err error
}

func (f fakeActive) Resolve(string) (Baseline, error) { return f.m, f.err }

// Resolve: the command line's roots, else the config file's, else the
// active baseline's scope, else discovery.
func TestResolve(t *testing.T) {
	empty := t.TempDir() // a sysroot where discovery finds nothing
	none := fakeActive{err: store.ErrNotFound}
	active := fakeActive{m: Baseline{ID: 3, Roots: []string{"/srv/b"}, Configs: []string{"nginx:/etc/nginx/nginx.conf"}, HashAllSHA256: true}}
	nginx := []serverconf.Config{{Path: "/etc/apache2/apache2.conf"}}

	r, err := Resolve(Scope{Roots: []string{"/srv/a/", "/srv/a", "/srv/0"}, ConfigRoots: []string{"/srv/c"}, Configs: nginx, Sysroot: empty}, active)
	if err != nil || !slices.Equal(r.Roots, []string{"/srv/0", "/srv/a"}) || !cmp.Equal(r.Configs, nginx) {
		t.Errorf("command line roots: %+v, %v", r.Target, err)
	}
	r, err = Resolve(Scope{ConfigRoots: []string{"/srv/c"}, NoDiscover: true}, active)
	if err != nil || !slices.Equal(r.Roots, []string{"/srv/c"}) || len(r.Configs) != 0 {
		t.Errorf("config file roots: %+v, %v", r.Target, err)
	}
	r, err = Resolve(Scope{}, active)
	if err != nil || !slices.Equal(r.Roots, []string{"/srv/b"}) || !r.HashAllSHA256 ||
		!cmp.Equal(r.Configs, []serverconf.Config{{Server: "nginx", Path: "/etc/nginx/nginx.conf"}}) {
		t.Errorf("active baseline's scope: %+v, %v", r.Target, err)
	}
	r, err = Resolve(Scope{Configs: nginx}, active)
	if err != nil || !cmp.Equal(r.Configs, nginx) {
		t.Errorf("the config file's configs win over the baseline's: %+v, %v", r.Configs, err)
	}
	// A sysroot is another system: its baseline scope does not apply.
	if _, err := Resolve(Scope{Sysroot: empty}, active); !errors.Is(err, ErrNoRoots) {
		t.Errorf("sysroot without roots: %v, want ErrNoRoots", err)
	}
	if _, err := Resolve(Scope{Sysroot: empty}, none); !errors.Is(err, ErrNoRoots) {
		t.Errorf("nothing names a root: %v, want ErrNoRoots", err)
	}
	broken := fakeActive{err: errors.New("database damaged")}
	if _, err := Resolve(Scope{}, broken); err == nil || errors.Is(err, ErrNoRoots) {
		t.Errorf("an unreadable database: %v, want its error", err)
	}
	// Over: a comparison with a stored baseline covers what it covered.
	cfgScope := Scope{ScriptExtensions: []string{"php"}, Configs: nginx}
	tg := cfgScope.Over(TargetOf(active.m))
	if !slices.Equal(tg.Roots, []string{"/srv/b"}) || !cmp.Equal(tg.Configs, nginx) || !slices.Equal(tg.ScriptExtensions, []string{"php"}) || !tg.HashAllSHA256 {
		t.Errorf("Over: %+v", tg)
	}
	if tg := (Scope{}).Over(TargetOf(active.m)); len(tg.Configs) != 1 || tg.Configs[0].Server != "nginx" {
		t.Errorf("Over without a config file: %+v", tg)
	}
}
