package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"go.yaml.in/yaml/v3"

	"webfim/baseline"
	"webfim/serverconf"
	"webfim/trust"
)

// MaxFileSize bounds the size of a config file that [Load] reads.
const MaxFileSize = 4 << 20

// Policy is the decoded webfim.yml with defaults filled in.
type Policy struct {
	// Roots are the web roots to baseline and watch. Empty: the roots found
	// by discovery.
	Roots []Root `yaml:"roots"`
	// Configs are the server configuration files to inventory (registry
	// hive files included; on Windows, HKLM\SYSTEM and HKLM\SOFTWARE name
	// the live registry). Empty: the files found by discovery.
	Configs []string `yaml:"configs"`
	// ScriptExtensions are the extensions (without dot, any case) of
	// script-type files; .htaccess, .user.ini and web.config always are.
	ScriptExtensions []string `yaml:"script_extensions"`
	// NoScriptZones are globs of paths where a script-type file is always
	// critical, deploy window or not.
	NoScriptZones []string `yaml:"no_script_zones"`
	// DeployWindows are the recurring and one-off windows in which changes
	// are expected.
	DeployWindows []DeployWindow `yaml:"deploy_windows"`
	// AllowedWriters are process names whose changes are expected, when
	// the writer of a change is known.
	AllowedWriters []string `yaml:"allowed_writers"`
	// Ignore are globs of paths whose changes are never reported.
	Ignore []string `yaml:"ignore"`
	// Rules override the enablement and severity of rules by id.
	Rules map[string]RuleSetting `yaml:"rules"`
	// Watch tunes the watch daemon.
	Watch WatchSettings `yaml:"watch"`
	// Outputs are where alerts go; default: stdout.
	Outputs []Output `yaml:"outputs"`
	// Outbox bounds the durable queue of undelivered alerts.
	Outbox OutboxSettings `yaml:"outbox"`
	// TrustedKeys are the public keys (authorized_keys format, e.g. the
	// content of a .pub file) trusted to sign baselines.
	TrustedKeys []string `yaml:"trusted_keys"`
	// RequireSigned makes diff and watch refuse a baseline that is not
	// signed by a trusted key.
	RequireSigned bool `yaml:"require_signed"`

	// File is the path the policy was loaded from; empty for [Default].
	File string `yaml:"-"`
}

// Root is one web root and its overrides of the global settings.
type Root struct {
	Path string `yaml:"path"`
	// Name is a short label used in alerts (webfim.root.name).
	Name string `yaml:"name,omitempty"`
	// Exclude are globs of paths that are not walked nor watched at all.
	Exclude []string `yaml:"exclude,omitempty"`
	// Ignore globs are added to the global ignore list for this root.
	Ignore []string `yaml:"ignore,omitempty"`
	// NoScriptZones and ScriptExtensions, when given, replace the global
	// lists for this root. The effective lists are filled in by Load.
	NoScriptZones    []string `yaml:"no_script_zones"`
	ScriptExtensions []string `yaml:"script_extensions"`
}

// RuleSetting overrides a rule's defaults.
type RuleSetting struct {
	Enabled  bool     `yaml:"enabled"`
	Severity Severity `yaml:"severity"`
}

// WatchSettings are the timings of the watch daemon.
type WatchSettings struct {
	// Debounce is how long a path must stay quiet before it is examined.
	Debounce Duration `yaml:"debounce"`
	// RescanInterval is the period of fast reconciliation rescans
	// (metadata, re-hash only what looks changed); 0 disables them.
	RescanInterval Duration `yaml:"rescan_interval"`
	// FullRescanInterval is the period of full re-hash rescans; 0 disables.
	FullRescanInterval Duration `yaml:"full_rescan_interval"`
	// ReminderInterval re-alerts a finding still present after that long;
	// 0 alerts once until the file changes again.
	ReminderInterval Duration `yaml:"reminder_interval"`
	// RescanRateLimit caps rescan reads in bytes per second; 0 is unlimited.
	RescanRateLimit ByteSize `yaml:"rescan_rate_limit"`
}

// Output types.
const (
	OutputStdout        = "stdout"
	OutputFile          = "file"
	OutputSyslog        = "syslog"
	OutputElasticsearch = "elasticsearch"
)

// Output is one alert destination. Only the fields of its Type may be set.
type Output struct {
	Type          string `yaml:"type"`
	FileOutput    `yaml:",inline" group:"file"`
	SyslogOutput  `yaml:",inline" group:"syslog"`
	ElasticOutput `yaml:",inline" group:"elasticsearch"`
}

// FileOutput appends NDJSON to a file rotated by size.
type FileOutput struct {
	Path     string   `yaml:"path,omitempty"`
	MaxSize  ByteSize `yaml:"max_size,omitempty"`  // rotate when the file would exceed this; default 100MB
	MaxFiles int      `yaml:"max_files,omitempty"` // rotated files kept; default 5
	// Fsync is "always" (after every document), "batch" (after every batch
	// of documents, the default) or "never" (leave it to the kernel).
	Fsync string `yaml:"fsync,omitempty"`
}

// SyslogOutput sends RFC 5424 messages.
type SyslogOutput struct {
	Network  string `yaml:"network,omitempty"`  // udp (default), tcp (octet counting) or unix
	Address  string `yaml:"address,omitempty"`  // host:port, or a socket path; default localhost:514 or /dev/log
	Facility string `yaml:"facility,omitempty"` // default local0
	AppName  string `yaml:"app_name,omitempty"` // default webfim
}

// ElasticOutput indexes documents into an Elasticsearch data stream with
// _id = event.id.
type ElasticOutput struct {
	URLs       []string `yaml:"urls,omitempty"`
	APIKey     string   `yaml:"api_key,omitempty"`
	Username   string   `yaml:"username,omitempty"`
	Password   string   `yaml:"password,omitempty"`
	CAFile     string   `yaml:"ca_file,omitempty"`
	DataStream string   `yaml:"data_stream,omitempty"` // default logs-webfim.alert-default
}

// OutboxSettings bound the durable outbox.
type OutboxSettings struct {
	// MaxEntries is the most undelivered documents kept; beyond it the
	// oldest are dropped and counted.
	MaxEntries int `yaml:"max_entries"`
}

// DefaultNoScriptZones are where web applications keep uploads and static
// assets: a script there is almost always a planted web shell.
var DefaultNoScriptZones = []string{
	"**/uploads/**",
	"**/wp-content/uploads/**",
	"**/images/**",
	"**/static/**",
	"**/aspnet_client/**",
}

// Default returns the built-in policy.
func Default() *Policy {
	p := &Policy{
		Roots:            []Root{},
		Configs:          []string{},
		ScriptExtensions: slices.Clone(baseline.DefaultScriptExtensions),
		NoScriptZones:    slices.Clone(DefaultNoScriptZones),
		DeployWindows:    []DeployWindow{},
		AllowedWriters:   []string{},
		Ignore:           []string{},
		Rules:            map[string]RuleSetting{},
		Watch: WatchSettings{
			Debounce:           Duration(300 * time.Millisecond),
			RescanInterval:     Duration(time.Hour),
			FullRescanInterval: Duration(24 * time.Hour),
			ReminderInterval:   Duration(24 * time.Hour),
			RescanRateLimit:    50 << 20,
		},
		Outputs:     []Output{{Type: OutputStdout}},
		Outbox:      OutboxSettings{MaxEntries: 100000},
		TrustedKeys: []string{},
	}
	for _, r := range catalog {
		p.Rules[r.ID] = RuleSetting{Enabled: true, Severity: r.Severity}
	}
	return p
}

// Load reads and validates a config file. Every error about its content
// wraps [ErrInvalid] and names the file, line and key.
func Load(path string) (*Policy, error) {
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
func Parse(name string, data []byte) (p *Policy, err error) {
	defer func() {
		// The YAML library is not expected to panic, but a config file
		// must never crash the daemon.
		if r := recover(); r != nil {
			p, err = nil, &ConfigError{File: name, Err: fmt.Errorf("cannot parse: %v", r)}
		}
	}()
	p = Default()
	p.File = name
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return p, p.compile() // an empty file is the default policy
		}
		return nil, yamlError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &ConfigError{File: name, Line: extra.Line, Err: errors.New("more than one YAML document")}
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(name, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return p, p.compile()
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return p, p.compile()
	}
	d := &decoder{file: name}
	if err := d.decode(root, reflectValue(p), ""); err != nil {
		return nil, err
	}
	if err := p.compile(); err != nil {
		return nil, err
	}
	return p, nil
}

// yamlError turns a syntax error of the YAML library ("yaml: line 3: ...")
// into "file:3: ...".
func yamlError(name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr == nil {
		_, msg, _ = strings.Cut(msg, ": ")
	}
	return &ConfigError{File: name, Line: line, Err: errors.New(msg)}
}

// validate checks the top-level settings whose errors belong to a key.
func (p *Policy) validate(set func(string) bool) error {
	seen := map[string]int{}
	for i := range p.Roots {
		r := &p.Roots[i]
		key := fmt.Sprintf("roots[%d].path", i)
		if j, dup := seen[r.Path]; dup {
			return keyErrorf(key, "root %q is listed twice (also roots[%d])", r.Path, j)
		}
		seen[r.Path] = i
		for path, j := range seen {
			if j != i && isUnder(r.Path, path) {
				return keyErrorf(key, "root %q is inside root %q (roots must not be nested)", r.Path, path)
			}
			if j != i && isUnder(path, r.Path) {
				return keyErrorf(key, "root %q contains root %q (roots must not be nested)", r.Path, path)
			}
		}
	}
	for i, c := range p.Configs {
		if !filepath.IsAbs(c) && !serverconf.IsLiveRegistry(c) {
			return keyErrorf(fmt.Sprintf("configs[%d]", i), "config path %q is not absolute (nor HKLM\\SYSTEM or HKLM\\SOFTWARE)", c)
		}
	}
	if err := checkExtensions("script_extensions", p.ScriptExtensions); err != nil {
		return err
	}
	if err := checkGlobs("no_script_zones", p.NoScriptZones); err != nil {
		return err
	}
	if err := checkGlobs("ignore", p.Ignore); err != nil {
		return err
	}
	for i, w := range p.AllowedWriters {
		if strings.TrimSpace(w) == "" {
			return keyErrorf(fmt.Sprintf("allowed_writers[%d]", i), "empty process name")
		}
	}
	for id := range p.Rules {
		if _, ok := RuleByID(id); !ok {
			return keyErrorf("rules."+id, "unknown rule id (known: %s)", strings.Join(ruleIDs(), ", "))
		}
	}
	if len(p.Outputs) == 0 {
		return keyErrorf("outputs", "no output: give at least one (type: stdout)")
	}
	for i, k := range p.TrustedKeys {
		if _, err := trust.ParseTrustedKey(k); err != nil {
			return keyErrorf(fmt.Sprintf("trusted_keys[%d]", i), "%v", err)
		}
	}
	if p.RequireSigned && len(p.TrustedKeys) == 0 {
		return keyErrorf("require_signed", "no trusted_keys to check signatures with")
	}
	return nil
}

func isUnder(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func checkGlobs(key string, globs []string) error {
	for i, g := range globs {
		if g == "" || !doublestar.ValidatePattern(g) {
			return keyErrorf(fmt.Sprintf("%s[%d]", key, i), "bad glob %q", g)
		}
	}
	return nil
}

func checkExtensions(key string, exts []string) error {
	for i, e := range exts {
		e = strings.TrimPrefix(e, ".")
		if e == "" || strings.ContainsAny(e, `/\. *?`) {
			return keyErrorf(fmt.Sprintf("%s[%d]", key, i), "bad extension %q (want e.g. php)", exts[i])
		}
		exts[i] = strings.ToLower(e)
	}
	return nil
}

func (r *Root) validate(set func(string) bool) error {
	if r.Path == "" {
		return keyErrorf("path", "missing: every root needs a path")
	}
	if !filepath.IsAbs(r.Path) {
		return keyErrorf("path", "root path %q is not absolute", r.Path)
	}
	r.Path = filepath.Clean(r.Path)
	if err := checkGlobs("exclude", r.Exclude); err != nil {
		return err
	}
	if err := checkGlobs("ignore", r.Ignore); err != nil {
		return err
	}
	if err := checkGlobs("no_script_zones", r.NoScriptZones); err != nil {
		return err
	}
	return checkExtensions("script_extensions", r.ScriptExtensions)
}

var facilities = []string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "local0", "local1", "local2", "local3", "local4",
	"local5", "local6", "local7"}

func (o *Output) validate(set func(string) bool) error {
	groups := map[string]bool{OutputStdout: true, OutputFile: true, OutputSyslog: true, OutputElasticsearch: true}
	if !set("type") {
		return keyErrorf("type", "missing: want stdout, file, syslog or elasticsearch")
	}
	if !groups[o.Type] {
		return keyErrorf("type", "unknown output type %q (want stdout, file, syslog or elasticsearch)", o.Type)
	}
	fields, names := fieldsOf(typeOfOutput)
	for _, name := range names {
		if f := fields[name]; f.group != "" && f.group != o.Type && set(name) {
			return keyErrorf(name, "not a setting of a %s output", o.Type)
		}
	}
	switch o.Type {
	case OutputFile:
		if o.Path == "" {
			return keyErrorf("path", "missing: a file output needs a path")
		}
		if o.MaxSize == 0 {
			o.MaxSize = 100 * 1000 * 1000
		}
		if o.MaxFiles == 0 {
			o.MaxFiles = 5
		}
		if o.MaxFiles < 0 {
			return keyErrorf("max_files", "negative number of files %d", o.MaxFiles)
		}
		switch o.Fsync {
		case "":
			o.Fsync = "batch"
		case "always", "batch", "never":
		default:
			return keyErrorf("fsync", "unknown fsync policy %q (want always, batch or never)", o.Fsync)
		}
	case OutputSyslog:
		switch o.Network {
		case "":
			o.Network = "udp"
		case "udp", "tcp", "unix":
		default:
			return keyErrorf("network", "unknown network %q (want udp, tcp or unix)", o.Network)
		}
		if o.Address == "" {
			o.Address = "localhost:514"
			if o.Network == "unix" {
				o.Address = "/dev/log"
			}
		}
		if o.Facility == "" {
			o.Facility = "local0"
		} else if !slices.Contains(facilities, o.Facility) {
			return keyErrorf("facility", "unknown facility %q (want one of %s)", o.Facility, strings.Join(facilities, ", "))
		}
		if o.AppName == "" {
			o.AppName = "webfim"
		}
	case OutputElasticsearch:
		if len(o.URLs) == 0 {
			return keyErrorf("urls", "missing: an elasticsearch output needs at least one URL")
		}
		for i, u := range o.URLs {
			if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
				return keyErrorf(fmt.Sprintf("urls[%d]", i), "want an http:// or https:// URL, got %q", u)
			}
		}
		if o.APIKey != "" && o.Username != "" {
			return keyErrorf("api_key", "give either api_key or username/password, not both")
		}
		if o.Password != "" && o.Username == "" {
			return keyErrorf("password", "password without username")
		}
		if o.DataStream == "" {
			o.DataStream = "logs-webfim.alert-default"
		} else if parts := strings.Split(o.DataStream, "-"); len(parts) < 3 || o.DataStream != strings.ToLower(o.DataStream) || strings.ContainsAny(o.DataStream, ` \/*?"<>|,#:`) {
			return keyErrorf("data_stream", "bad data stream name %q (want type-dataset-namespace in lower case, e.g. logs-webfim.alert-default)", o.DataStream)
		}
	}
	return nil
}

func (o *OutboxSettings) validate(set func(string) bool) error {
	if o.MaxEntries <= 0 {
		return keyErrorf("max_entries", "want a positive number, got %d", o.MaxEntries)
	}
	return nil
}

// compile fills per-root effective lists and prepares windows; it runs
// after decoding (and for the defaults).
func (p *Policy) compile() error {
	for i := range p.Roots {
		r := &p.Roots[i]
		if r.NoScriptZones == nil {
			r.NoScriptZones = slices.Clone(p.NoScriptZones)
		}
		if r.ScriptExtensions == nil {
			r.ScriptExtensions = slices.Clone(p.ScriptExtensions)
		}
	}
	return nil
}

// Marshal returns the effective policy as YAML, with secrets redacted.
func (p *Policy) Marshal() ([]byte, error) {
	c := *p
	c.Outputs = slices.Clone(p.Outputs)
	for i := range c.Outputs {
		if c.Outputs[i].APIKey != "" {
			c.Outputs[i].APIKey = "<redacted>"
		}
		if c.Outputs[i].Password != "" {
			c.Outputs[i].Password = "<redacted>"
		}
	}
	var n yaml.Node
	if err := n.Encode(&c); err != nil {
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
// keeps the effective policy readable.
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

// MarshalYAML prints a root; a list that is nil (inherit the global one)
// is left out, while an empty override prints as [] so that it keeps
// its meaning when the printed policy is loaded again.
func (r Root) MarshalYAML() (any, error) {
	type view struct {
		Path             string    `yaml:"path"`
		Name             string    `yaml:"name,omitempty"`
		Exclude          []string  `yaml:"exclude,omitempty"`
		Ignore           []string  `yaml:"ignore,omitempty"`
		NoScriptZones    *[]string `yaml:"no_script_zones,omitempty"`
		ScriptExtensions *[]string `yaml:"script_extensions,omitempty"`
	}
	v := view{Path: r.Path, Name: r.Name, Exclude: r.Exclude, Ignore: r.Ignore}
	if r.NoScriptZones != nil {
		v.NoScriptZones = &r.NoScriptZones
	}
	if r.ScriptExtensions != nil {
		v.ScriptExtensions = &r.ScriptExtensions
	}
	return v, nil
}
