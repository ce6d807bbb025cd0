package lineage

import (
	"context"
	"strings"
	"testing"
	"time"

	"webfim/internal/itest"
	"webfim/proc"
)

// startDetector runs a monitor with the best exec source, marks and the
// default rules; findings arrive on the channel.
func startDetector(t *testing.T) (*proc.Monitor, <-chan Finding) {
	t.Helper()
	rules, err := NewRules(0, DefaultAllow)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan Finding, 256)
	mon, err := proc.Start(context.Background(), proc.Options{
		Table: proc.TableOptions{IsServer: IsServer},
		OnExec: rules.Hook(func(f Finding) {
			select {
			case ch <- f:
			default:
			}
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Close() })
	t.Logf("exec source: %v", mon.Status())
	return mon, ch
}

// awaitFinding waits for a finding whose process has this name below the
// server whose main process is server (itself or one of its children:
// other packages' tests run their own servers at the same time, and the
// detector sees the whole machine); the findings read meanwhile are kept
// in seen for later calls.
func awaitFinding(t *testing.T, mon *proc.Monitor, ch <-chan Finding, seen *[]Finding, name string, server int) Finding {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, f := range *seen {
			if f.Process.Name() == name && f.Server != nil && (int(f.Server.PID) == server || int(f.Server.PPID) == server) {
				return f
			}
		}
		if time.Now().After(deadline) {
			var got []string
			for _, f := range *seen {
				got = append(got, f.String())
			}
			t.Fatalf("no finding for %s; saw %q", name, got)
		}
		mon.Sync()
		select {
		case f := <-ch:
			*seen = append(*seen, f)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// The seed's Atomic test 4 analogue: a web shell uploaded through a
// vulnerable form, then ?c=whoami: apache2 -> sh -> whoami.
func TestApacheWebShellLineage(t *testing.T) {
	mon, ch := startDetector(t)
	a := itest.StartApache(t)
	if got := a.Upload(t, "shell.php", itest.WebShell); !strings.Contains(got, "stored up/shell.php") {
		t.Fatalf("upload: %q", got)
	}
	if out := a.Shell(t, "shell.php", "whoami"); strings.TrimSpace(out) != "www-data" {
		t.Fatalf("whoami through the shell: %q", out)
	}
	var seen []Finding
	f := awaitFinding(t, mon, ch, &seen, "whoami", a.PID)
	t.Logf("finding: %s (server %s, depth %d)", f, f.Kind, f.Depth)
	if f.Server.Name() != "apache2" || f.Kind != KindWebServer || f.Tool != KindRecon || f.Depth != 2 {
		t.Errorf("finding %s: server %s kind %q tool %q depth %d", f, f.Server.Name(), f.Kind, f.Tool, f.Depth)
	}
	if f.Server.PPID != int32(a.PID) || f.Server.UID != 33 || f.Server.User != "www-data" {
		t.Errorf("server ancestor %+v is not a www-data worker of apache2 %d", f.Server, a.PID)
	}
	if len(f.Chain) != 3 || f.Chain[1].Comm != "sh" || f.Process.UID != 33 {
		t.Errorf("chain %s (process uid %d), want apache2 -> sh -> whoami as uid 33", f, f.Process.UID)
	}
	if sh := awaitFinding(t, mon, ch, &seen, "dash", a.PID); sh.Depth != 1 || !strings.Contains(sh.Process.CommandLine(), "whoami") {
		t.Errorf("the shell itself: %s %q", sh, sh.Process.CommandLine())
	}
}

// The seed's Atomic test 2 analogue: COPY ... TO PROGRAM from a private
// cluster: postgres -> sh -> id.
func TestPostgresCopyToProgramLineage(t *testing.T) {
	mon, ch := startDetector(t)
	pg := itest.StartPostgres(t)
	if out, err := pg.SQL("COPY (SELECT 1) TO PROGRAM 'id'"); err != nil {
		t.Fatalf("COPY TO PROGRAM: %v: %s", err, out)
	}
	var seen []Finding
	f := awaitFinding(t, mon, ch, &seen, "id", pg.PID)
	t.Logf("finding: %s (server %s, depth %d)", f, f.Kind, f.Depth)
	if f.Server.Name() != "postgres" || f.Kind != KindDatabase || f.Depth != 2 || len(f.Chain) != 3 || f.Chain[1].Comm != "sh" {
		t.Errorf("finding %s: server %s kind %q depth %d", f, f.Server.Name(), f.Kind, f.Depth)
	}
	if f.Process.User != "postgres" {
		t.Errorf("id ran as %q, want postgres", f.Process.User)
	}
}
