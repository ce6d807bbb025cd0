package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadAllCountsEveryByteWithASmallBuffer(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	content := strings.Repeat("0123456789", 1000)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := readAll(p, make([]byte, 7))
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(content)) {
		t.Errorf("readAll read %d bytes, want %d", n, len(content))
	}
}

func TestReadAllReportsMissingFile(t *testing.T) {
	if _, err := readAll(filepath.Join(t.TempDir(), "missing"), make([]byte, 16)); err == nil {
		t.Error("readAll of a missing file: got no error")
	}
}
