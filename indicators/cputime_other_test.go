//go:build !linux

package indicators

import "time"

var start = time.Now()

// threadCPU falls back to wall time where per-thread CPU time is not read.
func threadCPU() time.Duration { return time.Since(start) }

const threadCPUClock = "wall time"
