package watch

import (
	"webfim/output"
	"webfim/store"
)

// OutboxOf adapts the store's outbox to the output.Outbox that an
// output.Deliverer reads: the daemon's [OutboxSink] writes into the same
// database, the deliverer takes entries out once outputs acknowledged them.
func OutboxOf(db *store.DB) output.Outbox { return outbox{db} }

type outbox struct{ db *store.DB }

func (o outbox) Pending(n int) ([]output.Entry, error) {
	list, err := o.db.Pending(n)
	if err != nil {
		return nil, err
	}
	out := make([]output.Entry, len(list))
	for i, e := range list {
		out[i] = output.Entry{Seq: e.Seq, ID: e.ID, Doc: e.Doc, Enqueued: e.Enqueued}
	}
	return out, nil
}

func (o outbox) Ack(seqs ...uint64) error { return o.db.Ack(seqs...) }
