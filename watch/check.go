package watch

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"webfim/alert"
	"webfim/baseline"
	"webfim/policy"
	"webfim/scan"
	"webfim/serverconf"
)

// worker checks the settled paths of each batch.
func (d *Daemon) worker(ctx context.Context, batches <-chan []Hint) {
	for {
		var batch []Hint
		select {
		case batch = <-batches:
		case <-ctx.Done():
			return
		}
		d.checkBatch(ctx, batch)
	}
}

// reportBatch is how many findings are emitted at once.
const reportBatch = 256

func (d *Daemon) checkBatch(ctx context.Context, batch []Hint) { d.check(ctx, batch, true) }

// check checks a batch of hints; with toLane, the checks of large files
// go to the large-file lane (lane.go).
func (d *Daemon) check(ctx context.Context, batch []Hint, toLane bool) {
	c := d.newChecker(ctx)
	configs, gone := false, false
	for _, h := range batch {
		if ctx.Err() != nil {
			return
		}
		if toLane && isLarge(h) && d.toLargeLane(h) {
			continue
		}
		if h.Kind == HintPath || h.Kind == HintSubtree {
			if _, _, err := statRoot(h.Root); err != nil {
				// The root itself is gone (rm -r removes its files one
				// by one first): one monitoring gap, not a removal per
				// file (tens of thousands of low alerts). When it comes
				// back it is rescanned.
				gone = true
				continue
			}
		}
		if (h.Kind == HintPath || h.Kind == HintSubtree) && parentGone(h.Root, h.Rel) {
			// Its directory went too (rm -r): the check of the topmost
			// directory removed reports everything below it, once. What
			// the baseline does not know is not in that check: a script
			// seen and gone with its directory is still a transient one.
			if h.Kind == HintPath && h.Seen != nil && h.Seen.Existed && c.inBaseline(h.Root) {
				if _, known, err := d.deps.Store.Lookup(c.active.ID, h.Root, h.Rel); err == nil && !known {
					c.transient(h.Root, h.Rel, h.Seen)
				}
			}
			continue
		}
		switch h.Kind {
		case HintPath:
			c.checkPath(h.Root, h.Rel, h.Seen)
		case HintSubtree:
			c.checkSubtree(h.Root, h.Rel)
		case HintConfig:
			configs = true
		case HintRescan:
			d.rescanHint(ctx, h)
		}
		c.flushIfFull()
	}
	if configs {
		c.checkConfigs()
	}
	c.flush()
	if gone {
		d.checkGaps(ctx)
	}
}

// parentGone reports whether the directory holding root/rel no longer
// exists (the root itself is checked by the caller).
func parentGone(root, rel string) bool {
	dir := path.Dir(rel)
	if dir == "." || rel == "" {
		return false
	}
	_, err := os.Lstat(filepath.Join(root, filepath.FromSlash(dir)))
	return errors.Is(err, fs.ErrNotExist)
}

// rescanHint queues the rescan a hint asks for, with the notice the SOC
// should see.
func (d *Daemon) rescanHint(ctx context.Context, h Hint) {
	cfg, _, _, _ := d.snapshot()
	if h.Reason == ReasonOverflow {
		d.metrics.overflows.Inc()
	}
	switch {
	case h.Reason == ReasonOverflow && d.noticeDue(NoticeOverflow+h.Root):
		d.notice(ctx, Notice{Kind: NoticeOverflow, Roots: []string{h.Root},
			Message: "file system notifications were lost (queue overflow): rescanning " + h.Root})
	case h.Reason == ReasonDegraded && h.Err != nil:
		d.notice(ctx, Notice{Kind: NoticeDegraded, Roots: []string{h.Root}, Message: h.Err.Error(),
			Err: h.Err, Fallback: cfg.DegradedInterval})
	case h.Reason == ReasonRecovered:
		d.notice(ctx, Notice{Kind: NoticeRestored, Roots: []string{h.Root},
			Message: "all directories of " + h.Root + " are watched again"})
	}
	d.requestRescan([]string{h.Root}, false, h.Reason)
}

// noticeDue rate-limits repeated notices (an overflow storm) to one a
// minute per key.
func (d *Daemon) noticeDue(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.lastNotice[key]; ok && time.Since(t) < time.Minute {
		return false
	}
	d.lastNotice[key] = time.Now()
	return true
}

// checker checks paths against one snapshot of the active baseline and
// policy (through package scan), collecting findings, and the dedupe
// entries of what it found gone.
type checker struct {
	d      *Daemon
	ctx    context.Context
	cfg    Config
	judge  Judge
	active scan.Baseline
	adhoc  []policy.Window
	polled time.Time // when adhoc was read from the database

	findings []Finding
	// forget are dedupe prefixes of subjects found without a finding (a
	// file removed or restored): their entries go, so that the same
	// finding coming back is reported again. They are applied before the
	// pending findings are reported.
	forget []string
	// probe is the path checkPath checks, and whether a finding about it
	// came up.
	probe struct {
		root, rel string
		found     bool
	}
	// found collects the subjects of every finding of a rescan (nil
	// otherwise), to reconcile the dedupe table with it.
	found map[string]bool
}

func (d *Daemon) newChecker(ctx context.Context) *checker {
	cfg, judge, active, adhoc := d.snapshot()
	d.mu.Lock()
	polled := d.polled
	d.mu.Unlock()
	return &checker{d: d, ctx: ctx, cfg: cfg, judge: judge, active: active, adhoc: adhoc, polled: polled}
}

// options are the scan options of live checks.
func (c *checker) options() scan.Options {
	return scan.Options{
		Workers: c.cfg.Workers,
		OnConfigError: func(path string, err error) {
			c.d.log.Warn("server configuration cannot be parsed", "file", path, "err", err)
		},
		OnContentError: func(err error) {
			c.d.log.Warn("content scan incomplete; the findings say so in webfim.indicators.errors", "err", err)
		},
		OnConfigSources: c.d.noteConfigSources,
		OnError: func(root, rel string, err error) {
			if root == "" && rel != "" { // a server configuration's inventory warning
				c.d.configWarning(rel, err)
				return
			}
			c.d.log.Debug("entry not fully readable", "root", root, "path", rel, "err", err)
		},
	}
}

// emitter judges the changes scan reports and collects the findings.
func (c *checker) emitter() scan.Emitter {
	return scan.Emitter{
		File: func(ch baseline.Change) error {
			now := time.Now()
			if ch.Root == c.probe.root && ch.Path == c.probe.rel {
				c.probe.found = true
			}
			if ch.New != nil && ch.New.Type == baseline.TypeSymlink && ch.New.Linked != nil {
				// A link to an outside file found by a rescan (its directory
				// may not have been watched): follow its target from now on.
				if tree := c.d.currentTree(); tree != nil {
					tree.NoteLink(ch.Root, ch.Path)
				}
			}
			procs := c.processesOf(ch)
			ctx := c.context(eventTime(ch, now))
			ctx.Writer = procs.Writer(ch.Kind)
			c.add(alert.Finding{File: &ch, Verdict: c.judge.EvaluateFile(ch, ctx), Processes: procs}, now)
			return c.ctx.Err()
		},
		Item: func(ch serverconf.Change) error {
			now := time.Now()
			c.add(alert.Finding{Item: &ch, Verdict: c.judge.EvaluateItem(ch, c.context(now))}, now)
			return c.ctx.Err()
		},
	}
}

// context is the policy context of a change made at "at": the deploy
// window in force then. The ad-hoc windows are polled (about once a
// second); a window finished since the last poll would still look open,
// so a change made after that poll that an ad-hoc window would excuse
// is judged against the windows read again now (issue 10: no stale
// window after "deploy finish").
func (c *checker) context(at time.Time) policy.Context {
	if at.After(c.polled) && inWindow(at, c.adhoc) {
		c.refreshWindows()
	}
	return policy.Context{Now: at, Window: c.judge.WindowAt(at, c.adhoc)}
}

func inWindow(t time.Time, windows []policy.Window) bool {
	for i := range windows {
		if windows[i].Contains(t) {
			return true
		}
	}
	return false
}

// refreshWindows reads the ad-hoc windows open now, for this checker and
// the daemon. If the database cannot be read, the windows known stand.
func (c *checker) refreshWindows() {
	now := time.Now()
	adhoc, err := c.d.deps.Store.AdhocWindows(now)
	c.polled = now // once per change at most, even when it fails
	if err != nil {
		c.d.log.Warn("cannot read the deploy windows; judging with the ones read before", "err", err)
		return
	}
	c.adhoc = adhoc
	c.d.mu.Lock()
	if now.After(c.d.polled) {
		c.d.adhoc, c.d.polled = adhoc, now
	}
	c.d.mu.Unlock()
}

// eventTime is when a file change happened, as the file system tells:
// the ctime of its new state, which no user can set back, never later
// than now (clock skew); now for a removal, or when the ctime is unknown.
// A change is judged by the deploy window in force at that instant, not
// by the one in force when the daemon gets to it.
func eventTime(ch baseline.Change, now time.Time) time.Time {
	if ch.Kind == baseline.Removed || ch.New == nil || ch.New.Ctime <= 0 {
		return now
	}
	if t := time.Unix(0, ch.New.Ctime); t.Before(now) {
		return t
	}
	return now
}

func (c *checker) add(af alert.Finding, now time.Time) {
	if af.Verdict.Drop {
		return
	}
	f := newFinding(af, now, c.active)
	if c.found != nil {
		c.found[f.subject] = true
	}
	c.findings = append(c.findings, f)
	c.flushIfFull()
}

// checkPath compares the live entry root/rel with its baseline record;
// seen (may be nil) is what its events showed of it, reported if it is
// gone and the baseline does not know it (a transient entry).
func (c *checker) checkPath(root, rel string, seen *Sighting) {
	if !c.inBaseline(root) {
		return
	}
	c.probe.root, c.probe.rel, c.probe.found = root, rel, false
	defer func() { c.probe.root, c.probe.rel = "", "" }()
	if _, err := scan.CheckPath(c.d.deps.Store, c.active, c.cfg.Target, root, rel, c.options(), c.emitter()); err != nil {
		if c.d.busy(err) {
			c.d.deferHint(Hint{Kind: HintPath, Root: root, Rel: rel, Seen: seen}, err)
			return
		}
		c.d.log.Warn("cannot check path; the next rescan checks it again", "root", root, "path", rel, "err", err)
		return
	}
	if !c.probe.found {
		c.forgetSeen(subjectPrefix(fileSubject(root, rel)))
		c.transient(root, rel, seen)
	}
}

// checkSubtree checks rel and every baseline record below it: the
// directory was removed or renamed away, its entries are gone unless they
// came back.
func (c *checker) checkSubtree(root, rel string) {
	if !c.inBaseline(root) {
		return
	}
	// Whatever was reported below rel is gone with it, unless the checks
	// find it again (entries the baseline does not know are found again
	// by the next rescan, if they came back).
	c.forgetSeen(subtreePrefix(root, rel))
	c.probe.root, c.probe.rel, c.probe.found = root, rel, false
	defer func() { c.probe.root, c.probe.rel = "", "" }()
	if _, err := scan.CheckSubtree(c.ctx, c.d.deps.Store, c.active, c.cfg.Target, root, rel, c.options(), c.emitter()); err != nil {
		if c.d.busy(err) {
			c.d.deferHint(Hint{Kind: HintSubtree, Root: root, Rel: rel}, err)
			return
		}
		if c.ctx.Err() == nil {
			c.d.log.Warn("cannot check subtree; the next rescan checks it again", "root", root, "path", rel, "err", err)
		}
		return
	}
	if !c.probe.found && rel != "" {
		c.forgetSeen(subjectPrefix(fileSubject(root, rel)))
	}
}

// checkConfigs re-parses the configured server configurations and
// reports how their inventory differs from the baseline's. Items from
// configuration files under the roots (web.config, .htaccess, .user.ini)
// are checked with those files.
func (c *checker) checkConfigs() {
	defer c.d.metrics.configReads.Add(1)
	if _, err := scan.DiffConfigs(c.d.deps.Store, c.active, c.cfg.Target, c.options(), c.emitter()); err != nil {
		if c.d.busy(err) {
			c.d.deferHint(Hint{Kind: HintConfig, Path: "configs"}, err)
			return
		}
		c.d.log.Warn("cannot check the server configurations; the next rescan checks them again", "baseline", c.active.ID, "err", err)
	}
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
	d.mu.Lock()
	warned := d.warnedRoots[root] == c.active.ID
	d.warnedRoots[root] = c.active.ID
	d.mu.Unlock()
	if !warned {
		d.log.Warn("root is not in the active baseline: its changes are not reported until a baseline includes it (webfim baseline create)", "root", root, "baseline", c.active.ID)
	}
	return false
}

// forgetSeen queues the dedupe entries under prefix to be forgotten. A
// pending finding under it is reported first, so that its entry is
// forgotten too: the order of what was found is kept.
func (c *checker) forgetSeen(prefix string) {
	for _, f := range c.findings {
		if strings.HasPrefix(f.seenKey(), prefix) {
			c.flush()
			break
		}
	}
	c.forget = append(c.forget, prefix)
}

func (c *checker) flushIfFull() {
	if len(c.findings) >= reportBatch || len(c.forget) >= reportBatch {
		c.flush()
	}
}

func (c *checker) flush() {
	if len(c.forget) > 0 {
		c.d.forgetSeen(c.forget, nil)
		c.forget = c.forget[:0]
	}
	if len(c.findings) == 0 {
		return
	}
	if err := c.d.report(c.ctx, c.findings); c.d.busy(err) {
		c.d.deferFindings(slices.Clone(c.findings), err)
	} else if err != nil && c.ctx.Err() == nil {
		c.d.log.Error("findings could not be queued; the next rescan reports them again", "findings", len(c.findings), "err", err)
	}
	c.findings = c.findings[:0]
}
