// Package filelock takes advisory whole-file locks that other processes
// using the same kind of lock respect: flock(2) on Unix (the lock bbolt
// takes), LockFileEx on Windows.
//
// A lock belongs to the open file: it is released when the file is closed
// or the process ends, however it ends. Two opens of one file conflict
// even within one process.
package filelock

import (
	"errors"
	"os"
	"time"
)

// ErrTimeout: the lock was still held by someone else when the timeout
// passed.
var ErrTimeout = errors.New("the file is locked")

// Lock locks f, shared or exclusive, waiting at most timeout for a
// conflicting lock to go away (timeout <= 0: try once). After
// ErrTimeout, close f: a wait given up may still be granted, and dropped,
// later, which would release a lock taken again on f meanwhile.
func Lock(f *os.File, exclusive bool, timeout time.Duration) error {
	err := tryLock(f, exclusive)
	if !errors.Is(err, errWouldBlock) {
		return err
	}
	if timeout <= 0 {
		return ErrTimeout
	}
	return wait(f, exclusive, timeout)
}

// errWouldBlock is what tryLock returns while someone else holds a
// conflicting lock.
var errWouldBlock = errors.New("would block")

// poll retries tryLock until timeout, with delays growing from half a
// millisecond to 25 ms.
func poll(f *os.File, exclusive bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	delay := 500 * time.Microsecond
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return ErrTimeout
		}
		time.Sleep(min(delay, left))
		delay = min(2*delay, 25*time.Millisecond)
		if err := tryLock(f, exclusive); !errors.Is(err, errWouldBlock) {
			return err
		}
	}
}

// Unlock releases the lock held through f. Closing f releases it too,
// unless something else still references the open file (a memory map of
// it, on Unix).
func Unlock(f *os.File) error { return unlock(f) }
