package filelock

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func open(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// Two opens of one file conflict, within one process too: exclusive
// against anything, shared against exclusive only.
func TestConflicts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	a, b := open(t, path), open(t, path)
	if err := Lock(a, false, 0); err != nil {
		t.Fatal(err)
	}
	if err := Lock(b, false, 0); err != nil {
		t.Errorf("second shared lock: %v", err)
	}
	c := open(t, path)
	if err := Lock(c, true, 0); !errors.Is(err, ErrTimeout) {
		t.Errorf("exclusive lock while shared ones are held: %v, want ErrTimeout", err)
	}
	a.Close()
	b.Close()
	if err := Lock(c, true, 0); err != nil {
		t.Errorf("exclusive lock once the shared ones are closed: %v", err)
	}
}

// A wait gives up at its timeout, and is granted as soon as the holder
// lets go within it.
func TestWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	holder := open(t, path)
	if err := Lock(holder, true, 0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := Lock(open(t, path), false, 200*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Lock while held: %v, want ErrTimeout", err)
	}
	if took := time.Since(start); took < 150*time.Millisecond || took > 2*time.Second {
		t.Errorf("gave up after %v, want about 200ms", took)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		holder.Close()
	}()
	start = time.Now()
	if err := Lock(open(t, path), true, 10*time.Second); err != nil {
		t.Fatalf("Lock once the holder lets go: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("granted after %v, want about 100ms", took)
	}
}
