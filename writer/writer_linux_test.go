package writer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"webfim/internal/itest"
	"webfim/proc"
)

func startMonitor(t *testing.T, src proc.Source) *proc.Monitor {
	t.Helper()
	m, err := proc.Start(context.Background(), proc.Options{Sources: []proc.Source{src}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if m.Status().Source != src {
		t.Fatalf("source %v did not start: %v", src, m.Status())
	}
	return m
}

func newTracker(t *testing.T, roots []string, mon *proc.Monitor) *Tracker {
	t.Helper()
	tr := New(roots, mon, Options{})
	t.Cleanup(func() { tr.Close() })
	if st := tr.Status(); !st.Available() {
		t.Fatalf("tracker unavailable: %v", st)
	}
	return tr
}

// asUser runs the command as uid (0: as the test).
func asUser(c *exec.Cmd, uid uint32) *exec.Cmd {
	if uid != 0 {
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	}
	return c
}

// TestAttributionAccuracy is the measure: 400 short-lived writers
// `sh -c 'echo x > f'`, half as uid 33; the fraction whose file carries
// the writer's argv and uid, for each exec source.
func TestAttributionAccuracy(t *testing.T) {
	itest.RequireRoot(t, "fanotify and the exec sources")
	for _, tc := range []struct {
		src  proc.Source
		want float64
	}{{proc.SourceEBPF, 0.99}, {proc.SourceConnector, 0.80}} {
		t.Run(tc.src.String(), func(t *testing.T) {
			mon := startMonitor(t, tc.src)
			dir := itest.SharedDir(t)
			tr := newTracker(t, []string{dir}, mon)
			const n = 400
			for i := range n {
				f := filepath.Join(dir, fmt.Sprintf("w_%d", i))
				if err := asUser(exec.Command("/bin/sh", "-c", "echo x > "+f), uint32(33*(i%2))).Run(); err != nil {
					t.Fatal(err)
				}
			}
			good := 0
			var bad []string
			for i := range n {
				name := fmt.Sprintf("w_%d", i)
				rec, ok := tr.Lookup(dir, name)
				var p *proc.Process
				if ok && rec.Created != nil {
					p = rec.Created.Process
				}
				if p != nil && strings.Contains(p.CommandLine(), name) && p.UID == uint32(33*(i%2)) && rec.Written != nil && rec.Written.Process == p {
					good++
				} else if len(bad) < 5 {
					bad = append(bad, fmt.Sprintf("%s: %+v", name, p))
				}
			}
			frac := float64(good) / n
			t.Logf("source %s: %d/%d writers attributed with the right argv and uid (%.1f%%); tracker %+v; monitor %+v",
				tc.src, good, n, 100*frac, tr.Stats(), mon.Stats())
			if frac < tc.want {
				t.Errorf("%.1f%% attributed, want at least %.0f%%; first misses:\n%s", 100*frac, 100*tc.want, strings.Join(bad, "\n"))
			}
		})
	}
}

func TestLookupReadsQueuedEvents(t *testing.T) {
	itest.RequireRoot(t, "fanotify")
	mon := startMonitor(t, proc.SourceEBPF)
	dir := t.TempDir()
	tr := newTracker(t, []string{dir}, mon)
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	// No sleep: Lookup must read what is queued itself.
	if err := exec.Command("/bin/sh", "-c", "echo '<?php' > "+sub+"/.tmp && mv "+sub+"/.tmp "+sub+"/a.php && rm "+sub+"/a.php && echo x > "+sub+"/b.php").Run(); err != nil {
		t.Fatal(err)
	}
	rec, ok := tr.Lookup(dir, "sub/a.php")
	if !ok || rec.Created == nil || rec.Created.Op != OpRename || rec.Removed == nil || rec.Removed.Op != OpDelete {
		t.Fatalf("a.php: %+v", rec)
	}
	if p := rec.Created.Process; p == nil || p.Name() != "mv" {
		t.Errorf("a.php renamed by %+v, want mv", p)
	}
	if p := rec.Written.Process; p == nil || p.Comm != "sh" {
		t.Errorf("a.php content written by %+v, want the sh that wrote .tmp", p)
	}
	if p := rec.Removed.Process; p == nil || p.Name() != "rm" {
		t.Errorf("a.php removed by %+v, want rm", p)
	}
	if rec, ok := tr.Lookup(dir, "sub/b.php"); !ok || rec.Written == nil || rec.Written.Process == nil {
		t.Errorf("b.php: %+v", rec)
	}
	// A directory renamed: later events carry its new path.
	os.Rename(sub, filepath.Join(dir, "moved"))
	exec.Command("/bin/sh", "-c", "echo y > "+dir+"/moved/c.php").Run()
	if _, ok := tr.Lookup(dir, "moved/c.php"); !ok {
		t.Error("no record under a renamed directory")
	}
	if _, ok := tr.Lookup(dir, "sub/c.php"); ok {
		t.Error("record under the directory's former name")
	}
	// Outside the root: nothing.
	other := t.TempDir()
	os.WriteFile(other+"/x", []byte("x"), 0o644)
	if s := tr.Stats(); s.InRoots == 0 || s.Events < s.InRoots {
		t.Errorf("stats %+v", s)
	}
}

// A root on overlayfs is watched through its upper layer; a read-only
// overlay (no upper layer) is reported, and the other roots still work.
func TestOverlayRoots(t *testing.T) {
	itest.RequireRoot(t, "mounting overlayfs")
	base := t.TempDir()
	for _, d := range []string{"lower", "upper", "work", "merged", "ro", "lower2"} {
		os.Mkdir(filepath.Join(base, d), 0o755)
	}
	os.MkdirAll(filepath.Join(base, "lower/www"), 0o755)
	merged, ro := filepath.Join(base, "merged"), filepath.Join(base, "ro")
	opts := fmt.Sprintf("lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", base, base, base)
	if err := syscall.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		itest.Skip(t, "cannot mount overlayfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(merged, syscall.MNT_DETACH) })
	if err := syscall.Mount("overlay", ro, "overlay", 0, fmt.Sprintf("lowerdir=%s/lower:%s/lower2", base, base)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(ro, syscall.MNT_DETACH) })
	mon := startMonitor(t, proc.SourceEBPF)
	root := filepath.Join(merged, "www")
	tr := New([]string{root, ro}, mon, Options{})
	defer tr.Close()
	st := tr.Status()
	if st.Roots[0].Err != nil {
		t.Fatalf("overlay root: %v", st.Roots[0].Err)
	}
	if !errors.Is(st.Roots[1].Err, ErrOverlay) || !strings.Contains(st.Roots[1].Err.Error(), "no upperdir") {
		t.Errorf("read-only overlay: %v, want ErrOverlay (no upperdir)", st.Roots[1].Err)
	}
	if err := asUser(exec.Command("/bin/sh", "-c", "echo x > "+root+"/shell.php"), 0).Run(); err != nil {
		t.Fatal(err)
	}
	rec, ok := tr.Lookup(root, "shell.php")
	if !ok || rec.Created == nil || rec.Created.Process == nil || !strings.Contains(rec.Created.Process.CommandLine(), "shell.php") {
		t.Fatalf("overlay write not attributed: %+v", rec)
	}
	if rec.Path != filepath.Join(root, "shell.php") {
		t.Errorf("path %q is not the overlay's", rec.Path)
	}
}

// Without CAP_SYS_ADMIN: the reason, once, and lookups answer unknown.
func TestUnprivilegedWriter(t *testing.T) {
	itest.RequireRoot(t, "switching to an unprivileged user")
	bin := itest.ExecutableCopy(t)
	c := exec.Command(bin, "-test.run=^TestHelperUnprivilegedWriter$")
	c.Env = append(os.Environ(), "WEBFIM_WRITER_HELPER=1")
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if want := "writer attribution unavailable: fanotify_init: permission denied: needs CAP_SYS_ADMIN"; !strings.Contains(string(out), want) {
		t.Errorf("helper said:\n%s\nwant %q", out, want)
	}
}

func TestHelperUnprivilegedWriter(t *testing.T) {
	if os.Getenv("WEBFIM_WRITER_HELPER") == "" {
		t.Skip("helper process for TestUnprivilegedWriter")
	}
	tr := New([]string{os.TempDir()}, nil, Options{})
	defer tr.Close()
	if !errors.Is(tr.Status().Err, ErrPermission) {
		t.Errorf("err %v, want ErrPermission", tr.Status().Err)
	}
	if _, ok := tr.Lookup(os.TempDir(), "x"); ok {
		t.Error("lookup found something without fanotify")
	}
	fmt.Println(tr.Status())
}
