package hive

import (
	"encoding/binary"
	"iter"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// Key node flags.
const (
	keyHiveEntry = 0x0004 // the root key
	keyCompName  = 0x0020 // the name is stored in Latin-1, one byte a character
)

const (
	nkFixed    = 0x4c // key node bytes before the name
	vkFixed    = 0x14 // key value bytes before the name
	noCell     = 0xffffffff
	bigDataMax = 16344 // bytes in one big data segment
)

// Key is a key node of a hive.
type Key struct {
	h           *Hive
	off         uint32 // cell offset, relative to the first hive bin
	name        string
	flags       uint16
	parent      uint32
	lastWritten time.Time
	subkeys     uint32
	subkeyList  uint32
	values      uint32
	valueList   uint32
}

// Name is the key's name, as stored (case preserved).
func (k *Key) Name() string { return k.name }

// Offset is the file offset of the key's cell, for error messages.
func (k *Key) Offset() int64 { return int64(k.off) + baseBlockSize }

// LastWritten is when the key or one of its values last changed.
func (k *Key) LastWritten() time.Time { return k.lastWritten }

// SubkeyCount and ValueCount are the counts the key node records.
func (k *Key) SubkeyCount() int { return int(k.subkeys) }
func (k *Key) ValueCount() int  { return int(k.values) }

// key reads the key node in the cell at off.
func (h *Hive) key(off uint32) (*Key, error) {
	p, n, b, err := h.cellPrefix(off, "key node", nkFixed+64)
	if err != nil {
		return nil, err
	}
	if n < nkFixed {
		return nil, formatErr(p, "key node: cell of %d bytes is too small (need %d)", n, nkFixed)
	}
	if string(b[0:2]) != "nk" {
		return nil, formatErr(p, "expected a key node (\"nk\"), found %q", b[0:2])
	}
	le := binary.LittleEndian
	k := &Key{
		h: h, off: off,
		flags:       le.Uint16(b[2:]),
		lastWritten: filetime(le.Uint64(b[4:])),
		parent:      le.Uint32(b[0x10:]),
		subkeys:     le.Uint32(b[0x14:]),
		subkeyList:  le.Uint32(b[0x1c:]),
		values:      le.Uint32(b[0x24:]),
		valueList:   le.Uint32(b[0x28:]),
	}
	nameLen := uint32(le.Uint16(b[0x48:]))
	if nameLen > n-nkFixed {
		return nil, formatErr(p+0x48, "key node: name of %d bytes overruns its cell of %d bytes", nameLen, n)
	}
	nb := b[nkFixed:]
	if uint32(len(nb)) >= nameLen {
		nb = nb[:nameLen]
	} else if nb, err = h.read(p+nkFixed, nameLen, "key name"); err != nil {
		return nil, err
	}
	k.name = decodeName(nb, k.flags&keyCompName != 0)
	return k, nil
}

// decodeName decodes a key or value name: Latin-1 when compressed,
// UTF-16LE otherwise.
func decodeName(b []byte, compressed bool) string {
	if compressed {
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// Subkeys yields the subkeys of k in the order of its subkey lists; after
// an error it stops. Index roots ("ri") may only point to leaves ("li",
// "lf", "lh"), no more subkeys are yielded than the key's count, and each
// subkey must name k as its parent: a damaged or crafted hive cannot make
// it loop.
func (k *Key) Subkeys() iter.Seq2[*Key, error] {
	return func(yield func(*Key, error) bool) {
		if k.subkeys == 0 {
			return
		}
		h := k.h
		if int64(k.subkeys) > int64(h.MaxKeys()) {
			yield(nil, formatErr(k.Offset()+4+0x14, "key %q claims %d subkeys, more than the hive can hold", k.name, k.subkeys))
			return
		}
		lists, err := k.leafLists()
		if err != nil {
			yield(nil, err)
			return
		}
		seen := uint32(0)
		for _, leaf := range lists {
			offs, err := h.leaf(leaf)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, off := range offs {
				seen++
				if seen > k.subkeys {
					yield(nil, formatErr(int64(leaf)+baseBlockSize, "the subkey lists of key %q hold more entries than its count of %d", k.name, k.subkeys))
					return
				}
				c, err := h.key(off)
				if err != nil {
					yield(nil, err)
					return
				}
				if c.parent != k.off || c.flags&keyHiveEntry != 0 {
					yield(nil, formatErr(c.Offset(), "key %q is listed as a subkey of key %q (at 0x%x) but names 0x%x as its parent", c.name, k.name, k.Offset(), int64(c.parent)+baseBlockSize))
					return
				}
				if !yield(c, nil) {
					return
				}
			}
		}
		if seen != k.subkeys {
			yield(nil, formatErr(k.Offset()+4+0x14, "key %q counts %d subkeys, its lists hold %d", k.name, k.subkeys, seen))
		}
	}
}

// list reads the header of a subkey list cell: its payload offset and
// length, signature and entry count.
func (h *Hive) list(off uint32, what string) (p int64, n uint32, sig string, count uint32, err error) {
	p, n, b, err := h.cellPrefix(off, what, 4)
	if err != nil {
		return 0, 0, "", 0, err
	}
	if n < 4 {
		return 0, 0, "", 0, formatErr(p, "%s: cell too small", what)
	}
	return p, n, string(b[0:2]), uint32(binary.LittleEndian.Uint16(b[2:])), nil
}

// leafLists returns the leaf lists of k's subkeys: its subkey list, or the
// leaves an index root points to.
func (k *Key) leafLists() ([]uint32, error) {
	h := k.h
	p, n, sig, count, err := h.list(k.subkeyList, "subkey list of key "+quote(k.name))
	if err != nil {
		return nil, err
	}
	if sig != "ri" {
		return []uint32{k.subkeyList}, nil
	}
	if 4+4*count > n {
		return nil, formatErr(p, "index root of %d entries overruns its cell of %d bytes", count, n)
	}
	b, err := h.read(p+4, 4*count, "index root")
	if err != nil {
		return nil, err
	}
	lists := make([]uint32, count)
	for i := range lists {
		lists[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return lists, nil
}

// leaf returns the key node offsets of a leaf list ("li", "lf" or "lh").
func (h *Hive) leaf(off uint32) ([]uint32, error) {
	p, n, sig, count, err := h.list(off, "subkey list")
	if err != nil {
		return nil, err
	}
	var stride uint32
	switch sig {
	case "li":
		stride = 4
	case "lf", "lh":
		stride = 8
	case "ri":
		return nil, formatErr(p, "index root inside an index root (only one level is allowed)")
	default:
		return nil, formatErr(p, "expected a subkey list (\"li\", \"lf\", \"lh\" or \"ri\"), found %q", sig)
	}
	if 4+stride*count > n {
		return nil, formatErr(p, "subkey list of %d entries overruns its cell of %d bytes", count, n)
	}
	b, err := h.read(p+4, stride*count, "subkey list")
	if err != nil {
		return nil, err
	}
	offs := make([]uint32, count)
	for i := range offs {
		offs[i] = binary.LittleEndian.Uint32(b[stride*uint32(i):])
	}
	return offs, nil
}

// Subkey returns the subkey of k named name, compared case-insensitively
// as Windows does, or an error matching ErrNotFound.
func (k *Key) Subkey(name string) (*Key, error) {
	for c, err := range k.Subkeys() {
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(c.name, name) {
			return c, nil
		}
	}
	return nil, notFound("subkey " + quote(name) + " of key " + quote(k.name))
}

// Path follows a path of subkey names separated by backslashes.
func (k *Key) Path(path string) (*Key, error) {
	cur := k
	for _, name := range strings.Split(path, `\`) {
		if name == "" {
			continue
		}
		next, err := cur.Subkey(name)
		if err != nil {
			return nil, err
		}
		cur = next
	}
	return cur, nil
}

type notFoundError string

func (e notFoundError) Error() string        { return string(e) + " not found" }
func (e notFoundError) Is(target error) bool { return target == ErrNotFound }

func notFound(what string) error { return notFoundError(what) }

func quote(s string) string { return `"` + s + `"` }

// Value is a value of a key; its data is read by [Value.Data].
type Value struct {
	h        *Hive
	off      uint32
	name     string
	typ      Type
	size     uint32 // data size, without the inline flag
	inline   bool
	dataOff  uint32
	inlineBs [4]byte
}

// Name is the value's name; "" for the key's default value.
func (v Value) Name() string { return v.name }

// Type is the value's data type.
func (v Value) Type() Type { return v.typ }

// Size is the length of the value's data, as the value records it.
func (v Value) Size() int { return int(v.size) }

// Offset is the file offset of the value's cell, for error messages.
func (v Value) Offset() int64 { return int64(v.off) + baseBlockSize }

// valueListChunk is how many value offsets are read at a time, so that a
// huge value list is never read at once.
const valueListChunk = 1024

// Values yields the values of k in the order of its value list; after an
// error it stops.
func (k *Key) Values() iter.Seq2[Value, error] {
	return func(yield func(Value, error) bool) {
		if k.values == 0 {
			return
		}
		h := k.h
		p, n, err := h.cell(k.valueList, "value list of key "+quote(k.name))
		if err != nil {
			yield(Value{}, err)
			return
		}
		if uint64(k.values)*4 > uint64(n) {
			yield(Value{}, formatErr(p, "value list of key %q: %d values overrun its cell of %d bytes", k.name, k.values, n))
			return
		}
		for i := uint32(0); i < k.values; i += valueListChunk {
			m := min(k.values-i, valueListChunk)
			b, err := h.read(p+int64(4*i), 4*m, "value list")
			if err != nil {
				yield(Value{}, err)
				return
			}
			for j := uint32(0); j < m; j++ {
				v, err := h.value(binary.LittleEndian.Uint32(b[4*j:]))
				if err != nil {
					yield(Value{}, err)
					return
				}
				if !yield(v, nil) {
					return
				}
			}
		}
	}
}

// Value returns the value of k named name (case-insensitively; "" is the
// default value), or an error matching ErrNotFound.
func (k *Key) Value(name string) (Value, error) {
	for v, err := range k.Values() {
		if err != nil {
			return Value{}, err
		}
		if strings.EqualFold(v.name, name) {
			return v, nil
		}
	}
	return Value{}, notFound("value " + quote(name) + " of key " + quote(k.name))
}

// value reads the key value ("vk") in the cell at off.
func (h *Hive) value(off uint32) (Value, error) {
	p, n, b, err := h.cellPrefix(off, "key value", vkFixed+64)
	if err != nil {
		return Value{}, err
	}
	if n < vkFixed {
		return Value{}, formatErr(p, "key value: cell of %d bytes is too small (need %d)", n, vkFixed)
	}
	if string(b[0:2]) != "vk" {
		return Value{}, formatErr(p, "expected a key value (\"vk\"), found %q", b[0:2])
	}
	le := binary.LittleEndian
	nameLen := uint32(le.Uint16(b[2:]))
	size := le.Uint32(b[4:])
	v := Value{h: h, off: off, typ: Type(le.Uint32(b[0xc:])), dataOff: le.Uint32(b[8:])}
	if size&0x80000000 != 0 {
		v.inline, v.size = true, size&0x7fffffff
		if v.size > 4 {
			return Value{}, formatErr(p+4, "key value: %d bytes of data cannot be stored inline (at most 4)", v.size)
		}
		copy(v.inlineBs[:], b[8:12])
	} else {
		v.size = size
	}
	if nameLen > n-vkFixed {
		return Value{}, formatErr(p+2, "key value: name of %d bytes overruns its cell of %d bytes", nameLen, n)
	}
	nb := b[vkFixed:]
	if uint32(len(nb)) >= nameLen {
		nb = nb[:nameLen]
	} else if nb, err = h.read(p+vkFixed, nameLen, "value name"); err != nil {
		return Value{}, err
	}
	v.name = decodeName(nb, le.Uint16(b[0x10:])&1 != 0)
	return v, nil
}

// Data reads the value's data: at most [MaxDataSize] bytes (larger data
// is an error matching ErrTooLarge).
func (v Value) Data() ([]byte, error) {
	if v.inline {
		return append([]byte(nil), v.inlineBs[:v.size]...), nil
	}
	if v.size == 0 {
		return []byte{}, nil
	}
	if v.size > MaxDataSize {
		return nil, &FormatError{Offset: v.Offset() + 4 + 4, Msg: "value " + quote(v.name) + ": " + strconv.Itoa(int(v.size)) + " bytes of data exceed the limit of " + strconv.Itoa(MaxDataSize), Err: ErrTooLarge}
	}
	h := v.h
	p, n, err := h.cell(v.dataOff, "data of value "+quote(v.name))
	if err != nil {
		return nil, err
	}
	if v.size > bigDataMax && h.header.Minor >= 4 && n >= 8 {
		if sig, err := h.read(p, 2, "value data"); err != nil {
			return nil, err
		} else if string(sig) == "db" {
			return v.bigData(p)
		}
	}
	if v.size > n {
		return nil, formatErr(p, "value %q: %d bytes of data overrun their cell of %d bytes", v.name, v.size, n)
	}
	return h.read(p, v.size, "value data")
}

// bigData reads data stored in segments (the "db" cell whose payload is
// at p).
func (v Value) bigData(p int64) ([]byte, error) {
	h := v.h
	b, err := h.read(p, 8, "big data")
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	count := uint32(le.Uint16(b[2:]))
	if need := (v.size + bigDataMax - 1) / bigDataMax; count < need {
		return nil, formatErr(p, "value %q: %d bytes of data need %d big data segments, the list has %d", v.name, v.size, need, count)
	}
	lp, ln, err := h.cell(le.Uint32(b[4:]), "big data segment list")
	if err != nil {
		return nil, err
	}
	if 4*count > ln {
		return nil, formatErr(lp, "big data segment list of %d entries overruns its cell of %d bytes", count, ln)
	}
	segs, err := h.read(lp, 4*count, "big data segment list")
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, v.size)
	for i := uint32(0); uint32(len(out)) < v.size; i++ {
		want := min(v.size-uint32(len(out)), bigDataMax)
		sp, sn, err := h.cell(le.Uint32(segs[4*i:]), "big data segment")
		if err != nil {
			return nil, err
		}
		if want > sn {
			return nil, formatErr(sp, "big data segment of %d bytes is shorter than the %d bytes it should hold", sn, want)
		}
		d, err := h.read(sp, want, "big data segment")
		if err != nil {
			return nil, err
		}
		out = append(out, d...)
	}
	return out, nil
}
