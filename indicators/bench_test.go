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
// used) and hashes the same bytes with BLAKE3 and SHA-256 (webfim records
// both for script files), in the same run, streaming them through 256 KiB
// chunks as the hashing pass does. The scanner is told each file's size
// ([Scanner.ResetSize], as the hashing pass does from fstat), so files
// that come in one chunk are scanned in place; the copying path
// ([Scanner.Reset]) is timed too. Each is timed in every round, one after
// the other, in the CPU time of the benchmark's thread (the machine may
// be shared); it reports the throughputs and the medians over the rounds
// of the ratios indicators/BLAKE3 and indicators/(BLAKE3+SHA-256). Those
// loops each read the 56 MB from memory; in the hashing pass the scanner
// reads a chunk the digests have just read into the cache. A last loop
// does that (both digests, then the scan, file by file): its time less
// the digests' time of the round, over the digests' time, is
// "in-hash-pass/(blake3+sha256)".
// Non-script files are not scanned, so they are left out of all.
//
//	go test -run '^$' -bench ReferenceTree -benchtime 10x ./indicators/
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
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var hashTime, shaTime, scanTime, copyTime time.Duration
	var toBLAKE3, toDigests, inPass []float64
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
			for off := 0; off < len(f.data); off += chunk {
				sha.Write(f.data[off:min(len(f.data), off+chunk)])
			}
			sha.Sum(nil)
		}
		t3 := threadCPU()
		for _, f := range files {
			s.Reset(f.fam)
			for off := 0; off < len(f.data); off += chunk {
				s.Write(f.data[off:min(len(f.data), off+chunk)])
			}
			s.Result()
		}
		t4 := threadCPU()
		for _, f := range files {
			h.Reset()
			sha.Reset()
			s.ResetSize(f.fam, int64(len(f.data)))
			for off := 0; off < len(f.data); off += chunk {
				c := f.data[off:min(len(f.data), off+chunk)]
				h.Write(c)
				sha.Write(c)
				s.Write(c)
			}
			h.Sum(nil)
			sha.Sum(nil)
			s.Result()
		}
		t5 := threadCPU()
		hashTime += t1 - t0
		scanTime += t2 - t1
		shaTime += t3 - t2
		copyTime += t4 - t3
		toBLAKE3 = append(toBLAKE3, float64(t2-t1)/float64(max(t1-t0, 1)))
		toDigests = append(toDigests, float64(t2-t1)/float64(max(t1-t0+t3-t2, 1)))
		inPass = append(inPass, float64(t5-t4-(t1-t0+t3-t2))/float64(max(t1-t0+t3-t2, 1)))
	}
	b.StopTimer()
	mb := float64(total) * float64(b.N) / 1e6
	b.ReportMetric(mb/hashTime.Seconds(), "blake3-MB/s")
	b.ReportMetric(mb/shaTime.Seconds(), "sha256-MB/s")
	b.ReportMetric(mb/scanTime.Seconds(), "indicators-MB/s")
	b.ReportMetric(mb/copyTime.Seconds(), "indicators-copying-MB/s")
	b.ReportMetric(median(toBLAKE3), "indicators/blake3")
	b.ReportMetric(median(toDigests), "indicators/(blake3+sha256)")
	b.ReportMetric(median(inPass), "in-hash-pass/(blake3+sha256)")
	b.Logf("%d script files, %.1f MB; clock: %s", len(files), float64(total)/1e6, threadCPUClock)
}

func median(x []float64) float64 {
	slices.Sort(x)
	return x[len(x)/2]
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
