//go:build unix

package safefile

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// CheckDir returns nil if only the current user and root can create,
// remove or rename entries in dir, or if dir is sticky and owned by root.
// Otherwise it returns an error wrapping [ErrUnsafe] that names the
// directory, what is wrong and how to fix it. A missing directory yields
// an error wrapping fs.ErrNotExist.
func CheckDir(dir string) error {
	fi, err := statDir(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	mode := fi.Mode()
	if mode&os.ModeSticky != 0 && st.Uid == 0 {
		return nil // like /tmp: others cannot touch entries they do not own
	}
	if !trusted(st.Uid) {
		return &pathError{sentinel: ErrUnsafe, msg: fmt.Sprintf(
			"directory %s belongs to %s, who could replace the files in it: use a directory owned by you or root (chown)",
			dir, userName(st.Uid))}
	}
	if mode.Perm()&0o022 != 0 {
		who := "other users"
		if mode.Perm()&0o002 == 0 {
			who = "its group"
		}
		return &pathError{sentinel: ErrUnsafe, msg: fmt.Sprintf(
			"directory %s is writable by %s (mode %#o), who could replace the files in it: run 'chmod go-w %s' or use another directory",
			dir, who, mode.Perm(), dir)}
	}
	return nil
}

// OpenFile is os.OpenFile for a file webfim keeps for itself: it checks
// the file's directory with [CheckDir], does not follow a symbolic link
// at name, does not block on a FIFO, and refuses anything but a regular
// file owned by the current user or root.
func OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	if err := CheckDir(filepath.Dir(name)); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(name, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, perm)
	if err != nil {
		switch {
		case errors.Is(err, syscall.ELOOP):
			if target, lerr := os.Readlink(name); lerr == nil {
				return nil, &pathError{sentinel: ErrUnsafe, inner: err, msg: fmt.Sprintf(
					"%s is a symbolic link (to %s); webfim does not follow links to its own files: give the real path", name, target)}
			}
		case errors.Is(err, syscall.EISDIR):
			return nil, &pathError{sentinel: ErrNotRegular, inner: err, msg: name + " is a directory, not a file"}
		}
		return nil, err
	}
	if err := checkOpened(f, name); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func checkOpened(f *os.File, name string) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	switch {
	case fi.IsDir():
		return &pathError{sentinel: ErrNotRegular, msg: name + " is a directory, not a file"}
	case !fi.Mode().IsRegular():
		return &pathError{sentinel: ErrNotRegular, msg: fmt.Sprintf("%s is not a regular file (%s)", name, fi.Mode().Type())}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && !trusted(st.Uid) {
		return &pathError{sentinel: ErrUnsafe, msg: fmt.Sprintf(
			"%s belongs to %s, not to you or root: another user may have planted it; remove it or use another path", name, userName(st.Uid))}
	}
	return nil
}

func trusted(uid uint32) bool { return uid == 0 || int(uid) == os.Geteuid() }

func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return "user " + u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}
