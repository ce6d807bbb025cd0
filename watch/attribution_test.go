package watch

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"webfim/alert"
	"webfim/baseline"
	"webfim/policy"
	"webfim/proc"
	"webfim/store"
)

// fakeAttribution stands in for package attribution: the test says who
// wrote which path and which spawns happen.
type fakeAttribution struct {
	mu      sync.Mutex
	writers map[string]*alert.FileProcesses // by root/rel
	status  AttributionStatus
	watched [][]string
	spawns  chan alert.Spawn
	dropped uint64
}

func newFakeAttribution(st AttributionStatus) *fakeAttribution {
	return &fakeAttribution{writers: map[string]*alert.FileProcesses{}, status: st, spawns: make(chan alert.Spawn, 8)}
}

func (f *fakeAttribution) Watch(roots []string) AttributionStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watched = append(f.watched, roots)
	return f.status
}

func (f *fakeAttribution) File(root, rel string) *alert.FileProcesses {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writers[root+"/"+rel]
}

func (f *fakeAttribution) wrote(root, rel string, fp *alert.FileProcesses) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writers[root+"/"+rel] = fp
}

func (f *fakeAttribution) Spawns() <-chan alert.Spawn { return f.spawns }
func (f *fakeAttribution) SpawnsDropped() uint64      { return f.dropped }

func process(pid int32, exe, user string, uid uint32, args ...string) *proc.Process {
	return &proc.Process{PID: pid, Start: uint64(pid) * 10, Executable: exe, Comm: filepath.Base(exe), Args: args,
		UID: uid, EUID: uid, User: user, EffectiveUser: user, Origin: proc.OriginExec}
}

var (
	apacheWorker = process(6065, "/usr/sbin/apache2", "www-data", 33, "/usr/sbin/apache2", "-k", "start")
	rsyncProcess = process(4100, "/usr/bin/rsync", "deploy", 1001, "rsync", "-a", "build/", "/srv/www/")
)

func wroteBy(p *proc.Process, server bool) *alert.FileProcesses {
	a := &alert.Actor{PID: p.PID, Process: p, Op: "write"}
	if server {
		a.Server, a.ServerKind = p, "web server"
	}
	return &alert.FileProcesses{Created: a, Written: a}
}

// openWindow is the policy with a deploy window open at all times.
type openWindow struct{ *policy.Policy }

func (openWindow) WindowAt(t time.Time, _ []policy.Window) *policy.Window {
	return &policy.Window{Label: "release", By: "jenkins", Start: t.Add(-time.Minute), End: t.Add(time.Hour)}
}

// Inside a deploy window, with allowed_writers: [rsync], the files rsync
// writes are expected and the one the apache2 worker writes is an
// alert, with the worker in its processes; a spawn is reported as its
// own finding.
func TestDaemonAttribution(t *testing.T) {
	root := tempRoot(t)
	writeFile(t, filepath.Join(root, "index.php"), "<?php")
	db := openDB(t)
	cfg := testConfig(root)
	makeBaseline(t, db, cfg)
	attr := newFakeAttribution(AttributionStatus{Summary: "processes: ebpf; writers: fanotify on 1 of 1 roots"})
	pol := policy.Default()
	pol.AllowedWriters = []string{"rsync"}
	td := startDaemon(t, db, cfg, Deps{Attribution: attr, Judge: openWindow{pol}})

	attr.wrote(root, "release.php", wroteBy(rsyncProcess, false))
	writeFile(t, filepath.Join(root, "release.php"), "<?php // v2")
	attr.wrote(root, "shell.php", wroteBy(apacheWorker, true))
	writeFile(t, filepath.Join(root, "shell.php"), "<?php system($_GET['c']);")

	rel := td.sink.waitFor(t, "release.php", fileFinding(baseline.Added, "release.php"))
	if rel.Verdict.Alert || rel.Verdict.Window == nil || rel.Processes == nil || rel.Processes.Written.Process != rsyncProcess {
		t.Errorf("release.php by rsync in a window: alert=%v window=%v processes=%+v (%s)", rel.Verdict.Alert, rel.Verdict.Window, rel.Processes, rel.Verdict.Reason)
	}
	sh := td.sink.waitFor(t, "shell.php", fileFinding(baseline.Added, "shell.php"))
	if !sh.Verdict.Alert || sh.Verdict.Severity < policy.High || !strings.Contains(sh.Verdict.Reason, `written by "apache2" (pid 6065, www-data)`) {
		t.Errorf("shell.php by apache2 in a window: %+v", sh.Verdict)
	}
	if sh.Processes == nil || sh.Processes.Written.Process != apacheWorker {
		t.Errorf("shell.php: processes %+v", sh.Processes)
	}

	// A file nobody is known to have written: the window covers it
	// (trust_unknown_writers, the default).
	writeFile(t, filepath.Join(root, "unknown.php"), "<?php")
	unk := td.sink.waitFor(t, "unknown.php", fileFinding(baseline.Added, "unknown.php"))
	if unk.Verdict.Alert || unk.Processes != nil {
		t.Errorf("unknown writer: alert=%v processes=%+v (%s)", unk.Verdict.Alert, unk.Processes, unk.Verdict.Reason)
	}

	shell := process(6080, "/usr/bin/dash", "www-data", 33, "sh", "-c", "whoami")
	tool := process(6081, "/usr/bin/whoami", "www-data", 33, "whoami")
	attr.spawns <- alert.Spawn{Process: tool, Parent: shell, Server: apacheWorker, ServerKind: "web server", Depth: 2,
		Tool: "reconnaissance", Chain: []*proc.Process{apacheWorker, shell, tool}, LineageID: "l1"}
	sp := td.sink.waitFor(t, "spawn", func(f Finding) bool { return f.Spawn != nil })
	if !sp.Verdict.Alert || sp.Verdict.RuleID != policy.RuleServerSpawn || sp.Verdict.Window != nil || sp.ID == "" || sp.EventID != sp.ID {
		t.Errorf("spawn finding: %+v", sp)
	}
	if !strings.Contains(sp.Verdict.Reason, "apache2(6065) -> dash(6080) -> whoami(6081)") {
		t.Errorf("spawn reason %q does not give the chain", sp.Verdict.Reason)
	}
	if got := counterValue(t, td.Daemon, `webfim_alerts_total{kind="alert",rule="`+policy.RuleServerSpawn+`"}`); got != 1 {
		t.Errorf("spawn alerts counted %v", got)
	}
	td.stop(t)
}

// A mechanism that does not work is reported once per run (a notice for
// the operational event, a warning, the gauge), and again only when the
// reason changes; the gauge goes back to 0 when it works.
func TestDaemonAttributionDegraded(t *testing.T) {
	root := tempRoot(t)
	db := openDB(t)
	cfg := testConfig(root)
	makeBaseline(t, db, cfg)
	const reason = "fanotify_init: operation not permitted: needs CAP_SYS_ADMIN"
	attr := newFakeAttribution(AttributionStatus{Summary: "processes: connector; writers: unavailable",
		Degraded: []Degradation{{Mechanism: alert.MechanismWriter, Reason: reason}}})
	td := startDaemon(t, db, cfg, Deps{Attribution: attr})
	n := td.sink.waitNotice(t, NoticeAttributionDegraded)
	if n.Mechanism != alert.MechanismWriter || n.Message != reason || n.Status != attr.status.Summary {
		t.Errorf("notice %+v", n)
	}
	gauge := func(m string) float64 {
		return counterValue(t, td.Daemon, `webfim_attribution_degraded{mechanism="`+m+`"}`)
	}
	if gauge(alert.MechanismWriter) != 1 || gauge(alert.MechanismProcess) != 0 {
		t.Errorf("gauge writer=%v process=%v", gauge(alert.MechanismWriter), gauge(alert.MechanismProcess))
	}
	notices := func() int {
		td.sink.mu.Lock()
		defer td.sink.mu.Unlock()
		c := 0
		for _, n := range td.sink.notices {
			if n.Kind == NoticeAttributionDegraded {
				c++
			}
		}
		return c
	}
	// The same state again (a reload): no second event.
	td.startAttribution(t.Context(), []string{root})
	if c := notices(); c != 1 {
		t.Errorf("%d degraded notices after a reload with the same reason, want 1", c)
	}
	// Writers work again: the gauge says so, nothing more is reported.
	attr.mu.Lock()
	attr.status = AttributionStatus{Summary: "processes: ebpf; writers: fanotify on 1 of 1 roots"}
	attr.mu.Unlock()
	td.startAttribution(t.Context(), []string{root})
	if gauge(alert.MechanismWriter) != 0 || notices() != 1 {
		t.Errorf("recovered: gauge %v, %d notices", gauge(alert.MechanismWriter), notices())
	}
	if len(attr.watched) < 1 || attr.watched[0][0] != root {
		t.Errorf("Watch called with %v", attr.watched)
	}
	td.stop(t)
}

// Without attribution the gauge is not exported: the daemon does not
// claim a state it does not know.
func TestDaemonWithoutAttribution(t *testing.T) {
	root := tempRoot(t)
	db := openDB(t)
	cfg := testConfig(root)
	makeBaseline(t, db, cfg)
	td := startDaemon(t, db, cfg, Deps{})
	writeFile(t, filepath.Join(root, "a.php"), "<?php")
	f := td.sink.waitFor(t, "a.php", fileFinding(baseline.Added, "a.php"))
	if f.Processes != nil {
		t.Errorf("processes without attribution: %+v", f.Processes)
	}
	rec := httptest.NewRecorder()
	td.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if body := rec.Body.String(); !strings.Contains(body, "webfim_alerts_total") || strings.Contains(body, "webfim_attribution_") {
		t.Errorf("attribution metrics exported without attribution:\n%s", body)
	}
	td.stop(t)
}

// A deploy window opened before the daemon starts covers its catch-up
// scan and first changes, not only what follows the first poll of the
// database.
func TestDaemonWindowOpenBeforeStart(t *testing.T) {
	root := tempRoot(t)
	db := openDB(t)
	cfg := testConfig(root)
	cfg.PollInterval = time.Hour
	makeBaseline(t, db, cfg)
	now := time.Now()
	if _, err := db.StartWindow(store.Window{Label: "v3", By: "ci", Start: now.Add(-time.Minute), End: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "while-down.php"), "<?php")
	td := startDaemon(t, db, cfg, Deps{})
	f := td.sink.waitFor(t, "catch-up of while-down.php", fileFinding(baseline.Added, "while-down.php"))
	if f.Verdict.Alert || f.Verdict.Window == nil || f.Verdict.Window.Label != "v3" {
		t.Errorf("catch-up inside a window opened before the start: alert=%v window=%v (%s)", f.Verdict.Alert, f.Verdict.Window, f.Verdict.Reason)
	}
	writeFile(t, filepath.Join(root, "live.php"), "<?php")
	if f := td.sink.waitFor(t, "live.php", fileFinding(baseline.Added, "live.php")); f.Verdict.Alert {
		t.Errorf("live change inside the window: %s", f.Verdict.Reason)
	}
	td.stop(t)
}

// A script that came and went before its check (webfim-021) still names
// the process that wrote it, as a finding of a file that stayed does.
func TestDaemonTransientScriptWriter(t *testing.T) {
	root := tempRoot(t)
	writeFile(t, filepath.Join(root, "up", ".keep"), "")
	db := openDB(t)
	cfg := testConfig(root)
	makeBaseline(t, db, cfg)
	attr := newFakeAttribution(AttributionStatus{Summary: "processes: ebpf; writers: fanotify on 1 of 1 roots"})
	attr.wrote(root, "up/s.php", wroteBy(apacheWorker, true))
	td := startDaemon(t, db, cfg, Deps{Attribution: attr})

	p := filepath.Join(root, "up/s.php")
	writeFile(t, p, "<?php system($_GET['c']); unlink(__FILE__);")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	f := td.sink.waitFor(t, "transient up/s.php", fileFinding(baseline.Transient, "up/s.php"))
	if f.Verdict.RuleID != "webfim-021" {
		t.Errorf("verdict %+v, want webfim-021", f.Verdict)
	}
	if a := f.Processes.Actor(baseline.Transient); a == nil || a.Process != apacheWorker {
		t.Errorf("processes %+v, want the apache2 worker as writer", f.Processes)
	}
}
