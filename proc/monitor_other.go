//go:build !linux

package proc

import (
	"context"
	"fmt"
	"runtime"
)

// Start returns a Monitor without a source: process attribution needs
// Linux. Each requested source is reported with [ErrUnsupported].
func Start(ctx context.Context, opt Options) (*Monitor, error) {
	m, err := newMonitor(opt)
	if err != nil {
		return nil, err
	}
	for _, s := range m.opt.Sources {
		m.status.Attempts = append(m.status.Attempts, Attempt{Source: s, Err: fmt.Errorf("%s: %w", runtime.GOOS, ErrUnsupported)})
	}
	return m, nil
}

// Resolve returns the table's snapshot of pid (the table stays empty
// without a source).
func (m *Monitor) Resolve(pid int32) *Process { return m.table.Lookup(pid) }
