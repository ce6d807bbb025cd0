package output

import (
	"bytes"
	"encoding/json"
	"testing"
)

func FuzzOneLine(f *testing.F) {
	f.Add([]byte(`{"a":1}`))
	f.Add([]byte("{\n  \"a\": \"x\\ny\"\n}"))
	f.Add([]byte("not\r\njson"))
	f.Fuzz(func(t *testing.T, body []byte) {
		got := oneLine(body)
		if bytes.ContainsAny(got, "\n\r") {
			t.Fatalf("oneLine(%q) = %q has a line break", body, got)
		}
		if json.Valid(body) {
			if !json.Valid(got) {
				t.Fatalf("oneLine(%q) = %q is no longer JSON", body, got)
			}
			var want bytes.Buffer
			json.Compact(&want, body)
			var wantV, gotV any
			json.Unmarshal(body, &wantV)
			json.Unmarshal(got, &gotV)
			if !bytes.Equal(mustJSON(wantV), mustJSON(gotV)) {
				t.Fatalf("oneLine(%q) = %q changed the document", body, got)
			}
		}
	})
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
