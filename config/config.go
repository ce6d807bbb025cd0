package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"webfim/baseline"
	"webfim/config/bytesize"
	"webfim/output"
	"webfim/policy"
	"webfim/serverconf"
	"webfim/trust"
)

// MaxFileSize bounds the size of a config file that [Load] reads.
const MaxFileSize = 4 << 20

// Config is the decoded webfim.yml with defaults filled in.
type Config struct {
	// Policy holds the keys that judge changes (roots, script extensions,
	// no-script zones, deploy windows, allowed writers, ignore, rules); they
	// are top-level keys of the file.
	policy.Policy `yaml:",inline"`
	// Configs are the server configuration files to inventory (registry
	// hive files included; on Windows, HKLM\SYSTEM and HKLM\SOFTWARE name
	// the live registry). Empty: the files found by discovery.
	Configs []string `yaml:"configs"`
	// Watch tunes the watch daemon.
	Watch WatchSettings `yaml:"watch"`
	// Attribution configures process attribution (Linux): who wrote a
	// file, and servers spawning shells (rule webfim-022).
	Attribution AttributionSettings `yaml:"attribution"`
	// Outputs are where alerts go; default: stdout.
	Outputs []output.Config `yaml:"outputs"`
	// Outbox bounds the durable queue of undelivered alerts.
	Outbox OutboxSettings `yaml:"outbox"`
	// TrustedKeys are the public keys (authorized_keys format, e.g. the
	// content of a .pub file) trusted to sign baselines.
	TrustedKeys []string `yaml:"trusted_keys"`
	// RequireSigned makes diff and watch refuse a baseline that is not
	// signed by a trusted key.
	RequireSigned bool `yaml:"require_signed"`
	// Indicators are the web-shell content indicators run on new and
	// changed files.
	Indicators IndicatorSettings `yaml:"indicators"`
	// LargeFileThreshold is the size above which a file is tracked by its
	// metadata and a digest of its size, head and tail instead of its
	// whole content (see docs/baseline.md, "Large and sparse files").
	LargeFileThreshold bytesize.Size `yaml:"large_file_threshold"`
	// CrossDevice makes walks and the daemon descend into file systems
	// mounted inside a root, as --cross-device does.
	CrossDevice bool `yaml:"cross_device"`

	// File is the path the config was loaded from; empty for [Default].
	File string `yaml:"-"`
	// tree is the parsed file, to place errors found later ([Config.ErrorAt]).
	tree *yaml.Node
	// configLines are the lines of the configs entries.
	configLines []int
}

// WatchSettings are the timings of the watch daemon.
type WatchSettings struct {
	// Debounce is how long a path must stay quiet before it is examined.
	Debounce time.Duration `yaml:"debounce"`
	// RescanInterval is the period of fast reconciliation rescans
	// (metadata, re-hash only what looks changed); 0 disables them.
	RescanInterval time.Duration `yaml:"rescan_interval"`
	// FullRescanInterval is the period of full re-hash rescans; 0 disables.
	FullRescanInterval time.Duration `yaml:"full_rescan_interval"`
	// ReminderInterval re-alerts a finding still present after that long;
	// 0 alerts once until the file changes again.
	ReminderInterval time.Duration `yaml:"reminder_interval"`
	// RescanRateLimit caps rescan reads in bytes per second; 0 is unlimited.
	RescanRateLimit bytesize.Size `yaml:"rescan_rate_limit"`
}

// OutboxSettings bound the durable outbox.
type OutboxSettings struct {
	// MaxEntries is the most undelivered documents kept; beyond it the
	// oldest are dropped and counted.
	MaxEntries int `yaml:"max_entries"`
	// DeadLetter is the NDJSON file that keeps documents an output
	// rejected for good (such as an Elasticsearch mapping error); empty:
	// beside the database, see [DeadLetterPath].
	DeadLetter string `yaml:"dead_letter,omitempty"`
}

// Default returns the built-in configuration.
func Default() *Config {
	return &Config{
		Policy:  *policy.Default(),
		Configs: []string{},
		Watch: WatchSettings{
			Debounce:           300 * time.Millisecond,
			RescanInterval:     time.Hour,
			FullRescanInterval: 24 * time.Hour,
			ReminderInterval:   24 * time.Hour,
			RescanRateLimit:    50 << 20,
		},
		Attribution:        defaultAttribution(),
		Outputs:            []output.Config{{Type: output.TypeStdout}},
		Outbox:             OutboxSettings{MaxEntries: 100000},
		TrustedKeys:        []string{},
		Indicators:         defaultIndicators(),
		LargeFileThreshold: baseline.DefaultLargeFileThreshold,
	}
}

// DeadLetterPath is the dead-letter file in effect for a database: the
// outbox's dead_letter setting, else the database's name with the
// extension ".deadletter.ndjson" in its directory
// (/var/lib/webfim/webfim.db: /var/lib/webfim/webfim.deadletter.ndjson).
func (c *Config) DeadLetterPath(dbPath string) string {
	if c.Outbox.DeadLetter != "" {
		return c.Outbox.DeadLetter
	}
	return dbPath[:len(dbPath)-len(filepath.Ext(dbPath))] + ".deadletter.ndjson"
}

// Load reads and validates a config file. Every error about its content
// wraps [ErrInvalid] and names the file, line and key.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, &ConfigError{File: path, Err: fmt.Errorf("file larger than %d bytes", MaxFileSize)}
	}
	return Parse(path, data)
}

// Parse decodes config data; name is used in error messages.
func Parse(name string, data []byte) (c *Config, err error) {
	defer func() {
		// The YAML library is not expected to panic, but a config file
		// must never crash the daemon.
		if r := recover(); r != nil {
			c, err = nil, &ConfigError{File: name, Err: fmt.Errorf("cannot parse: %v", r)}
		}
	}()
	c = Default()
	c.File = name
	root, err := parseTree(name, data)
	if err != nil {
		return nil, err
	}
	if root != nil {
		if err := checkDuplicates(name, root, ""); err != nil {
			return nil, err
		}
		// The tree gives lines and key paths; the library decodes, strictly.
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil {
			return nil, decodeError(name, root, err)
		}
	}
	if err := c.validate(); err != nil {
		return nil, placeError(name, root, err)
	}
	c.tree = root
	if root != nil {
		c.locateConfigs(root)
	}
	return c, nil
}

// validate checks the file's settings and those of the policy and the
// outputs it embeds, and fills in their defaults.
func (c *Config) validate() error {
	if err := c.Policy.Validate(); err != nil {
		return err
	}
	for i, p := range c.Configs {
		if !filepath.IsAbs(p) && !serverconf.IsLiveRegistry(p) {
			return fieldErrorf(fmt.Sprintf("configs[%d]", i), "config path %q is not absolute (nor HKLM\\SYSTEM or HKLM\\SOFTWARE)", p)
		}
	}
	for _, d := range []struct {
		key string
		d   time.Duration
	}{
		{"debounce", c.Watch.Debounce}, {"rescan_interval", c.Watch.RescanInterval},
		{"full_rescan_interval", c.Watch.FullRescanInterval}, {"reminder_interval", c.Watch.ReminderInterval},
	} {
		if d.d < 0 {
			return fieldErrorf("watch."+d.key, "negative duration %q", d.d)
		}
	}
	if err := c.Attribution.validate(); err != nil {
		return err
	}
	if len(c.Outputs) == 0 {
		return fieldErrorf("outputs", "no output: give at least one (type: stdout)")
	}
	for i := range c.Outputs {
		if err := c.Outputs[i].Validate(); err != nil {
			var fe *output.FieldError
			if errors.As(err, &fe) {
				return fieldErrorf(fmt.Sprintf("outputs[%d].%s", i, fe.Key), "%w", fe.Err)
			}
			return fieldErrorf(fmt.Sprintf("outputs[%d]", i), "%w", err)
		}
	}
	if c.Outbox.MaxEntries <= 0 {
		return fieldErrorf("outbox.max_entries", "want a positive number, got %d", c.Outbox.MaxEntries)
	}
	if p := c.Outbox.DeadLetter; p != "" && !filepath.IsAbs(p) {
		return fieldErrorf("outbox.dead_letter", "dead-letter file %q is not absolute", p)
	}
	for i, k := range c.TrustedKeys {
		if _, err := trust.ParseTrustedKey(k); err != nil {
			return fieldErrorf(fmt.Sprintf("trusted_keys[%d]", i), "%v", err)
		}
	}
	if min := bytesize.Size(2 * baseline.SampleSize); c.LargeFileThreshold < min {
		return fieldErrorf("large_file_threshold", "%s is below %s (a sampled file is read %s at each end)", c.LargeFileThreshold, min, bytesize.Size(baseline.SampleSize))
	}
	if c.RequireSigned && len(c.TrustedKeys) == 0 {
		return fieldErrorf("require_signed", "no trusted_keys to check signatures with")
	}
	return c.Indicators.validate()
}

// Marshal returns the effective configuration as YAML, with secrets
// redacted (see [output.Config.Redacted]).
func (c *Config) Marshal() ([]byte, error) {
	cp := *c
	cp.Outputs = make([]output.Config, len(c.Outputs))
	for i, o := range c.Outputs {
		cp.Outputs[i] = o.Redacted()
	}
	var n yaml.Node
	if err := n.Encode(&cp); err != nil {
		return nil, err
	}
	flowScalarLists(&n)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// flowScalarLists prints lists of scalars on one line ([php, asp]), which
// keeps the effective configuration readable.
func flowScalarLists(n *yaml.Node) {
	if n.Kind == yaml.SequenceNode {
		flow := true
		for _, c := range n.Content {
			flow = flow && c.Kind == yaml.ScalarNode
		}
		if flow {
			n.Style = yaml.FlowStyle
		}
	}
	for _, c := range n.Content {
		flowScalarLists(c)
	}
}
