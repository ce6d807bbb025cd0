package proc

import (
	"context"
	"fmt"
	"time"
)

// Start reads the live processes from /proc into a new table and starts
// the first of opt.Sources that the kernel allows. It fails only on
// invalid options: when no source starts, the Monitor runs without one
// ([Status.Source] is SourceNone) and [Monitor.Resolve] still reads /proc.
// The context ends the monitor like [Monitor.Close].
func Start(ctx context.Context, opt Options) (*Monitor, error) {
	m, err := newMonitor(opt)
	if err != nil {
		return nil, err
	}
	m.fs = hostProc
	// Subscribe before reading /proc, so that nothing exec'd in between is
	// missed (an exec seen twice only refreshes its snapshot).
	for _, s := range m.opt.Sources {
		src, err := m.startSource(s)
		m.status.Attempts = append(m.status.Attempts, Attempt{Source: s, Err: err})
		if err == nil {
			m.src, m.status.Source = src, s
			break
		}
	}
	if err := m.rebuild(false); err != nil {
		m.Close()
		return nil, fmt.Errorf("reading /proc: %w", err)
	}
	m.wg.Add(1)
	go m.housekeeping(ctx)
	return m, nil
}

func (m *Monitor) startSource(s Source) (source, error) {
	switch s {
	case SourceEBPF:
		return startEBPF(m)
	case SourceConnector:
		return startConnector(m)
	case SourcePoll:
		return pollSource{}, nil
	}
	return nil, fmt.Errorf("unknown source %v", s)
}

// pollSource is the degraded source: the housekeeping goroutine rebuilds
// the table from /proc every PollInterval.
type pollSource struct{}

func (pollSource) sync()        {}
func (pollSource) lost() uint64 { return 0 }
func (pollSource) close() error { return nil }

// housekeeping expires tombstones, rebuilds the table when events were
// lost, and polls /proc for SourcePoll.
func (m *Monitor) housekeeping(ctx context.Context) {
	defer m.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var poll <-chan time.Time
	if m.status.Source == SourcePoll {
		pt := time.NewTicker(m.opt.PollInterval)
		defer pt.Stop()
		poll = pt.C
	}
	var lastLost uint64
	for {
		select {
		case <-ctx.Done():
			// Close waits for this goroutine: not from here.
			go m.Close()
			return
		case <-m.stop:
			return
		case <-tick.C:
			m.table.Expire()
			if m.src != nil {
				if n := m.src.lost(); n != lastLost {
					lastLost = n
					m.requestRebuild()
				}
			}
		case <-poll:
			m.rebuild(true)
		case <-m.rebuildReq:
			// Let the source catch up first, then read /proc.
			m.Sync()
			m.rebuild(true)
			m.rebuilds.Add(1)
		}
	}
}

// rebuild reconciles the table with /proc; notify reports the processes
// it did not know to OnExec.
func (m *Monitor) rebuild(notify bool) error {
	list, err := m.fs.list(m.table.Known)
	if err != nil {
		return err
	}
	added := m.table.Merge(list)
	if notify && m.opt.OnExec != nil {
		for _, p := range added {
			m.opt.OnExec(m.table, p)
		}
	}
	return nil
}

// credsFresh is how long the uids of an exec'd process are trusted
// without re-reading /proc (a setuid without exec after that long is
// caught at the next lookup).
const credsFresh = time.Second

// Resolve returns the process with this pid: the table's snapshot, or a
// snapshot read from /proc now for a process the table does not know. Nil
// when the process is unknown and gone. A process may setuid without exec
// (web server workers forked by a root parent do): unless the source
// reports uid changes (the connector), the uids of a live process are
// re-read from /proc/PID/status when its snapshot comes from a fork or
// from /proc, or is older than a second.
func (m *Monitor) Resolve(pid int32) *Process {
	if pid <= 0 {
		return nil
	}
	p, exited, checked := m.table.state(pid)
	if p != nil {
		if exited || m.status.Source == SourceConnector {
			return p
		}
		if (p.Origin == OriginExec || p.Origin == OriginConnectorExec) && time.Since(checked) < credsFresh {
			return p
		}
		b, err := readBounded(m.fs.dir(pid)+"/status", 8192)
		if err != nil {
			return p // exited meanwhile: the snapshot is what we have
		}
		// The same process unless an exit was lost and the pid reused:
		// then its name or parent differ, and it is read afresh.
		if s, err := parseStatus(b); err == nil && s.HasUID && s.Name == p.Comm && s.PPID == p.PPID {
			if q := m.table.SetUser(p.Key(), s.UID, s.EUID); q != nil {
				return q
			}
			return p
		}
	}
	q := m.fs.read(pid)
	if q == nil {
		return p
	}
	m.table.mu.Lock()
	m.table.putMarked(q)
	m.table.mu.Unlock()
	return q
}
