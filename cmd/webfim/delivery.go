package main

import (
	"context"
	"errors"
	"sync"
	"time"

	"webfim/output"
	"webfim/store"
)

// storeOutbox is the database's outbox as the deliverer reads it: the
// daemon's sink enqueues into the same database, the deliverer takes
// entries out once every output acknowledged them. It implements
// output.PendingAfterOutbox, so a healthy output keeps delivering however
// far behind a failing one is.
type storeOutbox struct{ db *store.DB }

var _ output.PendingAfterOutbox = storeOutbox{}

func (o storeOutbox) Pending(n int) ([]output.Entry, error) { return o.PendingAfter(0, n) }

func (o storeOutbox) PendingAfter(after uint64, n int) ([]output.Entry, error) {
	list, err := o.db.PendingAfter(after, n)
	if err != nil {
		return nil, err
	}
	out := make([]output.Entry, len(list))
	for i, e := range list {
		out[i] = output.Entry{Seq: e.Seq, ID: e.ID, Doc: e.Doc, Enqueued: e.Enqueued}
	}
	return out, nil
}

func (o storeOutbox) Ack(seqs ...uint64) error { return o.db.Ack(seqs...) }

// delivery runs the deliverer of the daemon's current outputs, and
// replaces outputs and deliverer together when a reload (SIGHUP) changes
// the configured outputs. Entries that the old outputs had not all
// acknowledged stay in the outbox and go to the new outputs: delivery is
// at least once, and documents carry their event.id for deduplication.
type delivery struct {
	outbox output.Outbox
	opt    output.DelivererOptions

	mu      sync.Mutex
	dl      *output.Deliverer
	outs    []output.Output
	conf    []output.Config // what outs were built from
	cancel  context.CancelFunc
	done    chan struct{}
	errBase uint64 // delivery errors of the deliverers replaced so far
	dlBase  uint64 // dead letters of the deliverers replaced so far
}

// start builds the deliverer of outs (built from conf) and runs it until
// stop or replace.
func (m *delivery) start(outs []output.Output, conf []output.Config) error {
	dl, err := output.NewDeliverer(m.outbox, outs, m.opt)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { dl.Run(ctx); close(done) }()
	m.mu.Lock()
	m.dl, m.outs, m.conf, m.cancel, m.done = dl, outs, conf, cancel, done
	m.mu.Unlock()
	return nil
}

// configured returns the outputs configuration in use.
func (m *delivery) configured() []output.Config {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.conf
}

// Notify wakes the current deliverer (after an enqueue).
func (m *delivery) Notify() {
	m.mu.Lock()
	dl := m.dl
	m.mu.Unlock()
	if dl != nil {
		dl.Notify()
	}
}

// Errors counts the failed deliveries of every deliverer so far (a
// Prometheus counter must not go down when the outputs are replaced).
func (m *delivery) Errors() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dl == nil {
		return m.errBase
	}
	return m.errBase + m.dl.Errors()
}

// DeadLetters counts the documents kept in the dead letter by every
// deliverer so far.
func (m *delivery) DeadLetters() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dl == nil {
		return m.dlBase
	}
	return m.dlBase + m.dl.DeadLettered()
}

// halt stops the running deliverer and returns it with its outputs.
func (m *delivery) halt() (*output.Deliverer, []output.Output) {
	m.mu.Lock()
	dl, outs, cancel, done := m.dl, m.outs, m.cancel, m.done
	m.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return dl, outs
}

// replace stops the running deliverer, closes its outputs and starts
// delivering to outs.
func (m *delivery) replace(outs []output.Output, conf []output.Config) error {
	old, oldOuts := m.halt()
	m.mu.Lock()
	if old != nil {
		m.errBase += old.Errors()
		m.dlBase += old.DeadLettered()
	}
	m.dl = nil
	m.mu.Unlock()
	err := m.start(outs, conf)
	closeOutputs(oldOuts)
	return err
}

// stop ends delivery at shutdown: the deliverer stops, then the outbox is
// drained to the outputs for at most timeout, then they are closed.
func (m *delivery) stop(timeout time.Duration) error {
	dl, outs := m.halt()
	defer closeOutputs(outs)
	if dl == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := dl.Drain(ctx, timeout); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

func closeOutputs(outs []output.Output) {
	for _, o := range outs {
		o.Close()
	}
}
