package output

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func testDocs(from, n int) []Doc {
	docs := make([]Doc, n)
	for i := range docs {
		id := fmt.Sprintf("id-%05d", from+i)
		docs[i] = Doc{ID: id, Body: []byte(fmt.Sprintf(`{"event":{"id":%q,"kind":"alert"},"message":"change %d"}`, id, from+i))}
	}
	return docs
}

// readLines returns the lines of path and fails on any line that is not JSON.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if !json.Valid(sc.Bytes()) {
			t.Fatalf("%s: line %d is not JSON: %q", path, len(lines)+1, sc.Text())
		}
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestFileRotationKeepsEverythingInOrder(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "webfim.ndjson")
	const maxSize = 1000
	o, err := File(FileConfig{Path: path, MaxSize: maxSize, MaxFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Each line is about 70 bytes: 14 lines per file; 40 lines fill the
	// active file and 2 rotated ones, nothing is dropped yet.
	for i := 0; i < 40; i += 8 {
		if err := o.Write(ctx, testDocs(i, 8)); err != nil {
			t.Fatal(err)
		}
	}
	var all []string
	for _, name := range []string{path + ".2", path + ".1", path} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > maxSize {
			t.Errorf("%s has %d bytes, more than MaxSize %d", name, fi.Size(), maxSize)
		}
		all = append(all, readLines(t, name)...)
	}
	if len(all) != 40 {
		t.Fatalf("got %d lines across files, want 40", len(all))
	}
	for i, l := range all {
		if want := fmt.Sprintf("id-%05d", i); !bytes.Contains([]byte(l), []byte(want)) {
			t.Fatalf("line %d = %s, want %s (order lost across rotation)", i, l, want)
		}
	}

	// Many more: only MaxFiles rotated files are kept and the newest
	// lines are all there.
	for i := 40; i < 400; i += 8 {
		if err := o.Write(ctx, testDocs(i, 8)); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"webfim.ndjson", "webfim.ndjson.1", "webfim.ndjson.2", "webfim.ndjson.3"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("files = %v, want %v", names, want)
	}
	all = nil
	for _, name := range []string{path + ".3", path + ".2", path + ".1", path} {
		all = append(all, readLines(t, filepath.Join(name))...)
	}
	last := all[len(all)-1]
	if !bytes.Contains([]byte(last), []byte("id-00399")) {
		t.Fatalf("last line %s, want id-00399", last)
	}
	// Consecutive, no gap, from the oldest kept line to the end.
	var first int
	fmt.Sscanf(all[0][bytes.Index([]byte(all[0]), []byte("id-"))+3:], "%05d", &first)
	if first+len(all) != 400 {
		t.Fatalf("kept lines %d..399 but only %d lines: lines lost inside kept files", first, len(all))
	}
	for i, l := range all {
		if want := "id-" + fmt.Sprintf("%05d", first+i); !bytes.Contains([]byte(l), []byte(want)) {
			t.Fatalf("kept line %d = %s, want %s", i, l, want)
		}
	}
}

func TestFileAppendsToExistingAndCountsItsSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.ndjson")
	if err := os.WriteFile(path, bytes.Repeat([]byte("{}\n"), 320), 0o600); err != nil { // 960 bytes: no room for one more line
		t.Fatal(err)
	}
	o, err := File(FileConfig{Path: path, MaxSize: 1000, MaxFiles: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Write(context.Background(), testDocs(0, 2)); err != nil {
		t.Fatal(err)
	}
	o.Close()
	if n := len(readLines(t, path+".1")); n != 320 {
		t.Errorf("rotated file has %d lines, want the 320 pre-existing ones", n)
	}
	if n := len(readLines(t, path)); n != 2 {
		t.Errorf("active file has %d lines, want 2", n)
	}
}

func TestFileOversizedDocumentIsWrittenAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.ndjson")
	o, err := File(FileConfig{Path: path, MaxSize: 100, MaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	big := Doc{ID: "big", Body: []byte(`{"message":"` + string(bytes.Repeat([]byte("x"), 300)) + `"}`)}
	docs := append(testDocs(0, 1), big)
	docs = append(docs, testDocs(1, 1)...)
	if err := o.Write(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	o.Close()
	got := []int{len(readLines(t, path+".2")), len(readLines(t, path+".1")), len(readLines(t, path))}
	if fmt.Sprint(got) != "[1 1 1]" {
		t.Errorf("lines per file (.2 .1 active) = %v, want [1 1 1]", got)
	}
}

func TestFileMode0600(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits on Windows")
	}
	path := filepath.Join(t.TempDir(), "a.ndjson")
	o, err := File(FileConfig{Path: path, MaxSize: 200, MaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := o.Write(context.Background(), testDocs(i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	o.Close()
	for _, name := range []string{path, path + ".1", path + ".2"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s mode %o, want 600", name, m)
		}
	}
}

func TestFileFsyncPolicies(t *testing.T) {
	ctx := context.Background()
	t.Run("batch", func(t *testing.T) {
		o, err := File(FileConfig{Path: filepath.Join(t.TempDir(), "a")})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		for i := 0; i < 3; i++ {
			o.Write(ctx, testDocs(i, 2))
		}
		if o.syncs != 3 || o.dirty {
			t.Errorf("batch: %d fsyncs after 3 batches (dirty %v), want 3", o.syncs, o.dirty)
		}
	})
	t.Run("always", func(t *testing.T) {
		o, err := File(FileConfig{Path: filepath.Join(t.TempDir(), "a"), Fsync: FsyncAlways})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		for i := 0; i < 3; i++ {
			o.Write(ctx, testDocs(i, 2))
		}
		if o.syncs != 6 || o.dirty {
			t.Errorf("always: %d fsyncs after 3 batches of 2 (dirty %v), want 6", o.syncs, o.dirty)
		}
	})
	t.Run("never", func(t *testing.T) {
		o, err := File(FileConfig{Path: filepath.Join(t.TempDir(), "a"), Fsync: FsyncNever})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			o.Write(ctx, testDocs(i, 2))
		}
		o.Close()
		if o.syncs != 0 {
			t.Errorf("never: %d fsyncs, want 0", o.syncs)
		}
	})
	t.Run("interval", func(t *testing.T) {
		o, err := File(FileConfig{Path: filepath.Join(t.TempDir(), "a"), Fsync: FsyncInterval, FsyncInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		for i := 0; i < 3; i++ {
			o.Write(ctx, testDocs(i, 2))
		}
		o.mu.Lock()
		immediate := o.syncs
		o.mu.Unlock()
		if immediate > 1 {
			t.Errorf("interval: %d fsyncs right after 3 quick batches; want them batched", immediate)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			o.mu.Lock()
			dirty := o.dirty
			o.mu.Unlock()
			if !dirty {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("interval: data still not synced after 5s")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func TestFileFailedWriteIsReportedAndRetryable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.ndjson")
	o, err := File(FileConfig{Path: path, MaxSize: 150, MaxFiles: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	if err := o.Write(ctx, testDocs(0, 1)); err != nil {
		t.Fatal(err)
	}
	// Make rotation impossible: a directory where the rotated file goes
	// cannot be replaced by a rename of a file.
	if err := os.Mkdir(path+".1", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path+".1", "keep"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err = o.Write(ctx, testDocs(1, 3))
	var pe *PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("Write = %v, want a *PartialError", err)
	}
	// Document 1 fits, then rotation fails: 2 and 3 are not delivered.
	if fmt.Sprint(pe.Failed) != "[1 2]" {
		t.Errorf("Failed = %v, want [1 2]", pe.Failed)
	}
	os.RemoveAll(path + ".1")
	if err := o.Write(ctx, testDocs(3, 2)); err != nil {
		t.Fatalf("after repair: %v", err)
	}
	lines := append(readLines(t, path+".1"), readLines(t, path)...)
	if len(lines) != 4 {
		t.Errorf("%d lines after retry, want 4: %q", len(lines), lines)
	}
}

func TestFileConfigErrors(t *testing.T) {
	for _, c := range []FileConfig{
		{},
		{Path: "x", MaxSize: -1},
		{Path: "x", MaxFiles: -2},
		{Path: "x", Fsync: "sometimes"},
	} {
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: err = %v, want ErrInvalidConfig", c, err)
		}
	}
	c := FileConfig{Path: "x"}
	if err := c.Validate(); err != nil || c.MaxSize != DefaultMaxSize || c.MaxFiles != DefaultMaxFiles || c.Fsync != FsyncBatch {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}

func TestStdoutNDJSON(t *testing.T) {
	var buf bytes.Buffer
	docs := testDocs(0, 3)
	docs[1].Body = []byte("{\n  \"indented\": true\n}")
	if err := Stdout(&buf).Write(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3: %q", len(lines), buf.String())
	}
	if string(lines[1]) != `{"indented":true}` {
		t.Errorf("indented document written as %q, want it compacted", lines[1])
	}
}

type shortWriter struct{ limit int }

func (w *shortWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		return w.limit, errors.New("disk full")
	}
	return len(p), nil
}

func TestStdoutPartialWrite(t *testing.T) {
	docs := testDocs(0, 3)
	limit := len(docs[0].Body) + 1 + 5 // first line and part of the second
	err := Stdout(&shortWriter{limit: limit}).Write(context.Background(), docs)
	var pe *PartialError
	if !errors.As(err, &pe) || fmt.Sprint(pe.Failed) != "[1 2]" {
		t.Fatalf("err = %v, want PartialError with [1 2]", err)
	}
}

func TestFileReopensWhenMovedOrDeleted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.ndjson")
	o, err := File(FileConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	if err := o.Write(ctx, testDocs(0, 1)); err != nil {
		t.Fatal(err)
	}
	// An external logrotate moves the file away.
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	if err := o.Write(ctx, testDocs(1, 1)); err != nil {
		t.Fatal(err)
	}
	if n := len(readLines(t, path)); n != 1 {
		t.Errorf("after an external move: %d lines in a new %s, want 1", n, path)
	}
	// An administrator deletes it.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := o.Write(ctx, testDocs(2, 1)); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 1 || !strings.Contains(lines[0], "id-00002") {
		t.Errorf("after deletion: %q, want the new document in a new file", lines)
	}
	if n := len(readLines(t, path+".old")); n != 1 {
		t.Errorf("moved file has %d lines, want 1", n)
	}
}
