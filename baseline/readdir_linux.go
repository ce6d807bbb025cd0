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

// entries lists the directory with getdents(2) straight into dirEntry
// values: os.File.ReadDir would allocate an fs.DirEntry per entry. As in
// ReadDir, an entry whose type the file system does not report is
// lstat'ed (and left out if it vanished meanwhile).
func (d *dirHandle) entries() ([]dirEntry, error) {
	bp := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(bp)
	buf := *bp
	var entries []dirEntry
	for {
		n, err := unix.Getdents(d.fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "readdirent", Path: d.path, Err: err}
		}
		if n <= 0 {
			return entries, nil
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
			e := dirEntry{name: string(name)}
			switch typ {
			case unix.DT_REG:
			case unix.DT_DIR:
				e.typ = fs.ModeDir
			case unix.DT_LNK:
				e.typ = fs.ModeSymlink
			case unix.DT_FIFO:
				e.typ = fs.ModeNamedPipe
			case unix.DT_SOCK:
				e.typ = fs.ModeSocket
			case unix.DT_CHR:
				e.typ = fs.ModeDevice | fs.ModeCharDevice
			case unix.DT_BLK:
				e.typ = fs.ModeDevice
			default: // DT_UNKNOWN, or anything new
				var st unix.Stat_t
				err := unix.Fstatat(d.fd, e.name, &st, unix.AT_SYMLINK_NOFOLLOW)
				for err == unix.EINTR {
					err = unix.Fstatat(d.fd, e.name, &st, unix.AT_SYMLINK_NOFOLLOW)
				}
				if err == unix.ENOENT {
					continue // vanished since the listing
				}
				if err != nil {
					return nil, &fs.PathError{Op: "lstat", Path: d.path + "/" + e.name, Err: err}
				}
				e.typ = fileMode(uint32(st.Mode)).Type()
			}
			entries = append(entries, e)
		}
	}
}
