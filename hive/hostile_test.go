package hive_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"webfim/hive"
	"webfim/hive/hivetest"
)

var le = binary.LittleEndian

// readAll opens data and reads every key, value and value data of the
// hive, returning the first error.
func readAll(data []byte) error {
	h, err := hive.Open(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return err
	}
	root, err := h.Root()
	if err != nil {
		return err
	}
	return root.Walk(func(_ []string, k *hive.Key) error {
		for v, err := range k.Values() {
			if err != nil {
				return err
			}
			if _, err := v.Data(); err != nil {
				return err
			}
		}
		return nil
	})
}

// fixture is a small hive plus the file offsets of its structures.
type fixture struct {
	data []byte
	h    *hive.Hive
	keys map[string]*hive.Key // by path below the root ("" is the root)
	vals map[string]hive.Value
}

func newFixture(t *testing.T, root *hivetest.Key) *fixture {
	t.Helper()
	var b bytes.Buffer
	if err := hivetest.Write(&b, root, hivetest.Options{}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{data: b.Bytes(), keys: map[string]*hive.Key{}, vals: map[string]hive.Value{}}
	f.h = open(t, f.data)
	r, _ := f.h.Root()
	err := r.Walk(func(path []string, k *hive.Key) error {
		p := strings.Join(path, `\`)
		f.keys[p] = k
		for v, err := range k.Values() {
			if err != nil {
				return err
			}
			f.vals[p+":"+v.Name()] = v
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// field returns the file offset of a field of a key node (offsets as in
// the format specification, from the start of the "nk" payload).
func (f *fixture) nk(path string, field int64) int64 { return f.keys[path].Offset() + 4 + field }
func (f *fixture) vk(name string, field int64) int64 { return f.vals[name].Offset() + 4 + field }

// cellOf returns the file offset of the payload of the cell a field
// points to.
func (f *fixture) cellOf(fieldOff int64) int64 { return int64(le.Uint32(f.data[fieldOff:])) + 4096 + 4 }

func (f *fixture) put32(off int64, v uint32) { le.PutUint32(f.data[off:], v) }

func small() *hivetest.Key {
	root := &hivetest.Key{Name: "ROOT"}
	a := root.Key(`A`)
	a.Set(hivetest.SZ("Path", `C:\x.dll`))
	a.Set(hivetest.Bin("Blob", bytes.Repeat([]byte{7}, 40000)))
	root.Key(`A\B\C`).Set(hivetest.DWord("N", 1))
	root.Key(`A\D`)
	return root
}

// Every damaged or crafted hive gives an error that matches ErrFormat and
// says where, quickly and without large allocations.
func TestHostileHives(t *testing.T) {
	chain := func() *hivetest.Key {
		root := &hivetest.Key{Name: "ROOT"}
		k := root
		for i := 0; i < 40; i++ {
			k.Key("Y") // a leaf beside each link of the chain
			k = k.Key("X")
		}
		return root
	}
	cases := []struct {
		name  string
		tree  func() *hivetest.Key
		patch func(f *fixture)
		want  string
	}{
		{"index root pointing to itself", small, func(f *fixture) {
			list := f.cellOf(f.nk("A", 0x1c))
			copy(f.data[list:], "ri")
			le.PutUint16(f.data[list+2:], 1)
			f.put32(list+4, uint32(list-4-4096))
		}, "index root inside an index root"},
		{"subkey list pointing back at an ancestor", small, func(f *fixture) {
			list := f.cellOf(f.nk(`A\B`, 0x1c))
			f.put32(list+4, uint32(f.keys["A"].Offset()-4096))
		}, `key "A" is listed as a subkey of key "B"`},
		{"subkey list pointing at the root", small, func(f *fixture) {
			list := f.cellOf(f.nk(`A\B`, 0x1c))
			f.put32(list+4, uint32(f.keys[""].Offset()-4096))
		}, "is listed as a subkey"},
		{"subkey listed twice on every level", chain, func(f *fixture) {
			for path, k := range f.keys {
				if k.SubkeyCount() != 2 {
					continue
				}
				list := f.cellOf(f.nk(path, 0x1c))
				x := f.keys[strings.TrimPrefix(path+`\X`, `\`)]
				f.put32(list+4, uint32(x.Offset()-4096))
				f.put32(list+12, uint32(x.Offset()-4096))
			}
		}, "more keys below than the hive can hold"},
		{"cell size beyond its bin", small, func(f *fixture) {
			f.put32(f.keys["A"].Offset(), uint32(0x80000008)) // -0x7ffffff8
		}, "overruns its hive bin"},
		{"unallocated cell", small, func(f *fixture) {
			f.put32(f.keys["A"].Offset(), 0x58)
		}, "cell is not allocated"},
		{"misaligned cell offset", small, func(f *fixture) {
			list := f.cellOf(f.nk("", 0x1c))
			f.put32(list+4, le.Uint32(f.data[list+4:])+4)
		}, "not 8-byte aligned"},
		{"cell offset beyond the hive", small, func(f *fixture) {
			f.put32(f.nk("A", 0x28), 0x7ffffff8)
		}, "lies beyond the hive bins"},
		{"value data of 2 GiB", small, func(f *fixture) {
			f.put32(f.vk("A:Path", 4), 0x7ffffff0)
		}, "exceed the limit"},
		{"value data longer than its cell", small, func(f *fixture) {
			f.put32(f.vk("A:Path", 4), 5000)
		}, "overrun their cell"},
		{"inline data longer than 4 bytes", small, func(f *fixture) {
			f.put32(f.vk(`A\B\C:N`, 4), 0x80000100)
		}, "cannot be stored inline"},
		{"value count of 4 billion", small, func(f *fixture) {
			f.put32(f.nk("A", 0x24), 0xffffffff)
		}, "overrun its cell"},
		{"subkey count of 2 billion", small, func(f *fixture) {
			f.put32(f.nk("A", 0x14), 0x7fffffff)
		}, "more than the hive can hold"},
		{"subkey list longer than its cell", small, func(f *fixture) {
			list := f.cellOf(f.nk(`A\B`, 0x1c))
			le.PutUint16(f.data[list+2:], 2)
		}, "subkey list of 2 entries overruns its cell"},
		{"more subkeys listed than counted", small, func(f *fixture) {
			f.put32(f.nk("A", 0x14), 1)
		}, "hold more entries than its count of 1"},
		{"fewer subkeys listed than counted", small, func(f *fixture) {
			f.put32(f.nk("A", 0x14), 3)
		}, "counts 3 subkeys, its lists hold 2"},
		{"key name longer than its cell", small, func(f *fixture) {
			le.PutUint16(f.data[f.nk("A", 0x48):], 0xffff)
		}, "name of 65535 bytes overruns its cell"},
		{"value name longer than its cell", small, func(f *fixture) {
			le.PutUint16(f.data[f.vk("A:Path", 2):], 0xffff)
		}, "name of 65535 bytes overruns its cell"},
		{"not a key node", small, func(f *fixture) {
			copy(f.data[f.keys["A"].Offset()+4:], "xx")
		}, `expected a key node ("nk")`},
		{"not a subkey list", small, func(f *fixture) {
			copy(f.data[f.cellOf(f.nk("", 0x1c)):], "zz")
		}, "expected a subkey list"},
		{"big data with too few segments", small, func(f *fixture) {
			db := f.cellOf(f.vk("A:Blob", 8))
			le.PutUint16(f.data[db+2:], 1)
		}, "need 3 big data segments"},
		{"truncated file", small, func(f *fixture) {
			f.data = f.data[:4096+4096+100]
		}, "truncated"},
		{"damaged hive bin", small, func(f *fixture) {
			copy(f.data[4096+4096:], "junk")
		}, `no "hbin" signature`},
		{"root beyond the bins", small, func(f *fixture) {
			f.put32(0x24, 0x10000000)
		}, "lies beyond the hive bins"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.tree())
			if err := readAll(f.data); err != nil {
				t.Fatalf("intact hive: %v", err)
			}
			c.patch(f)
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			start := time.Now()
			err := readAll(f.data)
			took := time.Since(start)
			runtime.ReadMemStats(&ms1)
			if err == nil {
				t.Fatal("damaged hive read without error")
			}
			if !errors.Is(err, hive.ErrFormat) || !strings.Contains(err.Error(), "hive offset 0x") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q: want ErrFormat with an offset and %q", err, c.want)
			}
			if took > 5*time.Second {
				t.Errorf("took %v", took)
			}
			if alloc := ms1.TotalAlloc - ms0.TotalAlloc; alloc > 4<<20 {
				t.Errorf("allocated %d bytes reading a %d-byte hive", alloc, len(f.data))
			}
		})
	}
}

func TestNotAHive(t *testing.T) {
	good := build(t, small(), hivetest.Options{})
	for _, c := range []struct {
		name  string
		patch func([]byte) []byte
		want  string
	}{
		{"empty", func([]byte) []byte { return nil }, "too short for a hive header"},
		{"no signature", func(b []byte) []byte { copy(b, "MZ\x90\x00"); return b }, `no "regf" signature`},
		{"version 2", func(b []byte) []byte { le.PutUint32(b[0x14:], 2); return b }, "unsupported major version 2"},
		{"a log file", func(b []byte) []byte { le.PutUint32(b[0x1c:], 6); return b }, "is a transaction log"},
		{"bins size", func(b []byte) []byte { le.PutUint32(b[0x28:], 4097); return b }, "not a multiple of 4096"},
		{"no bins", func(b []byte) []byte { return b[:4096] }, "the file ends inside the hive bins"},
		{"first bin damaged", func(b []byte) []byte { copy(b[4096:], "xxxx"); return b }, `no "hbin" signature`},
		{"bin at the wrong offset", func(b []byte) []byte { le.PutUint32(b[4096+4:], 4096); return b }, "hive bin says it is at 0x1000"},
		{"bin size zero", func(b []byte) []byte { le.PutUint32(b[4096+8:], 0); return b }, "bad hive bin size 0x0"},
	} {
		data := c.patch(bytes.Clone(good))
		_, err := hive.Open(bytes.NewReader(data), int64(len(data)))
		if err == nil || !errors.Is(err, hive.ErrFormat) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "hive offset 0x") {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
}

// FuzzHive reads every key, value and data of arbitrary input: it must
// return, without panicking, within the bounds the package promises.
// Inputs are hives of several kilobytes, which the fuzzer minimizes
// slowly: go test ./hive -fuzz FuzzHive -fuzzminimizetime 2s
func FuzzHive(f *testing.F) {
	// Small seeds: the fuzzer minimizes new inputs byte by byte, which
	// takes minutes on the 60 kB of small() with its big data value.
	tiny := func() *hivetest.Key {
		root := &hivetest.Key{Name: "ROOT"}
		root.Key(`A`).Set(hivetest.SZ("Path", `C:\x.dll`)).Set(hivetest.MultiSZ("M", "a", "b"))
		root.Key(`A\B`).Set(hivetest.DWord("N", 1))
		root.Key(`C`)
		return root
	}
	for _, layout := range []int64{0, 1, 2, 3} {
		var b bytes.Buffer
		if err := hivetest.Write(&b, tiny(), hivetest.Options{Layout: layout}); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	var b bytes.Buffer
	root := &hivetest.Key{Name: "ROOT"}
	root.Key(`Select`).Set(hivetest.DWord("Current", 1))
	root.Key(`ControlSet001\Services\W3SVC\Parameters`).Set(hivetest.SZ("Filter DLLs", `C:\a.dll`))
	if err := hivetest.Write(&b, root, hivetest.Options{Layout: 7}); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		err := readAll(data)
		if err != nil && !errors.Is(err, hive.ErrFormat) {
			t.Fatalf("error not matching ErrFormat: %v", err)
		}
	})
}

func FuzzStrings(f *testing.F) {
	f.Add(uint32(hive.MultiSZ), []byte("a\x00\x00\x00b\x00\x00\x00\x00\x00"))
	f.Add(uint32(hive.SZ), []byte("a\x00b"))
	f.Add(uint32(hive.DWord), []byte{1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, typ uint32, data []byte) {
		s, err := hive.Strings(hive.Type(typ), data)
		if err == nil && hive.Type(typ).IsString() && len(s) > len(data)/2+1 {
			t.Fatalf("%d strings from %d bytes", len(s), len(data))
		}
	})
}
