package output

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Entry is one document waiting in the outbox, as stored by the database.
type Entry struct {
	Seq      uint64 // increasing; the delivery order
	ID       string // event.id
	Doc      []byte // the JSON document
	Enqueued time.Time
}

// Outbox is the durable queue the [Deliverer] reads. Pending returns the n
// oldest entries not yet acknowledged, in Seq order; Ack removes entries.
type Outbox interface {
	Pending(n int) ([]Entry, error)
	Ack(seqs ...uint64) error
}

// PendingAfterOutbox may be implemented by an [Outbox] to return the n
// oldest unacknowledged entries with Seq > after. With it, a healthy output
// keeps delivering however far another, failing output has fallen behind;
// without it, a healthy output gets at most [DelivererOptions].Window entries
// ahead of the slowest one.
type PendingAfterOutbox interface {
	Outbox
	PendingAfter(after uint64, n int) ([]Entry, error)
}

// DelivererOptions tunes a [Deliverer]; zero values mean the defaults.
type DelivererOptions struct {
	Batch      int           // documents per Write; default 100
	Window     int           // entries scanned per Pending call without PendingAfter; default 1000
	MinBackoff time.Duration // first delay after a failure; default 500ms
	MaxBackoff time.Duration // cap of the doubling delay; default 1m
	Poll       time.Duration // how often the outbox is checked without Notify; default 5s

	// OnDelivered is called after an output acknowledged n documents.
	OnDelivered func(output string, n int)
	// OnError is called for each failed Write (err may be a *PartialError)
	// and for outbox errors (output is then "outbox").
	OnError func(output string, err error)
	// OnAcked is called after n entries left the outbox.
	OnAcked func(n int)

	// DeadLetter keeps the documents an output rejected for good (see
	// [Rejection]): once kept there they count as done for that output and
	// are not sent to it again. Without a DeadLetter they are retried like
	// failed documents, so that none is lost.
	DeadLetter DeadLetter
	// OnDeadLetter is called for each document kept in DeadLetter.
	OnDeadLetter func(output string, r RejectedDoc)
}

// ErrDelivererRunning is returned by Run or Drain while another one runs.
var ErrDelivererRunning = errors.New("deliverer is already running")

// Deliverer moves entries from an [Outbox] to outputs. Each output has its
// own goroutine, position and backoff, so one output that is down neither
// blocks nor duplicates delivery to the others. An entry is acknowledged in
// the outbox once every output acknowledged it. Which outputs already have
// an entry is remembered only in memory: after a restart, unacknowledged
// entries are sent again to every output (at-least-once).
type Deliverer struct {
	outbox  Outbox
	outputs []Output
	opt     DelivererOptions
	allMask uint64
	wake    []chan struct{}
	running atomic.Bool

	// obMu serialises reading the outbox and filtering by delivered with
	// acknowledging and forgetting entries: else a page read just before an
	// Ack would be filtered just after it and re-sent.
	obMu sync.Mutex

	mu        sync.Mutex
	delivered map[uint64]uint64 // seq -> bit set of outputs that acknowledged it
	toAck     map[uint64]struct{}
	cursor    []uint64 // per output: every pending entry with Seq <= cursor was delivered to it
	// Summed over the outputs: documents acknowledged, documents kept in
	// the dead letter, failed Write calls.
	sent, deadLettered, failures uint64
	lastPrune                    time.Time
	pruneEvery                   time.Duration // 30s; tests shorten it
}

// NewDeliverer returns a Deliverer for 1 to 64 outputs. It does not close
// the outputs.
func NewDeliverer(outbox Outbox, outputs []Output, opt DelivererOptions) (*Deliverer, error) {
	if outbox == nil {
		return nil, errors.New("deliverer: no outbox")
	}
	if len(outputs) == 0 || len(outputs) > 64 {
		return nil, fmt.Errorf("deliverer: %d outputs; want 1 to 64", len(outputs))
	}
	if opt.Batch <= 0 {
		opt.Batch = 100
	}
	if opt.Window < opt.Batch {
		opt.Window = max(1000, opt.Batch)
	}
	if opt.MinBackoff <= 0 {
		opt.MinBackoff = 500 * time.Millisecond
	}
	if opt.MaxBackoff < opt.MinBackoff {
		opt.MaxBackoff = max(time.Minute, opt.MinBackoff)
	}
	if opt.Poll <= 0 {
		opt.Poll = 5 * time.Second
	}
	d := &Deliverer{
		outbox:     outbox,
		outputs:    outputs,
		opt:        opt,
		delivered:  make(map[uint64]uint64),
		toAck:      make(map[uint64]struct{}),
		cursor:     make([]uint64, len(outputs)),
		pruneEvery: 30 * time.Second,
	}
	for i := range outputs {
		d.allMask |= 1 << i
		d.wake = append(d.wake, make(chan struct{}, 1))
	}
	return d, nil
}

// Notify wakes the delivery goroutines: call it after enqueuing.
func (d *Deliverer) Notify() {
	for _, w := range d.wake {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// Run delivers until ctx is cancelled, then returns nil.
func (d *Deliverer) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return ErrDelivererRunning
	}
	defer d.running.Store(false)
	d.run(ctx, false)
	return nil
}

// Drain delivers until every output has nothing left to deliver, or until
// ctx ends or timeout passes; then it returns an error naming the outputs
// that did not finish. Use it on shutdown, after Run returned.
func (d *Deliverer) Drain(ctx context.Context, timeout time.Duration) error {
	if !d.running.CompareAndSwap(false, true) {
		return ErrDelivererRunning
	}
	defer d.running.Store(false)
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	// An output finishes a pass when it has nothing left that it can see;
	// without PendingAfter it may see more once the others' progress frees
	// the window, so passes repeat until one delivers nothing.
	for {
		before := d.totalDelivered()
		if err := d.run(ctx, true); err != nil {
			return err
		}
		if d.totalDelivered() == before {
			return nil
		}
	}
}

func (d *Deliverer) totalDelivered() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sent + d.deadLettered
}

// Errors returns the number of failed Write calls of all outputs.
func (d *Deliverer) Errors() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failures
}

// DeadLettered returns the number of documents that outputs rejected for
// good and that were kept in the dead letter.
func (d *Deliverer) DeadLettered() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.deadLettered
}

func (d *Deliverer) run(ctx context.Context, drain bool) error {
	errs := make([]error, len(d.outputs))
	var wg sync.WaitGroup
	for i := range d.outputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.work(ctx, i, drain)
		}()
	}
	wg.Wait()
	d.flushAcks()
	return errors.Join(errs...)
}

// work is the loop of output o. In drain mode it returns nil once o has
// nothing left, or an error when ctx ends first.
func (d *Deliverer) work(ctx context.Context, o int, drain bool) error {
	out := d.outputs[o]
	failures := 0
	var poll *time.Timer
	for {
		if ctx.Err() != nil {
			if drain {
				return fmt.Errorf("drain %s: %w", out.Name(), ctx.Err())
			}
			return nil
		}
		d.flushAcks()
		batch, err := d.next(o)
		if err != nil {
			d.report("outbox", -1, err)
			failures++
			sleep(ctx, expBackoff(d.opt.MinBackoff, d.opt.MaxBackoff, failures-1))
			continue
		}
		if len(batch) == 0 {
			if drain {
				return nil
			}
			if poll == nil {
				poll = time.NewTimer(d.opt.Poll)
				defer poll.Stop()
			} else {
				poll.Reset(d.opt.Poll)
			}
			select {
			case <-ctx.Done():
			case <-d.wake[o]:
			case <-poll.C:
			}
			continue
		}
		docs := make([]Doc, len(batch))
		for i, e := range batch {
			docs[i] = Doc{ID: e.ID, Body: e.Doc}
		}
		err = out.Write(ctx, docs)
		if err != nil && ctx.Err() != nil && !drain {
			// Shutting down: what was not acknowledged is drained or
			// sent after the restart; this is not an output failure.
			d.record(o, batch, undelivered(err, len(batch)), 0, nil)
			return nil
		}
		failed := failedIndexes(err, len(batch))
		kept := 0
		if rejected := rejections(err); len(rejected) > 0 {
			var notKept []int
			kept, notKept = d.keep(ctx, o, docs, rejected)
			failed = append(slices.Clone(failed), notKept...)
			slices.Sort(failed)
			if len(failed) == 0 {
				err = nil // every document is delivered or kept
			}
		}
		d.record(o, batch, failed, kept, err)
		if err != nil {
			d.report(out.Name(), o, err)
			failures++
			sleep(ctx, expBackoff(d.opt.MinBackoff, d.opt.MaxBackoff, failures-1))
			continue
		}
		failures = 0
	}
}

// next returns up to Batch entries not yet delivered to output o.
func (d *Deliverer) next(o int) ([]Entry, error) {
	bit := uint64(1) << o
	d.obMu.Lock()
	defer d.obMu.Unlock()
	d.mu.Lock()
	cur := d.cursor[o]
	// While no entry is partly delivered (the usual case), the oldest Batch
	// pending entries are exactly the next ones for every output.
	window := d.opt.Window
	if len(d.delivered) == 0 {
		window = d.opt.Batch
	}
	prune := len(d.delivered) > 4*d.opt.Window && time.Since(d.lastPrune) >= d.pruneEvery
	if prune {
		d.lastPrune = time.Now()
	}
	d.mu.Unlock()
	if prune {
		if err := d.prune(); err != nil {
			return nil, err
		}
	}
	pa, cursorAPI := d.outbox.(PendingAfterOutbox)
	for {
		var entries []Entry
		var err error
		if cursorAPI {
			entries, err = pa.PendingAfter(cur, d.opt.Batch)
		} else {
			entries, err = d.outbox.Pending(window)
		}
		if err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		d.mu.Lock()
		var batch []Entry
		leading := true
		for _, e := range entries {
			if e.Seq <= cur {
				continue
			}
			if d.delivered[e.Seq]&bit != 0 {
				if leading {
					cur = e.Seq
				}
				continue
			}
			leading = false
			batch = append(batch, e)
			if len(batch) == d.opt.Batch {
				break
			}
		}
		if cur > d.cursor[o] {
			d.cursor[o] = cur
		}
		d.mu.Unlock()
		// With PendingAfter, a page of entries all delivered already moves
		// the cursor on: look further.
		if len(batch) > 0 || !cursorAPI || len(entries) == 0 {
			return batch, nil
		}
	}
}

// prune forgets entries that left the outbox without being acknowledged
// here (dropped because the outbox was full).
func (d *Deliverer) prune() error {
	head, err := d.outbox.Pending(1)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for seq := range d.delivered {
		if len(head) == 0 || seq < head[0].Seq {
			delete(d.delivered, seq)
			delete(d.toAck, seq)
		}
	}
	return nil
}

// keep moves the documents that output o rejected for good to the dead
// letter. It returns how many it kept, and the indexes of those it could
// not keep, which stay failed.
func (d *Deliverer) keep(ctx context.Context, o int, docs []Doc, rejected []Rejection) (kept int, notKept []int) {
	var rds []RejectedDoc
	for _, r := range rejected {
		if r.Index < 0 || r.Index >= len(docs) {
			continue // not a document of this batch: nothing to keep
		}
		rds = append(rds, RejectedDoc{Doc: docs[r.Index], Reason: r.Reason})
		notKept = append(notKept, r.Index)
	}
	if d.opt.DeadLetter == nil || len(rds) == 0 {
		return 0, notKept
	}
	name := d.outputs[o].Name()
	if err := d.opt.DeadLetter.Keep(ctx, name, rds); err != nil {
		d.report("dead letter", o, fmt.Errorf("dead letter: %w", err))
		return 0, notKept
	}
	if d.opt.OnDeadLetter != nil {
		for _, r := range rds {
			d.opt.OnDeadLetter(name, r)
		}
	}
	return len(rds), nil
}

// undelivered returns which of n documents err says were not delivered,
// whether failed or rejected, in increasing order.
func undelivered(err error, n int) []int {
	out := slices.Clone(failedIndexes(err, n))
	for _, r := range rejections(err) {
		out = append(out, r.Index)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// record notes which entries output o acknowledged (all but failed; kept
// of them were rejected and kept in the dead letter) and acknowledges in
// the outbox those that every output has.
func (d *Deliverer) record(o int, batch []Entry, failed []int, kept int, err error) {
	bit := uint64(1) << o
	isFailed := make(map[int]bool, len(failed))
	for _, i := range failed {
		isFailed[i] = true
	}
	d.mu.Lock()
	firstFailed := -1
	n := 0
	for i, e := range batch {
		if isFailed[i] {
			if firstFailed < 0 {
				firstFailed = i
			}
			continue
		}
		n++
		m := d.delivered[e.Seq] | bit
		d.delivered[e.Seq] = m
		if m == d.allMask {
			d.toAck[e.Seq] = struct{}{}
		}
	}
	switch {
	case firstFailed < 0:
		d.cursor[o] = max(d.cursor[o], batch[len(batch)-1].Seq)
	case firstFailed > 0:
		d.cursor[o] = max(d.cursor[o], batch[firstFailed-1].Seq)
	}
	n -= kept
	d.sent += uint64(n)
	d.deadLettered += uint64(kept)
	if err != nil {
		d.failures++
	}
	d.mu.Unlock()
	if n > 0 && d.opt.OnDelivered != nil {
		d.opt.OnDelivered(d.outputs[o].Name(), n)
	}
	d.flushAcks()
}

// flushAcks acknowledges fully delivered entries; a failed Ack is retried
// on the next call.
func (d *Deliverer) flushAcks() {
	d.mu.Lock()
	if len(d.toAck) == 0 {
		d.mu.Unlock()
		return
	}
	seqs := make([]uint64, 0, len(d.toAck))
	for s := range d.toAck {
		seqs = append(seqs, s)
		delete(d.toAck, s)
	}
	d.mu.Unlock()
	d.obMu.Lock()
	defer d.obMu.Unlock()
	if err := d.outbox.Ack(seqs...); err != nil {
		d.mu.Lock()
		for _, s := range seqs {
			d.toAck[s] = struct{}{}
		}
		d.mu.Unlock()
		d.report("outbox", -1, fmt.Errorf("outbox: ack: %w", err))
		return
	}
	d.mu.Lock()
	for _, s := range seqs {
		delete(d.delivered, s)
	}
	d.mu.Unlock()
	// Acks move the Pending window on: outputs idle at its end have work.
	d.Notify()
	if d.opt.OnAcked != nil {
		d.opt.OnAcked(len(seqs))
	}
}

func (d *Deliverer) report(name string, _ int, err error) {
	if d.opt.OnError != nil {
		d.opt.OnError(name, err)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
