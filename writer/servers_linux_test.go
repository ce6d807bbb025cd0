package writer

import (
	"testing"

	"webfim/internal/itest"
	"webfim/proc"
)

// A web shell POSTed through a vulnerable upload form: its writer is the
// apache2 worker, as www-data.
func TestApacheUploadWriter(t *testing.T) {
	itest.RequireRoot(t, "fanotify and Apache")
	mon, err := proc.Start(t.Context(), proc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	a := itest.StartApache(t)
	tr := newTracker(t, []string{a.DocRoot}, mon)
	a.Upload(t, "shell.php", itest.WebShell)
	rec, ok := tr.Lookup(a.DocRoot, "up/shell.php")
	if !ok || rec.Created == nil || rec.Written == nil {
		t.Fatalf("no record of up/shell.php: %+v (tracker %v, stats %+v)", rec, tr.Status(), tr.Stats())
	}
	for what, acc := range map[string]*Access{"created": rec.Created, "written": rec.Written} {
		p := acc.Process
		if p == nil {
			t.Errorf("%s by pid %d, unresolved", what, acc.PID)
			continue
		}
		t.Logf("%s (%v) by %s pid %d ppid %d uid %d (%s) via %v", what, acc.Op, p.Executable, p.PID, p.PPID, p.UID, p.User, p.Origin)
		if p.Name() != "apache2" || p.PPID != int32(a.PID) || p.UID != 33 || p.User != "www-data" {
			t.Errorf("%s by %+v, want an apache2 worker (child of %d) as www-data", what, p, a.PID)
		}
	}
}
