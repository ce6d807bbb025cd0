package main

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zeebo/blake3"
)

func TestReadAllCountsEveryByteWithASmallBuffer(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	content := strings.Repeat("0123456789", 1000)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := readAll(p, make([]byte, 7), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(content)) {
		t.Errorf("readAll read %d bytes, want %d", n, len(content))
	}
}

func TestReadAllReportsMissingFile(t *testing.T) {
	if _, err := readAll(filepath.Join(t.TempDir(), "missing"), make([]byte, 16), newHasher()); err == nil {
		t.Error("readAll of a missing file: got no error")
	}
}

func TestReadAllHashesScriptsWithSHA256(t *testing.T) {
	dir := t.TempDir()
	h := newHasher()
	for _, name := range []string{"index.php", "logo.png"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("<?php echo 1;"), 0o644); err != nil {
			t.Fatal(err)
		}
		n, err := readAll(p, make([]byte, 4), h)
		if err != nil || n != 13 {
			t.Fatalf("readAll(%s) = %d, %v; want 13 bytes", name, n, err)
		}
		// The SHA-256 state was fed only for the script.
		wantSHA := sha256.Sum256([]byte("<?php echo 1;"))
		gotSHA := h.sha.Sum(nil)
		if isScript := string(gotSHA) == string(wantSHA[:]); isScript != (name == "index.php") {
			t.Errorf("%s: SHA-256 fed = %v, want %v", name, isScript, name == "index.php")
		}
		wantB3 := blake3.Sum256([]byte("<?php echo 1;"))
		if got := h.b3.Sum(nil); string(got) != string(wantB3[:]) {
			t.Errorf("%s: BLAKE3 = %x, want %x", name, got, wantB3)
		}
	}
}
