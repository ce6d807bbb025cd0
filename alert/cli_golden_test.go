package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The documents the CLI scripts compare diff --format ecs with
// (cmd/webfim/testdata/golden, written by the ecsgolden script command)
// are valid ECS 9.4 as well.
func TestCLIGoldenDocuments(t *testing.T) {
	s := loadECS(t)
	files, err := filepath.Glob(filepath.Join("..", "cmd", "webfim", "testdata", "golden", "*.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("%d golden files of the CLI scripts; expected at least the 4 registry findings", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		n := 0
		for {
			var doc json.RawMessage
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			n++
			for _, e := range validateECS(s, doc) {
				t.Errorf("%s, document %d: %s", filepath.Base(f), n, e)
			}
		}
		if n == 0 {
			t.Errorf("%s holds no document", f)
		}
	}
}
