package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

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

// UnmarshalYAML reads a severity name. Errors are *yaml.TypeError values
// ("line N: ..."), which package config places in the file.
func (s *Severity) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, *s)
	}
	v, err := ParseSeverity(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*s = v
	return nil
}

// MarshalYAML prints the severity name.
func (s Severity) MarshalYAML() (any, error) { return s.String(), nil }

// Weekday is a day of the week written "mon" or "monday" (any case).
type Weekday time.Weekday

// UnmarshalYAML reads a day name. Errors are *yaml.TypeError values
// ("line N: ..."), which package config places in the file.
func (w *Weekday) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, *w)
	}
	t := strings.ToLower(strings.TrimSpace(n.Value))
	for d := time.Sunday; d <= time.Saturday; d++ {
		full := strings.ToLower(d.String())
		if t == full || t == full[:3] {
			*w = Weekday(d)
			return nil
		}
	}
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: unknown weekday %q (want mon, tue, wed, thu, fri, sat or sun)", n.Line, n.Value)}}
}

// MarshalYAML prints the three-letter day name.
func (w Weekday) MarshalYAML() (any, error) {
	return strings.ToLower(time.Weekday(w).String()[:3]), nil
}
