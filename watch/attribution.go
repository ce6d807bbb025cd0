package watch

import (
	"context"
	"strconv"
	"time"

	"webfim/alert"
	"webfim/baseline"
	"webfim/policy"
)

// Attributor is the daemon's port to process attribution (Linux): who
// created and last wrote a changed file, and the server processes that
// spawn a shell or a tool. The command wires package attribution behind
// it; nil in [Deps] turns attribution off.
type Attributor interface {
	// Watch attributes the changes under roots from now on and says what
	// works; the daemon calls it at start and after each reload.
	Watch(roots []string) AttributionStatus
	// File returns the processes behind the last change of root/rel, nil
	// when none is known. Events queued before the call are accounted
	// for.
	File(root, rel string) *alert.FileProcesses
	// Spawns delivers the server spawns as they happen.
	Spawns() <-chan alert.Spawn
	// SpawnsDropped counts spawns lost because they came faster than the
	// daemon reported them.
	SpawnsDropped() uint64
}

// AttributionStatus is what works of process attribution.
type AttributionStatus struct {
	// Summary is one line for the log: "processes: ebpf; writers:
	// fanotify on 2 of 2 roots".
	Summary string
	// Degraded are the mechanisms that do not work fully.
	Degraded []Degradation
}

// Degradation is an attribution mechanism (alert.MechanismProcess or
// alert.MechanismWriter) that does not work fully, and the exact reason.
type Degradation struct {
	Mechanism, Reason string
}

// attributionMechanisms are the mechanisms the degraded gauge reports.
var attributionMechanisms = []string{alert.MechanismProcess, alert.MechanismWriter}

// startAttribution starts writer attribution on roots and reports what
// does not work: a log line always, and for each degradation not
// reported before by this daemon, a warning and an operational event;
// the gauge follows the current state.
func (d *Daemon) startAttribution(ctx context.Context, roots []string) {
	a := d.deps.Attribution
	if a == nil {
		return
	}
	st := a.Watch(roots)
	d.log.Info("attribution", "status", st.Summary)
	degraded := map[string]bool{}
	for _, g := range st.Degraded {
		degraded[g.Mechanism] = true
		key := g.Mechanism + "\x00" + g.Reason
		d.mu.Lock()
		seen := d.attrReported[key]
		d.attrReported[key] = true
		d.mu.Unlock()
		if seen {
			continue
		}
		d.log.Warn("attribution degraded", "mechanism", g.Mechanism, "reason", g.Reason)
		d.notice(ctx, Notice{Kind: NoticeAttributionDegraded, Mechanism: g.Mechanism, Message: g.Reason, Status: st.Summary})
	}
	for _, m := range attributionMechanisms {
		v := 0.0
		if degraded[m] {
			v = 1
		}
		d.metrics.attrDegraded.WithLabelValues(m).Set(v)
	}
}

// processesOf returns what attribution knows of the processes behind a
// change, nil when it is off or knows nothing.
func (c *checker) processesOf(ch baseline.Change) *alert.FileProcesses {
	a := c.d.deps.Attribution
	if a == nil {
		return nil
	}
	fp := a.File(ch.Root, ch.Path)
	if fp == nil && ch.Kind == baseline.Moved && ch.From != "" {
		fp = a.File(ch.Root, ch.From)
	}
	return fp
}

// spawnLoop reports the server spawns attribution finds: each exec is
// its own finding (no dedupe), judged by the policy (deploy windows do
// not apply to the rule, its settings in `rules` do).
func (d *Daemon) spawnLoop(ctx context.Context) {
	a := d.deps.Attribution
	if a == nil {
		return
	}
	ch := a.Spawns()
	var dropped uint64
	for {
		var batch []Finding
		select {
		case <-ctx.Done():
			return
		case s := <-ch:
			batch = d.appendSpawn(batch, s)
		}
		// What else is queued goes in the same session.
		for more := true; more && len(batch) < reportBatch; {
			select {
			case s := <-ch:
				batch = d.appendSpawn(batch, s)
			default:
				more = false
			}
		}
		if len(batch) > 0 {
			d.emitSpawns(ctx, batch)
		}
		if n := a.SpawnsDropped(); n > dropped {
			d.log.Error("server spawns came faster than they could be reported: some were dropped", "dropped", n-dropped, "total", n)
			dropped = n
		}
	}
}

func (d *Daemon) appendSpawn(batch []Finding, s alert.Spawn) []Finding {
	_, judge, active, adhoc := d.snapshot()
	now := time.Now()
	ctx := policy.Context{Now: now, Window: judge.WindowAt(now, adhoc)}
	v := judge.EvaluateSpawn(s.Summary(), ctx)
	if v.Drop {
		return batch
	}
	f := newFinding(alert.Finding{Spawn: &s, Verdict: v}, now, active)
	f.EventID = f.ID
	return append(batch, f)
}

// emitSpawns hands spawn findings to the sink, retrying a failing outbox
// as report does.
func (d *Daemon) emitSpawns(ctx context.Context, batch []Finding) {
	if err := d.emit(ctx, batch); err != nil {
		if ctx.Err() == nil {
			d.log.Error("server spawn findings could not be queued", "findings", len(batch), "err", err)
		}
		return
	}
	for _, f := range batch {
		d.metrics.alerts.WithLabelValues(f.Verdict.RuleID, f.Verdict.Kind()).Inc()
		d.logFinding(f)
	}
}

// spawnAttrs are the log attributes of a spawn finding.
func spawnAttrs(s *alert.Spawn) []any {
	attrs := []any{"lineage", s.ChainString()}
	if s.Process != nil {
		attrs = append(attrs, "pid", strconv.Itoa(int(s.Process.PID)), "command_line", s.Process.CommandLine())
	}
	return attrs
}
