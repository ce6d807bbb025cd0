package watch

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// The schedule runs on the fake clock of a synctest bubble: the rescans
// come exactly when due.
func TestScheduleRunsFastAndFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fast, full []time.Duration
		start := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			Schedule{Fast: 10 * time.Millisecond, Full: 45 * time.Millisecond, Jitter: -1}.Run(ctx, func(_ context.Context, f bool) {
				if f {
					full = append(full, time.Since(start))
				} else {
					fast = append(fast, time.Since(start))
				}
			})
			close(done)
		}()
		time.Sleep(99 * time.Millisecond)
		cancel()
		<-done
		ms := func(v ...int) []time.Duration {
			var out []time.Duration
			for _, x := range v {
				out = append(out, time.Duration(x)*time.Millisecond)
			}
			return out
		}
		// A full rescan counts as a fast one: the next fast one is due a
		// fast interval after it.
		if want := ms(10, 20, 30, 40, 55, 65, 75, 85); !slices.Equal(fast, want) {
			t.Errorf("fast rescans at %v, want %v", fast, want)
		}
		if want := ms(45, 90); !slices.Equal(full, want) {
			t.Errorf("full rescans at %v, want %v", full, want)
		}
	})
}

func TestScheduleDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 1000*time.Hour)
		defer cancel()
		called := false
		Schedule{Fast: -1, Full: -1}.Run(ctx, func(context.Context, bool) { called = true })
		if called {
			t.Error("disabled schedule rescanned")
		}
	})
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
	synctest.Test(t, func(t *testing.T) {
		const rate = 1 << 20 // 1 MiB/s; burst 256 KiB
		l := NewRateLimiter(rate)
		start := time.Now()
		for range 8 { // 1 MiB in 128 KiB reads
			if err := l.WaitN(context.Background(), 128<<10); err != nil {
				t.Fatal(err)
			}
		}
		// The burst is free, the rest is waited for at the rate.
		if got, want := time.Since(start), 750*time.Millisecond; got < want-time.Millisecond || got > want+time.Millisecond {
			t.Errorf("1 MiB at 1 MiB/s with a 256 KiB burst took %s, want %s", got, want)
		}

		// A request far beyond the burst is granted by waiting
		// proportionally longer, and a cancelled context ends the wait
		// without spending the tokens.
		start = time.Now()
		if err := l.WaitN(context.Background(), 2<<20); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got < 2*time.Second-time.Millisecond || got > 2*time.Second+time.Millisecond {
			t.Errorf("2 MiB took %s, want 2s", got)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := l.WaitN(ctx, 100<<20); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("WaitN beyond deadline: %v", err)
		}

		// A request beyond the burst (4 MiB at 8 MiB/s, burst 2 MiB) is
		// granted in parts: the burst at once, the rest at the rate.
		big := NewRateLimiter(8 << 20)
		start = time.Now()
		if err := big.WaitN(context.Background(), 4<<20); err != nil {
			t.Errorf("WaitN beyond the burst: %v", err)
		}
		if got := time.Since(start); got < 250*time.Millisecond-time.Millisecond || got > 250*time.Millisecond+time.Millisecond {
			t.Errorf("4 MiB at 8 MiB/s with a 2 MiB burst took %s, want 250ms", got)
		}

		var none *RateLimiter
		if NewRateLimiter(0) != nil {
			t.Error("rate 0 should mean no limiter")
		}
		if err := none.WaitN(context.Background(), 1<<30); err != nil {
			t.Errorf("nil limiter: %v", err)
		}
	})
}
