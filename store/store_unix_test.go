//go:build unix

package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"webfim/baseline"
)

func TestFileModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "state", "webfim")
	path := filepath.Join(dir, "webfim.db")
	if _, err := Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700 | os.ModeDir} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode(), want)
		}
	}
}

func TestLockedByAnotherProcess(t *testing.T) {
	db := openTemp(t)
	timeout := 300 * time.Millisecond
	db, err := Open(db.Path(), Options{LockTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	child := startChild(t, "hold", db.Path())
	for name, op := range map[string]func() error{
		"Open":     func() error { _, err := Open(db.Path(), Options{LockTimeout: timeout}); return err },
		"List":     func() error { _, err := db.List(); return err },
		"MarkSeen": func() error { return db.MarkSeen("x", time.Now()) },
	} {
		start := time.Now()
		err := op()
		took := time.Since(start)
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("%s while another process holds the file: %v, want ErrLocked", name, err)
		}
		want := "database " + db.Path() + " is locked by another process (waited 300ms)"
		if err.Error() != want {
			t.Errorf("%s: message %q, want %q", name, err, want)
		}
		if took < timeout/2 || took > timeout+time.Second {
			t.Errorf("%s failed after %v, want about %v", name, took, timeout)
		}
	}
	// The lock dies with its holder.
	child.Process.Kill()
	child.Wait()
	if _, err := db.List(); err != nil {
		t.Errorf("List after the holder died: %v", err)
	}
}

// TestSharedWithWriterProcess is the daemon-and-CLI case: one process
// writes baselines continuously while another reads and writes small
// things; with short sessions nobody sees ErrLocked.
func TestSharedWithWriterProcess(t *testing.T) {
	db := openTemp(t)
	recs := genRecords("/r", 2*chunkRecords, 1)
	m := writeBaseline(t, db, "", true, recs)
	child := startChild(t, "write", db.Path())
	deadline := time.Now().Add(1500 * time.Millisecond)
	for i := 0; time.Now().Before(deadline); i++ {
		got, err := collect(t, db.Records(m.ID, ""))
		if err != nil {
			t.Fatalf("Records while another process writes: %v", err)
		}
		if len(got) != len(recs) {
			t.Fatalf("Records returned %d records, want %d", len(got), len(recs))
		}
		if _, err := db.Enqueue(10, OutboxEntry{ID: "x"}); err != nil {
			t.Fatalf("Enqueue while another process writes: %v", err)
		}
		if _, err := db.Resolve("active"); err != nil {
			t.Fatalf("Resolve while another process writes: %v", err)
		}
	}
	child.Process.Kill()
	child.Wait()
}

// TestSIGKILLDuringCreate kills a process writing baselines at random
// moments and checks that the database survives every time.
func TestSIGKILLDuringCreate(t *testing.T) {
	db := openTemp(t)
	want := map[uint64][]baseline.Record{}
	for i, n := range []int{3000, 2500} {
		recs := genRecords("/r", n, 100+i)
		m := writeBaseline(t, db, "before", true, recs)
		want[m.ID] = recs
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	const iterations = 8
	leftPending, committedByChild := 0, 0
	for i := 0; i < iterations; i++ {
		child := startChild(t, "write", db.Path())
		delay := time.Duration(10+rng.IntN(500)) * time.Millisecond
		time.Sleep(delay)
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		child.Wait() // reaped: the pid is dead, not a zombie

		db, err := Open(db.Path(), Options{LockTimeout: time.Second})
		if err != nil {
			t.Fatalf("iteration %d (killed after %v): Open: %v", i, delay, err)
		}
		boltCheck(t, db.Path())
		if err := db.Check(); err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		list, err := db.List()
		if err != nil {
			t.Fatal(err)
		}
		if countBaselineBuckets(t, db) > len(list) {
			leftPending++
		}
		for _, m := range list {
			exp, ok := want[m.ID]
			if !ok {
				// Committed by the child: complete, with its known records.
				if m.Label != "crash" {
					t.Fatalf("unexpected baseline %+v", m)
				}
				exp = genRecords(crashRoot, crashRecs, int(m.ID))
				committedByChild++
			}
			got, err := collect(t, db.Records(m.ID, ""))
			if err != nil {
				t.Fatalf("iteration %d: baseline %d: %v", i, m.ID, err)
			}
			if diff := diffRecords(exp, got); diff != "" {
				t.Fatalf("iteration %d: baseline %d records differ (-want +got):\n%s", i, m.ID, diff)
			}
			if m.Files+m.Dirs+m.Symlinks+m.Others != int64(len(exp)) {
				t.Fatalf("iteration %d: baseline %d meta counts %+v for %d records", i, m.ID, m, len(exp))
			}
			if !ok {
				if err := db.Delete(m.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		// The dead writer's pending baseline is collected by Prune.
		if _, err := db.Prune(100); err != nil {
			t.Fatal(err)
		}
		if n := countBaselineBuckets(t, db); n != len(want) {
			t.Fatalf("iteration %d: %d baseline buckets after Prune, want %d (pending ones not collected)", i, n, len(want))
		}
	}
	t.Logf("%d of %d kills left a pending baseline; the child committed %d baselines", leftPending, iterations, committedByChild)
	if leftPending == 0 {
		t.Error("no kill hit a baseline being written; the test exercised nothing")
	}
	// The database is still fully usable.
	writeBaseline(t, db, "after", true, genRecords("/r", 100, 7))
	boltCheck(t, db.Path())
}

func TestDefaultPathRules(t *testing.T) {
	if os.Geteuid() == 0 {
		p, _ := DefaultPath()
		if p != "/var/lib/webfim/webfim.db" {
			t.Errorf("as root DefaultPath = %q", p)
		}
		return
	}
	t.Setenv("XDG_STATE_HOME", "/xdg/state")
	if p, _ := DefaultPath(); p != "/xdg/state/webfim/webfim.db" {
		t.Errorf("with XDG_STATE_HOME DefaultPath = %q", p)
	}
	t.Setenv("XDG_STATE_HOME", "relative")
	t.Setenv("HOME", "/home/u")
	if p, _ := DefaultPath(); p != "/home/u/.local/state/webfim/webfim.db" {
		t.Errorf("with relative XDG_STATE_HOME DefaultPath = %q", p)
	}
}

// One daemon per database: a second one is refused at once, with the
// first one's pid; the lock goes with its holder, even killed.
func TestLockDaemon(t *testing.T) {
	db := openTemp(t)
	l, err := db.LockDaemon()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("another webfim watch (pid %d) is using database %s: stop it first", os.Getpid(), db.Path())
	if _, err := db.LockDaemon(); !errors.Is(err, ErrDaemonRunning) || !strings.Contains(err.Error(), want) {
		t.Errorf("second LockDaemon in one process: %v, want %q", err, want)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}

	child := startChild(t, "daemon", db.Path())
	want = fmt.Sprintf("another webfim watch (pid %d) is using database %s", child.Process.Pid, db.Path())
	start := time.Now()
	if _, err := db.LockDaemon(); !errors.Is(err, ErrDaemonRunning) || !strings.Contains(err.Error(), want) {
		t.Errorf("LockDaemon while a child holds it: %v, want %q", err, want)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("a second daemon waited %v instead of failing at once", took)
	}
	child.Process.Kill()
	child.Wait()
	l, err = db.LockDaemon()
	if err != nil {
		t.Fatalf("LockDaemon after the holder was killed: %v", err)
	}
	defer l.Release()
	if b, _ := os.ReadFile(db.Path() + ".lock"); string(b) != fmt.Sprintln(os.Getpid()) {
		t.Errorf("lock file holds %q, want this process's pid", b)
	}
}
