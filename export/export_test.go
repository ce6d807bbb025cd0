package export

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"webfim/baseline"
	"webfim/serverconf"
	"webfim/trust"
)

func sampleRecords() []baseline.Record {
	var recs []baseline.Record
	for _, root := range []string{"/srv/a", "/srv/b"} {
		recs = append(recs, baseline.Record{Root: root, Type: baseline.TypeDir, Mode: 0o755 | 1<<31})
		for i := range 150 {
			recs = append(recs, baseline.Record{
				Root: root, Path: fmt.Sprintf("d%d/f%03d.php", i/50, i), Type: baseline.TypeFile, Mode: 0o644,
				Size: int64(i), Mtime: int64(i) * 1e9, Inode: uint64(i), BLAKE3: bytes.Repeat([]byte{byte(i)}, 32),
			})
		}
	}
	return recs
}

var sampleItems = []serverconf.Item{
	{Server: "apache", Kind: "load_module", Name: "php_module", Image: "/usr/lib/apache2/modules/libphp8.2.so", Source: "/etc/apache2/mods-enabled/php8.2.load", Line: 1},
	{Server: "php", Kind: "auto_prepend_file", Name: "/var/www/x.php", Source: "/etc/php/8.2/fpm/php.ini", Attrs: map[string]string{"b": "2", "a": "1"}},
}

// writeSample exports the sample baseline and returns the file and its
// statement.
func writeSample(t testing.TB, recs []baseline.Record, sigs []trust.Signature) ([]byte, *trust.Statement) {
	t.Helper()
	b := trust.NewBuilder()
	for i := range sampleItems {
		b.AddItem(&sampleItems[i])
	}
	for i := range recs {
		if err := b.AddRecord(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := b.Finish(trust.Statement{Sequence: 3, Created: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Host: "web01", Label: "v1"})
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Exported: time.Now(), ExportedBy: "webfim test", BaselineID: 3}, st.MarshalText(), sigs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sampleItems {
		if err := w.Item(&sampleItems[i]); err != nil {
			t.Fatal(err)
		}
	}
	for i := range recs {
		if err := w.Record(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), &st
}

func TestRoundTrip(t *testing.T) {
	recs := sampleRecords()
	sigs := []trust.Signature{{Statement: []byte("s"), Armored: []byte("-----BEGIN SSH SIGNATURE-----\n")}}
	file, st := writeSample(t, recs, sigs)
	var got []baseline.Record
	c, err := Read(bytes.NewReader(file), func(r *baseline.Record) error {
		got = append(got, *r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(recs, got); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(sampleItems, c.Items); diff != "" {
		t.Fatalf("items (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(sigs, c.Signatures); diff != "" {
		t.Fatalf("signatures (-want +got):\n%s", diff)
	}
	if c.Statement.Digest() != st.Digest() || c.Records != uint64(len(recs)) || c.Header.BaselineID != 3 || c.Header.Version != Version {
		t.Fatalf("contents %+v", c)
	}
	var again []baseline.Record
	for r, err := range Records(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(file)), nil }) {
		if err != nil {
			t.Fatal(err)
		}
		again = append(again, r)
	}
	if diff := cmp.Diff(recs, again); diff != "" {
		t.Fatalf("Records (-want +got):\n%s", diff)
	}
}

// Every truncation of the file is an error, whatever the reader saw
// before it.
func TestTruncated(t *testing.T) {
	file, _ := writeSample(t, sampleRecords(), nil)
	for n := 0; n < len(file); n += 1 + n/50 {
		_, err := Read(bytes.NewReader(file[:n]), nil)
		if !errors.Is(err, ErrDamaged) {
			t.Fatalf("file cut at %d of %d bytes: %v", n, len(file), err)
		}
	}
	_, err := Read(bytes.NewReader(file[:len(file)*2/3]), nil)
	if !strings.Contains(err.Error(), "truncated") && !strings.Contains(err.Error(), "damaged") {
		t.Errorf("message %q", err)
	}
}

// Flipped bytes in the compressed file are caught (by the gzip checksum,
// the framing or the digest) unless the file still decodes to the same
// content (a flip in an unused part of a deflate block header).
func TestFlippedBytes(t *testing.T) {
	recs := sampleRecords()
	file, _ := writeSample(t, recs, nil)
	caught := 0
	for i := 0; i < len(file); i += 1 + i/40 {
		bad := bytes.Clone(file)
		bad[i] ^= 0x20
		var got []baseline.Record
		if _, err := Read(bytes.NewReader(bad), func(r *baseline.Record) error { got = append(got, *r); return nil }); err != nil {
			caught++
			continue
		}
		if diff := cmp.Diff(recs, got); diff != "" {
			t.Fatalf("flipped byte %d of %d accepted with other records:\n%s", i, len(file), diff)
		}
	}
	if caught == 0 {
		t.Fatal("no flipped byte was caught")
	}
}

// recompress edits the uncompressed stream and compresses it again, as
// an attacker editing the file would: gzip's checksum is then valid, and
// the digest is what catches the change.
func recompress(t *testing.T, file []byte, edit func([]byte) []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(edit(raw))
	zw.Close()
	return out.Bytes()
}

func TestAlteredContent(t *testing.T) {
	recs := sampleRecords()
	file, _ := writeSample(t, recs, nil)
	altered := recompress(t, file, func(raw []byte) []byte {
		// One byte of the BLAKE3 digest of a record of /srv/b.
		i := bytes.LastIndex(raw, bytes.Repeat([]byte{77}, 32))
		raw[i] = 78
		return raw
	})
	_, err := Read(bytes.NewReader(altered), nil)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), `root "/srv/b":`) || strings.Contains(err.Error(), "/srv/a") {
		t.Fatalf("altered record: %v", err)
	}
	extra := recompress(t, file, func(raw []byte) []byte { return append(raw, 'E', 0) })
	if _, err := Read(bytes.NewReader(extra), nil); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "after the end frame") {
		t.Fatalf("trailing frame: %v", err)
	}
	notExport := recompress(t, file, func(raw []byte) []byte { return append([]byte("something else\n"), raw...) })
	if _, err := Read(bytes.NewReader(notExport), nil); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "not a webfim baseline export") {
		t.Fatalf("foreign content: %v", err)
	}
	if _, err := Read(strings.NewReader("plain text"), nil); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "not gzip") {
		t.Fatalf("not gzip: %v", err)
	}
	newer := recompress(t, file, func(raw []byte) []byte {
		return bytes.Replace(raw, []byte(`"version":1`), []byte(`"version":9`), 1)
	})
	if _, err := Read(bytes.NewReader(newer), nil); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Fatalf("newer version: %v", err)
	}
}

func TestRecordsStopsOnChangedFile(t *testing.T) {
	file, _ := writeSample(t, sampleRecords(), nil)
	cut := file[:len(file)-20]
	n := 0
	var last error
	for _, err := range Records(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(cut)), nil }) {
		if err != nil {
			last = err
			break
		}
		n++
	}
	if !errors.Is(last, ErrDamaged) {
		t.Fatalf("after %d records: %v", n, last)
	}
}

func FuzzRead(f *testing.F) {
	recs := sampleRecords()[:5]
	file, _ := writeSample(f, recs, nil)
	f.Add(file)
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		c, err := Read(bytes.NewReader(data), func(*baseline.Record) error { n++; return nil })
		if err == nil && c.Records != uint64(n) {
			t.Fatalf("%d records read, %d counted", n, c.Records)
		}
	})
}

// FuzzReadFrames fuzzes the uncompressed stream, which the gzip layer
// otherwise shields from the fuzzer.
func FuzzReadFrames(f *testing.F) {
	recs := sampleRecords()[:5]
	file, _ := writeSample(f, recs, nil)
	zr, _ := gzip.NewReader(bytes.NewReader(file))
	raw, _ := io.ReadAll(zr)
	f.Add(raw)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(raw)
		zw.Close()
		c, err := Read(&buf, nil)
		if err == nil && c.Statement == nil {
			t.Fatal("no statement")
		}
	})
}
