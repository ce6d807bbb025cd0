package store

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"

	"webfim/baseline"
	"webfim/store/internal/safebolt"
)

// Records streams the records of a committed baseline, ordered by root
// (byte order), then by [baseline.Key] of the path. A non-empty prefix
// keeps only paths starting with it (a byte prefix of the relative path:
// "wp-content/" for the contents of that directory).
//
// The records are read in chunks, each in its own short session, so a
// long consumer (a diff) does not hold the database lock; the consumer may
// use the database itself between records. If the baseline is deleted
// meanwhile, an error saying so is yielded. A record that cannot be
// decoded yields an error naming the baseline, root and path; iteration
// goes on if the consumer continues.
func (db *DB) Records(id uint64, prefix string) baseline.State {
	return db.records(id, nil, prefix)
}

// RootRecords is like [DB.Records] for one root of the baseline; it
// yields an [ErrNotFound] error if the baseline has no such root.
func (db *DB) RootRecords(id uint64, root, prefix string) baseline.State {
	if root == "" {
		return func(yield func(baseline.Record, error) bool) {
			yield(baseline.Record{}, fmt.Errorf("baseline %d: empty root", id))
		}
	}
	return db.records(id, []byte(root), prefix)
}

// maxRecordValue bounds the encoded size of a record (four fields of at
// most 1 MiB each, plus the fixed ones); a longer value is damage.
const maxRecordValue = 5 << 20

// maxBlockValue bounds a block: a block holds one record when that
// record is larger than blockBytes.
const maxBlockValue = maxRecordValue + blockBytes + 64

type chunkPos struct {
	root    []byte // root bucket to continue in; nil: the first one
	lastKey []byte // last key returned in root; nil: start of root
}

func (db *DB) records(id uint64, onlyRoot []byte, prefix string) baseline.State {
	return func(yield func(baseline.Record, error) bool) {
		var pfx []byte
		if prefix != "" {
			var err error
			if pfx, err = storeKey(prefix); err != nil {
				yield(baseline.Record{}, fmt.Errorf("baseline %d: prefix: %w", id, err))
				return
			}
		}
		var (
			pos   chunkPos
			chunk readBuf
		)
		for first := true; ; first = false {
			next, done, err := db.readChunk(&chunk, id, onlyRoot, pfx, pos, first)
			if err != nil {
				yield(baseline.Record{}, err)
				return
			}
			for _, raw := range chunk.recs {
				rec := baseline.Record{Root: raw.root, Path: raw.path}
				if raw.err != nil {
					// The rest of a damaged block is lost; say from where.
					err := fmt.Errorf("baseline %d, root %s, block %s: %w", id, quote(rec.Root), quote(rec.Path), raw.err)
					if !yield(baseline.Record{Root: rec.Root, Path: rec.Path}, err) {
						return
					}
					continue
				}
				if err := unmarshalRecord(&rec, chunk.value(raw)); err != nil {
					err = fmt.Errorf("baseline %d, root %s, path %s: %w", id, quote(rec.Root), quote(rec.Path), err)
					if !yield(baseline.Record{Root: rec.Root, Path: rec.Path}, err) {
						return
					}
					continue
				}
				if !yield(rec, nil) {
					return
				}
			}
			if done {
				return
			}
			pos = next
		}
	}
}

// unmarshalRecord decodes defensively: a decoder bug on hostile input
// must become an error, not a crash of the daemon.
func unmarshalRecord(rec *baseline.Record, val []byte) (err error) {
	if val == nil || len(val) > maxRecordValue {
		return fmt.Errorf("%w: impossible length %d", baseline.ErrCorruptRecord, len(val))
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: decoder panicked: %v", baseline.ErrCorruptRecord, r)
		}
	}()
	return rec.UnmarshalBinary(val)
}

// readBuf holds one chunk of records copied out of a read session. It is
// reused for every chunk of a stream: the decoder copies what it keeps, so
// a chunk's values are dead once its records are decoded, and the values
// share one buffer instead of costing an allocation each.
type readBuf struct {
	recs []storedRecord
	vals []byte
}

// storedRecord is a record as read from the database: its value is
// vals[start:end] of the chunk. A damaged block gives a storedRecord with
// err set, after the records decoded before the damage.
type storedRecord struct {
	root, path string
	start, end int
	err        error
}

func (c *readBuf) value(r storedRecord) []byte {
	if v := c.vals[r.start:r.end:r.end]; v != nil {
		return v
	}
	return []byte{} // an empty value at the start of a chunk is still a value
}

// readChunk copies whole blocks of records, starting after pos, out of one
// read session into out (replacing what it held), until the chunk limits
// are reached.
func (db *DB) readChunk(out *readBuf, id uint64, onlyRoot, pfx []byte, pos chunkPos, first bool) (next chunkPos, done bool, err error) {
	out.recs, out.vals = out.recs[:0], out.vals[:0]
	err = db.view(func(tx *safebolt.Tx) error {
		out.recs, out.vals = out.recs[:0], out.vals[:0] // a retried session starts again
		b := db.committed(tx, id)
		if b == nil {
			if first {
				return errorf(ErrNotFound, "no baseline %d", id)
			}
			return errorf(ErrNotFound, "baseline %d was deleted while it was being read", id)
		}
		roots := b.Bucket(bucketRoots)
		if roots == nil {
			return errorf(ErrCorrupt, "database %s: baseline %d has no roots bucket", db.path, id)
		}
		rc := roots.Cursor()
		var rk []byte
		switch {
		case onlyRoot != nil:
			rk, _ = rc.Seek(onlyRoot)
			if !bytes.Equal(rk, onlyRoot) {
				if first {
					return errorf(ErrNotFound, "baseline %d has no root %s", id, quote(string(onlyRoot)))
				}
				rk = nil
			}
		case pos.root == nil:
			rk, _ = rc.First()
		default:
			rk, _ = rc.Seek(pos.root)
			if !bytes.Equal(rk, pos.root) {
				pos.lastKey = nil
			}
		}
		size := 0
		for rk != nil {
			rb := roots.Bucket(rk)
			if rb != nil {
				root := string(rk)
				c := rb.Cursor()
				var k, v []byte
				switch {
				case pos.lastKey != nil:
					k, v = c.Seek(pos.lastKey)
					if bytes.Equal(k, pos.lastKey) {
						k, v = c.Next()
					}
				case pfx != nil:
					k, v = seekBlock(c, pfx)
				default:
					k, v = c.First()
				}
				for ; k != nil; k, v = c.Next() {
					if v == nil {
						continue // a nested bucket has no business here
					}
					if len(k) > safebolt.MaxKeySize || len(v) > maxBlockValue {
						// A damaged page can claim a huge key or value;
						// do not copy whatever memory follows the map.
						after := "the start"
						if len(out.recs) > 0 {
							after = quote(out.recs[len(out.recs)-1].path)
						}
						return errorf(ErrCorrupt, "database %s: baseline %d, root %s: damaged block (%d-byte key, %d-byte value) after %s", db.path, id, quote(root), len(k), len(v), after)
					}
					if pfx != nil && bytes.Compare(k, pfx) > 0 && !bytes.HasPrefix(k, pfx) {
						break // blocks from here on hold greater keys only
					}
					past := false
					derr := decodeBlock(k, v, func(key, val []byte) bool {
						if pfx != nil && !bytes.HasPrefix(key, pfx) {
							past = bytes.Compare(key, pfx) > 0
							return !past
						}
						r := storedRecord{root: root, path: pathOfStoreKey(key), start: len(out.vals)}
						out.vals = append(out.vals, val...)
						r.end = len(out.vals)
						out.recs = append(out.recs, r)
						size += len(key) + len(val)
						return true
					})
					if derr != nil {
						out.recs = append(out.recs, storedRecord{root: root, path: pathOfStoreKey(k), err: derr})
					}
					if past {
						break
					}
					if len(out.recs) >= chunkRecords || size >= chunkBytes {
						next = chunkPos{root: bytes.Clone(rk), lastKey: bytes.Clone(k)}
						return nil
					}
				}
			}
			pos.lastKey = nil
			if onlyRoot != nil {
				break
			}
			rk, _ = rc.Next()
		}
		done = true
		return nil
	})
	return next, done, err
}

// Lookup returns the record of one path under root in a committed
// baseline; ok is false if the baseline has no such record.
func (db *DB) Lookup(id uint64, root, path string) (rec baseline.Record, ok bool, err error) {
	key, err := storeKey(path)
	if err != nil {
		return rec, false, err
	}
	var val []byte
	err = db.view(func(tx *safebolt.Tx) error {
		b := db.committed(tx, id)
		if b == nil {
			return errorf(ErrNotFound, "no baseline %d", id)
		}
		roots := b.Bucket(bucketRoots)
		if roots == nil {
			return errorf(ErrCorrupt, "database %s: baseline %d has no roots bucket", db.path, id)
		}
		rb := roots.Bucket([]byte(root))
		if rb == nil {
			return nil
		}
		k, v := seekBlock(rb.Cursor(), key)
		if k == nil || v == nil {
			return nil
		}
		if len(v) > maxBlockValue {
			return fmt.Errorf("baseline %d, root %s, path %s: %w: impossible length %d", id, quote(root), quote(path), errBlock, len(v))
		}
		derr := decodeBlock(k, v, func(k, v []byte) bool {
			switch bytes.Compare(k, key) {
			case 0:
				val = bytes.Clone(v)
				if val == nil {
					val = []byte{}
				}
				return false
			case 1:
				return false
			}
			return true
		})
		if derr != nil && val == nil {
			return fmt.Errorf("baseline %d, root %s, path %s: %w", id, quote(root), quote(path), derr)
		}
		return nil
	})
	if err != nil || val == nil {
		return rec, false, err
	}
	rec = baseline.Record{Root: root, Path: path}
	if err := unmarshalRecord(&rec, val); err != nil {
		return baseline.Record{Root: root, Path: path}, false, fmt.Errorf("baseline %d, root %s, path %s: %w", id, quote(root), quote(path), err)
	}
	return rec, true, nil
}

// maxQuoted bounds how much of a path an error message shows.
const maxQuoted = 1024

// quote returns s as is if it is printable, else Go-quoted with escapes
// (\x.. for bytes that are not UTF-8, \n for newlines), so that error
// messages can be read and copied.
func quote(s string) string {
	if len(s) > maxQuoted {
		return quote(s[:maxQuoted]) + fmt.Sprintf("...(%d bytes)", len(s))
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
		i += n
	}
	return s
}
