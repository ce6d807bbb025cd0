package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"webfim/internal/itest"
)

// runWatchWithCaps runs webfim watch on a new root with only the given
// capabilities (setpriv's bounding set: root gets no others), writes a
// script into the root through a shell, and returns the daemon's log and
// documents once the script's finding is in.
func runWatchWithCaps(t *testing.T, caps []string) (log string, docs []map[string]any) {
	t.Helper()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		itest.Skip(t, "setpriv (util-linux) is not installed")
	}
	webfim, err := exec.LookPath("webfim")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "www")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "webfim.yml")
	if err := os.WriteFile(conf, []byte("roots:\n  - path: "+root+"\nconfigs: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "WEBFIM_DB="+filepath.Join(dir, "webfim.db"))
	create := exec.Command(webfim, "--config", conf, "baseline", "create", "--no-discover")
	create.Env = env
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("baseline create: %v\n%s", err, out)
	}
	bounding := "-all"
	for _, c := range caps {
		bounding += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}
	alerts := filepath.Join(dir, "alerts.ndjson")
	var logs syncWriter
	daemon := exec.Command(setpriv, "--bounding-set", bounding, "--", webfim, "--config", conf, "watch", "--no-discover", "--output", "file:"+alerts)
	daemon.Env = env
	daemon.Stderr = &logs
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		daemon.Process.Signal(syscall.SIGTERM)
		daemon.Wait()
	}()
	if !waitUntilTrue(30*time.Second, func() bool { return strings.Contains(logs.String(), "msg=watching") }) {
		t.Fatalf("the daemon did not start watching:\n%s", logs.String())
	}
	if out, err := exec.Command("sh", "-c", "echo '<?php' > "+filepath.Join(root, "dropped.php")).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	waitUntilTrue(30*time.Second, func() bool {
		docs = readDocs(t, alerts)
		for _, d := range docs {
			if d["file.name"] == "dropped.php" {
				return true
			}
		}
		return false
	})
	return logs.String(), docs
}

func docWith(docs []map[string]any, key string, value any) map[string]any {
	for _, d := range docs {
		if d[key] == value {
			return d
		}
	}
	return nil
}

// The capabilities of the systemd unit suffice for the best mechanisms:
// the eBPF exec source and fanotify on every root, nothing degraded.
func TestWatchWithUnitCapabilities(t *testing.T) {
	itest.RequireRoot(t, "running the daemon with the systemd unit's capabilities")
	log, docs := runWatchWithCaps(t, unitCapabilities)
	if !strings.Contains(log, "processes: ebpf; writers: fanotify on 1 of 1 roots") || strings.Contains(log, "attribution degraded") {
		t.Errorf("with the unit's capabilities, attribution is not complete:\n%s", log)
	}
	f := docWith(docs, "file.name", "dropped.php")
	if f == nil {
		t.Fatalf("no finding for dropped.php:\n%s", log)
	}
	if name := f["process.name"]; name != "dash" && name != "sh" && name != "bash" {
		t.Errorf("dropped.php written by %v, want the shell", name)
	}
	if d := docWith(docs, "event.action", "attribution-degraded"); d != nil {
		t.Errorf("degraded event with the unit's capabilities: %v", d["message"])
	}
}

// With the capability to read files only (the unit without its
// attribution capabilities): the daemon runs, alerts without writer
// fields, and says why, in its log and as one operational event per
// mechanism.
func TestWatchWithoutAttributionCapabilities(t *testing.T) {
	itest.RequireRoot(t, "running the daemon with reduced capabilities")
	log, docs := runWatchWithCaps(t, []string{"CAP_DAC_READ_SEARCH"})
	f := docWith(docs, "file.name", "dropped.php")
	if f == nil {
		t.Fatalf("no finding for dropped.php without attribution capabilities:\n%s", log)
	}
	if f["event.kind"] != "alert" || f["process.pid"] != nil {
		t.Errorf("dropped.php: kind %v, process.pid %v: want an alert without writer fields", f["event.kind"], f["process.pid"])
	}
	var writer, process map[string]any
	for _, d := range docs {
		if d["event.action"] != "attribution-degraded" {
			continue
		}
		switch d["webfim.attribution.mechanism"] {
		case "writer":
			writer = d
		case "process":
			process = d
		}
	}
	if writer == nil || !strings.Contains(writer["event.reason"].(string), "needs CAP_SYS_ADMIN") {
		t.Errorf("writer degradation: %v\nlog:\n%s", writer, log)
	}
	if process == nil || !strings.Contains(process["event.reason"].(string), "ebpf: ") {
		t.Errorf("process degradation: %v\nlog:\n%s", process, log)
	}
	for _, want := range []string{`msg="attribution degraded" mechanism=writer`, `msg="attribution degraded" mechanism=process`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}
