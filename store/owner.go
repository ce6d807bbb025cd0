package store

import (
	"os"
	"sync"
	"time"
)

// StaleAfter is how old the heartbeat of a pending baseline may get before
// the baseline is considered abandoned even if its writer's process looks
// alive (another host, or a stopped process). A live writer refreshes the
// heartbeat every [HeartbeatInterval].
const StaleAfter = 10 * time.Minute

// HeartbeatInterval is how often a [BaselineWriter] refreshes its pending
// marker while it waits for records.
const HeartbeatInterval = time.Minute

// owner identifies the process writing a pending baseline.
type owner struct {
	Host string `json:"host"`
	PID  int    `json:"pid"`
	// Start identifies the process instance beyond its pid, so that a
	// reused pid is not taken for the writer (Linux: boot id and start
	// time in clock ticks; empty where unknown).
	Start     string    `json:"start,omitempty"`
	Began     time.Time `json:"began"`
	Heartbeat time.Time `json:"heartbeat"`
}

var (
	selfOnce  sync.Once
	selfOwner owner
)

func currentOwner(now time.Time) owner {
	selfOnce.Do(func() {
		host, _ := os.Hostname()
		pid := os.Getpid()
		start, _ := processState(pid)
		selfOwner = owner{Host: host, PID: pid, Start: start}
	})
	o := selfOwner
	o.Began, o.Heartbeat = now, now
	return o
}

func (o owner) sameProcess(p owner) bool {
	return o.Host == p.Host && o.PID == p.PID && o.Start == p.Start
}

// dead reports whether the writer o has certainly gone away, so that its
// pending baseline may be garbage-collected.
func (o owner) dead(now time.Time) bool {
	if now.Sub(o.Heartbeat) > StaleAfter {
		return true
	}
	self := currentOwner(now)
	if o.Host != self.Host {
		return false // cannot look at another host's processes
	}
	if o.PID <= 0 || !processAlive(o.PID) {
		return true
	}
	start, zombie := processState(o.PID)
	if zombie {
		return true
	}
	return o.Start != "" && start != "" && start != o.Start
}
