package output

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// StdoutOutput writes NDJSON, one document per line, to a writer.
type StdoutOutput struct {
	mu sync.Mutex
	w  io.Writer
}

// Stdout returns an output writing NDJSON to w (usually os.Stdout). A batch
// is written with a single Write call so that lines of concurrent writers do
// not interleave.
func Stdout(w io.Writer) *StdoutOutput { return &StdoutOutput{w: w} }

// Name returns "stdout".
func (s *StdoutOutput) Name() string { return "stdout" }

// Write writes docs as NDJSON. When the writer fails part way, the documents
// that were written completely count as delivered.
func (s *StdoutOutput) Write(ctx context.Context, docs []Doc) error {
	if len(docs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var buf []byte
	ends := make([]int, len(docs)) // offset after each document's newline
	for i, d := range docs {
		buf = append(buf, oneLine(d.Body)...)
		buf = append(buf, '\n')
		ends[i] = len(buf)
	}
	s.mu.Lock()
	n, err := s.w.Write(buf)
	s.mu.Unlock()
	if err == nil && n < len(buf) {
		err = io.ErrShortWrite
	}
	if err == nil {
		return nil
	}
	first := 0
	for first < len(ends) && ends[first] <= n {
		first++
	}
	return &PartialError{Failed: rangeFrom(first, len(docs)), Err: fmt.Errorf("stdout: %w", err)}
}

// Close does nothing: the writer belongs to the caller.
func (s *StdoutOutput) Close() error { return nil }
