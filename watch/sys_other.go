//go:build !unix

package watch

import "io/fs"

// deviceOf is unknown on this platform: every directory counts as being on
// the root's file system.
func deviceOf(fs.FileInfo) (uint64, bool) { return 0, false }

// statTimes: no change time nor owner on this platform.
func statTimes(fs.FileInfo) (ctime int64, uid, gid uint32, ok bool) { return 0, 0, 0, false }
