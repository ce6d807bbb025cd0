package safebolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// This file and pagetree.go read bbolt's private page format, which bbolt
// trusts blindly; layout_test.go pins it against bbolt's public API, so
// that a bbolt upgrade that changes it fails the tests.
//
// All numbers are in native byte order. A page starts with a 16-byte
// header: id u64, flags u16, count u16, overflow u32. The meta pages 0
// and 1 then hold magic u32, version u32, page size u32, flags u32, the
// root bucket (root page u64, sequence u64), free list page u64,
// high-water page u64, txid u64 and a checksum u64 (FNV-64a of the
// preceding 56 bytes); bbolt uses the valid one with the higher txid. A
// branch page holds count elements of 16 bytes: pos u32, ksize u32, child
// page u64. A free list page holds count page ids of 8 bytes, or, when
// count is 0xFFFF, the real count in its first 8 bytes.
const (
	boltMagic         = 0xED0CDAED
	boltVersion       = 2
	boltHeaderSize    = 16
	boltBranchElem    = 16
	boltBranchFlag    = 0x01
	boltLeafFlag      = 0x02
	boltMetaFlag      = 0x04
	boltFreelistFlag  = 0x10
	boltNoFreelist    = ^uint64(0)
	boltMetaSumOffset = 56
	boltCountEscape   = 0xFFFF
)

// pageHeader is the header of a page.
type pageHeader struct {
	id       uint64
	flags    uint16
	count    uint64 // u16 on disk
	overflow uint64 // u32 on disk
}

func parseHeader(b []byte) pageHeader {
	ne := binary.NativeEndian
	return pageHeader{id: ne.Uint64(b[0:]), flags: ne.Uint16(b[8:]), count: uint64(ne.Uint16(b[10:])), overflow: uint64(ne.Uint32(b[12:]))}
}

// branchChild returns the child page of element i of a branch page b.
func branchChild(b []byte, i uint64) uint64 {
	return binary.NativeEndian.Uint64(b[boltHeaderSize+i*boltBranchElem+8:])
}

type boltMeta struct {
	pageSize              uint64
	root, freelist, pages uint64
	txid                  uint64
}

// readMeta reads the meta page at off; ok is false if it is not a valid
// meta page (bad magic, version or checksum).
func readMeta(f io.ReaderAt, off int64) (m boltMeta, ok bool) {
	var b [boltHeaderSize + boltMetaSumOffset + 8]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return boltMeta{}, false
	}
	p := b[boltHeaderSize:]
	ne := binary.NativeEndian
	if ne.Uint32(p[0:]) != boltMagic || ne.Uint32(p[4:]) != boltVersion {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(p[:boltMetaSumOffset])
	if h.Sum64() != ne.Uint64(p[boltMetaSumOffset:]) {
		return boltMeta{}, false
	}
	return boltMeta{
		pageSize: uint64(ne.Uint32(p[8:])),
		root:     ne.Uint64(p[16:]),
		freelist: ne.Uint64(p[32:]),
		pages:    ne.Uint64(p[40:]),
		txid:     ne.Uint64(p[48:]),
	}, true
}

// currentMeta returns the meta page bbolt will use: the valid one with
// the higher txid; ok is false if neither is valid.
func currentMeta(f io.ReaderAt) (m boltMeta, ok bool) {
	m0, ok0 := readMeta(f, 0)
	ps := uint64(os.Getpagesize())
	if ok0 {
		ps = m0.pageSize
	}
	m1, ok1 := readMeta(f, int64(ps))
	switch {
	case ok0 && ok1 && m1.txid > m0.txid, !ok0 && ok1:
		return m1, true
	case ok0:
		return m0, true
	}
	return boltMeta{}, false
}

// precheck validates what bbolt trusts when it opens a file of size
// bytes, before it opens it: its meta page says the file is longer than it
// is (a truncated copy: reading past the end faults), its free list length
// is taken as is (a damaged one makes bbolt allocate gigabytes), and a
// meta page saying "no free list" makes bbolt rebuild one in a goroutine
// of its own, where a damaged page crashes the process. A file whose meta
// pages are both invalid passes: bbolt reports it.
func precheck(f io.ReaderAt, size uint64) error {
	m, ok := currentMeta(f)
	if !ok {
		return nil
	}
	ps := m.pageSize
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
	var b [boltHeaderSize + 8]byte
	if _, err := f.ReadAt(b[:], int64(m.freelist*ps)); err != nil {
		return fmt.Errorf("read free list page: %w", err)
	}
	h := parseHeader(b[:])
	if h.flags&boltFreelistFlag == 0 {
		return fmt.Errorf("free list page %d is not a free list page (flags %#x)", m.freelist, h.flags)
	}
	if m.freelist+h.overflow >= m.pages {
		return fmt.Errorf("free list page %d runs past the end (%d overflow pages)", m.freelist, h.overflow)
	}
	first, count := freelistCount(h, b[boltHeaderSize:])
	if count > m.pages || boltHeaderSize+(first+count)*8 > (h.overflow+1)*ps {
		return fmt.Errorf("free list page %d claims %d free pages", m.freelist, count)
	}
	return nil
}

// freelistCount returns the number of page ids on a free list page with
// header h, and the index of the first (1 when the count is escaped into
// the first 8 bytes, next, of the page's body).
func freelistCount(h pageHeader, next []byte) (first, count uint64) {
	if h.count == boltCountEscape {
		return 1, binary.NativeEndian.Uint64(next)
	}
	return 0, h.count
}
