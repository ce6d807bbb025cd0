package attribution

import (
	"errors"
	"testing"

	"webfim/alert"
	"webfim/proc"
	"webfim/writer"
)

func TestStatusSummaryAndDegraded(t *testing.T) {
	noBTF := errors.New("no BTF: open /sys/kernel/btf/vmlinux: no such file or directory")
	unsupported := errors.New("windows: not supported on this platform")
	noAdmin := errors.New("fanotify_init: operation not permitted: needs CAP_SYS_ADMIN")
	overlay := errors.New("overlayfs upper layer unreachable")
	tests := []struct {
		name     string
		st       Status
		summary  string
		degraded []Degradation
	}{
		{"all works", Status{Process: proc.Status{Source: proc.SourceEBPF, Attempts: []proc.Attempt{{Source: proc.SourceEBPF}}},
			Writer: writer.Status{Roots: []writer.RootStatus{{Root: "/var/www"}, {Root: "/srv"}}}, Watching: true},
			"processes: ebpf; writers: fanotify on 2 of 2 roots", nil},
		{"no BTF, connector", Status{Process: proc.Status{Source: proc.SourceConnector, Attempts: []proc.Attempt{{Source: proc.SourceEBPF, Err: noBTF}, {Source: proc.SourceConnector}}}},
			"processes: connector",
			[]Degradation{{alert.MechanismProcess, "ebpf: " + noBTF.Error() + "; using the process connector"}}},
		{"not Linux: the sources failing alike are grouped", Status{Process: proc.Status{Source: proc.SourceNone, Attempts: []proc.Attempt{
			{Source: proc.SourceEBPF, Err: unsupported}, {Source: proc.SourceConnector, Err: unsupported}, {Source: proc.SourcePoll, Err: unsupported}}},
			Writer: writer.Status{Err: unsupported}, Watching: true},
			"processes: none (degraded); writers: unavailable",
			[]Degradation{
				{alert.MechanismProcess, "ebpf, connector, poll: " + unsupported.Error() + "; no exec source: processes are read from /proc only when a file event names them"},
				{alert.MechanismWriter, unsupported.Error()},
			}},
		{"writers refused", Status{Process: proc.Status{Source: proc.SourceEBPF}, Writer: writer.Status{Err: noAdmin}, Watching: true},
			"processes: ebpf; writers: unavailable", []Degradation{{alert.MechanismWriter, noAdmin.Error()}}},
		{"one root on an overlay", Status{Process: proc.Status{Source: proc.SourceEBPF},
			Writer: writer.Status{Roots: []writer.RootStatus{{Root: "/var/www"}, {Root: "/srv/app", Err: overlay}}}, Watching: true},
			"processes: ebpf; writers: fanotify on 1 of 2 roots", []Degradation{{alert.MechanismWriter, "/srv/app: " + overlay.Error()}}},
		{"writers not started yet: not reported", Status{Process: proc.Status{Source: proc.SourceEBPF}, Writer: writer.Status{Err: noAdmin}},
			"processes: ebpf", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.st.Summary(); got != tt.summary {
				t.Errorf("Summary = %q, want %q", got, tt.summary)
			}
			got := tt.st.Degraded()
			if len(got) != len(tt.degraded) {
				t.Fatalf("Degraded = %q, want %q", got, tt.degraded)
			}
			for i := range got {
				if got[i] != tt.degraded[i] {
					t.Errorf("Degraded[%d] = %q, want %q", i, got[i], tt.degraded[i])
				}
			}
		})
	}
}

// The chain links are bounded: the oldest go first, and a process or
// path keeps the id of the first spawn that named it.
func TestLinksBounded(t *testing.T) {
	l := newLinks(3)
	p := func(pid int32) *proc.Process { return &proc.Process{PID: pid, Start: uint64(pid)} }
	l.add("a", []*proc.Process{p(1), p(2)}, []string{"/var/www/x.sh"})
	l.add("b", []*proc.Process{p(2), p(3)}, nil) // 2 stays a's; 3 evicts 1
	if got := l.process(p(1).Key()); got != "" {
		t.Errorf("evicted process 1 still linked to %q", got)
	}
	if got := l.process(p(2).Key()); got != "a" {
		t.Errorf("process 2 linked to %q, want a", got)
	}
	if got := l.process(p(9).Key(), p(3).Key()); got != "b" {
		t.Errorf("first known of 9, 3: %q, want b", got)
	}
	if got := l.path("/var/www/x.sh"); got != "a" {
		t.Errorf("path linked to %q, want a", got)
	}
	l.add("c", []*proc.Process{p(4), p(5)}, nil) // evicts 2, then the path
	if got := l.path("/var/www/x.sh"); got != "" {
		t.Errorf("evicted path still linked to %q", got)
	}
	if got := l.process(p(2).Key()); got != "" {
		t.Errorf("evicted process 2 still linked to %q", got)
	}
	if got := l.process(p(5).Key()); got != "c" {
		t.Errorf("process 5 linked to %q, want c", got)
	}
	if len(l.byProc)+len(l.byPath) > 3 {
		t.Errorf("%d entries for a bound of 3", len(l.byProc)+len(l.byPath))
	}
}

func TestLineageID(t *testing.T) {
	server := &proc.Process{PID: 812, Start: 100}
	entry := &proc.Process{PID: 900, Start: 200}
	id := lineageID("boot", server, entry)
	if len(id) != 32 || id != lineageID("boot", server, entry) {
		t.Errorf("lineage id %q is not stable", id)
	}
	reused := &proc.Process{PID: 900, Start: 300}
	if lineageID("boot", server, reused) == id || lineageID("other boot", server, entry) == id {
		t.Error("a reused pid or another boot gives the same lineage id")
	}
}
