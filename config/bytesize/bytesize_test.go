package bytesize

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Size{
		"0": 0, "1048576": 1 << 20, "100MB": 100e6, "100MiB": 100 << 20, "100M": 100 << 20,
		"64 KiB": 64 << 10, "2GB": 2e9, "1TiB": 1 << 40, "5B": 5, " 7K ": 7 << 10,
	} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "1.5MB", "5 parsecs", "MB", "99999999999TiB", "0x10"} {
		if _, err := Parse(bad); err == nil || !strings.Contains(err.Error(), "want a size") {
			t.Errorf("Parse(%q) = %v, want an error", bad, err)
		}
	}
	for s, want := range map[Size]string{0: "0", 100 << 20: "100MiB", 100e6: "100MB", 1500: "1500", 3 << 30: "3GiB"} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int64(s), got, want)
		}
	}
}

func TestYAML(t *testing.T) {
	var v struct {
		A, B Size
	}
	if err := yaml.Unmarshal([]byte("a: 64MiB\nb: 1000\n"), &v); err != nil || v.A != 64<<20 || v.B != 1000 {
		t.Errorf("decoded %+v, %v", v, err)
	}
	for in, want := range map[string]string{
		"a: lots\n":     `line 1: want a size such as "100MB", "64MiB" or a number of bytes, got "lots"`,
		"a: [1MB]\n":    "line 1: cannot unmarshal !!seq into bytesize.Size",
		"\na: {x: 1}\n": "line 2: cannot unmarshal !!map into bytesize.Size",
	} {
		err := yaml.Unmarshal([]byte(in), &v)
		var te *yaml.TypeError
		if !errors.As(err, &te) || len(te.Errors) != 1 || te.Errors[0] != want {
			t.Errorf("%q: %v, want a TypeError %q", in, err, want)
		}
	}
	out, err := yaml.Marshal(struct{ A Size }{100e6})
	if err != nil || string(out) != "a: 100MB\n" {
		t.Errorf("marshal: %q, %v", out, err)
	}
}

// Whatever it is given, Parse does not panic, and what it accepts prints
// back to the same size.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"100MB", "64MiB", "0", "1K", "9223372036854775807", "4611686018427387904B", " 3 GiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("Parse(%q) = %d < 0", s, v)
		}
		back, err := Parse(v.String())
		if err != nil || back != v {
			t.Fatalf("Parse(%q) = %d prints as %q, which parses as %d, %v", s, v, v.String(), back, err)
		}
	})
}
