package watch

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"webfim/alert"
	"webfim/baseline"
	"webfim/policy"
)

// GapJudge judges monitoring gaps; *policy.Policy is one. A Judge that
// is not one still gets gap alerts, at the catalog's severity.
type GapJudge interface {
	EvaluateGap(reason, where, detail string, ctx policy.Context) policy.Verdict
}

// mountCheckEvery is how often the mount table is read for file systems
// mounted inside a root (a mount makes no inotify event); tests shorten
// it.
var mountCheckEvery = 10 * time.Second

// gapState is the daemon's view of its monitoring gaps.
type gapState struct {
	open map[string]alert.Gap // by alert.Gap.Key
	// noBaseline: the last poll found no active baseline where there
	// was one.
	noBaseline bool
	// db is the database file as opened, to see it removed or replaced.
	db         os.FileInfo
	mounts     map[string][]string // root -> mount points not crossed
	mountsRead time.Time
}

// currentGaps works out which monitoring gaps exist now: the active
// baseline gone, the database file removed or replaced, a root missing,
// not in the baseline, partly unwatched (inotify limits) or with a file
// system mounted inside it that is not crossed.
func (d *Daemon) currentGaps() []alert.Gap {
	cfg, _, active, _ := d.snapshot()
	d.mu.Lock()
	gs := &d.gaps
	noBaseline := gs.noBaseline
	dbInfo := gs.db
	d.mu.Unlock()
	var gaps []alert.Gap
	if noBaseline {
		gaps = append(gaps, alert.Gap{Reason: alert.GapBaselineLost,
			Detail: "the database has no active baseline any more: nothing is compared; create one (webfim baseline create) or activate one"})
	}
	if p := d.deps.DatabasePath; p != "" && dbInfo != nil {
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			gaps = append(gaps, alert.Gap{Reason: alert.GapDatabaseLost, Path: p,
				Detail: "the database file is gone (" + errText(err) + "): what the daemon records is lost at its next start; restore it and restart webfim"})
		case !os.SameFile(fi, dbInfo):
			gaps = append(gaps, alert.Gap{Reason: alert.GapDatabaseLost, Path: p,
				Detail: "the database file was replaced by another file: the daemon still uses the one it opened; restart webfim to use the new one"})
		}
	}
	var status []RootStatus
	if t := d.currentTree(); t != nil {
		status = t.Status()
	}
	mounts := d.mountsNotCrossed(cfg.Target.Roots, cfg.Target.CrossDevice, cfg.Target.Exclude)
	for _, root := range cfg.Target.Roots {
		if _, _, err := statRoot(root); err != nil {
			gaps = append(gaps, alert.Gap{Reason: alert.GapRootMissing, Path: root, Root: root,
				Detail: "the web root is gone or not a directory (" + errText(err) + "): nothing in it is watched; its files are not reported one by one"})
			continue
		}
		if active.ID != 0 && !slices.Contains(active.Roots, root) {
			gaps = append(gaps, alert.Gap{Reason: alert.GapRootNotInBaseline, Path: root, Root: root,
				Detail: "the root is not in the active baseline: its changes are not compared until a baseline includes it (webfim baseline create)"})
		}
		for _, s := range status {
			if s.Root == root && s.Degraded {
				gaps = append(gaps, alert.Gap{Reason: alert.GapWatchLimit, Path: root, Root: root,
					Detail: "inotify limits leave directories of the root unwatched: they are only rescanned periodically (" + errText(s.Err) + ")"})
			}
		}
		for _, m := range mounts[root] {
			gaps = append(gaps, alert.Gap{Reason: alert.GapMountNotCrossed, Path: m, Root: root,
				Detail: "a file system is mounted inside the root and is neither walked nor watched: --cross-device covers it, an exclude silences it"})
		}
	}
	return gaps
}

// mountsNotCrossed lists, per root, the mount points inside it that are
// not covered (cross-device off, not excluded); the mount table is read
// at most every mountCheckEvery.
func (d *Daemon) mountsNotCrossed(roots []string, crossDevice bool, exclude func(root, rel string, isDir bool) bool) map[string][]string {
	if crossDevice {
		return nil
	}
	d.mu.Lock()
	if time.Since(d.gaps.mountsRead) < mountCheckEvery {
		m := d.gaps.mounts
		d.mu.Unlock()
		return m
	}
	d.mu.Unlock()
	m := make(map[string][]string)
	for _, root := range roots {
		points, err := baseline.MountsUnder(root)
		if err != nil {
			continue // unsupported, or the root is missing (its own gap)
		}
		resolved, _ := evalRoot(root)
		for _, p := range points {
			rel, ok := relOf(resolved, p)
			if !ok || (exclude != nil && exclude(root, rel, true)) {
				continue
			}
			m[root] = append(m[root], p)
		}
	}
	d.mu.Lock()
	d.gaps.mounts, d.gaps.mountsRead = m, time.Now()
	d.mu.Unlock()
	return m
}

func evalRoot(root string) (string, error) {
	_, target, err := statRoot(root)
	if err != nil || target == "" {
		return root, err
	}
	return target, nil
}

func errText(err error) string {
	if err == nil {
		return "no detail"
	}
	return err.Error()
}

// checkGaps opens the monitoring gaps that appeared (one high alert each,
// rule webfim-020) and resolves those that went (one event each); it
// runs after every poll. An alert that could not be queued is tried
// again at the next poll.
func (d *Daemon) checkGaps(ctx context.Context) {
	now := d.currentGaps()
	d.mu.Lock()
	if d.gaps.open == nil {
		d.gaps.open = make(map[string]alert.Gap)
	}
	var opened, resolved []alert.Gap
	seen := make(map[string]bool)
	for _, g := range now {
		seen[g.Key()] = true
		if _, ok := d.gaps.open[g.Key()]; !ok {
			opened = append(opened, g)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(d.gaps.open)) {
		if !seen[k] {
			resolved = append(resolved, d.gaps.open[k])
		}
	}
	judge, active := d.judge, d.active
	d.mu.Unlock()
	for _, g := range opened {
		f := newFinding(alert.Finding{Gap: &g, Verdict: gapVerdict(judge, g)}, time.Now(), active)
		d.log.Error("monitoring gap", "reason", g.Reason, "path", g.Path, "detail", g.Detail)
		if err := d.deps.Sink.Emit(ctx, []Finding{f}); err != nil {
			d.log.Error("cannot report the monitoring gap; trying again", "reason", g.Reason, "err", err)
			continue
		}
		d.metrics.alerts.WithLabelValues(policy.RuleMonitoringGap, "alert").Inc()
		d.mu.Lock()
		d.gaps.open[g.Key()] = g
		d.mu.Unlock()
	}
	for _, g := range resolved {
		d.log.Info("monitoring gap resolved", "reason", g.Reason, "path", g.Path)
		d.notice(ctx, Notice{Kind: NoticeGapResolved, Gap: &g, Roots: rootsOf(g)})
		d.mu.Lock()
		delete(d.gaps.open, g.Key())
		d.mu.Unlock()
	}
}

func rootsOf(g alert.Gap) []string {
	if g.Root == "" {
		return nil
	}
	return []string{g.Root}
}

// gapVerdict judges g with judge, or by the catalog when judge cannot.
func gapVerdict(judge Judge, g alert.Gap) policy.Verdict {
	gj, ok := judge.(GapJudge)
	if !ok {
		gj = policy.Default()
	}
	return gj.EvaluateGap(g.Reason, g.Path, g.Detail, policy.Context{Now: time.Now()})
}

// openGaps returns the monitoring gaps open now, sorted by key.
func (d *Daemon) openGaps() []alert.Gap {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []alert.Gap
	for _, k := range slices.Sorted(maps.Keys(d.gaps.open)) {
		out = append(out, d.gaps.open[k])
	}
	return out
}

// noteDatabase records the database file as opened (Deps.DatabasePath).
func (d *Daemon) noteDatabase() error {
	if d.deps.DatabasePath == "" {
		return nil
	}
	fi, err := os.Stat(d.deps.DatabasePath)
	if err != nil {
		return fmt.Errorf("watch: database %s: %w", d.deps.DatabasePath, err)
	}
	d.mu.Lock()
	d.gaps.db = fi
	d.mu.Unlock()
	return nil
}
