package watch

import (
	"context"
	"slices"
	"time"

	"webfim/baseline"
	"webfim/scan"
	"webfim/serverconf"
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
			pending := d.pendingRescan
			d.pendingRescan = make(map[string]rescanRequest)
			configs := d.pendingConfig
			d.pendingConfig = false
			d.rescanMu.Unlock()
			if len(pending) == 0 && !configs {
				break
			}
			cfg, _, active, _ := d.snapshot()
			roots := make([]string, 0, len(pending))
			full, reason := false, ""
			for r, req := range pending {
				roots = append(roots, r)
				full = full || req.full
				if reason == "" || req.full {
					reason = req.reason
				}
			}
			slices.Sort(roots)
			baseRoots := slices.Sorted(slices.Values(active.Roots))
			if slices.Equal(roots, cfg.Target.Roots) && slices.Equal(roots, baseRoots) {
				// Everything: exactly what "webfim diff" does, inventories
				// of the server configs included.
				d.rescanAll(ctx, full, reason)
				continue
			}
			if configs {
				d.checkConfigsNow(ctx)
			}
			for _, r := range roots {
				if ctx.Err() != nil {
					return
				}
				d.rescanRoot(ctx, r, pending[r])
			}
		}
	}
}

func (d *Daemon) scanOptions(c *checker, full bool) (scan.Options, *int) {
	opt := scan.Options{Full: full, Workers: c.cfg.Workers}
	if l := NewRateLimiter(c.cfg.RescanRateLimit); l != nil {
		opt.Limiter = l
	}
	errs := 0
	opt.OnError = func(root, rel string, err error) {
		errs++
		d.log.Debug("rescan: entry not fully readable", "root", root, "path", rel, "err", err)
	}
	return opt, &errs
}

// rescanAll compares every root and the server inventories with the
// active baseline.
func (d *Daemon) rescanAll(ctx context.Context, full bool, reason string) {
	c := d.newChecker(ctx)
	start := time.Now()
	opt, errs := d.scanOptions(c, full)
	res, err := d.deps.Store.Diff(ctx, c.active, c.cfg.Target, opt, scan.Emitter{
		File: func(ch baseline.Change) error {
			c.addFileChange(ch)
			c.flushIfFull()
			return ctx.Err()
		},
		Item: func(ch serverconf.Change) error {
			c.addItemChange(ch)
			c.flushIfFull()
			return ctx.Err()
		},
	})
	c.flush()
	d.metrics.rescans.WithLabelValues(reason, fullLabel(full)).Add(float64(len(c.cfg.Target.Roots)))
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("rescan failed; retried at the next scheduled rescan", "reason", reason, "err", err)
		}
		return
	}
	d.log.Info("rescan done", "roots", len(c.cfg.Target.Roots), "reason", reason, "full", full,
		"file_changes", res.Files.Total(), "item_changes", res.Items.Added+res.Items.Removed+res.Items.Changed,
		"unreadable", *errs, "duration", time.Since(start).Round(time.Millisecond))
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
	sopt, errs := d.scanOptions(c, req.full)
	opt := c.statOptions(req.full)
	opt.Limiter, opt.OnError = sopt.Limiter, sopt.OnError
	// One read of the baseline: the walk reuses its digests (unless full)
	// and merges it for the comparison.
	old := d.deps.Store.RootRecords(c.active.ID, root, "")
	pairs := baseline.MergeWalk(ctx, []string{root}, old, opt)
	sum, err := baseline.ComparePairs(pairs, func(ch baseline.Change) error {
		c.addFileChange(ch)
		c.checkRootConfig(ch.Root, ch.Path)
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
		"changes", sum.Total(), "unreadable", *errs, "duration", time.Since(start).Round(time.Millisecond))
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
