package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"webfim/store/internal/safebolt"
)

// OutboxEntry is an alert waiting for delivery.
type OutboxEntry struct {
	Seq      uint64    // assigned by Enqueue, in enqueue order
	ID       string    // the document id (event.id)
	Doc      []byte    // the encoded document
	Enqueued time.Time // set to now by Enqueue if zero
}

// Keys of the outbox_meta bucket.
var (
	keyOutboxDepth   = []byte("depth")
	keyOutboxDropped = []byte("dropped")
)

const outboxEncodingVersion = 1

// encodeEntry: version byte, enqueued time (unix ns, 8 bytes BE),
// uvarint length of ID, ID, document.
func encodeEntry(e *OutboxEntry) []byte {
	b := make([]byte, 0, 1+8+binary.MaxVarintLen64+len(e.ID)+len(e.Doc))
	b = append(b, outboxEncodingVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Enqueued.UnixNano()))
	b = binary.AppendUvarint(b, uint64(len(e.ID)))
	b = append(b, e.ID...)
	return append(b, e.Doc...)
}

func decodeEntry(seq uint64, b []byte) (OutboxEntry, error) {
	if len(b) < 9 || b[0] != outboxEncodingVersion {
		return OutboxEntry{}, errors.New("bad header")
	}
	e := OutboxEntry{Seq: seq, Enqueued: time.Unix(0, int64(binary.BigEndian.Uint64(b[1:9])))}
	n, l := binary.Uvarint(b[9:])
	if l <= 0 || n > uint64(len(b)-9-l) {
		return OutboxEntry{}, errors.New("bad id length")
	}
	rest := b[9+l:]
	e.ID = string(rest[:n])
	e.Doc = append([]byte(nil), rest[n:]...)
	return e, nil
}

// Enqueue appends documents to the durable outbox. If the outbox then
// holds more than max entries (max > 0), the oldest are dropped and
// counted persistently (see [DB.OutboxStats]); it returns how many this
// call dropped. max <= 0 means unbounded.
func (db *DB) Enqueue(max int, docs ...OutboxEntry) (dropped int, err error) {
	now := time.Now()
	err = db.update(func(tx *safebolt.Tx) error {
		dropped, err = db.enqueue(tx, now, max, docs)
		return err
	})
	return dropped, err
}

// enqueue appends docs to the outbox in tx, as [DB.Enqueue] does.
func (db *DB) enqueue(tx *safebolt.Tx, now time.Time, max int, docs []OutboxEntry) (dropped int, err error) {
	ob, err := db.bucket(tx, bucketOutbox)
	if err != nil {
		return 0, err
	}
	om, err := db.bucket(tx, bucketOutboxMeta)
	if err != nil {
		return 0, err
	}
	depth, _ := getU64(om.Get(keyOutboxDepth))
	total, _ := getU64(om.Get(keyOutboxDropped))
	ob.SetFillPercent(0.9) // appended in sequence order
	for i := range docs {
		e := docs[i]
		if e.Enqueued.IsZero() {
			e.Enqueued = now
		}
		seq, err := ob.NextSequence()
		if err != nil {
			return 0, err
		}
		if err := ob.Put(u64(seq), encodeEntry(&e)); err != nil {
			return 0, fmt.Errorf("outbox entry %s: %w", quote(e.ID), err)
		}
		depth++
	}
	if max > 0 {
		c := ob.Cursor()
		for k, _ := c.First(); k != nil && depth > uint64(max); k, _ = c.First() {
			if err := ob.Delete(k); err != nil {
				return 0, err
			}
			depth--
			dropped++
		}
	}
	total += uint64(dropped)
	if err := om.Put(keyOutboxDepth, u64(depth)); err != nil {
		return 0, err
	}
	return dropped, om.Put(keyOutboxDropped, u64(total))
}

// Pending returns up to n of the oldest entries (all if n <= 0), in
// sequence order. They stay in the outbox until acknowledged.
func (db *DB) Pending(n int) ([]OutboxEntry, error) { return db.PendingAfter(0, n) }

// PendingAfter is [DB.Pending] for the entries whose sequence number is
// greater than after: a deliverer that remembers how far an output got
// seeks there directly, however many older entries another output has
// not acknowledged yet.
func (db *DB) PendingAfter(after uint64, n int) ([]OutboxEntry, error) {
	if after == math.MaxUint64 {
		return nil, nil
	}
	var list []OutboxEntry
	err := db.view(func(tx *safebolt.Tx) error {
		ob, err := db.bucket(tx, bucketOutbox)
		if err != nil {
			return err
		}
		c := ob.Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && (n <= 0 || len(list) < n); k, v = c.Next() {
			seq, ok := getU64(k)
			if !ok || v == nil {
				return errorf(ErrCorrupt, "database %s: outbox key %x is damaged", db.path, k)
			}
			e, err := decodeEntry(seq, v)
			if err != nil {
				return errorf(ErrCorrupt, "database %s: outbox entry %d is damaged: %w", db.path, seq, err)
			}
			list = append(list, e)
		}
		return nil
	})
	return list, err
}

// Ack removes delivered entries; unknown sequence numbers (already
// acknowledged or dropped) are ignored.
func (db *DB) Ack(seqs ...uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	return db.update(func(tx *safebolt.Tx) error {
		ob, err := db.bucket(tx, bucketOutbox)
		if err != nil {
			return err
		}
		om, err := db.bucket(tx, bucketOutboxMeta)
		if err != nil {
			return err
		}
		depth, _ := getU64(om.Get(keyOutboxDepth))
		for _, s := range seqs {
			k := u64(s)
			if ob.Get(k) == nil {
				continue
			}
			if err := ob.Delete(k); err != nil {
				return err
			}
			if depth > 0 {
				depth--
			}
		}
		return om.Put(keyOutboxDepth, u64(depth))
	})
}

// OutboxStats returns the number of entries waiting and how many were
// ever dropped because the outbox was full.
func (db *DB) OutboxStats() (depth int, dropped uint64, err error) {
	err = db.view(func(tx *safebolt.Tx) error {
		om, err := db.bucket(tx, bucketOutboxMeta)
		if err != nil {
			return err
		}
		d, _ := getU64(om.Get(keyOutboxDepth))
		depth = int(d)
		dropped, _ = getU64(om.Get(keyOutboxDropped))
		return nil
	})
	return depth, dropped, err
}

// Seen returns when the finding with this fingerprint was last alerted.
func (db *DB) Seen(fingerprint string) (time.Time, bool, error) {
	var (
		t  time.Time
		ok bool
	)
	err := db.view(func(tx *safebolt.Tx) error {
		sb, err := db.bucket(tx, bucketSeen)
		if err != nil {
			return err
		}
		if v, valid := getU64(sb.Get([]byte(fingerprint))); valid {
			t, ok = time.Unix(0, int64(v)), true
		}
		return nil
	})
	return t, ok, err
}

// MarkSeen records that the finding with this fingerprint was alerted at t.
func (db *DB) MarkSeen(fingerprint string, t time.Time) error {
	return db.MarkSeenAll(t, fingerprint)
}

// MarkSeenAll is [DB.MarkSeen] for many fingerprints in one session.
func (db *DB) MarkSeenAll(t time.Time, fingerprints ...string) error {
	for _, fp := range fingerprints {
		if fp == "" {
			return errors.New("empty dedupe fingerprint")
		}
		if len(fp) > safebolt.MaxKeySize {
			return fmt.Errorf("dedupe fingerprint of %d bytes is too long", len(fp))
		}
	}
	if len(fingerprints) == 0 {
		return nil
	}
	return db.update(func(tx *safebolt.Tx) error {
		sb, err := db.bucket(tx, bucketSeen)
		if err != nil {
			return err
		}
		for _, fp := range fingerprints {
			if err := sb.Put([]byte(fp), u64(uint64(t.UnixNano()))); err != nil {
				return err
			}
		}
		return nil
	})
}

// ForgetSeen deletes fingerprints last alerted before t, so the dedupe
// table does not grow forever; it returns how many were deleted.
func (db *DB) ForgetSeen(before time.Time) (int, error) {
	n := 0
	err := db.update(func(tx *safebolt.Tx) error {
		n = 0
		sb, err := db.bucket(tx, bucketSeen)
		if err != nil {
			return err
		}
		var old [][]byte
		err = sb.ForEach(func(k, v []byte) error {
			if len(k) > safebolt.MaxKeySize {
				return errorf(ErrCorrupt, "database %s: damaged key in the dedupe table", db.path)
			}
			if ts, ok := getU64(v); !ok || time.Unix(0, int64(ts)).Before(before) {
				old = append(old, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := sb.Delete(k); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	return n, err
}

// ForgetSeenUnder deletes the dedupe entries whose key starts with one of
// prefixes ("" matches every key), except those keep (if set) returns
// true for, and returns how many it deleted. The daemon keys its entries
// by subject (a path, an item) so that it can forget every finding of a
// subject, or of a directory, once it has gone. The entries are looked
// up in a read session first: when none is to go, nothing is written.
func (db *DB) ForgetSeenUnder(prefixes []string, keep func(key string, last time.Time) bool) (int, error) {
	match := func(tx *safebolt.Tx) ([][]byte, error) {
		sb, err := db.bucket(tx, bucketSeen)
		if err != nil {
			return nil, err
		}
		var keys [][]byte
		c := sb.Cursor()
		for _, p := range prefixes {
			for k, v := c.Seek([]byte(p)); k != nil && bytes.HasPrefix(k, []byte(p)); k, v = c.Next() {
				ts, _ := getU64(v)
				if keep == nil || !keep(string(k), time.Unix(0, int64(ts))) {
					keys = append(keys, bytes.Clone(k))
				}
			}
		}
		slices.SortFunc(keys, bytes.Compare) // overlapping prefixes match a key twice
		return slices.CompactFunc(keys, bytes.Equal), nil
	}
	var found [][]byte
	err := db.view(func(tx *safebolt.Tx) (err error) {
		found, err = match(tx)
		return err
	})
	if err != nil || len(found) == 0 {
		return 0, err
	}
	n := 0
	err = db.update(func(tx *safebolt.Tx) error {
		keys, err := match(tx) // again: the table may have changed meanwhile
		if err != nil {
			return err
		}
		sb, err := db.bucket(tx, bucketSeen)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := sb.Delete(k); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	return n, err
}
