package watch

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"webfim/output"
	"webfim/store"
)

type memOutput struct {
	mu   sync.Mutex
	docs []output.Doc
}

func (m *memOutput) Name() string { return "mem" }
func (m *memOutput) Close() error { return nil }
func (m *memOutput) Write(_ context.Context, docs []output.Doc) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.docs = append(m.docs, docs...)
	return nil
}

// Documents queued by the sink reach an output through the deliverer and
// leave the outbox once acknowledged.
func TestOutboxThroughDeliverer(t *testing.T) {
	db := openDB(t)
	out := &memOutput{}
	dl, err := output.NewDeliverer(OutboxOf(db), []output.Output{out}, output.DelivererOptions{Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { dl.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	doc, _ := json.Marshal(map[string]string{"message": "hello"})
	if _, err := db.Enqueue(0, store.OutboxEntry{ID: "e1", Doc: doc}); err != nil {
		t.Fatal(err)
	}
	dl.Notify()
	deadline := time.Now().Add(waitDeadline)
	for {
		depth, _, err := db.OutboxStats()
		out.mu.Lock()
		n := len(out.docs)
		out.mu.Unlock()
		if err == nil && depth == 0 && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("depth %d, delivered %d", depth, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if out.docs[0].ID != "e1" || string(out.docs[0].Body) != string(doc) {
		t.Errorf("delivered %+v", out.docs[0])
	}
}
