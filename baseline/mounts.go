package baseline

import (
	"path/filepath"
	"slices"
	"strings"
)

// MountsUnder returns the mount points strictly inside root (resolved
// through symbolic links, as a walk resolves a root), sorted: the file
// systems a walk does not enter unless [Options.CrossDevice] is set, and
// which are therefore not covered. On systems without a mount table it
// returns [errors.ErrUnsupported].
func MountsUnder(root string) ([]string, error) {
	points, err := mountPoints()
	if err != nil {
		return nil, err
	}
	resolved, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range points {
		if isUnder(resolved, p) && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

// unescapeMount undoes the octal escapes of /proc/self/mountinfo
// ("\040" for a space, "\011", "\012", "\134").
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// parseMountinfo returns the mount points of a mountinfo table (the
// fifth field of each line).
func parseMountinfo(data string) []string {
	var out []string
	for line := range strings.Lines(data) {
		f := strings.Fields(line)
		if len(f) >= 5 {
			out = append(out, unescapeMount(f[4]))
		}
	}
	return out
}
