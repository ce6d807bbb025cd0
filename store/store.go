package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"webfim/baseline"
	"webfim/serverconf"
	"webfim/store/internal/safebolt"
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
	ErrLocked = safebolt.ErrLocked
	// ErrNotFound: no such baseline (or it is still being written).
	ErrNotFound = errors.New("not found")
	// ErrNewerSchema: the file was written by a newer webfim.
	ErrNewerSchema = errors.New("database has a newer schema")
	// ErrWindowOpen: a deploy window is already open.
	ErrWindowOpen = errors.New("a deploy window is already open")
	// ErrNoWindow: no deploy window is open.
	ErrNoWindow = errors.New("no deploy window is open")
	// ErrBadLabel: a label (or a deploy window's by) breaks the rule of
	// [CheckLabel].
	ErrBadLabel = errors.New("bad label")
	// ErrCorrupt: the file is not a webfim database or is damaged.
	ErrCorrupt = safebolt.ErrCorrupt
)

// errorf formats a message into an error that also matches sentinel, so
// that messages read naturally ("database /x is locked by another process
// (waited 5s)") and errors.Is still works.
var errorf = safebolt.Errorf

// Options tune how a database is opened.
type Options struct {
	// LockTimeout is how long each operation waits for another process to
	// release the file before failing with [ErrLocked]; 0 means
	// [DefaultLockTimeout].
	LockTimeout time.Duration
	// NoCreate makes Open fail with an error wrapping fs.ErrNotExist
	// instead of creating a missing database and its directory: for
	// commands that only read, so that a mistyped path leaves nothing
	// behind.
	NoCreate bool
}

// DB is a handle on a webfim database file. It holds no open file between
// operations and is safe for concurrent use by several goroutines.
type DB struct {
	path string
	opt  Options
	b    *safebolt.DB
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

// Open opens the database at path and checks its schema version,
// upgrading an older one. A missing database is created (mode 0600,
// parent directory 0700) unless [Options.NoCreate] is set. The file must
// be a regular file, not a symbolic link, in a directory other users
// cannot write to (see package safefile). No file stays open after Open
// returns.
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
	db := &DB{path: abs, opt: opt, b: safebolt.New(abs, opt.LockTimeout)}
	// Most opens find the file set up: a read session says so without a
	// write session's two fsyncs.
	ready, err := db.ready()
	if errors.Is(err, fs.ErrNotExist) {
		if opt.NoCreate {
			return nil, errorf(err, "no webfim database at %s (nothing was created)", abs)
		}
		if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
		// Another process may have created it meanwhile: then it is used.
		if err := db.b.Create(initSchema); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		ready, err = db.ready()
	}
	if err != nil {
		return nil, err
	}
	if ready {
		return db, nil
	}
	// Anything else (missing buckets, an older or newer schema, another
	// program's file) is set up or reported by a write session.
	if err := db.update(db.setUp); err != nil {
		return nil, err
	}
	return db, nil
}

// initSchema sets up an empty file.
func initSchema(tx *safebolt.Tx) error {
	for _, name := range topBuckets {
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(keySchema, u64(SchemaVersion)); err != nil {
		return err
	}
	return meta.Put(keyNextBaselineID, u64(1))
}

// setUp brings an existing file that is not ready up to date, or says
// why it cannot be.
func (db *DB) setUp(tx *safebolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		if foreign, _ := tx.Cursor().First(); foreign != nil {
			return errorf(ErrCorrupt, "database %s is not a webfim database (it has no %q bucket but a %q one)", db.path, bucketMeta, foreign)
		}
		return initSchema(tx)
	}
	v, ok := getU64(meta.Get(keySchema))
	if !ok {
		return errorf(ErrCorrupt, "database %s has no valid schema version", db.path)
	}
	if v > SchemaVersion {
		return errorf(ErrNewerSchema, "database %s was written by a newer webfim (schema %d, this binary knows %d); upgrade webfim", db.path, v, SchemaVersion)
	}
	for _, name := range topBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	if v < SchemaVersion {
		if err := migrate(tx, v); err != nil {
			return fmt.Errorf("database %s: %w", db.path, err)
		}
	}
	return nil
}

// ready reports whether the file exists with this schema version and
// every top-level bucket.
func (db *DB) ready() (bool, error) {
	ready := false
	err := db.view(func(tx *safebolt.Tx) error {
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

// view runs fn in a read-only session (see package safebolt).
func (db *DB) view(fn func(*safebolt.Tx) error) error { return db.b.View(fn) }

// update runs fn in a read-write session; fn's changes are committed
// atomically when it returns nil.
func (db *DB) update(fn func(*safebolt.Tx) error) error { return db.b.Update(fn) }

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
	return db.view(func(tx *safebolt.Tx) error {
		if err := walkBuckets(tx.Cursor(), tx.Bucket, tx.Size(), nil); err != nil {
			return errorf(ErrCorrupt, "database %s failed its integrity check: %v", db.path, err)
		}
		if errs := db.checkContents(tx); len(errs) > 0 {
			return errorf(ErrCorrupt, "database %s failed its integrity check: %w", db.path, errors.Join(errs...))
		}
		return nil
	})
}

// checkContents decodes everything; it returns at most 10 errors.
func (db *DB) checkContents(tx *safebolt.Tx) []error {
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
// that keys are in strictly increasing order and that no entry claims more
// bytes than the file has (size). sub opens a nested bucket (whose page
// tree is validated before it is walked).
func walkBuckets(c *safebolt.Cursor, sub func([]byte) *safebolt.Bucket, size int64, path []string) error {
	var prev []byte
	var sum byte
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) > safebolt.MaxKeySize || int64(len(v)) > size {
			return fmt.Errorf("bucket %s: entry after %s claims %d+%d bytes in a file of %d", strings.Join(path, " > "), quote(string(prev)), len(k), len(v), size)
		}
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return fmt.Errorf("bucket %s: key %s is not after %s", strings.Join(path, " > "), quote(string(k)), quote(string(prev)))
		}
		prev = k
		if v != nil {
			for _, b := range v {
				sum ^= b // every byte is read
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
		if err := walkBuckets(b.Cursor(), b.Bucket, size, append(path, name)); err != nil {
			return err
		}
	}
	_ = sum
	return nil
}

// bucket returns a top-level bucket or an error naming what is missing.
func (db *DB) bucket(tx *safebolt.Tx, name []byte) (*safebolt.Bucket, error) {
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
