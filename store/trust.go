package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"webfim/store/internal/safebolt"
)

// Keys of the trust data of a baseline (package trust defines what the
// values mean; the store keeps them). See docs/store.md.
var (
	bucketTrust      = []byte("trust")
	keyStatement     = []byte("statement")
	bucketIndex      = []byte("index")
	bucketSignatures = []byte("signatures")
	keySignedMarks   = []byte("signed_marks")
)

// maxTrustValue bounds a trust value read from the file (a statement, an
// index chunk or a signature): a damaged length must not be copied.
const maxTrustValue = 16 << 20

// Digest is what the store keeps about a baseline's content digest: the
// statement text, the index of each root's records (chunks in order) and
// the signatures (each an opaque blob: the signed statement and the
// signature).
type Digest struct {
	Statement  []byte
	Index      map[string][][]byte
	Signatures [][]byte
}

// SetDigest makes [BaselineWriter.Commit] store a digest in its
// transaction: fn gets the final meta (ids and counts filled in) and
// returns the digest. An error from fn fails the commit.
func (w *BaselineWriter) SetDigest(fn func(Meta) (Digest, error)) { w.digest = fn }

// putDigest writes d into the baseline bucket b, replacing the statement
// and index and adding the signatures.
func putDigest(b *safebolt.Bucket, d Digest) error {
	if len(d.Statement) == 0 {
		return fmt.Errorf("empty digest statement")
	}
	tb, err := b.CreateBucketIfNotExists(bucketTrust)
	if err != nil {
		return err
	}
	if err := tb.Put(keyStatement, d.Statement); err != nil {
		return err
	}
	if tb.Bucket(bucketIndex) != nil {
		if err := tb.DeleteBucket(bucketIndex); err != nil {
			return err
		}
	}
	ib, err := tb.CreateBucket(bucketIndex)
	if err != nil {
		return err
	}
	for root, chunks := range d.Index {
		rb, err := ib.CreateBucket([]byte(root))
		if err != nil {
			return fmt.Errorf("index of root %s: %w", quote(root), err)
		}
		rb.SetFillPercent(recordsFillPercent)
		for i, c := range chunks {
			if err := rb.Put(u64(uint64(i)), c); err != nil {
				return err
			}
		}
	}
	for _, s := range d.Signatures {
		if err := addSignature(tb, s); err != nil {
			return err
		}
	}
	return nil
}

func addSignature(tb *safebolt.Bucket, sig []byte) error {
	sb, err := tb.CreateBucketIfNotExists(bucketSignatures)
	if err != nil {
		return err
	}
	dup := false
	if err := sb.ForEach(func(_, v []byte) error {
		dup = dup || bytes.Equal(v, sig)
		return nil
	}); err != nil {
		return err
	}
	if dup {
		return nil
	}
	n, err := sb.NextSequence()
	if err != nil {
		return err
	}
	return sb.Put(u64(n), sig)
}

// PutDigest stores the digest of a committed baseline (one taken before
// digests were recorded, or whose digest is recomputed), replacing its
// statement and index and adding the signatures.
func (db *DB) PutDigest(id uint64, d Digest) error {
	return db.update(func(tx *safebolt.Tx) error {
		b := db.committed(tx, id)
		if b == nil {
			return errorf(ErrNotFound, "no baseline %d", id)
		}
		return putDigest(b, d)
	})
}

// Digest returns the stored digest of a committed baseline, without its
// index (see [DB.IndexChunks]); Statement is nil when none was recorded.
func (db *DB) Digest(id uint64) (Digest, error) {
	var d Digest
	err := db.view(func(tx *safebolt.Tx) error {
		d = Digest{}
		b := db.committed(tx, id)
		if b == nil {
			return errorf(ErrNotFound, "no baseline %d", id)
		}
		tb := b.Bucket(bucketTrust)
		if tb == nil {
			return nil
		}
		if st := tb.Get(keyStatement); st != nil {
			if len(st) > maxTrustValue {
				return errorf(ErrCorrupt, "database %s: baseline %d: damaged statement (%d bytes)", db.path, id, len(st))
			}
			d.Statement = bytes.Clone(st)
		}
		sb := tb.Bucket(bucketSignatures)
		if sb == nil {
			return nil
		}
		return sb.ForEach(func(k, v []byte) error {
			if v == nil || len(v) > maxTrustValue {
				return errorf(ErrCorrupt, "database %s: baseline %d: damaged signature %x", db.path, id, k)
			}
			d.Signatures = append(d.Signatures, bytes.Clone(v))
			return nil
		})
	})
	return d, err
}

// IndexChunks returns the stored index chunks of one root of a committed
// baseline, in order (none when the baseline has no index for it).
func (db *DB) IndexChunks(id uint64, root string) ([][]byte, error) {
	var out [][]byte
	err := db.view(func(tx *safebolt.Tx) error {
		out = nil
		b := db.committed(tx, id)
		if b == nil {
			return errorf(ErrNotFound, "no baseline %d", id)
		}
		tb := b.Bucket(bucketTrust)
		if tb == nil || tb.Bucket(bucketIndex) == nil {
			return nil
		}
		rb := tb.Bucket(bucketIndex).Bucket([]byte(root))
		if rb == nil {
			return nil
		}
		next := uint64(0)
		return rb.ForEach(func(k, v []byte) error {
			n, ok := getU64(k)
			if !ok || n != next || v == nil || len(v) > maxTrustValue {
				return errorf(ErrCorrupt, "database %s: baseline %d: index of root %s is damaged at chunk %d", db.path, id, quote(root), next)
			}
			next++
			out = append(out, bytes.Clone(v))
			return nil
		})
	})
	return out, err
}

// AddSignature adds a signature to a committed baseline (an identical one
// is not added twice).
func (db *DB) AddSignature(id uint64, sig []byte) error {
	return db.update(func(tx *safebolt.Tx) error {
		b := db.committed(tx, id)
		if b == nil {
			return errorf(ErrNotFound, "no baseline %d", id)
		}
		tb, err := b.CreateBucketIfNotExists(bucketTrust)
		if err != nil {
			return err
		}
		return addSignature(tb, sig)
	})
}

// SignedMark is the newest signed baseline a database has seen from one
// host: a verifier refuses an older one as the active baseline.
type SignedMark struct {
	Host     string    `json:"host"`
	Sequence uint64    `json:"sequence"`
	Created  time.Time `json:"created"`
	Digest   string    `json:"digest"`
}

// SignedMarks returns the marks by host.
func (db *DB) SignedMarks() (map[string]SignedMark, error) {
	marks := map[string]SignedMark{}
	err := db.view(func(tx *safebolt.Tx) error {
		m, err := db.bucket(tx, bucketMeta)
		if err != nil {
			return err
		}
		marks, err = db.readMarks(m)
		return err
	})
	return marks, err
}

func (db *DB) readMarks(m *safebolt.Bucket) (map[string]SignedMark, error) {
	marks := map[string]SignedMark{}
	v := m.Get(keySignedMarks)
	if v == nil {
		return marks, nil
	}
	if err := json.Unmarshal(v, &marks); err != nil {
		return nil, errorf(ErrCorrupt, "database %s: signed marks are damaged: %w", db.path, err)
	}
	return marks, nil
}

// RaiseSignedMark records mark unless the host's mark is already at least
// as new (by sequence, then creation time). It reports whether it did.
func (db *DB) RaiseSignedMark(mark SignedMark) (bool, error) {
	raised := false
	err := db.update(func(tx *safebolt.Tx) error {
		raised = false
		m, err := db.bucket(tx, bucketMeta)
		if err != nil {
			return err
		}
		marks, err := db.readMarks(m)
		if err != nil {
			return err
		}
		if old, ok := marks[mark.Host]; ok && (old.Sequence > mark.Sequence || old.Sequence == mark.Sequence && !mark.Created.After(old.Created)) {
			return nil
		}
		marks[mark.Host] = mark
		j, err := json.Marshal(marks)
		if err != nil {
			return err
		}
		raised = true
		return m.Put(keySignedMarks, j)
	})
	return raised, err
}
