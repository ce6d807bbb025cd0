package output

import (
	"context"
	"encoding/json"
	"time"
)

// RejectedDoc is a document an output refused for good, and why.
type RejectedDoc struct {
	Doc    Doc
	Reason error
}

// DeadLetter keeps the documents that outputs rejected for good, so that
// the [Deliverer] can stop retrying them without losing them.
type DeadLetter interface {
	// Keep stores the documents durably; nil means they are kept.
	Keep(ctx context.Context, output string, rejected []RejectedDoc) error
}

// DeadLetterFile is a [DeadLetter] that appends one NDJSON record per
// document to a file, rotated and synced like a [File] output (by default
// at 100 MiB, 5 rotated files kept, fsync after every batch):
//
//	{"time":"2026-11-26T18:04:05.123Z","output":"elasticsearch:logs-webfim.alert-default",
//	 "reason":"...: 400 document_parsing_exception: ...","event_id":"...","document":{...}}
//
// "document" is the alert exactly as it was sent, ready to be indexed
// again once the cause is fixed.
type DeadLetterFile struct {
	f   *FileOutput
	now func() time.Time
}

// deadLetterRecord is one line of a [DeadLetterFile].
type deadLetterRecord struct {
	Time     time.Time       `json:"time"`
	Output   string          `json:"output"`
	Reason   string          `json:"reason"`
	EventID  string          `json:"event_id"`
	Document json.RawMessage `json:"document"`
}

// OpenDeadLetter opens (creating with mode 0600 if needed) the dead-letter
// file described by cfg.
func OpenDeadLetter(cfg FileConfig) (*DeadLetterFile, error) {
	f, err := File(cfg)
	if err != nil {
		return nil, err
	}
	return &DeadLetterFile{f: f, now: time.Now}, nil
}

// Path returns the path of the active file.
func (d *DeadLetterFile) Path() string { return d.f.cfg.Path }

// Keep appends a record for each document and syncs the file.
func (d *DeadLetterFile) Keep(ctx context.Context, output string, rejected []RejectedDoc) error {
	docs := make([]Doc, len(rejected))
	for i, r := range rejected {
		rec := deadLetterRecord{Time: d.now().UTC(), Output: output, EventID: r.Doc.ID, Document: r.Doc.Body}
		if r.Reason != nil {
			rec.Reason = r.Reason.Error()
		}
		if !json.Valid(r.Doc.Body) {
			// Kept as a JSON string: the record must stay one valid line.
			rec.Document, _ = json.Marshal(string(r.Doc.Body))
		}
		line, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		docs[i] = Doc{ID: r.Doc.ID, Body: line}
	}
	return d.f.Write(ctx, docs)
}

// Close syncs and closes the file.
func (d *DeadLetterFile) Close() error { return d.f.Close() }
