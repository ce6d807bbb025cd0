package baseline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"math"
	"slices"

	"webfim/indicators"
)

// State is a stream of records ordered by Root (byte order), then by
// [Key] of Path. A non-nil error ends the stream for the consumer.
type State = iter.Seq2[Record, error]

// ErrCorruptRecord is wrapped by every error of [Record.UnmarshalBinary].
var ErrCorruptRecord = errors.New("corrupt baseline record")

// recordVersion is the first byte of every encoded record. Bump it when the
// layout changes and keep decoding the older versions.
const recordVersion = 1

// Flag bits of the encoded record.
const (
	flagUnstable = 1 << iota
	flagBLAKE3   // a BLAKE3 digest follows (possibly empty; absent means nil)
	flagSHA256   // a SHA-256 digest follows
	flagTarget   // a non-empty symlink target follows
	flagErr      // a non-empty error text follows
	flagSampled  // BLAKE3 covers the size, head and tail only (Record.Sampled)
	flagSniffed  // the sniffing byte follows: content family, bit 7 restricts-only
	flagLinked   // the stat of a symlink's target outside the roots follows
	flagsKnown   = flagUnstable | flagBLAKE3 | flagSHA256 | flagTarget | flagErr | flagSampled | flagSniffed | flagLinked
)

// sniffRestricts is the restricts-only bit of the sniffing byte; the
// family is in the bits below it.
const sniffRestricts = 0x80

// maxEncodedField bounds a length-prefixed field independently of the input
// size, so a hostile record cannot make a caller keep a huge allocation.
const maxEncodedField = 1 << 20

// MarshalBinary encodes every field but Root and Path (the store keeps those
// in its keys). Layout, version 1:
//
//	version byte, flags byte, type byte,
//	uvarint mode, varint size, uvarint uid, uvarint gid,
//	varint mtime, varint ctime, uvarint inode, uvarint dev,
//	then, in this order and only when their flag is set,
//	uvarint length + bytes of BLAKE3, SHA256, Target, Err,
//	the sniffing byte (content family | 0x80 if restricts-only),
//	varint size, varint mtime, varint ctime, uvarint inode, uvarint dev
//	of Linked.
func (r *Record) MarshalBinary() ([]byte, error) {
	return r.AppendBinary(make([]byte, 0, r.encodedSizeHint()))
}

func (r *Record) encodedSizeHint() int {
	return 3 + 8*binary.MaxVarintLen64 + 4*binary.MaxVarintLen32 +
		len(r.BLAKE3) + len(r.SHA256) + len(r.Target) + len(r.Err)
}

// AppendBinary appends the encoding of [Record.MarshalBinary] to b.
func (r *Record) AppendBinary(b []byte) ([]byte, error) {
	var flags byte
	if r.Unstable {
		flags |= flagUnstable
	}
	if r.BLAKE3 != nil {
		flags |= flagBLAKE3
	}
	if r.SHA256 != nil {
		flags |= flagSHA256
	}
	if r.Target != "" {
		flags |= flagTarget
	}
	if r.Err != "" {
		flags |= flagErr
	}
	if r.Sampled {
		flags |= flagSampled
	}
	if r.Sniffed {
		flags |= flagSniffed
	}
	if r.Linked != nil {
		flags |= flagLinked
	}
	for _, f := range []struct {
		name string
		n    int
	}{{"BLAKE3", len(r.BLAKE3)}, {"SHA256", len(r.SHA256)}, {"target", len(r.Target)}, {"error", len(r.Err)}} {
		if f.n > maxEncodedField {
			return b, fmt.Errorf("baseline: record %q: %s is %d bytes, more than %d", r.Path, f.name, f.n, maxEncodedField)
		}
	}
	b = append(b, recordVersion, flags, byte(r.Type))
	b = binary.AppendUvarint(b, uint64(r.Mode))
	b = binary.AppendVarint(b, r.Size)
	b = binary.AppendUvarint(b, uint64(r.UID))
	b = binary.AppendUvarint(b, uint64(r.GID))
	b = binary.AppendVarint(b, r.Mtime)
	b = binary.AppendVarint(b, r.Ctime)
	b = binary.AppendUvarint(b, r.Inode)
	b = binary.AppendUvarint(b, r.Dev)
	if flags&flagBLAKE3 != 0 {
		b = binary.AppendUvarint(b, uint64(len(r.BLAKE3)))
		b = append(b, r.BLAKE3...)
	}
	if flags&flagSHA256 != 0 {
		b = binary.AppendUvarint(b, uint64(len(r.SHA256)))
		b = append(b, r.SHA256...)
	}
	if flags&flagTarget != 0 {
		b = binary.AppendUvarint(b, uint64(len(r.Target)))
		b = append(b, r.Target...)
	}
	if flags&flagErr != 0 {
		b = binary.AppendUvarint(b, uint64(len(r.Err)))
		b = append(b, r.Err...)
	}
	if flags&flagSniffed != 0 {
		s := byte(r.ContentFamily) &^ sniffRestricts
		if r.RestrictsOnly {
			s |= sniffRestricts
		}
		b = append(b, s)
	}
	if l := r.Linked; l != nil {
		b = binary.AppendVarint(b, l.Size)
		b = binary.AppendVarint(b, l.Mtime)
		b = binary.AppendVarint(b, l.Ctime)
		b = binary.AppendUvarint(b, l.Inode)
		b = binary.AppendUvarint(b, l.Dev)
	}
	return b, nil
}

// UnmarshalBinary decodes what [Record.MarshalBinary] produced into r,
// leaving r.Root and r.Path untouched. Truncated, corrupt or trailing data
// yields an error wrapping [ErrCorruptRecord] that names the field and byte
// offset; r is then left unchanged.
func (r *Record) UnmarshalBinary(data []byte) error {
	d := decoder{data: data}
	if len(data) < 3 {
		return d.fail("header", "need 3 bytes, have %d", len(data))
	}
	if data[0] != recordVersion {
		return d.fail("version", "unknown version %d", data[0])
	}
	flags := data[1]
	if flags&^flagsKnown != 0 {
		return d.fail("flags", "unknown flag bits %#x", flags&^flagsKnown)
	}
	d.off = 2
	t := Type(data[2])
	if t < TypeFile || t > TypeOther {
		return d.fail("type", "unknown type %d", t)
	}
	d.off = 3
	out := Record{Root: r.Root, Path: r.Path, Type: t, Unstable: flags&flagUnstable != 0, Sampled: flags&flagSampled != 0}
	mode := d.uvarint("mode")
	if mode > math.MaxUint32 && d.err == nil {
		d.err = d.fail("mode", "value %d out of range", mode)
	}
	out.Mode = fs.FileMode(mode)
	out.Size = d.varint("size")
	if out.Size < 0 && d.err == nil {
		d.err = d.fail("size", "negative size %d", out.Size)
	}
	out.UID = d.uint32("uid")
	out.GID = d.uint32("gid")
	out.Mtime = d.varint("mtime")
	out.Ctime = d.varint("ctime")
	out.Inode = d.uvarint("inode")
	out.Dev = d.uvarint("dev")
	var b3, sha []byte
	if flags&flagBLAKE3 != 0 {
		b3 = d.bytes("BLAKE3")
	}
	if flags&flagSHA256 != 0 {
		sha = d.bytes("SHA256")
	}
	if flags&flagTarget != 0 {
		out.Target = d.str("target")
	}
	if flags&flagErr != 0 {
		out.Err = d.str("error")
	}
	if flags&flagSniffed != 0 {
		s := d.byte("sniffed")
		out.Sniffed, out.RestrictsOnly = true, s&sniffRestricts != 0
		out.ContentFamily = indicators.Family(s &^ sniffRestricts)
		if out.ContentFamily != indicators.FamilyNone && !slices.Contains(indicators.Families, out.ContentFamily) && d.err == nil {
			d.err = d.fail("sniffed", "unknown content family %d", out.ContentFamily)
		}
	}
	if flags&flagLinked != 0 {
		l := &LinkedFile{}
		l.Size = d.varint("linked size")
		l.Mtime = d.varint("linked mtime")
		l.Ctime = d.varint("linked ctime")
		l.Inode = d.uvarint("linked inode")
		l.Dev = d.uvarint("linked dev")
		if l.Size < 0 && d.err == nil {
			d.err = d.fail("linked size", "negative size %d", l.Size)
		}
		out.Linked = l
	}
	if d.err != nil {
		return d.err
	}
	if d.off != len(data) {
		return d.fail("end", "%d trailing bytes", len(data)-d.off)
	}
	// One allocation for both digests; nil stays nil, empty stays empty.
	if b3 != nil || sha != nil {
		buf := make([]byte, len(b3)+len(sha))
		if b3 != nil {
			out.BLAKE3 = buf[:len(b3):len(b3)]
			copy(out.BLAKE3, b3)
		}
		if sha != nil {
			out.SHA256 = buf[len(b3):]
			copy(out.SHA256, sha)
		}
	}
	*r = out
	return nil
}

// decoder reads fields in sequence and remembers the first error, so the
// field list above reads straight.
type decoder struct {
	data []byte
	off  int
	err  error
}

func (d *decoder) fail(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d: %s", ErrCorruptRecord, field, d.off, fmt.Sprintf(format, args...))
}

func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.data[d.off:])
	if n <= 0 {
		if n == 0 {
			d.err = d.fail(field, "truncated varint")
		} else {
			d.err = d.fail(field, "varint overflows 64 bits")
		}
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint(field string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.data[d.off:])
	if n <= 0 {
		if n == 0 {
			d.err = d.fail(field, "truncated varint")
		} else {
			d.err = d.fail(field, "varint overflows 64 bits")
		}
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) byte(field string) byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.data) {
		d.err = d.fail(field, "truncated")
		return 0
	}
	d.off++
	return d.data[d.off-1]
}

func (d *decoder) uint32(field string) uint32 {
	v := d.uvarint(field)
	if v > math.MaxUint32 && d.err == nil {
		d.err = d.fail(field, "value %d out of range", v)
	}
	return uint32(v)
}

// bytes returns a sub-slice of the input (never nil on success); the
// length prefix is checked against the remaining input before any use.
func (d *decoder) bytes(field string) []byte {
	start := d.off
	n := d.uvarint(field)
	if d.err != nil {
		return nil
	}
	if left := len(d.data) - d.off; n > maxEncodedField || n > uint64(left) {
		d.off = start
		d.err = d.fail(field, "length %d exceeds the %d bytes left", n, left)
		return nil
	}
	b := d.data[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return b
}

func (d *decoder) str(field string) string {
	b := d.bytes(field)
	if d.err != nil {
		return ""
	}
	if len(b) == 0 {
		// An empty string is encoded by leaving the flag unset; accepting
		// it here would still round-trip, so do not reject it.
		return ""
	}
	return string(b)
}
