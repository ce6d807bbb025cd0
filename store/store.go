package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"webfim/baseline"
	"webfim/serverconf"
)

// SchemaVersion is the version of the on-disk layout this package writes.
// A database with a higher version is refused with [ErrNewerSchema].
const SchemaVersion = 2

// DefaultLockTimeout is how long an operation waits for another process
// to release the database when [Options.LockTimeout] is zero.
const DefaultLockTimeout = 5 * time.Second

// Errors returned (wrapped, with details) by the store. Test with errors.Is.
var (
	// ErrLocked: another process held the database for longer than the
	// lock timeout.
	ErrLocked = errors.New("database is locked by another process")
	// ErrNotFound: no such baseline (or it is still being written).
	ErrNotFound = errors.New("not found")
	// ErrNewerSchema: the file was written by a newer webfim.
	ErrNewerSchema = errors.New("database has a newer schema")
	// ErrWindowOpen: a deploy window is already open.
	ErrWindowOpen = errors.New("a deploy window is already open")
	// ErrNoWindow: no deploy window is open.
	ErrNoWindow = errors.New("no deploy window is open")
	// ErrCorrupt: the file is not a webfim database or is damaged.
	ErrCorrupt = errors.New("database is damaged")
)

// storeError carries a full message and the sentinel it matches, so that
// messages read naturally ("database /x is locked by another process
// (waited 5s)") and errors.Is still works.
type storeError struct {
	msg   string
	cause error // the sentinel
	inner error // optional underlying error
}

func (e *storeError) Error() string { return e.msg }

func (e *storeError) Unwrap() []error {
	if e.inner != nil {
		return []error{e.cause, e.inner}
	}
	return []error{e.cause}
}

func errorf(sentinel error, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &storeError{msg: err.Error(), cause: sentinel, inner: errors.Unwrap(err)}
}

// Options tune how a database is opened.
type Options struct {
	// LockTimeout is how long each operation waits for another process to
	// release the file before failing with [ErrLocked]; 0 means
	// [DefaultLockTimeout].
	LockTimeout time.Duration
}

// DB is a handle on a webfim database file. It holds no open file between
// operations and is safe for concurrent use by several goroutines.
type DB struct {
	path string
	opt  Options
	// mu serialises sessions on the same file within this process: bbolt's
	// flock would otherwise make goroutines of one process wait on each
	// other by polling.
	mu *sync.RWMutex
	// trees remembers the pages validated before bbolt walks them;
	// checks holds each running session's checker (by transaction).
	trees  *pageTrees
	checks sync.Map
}

var (
	fileLocksMu sync.Mutex
	fileLocks   = map[string]*sync.RWMutex{}
)

func fileLock(path string) *sync.RWMutex {
	fileLocksMu.Lock()
	defer fileLocksMu.Unlock()
	l := fileLocks[path]
	if l == nil {
		l = new(sync.RWMutex)
		fileLocks[path] = l
	}
	return l
}

// Top-level buckets and keys. See docs/store.md.
var (
	bucketMeta       = []byte("meta")
	bucketBaselines  = []byte("baselines")
	bucketWindows    = []byte("windows")
	bucketOutbox     = []byte("outbox")
	bucketOutboxMeta = []byte("outbox_meta")
	bucketSeen       = []byte("seen")

	keySchema         = []byte("schema")
	keyNextBaselineID = []byte("next_baseline_id")
	keyActive         = []byte("active")

	topBuckets = [][]byte{bucketMeta, bucketBaselines, bucketWindows, bucketOutbox, bucketOutboxMeta, bucketSeen}
)

// Open opens the database at path, creating it (mode 0600, parent
// directory 0700) if it does not exist, and checks its schema version.
// No file stays open after Open returns.
func Open(path string, opt Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("no database path given")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("database path %s: %w", path, err)
	}
	if opt.LockTimeout <= 0 {
		opt.LockTimeout = DefaultLockTimeout
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	db := &DB{path: abs, opt: opt, mu: fileLock(abs), trees: &pageTrees{}}
	// Most opens find the file set up: a read session says so without the
	// write session's two fsyncs. Anything else (no file, missing buckets,
	// an unknown schema, damage) is left to the write session below, which
	// sets up or reports it.
	if ready, err := db.ready(); ready {
		return db, nil
	} else if errors.Is(err, ErrLocked) {
		return nil, err
	}
	err = db.session(sessionInit, func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			var foreign []byte
			_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				foreign = name
				return errStop
			})
			if foreign != nil {
				return errorf(ErrCorrupt, "database %s is not a webfim database (it has no %q bucket but a %q one)", abs, bucketMeta, foreign)
			}
			for _, name := range topBuckets {
				if _, err := tx.CreateBucket(name); err != nil {
					return err
				}
			}
			meta = tx.Bucket(bucketMeta)
			if err := meta.Put(keySchema, u64(SchemaVersion)); err != nil {
				return err
			}
			return meta.Put(keyNextBaselineID, u64(1))
		}
		v, ok := getU64(meta.Get(keySchema))
		if !ok {
			return errorf(ErrCorrupt, "database %s has no valid schema version", abs)
		}
		if v > SchemaVersion {
			return errorf(ErrNewerSchema, "database %s was written by a newer webfim (schema %d, this binary knows %d); upgrade webfim", abs, v, SchemaVersion)
		}
		for _, name := range topBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if v < SchemaVersion {
			if err := db.checkAllBaselineTrees(tx); err != nil {
				return err
			}
			if err := migrate(tx, v); err != nil {
				return fmt.Errorf("database %s: %w", abs, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db, nil
}

// ready reports whether the file exists with this schema version and
// every top-level bucket.
func (db *DB) ready() (bool, error) {
	if _, err := os.Stat(db.path); err != nil {
		return false, nil
	}
	ready := false
	err := db.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		if v, ok := getU64(meta.Get(keySchema)); !ok || v != SchemaVersion {
			return nil
		}
		for _, name := range topBuckets {
			if tx.Bucket(name) == nil {
				return nil
			}
		}
		ready = true
		return nil
	})
	return ready && err == nil, err
}

// Path returns the absolute path of the database file.
func (db *DB) Path() string { return db.path }

var errStop = errors.New("stop")

type sessionKind int

const (
	sessionRead  sessionKind = iota // shared lock, read-only transaction
	sessionWrite                    // exclusive lock, one read-write transaction
	sessionInit                     // like sessionWrite, may create the file
)

// view runs fn in a read-only session.
func (db *DB) view(fn func(*bolt.Tx) error) error { return db.session(sessionRead, fn) }

// update runs fn in a read-write session; fn's changes are committed
// atomically when it returns nil.
func (db *DB) update(fn func(*bolt.Tx) error) error { return db.session(sessionWrite, fn) }

// session opens the file, runs fn in one transaction and closes the file.
// Faults and panics inside bbolt (a damaged or truncated file) become
// errors wrapping ErrCorrupt.
func (db *DB) session(kind sessionKind, fn func(*bolt.Tx) error) (err error) {
	write := kind == sessionWrite || kind == sessionInit
	if write {
		db.mu.Lock()
		defer db.mu.Unlock()
	} else {
		db.mu.RLock()
		defer db.mu.RUnlock()
	}
	exists := true
	if _, err := os.Stat(db.path); errors.Is(err, os.ErrNotExist) {
		// Do not let a write session silently recreate a deleted file.
		if kind != sessionInit {
			return fmt.Errorf("database %s no longer exists: %w", db.path, os.ErrNotExist)
		}
		exists = false
	} else if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	if write && exists {
		if err := db.sessionLocked(false, nil); err != nil {
			return err
		}
	}
	return db.sessionLocked(write, fn)
}

// sessionLocked is session after the in-process lock is taken. A read
// session with fn == nil only runs precheckFile.
func (db *DB) sessionLocked(write bool, fn func(*bolt.Tx) error) (err error) {
	var file *os.File
	// The file is memory-mapped: reading a page past the end of a
	// truncated file raises SIGBUS, which must become an error.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		// Do not call bdb.Close: the fault may have happened while bbolt
		// held one of its internal locks, and Close would wait for it
		// forever. Closing the descriptor releases the file lock; the
		// abandoned handle's memory map stays until the process ends.
		if file != nil {
			file.Close()
		}
		err = errorf(ErrCorrupt, "database %s is damaged: %v", db.path, r)
	}()

	opts := &bolt.Options{
		Timeout:  db.opt.LockTimeout,
		ReadOnly: !write,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	}
	bdb, err := bolt.Open(db.path, 0o600, opts)
	if err != nil {
		return db.openError(err)
	}
	if fn == nil {
		err = precheckFile(file)
		if err != nil {
			err = errorf(ErrCorrupt, "database %s is damaged: %v", db.path, err)
		}
		if cerr := bdb.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close database %s: %w", db.path, cerr)
		}
		return err
	}
	run := func(tx *bolt.Tx) error {
		if file == nil {
			return fn(tx)
		}
		fi, err := file.Stat()
		if err != nil {
			return db.damaged(err)
		}
		if err := checkSize(tx, fi); err != nil {
			return db.damaged(err)
		}
		tc := db.newTreeCheck(tx, file, fi)
		if err := tc.checkStructure(tx); err != nil {
			return db.damaged(err)
		}
		db.checks.Store(tx, tc)
		defer db.checks.Delete(tx)
		return fn(tx)
	}
	if write {
		err = bdb.Update(run)
	} else {
		err = bdb.View(run)
	}
	// Reached only without a panic.
	if cerr := bdb.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close database %s: %w", db.path, cerr)
	}
	return err
}

func (db *DB) openError(err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return errorf(ErrLocked, "database %s is locked by another process (waited %s)", db.path, db.opt.LockTimeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return errorf(ErrCorrupt, "database %s is not a webfim database or is damaged: %w", db.path, err)
	case errors.Is(err, os.ErrNotExist), errors.Is(err, os.ErrPermission):
		return fmt.Errorf("open database: %w", err)
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("open database: %w", err)
	}
	return errorf(ErrCorrupt, "database %s cannot be opened: %w", db.path, err)
}

// checkSize refuses a file shorter than the pages its meta page claims:
// a truncated copy would otherwise fault on the first read past the end.
func checkSize(tx *bolt.Tx, fi os.FileInfo) error {
	if need := tx.Size(); fi.Size() < need {
		return fmt.Errorf("file is truncated (%d bytes, its pages need %d)", fi.Size(), need)
	}
	return nil
}

// Check verifies the whole file: every key and value is read (a damaged
// or missing page is reported, not a crash), keys are in order, and every
// baseline meta, record, inventory item, deploy window and outbox entry
// decodes. It reads the entire file in one read session.
//
// bbolt's own tx.Check (free list and page reachability) is not used
// here: it runs in a goroutine of its own, where reading a damaged page
// crashes the process, and a damaged page header can make it loop for
// very long. The tests run it on files they know to be undamaged.
func (db *DB) Check() error {
	return db.session(sessionRead, func(tx *bolt.Tx) error {
		if err := db.checkAllBaselineTrees(tx); err != nil {
			return err
		}
		check := func(b *bolt.Bucket) error { return db.validate(tx, b, false) }
		if err := walkBuckets(tx.Cursor(), tx.Bucket, check, nil); err != nil {
			return errorf(ErrCorrupt, "database %s failed its integrity check: %v", db.path, err)
		}
		if errs := db.checkContents(tx); len(errs) > 0 {
			return errorf(ErrCorrupt, "database %s failed its integrity check: %w", db.path, errors.Join(errs...))
		}
		return nil
	})
}

// checkContents decodes everything; it returns at most 10 errors.
func (db *DB) checkContents(tx *bolt.Tx) []error {
	var errs []error
	add := func(err error) bool {
		errs = append(errs, err)
		return len(errs) < 10
	}
	for _, name := range topBuckets {
		if tx.Bucket(name) == nil && !add(fmt.Errorf("no %q bucket", name)) {
			return errs
		}
	}
	if v, ok := getU64(tx.Bucket(bucketMeta).Get(keySchema)); !ok || v > SchemaVersion {
		add(fmt.Errorf("bad schema version %x", tx.Bucket(bucketMeta).Get(keySchema)))
	}
	bs := tx.Bucket(bucketBaselines)
	if bs == nil {
		return errs
	}
	err := bs.ForEachBucket(func(k []byte) error {
		id, ok := getU64(k)
		if !ok {
			if !add(fmt.Errorf("baselines: bad key %x", k)) {
				return errStop
			}
			return nil
		}
		b := bs.Bucket(k)
		if _, err := db.readMeta(b, id); err != nil && !add(err) {
			return errStop
		}
		roots := b.Bucket(bucketRoots)
		if roots == nil {
			if !add(fmt.Errorf("baseline %d has no roots bucket", id)) {
				return errStop
			}
			return nil
		}
		err := roots.ForEachBucket(func(root []byte) error {
			var last []byte // key of the last record of the previous block
			return roots.Bucket(root).ForEach(func(bkey, block []byte) error {
				where := fmt.Sprintf("baseline %d, root %s", id, quote(string(root)))
				if len(block) > maxBlockValue {
					if !add(fmt.Errorf("%s, block %s: %w: impossible length %d", where, quote(pathOfStoreKey(bkey)), errBlock, len(block))) {
						return errStop
					}
					return nil
				}
				if last != nil && bytes.Compare(bkey, last) <= 0 {
					if !add(fmt.Errorf("%s, block %s: %w: overlaps the previous block", where, quote(pathOfStoreKey(bkey)), errBlock)) {
						return errStop
					}
				}
				stop := false
				err := decodeBlock(bkey, block, func(key, val []byte) bool {
					last = append(last[:0], key...)
					rec := baseline.Record{Root: string(root), Path: pathOfStoreKey(key)}
					if err := unmarshalRecord(&rec, val); err != nil {
						stop = !add(fmt.Errorf("%s, path %s: %w", where, quote(rec.Path), err))
					}
					return !stop
				})
				if err != nil && !stop {
					stop = !add(fmt.Errorf("%s, block %s: %w", where, quote(pathOfStoreKey(bkey)), err))
				}
				if stop {
					return errStop
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		if inv := b.Bucket(bucketInventory); inv != nil {
			return inv.ForEach(func(k, v []byte) error {
				var it serverconf.Item
				if err := json.Unmarshal(v, &it); err != nil && !add(fmt.Errorf("baseline %d: inventory item %x: %w", id, k, err)) {
					return errStop
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return errs
	}
	if wb := tx.Bucket(bucketWindows); wb != nil {
		err = wb.ForEach(func(k, v []byte) error {
			var w Window
			if err := json.Unmarshal(v, &w); err != nil && !add(fmt.Errorf("deploy window %x: %w", k, err)) {
				return errStop
			}
			return nil
		})
		if err != nil {
			return errs
		}
	}
	if ob := tx.Bucket(bucketOutbox); ob != nil {
		ob.ForEach(func(k, v []byte) error {
			seq, _ := getU64(k)
			if _, err := decodeEntry(seq, v); err != nil && !add(fmt.Errorf("outbox entry %d: %w", seq, err)) {
				return errStop
			}
			return nil
		})
	}
	return errs
}

// walkBuckets reads every key and value under c, recursively, checking
// that keys are in strictly increasing order.
func walkBuckets(c *bolt.Cursor, sub func([]byte) *bolt.Bucket, check func(*bolt.Bucket) error, path []string) error {
	var prev []byte
	var sum byte
	size := c.Bucket().Tx().Size()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) > bolt.MaxKeySize || int64(len(v)) > size {
			return fmt.Errorf("bucket %s: entry after %s claims %d+%d bytes in a file of %d", strings.Join(path, " > "), quote(string(prev)), len(k), len(v), size)
		}
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return fmt.Errorf("bucket %s: key %s is not after %s", strings.Join(path, " > "), quote(string(k)), quote(string(prev)))
		}
		prev = k
		if v != nil {
			for _, b := range v {
				sum ^= b
			}
			continue
		}
		b := sub(k)
		if b == nil {
			return fmt.Errorf("bucket %s: %q is neither a value nor a bucket", strings.Join(path, " > "), k)
		}
		name := quote(string(k))
		if len(k) == 8 {
			name = fmt.Sprint(binary.BigEndian.Uint64(k)) // ids
		}
		// A damaged leaf can turn a value into a "bucket" whose pages
		// are anything: its tree is validated before bbolt walks it.
		if err := check(b); err != nil {
			return fmt.Errorf("bucket %s: %w", strings.Join(append(path, name), " > "), err)
		}
		if err := walkBuckets(b.Cursor(), b.Bucket, check, append(path, name)); err != nil {
			return err
		}
	}
	_ = sum
	return nil
}

// bucket returns a top-level bucket or an error naming what is missing.
func (db *DB) bucket(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	b := tx.Bucket(name)
	if b == nil {
		return nil, errorf(ErrCorrupt, "database %s has no %q bucket (not a webfim database?)", db.path, name)
	}
	return b, nil
}

func u64(v uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, v)
}

func getU64(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}
