//go:build windows

package filelock

import (
	"os"

	"golang.org/x/sys/windows"
)

// tryLock locks one byte at offset 2^64-2, beyond any data: Windows locks
// are mandatory for the ranges they cover, and bbolt locks the byte at
// 2^64-1 of the same handle, which a lock of its own range would conflict
// with (Windows locks are not re-entrant).
func tryLock(f *os.File, exclusive bool) error {
	flags := uint32(windows.LOCKFILE_FAIL_IMMEDIATELY)
	if exclusive {
		flags |= windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	err := windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, 1, 0, lockRange())
	switch err {
	case nil:
		return nil
	case windows.ERROR_LOCK_VIOLATION:
		return errWouldBlock
	}
	return &os.PathError{Op: "LockFileEx", Path: f.Name(), Err: err}
}

// lockRange is the byte range this package locks.
func lockRange() *windows.Overlapped {
	return &windows.Overlapped{Offset: 1<<32 - 2, OffsetHigh: 1<<32 - 1}
}

func unlock(f *os.File) error {
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, lockRange())
}
