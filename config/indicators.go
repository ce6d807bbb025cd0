package config

import (
	"errors"
	"fmt"
	"path/filepath"

	"webfim/indicators"
	"webfim/indicators/yara"
)

// IndicatorSettings are the web-shell content indicators of webfim.yml
// (the indicators section): whether new and changed files are scanned,
// and the engine's settings (thresholds, weights, size limits, YARA rule
// files; see package indicators and docs/indicators.md).
//
//	indicators:
//	  enabled: true
//	  thresholds: {low: 15, medium: 40, high: 70}
//	  weights: {php.exec: 0}
//	  yara:
//	    rules: [/etc/webfim/rules/webshells.yar]
type IndicatorSettings struct {
	// Enabled scans each added, moved or changed script-type file as it
	// is hashed; false turns the indicators off.
	Enabled             bool `yaml:"enabled"`
	indicators.Settings `yaml:",inline"`
}

// defaultIndicators are the built-in indicator settings, as a file would
// spell them.
func defaultIndicators() IndicatorSettings {
	return IndicatorSettings{
		Enabled: true,
		Settings: indicators.Settings{
			Thresholds: indicators.DefaultThresholds,
			Weights:    map[string]int{},
			MaxBytes:   indicators.DefaultMaxBytes,
			TailBytes:  indicators.DefaultTailBytes,
			YARA:       yara.Settings{Rules: []string{}, Timeout: yara.DefaultTimeout, Weight: yara.DefaultWeight},
		},
	}
}

// validate checks the indicator settings (errors name their key under
// "indicators.") and fills in the defaults of what the file left out, so
// that the effective configuration shows them.
func (s *IndicatorSettings) validate() error {
	if err := s.Settings.Validate(); err != nil {
		var se *indicators.SettingsError
		if errors.As(err, &se) {
			return fieldErrorf("indicators."+se.Key, "%w", se.Err)
		}
		return fieldErrorf("indicators", "%w", err)
	}
	for i, r := range s.YARA.Rules {
		if r == "" || !filepath.IsAbs(r) {
			return fieldErrorf(fmt.Sprintf("indicators.yara.rules[%d]", i), "rule file %q is not an absolute path", r)
		}
	}
	d := defaultIndicators()
	t := &s.Thresholds
	if t.Low == 0 {
		t.Low = d.Thresholds.Low
	}
	if t.Medium == 0 {
		t.Medium = d.Thresholds.Medium
	}
	if t.High == 0 {
		t.High = d.Thresholds.High
	}
	if s.Weights == nil {
		s.Weights = map[string]int{}
	}
	if s.MaxBytes == 0 {
		s.MaxBytes = d.MaxBytes
	}
	if s.TailBytes == 0 {
		s.TailBytes = min(d.TailBytes, s.MaxBytes)
	}
	if s.YARA.Rules == nil {
		s.YARA.Rules = []string{}
	}
	if s.YARA.Timeout == 0 {
		s.YARA.Timeout = d.YARA.Timeout
	}
	if s.YARA.Weight == 0 {
		s.YARA.Weight = d.YARA.Weight
	}
	return nil
}

// Engine returns the indicator engine of the settings, nil when they are
// disabled. The YARA rule files are not compiled here (see
// [yara.Compile]).
func (s *IndicatorSettings) Engine() (*indicators.Engine, error) {
	if !s.Enabled {
		return nil, nil
	}
	return indicators.New(s.Settings)
}

// ErrorAt places err, a problem with the value of key (a dotted key path
// such as "indicators.yara.rules[0]"), in the file the configuration was
// loaded from: "file:line: key: err". For problems found after loading,
// such as a YARA rule file that does not compile.
func (c *Config) ErrorAt(key string, err error) error {
	line := 0
	if c.tree != nil {
		line = locate(c.tree, key).Line
	}
	file := c.File
	if file == "" {
		file = "built-in configuration"
	}
	return &ConfigError{File: file, Line: line, Key: key, Err: err}
}
