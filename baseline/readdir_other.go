//go:build unix && !linux

package baseline

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// entries lists the directory through os.File.ReadDir, on a duplicate of
// the descriptor (closing the os.File must not close the walker's).
func (d *dirHandle) entries() ([]dirEntry, error) {
	fd, err := unix.Dup(d.fd)
	if err != nil {
		return nil, &fs.PathError{Op: "readdirent", Path: d.path, Err: err}
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	return dirEntries(f.ReadDir(-1))
}
