package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"webfim/baseline"
	"webfim/policy"
	"webfim/scan"
	"webfim/serverconf"
	"webfim/trust"
)

// The daemon's parts, by role: this file is its lifecycle (start, reload,
// the pipeline of notifications); check.go turns settled hints into
// findings, report.go deduplicates and reports them, rescan.go runs the
// rescans, poll.go follows the database.

// Store is the daemon's view of the database: the baselines it compares
// against (through package scan), the deploy windows and the dedupe
// table. Every call is expected to be a short session (see
// docs/store.md), so the CLI can use the same database while the daemon
// runs. The command wires a *store.DB behind it.
type Store interface {
	scan.Baselines
	// Active returns the active baseline; ok is false if there is none.
	Active() (b scan.Baseline, ok bool, err error)
	// AdhocWindows returns the ad-hoc deploy windows open at now or at
	// some time in the [RecentWindows] before it, with their exact bounds
	// (a finished window ends when it was finished): a change is judged
	// by the window in force when it was made, which the daemon may get
	// to later.
	AdhocWindows(now time.Time) ([]policy.Window, error)
	Dedupe
}

// RecentWindows is how far back [Store.AdhocWindows] looks: a change
// found later than that after it was made is judged outside any ad-hoc
// window.
const RecentWindows = 24 * time.Hour

// Dedupe is the table of findings already reported, which survives
// restarts: a key (see report.go) to when it was last reported.
type Dedupe interface {
	Seen(key string) (last time.Time, ok bool, err error)
	MarkSeenAll(t time.Time, keys ...string) error
	// ForgetSeen drops the entries last reported before t.
	ForgetSeen(before time.Time) (int, error)
	// ForgetSeenUnder drops the entries whose key starts with one of
	// prefixes, except those keep (if set) returns true for.
	ForgetSeenUnder(prefixes []string, keep func(key string, last time.Time) bool) (int, error)
}

// Judge decides what a change means. *policy.Policy is one.
type Judge interface {
	EvaluateFile(c baseline.Change, ctx policy.Context) policy.Verdict
	EvaluateItem(c serverconf.Change, ctx policy.Context) policy.Verdict
	// EvaluateSpawn judges a server spawning a shell or tool, described
	// by what (alert.Spawn.Summary).
	EvaluateSpawn(what string, ctx policy.Context) policy.Verdict
	WindowAt(t time.Time, adhoc []policy.Window) *policy.Window
	// EvaluateBaseline judges a baseline refused under require_signed.
	EvaluateBaseline(reason string) policy.Verdict
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
	// long; 0 reports it once until it changes.
	ReminderInterval time.Duration
	// PollInterval is how often the store is asked for the active baseline
	// and deploy windows (default 1s, so changes by the CLI take effect
	// within 2s).
	PollInterval time.Duration

	RescanRateLimit int64 // bytes/s for rescans; 0 unlimited
	Workers         int   // hashing goroutines of rescans; 0 = NumCPU

	// Verifier, if set, requires signed baselines (require_signed): the
	// daemon does not start on a baseline it refuses, and a baseline
	// made active while it runs that it refuses is reported (a high
	// alert) while changes stay judged against the last verified one.
	// The baseline judged against is verified again, every record, at
	// each full rescan. See docs/trust.md.
	Verifier Verifier
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

// Deps are the daemon's collaborators.
type Deps struct {
	Store Store
	Judge Judge
	Sink  Sink
	// NewNotifier creates the notification source (default NewNotifier(0)).
	NewNotifier func() (Notifier, error)
	// CreateBaseline creates and activates a baseline of cfg's roots and
	// configs; called when the database has none.
	CreateBaseline func(ctx context.Context, cfg Config) (scan.Baseline, error)
	Logger         *slog.Logger
	// Attribution is process attribution (Linux): who wrote a changed
	// file, which server spawned a shell. Nil: off.
	Attribution Attributor
	// OutboxStats, DeliveryErrors and DeadLetters feed the metrics, if set.
	OutboxStats    func() (depth int, dropped uint64, err error)
	DeliveryErrors func() uint64
	DeadLetters    func() uint64
	// Busy reports whether an error of the Store means the database was
	// held by another process for longer than the lock timeout
	// (errors.Is(err, store.ErrLocked)): the checks and findings it
	// stopped are then kept and run again as soon as the database is
	// readable. Nil: no error is.
	Busy func(error) bool
	// DatabasePath is the database file, watched for being removed or
	// replaced (a monitoring gap); empty: not watched.
	DatabasePath string
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

	reloads    chan *pipeline // Reload hands the next pipeline to Run
	largeLane  chan Hint      // live checks of large files (lane.go)
	rescanWake chan struct{}
	// reportMu serialises the reports of the live checks and of the
	// rescans: a finding's dedupe lookup and its mark are one step.
	reportMu sync.Mutex

	mu      sync.Mutex // guards the fields below
	running bool
	cfg     Config
	judge   Judge
	active  scan.Baseline
	adhoc   []policy.Window
	polled  time.Time // last successful poll
	pollErr error
	tree    *Tree      // of the running pipeline, for metrics and health
	deb     *Debouncer // idem
	// lastNotice rate-limits repeated notices, by kind and root.
	lastNotice map[string]time.Time
	// pendingRescan and pendingConfig are the rescans queued for rescanLoop.
	pendingRescan map[string]rescanRequest
	pendingConfig bool
	warnedRoots   map[string]uint64 // root -> baseline id it was reported missing from
	// attrReported are the attribution degradations reported (mechanism
	// NUL reason): each is reported once per run, not at every reload.
	attrReported map[string]bool
	// newestSigned is the newest signed baseline verified since the
	// daemon started, by host; refused, the baselines refused since (by
	// id, with the reason reported). See trust.go.
	newestSigned map[string]trust.Mark
	refused      map[uint64]string
	// configSources are the sources of each server configuration's last
	// read (noteConfigSources); configWarned the inventory warnings
	// already logged.
	configSources map[string]serverconf.Sources
	configWarned  map[string]bool
	gaps          gapState
	deferred      deferredWork
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
		largeLane:     make(chan Hint, largeQueue),
		rescanWake:    make(chan struct{}, 1),
		lastNotice:    make(map[string]time.Time),
		pendingRescan: make(map[string]rescanRequest),
		warnedRoots:   make(map[string]uint64),
		attrReported:  make(map[string]bool),
		newestSigned:  make(map[string]trust.Mark),
		refused:       make(map[uint64]string),
	}
	d.metrics = newMetrics(d)
	return d, nil
}

func (d *Daemon) snapshot() (Config, Judge, scan.Baseline, []policy.Window) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg, d.judge, d.active, d.adhoc
}

// pipeline is the live part that a reload replaces: the notifier and the
// tree of watches over it, with the configuration they were built for.
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
		Roots: cfg.Target.Roots, ConfigFiles: cfg.fileConfigs(), Exclude: cfg.Target.Exclude,
		CrossDevice: cfg.Target.CrossDevice, DegradedInterval: cfg.DegradedInterval, Logger: d.log,
		Sysroot: cfg.Target.Sysroot,
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
	if cfg.Verifier != nil {
		// The baseline judged against must be trusted under the new keys.
		// One that no longer is (edited in the database) is also reported
		// as at a full rescan; the running configuration stays.
		_, _, b, _ := d.snapshot()
		ver, err := d.verify(ctx, cfg.Verifier, b, true)
		if err != nil {
			if errors.Is(err, trust.ErrUntrusted) {
				d.refuse(ctx, b, err)
			}
			return fmt.Errorf("watch: require_signed: %w", err)
		}
		d.trusted(ver)
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

// How a pipeline starts: what its first rescan is for.
const (
	startCreated = ""        // on a baseline just taken of the live state: nothing to catch up
	startUp      = "startup" // catch up with what changed while the daemon was not running
	startReload  = "reload"  // cover the moment the watches were being rebuilt
)

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
	if err := d.noteDatabase(); err != nil {
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
	bg.Go(func() { d.pollLoop(ctx) })
	bg.Go(func() { d.rescanLoop(ctx) })
	bg.Go(func() { d.largeWorker(ctx) })
	bg.Go(func() { d.spawnLoop(ctx) })

	start := startUp
	if created {
		start = startCreated
	}
	for p != nil {
		next, err := d.runPipeline(ctx, p, start)
		if err != nil {
			return err
		}
		if next != nil {
			d.mu.Lock()
			d.cfg, d.judge = next.cfg, next.judge
			d.mu.Unlock()
			d.log.Info("configuration reloaded", "roots", len(next.cfg.Target.Roots), "configs", len(next.cfg.Target.Configs))
		}
		p, start = next, startReload
	}
	return nil
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
		if cfg.Verifier != nil {
			return false, fmt.Errorf("watch: %w, and require_signed is set: take a signed one first (webfim baseline create --sign-key FILE, or sign it elsewhere: see docs/trust.md)", ErrNoBaseline)
		}
		d.log.Warn("no baseline in the database: creating one first; changes made before it are not reported", "roots", cfg.Target.Roots)
		info, err = d.deps.CreateBaseline(ctx, cfg)
		if err != nil {
			return false, fmt.Errorf("watch: creating the first baseline: %w", err)
		}
		d.log.Info("baseline created", "id", info.ID, "label", info.Label)
		d.notice(ctx, Notice{Kind: NoticeBaselineCreated, Roots: info.Roots, Message: fmt.Sprintf("no baseline existed: created baseline %d of %d root(s); changes before it are not reported", info.ID, len(info.Roots))})
		created = true
	} else if err := d.checkStart(ctx, cfg.Verifier, info); err != nil {
		return false, err
	}
	// The deploy windows open now, before the first check: a window
	// opened before the daemon started covers its catch-up scan and its
	// first changes, not only those after the first poll.
	adhoc, err := d.deps.Store.AdhocWindows(time.Now())
	if err != nil {
		d.log.Warn("cannot read the deploy windows; reading them again at the next poll", "err", err)
	}
	d.mu.Lock()
	d.active = info
	d.adhoc = adhoc
	d.polled = time.Now()
	d.mu.Unlock()
	return created, nil
}

// runPipeline runs p until ctx is done (returning nil, nil), a reload
// hands over the next pipeline (returned) or the tree fails (its error).
// start says what the first rescan, once the watches are in place, is for.
func (d *Daemon) runPipeline(ctx context.Context, p *pipeline, start string) (*pipeline, error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		p.n.Close()
	}()
	deb := NewDebouncer(p.cfg.Debounce)
	d.mu.Lock()
	d.tree, d.deb = p.tree, deb
	d.mu.Unlock()
	// Writers are attributed from before the first look at the roots.
	d.startAttribution(ctx, p.cfg.Target.Roots)

	hints := make(chan Hint, 256)
	batches := make(chan []Hint)
	treeErr := make(chan error, 1)
	wg.Go(func() { treeErr <- p.tree.Run(ctx, hints) })
	wg.Go(func() { deb.Run(ctx, d.countHints(ctx, hints), batches) })
	wg.Go(func() { d.worker(ctx, batches) })
	if p.cfg.liveRegistry() {
		wg.Go(func() { d.watchRegistry(ctx) })
	}

	// failed is the end of the pipeline by a tree error, or by ctx (the
	// tree then returns ctx's error, which is no failure).
	failed := func(err error) (*pipeline, error) {
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, err
	}
	select {
	case <-p.tree.Ready():
	case err := <-treeErr:
		return failed(err)
	case <-ctx.Done():
		return nil, nil
	}
	d.log.Info("watching", "roots", len(p.cfg.Target.Roots), "dirs", p.tree.Dirs(), "configs", len(p.cfg.Target.Configs))
	switch start {
	case startUp:
		d.notice(ctx, Notice{Kind: NoticeCatchUp, Roots: p.cfg.Target.Roots, Message: "catch-up scan: reporting changes made while webfim was not watching"})
	case startReload:
		d.log.Info("rescanning the roots for changes made while the watches were rebuilt", "roots", len(p.cfg.Target.Roots))
	}
	if start != startCreated {
		d.requestRescan(p.cfg.Target.Roots, false, start)
		d.requestConfigCheck()
	}
	wg.Go(func() {
		p.cfg.Schedule.Run(ctx, func(ctx context.Context, full bool) {
			reason := "periodic"
			if full {
				reason = "periodic_full"
				d.reverify(ctx, p.cfg.Verifier)
			}
			d.requestRescan(p.cfg.Target.Roots, full, reason)
			d.requestConfigCheck()
		})
	})

	select {
	case <-ctx.Done():
		return nil, nil
	case err := <-treeErr:
		return failed(err)
	case next := <-d.reloads:
		return next, nil
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
