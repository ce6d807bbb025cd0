package indicators

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/zeebo/blake3"
)

// BenchmarkReferenceTree scans the script files of the reference tree
// (bench/setup.sh builds bench/work/ref; $WEBFIM_BENCH_TREE overrides it,
// and without either the Debian wordpress and mediawiki packages are
// used) and hashes the same bytes with BLAKE3, in the same run, streaming
// both through 256 KiB chunks as the hashing pass does. It reports the
// throughput of each (in CPU time of the benchmark's thread, so that a
// shared machine does not skew it) and the median over the rounds of the
// ratio indicators/BLAKE3: the indicators' cost relative to hashing. The
// SHA-256 that webfim also records for script files is timed too, for
// the ratio to the whole digest work. Non-script files are not scanned, so
// they are left out of all.
//
//	go test -run '^$' -bench ReferenceTree -benchtime 5x ./indicators/
func BenchmarkReferenceTree(b *testing.B) {
	files := loadReferenceScripts(b)
	var total int64
	for _, f := range files {
		total += int64(len(f.data))
	}
	e, err := New(Settings{})
	if err != nil {
		b.Fatal(err)
	}
	s := e.NewScanner()
	h := blake3.New()
	sha := sha256.New()
	const chunk = 256 << 10
	// Both are timed in every round, one after the other, in the CPU
	// time of this thread; the ratio of each round is kept and the
	// median reported (the machine may be shared).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var hashTime, shaTime, scanTime time.Duration
	var ratios []float64
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := threadCPU()
		for _, f := range files {
			h.Reset()
			for off := 0; off < len(f.data); off += chunk {
				h.Write(f.data[off:min(len(f.data), off+chunk)])
			}
			h.Sum(nil)
		}
		t1 := threadCPU()
		for _, f := range files {
			s.ResetSize(f.fam, int64(len(f.data)))
			for off := 0; off < len(f.data); off += chunk {
				s.Write(f.data[off:min(len(f.data), off+chunk)])
			}
			s.Result()
		}
		t2 := threadCPU()
		for _, f := range files {
			sha.Reset()
			sha.Write(f.data)
			sha.Sum(nil)
		}
		t3 := threadCPU()
		hashTime += t1 - t0
		scanTime += t2 - t1
		shaTime += t3 - t2
		ratios = append(ratios, float64(t2-t1)/float64(max(t1-t0, 1)))
	}
	b.StopTimer()
	mb := float64(total) * float64(b.N) / 1e6
	b.ReportMetric(mb/hashTime.Seconds(), "blake3-MB/s")
	b.ReportMetric(mb/shaTime.Seconds(), "sha256-MB/s")
	b.ReportMetric(mb/scanTime.Seconds(), "indicators-MB/s")
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "indicators/blake3")
	b.ReportMetric(scanTime.Seconds()/(hashTime+shaTime).Seconds(), "indicators/(blake3+sha256)")
	b.Logf("%d script files, %.1f MB; clock: %s", len(files), float64(total)/1e6, threadCPUClock)
}

type scriptFile struct {
	fam  Family
	data []byte
}

// loadReferenceScripts reads the script files of the reference tree.
func loadReferenceScripts(b *testing.B) []scriptFile {
	var roots []string
	switch ref := os.Getenv("WEBFIM_BENCH_TREE"); {
	case ref != "":
		roots = []string{ref}
	default:
		if _, err := os.Stat("../bench/work/ref"); err == nil {
			roots = []string{"../bench/work/ref"}
		} else {
			roots = legitDirs(b)
		}
	}
	var files []scriptFile
	for _, r := range roots {
		err := walkFollow(r, func(p string) error {
			if FamilyOf(p) == FamilyNone {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files = append(files, scriptFile{FamilyOf(p), data})
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if len(files) == 0 {
		b.Skipf("no script files under %s", filepath.Join(roots...))
	}
	return files
}
