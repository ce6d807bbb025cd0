//go:build windows

package baseline

import (
	"io"
	"io/fs"
	"os"
	"sync/atomic"
)

// On Windows there is no ctime, inode, device, uid or gid in what package
// os exposes cheaply; those fields stay 0, so the incremental rule falls
// back to size and mtime.
func fillFromInfo(r *Record, fi fs.FileInfo) {
	r.Mode = fi.Mode()
	switch {
	case fi.Mode().IsRegular():
		r.Type = TypeFile
	case fi.IsDir():
		r.Type = TypeDir
	case fi.Mode()&fs.ModeSymlink != 0:
		r.Type = TypeSymlink
	default:
		r.Type = TypeOther
	}
	r.Size = fi.Size()
	r.Mtime = fi.ModTime().UnixNano()
}

func statEntry(path string, r *Record, follow bool) error {
	var fi fs.FileInfo
	var err error
	if follow {
		fi, err = os.Stat(path)
	} else {
		fi, err = os.Lstat(path)
	}
	if err != nil {
		return err
	}
	fillFromInfo(r, fi)
	return nil
}

func readLink(path string) (string, error) { return os.Readlink(path) }

type dirHandle struct {
	f    *os.File
	refs atomic.Int32
}

func openDir(parent *dirHandle, name, path string, follow bool) (*dirHandle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	d := &dirHandle{f: f}
	d.refs.Store(1)
	return d, nil
}

func (d *dirHandle) entries() ([]dirEntry, error) { return dirEntries(d.f.ReadDir(-1)) }

func (d *dirHandle) acquire() *dirHandle { d.refs.Add(1); return d }

func (d *dirHandle) release() {
	if d != nil && d.refs.Add(-1) == 0 {
		d.f.Close()
	}
}

func (d *dirHandle) openFile(name, path string) (fileHandle, error) { return openRegular(path) }

func (d *dirHandle) lstat(name, root, rel string, r *Record) error {
	return statEntry(fullPath(root, rel), r, false)
}

func (d *dirHandle) readlink(name, root, rel string, size int64) (string, error) {
	return os.Readlink(fullPath(root, rel))
}

type fileHandle struct{ f *os.File }

func openRegular(path string) (fileHandle, error) {
	f, err := os.Open(path)
	return fileHandle{f}, err
}

func (h fileHandle) stat(r *Record) error {
	fi, err := h.f.Stat()
	if err != nil {
		return err
	}
	fillFromInfo(r, fi)
	return nil
}

func (h fileHandle) read(b []byte) (int, error) {
	n, err := h.f.Read(b)
	if err == io.EOF {
		err = nil
	}
	return n, err
}

func (h fileHandle) rewind() error {
	_, err := h.f.Seek(0, io.SeekStart)
	return err
}

func (h fileHandle) close() error { return h.f.Close() }

func (h fileHandle) seek(off int64) error {
	_, err := h.f.Seek(off, 0)
	return err
}
