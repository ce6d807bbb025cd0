package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"webfim/baseline"
	"webfim/serverconf"
	"webfim/store/internal/safebolt"
	"webfim/trust"
)

// Meta describes one stored baseline.
type Meta struct {
	// ID is assigned by [DB.Begin]; ids grow and are never reused.
	ID      uint64    `json:"id"`
	Label   string    `json:"label,omitempty"`
	Created time.Time `json:"created"`
	Host    string    `json:"host,omitempty"`
	Roots   []string  `json:"roots,omitempty"`
	Configs []string  `json:"configs,omitempty"`
	// The counts are computed by the [BaselineWriter] from the records it
	// stored (Bytes: total size of regular files; Errors: records with Err;
	// Unstable: records marked unstable); values passed in are ignored.
	Files    int64 `json:"files"`
	Dirs     int64 `json:"dirs"`
	Symlinks int64 `json:"symlinks"`
	Others   int64 `json:"others"`
	Errors   int64 `json:"errors"`
	Unstable int64 `json:"unstable"`
	Bytes    int64 `json:"bytes"`

	Duration      time.Duration `json:"duration_ns"`
	Version       string        `json:"version,omitempty"`
	Full          bool          `json:"full,omitempty"`
	HashAllSHA256 bool          `json:"hash_all_sha256,omitempty"`
	Sysroot       string        `json:"sysroot,omitempty"`
	// Sequence is the sequence of the baseline's trust statement when it
	// is not its ID: an imported baseline keeps the sequence it was
	// signed with in the database that took it. 0 means the ID.
	Sequence uint64 `json:"sequence,omitempty"`

	// Review is what a reviewed snapshot ("deploy finish") trusted on a
	// user's word and what it held out; nil when nothing needed review.
	Review *Review `json:"review,omitempty"`
	// StatementV1: the baseline was imported from an export whose
	// statement is of version 1 (made before reviews were signed), so its
	// statement is made in that version ([trust.Statement.V1]).
	StatementV1 bool `json:"statement_v1,omitempty"`

	// Active is true for the active baseline. It is not stored in the
	// baseline's meta but filled in from the database's active pointer.
	Active bool `json:"-"`
}

// Review is what a reviewed snapshot trusted and held out; it is part of
// the baseline's signed statement ([trust.Review]).
type Review = trust.Review

// ReviewedFinding names one finding of a [Review].
type ReviewedFinding = trust.ReviewedFinding

// Keys inside a baseline's bucket.
var (
	keyBaselineMeta = []byte("meta")
	keyPending      = []byte("pending")
	bucketRoots     = []byte("roots")
	bucketInventory = []byte("inventory")
)

// Batch limits of a [BaselineWriter]: a batch is committed when either is
// reached, which bounds the memory held by the writer and by bbolt's dirty
// pages, and how long one session holds the lock.
const (
	batchRecords = 5000
	batchBytes   = 8 << 20
)

// Chunk limits of [DB.Records]: how much one read session copies out.
const (
	chunkRecords = 4096
	chunkBytes   = 4 << 20
)

// recordsFillPercent: records arrive in key order, so pages are filled
// almost completely instead of bbolt's default half.
const recordsFillPercent = 0.95

// rootKey is the key of the root entry itself (Path ""): bbolt has no
// empty keys. No other key starts with NUL since relative paths never
// start with a slash, and NUL sorts first, so the order is kept.
var rootKey = []byte{0}

func storeKey(path string) ([]byte, error) {
	if path == "" {
		return rootKey, nil
	}
	if path[0] == '/' {
		return nil, fmt.Errorf("path %s is not relative", quote(path))
	}
	return baseline.Key(path), nil
}

func pathOfStoreKey(k []byte) string {
	if bytes.Equal(k, rootKey) {
		return ""
	}
	return baseline.PathOfKey(k)
}

// BaselineWriter writes a new baseline. It is pending until [BaselineWriter.Commit].
// A writer is used by one goroutine.
type BaselineWriter struct {
	db    *DB
	id    uint64
	meta  Meta
	owner owner

	pack    packer // the open block and the batch of closed ones
	curRoot string // root of the last record put
	curLast []byte // its key
	keyBuf  []byte
	valBuf  []byte
	counts  Meta
	done    bool
	failed  error

	// The content digest is computed as the records are put (package
	// trust); the index chunks it completes are stored with the batch
	// of records they cover, so the writer's memory does not grow with
	// the baseline.
	digest      *trust.Builder
	chunks      []indexChunk // complete index chunks not stored yet
	onStatement func(st *trust.Statement, text []byte) ([][]byte, error)

	// outbox entries appended in the transaction that publishes the
	// baseline ([BaselineWriter.EnqueueOnCommit]).
	outbox    []OutboxEntry
	outboxMax int

	stopBeat chan struct{}
	beatDone chan struct{}
}

// Begin starts a pending baseline described by meta (ID is assigned;
// Created and Host default to now and this host). It also removes pending
// baselines of writers that are dead (see docs/store.md).
func (db *DB) Begin(meta Meta) (*BaselineWriter, error) {
	if err := CheckLabel(meta.Label); err != nil {
		return nil, err
	}
	now := time.Now()
	if meta.Created.IsZero() {
		meta.Created = now
	}
	if meta.Host == "" {
		meta.Host, _ = os.Hostname()
	}
	w := &BaselineWriter{db: db, owner: currentOwner(now)}
	if !benchNoDigest {
		w.digest = trust.NewStreamingBuilder(w.addChunk)
	}
	err := db.update(func(tx *safebolt.Tx) error {
		if err := db.gcPending(tx, now, 0); err != nil {
			return err
		}
		m, err := db.bucket(tx, bucketMeta)
		if err != nil {
			return err
		}
		bs, err := db.bucket(tx, bucketBaselines)
		if err != nil {
			return err
		}
		id, ok := getU64(m.Get(keyNextBaselineID))
		if !ok || id == 0 {
			return errorf(ErrCorrupt, "database %s has no valid next baseline id", db.path)
		}
		if err := m.Put(keyNextBaselineID, u64(id+1)); err != nil {
			return err
		}
		b, err := bs.CreateBucket(u64(id))
		if err != nil {
			return fmt.Errorf("create baseline %d: %w", id, err)
		}
		meta.ID = id
		mj, _ := json.Marshal(meta)
		oj, _ := json.Marshal(w.owner)
		if err := b.Put(keyBaselineMeta, mj); err != nil {
			return err
		}
		if err := b.Put(keyPending, oj); err != nil {
			return err
		}
		if _, err := b.CreateBucket(bucketRoots); err != nil {
			return err
		}
		_, err = b.CreateBucket(bucketInventory)
		return err
	})
	if err != nil {
		return nil, err
	}
	w.id, w.meta = meta.ID, meta
	w.stopBeat, w.beatDone = make(chan struct{}), make(chan struct{})
	go w.heartbeat()
	return w, nil
}

// ID returns the id the baseline will have once committed.
func (w *BaselineWriter) ID() uint64 { return w.id }

func (w *BaselineWriter) heartbeat() {
	defer close(w.beatDone)
	t := time.NewTicker(HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stopBeat:
			return
		case <-t.C:
			// A failure (lock held for long) is retried at the next tick;
			// the next batch refreshes the heartbeat too.
			_ = w.db.update(func(tx *safebolt.Tx) error {
				b, err := w.pendingBucket(tx)
				if err != nil {
					return err
				}
				return w.touch(b)
			})
		}
	}
}

func (w *BaselineWriter) stopHeartbeat() {
	select {
	case <-w.stopBeat:
	default:
		close(w.stopBeat)
		<-w.beatDone
	}
}

// pendingBucket returns the writer's baseline bucket, checking that it is
// still pending and owned by this writer (it may have been removed as
// abandoned if this process was stopped for longer than StaleAfter).
func (w *BaselineWriter) pendingBucket(tx *safebolt.Tx) (*safebolt.Bucket, error) {
	bs, err := w.db.bucket(tx, bucketBaselines)
	if err != nil {
		return nil, err
	}
	b := bs.Bucket(u64(w.id))
	if b == nil {
		return nil, fmt.Errorf("pending baseline %d was removed from %s (taken for abandoned: no heartbeat for %s?)", w.id, w.db.path, StaleAfter)
	}
	var o owner
	m := b.Get(keyPending)
	if m == nil || json.Unmarshal(m, &o) != nil || !o.sameProcess(w.owner) {
		return nil, fmt.Errorf("baseline %d in %s is no longer pending for this writer", w.id, w.db.path)
	}
	return b, nil
}

func (w *BaselineWriter) touch(b *safebolt.Bucket) error {
	w.owner.Heartbeat = time.Now()
	oj, _ := json.Marshal(w.owner)
	return b.Put(keyPending, oj)
}

// Put adds a record. The records of a root must come together, in
// [baseline.Key] order, each path once, and the roots in byte order (the
// order of [baseline.Walk] and of the digest's trees). Records are
// committed in batches, each in its own short session.
func (w *BaselineWriter) Put(r baseline.Record) error {
	if w.done {
		return errors.New("baseline writer already finished")
	}
	if w.failed != nil {
		return w.failed
	}
	if r.Root == "" {
		return fmt.Errorf("record %s has no root", quote(r.Path))
	}
	if len(r.Root) > safebolt.MaxKeySize {
		return fmt.Errorf("root %s is too long for the database", quote(r.Root[:64]))
	}
	if r.Path != "" && r.Path[0] == '/' {
		return fmt.Errorf("root %s: path %s is not relative", quote(r.Root), quote(r.Path))
	}
	if len(r.Path) > safebolt.MaxKeySize {
		return fmt.Errorf("root %s: path %s is too long for the database (%d bytes)", quote(r.Root), quote(r.Path[:64]), len(r.Path))
	}
	if r.Root != w.curRoot {
		if w.curRoot != "" && r.Root < w.curRoot {
			return fmt.Errorf("root %s comes after root %s: roots must come in byte order, each once", quote(r.Root), quote(w.curRoot))
		}
		w.curRoot, w.curLast = r.Root, w.curLast[:0]
	}
	key := w.keyBuf[:0]
	if r.Path == "" {
		key = append(key, rootKey...)
	} else {
		key = baseline.AppendKey(key, r.Path)
	}
	w.keyBuf = key
	if len(w.curLast) > 0 && bytes.Compare(key, w.curLast) <= 0 {
		return fmt.Errorf("root %s: record %s comes after %s, not in key order", quote(r.Root), quote(r.Path), quote(pathOfStoreKey(w.curLast)))
	}
	val, err := r.AppendBinary(w.valBuf[:0])
	if err != nil {
		return fmt.Errorf("root %s: encode %s: %w", quote(r.Root), quote(r.Path), err)
	}
	w.valBuf = val
	if w.digest != nil {
		if err := w.digest.AddRecord(&r); err != nil {
			return err
		}
	}
	w.curLast = append(w.curLast[:0], key...)
	w.pack.add(r.Root, key, val)
	w.count(&r)
	if w.pack.records >= batchRecords || w.pack.bytes >= batchBytes {
		err := w.db.update(func(tx *safebolt.Tx) error {
			b, err := w.pendingBucket(tx)
			if err != nil {
				return err
			}
			return w.flush(b)
		})
		if err != nil {
			w.failed = fmt.Errorf("write baseline %d: %w", w.id, err)
			return w.failed
		}
		w.pack.recycle()
		w.chunks = w.chunks[:0]
	}
	return nil
}

func (w *BaselineWriter) count(r *baseline.Record) {
	c := &w.counts
	switch r.Type {
	case baseline.TypeFile:
		c.Files++
		c.Bytes += r.Size
	case baseline.TypeDir:
		c.Dirs++
	case baseline.TypeSymlink:
		c.Symlinks++
	default:
		c.Others++
	}
	if r.Err != "" {
		c.Errors++
	}
	if r.Unstable {
		c.Unstable++
	}
}

// flush writes the buffered records and index chunks into b and
// refreshes the heartbeat.
func (w *BaselineWriter) flush(b *safebolt.Bucket) error {
	roots := b.Bucket(bucketRoots)
	if roots == nil {
		return errorf(ErrCorrupt, "baseline %d in %s has no roots bucket", w.id, w.db.path)
	}
	var (
		rb     *safebolt.Bucket
		rbName string
	)
	for _, r := range w.pack.closed {
		if rb == nil || r.root != rbName {
			var err error
			rb, err = roots.CreateBucketIfNotExists([]byte(r.root))
			if err != nil {
				return fmt.Errorf("root %s: %w", quote(r.root), err)
			}
			rb.SetFillPercent(recordsFillPercent)
			rbName = r.root
		}
		if err := rb.Put(r.key, r.val); err != nil {
			return fmt.Errorf("root %s, path %s: %w", quote(r.root), quote(pathOfStoreKey(r.key)), err)
		}
	}
	if err := putIndexChunks(b, w.chunks); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	return w.touch(b)
}

// PutInventory adds server configuration inventory items to the baseline.
// It may be called several times; items keep their order.
func (w *BaselineWriter) PutInventory(items []serverconf.Item) error {
	if w.done {
		return errors.New("baseline writer already finished")
	}
	if w.failed != nil {
		return w.failed
	}
	if len(items) == 0 {
		return nil // nothing to write: spare a write session (two fsyncs)
	}
	var jsons [][]byte // as stored: the digest's leaves
	err := w.db.update(func(tx *safebolt.Tx) error {
		b, err := w.pendingBucket(tx)
		if err != nil {
			return err
		}
		inv := b.Bucket(bucketInventory)
		if inv == nil {
			return errorf(ErrCorrupt, "baseline %d in %s has no inventory bucket", w.id, w.db.path)
		}
		for i := range items {
			seq, err := inv.NextSequence()
			if err != nil {
				return err
			}
			j, err := json.Marshal(&items[i])
			if err != nil {
				return err
			}
			if err := inv.Put(u64(seq), j); err != nil {
				return err
			}
			jsons = append(jsons, j)
		}
		return nil
	})
	if err != nil {
		w.failed = fmt.Errorf("write inventory of baseline %d: %w", w.id, err)
		return w.failed
	}
	for _, j := range jsons {
		if w.digest != nil {
			w.digest.AddItemJSON(j)
		}
	}
	return nil
}

// Commit writes the remaining records and publishes the baseline in one
// transaction: final meta (ID and counts from the records; fields left
// zero are taken from the meta given to Begin), its content digest (the
// trust statement and the rest of the index), the signatures of
// [BaselineWriter.OnStatement], pending marker removed, and the active
// pointer set if activate is true or no baseline is active yet. It
// returns the stored meta.
func (w *BaselineWriter) Commit(meta Meta, activate bool) (Meta, error) {
	if w.done {
		return Meta{}, errors.New("baseline writer already finished")
	}
	if w.failed != nil {
		return Meta{}, w.failed
	}
	if err := CheckLabel(meta.Label); err != nil {
		return Meta{}, err
	}
	meta.ID = w.id
	w.fillFromBegin(&meta)
	meta.Files, meta.Dirs, meta.Symlinks, meta.Others = w.counts.Files, w.counts.Dirs, w.counts.Symlinks, w.counts.Others
	meta.Errors, meta.Unstable, meta.Bytes = w.counts.Errors, w.counts.Unstable, w.counts.Bytes
	meta.Active = false
	statement, sigs, err := w.seal(meta)
	if err != nil {
		w.failed = fmt.Errorf("commit baseline %d: %w", w.id, err)
		return Meta{}, w.failed
	}
	w.stopHeartbeat()
	now := time.Now()
	err = w.db.update(func(tx *safebolt.Tx) error {
		b, err := w.pendingBucket(tx)
		if err != nil {
			return err
		}
		w.pack.close()
		if err := w.flush(b); err != nil {
			return err
		}
		if err := w.db.gcPending(tx, now, w.id); err != nil {
			return err
		}
		mj, _ := json.Marshal(meta)
		if err := b.Put(keyBaselineMeta, mj); err != nil {
			return err
		}
		if statement != nil { // nil only in a benchNoDigest build
			if err := putStatement(b, statement, sigs); err != nil {
				return fmt.Errorf("store digest: %w", err)
			}
		}
		if err := b.Delete(keyPending); err != nil {
			return err
		}
		if len(w.outbox) > 0 {
			if _, err := w.db.enqueue(tx, now, w.outboxMax, w.outbox); err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
		}
		m, err := w.db.bucket(tx, bucketMeta)
		if err != nil {
			return err
		}
		cur, ok := getU64(m.Get(keyActive))
		if activate || !ok || w.db.committed(tx, cur) == nil {
			meta.Active = true
			return m.Put(keyActive, u64(w.id))
		}
		return nil
	})
	if err != nil {
		w.failed = fmt.Errorf("commit baseline %d: %w", w.id, err)
		return Meta{}, w.failed
	}
	w.done = true
	w.pack, w.chunks = packer{}, nil
	return meta, nil
}

// EnqueueOnCommit makes [BaselineWriter.Commit] append docs to the outbox
// (bounded by max, as [DB.Enqueue]) in the transaction that publishes the
// baseline: both happen or neither does, so an event about the baseline
// (an accepted finding's audit event) is never lost to a crash between
// them, nor queued for a baseline that was not stored.
func (w *BaselineWriter) EnqueueOnCommit(max int, docs ...OutboxEntry) {
	w.outbox = append(w.outbox, docs...)
	w.outboxMax = max
}

// fillFromBegin takes the fields left zero in the final meta from the meta
// given to Begin (booleans are or-ed).
func (w *BaselineWriter) fillFromBegin(m *Meta) {
	b := &w.meta
	if m.Label == "" {
		m.Label = b.Label
	}
	if m.Created.IsZero() {
		m.Created = b.Created
	}
	if m.Host == "" {
		m.Host = b.Host
	}
	if m.Roots == nil {
		m.Roots = b.Roots
	}
	if m.Configs == nil {
		m.Configs = b.Configs
	}
	if m.Duration == 0 {
		m.Duration = b.Duration
	}
	if m.Version == "" {
		m.Version = b.Version
	}
	if m.Sysroot == "" {
		m.Sysroot = b.Sysroot
	}
	if m.Sequence == 0 {
		m.Sequence = b.Sequence
	}
	m.Full = m.Full || b.Full
	m.HashAllSHA256 = m.HashAllSHA256 || b.HashAllSHA256
}

// Abort removes the pending baseline. After a successful Commit it does
// nothing, so `defer w.Abort()` is the usual pattern.
func (w *BaselineWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.pack, w.chunks = packer{}, nil
	w.stopHeartbeat()
	return w.db.update(func(tx *safebolt.Tx) error {
		bs, err := w.db.bucket(tx, bucketBaselines)
		if err != nil {
			return err
		}
		if _, err := w.pendingBucket(tx); err != nil {
			return nil // already gone
		}
		return bs.DeleteBucket(u64(w.id))
	})
}

// gcPending deletes pending baselines whose writer is dead, except keep.
func (db *DB) gcPending(tx *safebolt.Tx, now time.Time, keep uint64) error {
	bs, err := db.bucket(tx, bucketBaselines)
	if err != nil {
		return err
	}
	var dead [][]byte
	c := bs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v != nil || len(k) != 8 {
			continue
		}
		b := bs.Bucket(k)
		m := b.Get(keyPending)
		if m == nil {
			continue
		}
		if id, _ := getU64(k); id == keep {
			continue
		}
		var o owner
		if json.Unmarshal(m, &o) != nil || o.dead(now) {
			dead = append(dead, bytes.Clone(k))
		}
	}
	for _, k := range dead {
		if err := bs.DeleteBucket(k); err != nil {
			return err
		}
	}
	return nil
}

// committed returns the bucket of a committed baseline, or nil.
func (db *DB) committed(tx *safebolt.Tx, id uint64) *safebolt.Bucket {
	bs := tx.Bucket(bucketBaselines)
	if bs == nil {
		return nil
	}
	b := bs.Bucket(u64(id))
	if b == nil || b.Get(keyPending) != nil {
		return nil
	}
	return b
}

func (db *DB) readMeta(b *safebolt.Bucket, id uint64) (Meta, error) {
	var m Meta
	if err := json.Unmarshal(b.Get(keyBaselineMeta), &m); err != nil {
		return Meta{}, errorf(ErrCorrupt, "database %s: meta of baseline %d is damaged: %w", db.path, id, err)
	}
	m.ID = id
	return m, nil
}

func activeID(tx *safebolt.Tx) (uint64, bool) {
	m := tx.Bucket(bucketMeta)
	if m == nil {
		return 0, false
	}
	return getU64(m.Get(keyActive))
}

// List returns the committed baselines ordered by id.
func (db *DB) List() ([]Meta, error) {
	var list []Meta
	err := db.view(func(tx *safebolt.Tx) error {
		var err error
		list, err = db.list(tx)
		return err
	})
	return list, err
}

func (db *DB) list(tx *safebolt.Tx) ([]Meta, error) {
	bs, err := db.bucket(tx, bucketBaselines)
	if err != nil {
		return nil, err
	}
	active, _ := activeID(tx)
	var list []Meta
	c := bs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		id, ok := getU64(k)
		if v != nil || !ok {
			continue
		}
		b := bs.Bucket(k)
		if b.Get(keyPending) != nil {
			continue
		}
		m, err := db.readMeta(b, id)
		if err != nil {
			return nil, err
		}
		m.Active = id == active
		list = append(list, m)
	}
	return list, nil
}

// Resolve finds a committed baseline by reference: "active", an id
// ("12"), or a label (the newest baseline with that label). Numbers are
// always ids (labels cannot be numbers).
func (db *DB) Resolve(ref string) (Meta, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return Meta{}, errors.New("empty baseline reference")
	}
	var found Meta
	err := db.view(func(tx *safebolt.Tx) error {
		active, hasActive := activeID(tx)
		var id uint64
		switch {
		case ref == "active":
			if !hasActive || db.committed(tx, active) == nil {
				return errorf(ErrNotFound, "no active baseline in %s", db.path)
			}
			id = active
		case strings.Trim(ref, "0123456789") == "":
			n, err := strconv.ParseUint(ref, 10, 64)
			if err != nil {
				return errorf(ErrNotFound, "no baseline %s: %v", ref, err)
			}
			id = n
		default:
			list, err := db.list(tx)
			if err != nil {
				return err
			}
			for i := len(list) - 1; i >= 0; i-- {
				if list[i].Label == ref {
					found = list[i]
					return nil
				}
			}
			return errorf(ErrNotFound, "no baseline labelled %s", quote(ref))
		}
		b := db.committed(tx, id)
		if b == nil {
			return errorf(ErrNotFound, "no baseline %d", id)
		}
		m, err := db.readMeta(b, id)
		if err != nil {
			return err
		}
		m.Active = hasActive && id == active
		found = m
		return nil
	})
	return found, err
}

// Activate makes a committed baseline the active one.
func (db *DB) Activate(id uint64) error {
	return db.update(func(tx *safebolt.Tx) error {
		if db.committed(tx, id) == nil {
			return errorf(ErrNotFound, "no baseline %d", id)
		}
		m, err := db.bucket(tx, bucketMeta)
		if err != nil {
			return err
		}
		return m.Put(keyActive, u64(id))
	})
}

// Delete removes a committed baseline. Deleting the active baseline makes
// the newest remaining one active (none if it was the last).
func (db *DB) Delete(id uint64) error {
	return db.update(func(tx *safebolt.Tx) error {
		if db.committed(tx, id) == nil {
			return errorf(ErrNotFound, "no baseline %d", id)
		}
		return db.delete(tx, id)
	})
}

func (db *DB) delete(tx *safebolt.Tx, id uint64) error {
	bs, err := db.bucket(tx, bucketBaselines)
	if err != nil {
		return err
	}
	if err := bs.DeleteBucket(u64(id)); err != nil {
		return fmt.Errorf("delete baseline %d: %w", id, err)
	}
	active, ok := activeID(tx)
	if !ok || active != id {
		return nil
	}
	m, err := db.bucket(tx, bucketMeta)
	if err != nil {
		return err
	}
	// The newest remaining committed baseline becomes active.
	c := bs.Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		nid, ok := getU64(k)
		if v == nil && ok && db.committed(tx, nid) != nil {
			return m.Put(keyActive, u64(nid))
		}
	}
	return m.Delete(keyActive)
}

// Prune deletes all committed baselines but the keep newest ones and the
// active one (which is kept in addition if it is older), and removes
// pending baselines of dead writers. It returns the deleted baselines.
func (db *DB) Prune(keep int) ([]Meta, error) {
	if keep < 0 {
		return nil, fmt.Errorf("prune: cannot keep %d baselines", keep)
	}
	var deleted []Meta
	err := db.update(func(tx *safebolt.Tx) error {
		deleted = nil
		if err := db.gcPending(tx, time.Now(), 0); err != nil {
			return err
		}
		list, err := db.list(tx)
		if err != nil {
			return err
		}
		for i, m := range list {
			if i >= len(list)-keep || m.Active {
				continue
			}
			if err := db.delete(tx, m.ID); err != nil {
				return err
			}
			deleted = append(deleted, m)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}

// Inventory returns the server configuration items of a committed baseline.
func (db *DB) Inventory(id uint64) ([]serverconf.Item, error) {
	var items []serverconf.Item
	err := db.view(func(tx *safebolt.Tx) error {
		b := db.committed(tx, id)
		if b == nil {
			return errorf(ErrNotFound, "no baseline %d", id)
		}
		inv := b.Bucket(bucketInventory)
		if inv == nil {
			return nil
		}
		return inv.ForEach(func(k, v []byte) error {
			var it serverconf.Item
			if err := json.Unmarshal(v, &it); err != nil {
				n, _ := getU64(k)
				return errorf(ErrCorrupt, "database %s: baseline %d: inventory item %d is damaged: %w", db.path, id, n, err)
			}
			items = append(items, it)
			return nil
		})
	})
	return items, err
}
