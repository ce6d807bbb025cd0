package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt trusts a few numbers of the file when it opens it for writing: it
// loads the free list with a length taken from the file (a damaged length
// makes it allocate gigabytes), and a meta page that says "no free list"
// makes it rebuild one in a goroutine of its own, where reading a damaged
// page crashes the process. precheckFile validates those numbers first,
// under a shared lock, so that such a file yields an error instead.
//
// Layout (bbolt's own, in native byte order): a page starts with a 16-byte
// header (id u64, flags u16, count u16, overflow u32); the meta pages 0
// and 1 hold magic u32, version u32, page size u32, flags u32, root bucket
// (root page u64, sequence u64), free list page u64, high-water page u64,
// txid u64, checksum u64 (FNV-64a of the preceding 56 bytes).
const (
	boltMagic         = 0xED0CDAED
	boltVersion       = 2
	boltHeaderSize    = 16
	boltFreelistFlag  = 0x10
	boltNoFreelist    = ^uint64(0)
	boltMetaSumOffset = 56
)

type boltMeta struct {
	pageSize              uint64
	root, freelist, pages uint64
	txid                  uint64
}

func readBoltMeta(f io.ReaderAt, off int64) (boltMeta, bool) {
	var b [boltHeaderSize + boltMetaSumOffset + 8]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return boltMeta{}, false
	}
	m := b[boltHeaderSize:]
	ne := binary.NativeEndian
	if ne.Uint32(m[0:]) != boltMagic || ne.Uint32(m[4:]) != boltVersion {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(m[:boltMetaSumOffset])
	if h.Sum64() != ne.Uint64(m[boltMetaSumOffset:]) {
		return boltMeta{}, false
	}
	return boltMeta{
		pageSize: uint64(ne.Uint32(m[8:])),
		root:     ne.Uint64(m[16:]),
		freelist: ne.Uint64(m[32:]),
		pages:    ne.Uint64(m[40:]),
		txid:     ne.Uint64(m[48:]),
	}, true
}

// precheckFile returns nil for an empty file or one whose meta pages are
// both invalid (bbolt reports those itself).
func precheckFile(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := uint64(fi.Size())
	if size == 0 {
		return nil
	}
	m0, ok0 := readBoltMeta(f, 0)
	ps := uint64(os.Getpagesize())
	if ok0 {
		ps = m0.pageSize
	}
	m1, ok1 := readBoltMeta(f, int64(ps))
	m := m0
	switch {
	case ok0 && ok1:
		if m1.txid > m0.txid {
			m = m1
		}
	case ok1:
		m = m1
	case !ok0:
		return nil
	}
	ps = m.pageSize
	if ps < 512 || ps > 1<<20 || ps&(ps-1) != 0 {
		return fmt.Errorf("page size %d is impossible", ps)
	}
	if m.pages < 3 || m.pages > size/ps {
		return fmt.Errorf("file is truncated or damaged (%d bytes, its pages need %d)", size, m.pages*ps)
	}
	if m.root < 2 || m.root >= m.pages {
		return fmt.Errorf("root page %d is out of range", m.root)
	}
	if m.freelist == boltNoFreelist {
		return errors.New("it has no stored free list (not written by webfim)")
	}
	if m.freelist < 2 || m.freelist >= m.pages {
		return fmt.Errorf("free list page %d is out of range", m.freelist)
	}
	var hdr [boltHeaderSize + 8]byte
	if _, err := f.ReadAt(hdr[:], int64(m.freelist*ps)); err != nil {
		return fmt.Errorf("read free list page: %w", err)
	}
	ne := binary.NativeEndian
	flags, count, overflow := ne.Uint16(hdr[8:]), uint64(ne.Uint16(hdr[10:])), uint64(ne.Uint32(hdr[12:]))
	if flags&boltFreelistFlag == 0 {
		return fmt.Errorf("free list page %d is not a free list page (flags %#x)", m.freelist, flags)
	}
	if m.freelist+overflow >= m.pages {
		return fmt.Errorf("free list page %d runs past the end (%d overflow pages)", m.freelist, overflow)
	}
	idx := uint64(0)
	if count == 0xFFFF {
		idx, count = 1, ne.Uint64(hdr[boltHeaderSize:])
	}
	if count > m.pages || boltHeaderSize+(idx+count)*8 > (overflow+1)*ps {
		return fmt.Errorf("free list page %d claims %d free pages", m.freelist, count)
	}
	return nil
}
