package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"webfim/alert"
)

// OutboxDoc is one encoded document for the outbox.
type OutboxDoc struct {
	ID       string // event.id
	Doc      []byte // [alert.Document.Encode]
	Enqueued time.Time
}

// Enqueuer is the durable outbox; the command wires the store's.
type Enqueuer interface {
	// Enqueue appends docs; when the outbox then holds more than max, the
	// oldest are dropped and counted.
	Enqueue(max int, docs ...OutboxDoc) (dropped int, err error)
}

// OutboxSink is the [Sink] of the daemon: it turns findings into ECS
// documents (package alert), writes them to the outbox in one database
// session per batch, and wakes the deliverer. Documents leave the outbox
// only when the outputs acknowledged them (output.Deliverer).
type OutboxSink struct {
	Outbox Enqueuer
	// MaxEntries bounds the outbox; when it is exceeded the oldest entries
	// are dropped, counted, logged and reported by a document.
	MaxEntries int
	// Env returns the document environment (host, agent version, root
	// names); BaselineID, BaselineLabel and Now are filled per finding.
	Env func() alert.Env
	// Notify wakes the deliverer (output.Deliverer.Notify); may be nil.
	Notify func()
	Logger *slog.Logger
}

// Emit implements [Sink].
func (s *OutboxSink) Emit(_ context.Context, findings []Finding) error {
	docs := make([]OutboxDoc, 0, len(findings))
	for _, f := range findings {
		env := s.env()
		env.Now, env.BaselineID, env.BaselineLabel = f.Time, f.Baseline.ID, f.Baseline.Label
		doc, ok := f.Document(env)
		if !ok {
			return errors.New("watch: finding without a change")
		}
		if f.EventID != "" && f.EventID != doc.ID() { // a reminder; see Finding.EventID
			doc["event.id"] = f.EventID
		}
		if f.Reminder {
			doc["webfim.reminder"] = true
		}
		body, err := doc.Encode()
		if err != nil {
			return fmt.Errorf("watch: encoding alert %s: %w", doc.ID(), err)
		}
		docs = append(docs, OutboxDoc{ID: doc.ID(), Doc: body, Enqueued: f.Time})
	}
	return s.enqueue(docs...)
}

// Notice implements [Sink].
func (s *OutboxSink) Notice(_ context.Context, n Notice) error {
	env := s.env()
	env.Now = n.Time
	var doc alert.Document
	switch n.Kind {
	case NoticeOverflow:
		doc = alert.RescanAfterOverflow(n.Roots, env)
	case NoticeDegraded:
		doc = alert.WatchLimitReached(n.root(), n.Err, n.Fallback, env)
	case NoticeRestored:
		doc = alert.WatchRestored(n.root(), env)
	case NoticeCatchUp:
		doc = alert.CatchUpStarted(n.Roots, env)
	case NoticeAttributionDegraded:
		doc = alert.AttributionDegraded(n.Mechanism, n.Message, n.Status, env)
	case NoticeBaselineUntrusted:
		env.BaselineID, env.BaselineLabel = n.Judged.ID, n.Judged.Label
		doc = alert.BaselineUntrusted(n.Baseline.ID, n.Baseline.Label, n.Verdict, env)
	case NoticeGapResolved:
		if n.Gap == nil {
			return errors.New("watch: gap notice without its gap")
		}
		doc = alert.GapResolved(*n.Gap, env)
	default:
		s.log().Info("notice", "kind", n.Kind, "message", n.Message)
		return nil
	}
	body, err := doc.Encode()
	if err != nil {
		return err
	}
	return s.enqueue(OutboxDoc{ID: doc.ID(), Doc: body, Enqueued: n.Time})
}

func (s *OutboxSink) enqueue(docs ...OutboxDoc) error {
	dropped, err := s.Outbox.Enqueue(s.MaxEntries, docs...)
	if err != nil {
		return err
	}
	if dropped > 0 {
		s.log().Error("outbox full: dropped the oldest undelivered alerts", "dropped", dropped, "max", s.MaxEntries)
		env := s.env()
		env.Now = time.Now()
		doc := alert.OutboxDropped(dropped, env)
		if body, err := doc.Encode(); err == nil {
			// This may push out one more old entry; it is counted too.
			s.Outbox.Enqueue(s.MaxEntries, OutboxDoc{ID: doc.ID(), Doc: body, Enqueued: env.Now})
		}
	}
	if s.Notify != nil {
		s.Notify()
	}
	return nil
}

func (s *OutboxSink) env() alert.Env {
	var env alert.Env
	if s.Env != nil {
		env = s.Env()
	}
	return env
}

func (s *OutboxSink) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// root is the root a notice about one root is about.
func (n Notice) root() string {
	if len(n.Roots) > 0 {
		return n.Roots[0]
	}
	return ""
}
