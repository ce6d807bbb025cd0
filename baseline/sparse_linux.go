package baseline

import "golang.org/x/sys/unix"

// holeFrom returns where the first hole at or after off starts (the end
// of the file counts as one), leaving f at off; noHoles when the file
// system cannot tell.
func (h fileHandle) holeFrom(off int64) int64 {
	hole, err := unix.Seek(int(h), off, unix.SEEK_HOLE)
	if _, serr := unix.Seek(int(h), off, 0); err != nil || serr != nil {
		return noHoles
	}
	return hole
}

// dataFrom returns where the first data at or after off starts, leaving
// f there; more is false when there is none (the rest is a hole).
func (h fileHandle) dataFrom(off int64) (start int64, more bool) {
	d, err := unix.Seek(int(h), off, unix.SEEK_DATA)
	if err != nil {
		return 0, false
	}
	return d, true
}
