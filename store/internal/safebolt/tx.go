package safebolt

import (
	"encoding/binary"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Tx is a transaction of a session. The buckets it hands out have valid
// page trees; a bucket whose tree is damaged is handed out as nil, as if
// it did not exist, and the session then fails with the damage (see
// [DB.View]).
type Tx struct {
	btx   *bolt.Tx
	db    *DB
	check *treeCheck // nil for a file being created
	err   error      // the first damage found
	// valid holds the buckets of this transaction already checked or
	// created in it. bbolt hands out the same *bolt.Bucket for a name
	// within a transaction, and once a bucket is modified its state is
	// in memory, not in the page a check would read (an inline bucket
	// that got a nested bucket reports an empty page), so a bucket is
	// checked once, when it is first read from the file.
	valid map[*bolt.Bucket]bool
}

// fail records damage found at where; the session fails with it.
func (tx *Tx) fail(where string, err error) error {
	if tx.err == nil {
		tx.err = Errorf(ErrCorrupt, "database %s is damaged: %s: %v", tx.db.path, where, err)
	}
	return tx.err
}

// Err returns the damage found so far in this transaction, or nil.
func (tx *Tx) Err() error { return tx.err }

// Size returns the size of the file as the transaction sees it: the pages
// in use.
func (tx *Tx) Size() int64 { return tx.btx.Size() }

// Bucket returns the top-level bucket name, or nil.
func (tx *Tx) Bucket(name []byte) *Bucket {
	return tx.open(tx.btx.Bucket(name), nil, name)
}

// CreateBucket creates a top-level bucket.
func (tx *Tx) CreateBucket(name []byte) (*Bucket, error) {
	b, err := tx.btx.CreateBucket(name)
	if err != nil {
		return nil, err
	}
	tx.markValid(b)
	return &Bucket{b: b, tx: tx, name: name}, nil
}

func (tx *Tx) markValid(b *bolt.Bucket) {
	if tx.valid == nil {
		tx.valid = map[*bolt.Bucket]bool{}
	}
	tx.valid[b] = true
}

// CreateBucketIfNotExists returns the top-level bucket name, creating it
// if needed.
func (tx *Tx) CreateBucketIfNotExists(name []byte) (*Bucket, error) {
	if b := tx.Bucket(name); b != nil || tx.err != nil {
		return b, tx.err
	}
	return tx.CreateBucket(name)
}

// Cursor iterates over the names of the top-level buckets (values are nil).
func (tx *Tx) Cursor() *Cursor { return &Cursor{c: tx.btx.Cursor()} }

// open wraps b, a bucket just opened, once its page tree is valid.
func (tx *Tx) open(b *bolt.Bucket, parent *Bucket, name []byte) *Bucket {
	if b == nil || tx.err != nil {
		return nil
	}
	w := &Bucket{b: b, tx: tx, parent: parent, name: name}
	if tx.check != nil && !tx.valid[b] {
		if err := tx.check.bucket(b, false); err != nil {
			tx.fail(w.where(), err)
			return nil
		}
		tx.markValid(b)
	}
	return w
}

// Bucket is a bucket whose page tree is valid.
type Bucket struct {
	b      *bolt.Bucket
	tx     *Tx
	parent *Bucket
	name   []byte
}

// where names the bucket for error messages: "bucket baselines > 3 > roots".
func (b *Bucket) where() string {
	var names []string
	for p := b; p != nil; p = p.parent {
		names = append(names, bucketName(p.name))
	}
	var sb strings.Builder
	sb.WriteString("bucket ")
	for i := len(names) - 1; i >= 0; i-- {
		sb.WriteString(names[i])
		if i > 0 {
			sb.WriteString(" > ")
		}
	}
	return sb.String()
}

// Bucket returns the nested bucket name, or nil.
func (b *Bucket) Bucket(name []byte) *Bucket { return b.tx.open(b.b.Bucket(name), b, name) }

// CreateBucket creates a nested bucket.
func (b *Bucket) CreateBucket(name []byte) (*Bucket, error) {
	nb, err := b.b.CreateBucket(name)
	if err != nil {
		return nil, err
	}
	b.tx.markValid(nb)
	return &Bucket{b: nb, tx: b.tx, parent: b, name: name}, nil
}

// CreateBucketIfNotExists returns the nested bucket name, creating it if
// needed.
func (b *Bucket) CreateBucketIfNotExists(name []byte) (*Bucket, error) {
	if nb := b.Bucket(name); nb != nil || b.tx.err != nil {
		return nb, b.tx.err
	}
	return b.CreateBucket(name)
}

// DeleteBucket deletes the nested bucket name and everything in it, once
// its page tree and those of the buckets nested in it are valid (bbolt
// walks them all to free their pages).
func (b *Bucket) DeleteBucket(name []byte) error {
	if b.tx.err != nil {
		return b.tx.err
	}
	if nb := b.b.Bucket(name); nb != nil && b.tx.check != nil {
		if err := b.tx.check.bucket(nb, true); err != nil {
			return b.tx.fail((&Bucket{parent: b, name: name}).where(), err)
		}
	}
	return b.b.DeleteBucket(name)
}

// Get returns the value of key, nil if there is none or it is a bucket.
func (b *Bucket) Get(key []byte) []byte { return b.b.Get(key) }

// Put sets the value of key.
func (b *Bucket) Put(key, value []byte) error { return b.b.Put(key, value) }

// Delete removes key.
func (b *Bucket) Delete(key []byte) error { return b.b.Delete(key) }

// NextSequence returns the next value of the bucket's sequence.
func (b *Bucket) NextSequence() (uint64, error) { return b.b.NextSequence() }

// SetFillPercent sets how full bbolt fills pages when they split (0.5 by
// default; keys inserted in order fill pages best near 1).
func (b *Bucket) SetFillPercent(f float64) { b.b.FillPercent = f }

// ForEach calls fn for each key and value; nested buckets have a nil value.
func (b *Bucket) ForEach(fn func(k, v []byte) error) error { return b.b.ForEach(fn) }

// ForEachBucket calls fn with the name of each nested bucket.
func (b *Bucket) ForEachBucket(fn func(k []byte) error) error { return b.b.ForEachBucket(fn) }

// Cursor iterates over the bucket's keys in order.
func (b *Bucket) Cursor() *Cursor { return &Cursor{c: b.b.Cursor()} }

// Cursor iterates over a bucket's keys in byte order. A key holding a
// nested bucket has a nil value. Keys and values are valid for the life
// of the transaction only.
type Cursor struct{ c *bolt.Cursor }

// First moves to the first key.
func (c *Cursor) First() (k, v []byte) { return c.c.First() }

// Last moves to the last key.
func (c *Cursor) Last() (k, v []byte) { return c.c.Last() }

// Next moves to the next key.
func (c *Cursor) Next() (k, v []byte) { return c.c.Next() }

// Prev moves to the previous key.
func (c *Cursor) Prev() (k, v []byte) { return c.c.Prev() }

// Seek moves to key, or to the next key after it.
func (c *Cursor) Seek(key []byte) (k, v []byte) { return c.c.Seek(key) }

// Delete removes the key the cursor is on.
func (c *Cursor) Delete() error { return c.c.Delete() }

// bucketName shows a bucket name in an error message: as is if it is
// printable, as a number if it is an 8-byte id, else Go-quoted.
func bucketName(k []byte) string {
	printable := utf8.Valid(k)
	for _, r := range string(k) {
		printable = printable && unicode.IsPrint(r)
	}
	switch {
	case printable && len(k) > 0:
		return string(k)
	case len(k) == 8:
		return strconv.FormatUint(binary.BigEndian.Uint64(k), 10)
	}
	return strconv.Quote(string(k))
}
