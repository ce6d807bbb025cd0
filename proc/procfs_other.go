//go:build !linux

package proc

import "time"

// bootTime is unknown off Linux: start times are relative to the zero
// time.
func bootTime() time.Time { return time.Time{} }
