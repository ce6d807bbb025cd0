package output

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// Every record is one JSON line, whatever the document holds; a document
// that is not JSON is kept verbatim as a string.
func TestDeadLetterFileRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dl.ndjson")
	dl, err := OpenDeadLetter(FileConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 18, 4, 5, 0, time.UTC)
	dl.now = func() time.Time { return now }
	err = dl.Keep(context.Background(), "elasticsearch:x-y-z", []RejectedDoc{
		{Doc: Doc{ID: "a", Body: []byte("{\n  \"event\": {\"id\": \"a\"}\n}")}, Reason: errors.New("400 mapper_parsing_exception")},
		{Doc: Doc{ID: "b", Body: []byte("not json\n\"at all")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2", len(lines))
	}
	var a, b deadLetterRecord
	if err := json.Unmarshal([]byte(lines[0]), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &b); err != nil {
		t.Fatal(err)
	}
	if a.EventID != "a" || a.Output != "elasticsearch:x-y-z" || a.Reason != "400 mapper_parsing_exception" || !a.Time.Equal(now) ||
		string(a.Document) != `{"event":{"id":"a"}}` {
		t.Errorf("record a = %+v (document %s)", a, a.Document)
	}
	var s string
	if err := json.Unmarshal(b.Document, &s); err != nil || s != "not json\n\"at all" || b.Reason != "" {
		t.Errorf("record b = %+v: document %q (%v)", b, s, err)
	}
	if dl.Path() != path {
		t.Errorf("Path() = %q", dl.Path())
	}
}
