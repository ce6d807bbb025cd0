package baseline

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"

	"github.com/zeebo/blake3"

	"webfim/indicators"
	"webfim/serverconf"
)

// readBufferSize is the read chunk: large enough to amortise syscalls and
// feed BLAKE3's SIMD paths, small enough to stay in L2 cache.
const readBufferSize = 256 << 10

var bufferPool = sync.Pool{New: func() any { b := make([]byte, readBufferSize); return &b }}

// testHookAfterRead, when set by a test, runs after every chunk read while
// hashing, with the attempt number (0 or 1), so a test can change the file
// at a deterministic point.
var testHookAfterRead func(path string, attempt int)

// testHookBeforeOpen, when set by a test, runs just before a file that
// lstat saw is opened for hashing (to make it vanish or change type).
var testHookBeforeOpen func(path string)

// hasher holds the per-goroutine hashing state, reused across files.
type hasher struct {
	b3      *blake3.Hasher
	sha     hash.Hash
	buf     []byte
	limiter interface {
		WaitN(ctx context.Context, n int) error
	}
	// scan is the indicator scan of what is read (Options.Indicators).
	scan contentScan
	// rest is the part of buf read since it was last handed to the scan.
	rest []byte
	// threshold is the size above which a file is sampled (see
	// [Record.Sampled]).
	threshold int64
	// holes: look for holes in the file being read (it is large enough
	// for that to be worth the system calls, and not scanned for
	// indicators, which reads what it hashes).
	holes bool
	sniff sniffing // of the file being hashed
}

func newHasher(opt *Options) *hasher {
	return &hasher{b3: blake3.New(), sha: sha256.New(), buf: *bufferPool.Get().(*[]byte), limiter: opt.Limiter,
		scan: newContentScan(opt.Indicators), threshold: opt.largeFileThreshold()}
}

func (h *hasher) release() {
	buf := h.buf
	h.buf = nil
	bufferPool.Put(&buf)
}

// errNotRegular is recorded when an entry lstat saw as a regular file was
// something else by the time it was opened.
var errNotRegular = errors.New("no longer a regular file")

// hashFile reads the regular file name in dir (at path; by path alone
// when dir is nil) and sets r's digests. r holds
// what lstat saw; its metadata is replaced by what fstat says of the file
// actually read, so digest and metadata agree. A file whose size, mtime or
// ctime moved during the read is read once more, and marked Unstable if it
// moves again. With an indicator engine, r.Indicators is set when the
// content is new with respect to prev (the previous record of the path,
// nil if none; see contentScan). It returns the number of bytes read and
// the error to record in r.Err (also set there).
func (h *hasher) hashFile(ctx context.Context, dir *dirHandle, name, path string, r *Record, withSHA bool, prev *Record) (int64, error) {
	if testHookBeforeOpen != nil {
		testHookBeforeOpen(path)
	}
	var f fileHandle
	var err error
	if dir != nil {
		f, err = dir.openFile(name, path)
	} else {
		f, err = openRegular(path)
	}
	if err != nil {
		return 0, h.fail(r, err)
	}
	defer f.close()
	var before Record
	if err := f.stat(&before); err != nil {
		return 0, h.fail(r, fmt.Errorf("fstat %s: %w", path, err))
	}
	if before.Type != TypeFile {
		return 0, h.fail(r, fmt.Errorf("open %s: %w (now %s)", path, errNotRegular, before.Type))
	}
	return h.hashOpen(ctx, f, path, name, r, withSHA, before, prev)
}

// hashOpen hashes the open regular file f, named name in its directory,
// which fstat described as before; see hashFile. A file larger than the
// large-file threshold is sampled instead ([hasher.hashSampled]).
func (h *hasher) hashOpen(ctx context.Context, f fileHandle, path, name string, r *Record, withSHA bool, before Record, prev *Record) (int64, error) {
	var total int64
	r.Indicators = nil
	if before.Size > h.threshold {
		return h.hashSampled(ctx, f, path, r, before)
	}
	for attempt := 0; ; attempt++ {
		h.b3.Reset()
		h.sha.Reset()
		h.scan.begin(name)
		h.holes = before.Size >= sparseMinSize && !h.scan.on
		h.sniff = sniffing{name: name, size: before.Size}
		n, err := h.readAll(ctx, f, path, withSHA, attempt)
		total += n
		if err != nil {
			copyMeta(r, &before)
			return total, h.fail(r, fmt.Errorf("read %s: %w", path, err))
		}
		var after Record
		if err := f.stat(&after); err != nil {
			return total, h.fail(r, fmt.Errorf("fstat %s: %w", path, err))
		}
		stable := n == after.Size && after.Size == before.Size &&
			after.Mtime == before.Mtime && after.Ctime == before.Ctime
		if !stable && attempt == 0 {
			if err := f.rewind(); err != nil {
				return total, h.fail(r, fmt.Errorf("seek %s: %w", path, err))
			}
			before = after
			continue
		}
		copyMeta(r, &after)
		r.Unstable = !stable
		r.Err = ""
		r.Sniffed, r.ContentFamily, r.RestrictsOnly = true, h.sniff.family, h.sniff.restricts && n == before.Size
		r.Sampled = false
		digests := make([]byte, 0, 64)
		digests = h.b3.Sum(digests)
		r.BLAKE3 = digests[:32:32]
		r.SHA256 = nil
		if withSHA {
			digests = h.sha.Sum(digests)
			r.SHA256 = digests[32:64:64]
		}
		r.Indicators = h.scan.result(h.rest, prev, r.BLAKE3)
		return total, nil
	}
}

// readAll reads f to the end into the digests. The buffer fills up
// before it is reused, so that a file that fits in it is still there
// afterwards, in h.rest, for the indicator scan; a full buffer is handed
// to the scan before it is reused.
func (h *hasher) readAll(ctx context.Context, f fileHandle, path string, withSHA bool, attempt int) (int64, error) {
	var n int64
	off := 0
	h.rest = nil
	// Holes are not read: hashed as the zeros they read as (see
	// docs/baseline.md). holeAt is where the next one starts; only files
	// not scanned for indicators look for them, so off stays 0.
	holeAt := int64(noHoles)
	if h.holes {
		holeAt = f.holeFrom(0)
	}
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		buf := h.buf[off:]
		if n >= holeAt {
			skipped, next, err := h.skipHole(ctx, f, n, withSHA)
			n += skipped
			if err != nil {
				return n, err
			}
			holeAt = next
			continue
		}
		if holeAt-n < int64(len(buf)) {
			buf = buf[:holeAt-n]
		}
		k, err := f.read(buf)
		if n == 0 && k > 0 {
			h.sniff.first(buf[:k])
			if !h.holes { // a file read with holes skipped is not scanned (off stays 0)
				h.scan.sniffed(h.sniff.family)
			}
		}
		if k > 0 {
			chunk := h.buf[off : off+k]
			h.b3.Write(chunk)
			if withSHA {
				h.sha.Write(chunk)
			}
			n += int64(k)
			if off += k; off == len(h.buf) {
				h.scan.feed(h.buf)
				off = 0
			}
			if h.limiter != nil {
				if err := h.limiter.WaitN(ctx, k); err != nil {
					return n, err
				}
			}
			if testHookAfterRead != nil {
				testHookAfterRead(path, attempt)
			}
		}
		if err != nil {
			return n, err
		}
		if k == 0 {
			h.rest = h.buf[:off]
			return n, nil
		}
	}
}

// fail records err on r: no digest is better than a wrong one.
func (h *hasher) fail(r *Record, err error) error {
	r.BLAKE3, r.SHA256, r.Indicators = nil, nil, nil
	r.Sniffed, r.ContentFamily, r.RestrictsOnly = false, indicators.FamilyNone, false
	r.Err = err.Error()
	return err
}

// sniffing is what the first chunk read of a file says about its
// content: the script family its first bytes look like, and for a
// per-directory server configuration read whole in that chunk whether it
// only restricts. It costs no read of its own: it looks at the buffer
// the hash is computed from.
type sniffing struct {
	name      string // base name, for the configuration files
	size      int64  // size by fstat before the read
	family    indicators.Family
	restricts bool
}

func (s *sniffing) first(chunk []byte) {
	s.family = indicators.Sniff(chunk) // looks at indicators.SniffLen bytes at most
	if server, ok := serverconf.ForFile(s.name); ok && int64(len(chunk)) == s.size {
		s.restricts = serverconf.RestrictsOnly(server, chunk)
	}
}

// copyMeta copies the stat fields of src into dst.
func copyMeta(dst, src *Record) {
	dst.Type, dst.Mode, dst.Size = src.Type, src.Mode, src.Size
	dst.UID, dst.GID = src.UID, src.GID
	dst.Mtime, dst.Ctime = src.Mtime, src.Ctime
	dst.Inode, dst.Dev = src.Inode, src.Dev
}

// canReuse reports whether prev's digests may stand for cur (the
// incremental rule): same regular file, same size, mtime, ctime, inode and
// device, read cleanly last time, and holding every digest needed now;
// sampled says whether cur's digest must be a sampled one (a change of the
// large-file threshold re-hashes).
func canReuse(prev, cur *Record, withSHA, sampled bool) bool {
	return prev != nil && prev.Type == TypeFile && cur.Type == TypeFile &&
		prev.Err == "" && !prev.Unstable && len(prev.BLAKE3) == 32 &&
		prev.Sampled == sampled && (sampled || !withSHA || len(prev.SHA256) == 32) &&
		prev.Size == cur.Size && prev.Mtime == cur.Mtime && prev.Ctime == cur.Ctime &&
		prev.Inode == cur.Inode && prev.Dev == cur.Dev
}

// scriptMatcher is [IsScript] with the extension list lower-cased once.
type scriptMatcher struct {
	all  bool
	exts map[string]struct{}
}

func newScriptMatcher(opt *Options) *scriptMatcher {
	m := &scriptMatcher{all: opt.HashAllSHA256, exts: map[string]struct{}{}}
	exts := opt.ScriptExtensions
	if exts == nil {
		exts = DefaultScriptExtensions
	}
	for _, e := range exts {
		m.exts[strings.ToLower(strings.TrimPrefix(e, "."))] = struct{}{}
	}
	return m
}

// needSHA reports whether a file named name (the last path element) gets a
// SHA-256 digest: it is script-type by name, as [IsScript] says.
func (m *scriptMatcher) needSHA(name string) bool {
	if m.all {
		return true
	}
	if _, ok := serverconf.ForFile(name); ok {
		return true
	}
	found := false
	indicators.EachExtension(name, func(ext string) bool {
		var buf [16]byte
		if len(ext) > len(buf) {
			return true
		}
		for i := 0; i < len(ext); i++ {
			c := ext[i]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[i] = c
		}
		_, found = m.exts[string(buf[:len(ext)])]
		return !found
	})
	return found
}
