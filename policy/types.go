package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as "500ms", "1h30m".
type Duration time.Duration

func (d *Duration) setScalar(s string) error {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("want %s, got %q", d.expect(), s)
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", s)
	}
	*d = Duration(v)
	return nil
}

func (*Duration) expect() string { return `a duration such as "500ms" or "1h"` }

// MarshalYAML prints the duration in time.Duration notation.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// ByteSize is a number of bytes written as "100MB", "64KiB" or a plain integer.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	n      int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
}

func (b *ByteSize) setScalar(s string) error {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.n
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || (n > 0 && mult > (1<<62)/n) {
		return fmt.Errorf("want %s, got %q", b.expect(), s)
	}
	*b = ByteSize(n * mult)
	return nil
}

func (*ByteSize) expect() string { return `a size such as "100MB", "64MiB" or a number of bytes` }

func (b ByteSize) String() string {
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

// MarshalYAML prints the size with the largest exact unit.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// Severity ranks a finding. The numbers are event.severity in ECS documents.
type Severity int

// Severities; Info is used for expected events.
const (
	Info     Severity = 0
	Low      Severity = 1
	Medium   Severity = 2
	High     Severity = 3
	Critical Severity = 4
)

var severityNames = [...]string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s >= 0 && int(s) < len(severityNames) {
		return severityNames[s]
	}
	return "severity(" + strconv.Itoa(int(s)) + ")"
}

// RiskScore is the default ECS event.risk_score (0-100) of a severity,
// the scale used by Elastic detection rules.
func (s Severity) RiskScore() float64 {
	return [...]float64{0, 21, 47, 73, 99}[min(max(int(s), 0), 4)]
}

// ParseSeverity parses "low", "medium", "high" or "critical".
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames[1:] {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return Severity(i + 1), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want low, medium, high or critical)", s)
}

func (s *Severity) setScalar(v string) error {
	p, err := ParseSeverity(v)
	if err != nil {
		return err
	}
	*s = p
	return nil
}

func (*Severity) expect() string { return "low, medium, high or critical" }

// MarshalYAML prints the severity name.
func (s Severity) MarshalYAML() (any, error) { return s.String(), nil }

// Weekday is a day of the week written "mon" or "monday" (any case).
type Weekday time.Weekday

func (w *Weekday) setScalar(s string) error {
	t := strings.ToLower(strings.TrimSpace(s))
	for d := time.Sunday; d <= time.Saturday; d++ {
		full := strings.ToLower(d.String())
		if t == full || t == full[:3] {
			*w = Weekday(d)
			return nil
		}
	}
	return fmt.Errorf("unknown weekday %q (want mon, tue, wed, thu, fri, sat or sun)", s)
}

func (*Weekday) expect() string { return "a weekday such as mon or monday" }

// MarshalYAML prints the three-letter day name.
func (w Weekday) MarshalYAML() (any, error) {
	return strings.ToLower(time.Weekday(w).String()[:3]), nil
}
