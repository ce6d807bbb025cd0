//go:build unix

package watch

import (
	"io/fs"
	"syscall"
)

// deviceOf returns the device id of the file described by fi, and false when
// it is not known.
func deviceOf(fi fs.FileInfo) (uint64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Dev), true //nolint:unconvert // Dev is int32 on some platforms
}
