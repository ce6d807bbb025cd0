package indicators

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"webfim/indicators/yara"
)

// Level grades a file's score against the [Thresholds].
type Level uint8

// The levels, from no indicator worth reporting to a strong hit.
const (
	LevelNone Level = iota
	LevelLow
	LevelMedium
	LevelHigh
)

var levelNames = [...]string{"none", "low", "medium", "high"}

func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return "none"
}

// MarshalText makes a Level appear by name in JSON.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// ParseLevel is the inverse of [Level.String].
func ParseLevel(s string) (Level, error) {
	for i, n := range levelNames {
		if strings.EqualFold(s, n) {
			return Level(i), nil
		}
	}
	return LevelNone, fmt.Errorf("%w: level %q (want low, medium or high)", ErrSettings, s)
}

// Thresholds are the scores at which a file reaches each level.
type Thresholds struct {
	Low    int `yaml:"low" json:"low"`
	Medium int `yaml:"medium" json:"medium"`
	High   int `yaml:"high" json:"high"`
}

// Level grades score.
func (t Thresholds) Level(score int) Level {
	switch {
	case score >= t.High:
		return LevelHigh
	case score >= t.Medium:
		return LevelMedium
	case score >= t.Low:
		return LevelLow
	}
	return LevelNone
}

// Defaults.
const (
	// DefaultMaxBytes is the head of a file that is scanned in full.
	DefaultMaxBytes = 1 << 20
	// DefaultTailBytes is the end of a larger file that is scanned too
	// (code appended to a big file is caught).
	DefaultTailBytes = 64 << 10
	// maxScanBytes caps max_bytes: the scanner's buffer is this large.
	maxScanBytes = 64 << 20
)

// DefaultThresholds: one strong indicator is high; two suspicious
// constructs together are medium; a lone weak signal is low.
var DefaultThresholds = Thresholds{Low: 15, Medium: 40, High: 70}

// Settings configure an [Engine]. The zero value means the defaults. It is
// meant to be embedded in webfim.yml (as the "indicators" section):
//
//	indicators:
//	  thresholds: {low: 15, medium: 40, high: 70}
//	  weights: {php.exec: 0, any.long-line: 5}
//	  max_bytes: 1048576
//	  tail_bytes: 65536
type Settings struct {
	// Thresholds grade scores; zero fields take the default.
	Thresholds Thresholds `yaml:"thresholds" json:"thresholds"`
	// Weights override the default weight of indicators by id; 0
	// disables one. Unknown ids are an error (a typo must not silently
	// keep an indicator on).
	Weights map[string]int `yaml:"weights" json:"weights,omitempty"`
	// MaxBytes is how much of the start of a file is scanned (0: the
	// default, 1 MiB). Larger files are scanned on this prefix plus
	// TailBytes of their end, and the result says so.
	MaxBytes int64 `yaml:"max_bytes" json:"max_bytes"`
	// TailBytes is how much of the end of a larger file is scanned (0:
	// the default, 64 KiB or MaxBytes if less; -1: none).
	TailBytes int64 `yaml:"tail_bytes" json:"tail_bytes"`
	// YARA names rule files run on the same files (see package yara).
	YARA yara.Settings `yaml:"yara" json:"yara"`
}

// ErrSettings is wrapped by every error about invalid settings.
var ErrSettings = errors.New("invalid indicator settings")

// SettingsError is an invalid setting. Key names it as in webfim.yml's
// indicators section: "thresholds", "max_bytes", "tail_bytes",
// "weights.ID".
type SettingsError struct {
	Key string
	Err error
}

func (e *SettingsError) Error() string {
	return ErrSettings.Error() + ": " + e.Key + ": " + e.Err.Error()
}

func (e *SettingsError) Unwrap() []error { return []error{ErrSettings, e.Err} }

func settingsErrorf(key, format string, args ...any) error {
	return &SettingsError{Key: key, Err: fmt.Errorf(format, args...)}
}

// withDefaults returns s with its zero fields set to the defaults, or a
// *[SettingsError] naming the offending key.
func (s Settings) withDefaults() (Settings, error) {
	t := &s.Thresholds
	if t.Low == 0 {
		t.Low = DefaultThresholds.Low
	}
	if t.Medium == 0 {
		t.Medium = DefaultThresholds.Medium
	}
	if t.High == 0 {
		t.High = DefaultThresholds.High
	}
	if t.Low < 1 || t.Medium < t.Low || t.High < t.Medium {
		return s, settingsErrorf("thresholds", "must be positive and low <= medium <= high (got low %d, medium %d, high %d)", t.Low, t.Medium, t.High)
	}
	switch {
	case s.MaxBytes == 0:
		s.MaxBytes = DefaultMaxBytes
	case s.MaxBytes < SniffLen || s.MaxBytes > maxScanBytes:
		return s, settingsErrorf("max_bytes", "%d out of range (%d to %d)", s.MaxBytes, SniffLen, maxScanBytes)
	}
	switch {
	case s.TailBytes == 0:
		s.TailBytes = min(DefaultTailBytes, s.MaxBytes)
	case s.TailBytes == -1:
		s.TailBytes = 0
	case s.TailBytes < 0 || s.TailBytes > s.MaxBytes:
		return s, settingsErrorf("tail_bytes", "%d out of range (-1 for none, up to max_bytes %d)", s.TailBytes, s.MaxBytes)
	}
	for _, id := range slices.Sorted(maps.Keys(s.Weights)) {
		w := s.Weights[id]
		if _, ok := indexByID[id]; !ok {
			return s, settingsErrorf("weights."+id, "unknown indicator %q (see 'webfim scan --list')", id)
		}
		if w < 0 || w > 1000 {
			return s, settingsErrorf("weights."+id, "weight %d out of range (0 to 1000)", w)
		}
	}
	if s.YARA.Timeout < 0 {
		return s, settingsErrorf("yara.timeout", "negative duration %s", s.YARA.Timeout)
	}
	if s.YARA.Weight < 0 || s.YARA.Weight > 1000 {
		return s, settingsErrorf("yara.weight", "weight %d out of range (0 to 1000)", s.YARA.Weight)
	}
	return s, nil
}

// Validate checks s as [New] would, without building an engine. Errors
// are *[SettingsError] values.
func (s Settings) Validate() error {
	_, err := s.withDefaults()
	return err
}
