package trust

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"

	"webfim/baseline"
)

// Leaf tags: the first byte of the data of a leaf says what it holds.
const (
	tagRecord = 'R'
	tagItem   = 'I'
)

// Flag bits of a record leaf.
const (
	leafUnstable = 1 << iota
	leafBLAKE3   // a BLAKE3 digest is present (it may be empty)
	leafSHA256   // a SHA-256 digest is present
	leafSampled  // the BLAKE3 digest is a sampled one (baseline.Record.Sampled)
	leafKnown    = leafUnstable | leafBLAKE3 | leafSHA256 | leafSampled
)

// maxLeafField bounds a length-prefixed field of a leaf read from a file.
const maxLeafField = 1 << 20

// ErrBadLeaf is wrapped by the errors of [ParseRecordLeaf].
var ErrBadLeaf = errors.New("bad record leaf")

// AppendRecordLeaf appends the leaf data of r (its Merkle leaf hash is
// SHA-256 of 0x00 followed by this data). The root is not part of it:
// each root has a tree of its own, bound to its path by the [Statement].
// Integers are big-endian, strings and digests prefixed by a 32-bit
// length:
//
//	'R'
//	u32 len, path bytes            (slash-separated, relative to the root)
//	u8 type                        (1 file, 2 dir, 3 symlink, 4 other)
//	u32 mode                       (Go fs.FileMode bits)
//	i64 size, u32 uid, u32 gid
//	i64 mtime, i64 ctime           (ns since the Unix epoch)
//	u64 inode, u64 dev
//	u8 flags                       (1 unstable, 2 BLAKE3 present, 4 SHA-256 present, 8 sampled)
//	u32 len, BLAKE3 bytes          (length 0 when absent)
//	u32 len, SHA-256 bytes
//	u32 len, symlink target bytes
//	u32 len, error text bytes
func AppendRecordLeaf(b []byte, r *baseline.Record) []byte {
	var flags byte
	if r.Unstable {
		flags |= leafUnstable
	}
	if r.BLAKE3 != nil {
		flags |= leafBLAKE3
	}
	if r.SHA256 != nil {
		flags |= leafSHA256
	}
	if r.Sampled {
		flags |= leafSampled
	}
	b = append(b, tagRecord)
	b = appendString(b, r.Path)
	b = append(b, byte(r.Type))
	b = binary.BigEndian.AppendUint32(b, uint32(r.Mode))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Size))
	b = binary.BigEndian.AppendUint32(b, r.UID)
	b = binary.BigEndian.AppendUint32(b, r.GID)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Mtime))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Ctime))
	b = binary.BigEndian.AppendUint64(b, r.Inode)
	b = binary.BigEndian.AppendUint64(b, r.Dev)
	b = append(b, flags)
	b = appendBytes(b, r.BLAKE3)
	b = appendBytes(b, r.SHA256)
	b = appendString(b, r.Target)
	return appendString(b, r.Err)
}

func appendBytes(b, v []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// ParseRecordLeaf decodes the leaf data of [AppendRecordLeaf] into r,
// leaving r.Root alone. Damaged data yields an error wrapping
// [ErrBadLeaf] that names the field.
func ParseRecordLeaf(data []byte, r *baseline.Record) error {
	d := leafDecoder{data: data}
	if d.u8("tag") != tagRecord && d.err == nil {
		return fmt.Errorf("%w: not a record (tag %#x)", ErrBadLeaf, data[0])
	}
	out := baseline.Record{Root: r.Root}
	out.Path = string(d.bytes("path"))
	out.Type = baseline.Type(d.u8("type"))
	out.Mode = fs.FileMode(d.u32("mode"))
	out.Size = int64(d.u64("size"))
	out.UID = d.u32("uid")
	out.GID = d.u32("gid")
	out.Mtime = int64(d.u64("mtime"))
	out.Ctime = int64(d.u64("ctime"))
	out.Inode = d.u64("inode")
	out.Dev = d.u64("dev")
	flags := d.u8("flags")
	b3 := d.bytes("BLAKE3")
	sha := d.bytes("SHA-256")
	out.Target = string(d.bytes("target"))
	out.Err = string(d.bytes("error"))
	if d.err != nil {
		return d.err
	}
	switch {
	case d.off != len(data):
		return fmt.Errorf("%w: %d trailing bytes", ErrBadLeaf, len(data)-d.off)
	case flags&^leafKnown != 0:
		return fmt.Errorf("%w: unknown flags %#x", ErrBadLeaf, flags)
	case out.Type < baseline.TypeFile || out.Type > baseline.TypeOther:
		return fmt.Errorf("%w: unknown type %d", ErrBadLeaf, out.Type)
	case out.Size < 0:
		return fmt.Errorf("%w: negative size", ErrBadLeaf)
	case flags&leafBLAKE3 == 0 && len(b3) > 0, flags&leafSHA256 == 0 && len(sha) > 0:
		return fmt.Errorf("%w: digest present without its flag", ErrBadLeaf)
	}
	out.Unstable = flags&leafUnstable != 0
	out.Sampled = flags&leafSampled != 0
	if flags&leafBLAKE3 != 0 {
		out.BLAKE3 = append([]byte{}, b3...)
	}
	if flags&leafSHA256 != 0 {
		out.SHA256 = append([]byte{}, sha...)
	}
	*r = out
	return nil
}

// AppendItemLeaf appends the leaf data of a server configuration
// inventory item: 'I' followed by the item's JSON as webfim stores and
// exports it (encoding/json of serverconf.Item).
func AppendItemLeaf(b, itemJSON []byte) []byte {
	return append(append(b, tagItem), itemJSON...)
}

// leafDecoder reads fixed-width fields in sequence and remembers the
// first error.
type leafDecoder struct {
	data []byte
	off  int
	err  error
}

func (d *leafDecoder) take(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.data)-d.off < n {
		d.err = fmt.Errorf("%w: %s at offset %d: truncated", ErrBadLeaf, field, d.off)
		return nil
	}
	b := d.data[d.off : d.off+n]
	d.off += n
	return b
}

func (d *leafDecoder) u8(field string) byte {
	if b := d.take(field, 1); b != nil {
		return b[0]
	}
	return 0
}

func (d *leafDecoder) u32(field string) uint32 {
	if b := d.take(field, 4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (d *leafDecoder) u64(field string) uint64 {
	if b := d.take(field, 8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (d *leafDecoder) bytes(field string) []byte {
	n := d.u32(field)
	if d.err == nil && n > maxLeafField {
		d.err = fmt.Errorf("%w: %s at offset %d: length %d over %d", ErrBadLeaf, field, d.off-4, n, maxLeafField)
		return nil
	}
	return d.take(field, int(n))
}
