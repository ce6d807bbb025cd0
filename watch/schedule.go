package watch

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"golang.org/x/time/rate"
)

// Schedule says how often every root is reconciled with a rescan, to catch
// whatever notifications missed.
type Schedule struct {
	// Fast is the interval of rescans that trust size, mtime, ctime, inode
	// and device to reuse digests (default 1h; negative disables).
	Fast time.Duration
	// Full is the interval of rescans that re-hash every file (default 24h;
	// negative disables). A full rescan also counts as a fast one.
	Full time.Duration
	// Jitter spreads each interval by up to this fraction either way
	// (default 0.1), so that a fleet of servers does not rescan in step.
	Jitter float64
}

func (s Schedule) withDefaults() Schedule {
	if s.Fast == 0 {
		s.Fast = time.Hour
	}
	if s.Full == 0 {
		s.Full = 24 * time.Hour
	}
	if s.Jitter == 0 {
		s.Jitter = 0.1
	}
	return s
}

func (s Schedule) jittered(d time.Duration) time.Duration {
	if s.Jitter <= 0 {
		return d
	}
	f := 1 + s.Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(d) * f)
}

// Run calls rescan whenever a rescan is due, until ctx is cancelled; full
// tells whether it must re-hash everything. Calls never overlap: a long
// rescan delays the next one rather than running beside it.
func (s Schedule) Run(ctx context.Context, rescan func(ctx context.Context, full bool)) {
	s = s.withDefaults()
	var nextFast, nextFull time.Time
	now := time.Now()
	if s.Fast > 0 {
		nextFast = now.Add(s.jittered(s.Fast))
	}
	if s.Full > 0 {
		nextFull = now.Add(s.jittered(s.Full))
	}
	if nextFast.IsZero() && nextFull.IsZero() {
		<-ctx.Done()
		return
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next, full := nextFast, false
		if next.IsZero() || (!nextFull.IsZero() && !nextFull.After(nextFast)) {
			next, full = nextFull, true
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		rescan(ctx, full)
		now := time.Now()
		if full {
			nextFull = now.Add(s.jittered(s.Full))
		}
		if s.Fast > 0 {
			nextFast = now.Add(s.jittered(s.Fast))
		}
	}
}

// RateLimiter limits rescan reads to a number of bytes per second (a
// token bucket of golang.org/x/time/rate), so that a rescan cannot starve
// the web server of I/O. It satisfies baseline.Options.Limiter. A nil
// *RateLimiter does not limit.
type RateLimiter struct {
	lim *rate.Limiter
}

// NewRateLimiter returns a limiter allowing bytesPerSecond on average, with
// bursts of a quarter of a second's worth (at least 256 KiB, the largest
// read of package baseline). It returns nil (no limit) when
// bytesPerSecond <= 0.
func NewRateLimiter(bytesPerSecond int64) *RateLimiter {
	if bytesPerSecond <= 0 {
		return nil
	}
	burst := min(max(bytesPerSecond/4, 256<<10), math.MaxInt32)
	return &RateLimiter{lim: rate.NewLimiter(rate.Limit(bytesPerSecond), int(burst))}
}

// WaitN blocks until n bytes may be read, or ctx is done. A request larger
// than the burst is granted in burst-sized parts, so one large read cannot
// get stuck.
func (l *RateLimiter) WaitN(ctx context.Context, n int) error {
	if l == nil || n <= 0 {
		return ctx.Err()
	}
	for n > 0 {
		part := min(n, l.lim.Burst())
		if err := l.lim.WaitN(ctx, part); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// The limiter refuses at once a wait that would end after
			// ctx's deadline.
			return fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
		}
		n -= part
	}
	return nil
}
