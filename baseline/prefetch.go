package baseline

import "sync"

// prefetchBatch is how many records [pullAhead] reads ahead per hand-over.
const prefetchBatch = 256

// pullAhead is [iter.Pull2] for a State that reads ahead: a goroutine
// iterates s and hands its records over in batches, so the consumer pays
// one channel receive per batch instead of two coroutine switches per
// record, and decoding (for a State read from a database) runs beside it.
// Only States without callbacks into the caller may be read this way (the
// stored ones): s runs on another goroutine. stop may be called more than
// once; it returns once the goroutine has finished.
func pullAhead(s State) (next func() (Record, error, bool), stop func()) {
	type chunk struct {
		recs []Record
		err  error
	}
	ch := make(chan chunk, 2)
	// Read chunks go back to the reader: reused memory is warm, while a
	// fresh slice per chunk costs page faults on every run.
	free := make(chan []Record, 4)
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		send := func(c chunk) bool {
			select {
			case ch <- c:
				return true
			case <-quit:
				return false
			}
		}
		alloc := func() []Record {
			select {
			case r := <-free:
				return r[:0]
			default:
				return make([]Record, 0, prefetchBatch)
			}
		}
		recs := alloc()
		for rec, err := range s {
			if err != nil {
				send(chunk{recs: recs, err: err})
				return
			}
			recs = append(recs, rec)
			if len(recs) == prefetchBatch {
				if !send(chunk{recs: recs}) {
					return
				}
				recs = alloc()
			}
		}
		if len(recs) > 0 {
			send(chunk{recs: recs})
		}
	}()
	var (
		cur     chunk
		i       int
		stopped bool
		once    sync.Once
	)
	stop = func() {
		once.Do(func() {
			stopped = true
			close(quit)
			<-done
		})
	}
	next = func() (Record, error, bool) {
		for !stopped {
			if i < len(cur.recs) {
				rec := cur.recs[i]
				cur.recs[i] = Record{}
				i++
				return rec, nil, true
			}
			if cur.err != nil {
				err := cur.err
				cur.err = nil
				stopped = true // like iter.Pull2: the sequence ended with this error
				return Record{}, err, true
			}
			if cur.recs != nil {
				select {
				case free <- cur.recs: // every slot was cleared as it was taken
				default:
				}
				cur.recs = nil
			}
			c, ok := <-ch
			if !ok {
				stopped = true
				break
			}
			cur, i = c, 0
		}
		return Record{}, nil, false
	}
	return next, stop
}
