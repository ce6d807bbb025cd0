package indicators

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU returns the CPU time used so far by the calling thread: on a
// shared machine it measures the work, not the waiting for a core. The
// caller must hold its thread (runtime.LockOSThread). It reads
// CLOCK_THREAD_CPUTIME_ID, which counts in nanoseconds (getrusage's
// per-thread times advance by whole scheduler ticks, 4 ms here: too
// coarse for rounds of a few tens of milliseconds).
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

const threadCPUClock = "thread CPU time"
