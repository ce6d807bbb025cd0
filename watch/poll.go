package watch

import (
	"context"
	"strings"
	"time"

	"webfim/policy"
)

// pollLoop keeps the active baseline and the ad-hoc windows current, and
// once a day prunes the dedupe table.
func (d *Daemon) pollLoop(ctx context.Context) {
	cfg, _, _, _ := d.snapshot()
	t := time.NewTicker(cfg.PollInterval)
	defer t.Stop()
	var lastPrune time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if d.poll(ctx) {
			d.retryDeferred(ctx)
		}
		d.checkGaps(ctx)
		if time.Since(lastPrune) > 24*time.Hour {
			lastPrune = time.Now()
			d.pruneSeen()
		}
	}
}

// poll reads the active baseline and the deploy windows open now. A new
// active baseline is rescanned against, once verified when signed
// baselines are required (else it is refused and the last verified one
// stays the one judged against). It reports whether the database was
// readable.
func (d *Daemon) poll(ctx context.Context) bool {
	info, ok, err := d.deps.Store.Active()
	var adhoc []policy.Window
	readAt := time.Now() // the windows are those open at this instant
	if err == nil {
		adhoc, err = d.deps.Store.AdhocWindows(readAt)
	}
	d.mu.Lock()
	failing := d.pollErr != nil
	d.pollErr = err
	d.mu.Unlock()
	if err != nil {
		if !failing { // said once per failure streak, not every second
			d.log.Warn("cannot read the active baseline or deploy windows; keeping the current ones", "err", err)
		}
		return false
	}
	if failing {
		d.log.Info("database readable again")
	}
	d.mu.Lock()
	prev, verifier := d.active, d.cfg.Verifier
	d.gaps.noBaseline = !ok && prev.ID != 0
	changed := ok && info.ID != prev.ID
	if !changed {
		// Back to the baseline judged against: the refused one is no
		// longer active.
		for id := range d.refused {
			if id != prev.ID {
				delete(d.refused, id)
			}
		}
	}
	d.mu.Unlock()
	if changed && !d.accept(ctx, verifier, info) {
		changed, ok = false, false
	}
	d.mu.Lock()
	if ok {
		d.active = info
	}
	if readAt.After(d.polled) { // a checker may have read them since
		d.adhoc, d.polled = adhoc, readAt
	}
	roots := d.cfg.Target.Roots
	d.mu.Unlock()
	if changed {
		d.log.Info("active baseline changed", "from", prev.ID, "to", info.ID, "label", info.Label)
		d.requestRescan(roots, false, "baseline_changed")
		d.requestConfigCheck()
	}
	return true
}

// pruneSeen deletes the dedupe entries of webfim versions before
// FindingID, which match no finding any more, and, with reminders, the
// findings not reported for two reminder intervals (at least a week): one
// still present is reported again at every reminder and so stays; one
// that went away is forgotten. Without reminders the table is kept small
// by the checks themselves (see report.go), not by age, since a
// forgotten finding still present would be reported again.
func (d *Daemon) pruneSeen() {
	cfg, _, _, _ := d.snapshot()
	legacy := func(key string, _ time.Time) bool { return strings.Contains(key, "\x00") } // keep the current keys
	n, err := d.deps.Store.ForgetSeenUnder([]string{""}, legacy)
	if err == nil && cfg.ReminderInterval > 0 {
		var aged int
		aged, err = d.deps.Store.ForgetSeen(time.Now().Add(-max(2*cfg.ReminderInterval, 7*24*time.Hour)))
		n += aged
	}
	if err != nil {
		d.log.Warn("cannot prune the dedupe table", "err", err)
	} else if n > 0 {
		d.log.Info("pruned the dedupe table", "forgotten", n)
	}
}
