package hive

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync/atomic"
	"time"
	"unicode/utf16"
)

// Sizes of the fixed structures of a hive file.
const (
	baseBlockSize = 4096 // the file header
	binHeaderSize = 32
	binAlign      = 4096
	// minKeyCell is the smallest cell a key node can occupy (size field,
	// fixed part of the key node, 8-byte alignment); it bounds how many
	// keys a hive of a given size can hold.
	minKeyCell = 80
)

// MaxDataSize bounds the data of one value that [Value.Data] reads; the
// registry values webfim inventories are paths and flags, a few hundred
// bytes at most.
const MaxDataSize = 1 << 20

// ErrFormat is matched by every [*FormatError].
var ErrFormat = errors.New("not a valid registry hive")

// ErrNotFound is returned by [Key.Subkey] and [Key.Value] for a name that
// does not exist.
var ErrNotFound = errors.New("not found")

// ErrTooLarge is wrapped by the error of [Value.Data] for data larger than
// [MaxDataSize].
var ErrTooLarge = errors.New("value data too large")

// FormatError says what is wrong in a hive and where: Offset is the offset
// in the file of the structure found bad.
type FormatError struct {
	Offset int64
	Msg    string
	Err    error // an underlying error, such as ErrTooLarge or an I/O error
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("hive offset 0x%x: %s", e.Offset, e.Msg)
}

// Is makes errors.Is(err, ErrFormat) true for every FormatError.
func (e *FormatError) Is(target error) bool { return target == ErrFormat }

func (e *FormatError) Unwrap() error { return e.Err }

func formatErr(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// Header is what the base block of a hive says about it.
type Header struct {
	// PrimarySequence and SecondarySequence are equal when the last write
	// to the file completed; otherwise the hive is dirty and its
	// transaction logs hold what is missing.
	PrimarySequence   uint32
	SecondarySequence uint32
	LastWritten       time.Time
	Major, Minor      uint32
	// FileName is the tail of the path Windows loaded the hive from
	// (e.g. `emRoot\System32\Config\SYSTEM`); informational only.
	FileName string
	// RootCell is the offset of the root key's cell, relative to the
	// first hive bin.
	RootCell uint32
	// DataSize is the size of the hive bins, as the header says.
	DataSize uint32
	// ChecksumOK is false when the header's checksum does not match: the
	// header itself was not written completely.
	ChecksumOK bool
}

// Dirty reports whether the primary file was not written completely (the
// sequence numbers differ or the header checksum is wrong): the changes
// of the last write are only in the transaction logs.
func (h Header) Dirty() bool {
	return h.PrimarySequence != h.SecondarySequence || !h.ChecksumOK
}

// Hive is an open hive file. Its methods may be called from one goroutine
// at a time per value derived from it; the underlying ReaderAt must
// support concurrent reads if several goroutines use the same Hive.
type Hive struct {
	r      io.ReaderAt
	size   int64
	header Header
	// bins holds the start of every hive bin found, relative to the first
	// bin, in order; binsEnd is where the last complete one ends.
	bins    []uint32
	binsEnd uint32
	// binsErr says why the bins end before header.DataSize, if they do.
	binsErr error
	// budget is how many more bytes may be read (see readBudget).
	budget atomic.Int64
}

// readBudget bounds the bytes all reads of one Hive may take together, as
// a multiple of its size: reading every structure once costs about the
// size, a lookup re-reads a few lists. Without it, a crafted hive whose
// value lists all point at one large value could make a walk read
// terabytes from a small file.
func readBudget(binsEnd uint32) int64 { return 16*int64(binsEnd) + 16<<20 }

// minRead is what a read costs at least against the budget, so that the
// number of small reads is bounded too.
const minRead = 64

// Open reads the base block of the hive in r, of size bytes, and indexes
// its hive bins. A hive whose bins end early (a truncated file, a damaged
// bin) still opens; reading a cell beyond the last good bin is then an
// error naming the damage.
func Open(r io.ReaderAt, size int64) (*Hive, error) {
	if size < baseBlockSize {
		return nil, formatErr(0, "file of %d bytes is too short for a hive header (%d bytes)", size, baseBlockSize)
	}
	var bb [512]byte
	if _, err := r.ReadAt(bb[:], 0); err != nil {
		return nil, &FormatError{Offset: 0, Msg: "reading the header: " + err.Error(), Err: err}
	}
	if string(bb[0:4]) != "regf" {
		return nil, formatErr(0, "no \"regf\" signature (found %q)", bb[0:4])
	}
	le := binary.LittleEndian
	h := &Hive{r: r, size: size}
	hd := &h.header
	hd.PrimarySequence = le.Uint32(bb[4:])
	hd.SecondarySequence = le.Uint32(bb[8:])
	hd.LastWritten = filetime(le.Uint64(bb[12:]))
	hd.Major, hd.Minor = le.Uint32(bb[0x14:]), le.Uint32(bb[0x18:])
	hd.RootCell = le.Uint32(bb[0x24:])
	hd.DataSize = le.Uint32(bb[0x28:])
	hd.FileName = utf16z(bb[0x30:0x70])
	hd.ChecksumOK = checksum(bb[:]) == le.Uint32(bb[0x1fc:])
	if hd.Major != 1 {
		return nil, formatErr(0x14, "unsupported major version %d (want 1)", hd.Major)
	}
	if ft := le.Uint32(bb[0x1c:]); ft != 0 {
		return nil, formatErr(0x1c, "file type %d is a transaction log, not a primary hive file", ft)
	}
	if hd.DataSize%binAlign != 0 {
		return nil, formatErr(0x28, "hive bins data size 0x%x is not a multiple of 4096", hd.DataSize)
	}
	h.indexBins()
	if len(h.bins) == 0 {
		return nil, h.binsErr
	}
	h.budget.Store(readBudget(h.binsEnd))
	return h, nil
}

// indexBins walks the hive bin headers from the first bin on, stopping at
// the first one that is missing or damaged.
func (h *Hive) indexBins() {
	le := binary.LittleEndian
	var hdr [binHeaderSize]byte
	off := uint32(0)
	avail := h.size - baseBlockSize
	for off < h.header.DataSize {
		fileOff := int64(off) + baseBlockSize
		if int64(off)+binHeaderSize > avail {
			h.binsErr = formatErr(fileOff, "the file ends inside the hive bins (header says 0x%x bytes of bins, the file holds 0x%x): truncated", h.header.DataSize, max(avail, 0))
			break
		}
		if _, err := h.r.ReadAt(hdr[:], fileOff); err != nil {
			h.binsErr = &FormatError{Offset: fileOff, Msg: "reading a hive bin header: " + err.Error(), Err: err}
			break
		}
		if string(hdr[0:4]) != "hbin" {
			h.binsErr = formatErr(fileOff, "no \"hbin\" signature (found %q)", hdr[0:4])
			break
		}
		if got := le.Uint32(hdr[4:]); got != off {
			h.binsErr = formatErr(fileOff+4, "hive bin says it is at 0x%x, it is at 0x%x", got, off)
			break
		}
		size := le.Uint32(hdr[8:])
		if size == 0 || size%binAlign != 0 || size > h.header.DataSize-off {
			h.binsErr = formatErr(fileOff+8, "bad hive bin size 0x%x (must be a non-zero multiple of 4096 within the 0x%x bytes of bins)", size, h.header.DataSize)
			break
		}
		if int64(off)+int64(size) > avail {
			h.binsErr = formatErr(fileOff, "the file ends inside this hive bin of 0x%x bytes: truncated", size)
			break
		}
		h.bins = append(h.bins, off)
		off += size
		h.binsEnd = off
	}
	if len(h.bins) == 0 && h.binsErr == nil {
		h.binsErr = formatErr(0x28, "the hive has no hive bins")
	}
}

// Header returns what the base block says.
func (h *Hive) Header() Header { return h.header }

// Damage returns why the hive bins end before the header says they do (a
// truncated or damaged file), or nil.
func (h *Hive) Damage() error { return h.binsErr }

// MaxKeys is the number of keys the hive can hold at most, given its size;
// a walk visiting more keys is going round in circles.
func (h *Hive) MaxKeys() int { return int(h.binsEnd/minKeyCell) + 1 }

// Root returns the root key.
func (h *Hive) Root() (*Key, error) {
	return h.key(h.header.RootCell)
}

// cell locates the allocated cell at off (relative to the first hive bin)
// and returns the file offset and length of its payload; what names the
// structure expected there, for errors.
func (h *Hive) cell(off uint32, what string) (int64, uint32, error) {
	p, n, _, err := h.cellPrefix(off, what, 0)
	return p, n, err
}

// cellPrefix is cell that also returns the first bytes of the payload, up
// to want, read with the size field in one read (most structures are
// small: one read instead of three).
func (h *Hive) cellPrefix(off uint32, what string, want uint32) (int64, uint32, []byte, error) {
	fileOff := int64(off) + baseBlockSize
	if off%8 != 0 {
		return 0, 0, nil, formatErr(fileOff, "%s: cell offset 0x%x is not 8-byte aligned", what, off)
	}
	if off >= h.binsEnd {
		if h.binsErr != nil {
			return 0, 0, nil, &FormatError{Offset: fileOff, Msg: fmt.Sprintf("%s: cell offset 0x%x lies beyond the last readable hive bin (%v)", what, off, h.binsErr), Err: h.binsErr}
		}
		return 0, 0, nil, formatErr(fileOff, "%s: cell offset 0x%x lies beyond the hive bins (0x%x bytes)", what, off, h.binsEnd)
	}
	i := sort.Search(len(h.bins), func(i int) bool { return h.bins[i] > off }) - 1
	start := h.bins[i]
	end := h.binsEnd
	if i+1 < len(h.bins) {
		end = h.bins[i+1]
	}
	if off < start+binHeaderSize || end-off < 8 {
		return 0, 0, nil, formatErr(fileOff, "%s: cell offset 0x%x is not inside the cells of its hive bin", what, off)
	}
	b, err := h.read(fileOff, min(4+want, end-off), what)
	if err != nil {
		return 0, 0, nil, err
	}
	size := int32(binary.LittleEndian.Uint32(b))
	if size >= 0 {
		return 0, 0, nil, formatErr(fileOff, "%s: cell is not allocated (size field %d)", what, size)
	}
	n := uint32(-int64(size))
	if n < 8 || n%8 != 0 {
		return 0, 0, nil, formatErr(fileOff, "%s: bad cell size %d", what, n)
	}
	if n > end-off {
		return 0, 0, nil, formatErr(fileOff, "%s: cell of %d bytes overruns its hive bin (%d bytes left)", what, n, end-off)
	}
	return fileOff + 4, n - 4, b[4:min(uint32(len(b)), n)], nil
}

// read reads n bytes at file offset off.
func (h *Hive) read(off int64, n uint32, what string) ([]byte, error) {
	if err := h.spend(off, n); err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if _, err := h.r.ReadAt(buf, off); err != nil {
		return nil, &FormatError{Offset: off, Msg: what + ": " + err.Error(), Err: err}
	}
	return buf, nil
}

// spend takes a read of n bytes at off from the budget.
func (h *Hive) spend(off int64, n uint32) error {
	if h.budget.Add(-int64(max(n, minRead))) < 0 {
		return formatErr(off, "more than %d bytes read from %d bytes of hive bins: the hive's structures point at each other over and over (a crafted hive)",
			readBudget(h.binsEnd), h.binsEnd)
	}
	return nil
}

// checksum is the XOR of the first 508 bytes of the base block as
// little-endian words, with 0 and 0xffffffff avoided.
func checksum(bb []byte) uint32 {
	var x uint32
	for i := 0; i < 0x1fc; i += 4 {
		x ^= binary.LittleEndian.Uint32(bb[i:])
	}
	switch x {
	case 0:
		return 1
	case 0xffffffff:
		return 0xfffffffe
	}
	return x
}

// Checksum computes the header checksum of a 512-byte base block, as
// stored at offset 0x1fc (for writers of test hives).
func Checksum(baseBlock []byte) uint32 { return checksum(baseBlock) }

// filetime converts a Windows FILETIME (100 ns since 1601) to a time.
func filetime(ft uint64) time.Time {
	if ft == 0 {
		return time.Time{}
	}
	const epochDelta = 116444736000000000 // 1601-01-01 to 1970-01-01 in 100 ns
	if ft < epochDelta {
		return time.Time{}
	}
	d := ft - epochDelta
	return time.Unix(int64(d/1e7), int64(d%1e7)*100).UTC()
}

// utf16z decodes a NUL-terminated UTF-16LE string.
func utf16z(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}
