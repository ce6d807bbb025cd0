package serverconf

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/zeebo/blake3"
)

// MaxConfigSize bounds how much of a configuration file is read; a larger
// file is reported as unparsable rather than exhausting memory.
const MaxConfigSize = 16 << 20

// maxItems bounds the items of one inventory: real configurations
// have a few thousand at most.
const maxItems = 100000

// maxImageSize bounds the module binaries that are hashed.
const maxImageSize = 1 << 30

// sysroot maps paths of the examined server (as its configs spell them,
// "/etc/apache2/..." or "C:\Windows\...") to paths on this host. An empty
// dir is the live system.
type sysroot struct{ dir string }

// driveLetter returns the upper-case drive letter p starts with ("D:").
func driveLetter(p string) (byte, bool) {
	if len(p) >= 2 && p[1] == ':' && (p[0]|0x20 >= 'a' && p[0]|0x20 <= 'z') {
		return p[0] &^ 0x20, true
	}
	return 0, false
}

// isWindowsPath reports whether p is spelled like a Windows path.
func isWindowsPath(p string) bool {
	if _, ok := driveLetter(p); ok {
		return true
	}
	return strings.Contains(p, `\`)
}

// serverPath normalises p to a clean, slash-separated, absolute path on the
// examined server; drive letters are dropped (the sysroot is the system
// volume).
func serverPath(p string) string {
	if isWindowsPath(p) {
		if _, ok := driveLetter(p); ok {
			p = p[2:]
		}
		p = strings.ReplaceAll(p, `\`, "/")
	}
	return path.Clean("/" + p)
}

// host returns the host path of server path p, following symbolic links
// inside the sysroot (an absolute link target is taken relative to the
// sysroot, never to the host). Components of Windows paths, and of every
// path when fold is set, match case-insensitively when no exact match
// exists, since an NTFS volume may be mounted case-sensitively.
func (r sysroot) host(p string, fold bool) (string, error) {
	fold = fold || isWindowsPath(p)
	if r.dir == "" && runtime.GOOS == "windows" {
		return p, nil
	}
	base := r.dir
	if base == "" {
		base = "/"
	}
	sp := serverPath(p)
	for hops := 0; ; hops++ {
		if hops > 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		next, restart, err := r.walk(base, sp, fold)
		if err != nil || !restart {
			return next, err
		}
		sp = next
	}
}

// walk resolves sp component by component; when it meets a symbolic link
// it returns the rewritten server path and restart=true.
func (r sysroot) walk(base, sp string, fold bool) (string, bool, error) {
	var comps []string
	if sp != "/" {
		comps = strings.Split(strings.TrimPrefix(sp, "/"), "/")
	}
	cur, done := base, "/"
	for i, c := range comps {
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		if err != nil && fold && errors.Is(err, fs.ErrNotExist) {
			if ents, derr := os.ReadDir(cur); derr == nil {
				for _, e := range ents {
					if strings.EqualFold(e.Name(), c) {
						c = e.Name()
						next = filepath.Join(cur, c)
						fi, err = os.Lstat(next)
						break
					}
				}
			}
		}
		if err != nil {
			return "", false, err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			t, err := os.Readlink(next)
			if err != nil {
				return "", false, err
			}
			rest := path.Join(comps[i+1:]...)
			if path.IsAbs(t) || isWindowsPath(t) {
				return path.Join(serverPath(t), rest), true, nil
			}
			return path.Join(done, t, rest), true, nil
		}
		cur, done = next, path.Join(done, c)
	}
	return cur, false, nil
}

// display is how a host path is shown and recorded: as a path on the
// examined server, so baselines of a mounted image stay comparable when
// the mount point changes.
func (r sysroot) display(hostPath string) string {
	if r.dir == "" {
		return hostPath
	}
	rel, err := filepath.Rel(r.dir, hostPath)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return hostPath
	}
	return path.Clean("/" + filepath.ToSlash(rel))
}

// readConfig reads a configuration file of at most limit bytes and
// returns it with its BLAKE3 digest. A larger file is not read into
// memory but still hashed, streaming, up to maxImageSize bytes: its
// digest comes back with errTooLarge, so that an unparsable file still
// has one.
func readConfig(name string, limit int64) (data []byte, sum string, err error) {
	// stat first: opening a FIFO planted where a config is expected
	// would block
	if fi, err := os.Stat(name); err != nil {
		return nil, "", err
	} else if !fi.Mode().IsRegular() {
		return nil, "", fmt.Errorf("%s: not a regular file", name)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", err
	}
	if !fi.Mode().IsRegular() {
		return nil, "", fmt.Errorf("%s: not a regular file", name)
	}
	if fi.Size() <= limit {
		data, err = io.ReadAll(io.LimitReader(f, limit+1))
		if err != nil {
			return nil, "", err
		}
		if int64(len(data)) <= limit {
			d := blake3.Sum256(data)
			return data, hex.EncodeToString(d[:]), nil
		}
	}
	// Too large: hash what was read and the rest.
	h := blake3.New()
	h.Write(data)
	if _, err := io.Copy(h, io.LimitReader(f, maxImageSize-int64(len(data)))); err != nil {
		return nil, "", err
	}
	return nil, hex.EncodeToString(h.Sum(nil)), errTooLarge
}

var errTooLarge = fmt.Errorf("larger than %d bytes", MaxConfigSize)
