package watch

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	reg        *prometheus.Registry
	events     *prometheus.CounterVec
	alerts     *prometheus.CounterVec
	rescans    *prometheus.CounterVec
	overflows  prometheus.Counter
	emitErrors prometheus.Counter
	// attrDegraded is 1 for an attribution mechanism that does not work
	// fully, 0 for one that does.
	attrDegraded *prometheus.GaugeVec
	// configReads counts the reads of the server configurations (live
	// checks, registry notifications, rescans).
	configReads atomic.Uint64
}

// configChecks is the number of reads of the server configurations.
func (m *metrics) configChecks() uint64 { return m.configReads.Load() }

func newMetrics(d *Daemon) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webfim_watch_events_total", Help: "File system hints received, by kind (path, subtree, config, rescan).",
		}, []string{"kind"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webfim_alerts_total", Help: "Findings reported, by rule and event.kind (alert or event).",
		}, []string{"rule", "kind"}),
		rescans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webfim_watch_rescans_total", Help: "Rescans of a root, by reason and mode (fast or full).",
		}, []string{"reason", "mode"}),
		overflows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "webfim_watch_overflows_total", Help: "Notification queue overflows (events lost, roots rescanned).",
		}),
		emitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "webfim_watch_queue_errors_total", Help: "Batches of findings that could not be queued into the outbox.",
		}),
		attrDegraded: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "webfim_attribution_degraded", Help: "1 when process attribution does not work fully, by mechanism (process: the exec source; writer: fanotify), 0 when it does.",
		}, []string{"mechanism"}),
	}
	reg.MustRegister(m.events, m.alerts, m.rescans, m.overflows, m.emitErrors)
	if a := d.deps.Attribution; a != nil {
		reg.MustRegister(m.attrDegraded, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "webfim_attribution_spawns_dropped_total", Help: "Server spawns of shells or tools found but not reported because they came faster than the daemon could queue them.",
		}, func() float64 { return float64(a.SpawnsDropped()) }))
	}
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "webfim_watch_config_checks_total", Help: "Reads of the server configurations (on their files' events, registry notifications and rescans).",
	}, func() float64 { return float64(m.configReads.Load()) }))
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "webfim_watch_directories", Help: "Directories currently watched.",
		}, func() float64 {
			if t := d.currentTree(); t != nil {
				return float64(t.Dirs())
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "webfim_watch_degraded_roots", Help: "Roots that cannot be fully watched (inotify limits) and are rescanned instead.",
		}, func() float64 { return float64(len(d.degradedRoots())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "webfim_watch_pending_paths", Help: "Paths waiting for their debounce period.",
		}, func() float64 {
			d.mu.Lock()
			deb := d.deb
			d.mu.Unlock()
			if deb == nil {
				return 0
			}
			return float64(deb.Pending())
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "webfim_baselines_untrusted", Help: "Baselines refused because they are not what a trusted key signed (require_signed), not yet trusted since.",
		}, func() float64 {
			d.mu.Lock()
			defer d.mu.Unlock()
			return float64(len(d.refused))
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "webfim_active_baseline_age_seconds", Help: "Age of the active baseline.",
		}, func() float64 {
			_, _, active, _ := d.snapshot()
			if active.Created.IsZero() {
				return 0
			}
			return time.Since(active.Created).Seconds()
		}),
	)
	if d.deps.OutboxStats != nil {
		stats := d.deps.OutboxStats
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "webfim_outbox_depth", Help: "Alert documents waiting in the outbox.",
			}, func() float64 { n, _, _ := stats(); return float64(n) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "webfim_outbox_dropped_total", Help: "Alert documents dropped because the outbox was full.",
			}, func() float64 { _, n, _ := stats(); return float64(n) }),
		)
	}
	if d.deps.DeliveryErrors != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "webfim_delivery_errors_total", Help: "Failed deliveries to outputs.",
		}, func() float64 { return float64(d.deps.DeliveryErrors()) }))
	}
	if d.deps.DeadLetters != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "webfim_delivery_dead_letters_total", Help: "Alert documents an output rejected for good, kept in the dead-letter file instead of retried.",
		}, func() float64 { return float64(d.deps.DeadLetters()) }))
	}
	return m
}

func (d *Daemon) currentTree() *Tree {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tree
}

func (d *Daemon) degradedRoots() []string {
	t := d.currentTree()
	if t == nil {
		return nil
	}
	var out []string
	for _, s := range t.Status() {
		if s.Degraded {
			out = append(out, s.Root)
		}
	}
	return out
}

// Health describes the daemon for /healthz.
type Health struct {
	OK            bool     `json:"ok"`
	Problem       string   `json:"problem,omitempty"`
	Baseline      uint64   `json:"baseline"`
	WatchedDirs   int      `json:"watched_dirs"`
	DegradedRoots []string `json:"degraded_roots,omitempty"`
	MissingRoots  []string `json:"missing_roots,omitempty"`
	// Gaps are the monitoring gaps open now (see docs/watch.md): while
	// there is one, the daemon is not healthy.
	Gaps []HealthGap `json:"gaps,omitempty"`
}

// HealthGap is an open monitoring gap in /healthz.
type HealthGap struct {
	Reason string `json:"reason"`
	Path   string `json:"path,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Health reports whether the daemon runs and can read its database. A
// degraded root is reported but is not unhealthy: it is still covered by
// rescans.
func (d *Daemon) Health() Health {
	d.mu.Lock()
	h := Health{Baseline: d.active.ID}
	running, polled, poll := d.running, d.polled, d.cfg.PollInterval
	d.mu.Unlock()
	if t := d.currentTree(); t != nil {
		h.WatchedDirs = t.Dirs()
		for _, s := range t.Status() {
			if s.Degraded {
				h.DegradedRoots = append(h.DegradedRoots, s.Root)
			}
			if s.Missing {
				h.MissingRoots = append(h.MissingRoots, s.Root)
			}
		}
	}
	for _, g := range d.openGaps() {
		h.Gaps = append(h.Gaps, HealthGap{Reason: g.Reason, Path: g.Path, Detail: g.Detail})
	}
	switch {
	case !running:
		h.Problem = "not running"
	case time.Since(polled) > 10*poll+5*time.Second:
		h.Problem = "database not readable since " + polled.Format(time.RFC3339)
	case len(h.Gaps) > 0:
		h.Problem = "monitoring gap (" + h.Gaps[0].Reason + ")"
		if h.Gaps[0].Path != "" {
			h.Problem += " at " + h.Gaps[0].Path
		}
		if len(h.Gaps) > 1 {
			h.Problem += fmt.Sprintf(" and %d more", len(h.Gaps)-1)
		}
	default:
		h.OK = true
	}
	return h
}

// Handler serves /metrics (Prometheus) and /healthz (200 or 503, JSON).
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		h := d.Health()
		w.Header().Set("Content-Type", "application/json")
		if !h.OK {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(h)
	})
	return mux
}
