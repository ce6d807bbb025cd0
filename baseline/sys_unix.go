//go:build unix

package baseline

import (
	"io/fs"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// fillFromStat copies what an integrity baseline needs out of a stat buffer.
func fillFromStat(r *Record, st *unix.Stat_t) {
	r.Mode = fileMode(uint32(st.Mode))
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		r.Type = TypeFile
	case unix.S_IFDIR:
		r.Type = TypeDir
	case unix.S_IFLNK:
		r.Type = TypeSymlink
	default:
		r.Type = TypeOther
	}
	r.Size = int64(st.Size)
	r.UID = st.Uid
	r.GID = st.Gid
	r.Mtime = st.Mtim.Nano()
	r.Ctime = st.Ctim.Nano()
	r.Inode = uint64(st.Ino)
	r.Dev = uint64(st.Dev)
}

// fileMode converts st_mode the way package os does.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// statEntry fills r's metadata from lstat(2), or stat(2) with follow (used
// for a root given as a symlink to a directory).
func statEntry(path string, r *Record, follow bool) error {
	var st unix.Stat_t
	var err error
	for {
		if follow {
			err = unix.Stat(path, &st)
		} else {
			err = unix.Lstat(path, &st)
		}
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	fillFromStat(r, &st)
	return nil
}

func readLink(path string) (string, error) { return os.Readlink(path) }

// dirHandle is an open directory: its entries are listed and stat'ed
// relative to it (fstatat), which spares the kernel a walk of the whole
// path for every entry and pins the directory being walked.
type dirHandle struct {
	fd   int          // a raw descriptor: an os.File would cost an fcntl(2) and a cleanup per directory
	path string       // for error messages
	refs atomic.Int32 // the walker's reference plus one per job in flight
}

// openDir opens a directory for listing: the entry name of parent
// (openat, sparing the kernel a walk of the whole path), or path when
// parent is nil. O_NOFOLLOW makes sure a directory swapped for a symlink
// after lstat is not followed out of the root.
func openDir(parent *dirHandle, name, path string, follow bool) (*dirHandle, error) {
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	var fd int
	var err error
	if parent != nil {
		for {
			fd, err = unix.Openat(parent.fd, name, flags, 0)
			if err != unix.EINTR {
				break
			}
		}
	} else {
		fd, err = openRetry(path, flags)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	d := &dirHandle{fd: fd, path: path}
	d.refs.Store(1)
	return d, nil
}

func (d *dirHandle) acquire() *dirHandle { d.refs.Add(1); return d }

// release drops a reference; the last one closes the directory.
func (d *dirHandle) release() {
	if d != nil && d.refs.Add(-1) == 0 {
		unix.Close(d.fd)
	}
}

// openFile is [openRegular] relative to the directory.
func (d *dirHandle) openFile(name, path string) (fileHandle, error) {
	for {
		fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return fileHandle(fd), nil
	}
}

// lstat is lstat(2) of the entry name of the directory; root and rel name
// it in error messages (the full path is built only then).
func (d *dirHandle) lstat(name, root, rel string, r *Record) error {
	var st unix.Stat_t
	for {
		err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == nil {
			break
		}
		if err != unix.EINTR {
			return &fs.PathError{Op: "lstat", Path: fullPath(root, rel), Err: err}
		}
	}
	fillFromStat(r, &st)
	return nil
}

func (d *dirHandle) readlink(name, root, rel string, size int64) (string, error) {
	n := max(int(size)+1, 128)
	for {
		buf := make([]byte, n)
		k, err := unix.Readlinkat(d.fd, name, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", &fs.PathError{Op: "readlink", Path: fullPath(root, rel), Err: err}
		}
		if k < n {
			return string(buf[:k]), nil
		}
		n *= 2
	}
}

func openRetry(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// fileHandle is a raw descriptor: regular files gain nothing from the
// runtime poller, and skipping os.File saves an allocation per file.
type fileHandle int

// openRegular opens path for hashing without following a symlink and
// without blocking should it have become a FIFO since lstat; the caller
// checks the type with stat.
func openRegular(path string) (fileHandle, error) {
	fd, err := openRetry(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return fileHandle(fd), nil
}

func (h fileHandle) stat(r *Record) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(h), &st); err != nil {
		return err
	}
	fillFromStat(r, &st)
	return nil
}

func (h fileHandle) read(b []byte) (int, error) {
	for {
		n, err := unix.Read(int(h), b)
		if err == unix.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}

func (h fileHandle) rewind() error {
	_, err := unix.Seek(int(h), 0, 0)
	return err
}

func (h fileHandle) seek(off int64) error {
	_, err := unix.Seek(int(h), off, 0)
	return err
}

func (h fileHandle) close() error { return unix.Close(int(h)) }
