package watch

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestScheduleRunsFastAndFull(t *testing.T) {
	var fast, full atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Schedule{Fast: 10 * time.Millisecond, Full: 45 * time.Millisecond}.Run(ctx, func(_ context.Context, f bool) {
			if f {
				full.Add(1)
			} else {
				fast.Add(1)
			}
		})
		close(done)
	}()
	deadline := time.Now().Add(waitDeadline)
	for (fast.Load() < 3 || full.Load() < 2) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if fast.Load() < 3 || full.Load() < 2 {
		t.Fatalf("fast=%d full=%d rescans", fast.Load(), full.Load())
	}
	if full.Load() >= fast.Load() {
		t.Errorf("full rescans (%d) should be rarer than fast ones (%d)", full.Load(), fast.Load())
	}
}

func TestScheduleDisabled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	called := false
	Schedule{Fast: -1, Full: -1}.Run(ctx, func(context.Context, bool) { called = true })
	if called {
		t.Error("disabled schedule rescanned")
	}
}

func TestJitterStaysInRange(t *testing.T) {
	s := Schedule{Jitter: 0.1}
	for range 1000 {
		d := s.jittered(time.Hour)
		if d < 54*time.Minute || d > 66*time.Minute {
			t.Fatalf("jittered hour = %s, outside ±10%%", d)
		}
	}
}

func TestRateLimiter(t *testing.T) {
	const rate = 1 << 20 // 1 MiB/s; burst 256 KiB
	l := NewRateLimiter(rate)
	start := time.Now()
	for range 8 { // 1 MiB in 128 KiB reads
		if err := l.WaitN(context.Background(), 128<<10); err != nil {
			t.Fatal(err)
		}
	}
	// At most the burst is free: the rest must have been waited for. Only a
	// lower bound is asserted; a slow machine can only take longer.
	if min := time.Duration(float64(time.Second) * 0.7); time.Since(start) < min {
		t.Errorf("1 MiB at 1 MiB/s with a 256 KiB burst took %s, want >= %s", time.Since(start), min)
	}

	// A request far beyond the burst is still granted (by waiting), and a
	// cancelled context ends the wait.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.WaitN(ctx, 100<<20); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitN beyond deadline: %v", err)
	}

	// A request beyond the burst (2 MiB at 8 MiB/s) is granted, in parts.
	big := NewRateLimiter(8 << 20)
	start = time.Now()
	if err := big.WaitN(context.Background(), 4<<20); err != nil {
		t.Errorf("WaitN beyond the burst: %v", err)
	}
	if min := 200 * time.Millisecond; time.Since(start) < min {
		t.Errorf("4 MiB at 8 MiB/s with a 2 MiB burst took %s, want >= %s", time.Since(start), min)
	}

	var none *RateLimiter
	if NewRateLimiter(0) != nil {
		t.Error("rate 0 should mean no limiter")
	}
	if err := none.WaitN(context.Background(), 1<<30); err != nil {
		t.Errorf("nil limiter: %v", err)
	}
}
