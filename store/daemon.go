package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"webfim/safefile"
	"webfim/store/internal/filelock"
)

// ErrDaemonRunning: another process holds the daemon lock of the database.
var ErrDaemonRunning = errors.New("another webfim watch uses this database")

// DaemonLock is held by the one watch daemon of a database for its whole
// life: two daemons on one database would each deliver the outbox to
// their own outputs, taking alerts away from the other's.
type DaemonLock struct{ f *os.File }

// LockDaemon takes the daemon lock of the database: an exclusive lock on
// the file beside it named like it plus ".lock" (created with mode 0600
// and left in place: the lock, not the file, is what counts), into which
// it writes its pid. If another process holds the lock, LockDaemon fails
// at once with an error wrapping [ErrDaemonRunning] that names that
// process's pid. The lock is released by [DaemonLock.Release] or when
// the process ends, however it ends.
func (db *DB) LockDaemon() (*DaemonLock, error) {
	path := db.path + ".lock"
	f, err := safefile.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("daemon lock: %w", err)
	}
	if err := filelock.Lock(f, true, 0); err != nil {
		defer f.Close()
		if !errors.Is(err, filelock.ErrTimeout) {
			return nil, fmt.Errorf("daemon lock %s: %w", path, err)
		}
		holder := "another process"
		b, _ := io.ReadAll(io.LimitReader(f, 32))
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			holder = "pid " + strconv.Itoa(pid)
		}
		return nil, errorf(ErrDaemonRunning, "another webfim watch (%s) is using database %s: stop it first, or give this one a database of its own with --db (lock file %s)", holder, db.path, path)
	}
	// Say who holds it, for the error of the next one.
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(pid, 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("daemon lock %s: %w", path, err)
	}
	return &DaemonLock{f: f}, nil
}

// Release gives the lock up.
func (l *DaemonLock) Release() error { return l.f.Close() }
