// Package bytesize is the byte-size value of the config file: "100MB"
// (powers of 1000), "64MiB" or "64M" (powers of 1024), or a plain number
// of bytes. It is a package of its own because both package config (the
// watch settings) and package output (file rotation) use it, and config
// imports output.
package bytesize

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Size is a number of bytes.
type Size int64

var units = []struct {
	suffix string
	n      int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
}

// Expect describes the accepted notation, for error messages.
const Expect = `a size such as "100MB", "64MiB" or a number of bytes`

// Parse reads a size such as "100MB", "64 MiB" or "1048576".
func Parse(s string) (Size, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.n
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || (n > 0 && mult > (1<<62)/n) {
		return 0, fmt.Errorf("want %s, got %q", Expect, s)
	}
	return Size(n * mult), nil
}

// String prints the size with the largest unit that divides it exactly.
func (b Size) String() string {
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}} {
		if b != 0 && int64(b)%u.n == 0 {
			return strconv.FormatInt(int64(b)/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// UnmarshalYAML reads a scalar in the notation of [Parse]. Errors are
// *yaml.TypeError values worded like the YAML library's own ("line N:
// ..."), so that the decoder reports them with the other errors of the
// file.
func (b *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal %s into %T", n.Line, n.ShortTag(), *b)}}
	}
	v, err := Parse(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*b = v
	return nil
}

// MarshalYAML prints the size as [Size.String] does.
func (b Size) MarshalYAML() (any, error) { return b.String(), nil }
