//go:build unix

package filelock

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func tryLock(f *os.File, exclusive bool) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = flock(fd, lockMode(exclusive)|syscall.LOCK_NB) }); err != nil {
		return err
	}
	switch lerr {
	case nil:
		return nil
	case syscall.EWOULDBLOCK:
		return errWouldBlock
	}
	return &os.PathError{Op: "flock", Path: f.Name(), Err: lerr}
}

func lockMode(exclusive bool) int {
	if exclusive {
		return syscall.LOCK_EX
	}
	return syscall.LOCK_SH
}

// flock is flock(2), called again when a signal interrupts it.
func flock(fd uintptr, how int) error {
	for {
		if err := syscall.Flock(int(fd), how); err != syscall.EINTR {
			return err
		}
	}
}

// abandoned counts blocking waits given up at their timeout whose flock
// call has not returned yet: each holds a goroutine and the file
// descriptor until the other holder lets go (then it gets the lock and
// drops it at once). Beyond maxAbandoned, waits poll instead, so a lock
// held for days costs a bounded number.
var abandoned atomic.Int32

const maxAbandoned = 8

// wait waits in a blocking flock, where the kernel wakes the waiter as
// soon as the lock is free: polling would let a process that takes the
// lock again and again starve the waiter.
func wait(f *os.File, exclusive bool, timeout time.Duration) error {
	if abandoned.Load() >= maxAbandoned {
		return poll(f, exclusive, timeout)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var (
		mu       sync.Mutex
		done     bool  // the flock call returned, with result
		result   error // under mu
		gaveUp   bool  // the caller returned ErrTimeout
		finished = make(chan struct{})
	)
	go func() {
		// Control holds a reference to the descriptor: it stays open
		// until the call returns, even if the caller closes f.
		cerr := rc.Control(func(fd uintptr) {
			lerr := flock(fd, lockMode(exclusive))
			mu.Lock()
			defer mu.Unlock()
			done = true
			if lerr != nil {
				result = &os.PathError{Op: "flock", Path: f.Name(), Err: lerr}
			}
			if gaveUp {
				if lerr == nil {
					flock(fd, syscall.LOCK_UN) // nobody wants it any more
				}
				abandoned.Add(-1)
			}
		})
		if cerr != nil { // f was closed before the call started
			mu.Lock()
			done, result = true, cerr
			if gaveUp {
				abandoned.Add(-1)
			}
			mu.Unlock()
		}
		close(finished)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-finished:
	case <-t.C:
	}
	mu.Lock()
	defer mu.Unlock()
	if done {
		return result
	}
	gaveUp = true
	abandoned.Add(1)
	return ErrTimeout
}

func unlock(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = flock(fd, syscall.LOCK_UN) }); err != nil {
		return err
	}
	return lerr
}
