package watch

import (
	"context"
	"slices"
	"time"

	"webfim/scan"
)

type rescanRequest struct {
	full   bool
	reason string
}

// requestRescan queues a rescan of roots. Requests for a root that is
// already queued merge (a full one wins), so a storm of overflows costs one
// rescan, not one per overflow.
func (d *Daemon) requestRescan(roots []string, full bool, reason string) {
	d.mu.Lock()
	for _, r := range roots {
		prev, ok := d.pendingRescan[r]
		if ok {
			prev.full = prev.full || full
			d.pendingRescan[r] = prev
			continue
		}
		d.pendingRescan[r] = rescanRequest{full: full, reason: reason}
	}
	d.mu.Unlock()
	d.wakeRescan()
}

// requestConfigCheck queues a re-parse of the server configurations.
func (d *Daemon) requestConfigCheck() {
	d.mu.Lock()
	d.pendingConfig = true
	d.mu.Unlock()
	d.wakeRescan()
}

func (d *Daemon) wakeRescan() {
	select {
	case d.rescanWake <- struct{}{}:
	default:
	}
}

// takeRescans returns the queued rescans and empties the queue.
func (d *Daemon) takeRescans() (pending map[string]rescanRequest, configs bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	pending, configs = d.pendingRescan, d.pendingConfig
	d.pendingRescan, d.pendingConfig = make(map[string]rescanRequest), false
	return pending, configs
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
			pending, configs := d.takeRescans()
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
				c := d.newChecker(ctx)
				c.checkConfigs()
				c.flush()
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

// scanOptions are the options of a rescan: full or fast, at the
// configured read rate; unreadable entries are counted.
func (c *checker) scanOptions(full bool) (scan.Options, *int) {
	opt := c.options()
	opt.Full = full
	if l := NewRateLimiter(c.cfg.RescanRateLimit); l != nil {
		opt.Limiter = l
	}
	errs := 0
	configWarning := opt.OnError
	opt.OnError = func(root, rel string, err error) {
		if root == "" && rel != "" { // a server configuration's inventory warning
			configWarning(root, rel, err)
			return
		}
		errs++
		c.d.log.Debug("rescan: entry not fully readable", "root", root, "path", rel, "err", err)
	}
	return opt, &errs
}

// rescanAll compares every root and the server inventories with the
// active baseline, as "webfim diff" does.
func (d *Daemon) rescanAll(ctx context.Context, full bool, reason string) {
	c := d.newChecker(ctx)
	c.found = make(map[string]bool)
	start := time.Now()
	opt, errs := c.scanOptions(full)
	res, err := scan.Diff(ctx, d.deps.Store, c.active, nil, c.cfg.Target, opt, c.emitter())
	c.flush()
	d.metrics.configReads.Add(1)
	d.metrics.rescans.WithLabelValues(reason, fullLabel(full)).Add(float64(len(c.cfg.Target.Roots)))
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("rescan failed; retried at the next scheduled rescan", "reason", reason, "err", err)
		}
		return
	}
	prefixes := []string{itemsPrefix}
	for _, r := range c.cfg.Target.Roots {
		prefixes = append(prefixes, subtreePrefix(r, ""))
	}
	d.reconcileSeen(prefixes, c.found, start)
	d.log.Info("rescan done", "roots", len(c.cfg.Target.Roots), "reason", reason, "full", full,
		"file_changes", res.Files.Total(), "item_changes", res.Items.Added+res.Items.Removed+res.Items.Changed,
		"unreadable", *errs, "duration", time.Since(start).Round(time.Millisecond))
}

// rescanRoot walks root and compares it with the active baseline: fast
// (digests reused when metadata is unchanged) or full (everything
// re-hashed), at the configured read rate.
func (d *Daemon) rescanRoot(ctx context.Context, root string, req rescanRequest) {
	c := d.newChecker(ctx)
	if !c.inBaseline(root) {
		return
	}
	c.found = make(map[string]bool)
	start := time.Now()
	opt, errs := c.scanOptions(req.full)
	res, err := scan.DiffRoot(ctx, d.deps.Store, c.active, c.cfg.Target, root, opt, c.emitter())
	c.flush()
	d.metrics.rescans.WithLabelValues(req.reason, fullLabel(req.full)).Inc()
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("rescan failed; retried at the next scheduled rescan", "root", root, "reason", req.reason, "err", err)
		}
		return
	}
	d.reconcileSeen([]string{subtreePrefix(root, "")}, c.found, start)
	d.log.Info("rescan done", "root", root, "reason", req.reason, "full", req.full,
		"changes", res.Files.Total(), "unreadable", *errs, "duration", time.Since(start).Round(time.Millisecond))
}

// reconcileSeen forgets, after a complete rescan, the dedupe entries
// under prefixes whose subject the rescan found no finding for: they went
// away while the daemon was not running or missed their events. Entries
// marked since the rescan started (by live checks meanwhile) stay.
func (d *Daemon) reconcileSeen(prefixes []string, found map[string]bool, start time.Time) {
	d.forgetSeen(prefixes, func(key string, last time.Time) bool {
		return found[subjectOfKey(key)] || !last.Before(start)
	})
}

func fullLabel(full bool) string {
	if full {
		return "full"
	}
	return "fast"
}
