package trust

import "webfim/baseline"

// addAllBatch is how many records the reading goroutine of
// [Builder.AddAll] hands over at a time.
const addAllBatch = 1024

// AddAll adds every record of records ([Builder.AddRecord]), reading
// them in a goroutine of its own while the caller's hashes the leaves:
// verifying a large baseline then takes about the time of the slower of
// the two (reading and decoding, hashing) rather than their sum. It
// stops at the first error, of records or of AddRecord, and returns it.
func (b *Builder) AddAll(records baseline.State) error {
	batches := make(chan []baseline.Record, 2)
	free := make(chan []baseline.Record, 3)
	stop := make(chan struct{})
	var readErr error // written before batches is closed
	go func() {
		defer close(batches)
		buf := make([]baseline.Record, 0, addAllBatch)
		send := func() bool {
			select {
			case batches <- buf:
			case <-stop:
				return false
			}
			select {
			case buf = <-free:
				buf = buf[:0]
			default:
				buf = make([]baseline.Record, 0, addAllBatch)
			}
			return true
		}
		for r, err := range records {
			if err != nil {
				readErr = err
				return
			}
			buf = append(buf, r)
			if len(buf) == addAllBatch && !send() {
				return
			}
		}
		if len(buf) > 0 {
			send()
		}
	}()
	var addErr error
	for recs := range batches {
		if addErr == nil {
			for i := range recs {
				if addErr = b.AddRecord(&recs[i]); addErr != nil {
					close(stop) // the reader stops; drain what it sent
					break
				}
			}
		}
		clear(recs) // drop the records' strings and slices before reuse
		select {
		case free <- recs:
		default:
		}
	}
	if addErr != nil {
		return addErr
	}
	return readErr
}
