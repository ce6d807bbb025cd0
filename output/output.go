// Package output delivers ECS alert documents to where a SOC looks: standard
// output ([Stdout]), rotated NDJSON files ([File]), syslog ([Syslog]) and
// Elasticsearch data streams ([Elasticsearch]).
//
// Every [Output] acknowledges a batch only when each document reached its
// destination (written and flushed by the file's fsync policy, sent on the
// socket without error, or indexed by Elasticsearch). A [Deliverer] moves
// documents from a durable [Outbox] to several outputs at once and removes an
// entry from the outbox only when all outputs acknowledged it. Delivery is
// at-least-once: after a crash or restart a document may be sent again, which
// Elasticsearch absorbs because the document _id is the alert's event.id.
package output

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Doc is one alert document.
type Doc struct {
	// ID is the alert's event.id; Elasticsearch uses it as _id so that a
	// re-sent document is not indexed twice.
	ID string
	// Body is one JSON document without a trailing newline.
	Body []byte
}

// Output is one delivery destination. Write is never called concurrently on
// one Output.
type Output interface {
	// Name identifies the output in logs and metrics, e.g. "file:/var/log/webfim/webfim.ndjson".
	Name() string
	// Write returns nil only when every document was acknowledged. When only
	// some failed, or some were rejected for good, it returns a
	// *[PartialError] naming them; any other error means that none of the
	// documents may be assumed delivered.
	Write(ctx context.Context, docs []Doc) error
	Close() error
}

// ErrInvalidConfig is wrapped by every configuration validation error.
var ErrInvalidConfig = errors.New("invalid output configuration")

// PartialError reports that some documents of a batch were not delivered.
type PartialError struct {
	// Failed holds the indexes (into the docs passed to Write) of the
	// documents that were not delivered and may be sent again, in
	// increasing order.
	Failed []int
	// Rejected are the documents the destination refused for good:
	// sending them again cannot succeed. They are not in Failed.
	Rejected []Rejection
	// Err describes the (first) failure.
	Err error
}

// Rejection is a document that an output's destination refused for good,
// such as one Elasticsearch cannot map (status 400), and why.
type Rejection struct {
	Index  int // into the docs passed to Write
	Reason error
}

func (e *PartialError) Error() string {
	if len(e.Rejected) > 0 {
		return fmt.Sprintf("%d document(s) not delivered, %d rejected: %v", len(e.Failed), len(e.Rejected), e.Err)
	}
	return fmt.Sprintf("%d document(s) not delivered: %v", len(e.Failed), e.Err)
}

func (e *PartialError) Unwrap() error { return e.Err }

// failedIndexes returns which of n documents err says were not delivered
// and may be sent again.
func failedIndexes(err error, n int) []int {
	if err == nil {
		return nil
	}
	var pe *PartialError
	if errors.As(err, &pe) {
		return pe.Failed
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	return all
}

// rejections returns the documents err says were refused for good.
func rejections(err error) []Rejection {
	var pe *PartialError
	if errors.As(err, &pe) {
		return pe.Rejected
	}
	return nil
}

// rangeFrom returns the indexes from..n-1.
func rangeFrom(from, n int) []int {
	r := make([]int, 0, n-from)
	for i := from; i < n; i++ {
		r = append(r, i)
	}
	return r
}

// oneLine returns body as a single line so that it cannot break NDJSON
// framing: indented JSON is compacted; anything else that is not valid JSON
// has its line breaks replaced by spaces rather than being refused (a refused
// document would block the outbox forever).
func oneLine(body []byte) []byte {
	if !bytes.ContainsAny(body, "\n\r") {
		return body
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, body); err == nil {
		return buf.Bytes()
	}
	out := bytes.ReplaceAll(body, []byte("\r"), []byte(" "))
	return bytes.ReplaceAll(out, []byte("\n"), []byte(" "))
}
