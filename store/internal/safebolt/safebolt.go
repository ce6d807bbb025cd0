// Package safebolt runs bbolt transactions on a file that may be damaged,
// hostile, or used by other processes at the same time, so that the code
// above it (package store) never has to think about any of that.
//
// A [DB] holds no open file between transactions: [DB.View] and
// [DB.Update] each open the file, lock it (shared or exclusive, waiting at
// most the lock timeout), run one transaction and close it. Around that
// transaction they apply every defence bbolt lacks:
//
//   - the file is opened with package safefile (no symbolic link
//     followed, nothing but a regular file, a directory other users cannot
//     write to), and created only by [DB.Create], which builds it under a
//     temporary name and links it into place: no session ever sees an
//     empty or half-initialised database;
//   - before bbolt reads a number it trusts (meta page, free list), the
//     number is validated with pread (layout.go);
//   - every bucket is handed out only after its page tree was validated
//     (pagetree.go), and a bucket is deleted only after every bucket
//     nested in it was: a damaged tree is reported as damage instead of
//     sending bbolt's cursors down forever;
//   - a fault while reading the memory-mapped file (SIGBUS when another
//     program truncates the file during a session, SIGSEGV on a wild value
//     offset in a damaged leaf) or a panic inside bbolt becomes an error
//     wrapping [ErrCorrupt]. This is the one defence against damage that
//     appears during a session, so it stays.
//
// Damage found by a check fails the whole transaction (an update is rolled
// back) with an error wrapping [ErrCorrupt] that names the file and where
// the damage is, whatever the function given to View or Update returned.
package safebolt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"webfim/safefile"
	"webfim/store/internal/filelock"
)

// MaxKeySize is the length of the longest key bbolt stores.
const MaxKeySize = bolt.MaxKeySize

// Errors of a session, wrapped with details. Package store re-exports them.
var (
	// ErrLocked: another process held the file for longer than the lock
	// timeout.
	ErrLocked = errors.New("database is locked by another process")
	// ErrCorrupt: the file is not a bbolt file or is damaged.
	ErrCorrupt = errors.New("database is damaged")
)

// DB is a bbolt file used in short sessions. It is safe for concurrent use.
type DB struct {
	path    string
	timeout time.Duration
	// mu makes the sessions of this handle wait on each other directly
	// instead of polling the file lock; other handles and processes are
	// kept apart by the file lock.
	mu    sync.RWMutex
	trees pageTrees
}

// New returns a handle on the bbolt file at path (absolute), whose
// sessions wait at most lockTimeout for another process's lock. It does
// not touch the file.
func New(path string, lockTimeout time.Duration) *DB {
	return &DB{path: path, timeout: lockTimeout}
}

// Path returns the path of the file.
func (db *DB) Path() string { return db.path }

// View runs fn in a read-only transaction, under a shared lock.
func (db *DB) View(fn func(*Tx) error) error { return db.session(false, fn) }

// Update runs fn in a read-write transaction, under an exclusive lock;
// fn's changes are committed atomically when it returns nil and no damage
// was found.
func (db *DB) Update(fn func(*Tx) error) error { return db.session(true, fn) }

// Create creates the file, running fn in its first transaction (to set up
// its buckets). The file is built under a temporary name in the same
// directory (mode 0600) and linked into place once complete, so nobody
// ever sees it empty or half set up. If a file appeared at the path
// meanwhile, it is left alone and Create returns an error wrapping
// fs.ErrExist. The directory must exist and pass safefile.CheckDir.
func (db *DB) Create(fn func(*Tx) error) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	dir := filepath.Dir(db.path)
	if err := safefile.CheckDir(dir); err != nil {
		return db.pathError(err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(db.path)+".new-*")
	if err != nil {
		return fmt.Errorf("create database %s: %w", db.path, err)
	}
	name := tmp.Name()
	tmp.Close()
	defer os.Remove(name) // the temporary name only, once linked
	bdb, err := bolt.Open(name, 0o600, &bolt.Options{Timeout: db.timeout})
	if err != nil {
		return fmt.Errorf("create database %s: %w", db.path, err)
	}
	err = bdb.Update(func(btx *bolt.Tx) error {
		tx := &Tx{btx: btx, db: db} // a new file: nothing to check
		if err := fn(tx); err != nil {
			return err
		}
		return tx.err
	})
	if cerr := bdb.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", db.path, err)
	}
	if err := os.Link(name, db.path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return Errorf(fs.ErrExist, "database %s already exists", db.path)
		}
		// A file system without hard links: rename, which replaces; a
		// file that appeared meanwhile is left alone but for a tiny window.
		if _, lerr := os.Lstat(db.path); lerr == nil {
			return Errorf(fs.ErrExist, "database %s already exists", db.path)
		}
		if err := os.Rename(name, db.path); err != nil {
			return fmt.Errorf("create database %s: %w", db.path, err)
		}
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // the new name survives a crash (where supported)
		d.Close()
	}
	return nil
}

// session opens and locks the file, runs fn in one transaction and closes
// the file.
func (db *DB) session(write bool, fn func(*Tx) error) (err error) {
	if write {
		db.mu.Lock()
		defer db.mu.Unlock()
	} else {
		db.mu.RLock()
		defer db.mu.RUnlock()
	}
	var (
		file    *os.File
		fi      os.FileInfo
		openErr error
	)
	// The file is memory-mapped: a fault while reading it must become an
	// error (see the package documentation).
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		// Do not call bdb.Close: the fault may have happened while bbolt
		// held one of its internal locks, and Close would wait for it
		// forever. The abandoned handle's memory map stays until the
		// process ends, and keeps the open file alive: closing the
		// descriptor alone would not release the file lock.
		if file != nil {
			filelock.Unlock(file)
			file.Close()
		}
		err = Errorf(ErrCorrupt, "database %s is damaged: %v", db.path, r)
	}()
	opts := &bolt.Options{
		Timeout:  db.timeout,
		ReadOnly: !write,
		// bbolt opens the file through this hook, then locks it with the
		// same descriptor, which already holds the lock: so the numbers
		// bbolt trusts are validated under the lock, in one open.
		OpenFile: func(_ string, flag int, _ os.FileMode) (*os.File, error) {
			f, info, err := db.open(flag&^os.O_CREATE, write)
			if err != nil {
				openErr = err
				return nil, err
			}
			file, fi = f, info
			return f, nil
		},
	}
	bdb, err := bolt.Open(db.path, 0o600, opts)
	if err != nil {
		if openErr != nil {
			return openErr
		}
		return db.openError(err)
	}
	run := func(btx *bolt.Tx) error {
		tx := &Tx{btx: btx, db: db, check: newTreeCheck(&db.trees, btx, file, fi)}
		if err := tx.check.bucket(btx.Cursor().Bucket(), false); err != nil {
			return tx.fail("root bucket", err)
		}
		err := fn(tx)
		if tx.err != nil {
			return tx.err // damage wins, and rolls an update back
		}
		return err
	}
	if write {
		err = bdb.Update(run)
	} else {
		err = bdb.View(run)
	}
	// Reached only without a fault.
	if cerr := bdb.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close database %s: %w", db.path, cerr)
	}
	return err
}

// open opens the file for a session and locks it; the lock is released
// when the file is closed.
func (db *DB) open(flag int, exclusive bool) (*os.File, os.FileInfo, error) {
	f, err := safefile.OpenFile(db.path, flag, 0)
	if err != nil {
		return nil, nil, db.pathError(err)
	}
	fail := func(err error) (*os.File, os.FileInfo, error) {
		f.Close()
		return nil, nil, err
	}
	if err := filelock.Lock(f, exclusive, db.timeout); err != nil {
		if errors.Is(err, filelock.ErrTimeout) {
			return fail(Errorf(ErrLocked, "database %s is locked by another process (waited %s)", db.path, db.timeout))
		}
		return fail(fmt.Errorf("lock database %s: %w", db.path, err))
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(fmt.Errorf("open database %s: %w", db.path, err))
	}
	if fi.Size() == 0 {
		return fail(fmt.Errorf("database %s is an empty file (0 bytes), not a webfim database: remove it to start a new database there", db.path))
	}
	if err := precheck(f, uint64(fi.Size())); err != nil {
		return fail(Errorf(ErrCorrupt, "database %s is damaged: %v", db.path, err))
	}
	return f, fi, nil
}

// pathError explains why the file could not be opened.
func (db *DB) pathError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Errorf(err, "database %s does not exist", db.path)
	case errors.Is(err, safefile.ErrNotRegular):
		if fi, serr := os.Stat(db.path); serr == nil && fi.IsDir() {
			return Errorf(err, "database path %s is a directory, not a file: give the path of the database file itself, such as %s",
				db.path, filepath.Join(db.path, "webfim.db"))
		}
		return fmt.Errorf("database: %w", err)
	case errors.Is(err, safefile.ErrUnsafe):
		return fmt.Errorf("unsafe database path: %w", err)
	}
	return fmt.Errorf("open database: %w", err)
}

// openError explains an error of bolt.Open after the file was opened.
func (db *DB) openError(err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return Errorf(ErrLocked, "database %s is locked by another process (waited %s)", db.path, db.timeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return Errorf(ErrCorrupt, "database %s is not a webfim database or is damaged: %w", db.path, err)
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("open database: %w", err)
	}
	return Errorf(ErrCorrupt, "database %s cannot be opened: %w", db.path, err)
}

// Error carries a full message and the sentinel it matches, so that
// messages read naturally ("database /x is locked by another process
// (waited 5s)") and errors.Is still works.
type Error struct {
	msg   string
	cause error // the sentinel
	inner error // the error wrapped with %w, if any
}

func (e *Error) Error() string { return e.msg }

func (e *Error) Unwrap() []error {
	if e.inner != nil {
		return []error{e.cause, e.inner}
	}
	return []error{e.cause}
}

// Errorf formats a message (%w allowed) into an error that also matches
// sentinel.
func Errorf(sentinel error, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{msg: err.Error(), cause: sentinel, inner: errors.Unwrap(err)}
}
