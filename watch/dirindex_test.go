package watch

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
)

func TestDirIndex(t *testing.T) {
	x := newDirIndex()
	for _, rel := range []string{"", "a", "a/b", "a/b/c", "a/d", "e"} {
		x.add("/r", rel)
	}
	if x.count != 6 || !x.has("/r", "a/b/c") || x.has("/r", "a/x") {
		t.Fatalf("count %d", x.count)
	}
	var removed []string
	if !x.remove("/r", "a", func(rel string) { removed = append(removed, rel) }) {
		t.Fatal("a not removed")
	}
	slices.Sort(removed)
	if !slices.Equal(removed, []string{"a", "a/b", "a/b/c", "a/d"}) {
		t.Errorf("removed %q", removed)
	}
	if x.count != 2 || x.has("/r", "a") || !x.has("/r", "e") {
		t.Errorf("after removal: count %d", x.count)
	}
	if x.remove("/r", "nope", nil) {
		t.Error("unknown dir removed")
	}
}

// BenchmarkDirIndexMemory reports the heap cost of indexing 100,000
// directories (10 levels of fan-out 10 below 1,000 top directories).
func BenchmarkDirIndexMemory(b *testing.B) {
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		x := newDirIndex()
		for i := range 100_000 {
			x.add("/srv/www", fmt.Sprintf("site%03d/wp-content/plugins/plugin%02d", i/100, i%100))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(x.count), "bytes/dir")
		runtime.KeepAlive(x)
	}
}
