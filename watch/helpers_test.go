package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"webfim/policy"
	"webfim/scan"
	"webfim/store"
)

// storeOf is the daemon's view of db, as the command wires it.
func storeOf(db *store.DB) Store { return testStore{db} }

type testStore struct{ *store.DB }

func (s testStore) Active() (scan.Baseline, bool, error) {
	m, err := s.Resolve("active")
	if errors.Is(err, store.ErrNotFound) {
		return scan.Baseline{}, false, nil
	}
	return m, err == nil, err
}

func (s testStore) AdhocWindows(now time.Time) ([]policy.Window, error) {
	list, err := s.WindowsBetween(now.Add(-RecentWindows), now)
	var out []policy.Window
	for _, w := range list {
		end := w.End
		if !w.Finished.IsZero() && w.Finished.Before(end) {
			end = w.Finished
		}
		out = append(out, policy.Window{Label: w.Label, By: w.By, Start: w.Start, End: end})
	}
	return out, err
}

// testOutbox is the store's outbox as the sink's Enqueuer.
type testOutbox struct{ db *store.DB }

func (o testOutbox) Enqueue(max int, docs ...OutboxDoc) (int, error) {
	entries := make([]store.OutboxEntry, len(docs))
	for i, d := range docs {
		entries[i] = store.OutboxEntry{ID: d.ID, Doc: d.Doc, Enqueued: d.Enqueued}
	}
	return o.db.Enqueue(max, entries...)
}

// baselineCreator takes and activates a full baseline of the daemon's
// target, as the command's Deps.CreateBaseline does.
func baselineCreator(db *store.DB, label string) func(context.Context, Config) (scan.Baseline, error) {
	return func(ctx context.Context, cfg Config) (scan.Baseline, error) {
		return scan.Create(ctx, db, cfg.Target, label, "test", scan.Options{Full: true, Workers: cfg.Workers}, true)
	}
}

const waitDeadline = 5 * time.Second

// waitUntil polls cond until it holds and reports whether it did within
// the given time. The tests wait through it for what they do not control:
// inotify, the daemon's goroutines, a second database handle.
func waitUntil(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return cond()
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// faultNotifier wraps the real fsnotify notifier so that tests can inject
// what the kernel rarely does on demand: failing Adds (ENOSPC, EMFILE),
// queue overflows and lost events.
type faultNotifier struct {
	Notifier
	events chan Event
	errs   chan error

	mu      sync.Mutex
	failAdd func(path string) error
	drop    bool
	dropped []string // paths of the events dropped
	added   []string
}

func newFaultNotifier(t *testing.T) *faultNotifier {
	t.Helper()
	real, err := NewNotifier(0)
	if err != nil {
		t.Fatal(err)
	}
	f := &faultNotifier{Notifier: real, events: make(chan Event, 1024), errs: make(chan error, 16)}
	go func() {
		for ev := range real.Events() {
			f.mu.Lock()
			drop := f.drop
			if drop {
				f.dropped = append(f.dropped, ev.Path)
			}
			f.mu.Unlock()
			if !drop {
				f.events <- ev
			}
		}
	}()
	go func() {
		for err := range real.Errors() {
			f.errs <- err
		}
	}()
	t.Cleanup(func() { real.Close() })
	return f
}

func (f *faultNotifier) Add(path string) error {
	f.mu.Lock()
	fail := f.failAdd
	f.mu.Unlock()
	if fail != nil {
		if err := fail(path); err != nil {
			return err
		}
	}
	f.mu.Lock()
	f.added = append(f.added, path)
	f.mu.Unlock()
	return f.Notifier.Add(path)
}

func (f *faultNotifier) Events() <-chan Event { return f.events }
func (f *faultNotifier) Errors() <-chan error { return f.errs }

func (f *faultNotifier) setDrop(drop bool) {
	f.mu.Lock()
	f.drop = drop
	f.mu.Unlock()
}

// loseEvents drops the events of what change does: it runs change, then
// writes the file marker and waits until the marker's event was dropped
// too, so that every event of change has passed (the kernel queues them
// in order).
func (f *faultNotifier) loseEvents(t *testing.T, marker string, change func()) {
	t.Helper()
	f.setDrop(true)
	defer f.setDrop(false)
	change()
	writeFile(t, marker, "")
	if !waitUntil(waitDeadline, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return slices.Contains(f.dropped, marker)
	}) {
		t.Fatalf("no event of %s within %s", marker, waitDeadline)
	}
}

// syncBuffer is a log sink safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// hintLog collects every hint a tree emits.
type hintLog struct {
	mu      sync.Mutex
	hints   []Hint
	markers int
}

func (l *hintLog) all() []Hint {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Hint(nil), l.hints...)
}

func (l *hintLog) reset() {
	l.mu.Lock()
	l.hints = nil
	l.mu.Unlock()
}

func (l *hintLog) count(match func(Hint) bool) int {
	n := 0
	for _, h := range l.all() {
		if match(h) {
			n++
		}
	}
	return n
}

// waitFor waits until a hint matching match arrived, failing after the
// deadline with the hints seen so far.
func (l *hintLog) waitFor(t *testing.T, what string, match func(Hint) bool) {
	t.Helper()
	if !waitUntil(waitDeadline, func() bool { return l.count(match) > 0 }) {
		t.Fatalf("no hint for %s within %s; got %v", what, waitDeadline, l.all())
	}
}

// expectNone fails if a hint matches once the events so far were
// handled: it writes a marker file in root (watched) and waits for its
// hint, which the tree emits after those of every earlier event.
func (l *hintLog) expectNone(t *testing.T, root, what string, match func(Hint) bool) {
	t.Helper()
	l.markers++
	marker := fmt.Sprintf(".marker%d", l.markers)
	writeFile(t, filepath.Join(root, marker), "")
	l.waitFor(t, "marker "+marker, pathHint(root, marker))
	for _, h := range l.all() {
		if match(h) {
			t.Fatalf("unexpected hint for %s: %+v", what, h)
		}
	}
}

func pathHint(root, rel string) func(Hint) bool {
	return func(h Hint) bool { return h.Kind == HintPath && h.Root == root && h.Rel == rel }
}

func kindHint(kind HintKind, root, rel string) func(Hint) bool {
	return func(h Hint) bool { return h.Kind == kind && h.Root == root && h.Rel == rel }
}

// startTree runs a Tree over opt with notifier n and returns the hint log
// once the initial watches are in place.
func startTree(t *testing.T, n Notifier, opt TreeOptions) (*Tree, *hintLog) {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	tr, err := NewTree(n, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Hint)
	log := &hintLog{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case h := <-out:
				log.mu.Lock()
				log.hints = append(log.hints, h)
				log.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	runDone := make(chan error, 1)
	go func() { runDone <- tr.Run(ctx, out) }()
	t.Cleanup(func() {
		cancel()
		<-runDone
		<-done
	})
	select {
	case <-tr.Ready():
	case err := <-runDone:
		t.Fatalf("tree stopped before ready: %v", err)
	case <-time.After(waitDeadline):
		t.Fatal("tree not ready")
	}
	return tr, log
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// tempRoot returns a clean absolute temporary directory without symlinks in
// its path, so that event paths compare equal.
func tempRoot(t *testing.T) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// placeFile makes path hold content in one step (written beside the root,
// then renamed in), so a check on a loaded machine never sees it half written.
func placeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), "placed")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
