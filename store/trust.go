package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"webfim/store/internal/safebolt"
	"webfim/trust"
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
// statement text and the signatures (each an opaque blob: the signed
// statement and the signature). The index is read with
// [DB.IndexChunks].
type Digest struct {
	Statement  []byte
	Signatures [][]byte
}

// Statement returns the metadata part of the baseline's
// [trust.Statement]: sequence, time, host, label, version, options,
// counts, configs and roots; [trust.Builder.Finish] adds the tree heads.
// The sequence is m.Sequence, or the ID when that is 0 (a baseline taken
// in this database).
func (m Meta) Statement() trust.Statement {
	s := trust.Statement{
		Sequence: m.ID, Created: m.Created, Host: m.Host, Label: m.Label, Version: m.Version,
		Sysroot: m.Sysroot, Full: m.Full, HashAllSHA256: m.HashAllSHA256,
		Counts: trust.Counts{
			Files: m.Files, Dirs: m.Dirs, Symlinks: m.Symlinks, Others: m.Others,
			Errors: m.Errors, Unstable: m.Unstable, Bytes: m.Bytes,
		},
		Configs: m.Configs,
		Review:  storedReview(m.Review),
		V1:      m.StatementV1,
	}
	if m.Sequence != 0 {
		s.Sequence = m.Sequence
	}
	for _, r := range m.Roots {
		s.Roots = append(s.Roots, trust.RootHead{Path: r})
	}
	return s
}

// storedReview returns rv as it reads back from the stored metadata
// (JSON, where a string that is not UTF-8 gets U+FFFD), so that the
// statement made when the baseline is written is the one recomputed
// from what was stored.
func storedReview(rv *Review) *Review {
	if rv == nil {
		return nil
	}
	data, err := json.Marshal(rv)
	if err != nil {
		return rv
	}
	var out Review
	if json.Unmarshal(data, &out) != nil {
		return rv
	}
	return &out
}

// OnStatement makes [BaselineWriter.Commit] call fn with the baseline's
// statement (its content digest, final) before publishing it; fn returns
// the signatures to store with the baseline (opaque blobs, see
// [Digest]), so that a baseline signed as it is taken is never visible
// unsigned, or an error that fails the commit (an import whose records
// do not make the statement of its file). fn runs outside any database
// session: it may take its time (a hardware token waiting for a touch).
func (w *BaselineWriter) OnStatement(fn func(st *trust.Statement, text []byte) (signatures [][]byte, err error)) {
	w.onStatement = fn
}

// indexChunk is an index chunk waiting to be stored with the next batch.
type indexChunk struct {
	root string
	n    uint64
	data []byte
}

// addChunk is the writer's digest builder's sink.
func (w *BaselineWriter) addChunk(root string, n uint64, c trust.Chunk) {
	data, _ := c.MarshalBinary()
	w.chunks = append(w.chunks, indexChunk{root: root, n: n, data: data})
}

// seal finishes the digest for the final meta and calls the OnStatement
// hook. The heartbeat still runs while the hook does.
func (w *BaselineWriter) seal(meta Meta) (text []byte, sigs [][]byte, err error) {
	if w.digest == nil {
		return nil, nil, nil // benchNoDigest
	}
	st, _ := w.digest.Finish(meta.Statement())
	text = st.MarshalText()
	if w.onStatement != nil {
		if sigs, err = w.onStatement(&st, text); err != nil {
			return nil, nil, err
		}
	}
	return text, sigs, nil
}

// putIndexChunks stores index chunks in the trust bucket of the baseline
// bucket b.
func putIndexChunks(b *safebolt.Bucket, chunks []indexChunk) error {
	if len(chunks) == 0 {
		return nil
	}
	tb, err := b.CreateBucketIfNotExists(bucketTrust)
	if err != nil {
		return err
	}
	ib, err := tb.CreateBucketIfNotExists(bucketIndex)
	if err != nil {
		return err
	}
	var (
		rb     *safebolt.Bucket
		rbName string
	)
	for _, c := range chunks {
		if rb == nil || c.root != rbName {
			if rb, err = ib.CreateBucketIfNotExists([]byte(c.root)); err != nil {
				return fmt.Errorf("index of root %s: %w", quote(c.root), err)
			}
			rb.SetFillPercent(recordsFillPercent)
			rbName = c.root
		}
		if err := rb.Put(u64(c.n), c.data); err != nil {
			return err
		}
	}
	return nil
}

// putStatement writes the statement and adds the signatures in the trust
// bucket of the baseline bucket b.
func putStatement(b *safebolt.Bucket, statement []byte, sigs [][]byte) error {
	if len(statement) == 0 {
		return fmt.Errorf("empty digest statement")
	}
	tb, err := b.CreateBucketIfNotExists(bucketTrust)
	if err != nil {
		return err
	}
	if err := tb.Put(keyStatement, statement); err != nil {
		return err
	}
	for _, s := range sigs {
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

// PutDigest stores the digest of a committed baseline taken before
// digests were recorded (the upgrade path: its statement and index
// computed from its records as stored), replacing any statement and
// index it has and keeping its signatures.
func (db *DB) PutDigest(id uint64, statement []byte, ix *trust.Index) error {
	return db.update(func(tx *safebolt.Tx) error {
		b := db.committed(tx, id)
		if b == nil {
			return errorf(ErrNotFound, "no baseline %d", id)
		}
		if tb := b.Bucket(bucketTrust); tb != nil && tb.Bucket(bucketIndex) != nil {
			if err := tb.DeleteBucket(bucketIndex); err != nil {
				return err
			}
		}
		var chunks []indexChunk
		for _, root := range slices.Sorted(maps.Keys(ix.Roots)) {
			for n, c := range ix.Roots[root] {
				data, _ := c.MarshalBinary()
				chunks = append(chunks, indexChunk{root: root, n: uint64(n), data: data})
			}
		}
		if err := putIndexChunks(b, chunks); err != nil {
			return err
		}
		return putStatement(b, statement, nil)
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
