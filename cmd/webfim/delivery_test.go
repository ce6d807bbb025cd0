package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"webfim/config"
	"webfim/output"
	"webfim/store"
)

// memOutput records what it was given; while failing is set it refuses.
type memOutput struct {
	name    string
	mu      sync.Mutex
	ids     []string
	failing bool
	reject  string // the id of a document refused for good
	closed  bool
}

func (o *memOutput) Name() string { return o.name }

func (o *memOutput) Write(_ context.Context, docs []output.Doc) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failing {
		return errors.New("down")
	}
	var pe output.PartialError
	for i, d := range docs {
		if d.ID == o.reject {
			pe.Rejected = append(pe.Rejected, output.Rejection{Index: i, Reason: errors.New("400 mapper_parsing_exception")})
			pe.Err = pe.Rejected[0].Reason
			continue
		}
		o.ids = append(o.ids, d.ID)
	}
	if pe.Err != nil {
		return &pe
	}
	return nil
}

func (o *memOutput) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	return nil
}

func (o *memOutput) has(id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Contains(o.ids, id)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDeliveryReplace: replacing the outputs (a reload) closes the old
// ones, sends what they had not acknowledged and everything new to the
// new ones, and keeps the delivery-error count monotonic.
func TestDeliveryReplace(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "webfim.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	enqueue := func(id string) {
		t.Helper()
		if _, err := db.Enqueue(100, store.OutboxEntry{ID: id, Doc: []byte(`{"id":"` + id + `"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	dm := &delivery{outbox: storeOutbox{db}, opt: output.DelivererOptions{MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Poll: 10 * time.Millisecond}}
	a := &memOutput{name: "a"}
	confA := []output.Config{{Type: output.TypeStdout}}
	if err := dm.start([]output.Output{a}, confA); err != nil {
		t.Fatal(err)
	}
	enqueue("one")
	dm.Notify()
	waitFor(t, "one delivered to a", func() bool { return a.has("one") })

	// a goes down: "two" stays in the outbox and errors are counted.
	a.mu.Lock()
	a.failing = true
	a.mu.Unlock()
	enqueue("two")
	dm.Notify()
	waitFor(t, "failed deliveries counted", func() bool { return dm.Errors() >= 2 })
	before := dm.Errors()

	b := &memOutput{name: "b"}
	confB := []output.Config{{Type: output.TypeFile}}
	if err := dm.replace([]output.Output{b}, confB); err != nil {
		t.Fatal(err)
	}
	if !a.closed {
		t.Error("the replaced output was not closed")
	}
	if got := dm.configured(); !slices.EqualFunc(got, confB, func(x, y output.Config) bool { return x.Type == y.Type }) {
		t.Errorf("configured() = %+v after replace", got)
	}
	if dm.Errors() < before {
		t.Errorf("delivery errors went down from %d to %d on replace", before, dm.Errors())
	}
	waitFor(t, "two (never acknowledged by a) delivered to b", func() bool { return b.has("two") })
	enqueue("three")
	dm.Notify()
	waitFor(t, "three delivered to b", func() bool { return b.has("three") })
	if b.has("one") {
		t.Error("b got one, which a had acknowledged")
	}
	if a.has("three") {
		t.Error("the replaced output got a document after the replace")
	}
	if err := dm.stop(time.Second); err != nil {
		t.Fatal(err)
	}
	if !b.closed {
		t.Error("stop did not close the outputs")
	}
	if depth, _, err := db.OutboxStats(); err != nil || depth != 0 {
		t.Errorf("outbox after delivery: %d entries, %v; want empty", depth, err)
	}
}

func (o *memOutput) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.ids)
}

func (o *memOutput) setFailing(v bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failing = v
}

// TestStoreOutboxSeek runs a deliverer on the real database's outbox: a
// healthy output gets every entry however far a failing one fell behind
// (the outbox seeks past what the healthy one already has), and entries
// leave the outbox once both have them. Without the seek, the healthy
// output would stop a window ahead of the failing one (checked too).
func TestStoreOutboxSeek(t *testing.T) {
	const n, window = 300, 20
	opt := output.DelivererOptions{Batch: 10, Window: window, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Poll: 10 * time.Millisecond}
	run := func(t *testing.T, seek bool) (db *store.DB, good, bad *memOutput, stop func()) {
		db, err := store.Open(filepath.Join(t.TempDir(), "webfim.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		entries := make([]store.OutboxEntry, n)
		for i := range entries {
			entries[i] = store.OutboxEntry{ID: fmt.Sprint(i), Doc: []byte(`{}`)}
		}
		if _, err := db.Enqueue(0, entries...); err != nil {
			t.Fatal(err)
		}
		good, bad = &memOutput{name: "good"}, &memOutput{name: "bad", failing: true}
		var outbox output.Outbox = storeOutbox{db}
		if !seek {
			outbox = struct{ output.Outbox }{outbox} // Pending and Ack only
		}
		dl, err := output.NewDeliverer(outbox, []output.Output{good, bad}, opt)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { dl.Run(ctx); close(done) }()
		return db, good, bad, func() { cancel(); <-done }
	}

	t.Run("seek", func(t *testing.T) {
		db, good, bad, stop := run(t, true)
		defer stop()
		waitFor(t, "every entry delivered to the healthy output", func() bool { return good.count() == n })
		if depth, _, _ := db.OutboxStats(); bad.count() != 0 || depth != n {
			t.Fatalf("the failing output got %d entries, the outbox holds %d; want 0 and %d", bad.count(), depth, n)
		}
		bad.setFailing(false)
		waitFor(t, "the outbox emptied once the failing output recovered", func() bool {
			depth, _, err := db.OutboxStats()
			return err == nil && depth == 0
		})
		if good.count() != n || bad.count() != n {
			t.Errorf("delivered %d and %d entries, want %d each (no duplicates)", good.count(), bad.count(), n)
		}
	})
	t.Run("without seek", func(t *testing.T) {
		_, good, _, stop := run(t, false)
		defer stop()
		waitFor(t, "a window delivered to the healthy output", func() bool { return good.count() >= window })
		time.Sleep(200 * time.Millisecond)
		if got := good.count(); got != window {
			t.Errorf("without PendingAfter the healthy output got %d entries, want exactly the window of %d: the seek test proves nothing", got, window)
		}
	})
}

// TestDeliveryDeadLetter: a document an output rejects for good leaves the
// (real) outbox into the dead-letter file, and the count of dead letters
// survives a reload.
func TestDeliveryDeadLetter(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "webfim.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dlPath := config.Default().DeadLetterPath(db.Path())
	if dlPath != filepath.Join(dir, "webfim.deadletter.ndjson") {
		t.Errorf("default dead-letter file %s, want beside the database", dlPath)
	}
	dl, err := output.OpenDeadLetter(output.FileConfig{Path: dlPath})
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	var logged []string
	dm := &delivery{outbox: storeOutbox{db}, opt: output.DelivererOptions{
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Poll: 10 * time.Millisecond,
		DeadLetter:   dl,
		OnDeadLetter: func(_ string, r output.RejectedDoc) { logged = append(logged, r.Doc.ID) },
	}}
	a := &memOutput{name: "a", reject: "bad"}
	if err := dm.start([]output.Output{a}, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"one", "bad", "two"} {
		if _, err := db.Enqueue(100, store.OutboxEntry{ID: id, Doc: []byte(`{"id":"` + id + `"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	dm.Notify()
	waitFor(t, "outbox empty", func() bool { depth, _, _ := db.OutboxStats(); return depth == 0 })
	if !a.has("one") || !a.has("two") || a.has("bad") || dm.DeadLetters() != 1 {
		t.Errorf("delivered %v, dead letters %d; want one and two delivered, bad kept", a.ids, dm.DeadLetters())
	}
	if err := dm.replace([]output.Output{&memOutput{name: "b"}}, nil); err != nil {
		t.Fatal(err)
	}
	if dm.DeadLetters() != 1 {
		t.Errorf("dead letters %d after a reload, want 1", dm.DeadLetters())
	}
	if err := dm.stop(time.Second); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(dlPath)
	if err != nil || !strings.Contains(string(body), `"event_id":"bad"`) || !strings.Contains(string(body), `"document":{"id":"bad"}`) ||
		strings.Count(string(body), "\n") != 1 || !slices.Equal(logged, []string{"bad"}) {
		t.Errorf("dead-letter file %q (%v), logged %v; want one record of bad", body, err, logged)
	}
}
