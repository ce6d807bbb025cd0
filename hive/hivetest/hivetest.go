// Package hivetest writes Windows registry hive files for tests: a tree
// of keys and values, in a chosen cell layout, optionally dirty, with
// transaction log headers. It is test support code: the hives it writes
// are valid regf files (libhivex reads and edits them), laid out the way
// Windows lays them out or deliberately otherwise, so that tests can check
// that a reader depends on values, not on where cells lie.
//
// Trees are built in Go or parsed from a small text format (see [Parse]).
package hivetest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"

	"webfim/hive"
)

// Key is a registry key to write.
type Key struct {
	Name    string
	Values  []Value
	Subkeys []*Key
}

// Value is a registry value to write.
type Value struct {
	Name string
	Type hive.Type
	Data []byte
}

// SZ, ExpandSZ, MultiSZ, DWord, QWord and Bin make values of their type.
func SZ(name, s string) Value       { return Value{name, hive.SZ, utf16z(s)} }
func ExpandSZ(name, s string) Value { return Value{name, hive.ExpandSZ, utf16z(s)} }
func MultiSZ(name string, ss ...string) Value {
	var b []byte
	for _, s := range ss {
		b = append(b, utf16z(s)...)
	}
	return Value{name, hive.MultiSZ, append(b, 0, 0)}
}
func DWord(name string, n uint32) Value {
	return Value{name, hive.DWord, binary.LittleEndian.AppendUint32(nil, n)}
}
func QWord(name string, n uint64) Value {
	return Value{name, hive.QWord, binary.LittleEndian.AppendUint64(nil, n)}
}
func Bin(name string, b []byte) Value { return Value{name, hive.Binary, b} }

func utf16z(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return append(b, 0, 0)
}

// Key returns the subkey at path (backslash-separated, names compared
// case-insensitively), creating missing keys.
func (k *Key) Key(path string) *Key {
	cur := k
	for _, name := range strings.Split(path, `\`) {
		if name == "" {
			continue
		}
		i := slices.IndexFunc(cur.Subkeys, func(c *Key) bool { return strings.EqualFold(c.Name, name) })
		if i < 0 {
			cur.Subkeys = append(cur.Subkeys, &Key{Name: name})
			i = len(cur.Subkeys) - 1
		}
		cur = cur.Subkeys[i]
	}
	return cur
}

// Set replaces the value of the same name (case-insensitively) or adds v.
func (k *Key) Set(v Value) *Key {
	if i := slices.IndexFunc(k.Values, func(o Value) bool { return strings.EqualFold(o.Name, v.Name) }); i >= 0 {
		k.Values[i] = v
	} else {
		k.Values = append(k.Values, v)
	}
	return k
}

// Delete removes the subkey at path, if it exists.
func (k *Key) Delete(path string) {
	parent, name := k, path
	if i := strings.LastIndexByte(path, '\\'); i >= 0 {
		parent, name = k.Key(path[:i]), path[i+1:]
	}
	parent.Subkeys = slices.DeleteFunc(parent.Subkeys, func(c *Key) bool { return strings.EqualFold(c.Name, name) })
}

// Unset removes the value named name.
func (k *Key) Unset(name string) {
	k.Values = slices.DeleteFunc(k.Values, func(v Value) bool { return strings.EqualFold(v.Name, name) })
}

// Options choose how a hive is written.
type Options struct {
	// Layout 0 writes cells in tree order in 4 KiB hive bins, with "lh"
	// subkey lists, Latin-1 names and small data inline, as Windows does.
	// Any other value is the seed of another layout of the same tree:
	// cells shuffled, free cells between them, larger hive bins, "li",
	// "lf", "lh" and "ri" lists mixed, names in UTF-16, small data in its
	// own cell, other timestamps and value order.
	Layout int64
	// PrimarySequence and SecondarySequence are the header's sequence
	// numbers (both 1 if zero); different numbers make a dirty hive.
	PrimarySequence, SecondarySequence uint32
	// Minor is the format's minor version (5 if zero).
	Minor uint32
	// FileName is the header's file name field (its last 31
	// characters are kept, as Windows does).
	FileName string
}

type cell struct {
	size uint32 // payload bytes
	off  uint32 // relative to the first hive bin
	fill func(b []byte)
}

type writer struct {
	opt    Options
	rnd    *rand.Rand
	cells  []*cell
	sk     *cell
	nkeys  uint32
	stamp  uint64
	alt    bool // a layout other than Windows'
	utf16  bool
	binMin uint32
}

func (w *writer) newCell(size uint32, fill func([]byte)) *cell {
	c := &cell{size: size, fill: fill}
	w.cells = append(w.cells, c)
	return c
}

// Write writes the hive of the tree under root (whose name is the root
// key's name) to out.
func Write(out io.Writer, root *Key, opt Options) error {
	w := &writer{opt: opt, binMin: 4096, stamp: 134116992000000000} // 2026-01-01
	if opt.Layout != 0 {
		w.alt = true
		w.rnd = rand.New(rand.NewSource(opt.Layout))
		w.utf16 = w.rnd.Intn(2) == 0
		w.binMin = 4096 << uint(w.rnd.Intn(3))
		w.stamp += uint64(w.rnd.Int63n(1 << 40))
	}
	if w.opt.Minor == 0 {
		w.opt.Minor = 5
	}
	desc := securityDescriptor()
	w.sk = w.newCell(20+uint32(len(desc)), func(b []byte) {
		copy(b, "sk")
		le.PutUint32(b[4:], w.sk.off)
		le.PutUint32(b[8:], w.sk.off)
		le.PutUint32(b[12:], w.nkeys)
		le.PutUint32(b[16:], uint32(len(desc)))
		copy(b[20:], desc)
	})
	rootCell := w.key(root, nil, true)
	cells := w.cells
	if w.alt {
		w.rnd.Shuffle(len(cells), func(i, j int) { cells[i], cells[j] = cells[j], cells[i] })
	}
	bins := w.place(cells)
	dataSize := uint32(0)
	for _, b := range bins {
		dataSize += b.size
	}
	bw := bufio.NewWriterSize(out, 1<<16)
	if _, err := bw.Write(w.baseBlock(rootCell.off, dataSize)); err != nil {
		return err
	}
	for _, b := range bins {
		if err := w.writeBin(bw, b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteFile writes the hive to a file.
func WriteFile(path string, root *Key, opt Options) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Write(f, root, opt); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var le = binary.LittleEndian

// name encodes a key or value name: Latin-1 when possible (unless the
// layout wants UTF-16), and whether it is compressed.
func (w *writer) name(s string) ([]byte, bool) {
	latin := true
	for _, r := range s {
		if r > 0xff {
			latin = false
		}
	}
	if latin && !w.utf16 {
		b := make([]byte, 0, len(s))
		for _, r := range s {
			b = append(b, byte(r))
		}
		return b, true
	}
	z := utf16z(s)
	return z[:len(z)-2], false
}

// key adds the cells of k and its subtree; parent is nil for the root.
func (w *writer) key(k *Key, parent *cell, root bool) *cell {
	w.nkeys++
	name, comp := w.name(k.Name)
	var nk *cell
	var subList, valList *cell
	var children []*cell
	values := k.Values
	if w.alt && len(values) > 1 {
		values = slices.Clone(values)
		w.rnd.Shuffle(len(values), func(i, j int) { values[i], values[j] = values[j], values[i] })
	}
	var maxValName, maxData uint32
	var vks []*cell
	for _, v := range values {
		vks = append(vks, w.value(v))
		maxValName = max(maxValName, uint32(2*len(v.Name)))
		maxData = max(maxData, uint32(len(v.Data)))
	}
	if len(vks) > 0 {
		valList = w.newCell(4*uint32(len(vks)), func(b []byte) {
			for i, c := range vks {
				le.PutUint32(b[4*i:], c.off)
			}
		})
	}
	nk = w.newCell(0x4c+uint32(len(name)), func(b []byte) {
		copy(b, "nk")
		flags := uint16(0)
		if comp {
			flags |= 0x20
		}
		if root {
			flags |= 0x0c // KEY_HIVE_ENTRY | KEY_NO_DELETE
		}
		le.PutUint16(b[2:], flags)
		le.PutUint64(b[4:], w.stamp)
		if parent != nil {
			le.PutUint32(b[0x10:], parent.off)
		}
		le.PutUint32(b[0x14:], uint32(len(children)))
		le.PutUint32(b[0x1c:], 0xffffffff)
		le.PutUint32(b[0x20:], 0xffffffff)
		if subList != nil {
			le.PutUint32(b[0x1c:], subList.off)
		}
		le.PutUint32(b[0x24:], uint32(len(vks)))
		le.PutUint32(b[0x28:], 0xffffffff)
		if valList != nil {
			le.PutUint32(b[0x28:], valList.off)
		}
		le.PutUint32(b[0x2c:], w.sk.off)
		le.PutUint32(b[0x30:], 0xffffffff)
		maxName := uint32(0)
		for _, c := range k.Subkeys {
			maxName = max(maxName, uint32(2*len(c.Name)))
		}
		le.PutUint32(b[0x34:], maxName)
		le.PutUint32(b[0x3c:], maxValName)
		le.PutUint32(b[0x40:], maxData)
		le.PutUint16(b[0x48:], uint16(len(name)))
		copy(b[0x4c:], name)
	})
	subs := slices.Clone(k.Subkeys)
	slices.SortFunc(subs, func(a, b *Key) int { return strings.Compare(strings.ToUpper(a.Name), strings.ToUpper(b.Name)) })
	for _, c := range subs {
		children = append(children, w.key(c, nk, false))
	}
	if len(children) > 0 {
		subList = w.subkeyList(subs, children)
	}
	return nk
}

// leafMax is the most entries Windows puts in one leaf list before it
// splits the list under an index root.
const leafMax = 1012

// subkeyList adds the list(s) of a key's children (sorted by name).
func (w *writer) subkeyList(keys []*Key, cells []*cell) *cell {
	kind := "lh"
	if w.alt {
		kind = []string{"li", "lf", "lh", "ri"}[w.rnd.Intn(4)]
	}
	if kind != "ri" && len(keys) <= leafMax {
		return w.leaf(kind, keys, cells)
	}
	// an index root over leaves: of at most leafMax entries as Windows
	// writes them, or two of different kinds in another layout
	var leaves []*cell
	size := leafMax
	if kind == "ri" && len(keys) <= 2*leafMax {
		size = (len(keys) + 1) / 2
	}
	for i := 0; i < len(keys); i += size {
		j := min(i+size, len(keys))
		lk := "lh"
		if w.alt {
			lk = []string{"lf", "li", "lh"}[len(leaves)%3]
		}
		leaves = append(leaves, w.leaf(lk, keys[i:j], cells[i:j]))
	}
	return w.newCell(4+4*uint32(len(leaves)), func(b []byte) {
		copy(b, "ri")
		le.PutUint16(b[2:], uint16(len(leaves)))
		for i, l := range leaves {
			le.PutUint32(b[4+4*i:], l.off)
		}
	})
}

func (w *writer) leaf(kind string, keys []*Key, cells []*cell) *cell {
	stride := uint32(8)
	if kind == "li" {
		stride = 4
	}
	return w.newCell(4+stride*uint32(len(cells)), func(b []byte) {
		copy(b, kind)
		le.PutUint16(b[2:], uint16(len(cells)))
		for i, c := range cells {
			e := b[4+stride*uint32(i):]
			le.PutUint32(e, c.off)
			switch kind {
			case "lf":
				copy(e[4:8], nameHint(keys[i].Name))
			case "lh":
				le.PutUint32(e[4:], NameHash(keys[i].Name))
			}
		}
	})
}

func nameHint(s string) []byte {
	var h [4]byte
	for i, r := range []rune(s) {
		if i == 4 {
			break
		}
		h[i] = byte(r)
	}
	return h[:]
}

// NameHash is the hash of a key name in an "lh" list.
func NameHash(s string) uint32 {
	var h uint32
	for _, u := range utf16.Encode([]rune(strings.ToUpper(s))) {
		h = h*37 + uint32(u)
	}
	return h
}

// value adds the cells of a value and returns its "vk" cell.
func (w *writer) value(v Value) *cell {
	name, comp := w.name(v.Name)
	size := uint32(len(v.Data))
	inline := size <= 4 && !(w.alt && w.rnd.Intn(2) == 0)
	var data *cell
	switch {
	case inline:
	case size > 16344 && w.opt.Minor >= 4:
		data = w.bigData(v.Data)
	default:
		d := v.Data
		data = w.newCell(size, func(b []byte) { copy(b, d) })
	}
	return w.newCell(0x14+uint32(len(name)), func(b []byte) {
		copy(b, "vk")
		le.PutUint16(b[2:], uint16(len(name)))
		if inline {
			le.PutUint32(b[4:], size|0x80000000)
			copy(b[8:12], v.Data)
		} else {
			le.PutUint32(b[4:], size)
			le.PutUint32(b[8:], data.off)
		}
		le.PutUint32(b[0xc:], uint32(v.Type))
		if comp {
			le.PutUint16(b[0x10:], 1)
		}
		copy(b[0x14:], name)
	})
}

// bigData adds a "db" cell, its segment list and segments.
func (w *writer) bigData(d []byte) *cell {
	var segs []*cell
	for i := 0; i < len(d); i += 16344 {
		seg := d[i:min(i+16344, len(d))]
		segs = append(segs, w.newCell(uint32(len(seg)), func(b []byte) { copy(b, seg) }))
	}
	list := w.newCell(4*uint32(len(segs)), func(b []byte) {
		for i, s := range segs {
			le.PutUint32(b[4*i:], s.off)
		}
	})
	return w.newCell(8, func(b []byte) {
		copy(b, "db")
		le.PutUint16(b[2:], uint16(len(segs)))
		le.PutUint32(b[4:], list.off)
	})
}

// securityDescriptor is a minimal self-relative descriptor: owner and
// group LocalSystem, no DACL.
func securityDescriptor() []byte {
	sid := []byte{1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0} // S-1-5-18
	b := []byte{1, 0, 0x00, 0x80}                      // revision 1, SE_SELF_RELATIVE
	b = le.AppendUint32(b, 20)                         // owner
	b = le.AppendUint32(b, 32)                         // group
	b = le.AppendUint32(b, 0)                          // SACL
	b = le.AppendUint32(b, 0)                          // DACL
	b = append(b, sid...)
	return append(b, sid...)
}

type bin struct {
	off, size uint32
	cells     []*cell // in order; a nil fill marks a free cell
}

func align8(n uint32) uint32 { return (n + 7) &^ 7 }

// place assigns offsets to cells, packing them into hive bins.
func (w *writer) place(cells []*cell) []*bin {
	var bins []*bin
	var cur *bin
	var used uint32
	newBin := func(size uint32) {
		off := uint32(0)
		if n := len(bins); n > 0 {
			off = bins[n-1].off + bins[n-1].size
		}
		cur = &bin{off: off, size: size}
		bins = append(bins, cur)
		used = 32
	}
	closeBin := func() {
		if cur != nil && used < cur.size {
			cur.cells = append(cur.cells, &cell{size: cur.size - used - 4, off: cur.off + used})
		}
	}
	newBin(w.binMin)
	for _, c := range cells {
		total := align8(4 + c.size)
		if w.alt && w.rnd.Intn(4) == 0 && used+total+16 <= cur.size {
			free := 8 * uint32(1+w.rnd.Intn(2))
			cur.cells = append(cur.cells, &cell{size: free - 4, off: cur.off + used})
			used += free
		}
		if used+total > cur.size {
			closeBin()
			size := w.binMin
			if total+32 > size {
				size = (total + 32 + 4095) &^ 4095
			}
			newBin(size)
		}
		c.off = cur.off + used
		cur.cells = append(cur.cells, c)
		used += total
	}
	closeBin()
	return bins
}

func (w *writer) writeBin(out io.Writer, b *bin) error {
	buf := make([]byte, b.size)
	copy(buf, "hbin")
	le.PutUint32(buf[4:], b.off)
	le.PutUint32(buf[8:], b.size)
	le.PutUint64(buf[0x14:], w.stamp)
	for _, c := range b.cells {
		at := c.off - b.off
		total := align8(4 + c.size)
		if c.fill == nil { // free
			le.PutUint32(buf[at:], total)
			continue
		}
		le.PutUint32(buf[at:], uint32(-int32(total)))
		c.fill(buf[at+4 : at+4+c.size])
	}
	_, err := out.Write(buf)
	return err
}

func (w *writer) baseBlock(root, dataSize uint32) []byte {
	b := make([]byte, 4096)
	seq1, seq2 := w.opt.PrimarySequence, w.opt.SecondarySequence
	if seq1 == 0 && seq2 == 0 {
		seq1, seq2 = 1, 1
	}
	copy(b, "regf")
	le.PutUint32(b[4:], seq1)
	le.PutUint32(b[8:], seq2)
	le.PutUint64(b[12:], w.stamp)
	le.PutUint32(b[0x14:], 1)
	le.PutUint32(b[0x18:], w.opt.Minor)
	le.PutUint32(b[0x1c:], 0) // primary file
	le.PutUint32(b[0x20:], 1) // direct memory load
	le.PutUint32(b[0x24:], root)
	le.PutUint32(b[0x28:], dataSize)
	le.PutUint32(b[0x2c:], 1)
	// Windows keeps the tail of the path, 31 characters and a NUL
	name := []rune(w.opt.FileName)
	name = name[max(0, len(name)-31):]
	copy(b[0x30:0x70], utf16z(string(name)))
	le.PutUint32(b[0x1fc:], hive.Checksum(b[:512]))
	return b
}

// Log returns the start of a transaction log file in the new format
// (Windows 8.1 and later): a base block with the given sequence numbers
// and one log entry header of sequence number entry, with no dirty pages.
// Enough for a reader that checks whether a log holds pending changes.
func Log(seq1, seq2, entry uint32) []byte {
	b := make([]byte, 1024)
	copy(b, "regf")
	le.PutUint32(b[4:], seq1)
	le.PutUint32(b[8:], seq2)
	le.PutUint32(b[0x14:], 1)
	le.PutUint32(b[0x18:], 5)
	le.PutUint32(b[0x1c:], 6) // transaction log, new format
	le.PutUint32(b[0x20:], 1)
	le.PutUint32(b[0x1fc:], hive.Checksum(b[:512]))
	e := b[512:]
	copy(e, "HvLE")
	le.PutUint32(e[4:], 512)
	le.PutUint32(e[12:], entry)
	return b
}

// Parse reads a tree from text, one statement a line:
//
//	# a comment
//	[ControlSet001\Services\W3SVC\Parameters]   a key (created with its parents), relative to the root
//	[-ControlSet001\Services\Evil]               deletes a key
//	Name = REG_SZ C:\Windows\x.dll               a value of the current key: the rest of the line is the data
//	"Filter DLLs" = REG_EXPAND_SZ %windir%\x.dll names with spaces are quoted; @ is the default value
//	DependOnService = REG_MULTI_SZ HTTP|WAS      strings separated by |
//	Start = REG_DWORD 3                          also REG_QWORD; decimal or 0x hex
//	Blob = REG_BINARY 01 02 ff                   hex bytes
//	Name = -                                     deletes a value
//
// Parse adds to root when it is not nil, so that several texts can be
// applied in turn; it returns the root.
func Parse(root *Key, text string) (*Key, error) {
	if root == nil {
		root = &Key{Name: "ROOT"}
	}
	cur := root
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		bad := func(msg string) error { return fmt.Errorf("line %d: %s: %q", i+1, msg, line) }
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, bad("unclosed [")
			}
			path := line[1 : len(line)-1]
			if strings.HasPrefix(path, "-") {
				root.Delete(path[1:])
				cur = nil
				continue
			}
			cur = root.Key(path)
			continue
		}
		if cur == nil {
			return nil, bad("value outside a key")
		}
		var name, rest string
		if strings.HasPrefix(line, `"`) {
			j := strings.Index(line[1:], `"`)
			if j < 0 {
				return nil, bad("unclosed quote")
			}
			name, rest = line[1:1+j], line[2+j:]
		} else {
			var ok bool
			name, rest, ok = strings.Cut(line, "=")
			if !ok {
				return nil, bad("want NAME = TYPE DATA")
			}
			name, rest = strings.TrimSpace(name), "="+rest
		}
		if name == "@" {
			name = ""
		}
		rest = strings.TrimSpace(rest)
		if !strings.HasPrefix(rest, "=") {
			return nil, bad("want NAME = TYPE DATA")
		}
		rest = strings.TrimSpace(rest[1:])
		if rest == "-" {
			cur.Unset(name)
			continue
		}
		typ, data, _ := strings.Cut(rest, " ")
		data = strings.TrimSpace(data)
		var v Value
		switch strings.ToUpper(typ) {
		case "REG_SZ":
			v = SZ(name, data)
		case "REG_EXPAND_SZ":
			v = ExpandSZ(name, data)
		case "REG_MULTI_SZ":
			v = MultiSZ(name, strings.Split(data, "|")...)
		case "REG_DWORD", "REG_QWORD":
			n, err := strconv.ParseUint(data, 0, 64)
			if err != nil {
				return nil, bad("bad number")
			}
			if strings.ToUpper(typ) == "REG_DWORD" {
				v = DWord(name, uint32(n))
			} else {
				v = QWord(name, n)
			}
		case "REG_BINARY":
			var b []byte
			for _, f := range strings.Fields(data) {
				n, err := strconv.ParseUint(f, 16, 8)
				if err != nil {
					return nil, bad("bad hex byte")
				}
				b = append(b, byte(n))
			}
			v = Bin(name, b)
		default:
			return nil, bad("unknown type " + typ)
		}
		cur.Set(v)
	}
	return root, nil
}
