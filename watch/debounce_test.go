package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
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
	deadline := time.Now().Add(waitDeadline)
	for {
		n := 0
		for _, h := range b.flat() {
			if match(h) {
				n++
			}
		}
		if n >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d hints, want %d; got %v", what, n, want, b.flat())
		}
		time.Sleep(2 * time.Millisecond)
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

func TestDebounceCoalescesBurst(t *testing.T) {
	d := NewDebouncer(DebounceOptions{Quiet: 50 * time.Millisecond, MaxDelay: 10 * time.Second})
	in, log := runDebouncer(t, d)
	for range 100 {
		in <- Hint{Kind: HintPath, Root: "/r", Rel: "a.php"}
		in <- Hint{Kind: HintPath, Root: "/r", Rel: "b.php"}
	}
	log.waitCount(t, "settled", func(Hint) bool { return true }, 2)
	time.Sleep(settle)
	got := log.flat()
	if len(got) != 2 {
		t.Fatalf("got %d hints, want 2 (one per path): %v", len(got), got)
	}
}

func TestDebounceMaxDelayCapsContinuousWrites(t *testing.T) {
	d := NewDebouncer(DebounceOptions{Quiet: 50 * time.Millisecond, MaxDelay: 100 * time.Millisecond})
	in, log := runDebouncer(t, d)
	// Hints every 10ms never leave a quiet period: only the cap lets the
	// path through, repeatedly while the writes go on.
	stop := time.Now().Add(waitDeadline)
	for {
		in <- Hint{Kind: HintPath, Root: "/r", Rel: "big.log"}
		if len(log.flat()) >= 3 || time.Now().After(stop) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(log.flat()); n < 3 {
		t.Fatalf("continuously written path emitted %d times, want >= 3", n)
	}
}

func TestDebounceSubtreeWins(t *testing.T) {
	d := NewDebouncer(DebounceOptions{Quiet: 30 * time.Millisecond})
	in, log := runDebouncer(t, d)
	in <- Hint{Kind: HintPath, Root: "/r", Rel: "d"}
	in <- Hint{Kind: HintSubtree, Root: "/r", Rel: "d"}
	in <- Hint{Kind: HintPath, Root: "/r", Rel: "d"}
	in <- Hint{Kind: HintConfig, Path: "/etc/nginx/nginx.conf"}
	in <- Hint{Kind: HintConfig, Path: "/etc/nginx/nginx.conf"}
	log.waitCount(t, "settled", func(Hint) bool { return true }, 2)
	time.Sleep(settle)
	want := []Hint{{Kind: HintSubtree, Root: "/r", Rel: "d"}, {Kind: HintConfig, Path: "/etc/nginx/nginx.conf"}}
	got := log.flat()
	if len(got) == 2 && got[0].Kind == HintConfig {
		got[0], got[1] = got[1], got[0]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestDebounceRescanSupersedesPaths(t *testing.T) {
	d := NewDebouncer(DebounceOptions{Quiet: time.Hour, MaxDelay: time.Hour})
	in, log := runDebouncer(t, d)
	in <- Hint{Kind: HintPath, Root: "/a", Rel: "x"}
	in <- Hint{Kind: HintPath, Root: "/b", Rel: "y"}
	in <- Hint{Kind: HintRescan, Root: "/a", Reason: ReasonOverflow}
	log.waitCount(t, "rescan passes at once", func(h Hint) bool { return h.Kind == HintRescan }, 1)
	time.Sleep(settle)
	got := log.flat()
	if len(got) != 1 || got[0].Root != "/a" {
		t.Fatalf("got %v, want only the rescan of /a", got)
	}
	if d.Pending() != 1 { // read after the settle: /b/y still waits, /a/x was dropped
		t.Errorf("pending = %d, want 1", d.Pending())
	}
}

func TestDebounceBoundedMemory(t *testing.T) {
	d := NewDebouncer(DebounceOptions{Quiet: time.Hour, MaxDelay: time.Hour, MaxPending: 10})
	in, log := runDebouncer(t, d)
	for i := range 50 {
		in <- Hint{Kind: HintPath, Root: "/a", Rel: fmt.Sprint("f", i)}
	}
	log.waitCount(t, "queue-full rescan", func(h Hint) bool {
		return h.Kind == HintRescan && h.Root == "/a" && h.Reason == ReasonQueueFull
	}, 1)
	time.Sleep(settle)
	for _, h := range log.flat() {
		if h.Kind != HintRescan || h.Reason != ReasonQueueFull {
			t.Errorf("got %+v; only queue-full rescans may leave before the hour-long quiet period", h)
		}
	}
	if d.Pending() > 10 {
		t.Errorf("pending = %d, bound is 10", d.Pending())
	}
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
	time.Sleep(settle)
	if n := len(log.flat()); n != 1 {
		t.Errorf("got %d settled hints, want 1: %v", n, log.flat())
	}
}
