package watch

import (
	"context"
	"errors"
	"time"

	"webfim/baseline"
	"webfim/policy"
	"webfim/scan"
	"webfim/serverconf"
	"webfim/store"
)

// StoreOf adapts a *store.DB to the daemon's [Store]. Each call is one
// short database session, so the CLI keeps working on the same file.
func StoreOf(db *store.DB) Store { return dbStore{db} }

type dbStore struct{ db *store.DB }

func (s dbStore) Active() (BaselineInfo, bool, error) {
	m, err := s.db.Resolve("active")
	if errors.Is(err, store.ErrNotFound) {
		return BaselineInfo{}, false, nil
	}
	if err != nil {
		return BaselineInfo{}, false, err
	}
	return InfoOf(m), true, nil
}

// InfoOf converts the store's metadata of a baseline.
func InfoOf(m store.Meta) BaselineInfo {
	return BaselineInfo{ID: m.ID, Label: m.Label, Created: m.Created, Roots: m.Roots, Configs: m.Configs}
}

func (s dbStore) AdhocWindows(now time.Time) ([]policy.Window, error) {
	w, ok, err := s.db.CurrentWindow(now)
	if err != nil || !ok {
		return nil, err
	}
	end := w.End
	if !w.Finished.IsZero() && w.Finished.Before(end) {
		end = w.Finished
	}
	return []policy.Window{{Label: w.Label, By: w.By, Start: w.Start, End: end}}, nil
}

func (s dbStore) Lookup(id uint64, root, path string) (baseline.Record, bool, error) {
	return s.db.Lookup(id, root, path)
}

func (s dbStore) RootRecords(id uint64, root, prefix string) baseline.State {
	return s.db.RootRecords(id, root, prefix)
}

func (s dbStore) Inventory(id uint64) ([]serverconf.Item, error) { return s.db.Inventory(id) }

func (s dbStore) Seen(fp string) (time.Time, bool, error) { return s.db.Seen(fp) }

func (s dbStore) MarkSeenAll(t time.Time, fps ...string) error { return s.db.MarkSeenAll(t, fps...) }

func (s dbStore) ForgetSeen(before time.Time) (int, error) { return s.db.ForgetSeen(before) }

// BaselineCreator returns a Deps.CreateBaseline that takes a full
// snapshot of cfg.Target with scan.Create (as "webfim baseline create
// --full" does) and activates it.
func BaselineCreator(db *store.DB, label, version string) func(ctx context.Context, cfg Config) (BaselineInfo, error) {
	return func(ctx context.Context, cfg Config) (BaselineInfo, error) {
		m, err := scan.Create(ctx, db, cfg.Target, label, version, scan.Options{Full: true, Workers: cfg.Workers}, true)
		if err != nil {
			return BaselineInfo{}, err
		}
		return InfoOf(m), nil
	}
}

func (s dbStore) Diff(ctx context.Context, from BaselineInfo, t scan.Target, opt scan.Options, emit scan.Emitter) (scan.Result, error) {
	return scan.Diff(ctx, s.db, store.Meta{ID: from.ID, Roots: from.Roots, Configs: from.Configs}, nil, t, opt, emit)
}
