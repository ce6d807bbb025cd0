package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"webfim/baseline"
	"webfim/indicators"
	"webfim/policy"
	"webfim/scan"
	"webfim/store"
	"webfim/trust"
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

// trustVerifier is the daemon's require_signed check (watch.Verifier):
// the check of "webfim diff" (trustedBaseline) over the store and the
// config's trusted keys. The check of the records is reused while the
// baseline's recorded statement and signatures are unchanged, so that the
// daemon can ask every poll about a refused baseline (whose signature may
// be attached later) without reading its records each time; the cheap
// part (is it older than the newest signed baseline the database has
// seen?) is done at every call, since signing another baseline changes
// it.
type trustVerifier struct {
	db   *store.DB
	ring *trust.KeyRing

	mu     sync.Mutex
	cached map[uint64]verifyResult
}

type verifyResult struct {
	trustData [sha256.Size]byte // of the statement and signatures checked
	rep       *trust.Report     // checkStored's
}

func newTrustVerifier(db *store.DB, ring *trust.KeyRing) *trustVerifier {
	return &trustVerifier{db: db, ring: ring, cached: map[uint64]verifyResult{}}
}

func (v *trustVerifier) Verify(_ context.Context, b scan.Baseline, full bool) (watch.Verified, error) {
	d, err := v.db.Digest(b.ID)
	if err != nil {
		return watch.Verified{}, untrustedIfDamaged(b, err)
	}
	h := sha256.New()
	h.Write(d.Statement)
	for _, s := range d.Signatures {
		fmt.Fprintf(h, "\x00%d:", len(s))
		h.Write(s)
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	v.mu.Lock()
	c, ok := v.cached[b.ID]
	v.mu.Unlock()
	rep := c.rep
	if !ok || full || c.trustData != key {
		if rep, _, err = checkStored(v.db, v.ring, b); err != nil {
			return watch.Verified{}, untrustedIfDamaged(b, err) // not cached: may be transient
		}
		v.mu.Lock()
		v.cached[b.ID] = verifyResult{trustData: key, rep: rep}
		v.mu.Unlock()
	}
	if err := checkTrusted(v.db, v.ring, b, rep); err != nil {
		if errors.Is(err, trust.ErrUntrusted) {
			return watch.Verified{}, err
		}
		return watch.Verified{}, untrustedIfDamaged(b, err)
	}
	return watch.Verified{Statement: rep.Signed, Signer: rep.SignedBy}, nil
}

// untrustedIfDamaged makes a baseline that cannot be read (damaged, or
// deleted) untrusted; other errors (the database locked) are passed on.
func untrustedIfDamaged(b scan.Baseline, err error) error {
	if errors.Is(err, store.ErrCorrupt) || errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("baseline %d%s: %w", b.ID, labelSuffix(b), &trust.UntrustedError{Reasons: []string{"it cannot be read: " + err.Error()}})
	}
	return err
}
