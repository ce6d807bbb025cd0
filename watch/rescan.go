package watch

import (
	"context"
	"slices"
	"time"

	"webfim/baseline"
)

type rescanRequest struct {
	full   bool
	reason string
}

// requestRescan queues a rescan of roots. Requests for a root that is
// already queued merge (a full one wins), so a storm of overflows costs one
// rescan, not one per overflow.
func (d *Daemon) requestRescan(_ context.Context, roots []string, full bool, reason string) {
	d.rescanMu.Lock()
	for _, r := range roots {
		prev, ok := d.pendingRescan[r]
		if ok {
			prev.full = prev.full || full
			d.pendingRescan[r] = prev
			continue
		}
		d.pendingRescan[r] = rescanRequest{full: full, reason: reason}
	}
	d.rescanMu.Unlock()
	d.wakeRescan()
}

// requestConfigCheck queues a re-parse of the server configurations.
func (d *Daemon) requestConfigCheck(context.Context) {
	d.rescanMu.Lock()
	d.pendingConfig = true
	d.rescanMu.Unlock()
	d.wakeRescan()
}

func (d *Daemon) wakeRescan() {
	select {
	case d.rescanWake <- struct{}{}:
	default:
	}
}

// rescanLoop runs the queued rescans one at a time, beside the live
// checks: a long (rate-limited) full rescan never delays live alerts.
func (d *Daemon) rescanLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.rescanWake:
		}
		for ctx.Err() == nil {
			d.rescanMu.Lock()
			roots := make([]string, 0, len(d.pendingRescan))
			for r := range d.pendingRescan {
				roots = append(roots, r)
			}
			slices.Sort(roots)
			configs := d.pendingConfig
			d.pendingConfig = false
			var root string
			var req rescanRequest
			if len(roots) > 0 {
				root, req = roots[0], d.pendingRescan[roots[0]]
				delete(d.pendingRescan, root)
			}
			d.rescanMu.Unlock()
			if root == "" && !configs {
				break
			}
			if configs {
				d.checkConfigsNow(ctx)
			}
			if root != "" {
				d.rescanRoot(ctx, root, req)
			}
		}
	}
}

func (d *Daemon) newChecker(ctx context.Context) *checker {
	cfg, judge, active, adhoc := d.snapshot()
	return &checker{d: d, ctx: ctx, cfg: cfg, judge: judge, active: active, adhoc: adhoc}
}

func (d *Daemon) checkConfigsNow(ctx context.Context) {
	c := d.newChecker(ctx)
	c.checkConfigs()
	c.flush()
}

// rescanRoot walks root and compares it with the active baseline: fast
// (digests reused when metadata is unchanged) or full (everything
// re-hashed), at the configured read rate.
func (d *Daemon) rescanRoot(ctx context.Context, root string, req rescanRequest) {
	c := d.newChecker(ctx)
	if !c.inBaseline(root) {
		return
	}
	start := time.Now()
	opt := c.statOptions(req.full)
	if l := NewRateLimiter(c.cfg.RescanRateLimit); l != nil {
		opt.Limiter = l
	}
	if !req.full {
		opt.Previous = d.deps.Store.RootRecords(c.active.ID, root, "")
	}
	errs := 0
	opt.OnError = func(root, rel string, err error) {
		errs++
		d.log.Debug("rescan: entry not fully readable", "root", root, "path", rel, "err", err)
	}
	old := d.deps.Store.RootRecords(c.active.ID, root, "")
	live := baseline.Walk(ctx, []string{root}, opt)
	sum, err := baseline.Compare(old, live, func(ch baseline.Change) error {
		c.addFileChange(ch)
		c.flushIfFull()
		return ctx.Err()
	})
	c.flush()
	d.metrics.rescans.WithLabelValues(req.reason, fullLabel(req.full)).Inc()
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("rescan failed; retried at the next scheduled rescan", "root", root, "reason", req.reason, "err", err)
		}
		return
	}
	d.log.Info("rescan done", "root", root, "reason", req.reason, "full", req.full,
		"changes", sum.Total(), "unreadable", errs, "duration", time.Since(start).Round(time.Millisecond))
}

func fullLabel(full bool) string {
	if full {
		return "full"
	}
	return "fast"
}

// inBaseline reports whether the active baseline covers root; a root
// that is watched but not in the baseline (added to the config later) is
// not compared, since everything in it would be "added": it needs a new
// baseline, which is said once per baseline.
func (c *checker) inBaseline(root string) bool {
	if slices.Contains(c.active.Roots, root) {
		return true
	}
	d := c.d
	d.rescanMu.Lock()
	warned := d.warnedRoots[root] == c.active.ID
	d.warnedRoots[root] = c.active.ID
	d.rescanMu.Unlock()
	if !warned {
		d.log.Warn("root is not in the active baseline: its changes are not reported until a baseline includes it (webfim baseline create)", "root", root, "baseline", c.active.ID)
	}
	return false
}
