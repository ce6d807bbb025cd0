package store

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Child processes of the tests are this test binary re-executed with
// STORE_TEST_CHILD set to what they should do.
const (
	childEnv    = "STORE_TEST_CHILD"
	childDBEnv  = "STORE_TEST_DB"
	crashRecs   = 30000
	crashRoot   = "/crash"
	childReady  = "ready"
	childCommit = "committed"
)

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "exit":
		os.Exit(0)
	case "hold":
		childHold(os.Getenv(childDBEnv))
	case "write":
		childWrite(os.Getenv(childDBEnv))
	case "daemon":
		childDaemon(os.Getenv(childDBEnv))
	default:
		fmt.Fprintln(os.Stderr, "unknown child mode", os.Getenv(childEnv))
		os.Exit(2)
	}
}

// childHold keeps the database open (and so locked) until killed.
func childHold(path string) {
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer bdb.Close()
	fmt.Println(childReady)
	time.Sleep(time.Minute)
	os.Exit(0)
}

// childDaemon holds the daemon lock of the database until killed.
func childDaemon(path string) {
	db, err := Open(path, Options{})
	if err == nil {
		_, err = db.LockDaemon()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(childReady)
	time.Sleep(time.Minute)
	os.Exit(0)
}

// childWrite writes baselines of crashRecs records in a loop until killed.
// The records of baseline N are genRecords(crashRoot, crashRecs, N), so the
// parent can verify every baseline that got committed.
func childWrite(path string) {
	db, err := Open(path, Options{LockTimeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(childReady)
	for {
		w, err := db.Begin(Meta{Label: "crash"})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, r := range genRecords(crashRoot, crashRecs, int(w.ID())) {
			if err := w.Put(r); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		m, err := w.Commit(Meta{Label: "crash"}, true)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(childCommit, m.ID)
	}
}

// startChild runs this test binary in a child mode on the database at
// path and waits until it says it is ready.
func startChild(t testing.TB, mode, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, childDBEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != childReady {
		t.Fatalf("child %s did not get ready: %q %v", mode, sc.Text(), sc.Err())
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return cmd
}

// deadPid returns the pid of a process that has exited and been reaped.
func deadPid(t testing.TB) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=exit")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// boltCheck runs bbolt's own consistency check (free list, every page
// reachable once, key order) on a file known not to be damaged on purpose.
func boltCheck(t testing.TB, path string) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	err = bdb.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatalf("bbolt check of %s: %v", path, err)
	}
}
