package watch

import (
	"context"
)

// maxDeferred bounds the checks and the findings kept while the database
// is busy; beyond it a root's path checks give way to one rescan of it.
const maxDeferred = 10_000

// deferredWork is what could not be done while the database was held by
// another process (Deps.Busy): the checks to run again and the findings
// to queue again, as soon as the database is readable.
type deferredWork struct {
	hints    []Hint
	findings []Finding
	logged   bool // said once per busy streak
}

// busy reports whether err means the database was held by another
// process for longer than the lock timeout (Deps.Busy).
func (d *Daemon) busy(err error) bool {
	return err != nil && d.deps.Busy != nil && d.deps.Busy(err)
}

// deferHint keeps a check that failed because the database was busy.
func (d *Daemon) deferHint(h Hint, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := &d.deferred
	if !w.logged {
		w.logged = true
		d.log.Warn("database busy: checks are kept and run again as soon as it is readable", "err", err)
	}
	if len(w.hints) >= maxDeferred && h.Kind == HintPath {
		h = Hint{Kind: HintRescan, Root: h.Root, Reason: ReasonQueueFull}
		for _, k := range w.hints {
			if k.Kind == HintRescan && k.Root == h.Root {
				return
			}
		}
	}
	w.hints = append(w.hints, h)
}

// deferFindings keeps findings that could not be queued because the
// database was busy.
func (d *Daemon) deferFindings(fs []Finding, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := &d.deferred
	if !w.logged {
		w.logged = true
		d.log.Warn("database busy: findings are kept and queued as soon as it is readable", "err", err)
	}
	room := max(0, maxDeferred-len(w.findings))
	if len(fs) > room {
		d.log.Error("database busy for long: findings dropped; the next rescan reports them again", "dropped", len(fs)-room)
		fs = fs[:room]
	}
	w.findings = append(w.findings, fs...)
}

// retryDeferred runs the kept checks and queues the kept findings; it is
// called after every successful poll of the database. What fails again
// because the database is still busy is kept again.
func (d *Daemon) retryDeferred(ctx context.Context) {
	d.mu.Lock()
	w := d.deferred
	d.deferred = deferredWork{}
	d.mu.Unlock()
	if len(w.hints) == 0 && len(w.findings) == 0 {
		return
	}
	d.log.Info("database readable again: running the checks kept meanwhile", "checks", len(w.hints), "findings", len(w.findings))
	if len(w.findings) > 0 {
		if err := d.report(ctx, w.findings); err != nil {
			if d.busy(err) {
				d.deferFindings(w.findings, err)
			} else if ctx.Err() == nil {
				d.log.Error("findings could not be queued; the next rescan reports them again", "findings", len(w.findings), "err", err)
			}
		}
	}
	var rest []Hint
	for _, h := range w.hints {
		if h.Kind == HintRescan {
			d.requestRescan([]string{h.Root}, false, h.Reason)
			continue
		}
		rest = append(rest, h)
	}
	if len(rest) > 0 {
		d.checkBatch(ctx, rest)
	}
}

// deferredCount is the number of checks and findings kept.
func (d *Daemon) deferredCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.deferred.hints) + len(d.deferred.findings)
}
