package attribution

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"webfim/baseline"
	"webfim/internal/itest"
)

// A stand-in server (a copy of the shell named nginx) runs a shell that
// runs id and writes a file under the root, then runs that file: the
// spawns of the shell and of id share one lineage id; the written file
// names the shell as its writer and carries the same id; the spawn of the
// script names it as a file it ran.
func TestServiceSpawnsAndWriters(t *testing.T) {
	itest.RequireRoot(t, "process attribution (eBPF or the process connector, fanotify)")
	root := t.TempDir()
	bin := t.TempDir()
	nginx := filepath.Join(bin, "nginx")
	copyFile(t, "/bin/sh", nginx)

	s, err := Start(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := s.Watch([]string{root})
	t.Logf("attribution: %s", st.Summary())
	if !st.Writer.Available() {
		t.Fatalf("writer attribution unavailable as root: %v", st.Degraded())
	}
	script := filepath.Join(root, "x.sh")
	// nginx -c '...' runs sh, which writes the script and runs id and the
	// script (each command a child: sh -c with several commands forks).
	cmd := exec.Command(nginx, "-c", "sh -c 'echo id > "+script+"; chmod +x "+script+"; id >/dev/null; "+script+" >/dev/null; true'")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var spawns []string
	lineages := map[string]bool{}
	ranScript := false
	deadline := time.After(10 * time.Second)
	for !ranScript || len(spawns) < 3 {
		select {
		case sp := <-s.Spawns():
			spawns = append(spawns, sp.ChainString())
			lineages[sp.LineageID] = true
			if sp.Server == nil || sp.Server.Name() != "nginx" || sp.ServerKind != "web server" {
				t.Errorf("spawn %s: server %v (%s)", sp.ChainString(), sp.Server, sp.ServerKind)
			}
			for _, f := range sp.Files {
				if f == script {
					ranScript = true
				}
			}
		case <-deadline:
			t.Fatalf("spawns after 10 s: %q (script run seen: %v)", spawns, ranScript)
		}
	}
	if len(lineages) != 1 {
		t.Errorf("spawns %q have %d lineage ids, want one", spawns, len(lineages))
	}
	fp := s.File(root, "x.sh")
	if fp == nil || fp.Created == nil || fp.Created.Process == nil {
		t.Fatalf("no creator for x.sh: %+v", fp)
	}
	if name := fp.Created.Process.Name(); name != "dash" && name != "sh" && name != "bash" {
		t.Errorf("x.sh created by %s, want the shell", name)
	}
	if fp.Created.Server == nil || fp.Created.Server.Name() != "nginx" {
		t.Errorf("x.sh's creator is not known to run below nginx: %+v", fp.Created.Server)
	}
	for id := range lineages {
		if fp.LineageID != id {
			t.Errorf("x.sh carries lineage id %q, the spawns %q", fp.LineageID, id)
		}
	}
	if w := fp.Writer(baseline.Added); w == nil || w.Server != "nginx" {
		t.Errorf("policy writer %+v, want a process of server nginx", w)
	}
	if !strings.Contains(strings.Join(spawns, " "), "nginx(") {
		t.Errorf("chains %q do not start at nginx", spawns)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
