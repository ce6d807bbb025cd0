package baseline

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"webfim/indicators"
)

// sparse makes a file of size bytes holding data at each of the offsets.
func sparse(t *testing.T, path string, size int64, data map[int64]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Skipf("cannot make a %d-byte sparse file here: %v", size, err)
	}
	for off, s := range data {
		if _, err := f.WriteAt([]byte(s), off); err != nil {
			t.Fatal(err)
		}
	}
}

func wantSampled(t *testing.T, size int64, head, tail []byte) []byte {
	t.Helper()
	d := blake3.NewDeriveKey(sampledContext)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(size))
	d.Write(n[:])
	d.Write(head)
	d.Write(tail)
	return d.Sum(nil)
}

// Issue 12, item 3: a file above the large-file threshold (a 100 GB
// sparse file here) costs two 1 MiB reads, not 100 GB: its record is
// marked Sampled and holds the digest of its size, head and tail.
func TestLargeFileSampled(t *testing.T) {
	root := t.TempDir()
	const size = 100 << 30
	sparse(t, filepath.Join(root, "huge.bin"), size, map[int64]string{0: "head", size - 4: "tail"})
	write(t, filepath.Join(root, "shell.php"), "<?php system($_GET['c']);")
	lim := &countingLimiter{}
	start := time.Now()
	recs := collect(t, Walk(context.Background(), []string{root}, Options{Workers: 1, Limiter: lim}))
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("walk took %s", d)
	}
	huge := recs[1]
	if huge.Path != "huge.bin" || !huge.Sampled || huge.SHA256 != nil || huge.Size != size {
		t.Fatalf("huge.bin: %+v", huge)
	}
	head := append([]byte("head"), make([]byte, SampleSize-4)...)
	tail := append(make([]byte, SampleSize-4), "tail"...)
	if !bytes.Equal(huge.BLAKE3, wantSampled(t, size, head, tail)) {
		t.Errorf("sampled digest %x is not BLAKE3-derive-key(size, head, tail)", huge.BLAKE3)
	}
	if lim.bytes != 2*SampleSize+len("<?php system($_GET['c']);") {
		t.Errorf("read %d bytes, want 2 MiB and the script", lim.bytes)
	}
	if recs[2].Sampled || len(recs[2].SHA256) != 32 {
		t.Errorf("small script: %+v", recs[2])
	}

	// Stat (the daemon's live checks) samples the same way.
	r, err := Stat(root, "huge.bin", Options{}, nil)
	if err != nil || !r.Sampled || !bytes.Equal(r.BLAKE3, huge.BLAKE3) {
		t.Errorf("Stat of huge.bin: %+v, %v", r, err)
	}

	// A change in the head, or in the tail, is a content change.
	for _, off := range []int64{10, size - 10} {
		f, err := os.OpenFile(filepath.Join(root, "huge.bin"), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt([]byte("X"), off)
		f.Close()
		now, err := Stat(root, "huge.bin", Options{}, &huge)
		if err != nil {
			t.Fatal(err)
		}
		if f := Fields(&huge, &now); len(f) == 0 || f[0] != "content" {
			t.Errorf("write at %d: fields %v, want content first", off, f)
		}
		huge = now
	}
}

// The threshold is configurable; a sampled digest and a full digest of
// the same file are not compared (after a threshold change only the
// metadata is), and reuse needs the same kind.
func TestLargeFileThreshold(t *testing.T) {
	root := t.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef"), (5<<20)/16) // 5 MiB
	write(t, filepath.Join(root, "f"), string(data))
	small := collect(t, Walk(context.Background(), []string{root}, Options{LargeFileThreshold: 4 << 20}))[1]
	full := collect(t, Walk(context.Background(), []string{root}, Options{}))[1]
	if !small.Sampled || full.Sampled {
		t.Fatalf("threshold 4 MiB: sampled=%v; default: sampled=%v", small.Sampled, full.Sampled)
	}
	sum := blake3.Sum256(data)
	if !bytes.Equal(full.BLAKE3, sum[:]) {
		t.Error("below the threshold the digest is not BLAKE3 of the content")
	}
	if f := Fields(&small, &full); len(f) != 0 {
		t.Errorf("sampled vs full digest of the same file: fields %v, want none", f)
	}
	// Reuse: a sampled previous record does not stand for a full digest.
	lim := &countingLimiter{}
	again := collect(t, Walk(context.Background(), []string{root}, Options{Previous: sliceState([]Record{{Root: root, Type: TypeDir}, small}), Limiter: lim}))[1]
	if again.Sampled || lim.bytes != len(data) {
		t.Errorf("threshold raised: record %+v after reading %d bytes; want a full re-hash", again, lim.bytes)
	}
	// Encoding keeps the mark.
	b, err := small.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var dec Record
	if err := dec.UnmarshalBinary(b); err != nil || !dec.Sampled {
		t.Errorf("decoded %+v, %v: Sampled lost", dec, err)
	}
}

// Holes are not read, and the digest is the digest of the content (the
// holes' zeros), the same as a plain read of the file gives.
func TestSparseFileHolesNotRead(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SEEK_HOLE is used on Linux only")
	}
	root := t.TempDir()
	p := filepath.Join(root, "sparse.img")
	const size = 96 << 20
	sparse(t, p, size, map[int64]string{0: "start", 40 << 20: "middle", size - 3: "end"})
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	h := blake3.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := h.Sum(nil)
	lim := &countingLimiter{}
	rec := collect(t, Walk(context.Background(), []string{root}, Options{LargeFileThreshold: -1, Limiter: lim}))[1]
	if rec.Sampled || !bytes.Equal(rec.BLAKE3, want) {
		t.Fatalf("digest %x (sampled %v), want the content's %x", rec.BLAKE3, rec.Sampled, want)
	}
	if lim.bytes > 16<<20 {
		t.Errorf("read %d bytes of a %d-byte file holding three words: holes were read", lim.bytes, size)
	}
}

// blockingLimiter holds every read once more than a megabyte was read,
// until release is closed (or a timeout passes, recorded in timedOut).
type blockingLimiter struct {
	read     atomic.Int64
	release  chan struct{}
	timedOut atomic.Bool
}

func (l *blockingLimiter) WaitN(ctx context.Context, n int) error {
	if l.read.Add(int64(n)) > 1<<20 && !l.timedOut.Load() {
		select {
		case <-l.release:
		case <-time.After(5 * time.Second):
			l.timedOut.Store(true)
		}
	}
	return nil
}

// Issue 12, item 3 (lanes): with one worker, a small script behind a
// large file is opened while the large file is still being read: the
// large file is hashed in its own lane. The limiter stalls the large
// file's read until the script has been opened; without the lane the
// worker would wait on it and the script would never be reached.
func TestLargeFileLane(t *testing.T) {
	root := t.TempDir()
	big := bytes.Repeat([]byte{1}, LaneMinSize+1)
	write(t, filepath.Join(root, "a.big"), string(big))
	write(t, filepath.Join(root, "b.php"), "<?php echo 1;")
	write(t, filepath.Join(root, "c.html"), "<p>")
	lim := &blockingLimiter{release: make(chan struct{})}
	var once sync.Once
	setHook(t, &testHookBeforeOpen, func(p string) {
		if filepath.Base(p) == "b.php" {
			once.Do(func() { close(lim.release) })
		}
	})
	recs := collect(t, Walk(context.Background(), []string{root}, Options{Workers: 1, Limiter: lim, LargeFileThreshold: -1}))
	if lim.timedOut.Load() {
		t.Fatal("the small script was not opened while the large file was read: it waited behind it")
	}
	if len(recs) != 4 || recs[1].Path != "a.big" || recs[2].Path != "b.php" || recs[3].Path != "c.html" {
		t.Fatalf("records out of order: %v", recs)
	}
	sum := blake3.Sum256(big)
	if !bytes.Equal(recs[1].BLAKE3, sum[:]) || recs[1].Sampled || recs[1].Err != "" {
		t.Errorf("a.big: %+v", recs[1])
	}
	if len(recs[2].SHA256) != 32 || len(recs[3].BLAKE3) != 32 {
		t.Errorf("small files not hashed: %+v %+v", recs[2], recs[3])
	}
}

// Many large files and a cancelled walk: the lane drains its queue, every
// item is completed and the walk ends with the context's error, without
// leaking a goroutine or hanging.
func TestLargeFileLaneCancel(t *testing.T) {
	root := t.TempDir()
	for i := range 8 {
		sparse(t, filepath.Join(root, fmt.Sprintf("f%d.bin", i)), LaneMinSize*2, map[int64]string{0: "x"})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n int
	var last error
	for _, err := range Walk(ctx, []string{root}, Options{Workers: 2, LargeFileThreshold: -1}) {
		n++
		if n == 2 {
			cancel()
		}
		last = err
	}
	if !errors.Is(last, context.Canceled) {
		t.Errorf("walk after cancel ended with %v, want context.Canceled", last)
	}
}

// The head of a sampled file is sniffed like a whole file's first chunk:
// a PHP payload padded past the large-file threshold and saved as an
// image is still known as PHP content.
func TestLargeFileSniffed(t *testing.T) {
	root := t.TempDir()
	const size = 3 << 20
	sparse(t, filepath.Join(root, "pic.jpg"), size, map[int64]string{0: "<?php system($_GET['c']); ?>\n", size - 4: "tail"})
	sparse(t, filepath.Join(root, "video.bin"), size, map[int64]string{0: "\x00\x00\x00\x18ftypmp42", size - 4: "tail"})
	recs := byPath(collect(t, Walk(context.Background(), []string{root}, Options{Workers: 1, LargeFileThreshold: 2 * SampleSize})))
	if r := recs["pic.jpg"]; !r.Sampled || !r.Sniffed || r.ContentFamily != indicators.FamilyPHP || r.RestrictsOnly {
		t.Errorf("pic.jpg: sampled %v sniffed %v family %v restricts %v, want a sampled, sniffed PHP file", r.Sampled, r.Sniffed, r.ContentFamily, r.RestrictsOnly)
	}
	if r := recs["video.bin"]; !r.Sampled || !r.Sniffed || r.ContentFamily != indicators.FamilyNone {
		t.Errorf("video.bin: sampled %v sniffed %v family %v, want sampled with no family", r.Sampled, r.Sniffed, r.ContentFamily)
	}
}
