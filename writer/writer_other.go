//go:build !linux

package writer

import (
	"fmt"
	"runtime"

	"webfim/proc"
)

// fanotify does not exist off Linux.
type fanotify struct{}

func (*fanotify) wake()        {}
func (*fanotify) close() error { return nil }

// New returns a Tracker that attributes nothing: fanotify is Linux-only.
func New(roots []string, mon *proc.Monitor, opt Options) *Tracker {
	t := &Tracker{recs: newRecords(opt.MaxRecords), mon: mon, roots: map[string]string{}}
	t.status.Err = fmt.Errorf("%s: %w (Linux only)", runtime.GOOS, ErrUnsupported)
	for _, r := range roots {
		t.status.Roots = append(t.status.Roots, RootStatus{Root: r, Err: t.status.Err})
	}
	return t
}

func (t *Tracker) drainLocked() {}
