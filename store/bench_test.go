package store

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"webfim/baseline"
)

// benchRecords is the size of the benchmark baselines; STORE_BENCH_RECORDS
// overrides it (1000000 for the memory figure in docs/store.md).
func benchRecords() int {
	if n, err := strconv.Atoi(os.Getenv("STORE_BENCH_RECORDS")); err == nil && n > 0 {
		return n
	}
	return 200000
}

// benchRecord makes the i-th record of a benchmark baseline; paths come
// out in key order for increasing i.
func benchRecord(i int) baseline.Record {
	var h [32]byte
	for j := range h {
		h[j] = byte(i >> (j % 4 * 8))
	}
	return baseline.Record{
		Root: "/var/www/html", Path: fmt.Sprintf("d%04d/f%06d.php", i/1000, i), Type: baseline.TypeFile,
		Mode: 0o644, Size: int64(i), UID: 33, GID: 33, Mtime: 1.7e18 + int64(i), Ctime: 1.7e18 + int64(i),
		Inode: uint64(i + 100), Dev: 2049, BLAKE3: h[:], SHA256: h[:],
	}
}

// peakHeap samples the heap in use until stop is called.
func peakHeap() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak.Load() }
}

func BenchmarkWriteBaseline(b *testing.B) {
	n := benchRecords()
	db := openTemp(b)
	runtime.GC()
	stop := peakHeap()
	for range b.N {
		w, err := db.Begin(Meta{})
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			if err := w.Put(benchRecord(i)); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := w.Commit(Meta{}, true); err != nil {
			b.Fatal(err)
		}
	}
	peak := stop()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	if fi, err := os.Stat(db.Path()); err == nil {
		b.ReportMetric(float64(fi.Size())/float64(b.N*n), "file-bytes/record")
	}
}

func BenchmarkReadRecords(b *testing.B) {
	n := benchRecords()
	db := openTemp(b)
	w, err := db.Begin(Meta{})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if err := w.Put(benchRecord(i)); err != nil {
			b.Fatal(err)
		}
	}
	m, err := w.Commit(Meta{}, true)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	stop := peakHeap()
	b.ResetTimer()
	for range b.N {
		got := 0
		for _, err := range db.Records(m.ID, "") {
			if err != nil {
				b.Fatal(err)
			}
			got++
		}
		if got != n {
			b.Fatalf("read %d records, want %d", got, n)
		}
	}
	peak := stop()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

func BenchmarkDeleteBaseline(b *testing.B) {
	n := benchRecords()
	db := openTemp(b)
	for range b.N {
		b.StopTimer()
		w, err := db.Begin(Meta{})
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			if err := w.Put(benchRecord(i)); err != nil {
				b.Fatal(err)
			}
		}
		m, err := w.Commit(Meta{}, true)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := db.Delete(m.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSmallOps measures the cost of one short session.
func BenchmarkSmallOps(b *testing.B) {
	db := openTemp(b)
	b.Run("Seen", func(b *testing.B) {
		for i := range b.N {
			if _, _, err := db.Seen(strconv.Itoa(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("MarkSeen", func(b *testing.B) {
		for i := range b.N {
			if err := db.MarkSeen(strconv.Itoa(i), time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
