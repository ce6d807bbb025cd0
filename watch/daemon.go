package watch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"webfim/baseline"
	"webfim/policy"
	"webfim/scan"
	"webfim/serverconf"
)

// BaselineInfo is what the daemon needs to know of a stored baseline.
type BaselineInfo struct {
	ID      uint64
	Label   string
	Created time.Time
	Roots   []string
	Configs []string
}

// Store is the daemon's view of the database. Every call is expected to be
// a short session (see docs/store.md), so the CLI can use the same
// database while the daemon runs. [StoreOf] adapts a *store.DB.
type Store interface {
	// Active returns the active baseline; ok is false if there is none.
	Active() (info BaselineInfo, ok bool, err error)
	// AdhocWindows returns the ad-hoc deploy windows open at now.
	AdhocWindows(now time.Time) ([]policy.Window, error)
	// Lookup is a point lookup of one record of a baseline.
	Lookup(id uint64, root, path string) (baseline.Record, bool, error)
	// RootRecords streams a root's records whose path starts with prefix.
	RootRecords(id uint64, root, prefix string) baseline.State
	// Inventory returns the server configuration inventory of a baseline.
	Inventory(id uint64) ([]serverconf.Item, error)
	// Seen returns when a finding was last reported.
	Seen(fingerprint string) (time.Time, bool, error)
	// MarkSeenAll records that findings were reported at t.
	MarkSeenAll(t time.Time, fingerprints ...string) error
	// ForgetSeen drops dedupe entries last reported before t.
	ForgetSeen(before time.Time) (int, error)
	// Diff compares the live target with a baseline, files and server
	// inventories, as "webfim diff" does (scan.Diff).
	Diff(ctx context.Context, from BaselineInfo, t scan.Target, opt scan.Options, emit scan.Emitter) (scan.Result, error)
}

// Judge decides what a change means. *policy.Policy is one.
type Judge interface {
	EvaluateFile(c baseline.Change, ctx policy.Context) policy.Verdict
	EvaluateItem(c serverconf.Change, ctx policy.Context) policy.Verdict
	WindowAt(t time.Time, adhoc []policy.Window) *policy.Window
}

// Finding is one change judged by the policy, ready to become an alert
// (or, for expected changes, an event) document.
type Finding struct {
	// EventID is the alert's event.id: the fingerprint for the first
	// report, fingerprint-<unix seconds> for reminders. A finding detected
	// again after a crash gets the same EventID, so Elasticsearch indexes
	// it once.
	EventID string
	// Fingerprint identifies the finding for deduplication: the same
	// change of the same path to the same state.
	Fingerprint string
	Time        time.Time
	Baseline    BaselineInfo
	File        *baseline.Change   // a file change, or
	Item        *serverconf.Change // a server configuration change
	Verdict     policy.Verdict
	// Reminder is set when the finding was reported before and is
	// reported again because the reminder interval passed.
	Reminder bool
}

// Notice kinds.
const (
	NoticeOverflow        = "overflow"         // events were lost; a rescan follows
	NoticeDegraded        = "degraded"         // a root cannot be fully watched (inotify limits)
	NoticeRestored        = "restored"         // a degraded root is fully watched again
	NoticeBaselineCreated = "baseline_created" // no baseline existed; the daemon created one
	NoticeCatchUp         = "catch_up"         // a catch-up scan of Roots started
)

// Notice is an event about the daemon itself that the SOC should see.
type Notice struct {
	Kind    string
	Roots   []string
	Message string
	// Err and Fallback describe a degraded root: the *LimitError and the
	// rescan interval replacing the watches.
	Err      error
	Fallback time.Duration
	Time     time.Time
}

// Sink delivers findings and notices. Emit must return only once the
// documents are durable (in the outbox): the findings are then marked
// seen and not reported again. [OutboxSink] is the implementation over the
// store's outbox and an output.Deliverer.
type Sink interface {
	Emit(ctx context.Context, findings []Finding) error
	Notice(ctx context.Context, n Notice) error
}

// Config is the daemon's configuration; [Daemon.Reload] replaces it.
type Config struct {
	// Target is what is watched and compared: roots, server configs,
	// excludes, script extensions; the same scan.Target that
	// "webfim baseline create" and "webfim diff" use, so that the daemon
	// judges the tree exactly as they do.
	Target scan.Target

	Debounce         DebounceOptions
	Schedule         Schedule
	DegradedInterval time.Duration // default 1m
	// ReminderInterval re-reports a finding still present after that
	// long; 0 reports it once until the file changes again.
	ReminderInterval time.Duration
	// PollInterval is how often the store is asked for the active baseline
	// and deploy windows (default 1s, so changes by the CLI take effect
	// within 2s).
	PollInterval time.Duration

	RescanRateLimit int64 // bytes/s for rescans; 0 unlimited
	Workers         int   // hashing goroutines of rescans; 0 = NumCPU
}

func (c Config) configPaths() []string {
	var paths []string
	for _, cf := range c.Target.Configs {
		paths = append(paths, cf.Path)
	}
	return paths
}

// Deps are the daemon's collaborators.
type Deps struct {
	Store Store
	Judge Judge
	Sink  Sink
	// NewNotifier creates the notification source (default NewNotifier(0)).
	NewNotifier func() (Notifier, error)
	// CreateBaseline creates and activates a baseline of cfg's roots and
	// configs; called when the database has none.
	CreateBaseline func(ctx context.Context, cfg Config) (BaselineInfo, error)
	Logger         *slog.Logger
	// OutboxStats, DeliveryErrors and DeadLetters feed the metrics, if set.
	OutboxStats    func() (depth int, dropped uint64, err error)
	DeliveryErrors func() uint64
	DeadLetters    func() uint64
}

// ErrNoBaseline is returned by [Daemon.Run] when the database has no
// baseline and Deps.CreateBaseline is nil.
var ErrNoBaseline = errors.New("no baseline in the database")

// Daemon watches the roots and reports changes against the active
// baseline: live (notifications, debounced), on start (catch-up), after
// lost events (overflow rescans) and periodically (reconciliation).
type Daemon struct {
	deps    Deps
	log     *slog.Logger
	metrics *metrics

	mu     sync.Mutex
	cfg    Config
	judge  Judge
	active BaselineInfo
	adhoc  []policy.Window
	polled time.Time // last successful poll
	tree   *Tree
	deb    *Debouncer
	// running is set while Run runs.
	running bool

	pendingReload *pipeline
	lastNotice    map[string]time.Time
	pollErr       error

	reportMu sync.Mutex
	reloads  chan *pipeline

	rescanMu      sync.Mutex
	pendingRescan map[string]rescanRequest
	pendingConfig bool
	rescanWake    chan struct{}
	warnedRoots   map[string]uint64 // root -> baseline id it was reported missing from
}

// New checks cfg and returns a Daemon; Run starts it.
func New(cfg Config, deps Deps) (*Daemon, error) {
	if deps.Store == nil || deps.Judge == nil || deps.Sink == nil {
		return nil, errors.New("watch: Store, Judge and Sink are required")
	}
	if deps.NewNotifier == nil {
		deps.NewNotifier = func() (Notifier, error) { return NewNotifier(0) }
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	cfg = cfg.withDefaults()
	if len(cfg.Target.Roots) == 0 {
		return nil, errors.New("watch: no root to watch")
	}
	d := &Daemon{
		deps: deps, log: deps.Logger, cfg: cfg, judge: deps.Judge,
		reloads:       make(chan *pipeline),
		pendingRescan: make(map[string]rescanRequest),
		rescanWake:    make(chan struct{}, 1),
		warnedRoots:   make(map[string]uint64),
	}
	d.metrics = newMetrics(d)
	return d, nil
}

func (c Config) withDefaults() Config {
	if c.DegradedInterval <= 0 {
		c.DegradedInterval = time.Minute
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	c.Target.Roots = slices.Clone(c.Target.Roots)
	slices.Sort(c.Target.Roots)
	return c
}

func (d *Daemon) snapshot() (Config, Judge, BaselineInfo, []policy.Window) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg, d.judge, d.active, d.adhoc
}

// pipeline is the live part that a reload replaces: notifier, tree,
// debouncer and schedule.
type pipeline struct {
	cfg   Config
	judge Judge
	n     Notifier
	tree  *Tree
}

func (d *Daemon) newPipeline(cfg Config, judge Judge) (*pipeline, error) {
	n, err := d.deps.NewNotifier()
	if err != nil {
		return nil, fmt.Errorf("watch: cannot create notifier: %w", err)
	}
	tree, err := NewTree(n, TreeOptions{
		Roots: cfg.Target.Roots, ConfigFiles: cfg.configPaths(), Exclude: cfg.Target.Exclude,
		CrossDevice: cfg.Target.CrossDevice, DegradedInterval: cfg.DegradedInterval, Logger: d.log,
	})
	if err != nil {
		n.Close()
		return nil, err
	}
	return &pipeline{cfg: cfg, judge: judge, n: n, tree: tree}, nil
}

// Reload replaces the configuration and policy. An invalid configuration
// (a root that does not exist, nested roots) is rejected with an error
// and the running one kept. The watches are rebuilt and a fast rescan
// covers the moment without them.
func (d *Daemon) Reload(ctx context.Context, cfg Config, judge Judge) error {
	cfg = cfg.withDefaults()
	if len(cfg.Target.Roots) == 0 {
		return errors.New("watch: no root to watch")
	}
	p, err := d.newPipeline(cfg, judge)
	if err != nil {
		return err
	}
	select {
	case d.reloads <- p:
		return nil
	case <-ctx.Done():
		p.n.Close()
		return ctx.Err()
	}
}

// Run runs the daemon until ctx is cancelled (returning nil) or it cannot
// go on. If the database has no baseline, one is created first.
func (d *Daemon) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		return errors.New("watch: daemon already running")
	}
	d.running = true
	cfg, judge := d.cfg, d.judge
	d.mu.Unlock()
	defer func() { d.mu.Lock(); d.running = false; d.mu.Unlock() }()

	created, err := d.ensureBaseline(ctx, cfg)
	if err != nil {
		return err
	}
	p, err := d.newPipeline(cfg, judge)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	var bg sync.WaitGroup
	defer func() {
		cancel()
		bg.Wait()
	}()
	bg.Add(2)
	go func() { defer bg.Done(); d.pollLoop(ctx) }()
	go func() { defer bg.Done(); d.rescanLoop(ctx) }()

	reason := "startup"
	if created {
		reason = "" // the new baseline is the live state: nothing to catch up
	}
	for {
		err := d.runPipeline(ctx, p, reason)
		var next *pipeline
		switch {
		case errors.Is(err, errReload):
			next = d.takeReload()
		case ctx.Err() != nil:
			return nil
		default:
			return err
		}
		d.mu.Lock()
		d.cfg, d.judge = next.cfg, next.judge
		d.mu.Unlock()
		d.log.Info("configuration reloaded", "roots", len(next.cfg.Target.Roots), "configs", len(next.cfg.Target.Configs))
		p, reason = next, "reload"
	}
}

var errReload = errors.New("reload")

func (d *Daemon) takeReload() *pipeline {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.pendingReload
	d.pendingReload = nil
	return p
}

// ensureBaseline loads the active baseline, creating one if there is none.
func (d *Daemon) ensureBaseline(ctx context.Context, cfg Config) (created bool, err error) {
	info, ok, err := d.deps.Store.Active()
	if err != nil {
		return false, fmt.Errorf("watch: reading the active baseline: %w", err)
	}
	if !ok {
		if d.deps.CreateBaseline == nil {
			return false, fmt.Errorf("watch: %w; create one with webfim baseline create", ErrNoBaseline)
		}
		d.log.Warn("no baseline in the database: creating one first; changes made before it are not reported", "roots", cfg.Target.Roots)
		info, err = d.deps.CreateBaseline(ctx, cfg)
		if err != nil {
			return false, fmt.Errorf("watch: creating the first baseline: %w", err)
		}
		d.log.Info("baseline created", "id", info.ID, "label", info.Label)
		d.notice(ctx, Notice{Kind: NoticeBaselineCreated, Roots: info.Roots, Message: fmt.Sprintf("no baseline existed: created baseline %d of %d root(s); changes before it are not reported", info.ID, len(info.Roots))})
		created = true
	}
	d.mu.Lock()
	d.active = info
	d.polled = time.Now()
	d.mu.Unlock()
	return created, nil
}

// runPipeline runs p until ctx is done, a reload arrives (errReload) or
// the tree fails. catchUp, if not empty, is the reason of the fast rescan
// of every root started once the watches are in place.
func (d *Daemon) runPipeline(ctx context.Context, p *pipeline, catchUp string) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		p.n.Close()
	}()
	d.mu.Lock()
	d.tree = p.tree
	d.deb = NewDebouncer(p.cfg.Debounce)
	deb := d.deb
	d.mu.Unlock()

	hints := make(chan Hint, 256)
	batches := make(chan []Hint)
	treeErr := make(chan error, 1)
	wg.Add(3)
	go func() { defer wg.Done(); treeErr <- p.tree.Run(ctx, hints) }()
	go func() { defer wg.Done(); deb.Run(ctx, d.countHints(ctx, hints), batches) }()
	go func() { defer wg.Done(); d.worker(ctx, batches) }()

	select {
	case <-p.tree.Ready():
	case err := <-treeErr:
		return err
	case <-ctx.Done():
		return nil
	}
	d.log.Info("watching", "roots", len(p.cfg.Target.Roots), "dirs", p.tree.Dirs(), "configs", len(p.cfg.Target.Configs))
	if catchUp != "" {
		d.notice(ctx, Notice{Kind: NoticeCatchUp, Roots: p.cfg.Target.Roots, Message: "catch-up scan (" + catchUp + "): reporting changes made while not watching"})
		d.requestRescan(ctx, p.cfg.Target.Roots, false, catchUp)
		d.requestConfigCheck(ctx)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.cfg.Schedule.Run(ctx, func(ctx context.Context, full bool) {
			reason := "periodic"
			if full {
				reason = "periodic_full"
			}
			d.requestRescan(ctx, p.cfg.Target.Roots, full, reason)
			d.requestConfigCheck(ctx)
		})
	}()

	select {
	case <-ctx.Done():
		return nil
	case err := <-treeErr:
		return err
	case next := <-d.reloads:
		d.mu.Lock()
		d.pendingReload = next
		d.mu.Unlock()
		return errReload
	}
}

// countHints passes hints on, counting them.
func (d *Daemon) countHints(ctx context.Context, in <-chan Hint) <-chan Hint {
	out := make(chan Hint)
	go func() {
		defer close(out)
		for {
			select {
			case h := <-in:
				d.metrics.events.WithLabelValues(h.Kind.String()).Inc()
				select {
				case out <- h:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

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
		d.poll(ctx)
		if time.Since(lastPrune) > 24*time.Hour {
			lastPrune = time.Now()
			d.pruneSeen()
		}
	}
}

// pruneSeen forgets findings not reported for two reminder intervals:
// one still present is reported again at every reminder and so stays;
// one that went away is forgotten. Without reminders nothing is pruned,
// since a forgotten finding would be reported again.
func (d *Daemon) pruneSeen() {
	cfg, _, _, _ := d.snapshot()
	if cfg.ReminderInterval <= 0 {
		return
	}
	keep := max(2*cfg.ReminderInterval, 7*24*time.Hour)
	if n, err := d.deps.Store.ForgetSeen(time.Now().Add(-keep)); err != nil {
		d.log.Warn("cannot prune the dedupe table", "err", err)
	} else if n > 0 {
		d.log.Info("pruned the dedupe table", "forgotten", n)
	}
}

func (d *Daemon) poll(ctx context.Context) {
	info, ok, err := d.deps.Store.Active()
	var adhoc []policy.Window
	if err == nil {
		adhoc, err = d.deps.Store.AdhocWindows(time.Now())
	}
	d.mu.Lock()
	failing := d.pollErr != nil
	d.pollErr = err
	d.mu.Unlock()
	if err != nil {
		if !failing { // said once per failure streak, not every second
			d.log.Warn("cannot read the active baseline or deploy windows; keeping the current ones", "err", err)
		}
		return
	}
	if failing {
		d.log.Info("database readable again")
	}
	d.mu.Lock()
	prev := d.active
	changed := ok && info.ID != prev.ID
	if ok {
		d.active = info
	}
	d.adhoc = adhoc
	d.polled = time.Now()
	roots := d.cfg.Target.Roots
	d.mu.Unlock()
	if changed {
		d.log.Info("active baseline changed", "from", prev.ID, "to", info.ID, "label", info.Label)
		d.requestRescan(ctx, roots, false, "baseline_changed")
		d.requestConfigCheck(ctx)
	}
}

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

func (d *Daemon) checkBatch(ctx context.Context, batch []Hint) {
	cfg, judge, active, adhoc := d.snapshot()
	c := checker{d: d, ctx: ctx, cfg: cfg, judge: judge, active: active, adhoc: adhoc}
	configs := false
	for _, h := range batch {
		if ctx.Err() != nil {
			return
		}
		switch h.Kind {
		case HintPath:
			c.checkPath(h.Root, h.Rel)
		case HintSubtree:
			c.checkSubtree(h.Root, h.Rel)
		case HintConfig:
			configs = true
		case HintRescan:
			if h.Reason == ReasonOverflow {
				d.metrics.overflows.Inc()
			}
			switch {
			case h.Reason == ReasonOverflow && d.noticeDue(NoticeOverflow+h.Root):
				d.notice(ctx, Notice{Kind: NoticeOverflow, Roots: []string{h.Root},
					Message: "file system notifications were lost (queue overflow): rescanning " + h.Root})
			case h.Reason == ReasonDegraded && h.Err != nil:
				d.notice(ctx, Notice{Kind: NoticeDegraded, Roots: []string{h.Root}, Message: h.Err.Error(),
					Err: h.Err, Fallback: c.cfg.DegradedInterval})
			case h.Reason == ReasonRecovered:
				d.notice(ctx, Notice{Kind: NoticeRestored, Roots: []string{h.Root},
					Message: "all directories of " + h.Root + " are watched again"})
			}
			d.requestRescan(ctx, []string{h.Root}, false, h.Reason)
		}
		c.flushIfFull()
	}
	if configs {
		c.checkConfigs()
	}
	c.flush()
}

// noticeDue rate-limits repeated notices (an overflow storm) to one a
// minute per key.
func (d *Daemon) noticeDue(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lastNotice == nil {
		d.lastNotice = make(map[string]time.Time)
	}
	if t, ok := d.lastNotice[key]; ok && time.Since(t) < time.Minute {
		return false
	}
	d.lastNotice[key] = time.Now()
	return true
}

func (d *Daemon) notice(ctx context.Context, n Notice) {
	if n.Time.IsZero() {
		n.Time = time.Now()
	}
	if err := d.deps.Sink.Notice(ctx, n); err != nil {
		d.log.Error("cannot report notice", "kind", n.Kind, "err", err)
	}
}

// checker checks paths against one snapshot of the active baseline and
// policy, collecting findings.
type checker struct {
	d        *Daemon
	ctx      context.Context
	cfg      Config
	judge    Judge
	active   BaselineInfo
	adhoc    []policy.Window
	findings []Finding
}

func (c *checker) statOptions(full bool) baseline.Options {
	return baseline.Options{
		Full: full, HashAllSHA256: c.cfg.Target.HashAllSHA256, ScriptExtensions: c.cfg.Target.ScriptExtensions,
		Workers: c.cfg.Workers, CrossDevice: c.cfg.Target.CrossDevice, Exclude: c.cfg.Target.Exclude,
	}
}

// checkPath compares the live entry root/rel with its baseline record.
func (c *checker) checkPath(root, rel string) {
	if !c.inBaseline(root) {
		return
	}
	prev, ok, err := c.d.deps.Store.Lookup(c.active.ID, root, rel)
	if err != nil {
		c.d.log.Warn("baseline lookup failed; the path is checked again by the next rescan", "root", root, "path", rel, "err", err)
		return
	}
	var prevPtr *baseline.Record
	if ok {
		prevPtr = &prev
	}
	live, err := baseline.Stat(root, rel, c.statOptions(false), prevPtr)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.d.log.Warn("cannot stat path", "root", root, "path", rel, "err", err)
		return
	}
	if x := c.cfg.Target.Exclude; exists && x != nil && rel != "" && x(root, rel, live.Type == baseline.TypeDir) {
		return
	}
	if !exists && !ok {
		return
	}
	var oldState, newState []baseline.Record
	if ok {
		oldState = []baseline.Record{prev}
	}
	if exists {
		newState = []baseline.Record{live}
	}
	c.compare(stateOf(oldState), stateOf(newState))
	c.checkRootConfig(root, rel)
}

// checkSubtree checks rel and every baseline record below it: the
// directory was removed or renamed away, its entries are gone unless they
// came back.
func (c *checker) checkSubtree(root, rel string) {
	c.checkPath(root, rel)
	prefix := rel + "/"
	if rel == "" {
		prefix = ""
	}
	for rec, err := range c.d.deps.Store.RootRecords(c.active.ID, root, prefix) {
		if err != nil {
			c.d.log.Warn("reading baseline records failed", "root", root, "prefix", prefix, "err", err)
			return
		}
		if rec.Path == "" {
			continue
		}
		c.checkPath(root, rec.Path)
		c.flushIfFull()
		if c.ctx.Err() != nil {
			return
		}
	}
}

func stateOf(recs []baseline.Record) baseline.State {
	return func(yield func(baseline.Record, error) bool) {
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

func (c *checker) compare(old, new baseline.State) error {
	_, err := baseline.Compare(old, new, func(ch baseline.Change) error {
		c.addFileChange(ch)
		c.flushIfFull()
		return c.ctx.Err()
	})
	return err
}

func (c *checker) context(now time.Time) policy.Context {
	return policy.Context{Now: now, Window: c.judge.WindowAt(now, c.adhoc)}
}

func (c *checker) addFileChange(ch baseline.Change) {
	now := time.Now()
	v := c.judge.EvaluateFile(ch, c.context(now))
	if v.Drop {
		return
	}
	fp := fileFingerprint(&ch)
	c.findings = append(c.findings, Finding{Fingerprint: fp, Time: now, Baseline: c.active, File: &ch, Verdict: v})
}

func (c *checker) addItemChange(ch serverconf.Change) {
	now := time.Now()
	v := c.judge.EvaluateItem(ch, c.context(now))
	if v.Drop {
		return
	}
	c.findings = append(c.findings, Finding{Fingerprint: itemFingerprint(&ch), Time: now, Baseline: c.active, Item: &ch, Verdict: v})
}

// checkConfigs re-parses the configured server configurations and
// reports how their inventory differs from the baseline's. Items from
// configuration files under the roots (web.config, .htaccess, .user.ini)
// are left to [checker.checkRootConfig], which runs when such a file
// changes.
func (c *checker) checkConfigs() {
	if len(c.cfg.Target.Configs) == 0 {
		return
	}
	old, err := c.d.deps.Store.Inventory(c.active.ID)
	if err != nil {
		c.d.log.Warn("cannot read the baseline's inventory", "baseline", c.active.ID, "err", err)
		return
	}
	old = slices.DeleteFunc(old, func(it serverconf.Item) bool { return c.underRoot(it.Source) })
	var items []serverconf.Item
	for _, cf := range c.cfg.Target.Configs {
		inv := serverconf.ParseFile(c.cfg.Target.Sysroot, cf.Path, cf.Server)
		if inv.Err != nil {
			c.d.log.Warn("server configuration cannot be parsed", "file", cf.Path, "err", inv.Err)
		}
		items = append(items, slices.DeleteFunc(inv.Items, func(it serverconf.Item) bool { return c.underRoot(it.Source) })...)
	}
	for _, ch := range serverconf.Diff(old, items) {
		c.addItemChange(ch)
	}
}

func (c *checker) underRoot(p string) bool {
	for _, r := range c.cfg.Target.Roots {
		if _, ok := relOf(r, p); ok {
			return true
		}
	}
	return false
}

// checkRootConfig reports inventory changes of one server configuration
// file found under a root (web.config, .htaccess, .user.ini), as
// "webfim diff" does for the files its walk finds.
func (c *checker) checkRootConfig(root, rel string) {
	server, ok := serverconf.ForFile(path.Base(rel))
	if !ok {
		return
	}
	abs := filepath.Join(root, filepath.FromSlash(rel))
	old, err := c.d.deps.Store.Inventory(c.active.ID)
	if err != nil {
		c.d.log.Warn("cannot read the baseline's inventory", "baseline", c.active.ID, "err", err)
		return
	}
	old = slices.DeleteFunc(old, func(it serverconf.Item) bool { return it.Source != abs })
	var items []serverconf.Item
	if fi, err := os.Lstat(abs); err == nil && fi.Mode().IsRegular() {
		items = serverconf.ParseFile(c.cfg.Target.Sysroot, abs, server).Items
	}
	for _, ch := range serverconf.Diff(old, items) {
		c.addItemChange(ch)
	}
}

func (c *checker) flushIfFull() {
	if len(c.findings) >= reportBatch {
		c.flush()
	}
}

func (c *checker) flush() {
	if len(c.findings) == 0 {
		return
	}
	if err := c.d.report(c.ctx, c.findings); err != nil && c.ctx.Err() == nil {
		c.d.log.Error("findings could not be queued; the next rescan reports them again", "findings", len(c.findings), "err", err)
	}
	c.findings = c.findings[:0]
}

// report dedupes findings against what was already reported and hands
// the new ones to the sink, then marks them seen. A crash between the
// two reports them again after the restart (at-least-once), with the same
// EventID.
func (d *Daemon) report(ctx context.Context, findings []Finding) error {
	d.reportMu.Lock()
	defer d.reportMu.Unlock()
	cfg, _, _, _ := d.snapshot()
	now := time.Now()
	var out []Finding
	inBatch := make(map[string]bool, len(findings))
	for _, f := range findings {
		if inBatch[f.Fingerprint] {
			continue
		}
		inBatch[f.Fingerprint] = true
		seen, ok, err := d.deps.Store.Seen(f.Fingerprint)
		if err != nil {
			return fmt.Errorf("checking whether a finding was reported: %w", err)
		}
		f.EventID = f.Fingerprint
		if ok {
			if cfg.ReminderInterval <= 0 || now.Sub(seen) < cfg.ReminderInterval {
				continue
			}
			f.Reminder = true
			f.EventID = f.Fingerprint + "-" + strconv.FormatInt(now.Unix(), 10)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil
	}
	var err error
	for attempt, wait := 0, time.Second; attempt < 3; attempt, wait = attempt+1, wait*2 {
		if err = d.deps.Sink.Emit(ctx, out); err == nil {
			break
		}
		d.log.Warn("queueing findings failed; retrying", "err", err, "in", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		d.metrics.emitErrors.Inc()
		return err
	}
	fps := make([]string, len(out))
	for i, f := range out {
		fps[i] = f.Fingerprint
		rule := f.Verdict.RuleID
		d.metrics.alerts.WithLabelValues(rule, f.Verdict.Kind()).Inc()
		d.logFinding(f)
	}
	if err := d.deps.Store.MarkSeenAll(now, fps...); err != nil {
		// Reported but not marked: reported once more later, never lost.
		d.log.Warn("cannot mark findings as reported; they may be reported again", "err", err)
	}
	return nil
}

func (d *Daemon) logFinding(f Finding) {
	attrs := []any{"rule", f.Verdict.RuleID, "severity", f.Verdict.Severity.String(), "kind", f.Verdict.Kind(), "id", f.EventID}
	if f.File != nil {
		attrs = append(attrs, "change", string(f.File.Kind), "root", f.File.Root, "path", f.File.Path)
	}
	if f.Item != nil {
		it := f.Item.New
		if it == nil {
			it = f.Item.Old
		}
		attrs = append(attrs, "change", string(f.Item.Kind), "server", it.Server, "item", it.Kind+" "+it.Name, "source", it.Source)
	}
	d.log.Info("finding", attrs...)
}

// recordIdentity is the part of a record that makes a finding new when
// it changes: content and metadata, and for non-directories the inode,
// mtime and ctime, so that a file written again (even with the same
// bytes) is a new finding while a file left alone is not.
func recordIdentity(r *baseline.Record) string {
	if r == nil {
		return "-"
	}
	s := fmt.Sprintf("%d|%o|%d|%d|%q|%x|%q", r.Type, uint32(r.Mode), r.UID, r.GID, r.Target, r.BLAKE3, r.Err)
	if r.Type != baseline.TypeDir {
		s += fmt.Sprintf("|%d|%d|%d|%d|%d", r.Size, r.Mtime, r.Ctime, r.Inode, r.Dev)
	}
	return s
}

func fileFingerprint(c *baseline.Change) string {
	h := sha256.New()
	fmt.Fprintf(h, "file\x00%s\x00%q\x00%q\x00%q\x00%s\x00%s", c.Kind, c.Root, c.Path, c.From, recordIdentity(c.Old), recordIdentity(c.New))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func itemFingerprint(c *serverconf.Change) string {
	h := sha256.New()
	fmt.Fprintf(h, "item\x00%s\x00", c.Kind)
	enc := json.NewEncoder(h) // maps marshal in key order: deterministic
	enc.Encode(c.Old)
	enc.Encode(c.New)
	return hex.EncodeToString(h.Sum(nil)[:16])
}
