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

// statTimes returns the change time (ns) and owner of the file described
// by fi, when known.
func statTimes(fi fs.FileInfo) (ctime int64, uid, gid uint32, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0, false
	}
	sec, nsec := st.Ctim.Unix()
	return sec*1e9 + nsec, st.Uid, st.Gid, true
}
