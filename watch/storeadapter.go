package watch

import (
	"context"
	"errors"
	"time"

	"webfim/baseline"
	"webfim/policy"
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

// BaselineCreator returns a Deps.CreateBaseline that walks cfg's roots
// (full hash), inventories its config files and commits the result as the
// active baseline, as "webfim baseline create" does.
func BaselineCreator(db *store.DB, label, version string) func(ctx context.Context, cfg Config) (BaselineInfo, error) {
	return func(ctx context.Context, cfg Config) (BaselineInfo, error) {
		start := time.Now()
		meta := store.Meta{Label: label, Roots: cfg.Roots, Configs: cfg.ConfigFiles, Version: version,
			Full: true, HashAllSHA256: cfg.HashAllSHA256, Sysroot: cfg.Sysroot}
		w, err := db.Begin(meta)
		if err != nil {
			return BaselineInfo{}, err
		}
		opt := baseline.Options{Full: true, Workers: cfg.Workers, HashAllSHA256: cfg.HashAllSHA256,
			ScriptExtensions: cfg.ScriptExtensions, CrossDevice: cfg.CrossDevice, Exclude: cfg.Exclude}
		for rec, err := range baseline.Walk(ctx, cfg.Roots, opt) {
			if err == nil {
				err = w.Put(rec)
			}
			if err != nil {
				w.Abort()
				return BaselineInfo{}, err
			}
		}
		var items []serverconf.Item
		for _, f := range cfg.ConfigFiles {
			items = append(items, serverconf.ParseFile(cfg.Sysroot, f, "").Items...)
		}
		if err := w.PutInventory(items); err != nil {
			w.Abort()
			return BaselineInfo{}, err
		}
		meta.Duration = time.Since(start)
		m, err := w.Commit(meta, true)
		if err != nil {
			return BaselineInfo{}, err
		}
		return InfoOf(m), nil
	}
}
