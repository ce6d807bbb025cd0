package output

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// memOutbox is an in-memory Outbox; with cursor set it also implements
// PendingAfter (see cursorOutbox).
type memOutbox struct {
	mu       sync.Mutex
	entries  []Entry // pending, in Seq order
	next     uint64
	ackFails int // fail this many Ack calls
	acks     int
}

func (m *memOutbox) add(docs ...Doc) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range docs {
		m.next++
		m.entries = append(m.entries, Entry{Seq: m.next, ID: d.ID, Doc: d.Body, Enqueued: time.Now()})
	}
}

func (m *memOutbox) Pending(n int) ([]Entry, error) {
	return m.PendingAfter(0, n)
}

func (m *memOutbox) PendingAfter(after uint64, n int) ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Entry
	for _, e := range m.entries {
		if e.Seq > after && len(out) < n {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memOutbox) Ack(seqs ...uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ackFails > 0 {
		m.ackFails--
		return errors.New("database is locked")
	}
	m.acks++
	m.entries = slices.DeleteFunc(m.entries, func(e Entry) bool { return slices.Contains(seqs, e.Seq) })
	return nil
}

func (m *memOutbox) depth() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// windowOutbox hides PendingAfter.
type windowOutbox struct{ m *memOutbox }

func (w windowOutbox) Pending(n int) ([]Entry, error) { return w.m.Pending(n) }
func (w windowOutbox) Ack(seqs ...uint64) error       { return w.m.Ack(seqs...) }

// recOutput records what it was given; it can be down or reject documents.
type recOutput struct {
	name string
	down atomic.Bool

	mu       sync.Mutex
	got      []string       // IDs acknowledged, in order
	attempts map[string]int // Write attempts per ID
	rejectID map[string]int // reject this ID so many times
}

func newRec(name string) *recOutput {
	return &recOutput{name: name, attempts: map[string]int{}, rejectID: map[string]int{}}
}

func (r *recOutput) Name() string { return r.name }
func (r *recOutput) Close() error { return nil }
func (r *recOutput) Write(ctx context.Context, docs []Doc) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range docs {
		r.attempts[d.ID]++
	}
	if r.down.Load() {
		return errors.New(r.name + " is down")
	}
	var failed []int
	for i, d := range docs {
		if r.rejectID[d.ID] > 0 {
			r.rejectID[d.ID]--
			failed = append(failed, i)
			continue
		}
		r.got = append(r.got, d.ID)
	}
	if failed != nil {
		return &PartialError{Failed: failed, Err: errors.New("rejected")}
	}
	return nil
}

func (r *recOutput) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *recOutput) attemptsOf(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts[id]
}

func docIDs(from, n int) []string {
	var ids []string
	for _, d := range testDocs(from, n) {
		ids = append(ids, d.ID)
	}
	return ids
}

// waitFor polls cond for up to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10s waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var fastOpts = DelivererOptions{Batch: 7, MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, Poll: 20 * time.Millisecond}

func startDeliverer(t *testing.T, ob Outbox, opt DelivererOptions, outs ...Output) (*Deliverer, func()) {
	t.Helper()
	d, err := NewDeliverer(ob, outs, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return 10s after cancel")
		}
	}
	return d, stop
}

func TestDelivererOutputDownThenUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ob := &memOutbox{}
		out := newRec("flaky")
		out.down.Store(true)
		var errs, delivered, acked atomic.Int64
		opt := fastOpts
		opt.OnError = func(string, error) { errs.Add(1) }
		opt.OnDelivered = func(name string, n int) {
			if name != "flaky" {
				t.Errorf("OnDelivered(%q)", name)
			}
			delivered.Add(int64(n))
		}
		opt.OnAcked = func(n int) { acked.Add(int64(n)) }
		d, stop := startDeliverer(t, ob, opt, out)
		defer stop()
		ob.add(testDocs(0, 20)...)
		d.Notify()
		waitFor(t, "several failed attempts", func() bool { return errs.Load() >= 3 })
		if n := ob.depth(); n != 20 {
			t.Fatalf("outbox has %d entries while the output is down, want all 20 kept", n)
		}
		out.down.Store(false)
		waitFor(t, "outbox empty", func() bool { return ob.depth() == 0 })
		if got, want := out.ids(), docIDs(0, 20); !slices.Equal(got, want) {
			t.Fatalf("delivered %v, want %v", got, want)
		}
		if delivered.Load() != 20 || acked.Load() != 20 {
			t.Errorf("delivered %d, acknowledged %d; want 20 and 20", delivered.Load(), acked.Load())
		}
		if d.Errors() != uint64(errs.Load()) || d.Errors() < 3 {
			t.Errorf("Errors() = %d, want the %d failures reported", d.Errors(), errs.Load())
		}
	})
}

func TestDelivererOneOutputFailing(t *testing.T) {
	for _, c := range []struct {
		name   string
		cursor bool
	}{{"PendingAfter", true}, {"Pending window", false}} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				mem := &memOutbox{}
				var ob Outbox = mem
				opt := fastOpts
				opt.Window = 30
				if !c.cursor {
					ob = windowOutbox{mem}
				}
				good, bad := newRec("good"), newRec("bad")
				bad.down.Store(true)
				d, stop := startDeliverer(t, ob, opt, good, bad)
				defer stop()
				mem.add(testDocs(0, 50)...)
				d.Notify()
				// The healthy output gets everything (or, without PendingAfter,
				// the first Window entries), each exactly once.
				want := 50
				if !c.cursor {
					want = opt.Window
				}
				waitFor(t, "healthy output delivered", func() bool { return len(good.ids()) >= want })
				// Several more rounds, on the bubble's clock: nothing may be re-sent.
				time.Sleep(100 * time.Millisecond)
				synctest.Wait()
				if got := good.ids(); !slices.Equal(got, docIDs(0, want)) {
					t.Fatalf("healthy output got %d docs %v, want %d in order, once each", len(got), got, want)
				}
				if mem.depth() != 50 {
					t.Fatalf("outbox depth %d while one output is down, want 50", mem.depth())
				}
				bad.down.Store(false)
				waitFor(t, "outbox empty", func() bool { return mem.depth() == 0 })
				for _, o := range []*recOutput{good, bad} {
					if got := o.ids(); !slices.Equal(got, docIDs(0, 50)) {
						t.Errorf("%s got %v, want all 50 once each in order", o.name, got)
					}
				}
				if n := good.attemptsOf("id-00003"); n != 1 {
					t.Errorf("healthy output was given id-00003 %d times, want 1", n)
				}
			})
		})
	}
}

func TestDelivererRetriesOnlyFailedDocs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ob := &memOutbox{}
		out := newRec("picky")
		out.rejectID["id-00002"] = 2
		_, stop := startDeliverer(t, ob, fastOpts, out)
		defer stop()
		ob.add(testDocs(0, 5)...)
		waitFor(t, "outbox empty", func() bool { return ob.depth() == 0 })
		for i, id := range docIDs(0, 5) {
			want := 1
			if i == 2 {
				want = 3
			}
			if n := out.attemptsOf(id); n != want {
				t.Errorf("%s was written %d times, want %d", id, n, want)
			}
		}
		got := out.ids()
		slices.Sort(got)
		if !slices.Equal(got, docIDs(0, 5)) {
			t.Errorf("delivered %v", got)
		}
	})
}

func TestDelivererAckFailureDoesNotResend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ob := &memOutbox{ackFails: 3}
		a, b := newRec("a"), newRec("b")
		var ackErrs atomic.Int64
		opt := fastOpts
		opt.OnError = func(name string, err error) {
			if name == "outbox" {
				ackErrs.Add(1)
			}
		}
		_, stop := startDeliverer(t, ob, opt, a, b)
		defer stop()
		ob.add(testDocs(0, 10)...)
		waitFor(t, "outbox empty", func() bool { return ob.depth() == 0 })
		if ackErrs.Load() != 3 {
			t.Errorf("%d ack errors reported, want 3", ackErrs.Load())
		}
		for _, o := range []*recOutput{a, b} {
			if got := o.ids(); !slices.Equal(got, docIDs(0, 10)) {
				t.Errorf("%s got %v, want each once", o.name, got)
			}
		}
	})
}

func TestDelivererDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ob := &memOutbox{}
		out := newRec("out")
		d, stop := startDeliverer(t, ob, DelivererOptions{Poll: time.Hour}, out)
		stop() // shutdown requested before anything was delivered
		ob.add(testDocs(0, 250)...)
		if err := d.Drain(context.Background(), 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if ob.depth() != 0 || len(out.ids()) != 250 {
			t.Fatalf("after drain: depth %d, delivered %d; want 0, 250", ob.depth(), len(out.ids()))
		}

		// An output that stays down: Drain gives up at the timeout, naming
		// it, and the entries stay in the outbox.
		out.down.Store(true)
		ob.add(testDocs(250, 3)...)
		d2, err := NewDeliverer(ob, []Output{out}, fastOpts)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = d2.Drain(context.Background(), 200*time.Millisecond)
		if err == nil || !errors.Is(err, context.DeadlineExceeded) || !contains(err.Error(), "out") {
			t.Fatalf("Drain with the output down = %v, want a deadline error naming the output", err)
		}
		if el := time.Since(start); el != 200*time.Millisecond {
			t.Errorf("Drain took %v, want the 200ms timeout", el)
		}
		if ob.depth() != 3 {
			t.Errorf("outbox depth %d after failed drain, want 3", ob.depth())
		}
	})
}

func TestDelivererRunTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, stop := startDeliverer(t, &memOutbox{}, fastOpts, newRec("x"))
		defer stop()
		waitFor(t, "Run started", func() bool { return d.running.Load() })
		if err := d.Run(context.Background()); !errors.Is(err, ErrDelivererRunning) {
			t.Errorf("second Run = %v, want ErrDelivererRunning", err)
		}
	})
}

func TestNewDelivererErrors(t *testing.T) {
	if _, err := NewDeliverer(&memOutbox{}, nil, DelivererOptions{}); err == nil {
		t.Error("no outputs: no error")
	}
	if _, err := NewDeliverer(nil, []Output{newRec("x")}, DelivererOptions{}); err == nil {
		t.Error("no outbox: no error")
	}
	outs := make([]Output, 65)
	for i := range outs {
		outs[i] = newRec(fmt.Sprint(i))
	}
	if _, err := NewDeliverer(&memOutbox{}, outs, DelivererOptions{}); err == nil {
		t.Error("65 outputs: no error")
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestDelivererForgetsEntriesDroppedFromOutbox(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ob := &memOutbox{}
		good, bad := newRec("good"), newRec("bad")
		bad.down.Store(true)
		opt := fastOpts
		opt.Window = 10
		d, err := NewDeliverer(ob, []Output{good, bad}, opt)
		if err != nil {
			t.Fatal(err)
		}
		d.pruneEvery = 0
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- d.Run(ctx) }()
		defer func() { cancel(); <-done }()
		ob.add(testDocs(0, 50)...)
		d.Notify()
		waitFor(t, "healthy output delivered", func() bool { return len(good.ids()) == 50 })
		// The outbox overflows: the oldest 45 are dropped (and counted by the store).
		ob.mu.Lock()
		ob.entries = ob.entries[45:]
		ob.mu.Unlock()
		ob.add(testDocs(50, 1)...)
		d.Notify()
		waitFor(t, "dropped entries forgotten", func() bool {
			d.mu.Lock()
			defer d.mu.Unlock()
			return len(d.delivered) <= 6
		})
		bad.down.Store(false)
		waitFor(t, "outbox empty", func() bool { return ob.depth() == 0 })
		if got := bad.ids(); !slices.Equal(got, docIDs(45, 6)) {
			t.Errorf("recovered output got %v, want the 6 kept entries", got)
		}
	})
}

func TestDelivererDrainBeyondWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Without PendingAfter, the fast output sees only Window entries ahead
		// of the slow one; Drain must still deliver everything.
		mem := &memOutbox{}
		fast, slow := newRec("fast"), &slowOutput{recOutput: newRec("slow"), delay: 2 * time.Millisecond}
		opt := fastOpts
		opt.Window = 10
		d, err := NewDeliverer(windowOutbox{mem}, []Output{fast, slow}, opt)
		if err != nil {
			t.Fatal(err)
		}
		mem.add(testDocs(0, 100)...)
		if err := d.Drain(context.Background(), 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if mem.depth() != 0 {
			t.Fatalf("outbox depth %d after Drain, want 0", mem.depth())
		}
		for _, o := range []*recOutput{fast, slow.recOutput} {
			if got := o.ids(); !slices.Equal(got, docIDs(0, 100)) {
				t.Errorf("%s got %d docs, want all 100 once each in order", o.name, len(got))
			}
		}
	})
}

type slowOutput struct {
	*recOutput
	delay time.Duration
}

func (s *slowOutput) Write(ctx context.Context, docs []Doc) error {
	time.Sleep(s.delay)
	return s.recOutput.Write(ctx, docs)
}

func TestDelivererWindowMovesWithoutPolling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := &memOutbox{}
		fast, slow := newRec("fast"), &slowOutput{recOutput: newRec("slow"), delay: 2 * time.Millisecond}
		opt := fastOpts
		opt.Window, opt.Poll = 10, time.Hour // only Notify and acks wake the outputs
		d, stop := startDeliverer(t, windowOutbox{mem}, opt, fast, slow)
		defer stop()
		mem.add(testDocs(0, 100)...)
		d.Notify()
		waitFor(t, "outbox empty", func() bool { return mem.depth() == 0 })
		if got := fast.ids(); !slices.Equal(got, docIDs(0, 100)) {
			t.Errorf("fast got %d, want 100 once each", len(got))
		}
	})
}

// chaosOutput fails whole batches or single documents at random.
type chaosOutput struct {
	*recOutput
	mu  sync.Mutex
	rnd *rand.Rand
}

func (c *chaosOutput) Write(ctx context.Context, docs []Doc) error {
	c.mu.Lock()
	roll := c.rnd.IntN(10)
	var reject []string
	for _, d := range docs {
		if c.rnd.IntN(5) == 0 {
			reject = append(reject, d.ID)
		}
	}
	c.mu.Unlock()
	if roll < 3 {
		c.recOutput.mu.Lock()
		for _, d := range docs {
			c.recOutput.attempts[d.ID]++
		}
		c.recOutput.mu.Unlock()
		return errors.New("random outage")
	}
	c.recOutput.mu.Lock()
	for _, id := range reject {
		c.recOutput.rejectID[id]++
	}
	c.recOutput.mu.Unlock()
	return c.recOutput.Write(ctx, docs)
}

func TestDelivererChaos(t *testing.T) {
	for _, cursor := range []bool{true, false} {
		t.Run(fmt.Sprint("PendingAfter=", cursor), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				mem := &memOutbox{ackFails: 5}
				var ob Outbox = mem
				if !cursor {
					ob = windowOutbox{mem}
				}
				var outs []Output
				var recs []*recOutput
				for i := range 3 {
					r := newRec(fmt.Sprint("out", i))
					recs = append(recs, r)
					outs = append(outs, &chaosOutput{recOutput: r, rnd: rand.New(rand.NewPCG(uint64(i), 42))})
				}
				opt := fastOpts
				opt.MinBackoff, opt.MaxBackoff, opt.Window = time.Millisecond, 5*time.Millisecond, 20
				var acked atomic.Int64
				opt.OnAcked = func(n int) { acked.Add(int64(n)) }
				d, stop := startDeliverer(t, ob, opt, outs...)
				for i := 0; i < 300; i += 10 {
					mem.add(testDocs(i, 10)...)
					d.Notify()
					time.Sleep(time.Millisecond)
				}
				waitFor(t, "outbox empty", func() bool { return mem.depth() == 0 })
				stop()
				for _, r := range recs {
					got := r.ids()
					slices.Sort(got)
					if !slices.Equal(got, docIDs(0, 300)) {
						t.Errorf("%s acknowledged %d documents, want each of the 300 exactly once", r.name, len(got))
					}
				}
				if acked.Load() != 300 {
					t.Errorf("acknowledged %d entries, want 300", acked.Load())
				}
			})
		})
	}
}
