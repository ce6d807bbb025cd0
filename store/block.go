package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"webfim/store/internal/safebolt"
)

// Records are stored in blocks: runs of consecutive records of one root,
// packed into one bbolt value under the key of their first record. One
// bbolt insert then carries dozens of records instead of one, which is
// most of the cost of writing a baseline, and reading walks a few
// thousand values instead of every record. Keys inside a block share
// their prefix with the previous key (paths of a directory do), as in
// LevelDB's blocks.
//
// A block value is:
//
//	version byte (blockVersion)
//	entries, each: uvarint shared, uvarint n, n key bytes, uvarint m, m value bytes
//
// An entry's key is the first shared bytes of the previous key followed
// by its n bytes; the "previous key" of the first entry is the block's
// bbolt key, which the first entry must equal (shared = its length, n =
// 0). Keys increase strictly. Values are [baseline.Record.MarshalBinary].
const blockVersion = 1

// Block limits: a block is closed before it would exceed blockBytes, or
// at blockRecords records (the work of a point lookup). A record larger
// than blockBytes gets a block of its own. (bbolt keeps at least two
// values per node, so record pages hold two blocks across two 4 KiB
// pages; halving blockBytes to fit both in one page measured slower.)
const (
	blockBytes   = 3800
	blockRecords = 128
)

// errBlock is wrapped by the errors about damaged blocks.
var errBlock = errors.New("damaged record block")

// rawBlock is a closed block waiting to be stored.
type rawBlock struct {
	root     string
	key, val []byte
}

// packer cuts a stream of records into blocks, the same way wherever they
// are written (a baseline writer, the schema upgrade).
type packer struct {
	b       blockBuilder // the open block
	closed  []rawBlock   // closed blocks not yet stored
	records int          // records in closed
	bytes   int          // their size
	spare   [][]byte     // buffers of stored blocks, for reuse
}

// add appends a record; the keys of one root must increase.
func (p *packer) add(root string, key, val []byte) {
	if !p.b.fits(root, entrySize(key, val)) {
		p.close()
		p.b.start(root, key, p.spareBuf())
	}
	p.b.add(key, val)
}

// close moves the open block, if any, to closed.
func (p *packer) close() {
	b := &p.b
	if b.n == 0 {
		return
	}
	p.closed = append(p.closed, rawBlock{root: b.root, key: b.first, val: b.data})
	p.records += b.n
	p.bytes += len(b.first) + len(b.data)
	*b = blockBuilder{last: b.last[:0]}
}

// recycle forgets the closed blocks once they are stored, keeping their
// buffers for the next blocks: bbolt has copied them into its pages, and
// reused memory is warm (fresh memory costs a page fault per 4 KiB).
func (p *packer) recycle() {
	for i := range p.closed {
		if cap(p.closed[i].val) == blockBytes+64 {
			p.spare = append(p.spare, p.closed[i].val)
		}
	}
	clear(p.closed)
	p.closed = p.closed[:0]
	p.records, p.bytes = 0, 0
}

func (p *packer) spareBuf() []byte {
	n := len(p.spare)
	if n == 0 {
		return nil
	}
	b := p.spare[n-1]
	p.spare[n-1] = nil
	p.spare = p.spare[:n-1]
	return b
}

// blockBuilder packs the records of one root into a block.
type blockBuilder struct {
	root  string
	first []byte // the block's key: the key of its first record
	last  []byte // key of the last record appended
	data  []byte
	n     int
}

// entrySize bounds the encoded size of an entry for key and val.
func entrySize(key, val []byte) int {
	return 3*binary.MaxVarintLen32 + len(key) + len(val)
}

// fits reports whether an entry of that size may join the block.
func (b *blockBuilder) fits(root string, size int) bool {
	return b.n > 0 && root == b.root && b.n < blockRecords && len(b.data)+size <= blockBytes
}

// start begins a block of root whose first key is key, in buf (a spare
// block buffer) if it is not nil.
func (b *blockBuilder) start(root string, key, buf []byte) {
	b.root, b.n = root, 0
	b.first = append([]byte(nil), key...)
	b.last = append(b.last[:0], key...)
	if buf == nil {
		buf = make([]byte, 0, blockBytes+64)
	}
	b.data = append(buf[:0], blockVersion)
}

// add appends an entry; key must be greater than the last one (or be the
// first key, for the first entry).
func (b *blockBuilder) add(key, val []byte) {
	shared := commonPrefix(b.last, key)
	b.data = binary.AppendUvarint(b.data, uint64(shared))
	b.data = binary.AppendUvarint(b.data, uint64(len(key)-shared))
	b.data = append(b.data, key[shared:]...)
	b.data = binary.AppendUvarint(b.data, uint64(len(val)))
	b.data = append(b.data, val...)
	b.last = append(b.last[:0], key...)
	b.n++
}

func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// decodeBlock calls fn for each entry of the block stored under blockKey,
// in order, until fn returns false. key and val are only valid during the
// call. A damaged block yields the entries before the damage, then an
// error wrapping errBlock that says what is wrong and after which key.
func decodeBlock(blockKey, data []byte, fn func(key, val []byte) bool) error {
	if len(data) == 0 || data[0] != blockVersion {
		if len(data) == 0 {
			return fmt.Errorf("%w: empty", errBlock)
		}
		return fmt.Errorf("%w: unknown version %d", errBlock, data[0])
	}
	rest := data[1:]
	key := append(make([]byte, 0, 256), blockKey...)
	fail := func(n int, what string, args ...any) error {
		where := "at its start"
		if n > 0 {
			where = "after " + quote(pathOfStoreKey(key))
		}
		return fmt.Errorf("%w: entry %d (%s): %s", errBlock, n+1, where, fmt.Sprintf(what, args...))
	}
	uvarint := func() (int, bool) {
		v, n := binary.Uvarint(rest)
		if n <= 0 || v > maxRecordValue {
			return 0, false
		}
		rest = rest[n:]
		return int(v), true
	}
	for n := 0; len(rest) > 0; n++ {
		shared, ok1 := uvarint()
		klen, ok2 := uvarint()
		if !ok1 || !ok2 {
			return fail(n, "bad key length")
		}
		if shared > len(key) || shared+klen > safebolt.MaxKeySize || klen > len(rest) {
			return fail(n, "impossible key length %d+%d", shared, klen)
		}
		if n == 0 && (shared != len(key) || klen != 0) {
			return fail(n, "first key differs from the block's key")
		}
		if n > 0 && (klen == 0 || shared < len(key) && rest[0] <= key[shared]) {
			return fail(n, "key not after the previous one")
		}
		key = append(key[:shared], rest[:klen]...)
		rest = rest[klen:]
		vlen, ok := uvarint()
		if !ok || vlen > len(rest) {
			return fail(n, "impossible value length")
		}
		if !fn(key, rest[:vlen:vlen]) {
			return nil
		}
		rest = rest[vlen:]
	}
	if len(data) == 1 {
		return fmt.Errorf("%w: no entries", errBlock)
	}
	return nil
}

// seekBlock positions c on the block that would hold key: the last block
// whose key is at most key, or the first block when every block's key is
// greater.
func seekBlock(c *safebolt.Cursor, key []byte) (k, v []byte) {
	k, v = c.Seek(key)
	if k != nil && bytes.Equal(k, key) {
		return k, v
	}
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if k == nil {
		return c.First()
	}
	return k, v
}
