package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"webfim/output"
	"webfim/store"
	"webfim/watch"
)

// Documents queued by the daemon's sink reach an output through the
// deliverer and leave the outbox once acknowledged.
func TestOutboxThroughDeliverer(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "webfim.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := &memOutput{name: "mem"}
	dl, err := output.NewDeliverer(storeOutbox{db}, []output.Output{out}, output.DelivererOptions{Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { dl.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	doc := []byte(`{"message":"hello"}`)
	if dropped, err := (outboxQueue{db}).Enqueue(0, watch.OutboxDoc{ID: "e1", Doc: doc, Enqueued: time.Now()}); err != nil || dropped != 0 {
		t.Fatalf("Enqueue = %d, %v", dropped, err)
	}
	dl.Notify()
	waitFor(t, "e1 delivered and acknowledged", func() bool {
		depth, _, err := db.OutboxStats()
		return err == nil && depth == 0 && out.has("e1")
	})
}

// The daemon sees the active baseline, and the deploy windows open now
// or recently, each ending when it was finished.
func TestDaemonStore(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "webfim.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := daemonStore{db}
	if _, ok, err := s.Active(); ok || err != nil {
		t.Fatalf("Active on an empty database = %v, %v", ok, err)
	}
	now := time.Now()
	if _, err := db.StartWindow(store.Window{Label: "v2", By: "ci", Start: now.Add(-time.Minute), End: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ws, err := s.AdhocWindows(now)
	if err != nil || len(ws) != 1 || ws[0].Label != "v2" || !ws[0].End.Equal(now.Add(time.Hour)) {
		t.Fatalf("AdhocWindows = %+v, %v", ws, err)
	}
	finished := now.Add(time.Second)
	if _, err := db.FinishWindow(finished); err != nil {
		t.Fatal(err)
	}
	if ws, err := s.AdhocWindows(now); err != nil || len(ws) != 1 || !ws[0].End.Equal(finished) {
		t.Errorf("after finish: AdhocWindows = %+v, %v; want the window ending when finished", ws, err)
	}
	// A change found after the window may have been made in it: the
	// window stays known, with its exact end, for watch.RecentWindows.
	if ws, err := s.AdhocWindows(finished.Add(time.Second)); err != nil || len(ws) != 1 || !ws[0].End.Equal(finished) || ws[0].Contains(finished.Add(time.Second)) {
		t.Errorf("after the window: AdhocWindows = %+v, %v; want it, ended", ws, err)
	}
	if ws, err := s.AdhocWindows(finished.Add(watch.RecentWindows + time.Second)); err != nil || len(ws) != 0 {
		t.Errorf("a day after the window: AdhocWindows = %+v, %v", ws, err)
	}
}
