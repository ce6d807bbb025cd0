package watch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"webfim/policy"
	"webfim/scan"
)

// chanSink hands every finding's path to a channel.
type chanSink struct{ paths chan string }

func (s chanSink) Emit(_ context.Context, fs []Finding) error {
	for _, f := range fs {
		if f.File != nil {
			s.paths <- f.File.Path
		}
	}
	return nil
}

func (chanSink) Notice(context.Context, Notice) error { return nil }

func benchDaemon(b *testing.B, root string, cfg Config) chanSink {
	db := openDB(b)
	if _, err := baselineCreator(db, "bench")(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	sink := chanSink{paths: make(chan string, 1<<16)}
	d, err := New(cfg, Deps{Store: storeOf(db), Judge: policy.Default(), Sink: sink,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	waitUntil(time.Minute, func() bool { return d.currentTree() != nil })
	<-d.currentTree().Ready()
	// The catch-up rescan is counted once it is done.
	waitUntil(time.Minute, func() bool { return counterValue(b, d, "webfim_watch_rescans_total") >= 1 })
	return sink
}

// BenchmarkDaemonLatency measures the time from writing a new file to its
// finding leaving the daemon (before the outbox), with the default 300 ms
// debounce; it reports p50 and p99 in ms.
//
//	go test -run '^$' -bench DaemonLatency -benchtime 1000x ./watch
func BenchmarkDaemonLatency(b *testing.B) {
	root := b.TempDir()
	cfg := Config{Target: scan.Target{Roots: []string{root}}, Schedule: Schedule{Fast: -1, Full: -1}}
	sink := benchDaemon(b, root, cfg)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("f%d.php", i)
		start := time.Now()
		if err := os.WriteFile(filepath.Join(root, name), []byte("<?php echo 1;"), 0o644); err != nil {
			b.Fatal(err)
		}
		for p := range sink.paths {
			if p == name {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99-ms")
}

// BenchmarkDaemonBurst writes 10,000 files into a watched root at once and
// measures the time until every one was reported, exactly once.
//
//	go test -run '^$' -bench DaemonBurst -benchtime 1x ./watch
func BenchmarkDaemonBurst(b *testing.B) {
	const n = 10000
	for range b.N {
		b.StopTimer()
		root := b.TempDir()
		cfg := Config{Target: scan.Target{Roots: []string{root}}, Schedule: Schedule{Fast: -1, Full: -1}}
		sink := benchDaemon(b, root, cfg)
		b.StartTimer()
		start := time.Now()
		for i := range n {
			dir := filepath.Join(root, fmt.Sprint("d", i/100))
			if i%100 == 0 {
				if err := os.Mkdir(dir, 0o755); err != nil {
					b.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.php", i)), []byte("<?php"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(time.Since(start).Seconds(), "s-written")
		seen := map[string]int{}
		files := 0
		timeout := time.After(2 * time.Minute)
		for files < n {
			select {
			case p := <-sink.paths:
				seen[p]++
				if filepath.Ext(p) == ".php" {
					files++
				}
			case <-timeout:
				b.Fatalf("only %d of %d files reported", files, n)
			}
		}
		b.ReportMetric(time.Since(start).Seconds(), "s-all-reported")
		// A duplicate would come before the finding of a file written
		// after everything.
		marker := filepath.Join(root, "marker.txt")
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			b.Fatal(err)
		}
		for p := ""; p != filepath.Base(marker); {
			p = <-sink.paths
			if p != filepath.Base(marker) {
				seen[p]++
			}
		}
		for p, c := range seen {
			if c != 1 {
				b.Errorf("%s reported %d times", p, c)
			}
		}
	}
}

// BenchmarkTreeSetup measures adding the watches of a tree of 20,000
// directories (10 files each) and the heap it keeps; it reports µs and
// heap bytes per directory.
//
//	go test -run '^$' -bench TreeSetup -benchtime 3x ./watch
func BenchmarkTreeSetup(b *testing.B) {
	root := b.TempDir()
	const dirs = 20000
	for i := range dirs {
		d := filepath.Join(root, fmt.Sprint("s", i/1000), fmt.Sprint("d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
		for j := range 10 {
			if err := os.WriteFile(filepath.Join(d, fmt.Sprint("f", j)), nil, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		n, err := NewNotifier(0)
		if err != nil {
			b.Fatal(err)
		}
		tr, err := NewTree(n, TreeOptions{Roots: []string{root}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		start := time.Now()
		go func() { tr.Run(ctx, make(chan Hint, 1)); close(done) }()
		<-tr.Ready()
		elapsed := time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(elapsed.Microseconds())/float64(tr.Dirs()), "µs/dir")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(tr.Dirs()), "heap-bytes/dir")
		cancel()
		<-done
		n.Close()
	}
}
