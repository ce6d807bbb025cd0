package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// runDebouncer runs d and collects its batches.
type batchLog struct {
	mu      sync.Mutex
	batches [][]Hint
}

func (b *batchLog) flat() []Hint {
	b.mu.Lock()
	defer b.mu.Unlock()
	var all []Hint
	for _, x := range b.batches {
		all = append(all, x...)
	}
	return all
}

func (b *batchLog) waitCount(t *testing.T, what string, match func(Hint) bool, want int) {
	t.Helper()
	count := func() int {
		n := 0
		for _, h := range b.flat() {
			if match(h) {
				n++
			}
		}
		return n
	}
	if !waitUntil(waitDeadline, func() bool { return count() >= want }) {
		t.Fatalf("%s: %d hints, want %d; got %v", what, count(), want, b.flat())
	}
}

func runDebouncer(t *testing.T, d *Debouncer) (chan<- Hint, *batchLog) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	in := make(chan Hint)
	out := make(chan []Hint)
	log := &batchLog{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case b := <-out:
				log.mu.Lock()
				log.batches = append(log.batches, b)
				log.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	runDone := make(chan struct{})
	go func() { d.Run(ctx, in, out); close(runDone) }()
	t.Cleanup(func() { cancel(); <-runDone; <-done })
	return in, log
}

// The debouncer's tests run in a synctest bubble: its clock is the fake
// one, which moves only when every goroutine of the test waits, so the
// quiet periods and caps are checked to the millisecond, without sleeping.

func TestDebounceCoalescesBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDebouncer(DebounceOptions{Quiet: 50 * time.Millisecond, MaxDelay: 10 * time.Second})
		in, log := runDebouncer(t, d)
		for range 100 {
			in <- Hint{Kind: HintPath, Root: "/r", Rel: "a.php"}
			in <- Hint{Kind: HintPath, Root: "/r", Rel: "b.php"}
		}
		time.Sleep(50*time.Millisecond - time.Nanosecond)
		synctest.Wait()
		if got := log.flat(); len(got) != 0 {
			t.Fatalf("%v handed on before the quiet period", got)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if got := log.flat(); len(got) != 2 || len(log.batches) != 1 {
			t.Fatalf("got %d hints in %d batches, want 2 (one per path) in one: %v", len(got), len(log.batches), got)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := log.flat(); len(got) != 2 {
			t.Fatalf("got %d hints after an hour, want 2: %v", len(got), got)
		}
	})
}

func TestDebounceMaxDelayCapsContinuousWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDebouncer(DebounceOptions{Quiet: 50 * time.Millisecond, MaxDelay: 100 * time.Millisecond})
		in, log := runDebouncer(t, d)
		// Hints every 10ms for a second never leave a quiet period: only
		// the cap lets the path through, every 100ms while the writes go on.
		start := time.Now()
		for range 100 {
			in <- Hint{Kind: HintPath, Root: "/r", Rel: "big.log"}
			time.Sleep(10 * time.Millisecond)
		}
		synctest.Wait()
		if n := len(log.flat()); n != 9 && n != 10 {
			t.Fatalf("continuously written path emitted %d times in %s, want once per 100ms", n, time.Since(start))
		}
	})
}

func TestDebounceSubtreeWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDebouncer(DebounceOptions{Quiet: 30 * time.Millisecond})
		in, log := runDebouncer(t, d)
		in <- Hint{Kind: HintPath, Root: "/r", Rel: "d"}
		in <- Hint{Kind: HintSubtree, Root: "/r", Rel: "d"}
		in <- Hint{Kind: HintPath, Root: "/r", Rel: "d"}
		in <- Hint{Kind: HintConfig, Path: "/etc/nginx/nginx.conf"}
		in <- Hint{Kind: HintConfig, Path: "/etc/nginx/nginx.conf"}
		time.Sleep(time.Hour)
		synctest.Wait()
		want := []Hint{{Kind: HintSubtree, Root: "/r", Rel: "d"}, {Kind: HintConfig, Path: "/etc/nginx/nginx.conf"}}
		got := log.flat()
		if len(got) == 2 && got[0].Kind == HintConfig {
			got[0], got[1] = got[1], got[0]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got)\n%s", diff)
		}
	})
}

func TestDebounceRescanSupersedesPaths(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDebouncer(DebounceOptions{Quiet: time.Hour, MaxDelay: time.Hour})
		in, log := runDebouncer(t, d)
		in <- Hint{Kind: HintPath, Root: "/a", Rel: "x"}
		in <- Hint{Kind: HintPath, Root: "/b", Rel: "y"}
		in <- Hint{Kind: HintRescan, Root: "/a", Reason: ReasonOverflow}
		synctest.Wait() // no time passes: the rescan goes on at once
		got := log.flat()
		if len(got) != 1 || got[0].Root != "/a" || got[0].Kind != HintRescan {
			t.Fatalf("got %v, want only the rescan of /a", got)
		}
		if d.Pending() != 1 { // /b/y still waits, /a/x was dropped
			t.Errorf("pending = %d, want 1", d.Pending())
		}
	})
}

func TestDebounceBoundedMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDebouncer(DebounceOptions{Quiet: time.Hour, MaxDelay: time.Hour, MaxPending: 10})
		in, log := runDebouncer(t, d)
		for i := range 50 {
			in <- Hint{Kind: HintPath, Root: "/a", Rel: fmt.Sprint("f", i)}
		}
		synctest.Wait()
		got := log.flat()
		if len(got) == 0 {
			t.Fatal("no queue-full rescan")
		}
		for _, h := range got {
			if h.Kind != HintRescan || h.Root != "/a" || h.Reason != ReasonQueueFull {
				t.Errorf("got %+v; only queue-full rescans of /a may leave before the hour-long quiet period", h)
			}
		}
		if d.Pending() > 10 {
			t.Errorf("pending = %d, bound is 10", d.Pending())
		}
	})
}

func TestDebounceFlushOnClose(t *testing.T) {
	d := NewDebouncer(DebounceOptions{Quiet: time.Hour, MaxDelay: time.Hour})
	in := make(chan Hint, 3)
	out := make(chan []Hint, 1)
	in <- Hint{Kind: HintPath, Root: "/a", Rel: "x"}
	in <- Hint{Kind: HintPath, Root: "/a", Rel: "y"}
	close(in)
	if err := d.Run(context.Background(), in, out); err != nil {
		t.Fatal(err)
	}
	if b := <-out; len(b) != 2 {
		t.Errorf("flushed %v, want both pending paths", b)
	}
}

// The tree and debouncer together: a file written in many chunks is one
// settled hint.
func TestTreeWithDebouncerOneHintPerWrittenFile(t *testing.T) {
	root := tempRoot(t)
	tr, err := NewTree(newFaultNotifier(t), TreeOptions{Roots: []string{root}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hints := make(chan Hint)
	go tr.Run(ctx, hints)
	<-tr.Ready()
	in, log := runDebouncer(t, NewDebouncer(DebounceOptions{Quiet: 100 * time.Millisecond}))
	go func() {
		for h := range hints {
			select {
			case in <- h:
			case <-ctx.Done():
				return
			}
		}
	}()
	f, err := os.Create(filepath.Join(root, "upload.php"))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		f.WriteString("<?php // chunk\n")
	}
	f.Close()
	log.waitCount(t, "upload.php settled", func(h Hint) bool { return h.Rel == "upload.php" }, 1)
	// Hints settle in the order of their events: once a file written
	// after it settled, so would have any later hint of upload.php.
	writeFile(t, filepath.Join(root, "marker"), "")
	log.waitCount(t, "marker settled", func(h Hint) bool { return h.Rel == "marker" }, 1)
	if n := len(log.flat()); n != 2 {
		t.Errorf("got %d settled hints, want upload.php and marker once each: %v", n, log.flat())
	}
}
