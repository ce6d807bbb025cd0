//go:build !unix

package safefile

import (
	"fmt"
	"os"
	"path/filepath"
)

// CheckDir checks that dir is a directory; this system has no Unix
// permission bits to check.
func CheckDir(dir string) error {
	_, err := statDir(dir)
	return err
}

// OpenFile is os.OpenFile for a file webfim keeps for itself: it refuses
// a symbolic link at name (checked just before opening: this system has
// no O_NOFOLLOW) and anything but a regular file.
func OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	if err := CheckDir(filepath.Dir(name)); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(name); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		target, _ := os.Readlink(name)
		return nil, &pathError{sentinel: ErrUnsafe, msg: fmt.Sprintf(
			"%s is a symbolic link (to %s); webfim does not follow links to its own files: give the real path", name, target)}
	}
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = &pathError{sentinel: ErrNotRegular, msg: name + " is not a regular file"}
		if fi.IsDir() {
			err = &pathError{sentinel: ErrNotRegular, msg: name + " is a directory, not a file"}
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
