// Package safefile opens the files webfim keeps for itself (its database,
// the daemon's lock file, alert files) so that another local user cannot
// make webfim, which often runs as root, write to or read from a file of
// that user's choosing.
//
// [OpenFile] refuses a path when
//   - its final component is a symbolic link: it is not followed
//     (O_NOFOLLOW), so a link planted where the file should be cannot
//     redirect it to /etc/shadow;
//   - it is not a regular file (a directory, a FIFO, a device);
//   - the directory holding it can be written by a user other than the
//     current one and root ([CheckDir]): that user could swap the file for
//     a link or a file of their own between two opens. A sticky directory
//     owned by root (like /tmp) is accepted: there, nobody can remove or
//     rename an entry they do not own;
//   - the file belongs to another user than the current one and root
//     (someone else planted it, which a sticky directory allows).
//
// Errors wrap [ErrUnsafe] or [ErrNotRegular] and say what to fix. Only the
// file's own directory is checked, not its ancestors: Linux refuses to
// follow a symbolic link planted in a sticky world-writable directory
// (fs.protected_symlinks, on by default), which covers intermediate
// links in /tmp. On Windows, which has no such modes, only the symbolic
// link and file type checks apply.
package safefile

import (
	"errors"
	"os"
)

var (
	// ErrUnsafe: the path could be redirected or replaced by another user.
	ErrUnsafe = errors.New("unsafe path")
	// ErrNotRegular: the path names a directory, a FIFO, a device...
	ErrNotRegular = errors.New("not a regular file")
)

// pathError is an error with a full message that matches a sentinel
// (and the underlying error, if any) with errors.Is.
type pathError struct {
	msg      string
	sentinel error
	inner    error
}

func (e *pathError) Error() string { return e.msg }

func (e *pathError) Unwrap() []error {
	if e.inner == nil {
		return []error{e.sentinel}
	}
	return []error{e.sentinel, e.inner}
}

// statDir returns what dir is, if it is a directory.
func statDir(dir string) (os.FileInfo, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, &pathError{msg: dir + " is not a directory", sentinel: ErrNotRegular}
	}
	return fi, nil
}
