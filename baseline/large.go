package baseline

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/zeebo/blake3"
)

// Large and sparse files (docs/baseline.md, "Large and sparse files").
const (
	// DefaultLargeFileThreshold is the size above which a file is sampled
	// when [Options.LargeFileThreshold] is 0: 1 GiB, as Wazuh's
	// file_max_size (Auditbeat stops hashing at 100 MiB).
	DefaultLargeFileThreshold = 1 << 30
	// SampleSize is how much of the head and of the tail of a sampled
	// file is read.
	SampleSize = 1 << 20
	// sampledContext separates sampled digests from digests of whole
	// files (BLAKE3's key derivation mode): the two never collide.
	sampledContext = "webfim 2026-12 sampled file digest v1"
)

// largeFileThreshold is the threshold in effect.
func (o *Options) largeFileThreshold() int64 {
	switch {
	case o.LargeFileThreshold == 0:
		return DefaultLargeFileThreshold
	case o.LargeFileThreshold < 0:
		return math.MaxInt64
	}
	return max(o.LargeFileThreshold, 2*SampleSize)
}

// sampled reports whether a file of size bytes is sampled.
func (o *Options) sampled(size int64) bool { return size > o.largeFileThreshold() }

// reuse gives cur the digests and the sniffing of prev (see canReuse),
// whose digests the incremental rule allows to stand for cur's content.
func reuse(cur, prev *Record, withSHA bool) {
	cur.BLAKE3, cur.Sampled = prev.BLAKE3, prev.Sampled
	if withSHA && !prev.Sampled {
		cur.SHA256 = prev.SHA256
	}
	cur.Sniffed, cur.ContentFamily, cur.RestrictsOnly = prev.Sniffed, prev.ContentFamily, prev.RestrictsOnly
}

// hashSampled sets r's digest to the sampled digest of the open file f
// (fstat said before): BLAKE3, in key derivation mode, of the size (8
// bytes, little-endian), the first SampleSize bytes and the last
// SampleSize bytes. A file larger than the large-file threshold costs
// 2 MiB of reads however large (or sparse) it is, so it never holds up
// the files behind it; a change in its middle that keeps its size, head,
// tail and times is not seen (the metadata still is: see
// docs/baseline.md). Like a full hash, the read is repeated once if the
// file moved meanwhile, and the record marked Unstable if it moves again.
func (h *hasher) hashSampled(ctx context.Context, f fileHandle, path string, r *Record, before Record) (int64, error) {
	var total int64
	for attempt := 0; ; attempt++ {
		d := blake3.NewDeriveKey(sampledContext)
		var size [8]byte
		binary.LittleEndian.PutUint64(size[:], uint64(before.Size))
		d.Write(size[:])
		h.sniff = sniffing{} // the head is sniffed like a whole file's first chunk
		for _, off := range []int64{0, before.Size - SampleSize} {
			var w interface{ Write([]byte) (int, error) } = d
			if off == 0 {
				w = &sniffFirst{w: d, s: &h.sniff}
			}
			n, err := h.readAt(ctx, f, off, SampleSize, w)
			total += n
			if err == nil && n != SampleSize {
				err = fmt.Errorf("read %d of %d bytes at offset %d", n, SampleSize, off)
			}
			if err != nil {
				copyMeta(r, &before)
				return total, h.fail(r, fmt.Errorf("read %s: %w", path, err))
			}
		}
		var after Record
		if err := f.stat(&after); err != nil {
			return total, h.fail(r, fmt.Errorf("fstat %s: %w", path, err))
		}
		stable := after.Size == before.Size && after.Mtime == before.Mtime && after.Ctime == before.Ctime
		if !stable && attempt == 0 && after.Size > h.threshold {
			before = after
			continue
		}
		copyMeta(r, &after)
		r.Unstable, r.Err, r.Sampled = !stable, "", true
		r.BLAKE3, r.SHA256 = d.Sum(make([]byte, 0, 32)), nil
		// Never read whole, so never judged to only restrict.
		r.Sniffed, r.ContentFamily, r.RestrictsOnly = true, h.sniff.family, false
		return total, nil
	}
}

// sniffFirst passes writes on to w and sniffs the first one, the head
// of a sampled file, as readAll sniffs a whole file's first chunk.
type sniffFirst struct {
	w    interface{ Write([]byte) (int, error) }
	s    *sniffing
	done bool
}

func (f *sniffFirst) Write(p []byte) (int, error) {
	if !f.done && len(p) > 0 {
		f.s.first(p)
		f.done = true
	}
	return f.w.Write(p)
}

// readAt feeds n bytes of f from offset off to w.
func (h *hasher) readAt(ctx context.Context, f fileHandle, off, n int64, w interface{ Write([]byte) (int, error) }) (int64, error) {
	if err := f.seek(off); err != nil {
		return 0, err
	}
	var done int64
	for done < n {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		buf := h.buf[:min(int64(len(h.buf)), n-done)]
		k, err := f.read(buf)
		if k > 0 {
			w.Write(buf[:k])
			done += int64(k)
			if h.limiter != nil {
				if err := h.limiter.WaitN(ctx, k); err != nil {
					return done, err
				}
			}
		}
		if err != nil || k == 0 {
			return done, err
		}
	}
	return done, nil
}

// noHoles is the hole position of a file whose holes are unknown.
const noHoles = math.MaxInt64

// sparseMinSize is the size from which holes are looked for: below it
// the system calls would cost more than the reads they save.
const sparseMinSize = 4 << 20

// zeros is what a hole reads as.
var zeros [readBufferSize]byte

// skipHole hashes the hole of f that starts at off as the zeros it reads
// as, without reading it, and leaves f at the data after it. It returns
// the size of the hole and where the next one starts. This keeps the
// digest that of the content (holes are zeros, whatever the file system
// says is allocated): only the reads are saved, not the hashing.
func (h *hasher) skipHole(ctx context.Context, f fileHandle, off int64, withSHA bool) (skipped, next int64, err error) {
	end, more := f.dataFrom(off)
	if !more {
		// No data after off: the file is zeros up to its size.
		var st Record
		if err := f.stat(&st); err != nil {
			return 0, 0, err
		}
		end = max(st.Size, off)
	}
	for skipped < end-off {
		if err := ctx.Err(); err != nil {
			return skipped, 0, err
		}
		k := min(int64(len(zeros)), end-off-skipped)
		h.b3.Write(zeros[:k])
		if withSHA {
			h.sha.Write(zeros[:k])
		}
		skipped += k
	}
	if err := f.seek(end); err != nil {
		return skipped, 0, err
	}
	if !more {
		return skipped, noHoles, nil // read on: the file may have grown
	}
	return skipped, f.holeFrom(end), nil
}
