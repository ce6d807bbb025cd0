package proc

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Source is a way of learning about process execs.
type Source uint8

// Exec sources, best first.
const (
	SourceNone Source = iota
	// SourceEBPF: raw tracepoints on exec, fork and exit, complete in
	// kernel context. Needs CAP_BPF and CAP_PERFMON and kernel BTF.
	SourceEBPF
	// SourceConnector: the netlink process connector plus /proc reads at
	// exec time; a process that exits within microseconds keeps only what
	// /proc/PID/status still showed (see [Process.Missing]).
	SourceConnector
	// SourcePoll: /proc read every [Options.PollInterval]; degraded:
	// processes that live shorter than the interval are never seen.
	SourcePoll
)

// DefaultSources is the order in which [Start] tries the sources.
var DefaultSources = []Source{SourceEBPF, SourceConnector, SourcePoll}

var sourceNames = [...]string{"none", "ebpf", "connector", "poll"}

func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return fmt.Sprintf("source(%d)", s)
}

// ParseSource parses a source name as [Source.String] writes it.
func ParseSource(name string) (Source, error) {
	for i, n := range sourceNames {
		if i > 0 && n == name {
			return Source(i), nil
		}
	}
	return SourceNone, fmt.Errorf("unknown process source %q (want ebpf, connector or poll)", name)
}

// Errors a source can fail with, wrapped with the details.
var (
	// ErrUnsupported: the platform has no such source (not Linux).
	ErrUnsupported = errors.New("not supported on this platform")
	// ErrPermission: the kernel refused for lack of privilege.
	ErrPermission = errors.New("permission denied")
	// ErrNoBTF: the kernel's BTF, needed for structure offsets, is absent.
	ErrNoBTF = errors.New("no BTF")
)

// Options configure a [Monitor].
type Options struct {
	Table TableOptions
	// Sources are tried in this order; the first that starts is used.
	// Nil: DefaultSources.
	Sources []Source
	// PollInterval is the period of SourcePoll (default 2s).
	PollInterval time.Duration
	// KernelBTF is a BTF file to use instead of the running kernel's
	// (/sys/kernel/btf/vmlinux); for kernels whose BTF ships separately.
	KernelBTF string
	// RingBufferBytes is the eBPF ring buffer size, a power of two
	// (default 4 MiB, about 2,600 exec records).
	RingBufferBytes int
	// OnExec is called for each process exec'd after Start (and, with
	// SourcePoll or after lost events, for each process first seen in
	// /proc), with the table that now holds it (for its ancestors). It
	// runs on the source's goroutine: it must not block, nor call
	// [Monitor.Sync].
	OnExec func(*Table, *Process)
}

// Attempt is a source that was tried.
type Attempt struct {
	Source Source
	Err    error // nil for the source that started
}

// Status says which source feeds the table and why the better ones do
// not.
type Status struct {
	Source   Source    // SourceNone when no source could start
	Attempts []Attempt // in the order tried, the running one last
}

// Degraded reports whether short-lived processes can be missed (polling
// only, or no source at all).
func (s Status) Degraded() bool { return s.Source == SourcePoll || s.Source == SourceNone }

// String is one line for logs, e.g.
// "connector (ebpf: no BTF: open /sys/kernel/btf/vmlinux: no such file or directory)".
func (s Status) String() string {
	var failed []string
	for _, a := range s.Attempts {
		if a.Err != nil {
			failed = append(failed, a.Source.String()+": "+a.Err.Error())
		}
	}
	out := s.Source.String()
	if s.Degraded() {
		out += " (degraded)"
	}
	if len(failed) > 0 {
		out += "; unavailable: " + strings.Join(failed, "; ")
	}
	return out
}

// Stats are counters of a [Monitor].
type Stats struct {
	Table    TableStats
	Execs    uint64 // exec events applied
	Lost     uint64 // events the source reported lost
	Rebuilds uint64 // rebuilds of the table from /proc (not counting the first)
}

// source is a running exec source.
type source interface {
	// sync returns once every event queued before the call is applied.
	sync()
	// lost returns the number of events lost so far, for sources that
	// count them outside the event stream (eBPF).
	lost() uint64
	close() error
}

// Monitor feeds a [Table] from an exec source. Keep it referenced until
// [Monitor.Close]: the kernel objects of the eBPF source are released when
// it is.
type Monitor struct {
	table  *Table
	opt    Options
	status Status
	src    source
	fs     procfs

	execs, lostEvents, rebuilds atomic.Uint64
	rebuildReq                  chan struct{}
	stop                        chan struct{}
	wg                          sync.WaitGroup
	closeOnce                   sync.Once
}

// Table returns the monitor's process table.
func (m *Monitor) Table() *Table { return m.table }

// Status returns the running source and the reasons the others did not
// start.
func (m *Monitor) Status() Status { return m.status }

// Stats returns the monitor's counters.
func (m *Monitor) Stats() Stats {
	s := Stats{Table: m.table.Stats(), Execs: m.execs.Load(), Lost: m.lostEvents.Load(), Rebuilds: m.rebuilds.Load()}
	if m.src != nil {
		s.Lost += m.src.lost()
	}
	return s
}

// Sync returns once every exec event queued before the call is in the
// table. Call it after reading a batch of file events and before resolving
// their pids: a writer's exec always precedes its write.
func (m *Monitor) Sync() {
	if m.src != nil {
		m.src.sync()
	}
}

// Close stops the source and releases its kernel objects.
func (m *Monitor) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.stop)
		if m.src != nil {
			err = m.src.close()
		}
		m.wg.Wait()
	})
	return err
}

func (m *Monitor) applyExec(p *Process) {
	p = m.table.Exec(p)
	m.execs.Add(1)
	if m.opt.OnExec != nil {
		m.opt.OnExec(m.table, p)
	}
}

// requestRebuild asks the housekeeping goroutine to rebuild the table from
// /proc (coalesced).
func (m *Monitor) requestRebuild() {
	select {
	case m.rebuildReq <- struct{}{}:
	default:
	}
}

func newMonitor(opt Options) (*Monitor, error) {
	if opt.Sources == nil {
		opt.Sources = DefaultSources
	}
	for _, s := range opt.Sources {
		if s == SourceNone || int(s) >= len(sourceNames) {
			return nil, fmt.Errorf("process source %d: unknown", s)
		}
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = 2 * time.Second
	}
	if opt.RingBufferBytes == 0 {
		opt.RingBufferBytes = 4 << 20
	}
	if n := opt.RingBufferBytes; n < 4096 || n&(n-1) != 0 {
		return nil, fmt.Errorf("ring buffer size %d: want a power of two of at least 4096", n)
	}
	return &Monitor{
		table:      NewTable(opt.Table),
		opt:        opt,
		rebuildReq: make(chan struct{}, 1),
		stop:       make(chan struct{}),
	}, nil
}
