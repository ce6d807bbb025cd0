package watch

import (
	"container/heap"
	"context"
	"sync/atomic"
	"time"
)

// DebounceOptions configures a [Debouncer].
type DebounceOptions struct {
	// Quiet is how long a path must see no hint before it is handed on
	// (default 300ms): a file written in many chunks is checked once.
	Quiet time.Duration
	// MaxDelay caps the wait (default 2s), so that a file written
	// continuously is still checked regularly.
	MaxDelay time.Duration
	// MaxPending bounds the number of paths held (default 100,000). When
	// it is reached, the pending paths of the root receiving the new hint
	// are replaced by one rescan of that root (ReasonQueueFull).
	MaxPending int
}

// Debouncer turns a stream of hints into batches of settled hints: per
// path, it waits until Quiet passed without a new hint (or MaxDelay since
// the first), merging HintPath into HintSubtree. HintRescan passes
// straight on and supersedes the pending paths of its root; HintConfig is
// debounced by its Path.
type Debouncer struct {
	opt     DebounceOptions
	pending map[string]*pendingHint
	queue   deadlineQueue
	ready   []Hint
	// rescanning marks roots with a rescan in ready: their path hints are
	// covered by it and dropped.
	rescanning map[string]bool
	now        func() time.Time
	npending   atomic.Int64
}

type pendingHint struct {
	hint        Hint
	first, last time.Time
}

// NewDebouncer returns a Debouncer with defaults filled in.
func NewDebouncer(opt DebounceOptions) *Debouncer {
	if opt.Quiet <= 0 {
		opt.Quiet = 300 * time.Millisecond
	}
	if opt.MaxDelay < opt.Quiet {
		opt.MaxDelay = max(2*time.Second, opt.Quiet)
	}
	if opt.MaxPending <= 0 {
		opt.MaxPending = 100_000
	}
	return &Debouncer{
		opt:        opt,
		pending:    make(map[string]*pendingHint),
		rescanning: make(map[string]bool),
		now:        time.Now,
	}
}

func hintKey(h Hint) string {
	if h.Kind == HintConfig {
		return "\x01" + h.Path
	}
	return h.Root + "\x00" + h.Rel
}

func (p *pendingHint) deadline(opt DebounceOptions) time.Time {
	d := p.last.Add(opt.Quiet)
	if cap := p.first.Add(opt.MaxDelay); cap.Before(d) {
		return cap
	}
	return d
}

// add takes one hint in.
func (d *Debouncer) add(h Hint) {
	now := d.now()
	if h.Kind == HintRescan {
		d.dropRoot(h.Root)
		if !d.rescanning[h.Root] || h.Err != nil {
			d.rescanning[h.Root] = true
			d.ready = append(d.ready, h)
		}
		return
	}
	if h.Kind != HintConfig && d.rescanning[h.Root] {
		return
	}
	k := hintKey(h)
	if p := d.pending[k]; p != nil {
		p.last = now
		if h.Kind == HintSubtree {
			p.hint.Kind = HintSubtree
		}
		p.hint.Seen = mergeSightings(p.hint.Seen, h.Seen)
		return
	}
	if len(d.pending)+len(d.ready) >= d.opt.MaxPending && h.Kind != HintConfig {
		d.add(Hint{Kind: HintRescan, Root: h.Root, Reason: ReasonQueueFull})
		return
	}
	p := &pendingHint{hint: h, first: now, last: now}
	d.pending[k] = p
	heap.Push(&d.queue, deadlineItem{key: k, at: p.deadline(d.opt)})
}

// dropRoot forgets the pending path hints of root: a rescan covers them.
func (d *Debouncer) dropRoot(root string) {
	for k, p := range d.pending {
		if p.hint.Kind != HintConfig && p.hint.Root == root {
			delete(d.pending, k) // its queue item is skipped when it comes up
		}
	}
	kept := d.ready[:0]
	for _, h := range d.ready {
		if h.Kind == HintConfig || h.Kind == HintRescan || h.Root != root {
			kept = append(kept, h)
		}
	}
	d.ready = kept
}

// settle moves every hint whose deadline passed to ready and returns the
// time of the next deadline (zero if none).
func (d *Debouncer) settle() time.Time {
	now := d.now()
	for d.queue.Len() > 0 {
		it := d.queue[0]
		p := d.pending[it.key]
		if p == nil {
			heap.Pop(&d.queue)
			continue
		}
		if at := p.deadline(d.opt); at.After(it.at) {
			d.queue[0].at = at // pushed back by newer hints
			heap.Fix(&d.queue, 0)
			continue
		}
		if it.at.After(now) {
			return it.at
		}
		heap.Pop(&d.queue)
		delete(d.pending, it.key)
		d.ready = append(d.ready, p.hint)
	}
	return time.Time{}
}

// Pending returns how many paths are waiting to settle or to be taken by
// the consumer. It is safe for concurrent use.
func (d *Debouncer) Pending() int { return int(d.npending.Load()) }

// Run reads hints from in until it is closed or ctx is cancelled, and
// sends settled batches to out. It keeps reading while out is blocked, so
// a slow consumer makes batches bigger, not the notifier queue longer.
// When in is closed, what is pending is flushed without waiting.
func (d *Debouncer) Run(ctx context.Context, in <-chan Hint, out chan<- []Hint) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := d.settle()
		d.npending.Store(int64(len(d.pending) + len(d.ready)))
		var send chan<- []Hint
		if len(d.ready) > 0 {
			send = out
		}
		var wake <-chan time.Time
		if !next.IsZero() {
			timer.Reset(time.Until(next))
			wake = timer.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case h, ok := <-in:
			if !ok {
				return d.flush(ctx, out)
			}
			d.add(h)
		case send <- d.ready:
			d.ready = nil
			clear(d.rescanning)
		case <-wake:
		}
		if wake != nil && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (d *Debouncer) flush(ctx context.Context, out chan<- []Hint) error {
	for d.queue.Len() > 0 {
		it := heap.Pop(&d.queue).(deadlineItem)
		if p := d.pending[it.key]; p != nil {
			delete(d.pending, it.key)
			d.ready = append(d.ready, p.hint)
		}
	}
	if len(d.ready) == 0 {
		return nil
	}
	select {
	case out <- d.ready:
		d.ready = nil
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type deadlineItem struct {
	key string
	at  time.Time
}

type deadlineQueue []deadlineItem

func (q deadlineQueue) Len() int           { return len(q) }
func (q deadlineQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q deadlineQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *deadlineQueue) Push(x any)        { *q = append(*q, x.(deadlineItem)) }
func (q *deadlineQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}
