package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"webfim/baseline"
	"webfim/indicators"
	"webfim/policy"
	"webfim/scan"
	"webfim/store"
	"webfim/watch"
)

// The watch daemon reaches the database through small interfaces; these
// adapters put the store behind them. Each call is one short database
// session, so the CLI keeps working on the same file.

// daemonStore is the daemon's view of the database (watch.Store): the
// store's baselines and dedupe table as they are, the active baseline and
// the deploy window open now in the daemon's terms.
type daemonStore struct{ *store.DB }

func (s daemonStore) Active() (scan.Baseline, bool, error) {
	m, err := s.Resolve("active")
	if errors.Is(err, store.ErrNotFound) {
		return scan.Baseline{}, false, nil
	}
	if err != nil {
		return scan.Baseline{}, false, err
	}
	return m, true, nil
}

func (s daemonStore) AdhocWindows(now time.Time) ([]policy.Window, error) {
	list, err := s.WindowsBetween(now.Add(-watch.RecentWindows), now)
	if err != nil {
		return nil, err
	}
	out := make([]policy.Window, len(list))
	for i, w := range list {
		out[i] = policyWindow(w)
	}
	return out, nil
}

// outboxQueue is the outbox the daemon's sink writes (watch.Enqueuer).
type outboxQueue struct{ db *store.DB }

func (q outboxQueue) Enqueue(max int, docs ...watch.OutboxDoc) (int, error) {
	entries := make([]store.OutboxEntry, len(docs))
	for i, d := range docs {
		entries[i] = store.OutboxEntry{ID: d.ID, Doc: d.Doc, Enqueued: d.Enqueued}
	}
	return q.db.Enqueue(max, entries...)
}

// baselineCreator returns the daemon's Deps.CreateBaseline: a full
// snapshot of the daemon's target, as "webfim baseline create --full"
// takes, activated. The scripts it is about to trust that show web-shell
// indicators at medium or above are logged, as baseline create warns of
// them.
func baselineCreator(db *store.DB, label string, log *slog.Logger) func(ctx context.Context, cfg watch.Config) (scan.Baseline, error) {
	return func(ctx context.Context, cfg watch.Config) (scan.Baseline, error) {
		opt := scan.Options{Full: true, Workers: cfg.Workers, OnIndicators: func(r baseline.Record) {
			if r.Indicators != nil && r.Indicators.Level >= indicators.LevelMedium {
				log.Warn("web-shell indicators in a file about to be trusted", "root", r.Root, "path", r.Path,
					"indicators", policy.IndicatorSummary(r.Indicators))
			}
		}}
		return scan.Create(ctx, db, cfg.Target, label, version, opt, true)
	}
}
