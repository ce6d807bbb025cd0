//go:build unix

package filelock

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// A wait abandoned at its timeout does not keep the lock once it gets it
// after its caller closed the file, and closing does not block.
func TestAbandonedWaitReleases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	holder := open(t, path)
	if err := Lock(holder, true, 0); err != nil {
		t.Fatal(err)
	}
	waiter := open(t, path)
	if err := Lock(waiter, true, 50*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Lock while held: %v, want ErrTimeout", err)
	}
	if n := abandoned.Load(); n != 1 {
		t.Errorf("%d abandoned waits, want 1", n)
	}
	closed := make(chan struct{})
	go func() { waiter.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("closing a file with an abandoned wait blocked")
	}
	holder.Close()
	deadline := time.Now().Add(10 * time.Second)
	for abandoned.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the abandoned wait never returned")
		}
		time.Sleep(time.Millisecond)
	}
	if err := Lock(open(t, path), true, time.Second); err != nil {
		t.Errorf("Lock after the abandoned wait returned: %v (it kept the lock)", err)
	}
}
