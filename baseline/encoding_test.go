package baseline

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"webfim/indicators"
)

func sampleRecords() []Record {
	digest := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	return []Record{
		{Type: TypeDir, Mode: fs.ModeDir | 0o755, Size: 4096, UID: 0, GID: 0, Mtime: 1700000000123456789, Ctime: 1700000000123456789, Inode: 2, Dev: 2049},
		{Type: TypeFile, Mode: 0o644, Size: 12, UID: 33, GID: 33, Mtime: 1, Ctime: 2, Inode: 1 << 40, Dev: math.MaxUint64, BLAKE3: digest(0xb3)},
		{Type: TypeFile, Mode: 0o600, Size: 1 << 40, UID: math.MaxUint32, GID: math.MaxUint32, Mtime: -5, Ctime: math.MinInt64, BLAKE3: digest(1), SHA256: digest(2), Unstable: true},
		{Type: TypeFile, Mode: 0, Size: 0, BLAKE3: []byte{}, SHA256: []byte{}},
		{Type: TypeFile, Mode: 0o000, Err: "open x: permission denied"},
		{Type: TypeSymlink, Mode: fs.ModeSymlink | 0o777, Target: "../\xff\xfe\nweird"},
		{Type: TypeOther, Mode: fs.ModeNamedPipe | 0o644, Mtime: math.MaxInt64},
		{Type: TypeOther, Mode: fs.ModeSocket | fs.ModeSetuid | fs.ModeSticky | 0o777},
		{Type: TypeFile, Mode: 0o644, Size: 30, BLAKE3: digest(3), Sniffed: true, ContentFamily: indicators.FamilyPHP},
		{Type: TypeFile, Mode: 0o644, Size: 30, BLAKE3: digest(4), SHA256: digest(5), Sniffed: true, RestrictsOnly: true},
		{Type: TypeFile, Mode: 0o644, Size: 1, BLAKE3: digest(6), Sniffed: true},
		{Type: TypeSymlink, Mode: fs.ModeSymlink | 0o777, Size: 14, Target: "/var/tmp/.s.php", BLAKE3: digest(7), SHA256: digest(8),
			Sniffed: true, ContentFamily: indicators.FamilyPHP, Linked: &LinkedFile{Size: 40, Mtime: -1, Ctime: math.MaxInt64, Inode: 1 << 50, Dev: 3}},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for i, want := range sampleRecords() {
		want.Root, want.Path = "/srv/www", "a/\xff b\nc"
		data, err := want.MarshalBinary()
		if err != nil {
			t.Fatalf("record %d: MarshalBinary: %v", i, err)
		}
		got := Record{Root: want.Root, Path: want.Path}
		if err := got.UnmarshalBinary(data); err != nil {
			t.Fatalf("record %d: UnmarshalBinary: %v", i, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("record %d: round trip differs (-want +got):\n%s", i, diff)
		}
		// cmp treats nil and empty slices alike only with an option; check
		// explicitly that nil stays nil and empty stays empty.
		if (want.BLAKE3 == nil) != (got.BLAKE3 == nil) || (want.SHA256 == nil) != (got.SHA256 == nil) {
			t.Errorf("record %d: nil-ness of digests changed: BLAKE3 %v->%v SHA256 %v->%v",
				i, want.BLAKE3 == nil, got.BLAKE3 == nil, want.SHA256 == nil, got.SHA256 == nil)
		}
	}
}

func TestRecordUnmarshalLeavesRootAndPath(t *testing.T) {
	src := Record{Root: "/a", Path: "x", Type: TypeFile, Size: 3}
	data, _ := src.MarshalBinary()
	dst := Record{Root: "/other", Path: "y", Err: "stale"}
	if err := dst.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if dst.Root != "/other" || dst.Path != "y" || dst.Err != "" || dst.Size != 3 {
		t.Errorf("got %+v", dst)
	}
}

func TestRecordEncodingIsCompact(t *testing.T) {
	r := Record{Type: TypeFile, Mode: 0o644, Size: 5000, UID: 33, GID: 33, Mtime: 1700000000123456789,
		Ctime: 1700000000123456789, Inode: 1234567, Dev: 2049, BLAKE3: make([]byte, 32)}
	data, _ := r.MarshalBinary()
	// 32 digest bytes plus a few dozen for the metadata; catches a
	// regression to fixed-width or text encoding.
	if len(data) > 32+40 {
		t.Errorf("typical file record encodes to %d bytes, want at most %d", len(data), 32+40)
	}
}

func TestRecordTruncationsFail(t *testing.T) {
	for i, r := range sampleRecords() {
		data, _ := r.MarshalBinary()
		for n := 0; n < len(data); n++ {
			var got Record
			err := got.UnmarshalBinary(data[:n])
			if !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("record %d truncated to %d of %d bytes: err = %v, want ErrCorruptRecord", i, n, len(data), err)
			}
		}
		var got Record
		if err := got.UnmarshalBinary(append(data, 0)); !errors.Is(err, ErrCorruptRecord) {
			t.Errorf("record %d with a trailing byte: err = %v, want ErrCorruptRecord", i, err)
		}
	}
}

func TestRecordCorruptInputs(t *testing.T) {
	valid, _ := (&Record{Type: TypeFile, BLAKE3: make([]byte, 32)}).MarshalBinary()
	huge := append([]byte{recordVersion, flagTarget, byte(TypeFile), 0, 0, 0, 0, 0, 0, 0, 0},
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f) // target length 2^63-1
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"version 0", append([]byte{0}, valid[1:]...)},
		{"version 2", append([]byte{2}, valid[1:]...)},
		{"unknown flag", append([]byte{recordVersion, 0x80}, valid[2:]...)},
		{"type 0", append([]byte{recordVersion, valid[1], 0}, valid[3:]...)},
		{"type 9", append([]byte{recordVersion, valid[1], 9}, valid[3:]...)},
		{"huge length prefix", huge},
		{"varint overflow", []byte{recordVersion, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"uid out of range", []byte{recordVersion, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0}},
		{"negative size", []byte{recordVersion, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"unknown content family", []byte{recordVersion, flagSniffed, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f}},
		{"sniffing byte missing", []byte{recordVersion, flagSniffed, 1, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"negative linked size", []byte{recordVersion, flagLinked, 3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Record{Path: "keep"}
			err := got.UnmarshalBinary(tc.data)
			if !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("err = %v, want ErrCorruptRecord", err)
			}
			if got.Path != "keep" || got.Type != 0 {
				t.Errorf("record modified on error: %+v", got)
			}
			t.Log(err)
		})
	}
}

func FuzzUnmarshalRecord(f *testing.F) {
	for _, r := range sampleRecords() {
		data, _ := r.MarshalBinary()
		f.Add(data)
	}
	f.Add([]byte{})
	f.Add([]byte{recordVersion, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Record
		if err := r.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("error does not wrap ErrCorruptRecord: %v", err)
			}
			return
		}
		again, err := r.MarshalBinary()
		if err != nil {
			t.Fatalf("re-marshal of a decoded record: %v", err)
		}
		var r2 Record
		if err := r2.UnmarshalBinary(again); err != nil {
			t.Fatalf("re-marshaled record does not decode: %v", err)
		}
		if diff := cmp.Diff(r, r2); diff != "" {
			t.Fatalf("re-marshal changed the record (-first +second):\n%s", diff)
		}
		if (r.BLAKE3 == nil) != (r2.BLAKE3 == nil) || (r.SHA256 == nil) != (r2.SHA256 == nil) {
			t.Fatalf("nil-ness of digests changed")
		}
	})
}
