package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"webfim/serverconf"
)

// debianSysroot copies serverconf's Debian fixture (Apache with
// mods-enabled symlinks, conf-enabled, ports.conf, module binaries) to a
// temporary sysroot.
func debianSysroot(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fixture holds symbolic links")
	}
	dst := filepath.Join(t.TempDir(), "sysroot")
	if out, err := exec.Command("cp", "-a", "../serverconf/testdata/debian", dst).CombinedOutput(); err != nil {
		t.Fatalf("copying the fixture: %v: %s", err, out)
	}
	return dst
}

func itemFinding(kind serverconf.ChangeKind, itemKind, name string, field string) func(Finding) bool {
	return func(f Finding) bool {
		if f.Item == nil || f.Item.Kind != kind {
			return false
		}
		it := f.Item.New
		if it == nil {
			it = f.Item.Old
		}
		return it.Kind == itemKind && it.Name == name && (field == "" || slices.Contains(f.Item.Fields, field))
	}
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// Issue 12, item 1: the daemon follows every file and directory the
// server configuration was read from, not only the top-level file. With
// the periodic rescans off, each of these is reported live: a new
// conf-enabled/*.conf with a LoadModule, a LoadModule appended to an
// included file (ports.conf), a module binary swapped in place, and a
// binary dropped into the module directory without being loaded. A new
// Include line is followed from the check that saw it.
func TestDaemonWatchesConfigSources(t *testing.T) {
	sys := debianSysroot(t)
	www := filepath.Join(sys, "var/www/html")
	if err := os.MkdirAll(www, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(sys, "etc/apache2/apache2.conf")
	db := openDB(t)
	cfg := testConfig(www)
	cfg.Target.Sysroot = sys
	cfg.Target.Configs = []serverconf.Config{{Server: "apache", Path: conf}}
	makeBaseline(t, db, cfg)
	td := startDaemon(t, db, cfg, Deps{})

	h := func(rel string) string { return filepath.Join(sys, rel) }
	want := []string{h("etc/apache2/conf-enabled"), h("etc/apache2/mods-available"), h("etc/apache2/mods-enabled"), h("usr/lib/apache2/modules")}
	if !waitUntil(waitDeadline, func() bool {
		got := td.currentTree().ConfigDirs()
		for _, w := range want {
			if !slices.Contains(got, w) {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("config directories watched: %v; want at least %v", td.currentTree().ConfigDirs(), want)
	}

	writeFile(t, h("etc/apache2/conf-enabled/evil.conf"), "LoadModule evil_module /usr/lib/apache2/modules/mod_evil_conf.so\n")
	td.sink.waitFor(t, "LoadModule in a new conf-enabled file", itemFinding(serverconf.ItemAdded, "load_module", "evil_module", ""))

	appendTo(t, h("etc/apache2/ports.conf"), "LoadModule ports_module /tmp/ports.so\n")
	td.sink.waitFor(t, "LoadModule appended to ports.conf", itemFinding(serverconf.ItemAdded, "load_module", "ports_module", ""))

	if err := os.WriteFile(h("usr/lib/apache2/modules/mod_status.so"), []byte("trojaned status module"), 0o644); err != nil {
		t.Fatal(err)
	}
	td.sink.waitFor(t, "module binary swapped in place", itemFinding(serverconf.ItemChanged, "load_module", "status_module", "image_blake3"))

	writeFile(t, h("usr/lib/apache2/modules/mod_dropped.so"), "ELF not loaded yet")
	td.sink.waitFor(t, "binary dropped into the module directory", itemFinding(serverconf.ItemAdded, "module_file", "mod_dropped.so", ""))

	// A new include outside every directory followed so far: its file is
	// followed once the Include line was read.
	writeFile(t, filepath.Join(sys, "opt/extra/extra.conf"), "# nothing yet\n")
	appendTo(t, conf, "Include /opt/extra/extra.conf\n")
	if !waitUntil(waitDeadline, func() bool { return slices.Contains(td.currentTree().ConfigDirs(), h("opt/extra")) }) {
		t.Fatalf("the directory of a new include is not watched: %v", td.currentTree().ConfigDirs())
	}
	appendTo(t, h("opt/extra/extra.conf"), "LoadModule extra_module /tmp/extra.so\n")
	td.sink.waitFor(t, "LoadModule in a newly included file", itemFinding(serverconf.ItemAdded, "load_module", "extra_module", ""))
	td.stop(t)
}

// The tree drops the watches of sources no longer needed (an Include
// removed) but never those of a root.
func TestTreeConfigSourcesReplaced(t *testing.T) {
	root := tempRoot(t)
	other := tempRoot(t)
	inRoot := filepath.Join(root, "conf.d")
	if err := os.Mkdir(inRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	n := &removeLog{Notifier: newFaultNotifier(t)}
	tr, err := NewTree(n, TreeOptions{Roots: []string{root}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan Hint, 64)
	go tr.Run(ctx, out)
	<-tr.Ready()
	tr.SetConfigSources(serverconf.Sources{Files: []string{filepath.Join(other, "a.conf")}, Dirs: []string{inRoot}})
	if !waitUntil(waitDeadline, func() bool { return len(tr.ConfigDirs()) == 2 }) {
		t.Fatalf("config dirs %v, want %s and %s", tr.ConfigDirs(), other, inRoot)
	}
	tr.SetConfigSources(serverconf.Sources{})
	if !waitUntil(waitDeadline, func() bool { return len(tr.ConfigDirs()) == 0 }) {
		t.Fatalf("config dirs %v after the sources went", tr.ConfigDirs())
	}
	if n.removed(inRoot) {
		t.Error("the watch of a directory inside a root was removed with the config source")
	}
	if !n.removed(other) {
		t.Error("the watch of a config source outside the roots was kept")
	}
}

// Issue 15: the live registry is not a file: it is not given to the
// tree (whose config files must be absolute paths), and the daemon
// follows it through WatchRegistry, which queues a config check per
// notification. Off Windows it says once that it cannot.
func TestDaemonWatchesRegistry(t *testing.T) {
	root := t.TempDir()
	db := openDB(t)
	cfg := testConfig(root)
	makeBaseline(t, db, cfg)
	cfg.Target.Configs = []serverconf.Config{{Server: "registry", Path: `HKLM\SYSTEM`}}
	var calls atomic.Int32
	notified := make(chan func(), 1)
	old := watchRegistryFunc
	watchRegistryFunc = func(ctx context.Context, changed func()) error {
		calls.Add(1)
		notified <- changed
		<-ctx.Done()
		return ctx.Err()
	}
	t.Cleanup(func() { watchRegistryFunc = old })
	logs := &syncBuffer{}
	td := startDaemon(t, db, cfg, Deps{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	var changed func()
	select {
	case changed = <-notified:
	case <-time.After(waitDeadline):
		t.Fatal("WatchRegistry was not started for a live registry config")
	}
	before := td.metrics.configChecks()
	changed()
	if !waitUntil(waitDeadline, func() bool { return td.metrics.configChecks() > before }) {
		t.Fatal("a registry notification queued no config check")
	}
	td.stop(t)
	if calls.Load() != 1 {
		t.Errorf("WatchRegistry called %d times", calls.Load())
	}

	watchRegistryFunc = func(ctx context.Context, changed func()) error { return errors.ErrUnsupported }
	logs = &syncBuffer{}
	td = startDaemon(t, db, cfg, Deps{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if !waitUntil(waitDeadline, func() bool { return strings.Contains(logs.String(), "cannot be watched on this system") }) {
		t.Errorf("no warning that the registry cannot be watched:\n%s", logs.String())
	}
	td.stop(t)
}

// removeLog records the watches removed.
type removeLog struct {
	Notifier
	mu   sync.Mutex
	gone []string
}

func (r *removeLog) Remove(p string) error {
	r.mu.Lock()
	r.gone = append(r.gone, p)
	r.mu.Unlock()
	return r.Notifier.Remove(p)
}

func (r *removeLog) removed(p string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.gone, p)
}

// Issue 12, item 1, on Debian's real Apache layout: /etc/apache2 and the
// module directory copied under a temporary sysroot, changed with the
// real a2enmod and a2enconf (APACHE_CONFDIR points them at the copy).
// Each is reported live, with the periodic rescans off.
func TestDaemonRealApacheLayout(t *testing.T) {
	a2enmod, err1 := exec.LookPath("a2enmod")
	a2enconf, err2 := exec.LookPath("a2enconf")
	_, err3 := os.Stat("/etc/apache2/apache2.conf")
	if err := errors.Join(err1, err2, err3); err != nil {
		if os.Getenv("WEBFIM_REQUIRE_INTEGRATION") != "" {
			t.Fatalf("Apache missing (%v), and WEBFIM_REQUIRE_INTEGRATION is set (.ci/run installs apache2)", err)
		}
		t.Skipf("needs Debian's apache2 (a2enmod, /etc/apache2): %v", err)
	}
	sys := filepath.Join(t.TempDir(), "sysroot")
	for _, d := range []string{"etc/apache2", "usr/lib/apache2/modules"} {
		dst := filepath.Join(sys, d)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cp", "-a", "/"+d, dst).CombinedOutput(); err != nil {
			t.Fatalf("copying /%s: %v: %s", d, err, out)
		}
	}
	confdir := filepath.Join(sys, "etc/apache2")
	// A module available and not enabled, for a2enmod.
	var mod string
	avail, _ := filepath.Glob(filepath.Join(confdir, "mods-available/*.load"))
	for _, a := range avail {
		name := strings.TrimSuffix(filepath.Base(a), ".load")
		if _, err := os.Lstat(filepath.Join(confdir, "mods-enabled", name+".load")); err == nil {
			continue
		}
		body, _ := os.ReadFile(a)
		if strings.Contains(string(body), "LoadModule "+name+"_module") {
			mod = name
			break
		}
	}
	www := filepath.Join(sys, "var/www/html")
	writeFile(t, filepath.Join(www, "index.html"), "hi")
	db := openDB(t)
	cfg := testConfig(www)
	cfg.Target.Sysroot = sys
	cfg.Target.Configs = []serverconf.Config{{Server: "apache", Path: filepath.Join(confdir, "apache2.conf")}}
	makeBaseline(t, db, cfg)
	td := startDaemon(t, db, cfg, Deps{})
	if !waitUntil(waitDeadline, func() bool {
		return slices.Contains(td.currentTree().ConfigDirs(), filepath.Join(confdir, "conf-enabled"))
	}) {
		t.Fatalf("conf-enabled not watched: %v", td.currentTree().ConfigDirs())
	}
	run := func(bin string, args ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "APACHE_CONFDIR="+confdir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v: %s", bin, args, err, out)
		}
	}
	if mod != "" {
		run(a2enmod, "-q", mod)
		td.sink.waitFor(t, "a2enmod "+mod, itemFinding(serverconf.ItemAdded, "load_module", mod+"_module", ""))
	} else {
		t.Log("every module is enabled here: a2enmod not exercised")
	}
	writeFile(t, filepath.Join(confdir, "conf-available/zz-evil.conf"), "LoadModule evil_module /usr/lib/apache2/modules/mod_evil.so\n")
	run(a2enconf, "-q", "zz-evil")
	td.sink.waitFor(t, "a2enconf zz-evil", itemFinding(serverconf.ItemAdded, "load_module", "evil_module", ""))
	td.stop(t)
}

// Issue 15: the warnings of an inventory (here a module directory listed
// only in part; a hive's unreplayed transaction logs alike) are logged by
// the daemon's config checks, once per file and text however many checks
// read it.
func TestDaemonLogsInventoryWarningsOnce(t *testing.T) {
	sys := debianSysroot(t)
	mods := filepath.Join(sys, "usr/lib/apache2/modules")
	for i := range 4100 {
		if err := os.WriteFile(filepath.Join(mods, fmt.Sprintf("mod_x%04d.so", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	www := filepath.Join(sys, "var/www/html")
	writeFile(t, filepath.Join(www, "index.html"), "hi")
	conf := filepath.Join(sys, "etc/apache2/apache2.conf")
	db := openDB(t)
	cfg := testConfig(www)
	cfg.Target.Sysroot = sys
	cfg.Target.Configs = []serverconf.Config{{Server: "apache", Path: conf}}
	makeBaseline(t, db, cfg)
	logs := &syncBuffer{}
	td := startDaemon(t, db, cfg, Deps{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	const msg = "server configuration inventory may be incomplete"
	if !waitUntil(waitDeadline, func() bool { return strings.Contains(logs.String(), msg) }) {
		t.Fatalf("no inventory warning logged:\n%s", logs.String())
	}
	before := td.metrics.configChecks()
	appendTo(t, conf, "# touched\n")
	if !waitUntil(waitDeadline, func() bool { return td.metrics.configChecks() > before }) {
		t.Fatal("no config check after the edit")
	}
	td.stop(t)
	if n := strings.Count(logs.String(), msg); n != 1 {
		t.Errorf("inventory warning logged %d times, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "more than 4096 files in the module directories") {
		t.Errorf("the warning does not say what: %s", logs.String())
	}
}
