package indicators

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time used so far by the calling thread: on a
// shared machine it measures the work, not the waiting for a core. The
// caller must hold its thread (runtime.LockOSThread).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const threadCPUClock = "thread CPU time"
