package writer

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// overlayUpper finds, in a mountinfo file, the overlay mount holding path
// and returns its upper directory and mount point.
func overlayUpper(mountinfo, path string) (upper, mountPoint string, err error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var best mountEntry
	for sc.Scan() {
		m, ok := parseMountinfoLine(sc.Text())
		if !ok || !within(path, m.mountPoint) || len(m.mountPoint) < len(best.mountPoint) {
			continue
		}
		best = m
	}
	if err := sc.Err(); err != nil {
		return "", "", err
	}
	if best.fsType != "overlay" {
		return "", "", fmt.Errorf("%s: no overlay mount in %s", path, mountinfo)
	}
	for _, o := range strings.Split(best.superOptions, ",") {
		if v, ok := strings.CutPrefix(o, "upperdir="); ok {
			return v, best.mountPoint, nil
		}
	}
	return "", "", fmt.Errorf("overlay %s: no upperdir (a read-only overlay, or hidden by the mount's options)", best.mountPoint)
}

func within(path, dir string) bool {
	return path == dir || dir == "/" || strings.HasPrefix(path, dir+"/")
}

type mountEntry struct {
	mountPoint, fsType, superOptions string
}

// parseMountinfoLine reads one line of /proc/PID/mountinfo:
// "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue".
func parseMountinfoLine(line string) (mountEntry, bool) {
	f := strings.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || sep+1 >= len(f) {
		return mountEntry{}, false
	}
	m := mountEntry{mountPoint: unescapeMountinfo(f[4]), fsType: f[sep+1]}
	if sep+3 < len(f) {
		m.superOptions = unescapeMountinfo(f[sep+3])
	}
	return m, true
}

// unescapeMountinfo undoes the octal escapes (\040 for a space, ...).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}
