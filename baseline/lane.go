package baseline

import "sync"

// LaneMinSize is the size from which a regular file is hashed in the
// large-file lane rather than by the worker that found it (the watch
// daemon's live checks use it too): a worker never
// spends more than about this much reading before it moves on to the
// small files behind (issue 12: a shell.php next to a huge file waited for
// the huge file). Sampled files ([Record.Sampled]) go there too: their
// 2 MiB of reads may be slow on a cold disk.
const LaneMinSize = 16 << 20

// large reports whether a regular file of size bytes goes to the lane.
func (w *walker) large(size int64) bool { return size >= LaneMinSize }

// laneJob is a large file a worker handed over. The worker did not
// release its directory; the lane does, after hashing.
type laneJob struct {
	b       *batch
	it      *item
	withSHA bool
}

// lane is the queue of large files, hashed one at a time by
// [walker.runLane] beside the workers. push never blocks (a worker must
// go on with the small files); the queue is bounded by the walk's reorder
// window, like every item in flight.
type lane struct {
	mu     sync.Mutex
	queue  []laneJob
	closed bool
	wake   chan struct{} // one pending wake-up
}

func newLane() *lane { return &lane{wake: make(chan struct{}, 1)} }

func (l *lane) push(j laneJob) {
	l.mu.Lock()
	l.queue = append(l.queue, j)
	l.mu.Unlock()
	l.signal()
}

// close says nothing more will be pushed; the lane finishes its queue.
func (l *lane) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.signal()
}

func (l *lane) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// pop returns the next job, waiting for one; ok is false once the lane
// is closed and empty.
func (l *lane) pop() (j laneJob, ok bool) {
	for {
		l.mu.Lock()
		if len(l.queue) > 0 {
			j = l.queue[0]
			l.queue[0] = laneJob{}
			l.queue = l.queue[1:]
			l.mu.Unlock()
			return j, true
		}
		closed := l.closed
		l.mu.Unlock()
		if closed {
			return laneJob{}, false
		}
		<-l.wake
	}
}

// runLane hashes the large files handed over by the workers, in the
// order they came, and completes their items.
func (w *walker) runLane() {
	defer w.wg.Done()
	h := newHasher(&w.opt)
	defer h.release()
	for {
		j, ok := w.lane.pop()
		if !ok {
			return
		}
		it := j.it
		if err := w.ctx.Err(); err != nil {
			it.err = err
		} else {
			rec := &it.rec
			var prev *Record
			if it.hasPrev {
				prev = &it.prev
			}
			it.read, it.err = h.hashFile(w.ctx, it.dir, it.name, fullPath(rec.Root, rec.Path), rec, j.withSHA, prev)
			it.hashed = true
		}
		it.dir.release()
		it.dir = nil
		j.b.finish(1)
	}
}
