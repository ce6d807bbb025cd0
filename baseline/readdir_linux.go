package baseline

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"sync"

	"golang.org/x/sys/unix"
)

// direntBufs are getdents(2) buffers, shared by the listings.
var direntBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// listing is the scratch of one directory listing: names packed in one
// buffer, so that a directory costs two allocations (its names and its
// entries) instead of one per entry.
type listing struct {
	names []byte
	ents  []packedEntry
}

type packedEntry struct {
	off, n int
	typ    fs.FileMode
}

var listings = sync.Pool{New: func() any { return new(listing) }}

// entries lists the directory with getdents(2) straight into dirEntry
// values: os.File.ReadDir would allocate an fs.DirEntry per entry. As in
// ReadDir, an entry whose type the file system does not report is
// lstat'ed (and left out if it vanished meanwhile).
func (d *dirHandle) entries() ([]dirEntry, error) {
	bp := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(bp)
	buf := *bp
	l := listings.Get().(*listing)
	defer listings.Put(l)
	l.names, l.ents = l.names[:0], l.ents[:0]
	for {
		n, err := unix.Getdents(d.fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "readdirent", Path: d.path, Err: err}
		}
		if n <= 0 {
			break
		}
		// struct linux_dirent64: ino u64, off s64, reclen u16, type u8,
		// then the NUL-terminated name.
		for rec := buf[:n]; len(rec) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(rec[16:]))
			if reclen < 19 || reclen > len(rec) {
				return nil, &fs.PathError{Op: "readdirent", Path: d.path, Err: errors.New("malformed directory entry")}
			}
			ino := binary.NativeEndian.Uint64(rec)
			typ := rec[18]
			name := rec[19:reclen]
			rec = rec[reclen:]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			if ino == 0 || string(name) == "." || string(name) == ".." {
				continue
			}
			var mode fs.FileMode
			switch typ {
			case unix.DT_REG:
			case unix.DT_DIR:
				mode = fs.ModeDir
			case unix.DT_LNK:
				mode = fs.ModeSymlink
			case unix.DT_FIFO:
				mode = fs.ModeNamedPipe
			case unix.DT_SOCK:
				mode = fs.ModeSocket
			case unix.DT_CHR:
				mode = fs.ModeDevice | fs.ModeCharDevice
			case unix.DT_BLK:
				mode = fs.ModeDevice
			default: // DT_UNKNOWN, or anything new
				var st unix.Stat_t
				err := unix.Fstatat(d.fd, string(name), &st, unix.AT_SYMLINK_NOFOLLOW)
				for err == unix.EINTR {
					err = unix.Fstatat(d.fd, string(name), &st, unix.AT_SYMLINK_NOFOLLOW)
				}
				if err == unix.ENOENT {
					continue // vanished since the listing
				}
				if err != nil {
					return nil, &fs.PathError{Op: "lstat", Path: d.path + "/" + string(name), Err: err}
				}
				mode = fileMode(uint32(st.Mode)).Type()
			}
			l.ents = append(l.ents, packedEntry{off: len(l.names), n: len(name), typ: mode})
			l.names = append(l.names, name...)
		}
	}
	if len(l.ents) == 0 {
		return nil, nil
	}
	all := string(l.names)
	entries := make([]dirEntry, len(l.ents))
	for i, e := range l.ents {
		entries[i] = dirEntry{name: all[e.off : e.off+e.n], typ: e.typ}
	}
	return entries, nil
}
