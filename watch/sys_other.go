//go:build !unix

package watch

import "io/fs"

// deviceOf is unknown on this platform: every directory counts as being on
// the root's file system.
func deviceOf(fs.FileInfo) (uint64, bool) { return 0, false }
