package policy

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"go.yaml.in/yaml/v3"

	"webfim/baseline"
)

// Policy is the part of webfim.yml that judges changes: the web roots and
// their overrides, script extensions, no-script zones, deploy windows,
// allowed writers, ignore globs and rule settings. Package config decodes
// it (inline, with the daemon's settings) from the file; [Policy.Validate]
// checks it.
type Policy struct {
	// Roots are the web roots to baseline and watch. Empty: the roots found
	// by discovery.
	Roots []Root `yaml:"roots"`
	// ScriptExtensions are the extensions (without dot, any case) of
	// script-type files; .htaccess, .user.ini and web.config always are.
	ScriptExtensions []string `yaml:"script_extensions"`
	// NoScriptZones are globs of paths where a script-type file is always
	// critical, deploy window or not.
	NoScriptZones []string `yaml:"no_script_zones"`
	// DeployWindows are the recurring and one-off windows in which changes
	// are expected.
	DeployWindows []DeployWindow `yaml:"deploy_windows"`
	// AllowedWriters are the processes (names, or globs: on the names, or
	// on the executable path when they hold a '/') whose changes are
	// expected, when the writer of a change is known. Once it is set, a
	// deploy window covers only their changes (see docs/policy.md).
	AllowedWriters []string `yaml:"allowed_writers"`
	// TrustUnknownWriters says whether a deploy window covers a change
	// whose writer is unknown (attribution unavailable, or the process
	// could not be learned) when AllowedWriters is set. Default true.
	TrustUnknownWriters bool `yaml:"trust_unknown_writers"`
	// Ignore are globs of paths whose changes are never reported.
	Ignore []string `yaml:"ignore"`
	// Rules override the enablement and severity of rules by id.
	Rules RuleSettings `yaml:"rules"`
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
	// lists for this root. The effective lists are filled in by Validate.
	NoScriptZones    []string `yaml:"no_script_zones"`
	ScriptExtensions []string `yaml:"script_extensions"`
	// CaseInsensitive says whether the root's file system ignores case
	// (an NTFS volume, an SMB share, an offline copy of an IIS server):
	// no-script zones then match whatever the case of the path. Unset:
	// true on Windows and macOS and for Windows paths, false otherwise.
	CaseInsensitive *bool `yaml:"case_insensitive,omitempty"`
}

// RuleSetting overrides a rule's defaults.
type RuleSetting struct {
	Enabled  bool     `yaml:"enabled"`
	Severity Severity `yaml:"severity"`
}

// RuleSettings are the settings of the rules by id. Decoding YAML into
// them merges: a rule keeps what the file does not say
// ("webfim-013: {severity: medium}" leaves it enabled).
type RuleSettings map[string]RuleSetting

// UnmarshalYAML merges a mapping of rule ids to {enabled, severity}.
// Errors are *yaml.TypeError values worded like the YAML library's own,
// which package config places in the file.
func (rs *RuleSettings) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return typeError(n, *rs)
	}
	if *rs == nil {
		*rs = RuleSettings{}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		id, v := n.Content[i], n.Content[i+1]
		s, ok := (*rs)[id.Value]
		if r, known := RuleByID(id.Value); !ok && known {
			s = RuleSetting{Enabled: true, Severity: r.Severity}
		}
		if v.Kind != yaml.MappingNode {
			if v.ShortTag() == "!!null" {
				continue
			}
			return typeError(v, s)
		}
		for j := 0; j+1 < len(v.Content); j += 2 {
			switch k := v.Content[j]; k.Value {
			case "enabled", "severity":
			default:
				return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: field %s not found in type %T", k.Line, k.Value, s)}}
			}
		}
		override := struct {
			Enabled  *bool     `yaml:"enabled"`
			Severity *Severity `yaml:"severity"`
		}{&s.Enabled, &s.Severity}
		if err := v.Decode(&override); err != nil {
			return err
		}
		(*rs)[id.Value] = s
	}
	return nil
}

// typeError is a *yaml.TypeError worded like the YAML library's own
// "cannot unmarshal" errors, for a node that has the wrong kind.
func typeError(n *yaml.Node, into any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal %s into %T", n.Line, n.ShortTag(), into)}}
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
		Roots:               []Root{},
		ScriptExtensions:    slices.Clone(baseline.DefaultScriptExtensions),
		NoScriptZones:       slices.Clone(DefaultNoScriptZones),
		DeployWindows:       []DeployWindow{},
		AllowedWriters:      []string{},
		TrustUnknownWriters: true,
		Ignore:              []string{},
		Rules:               RuleSettings{},
	}
	for _, r := range catalog {
		p.Rules[r.ID] = RuleSetting{Enabled: true, Severity: r.Severity}
	}
	return p
}

// FieldError is a bad setting of the policy. Key is its path in the config
// file, such as "deploy_windows[0].timezone"; package config adds the file
// and line.
type FieldError struct {
	Key string
	Err error
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Err.Error() }

func (e *FieldError) Unwrap() error { return e.Err }

func fieldErrorf(key, format string, args ...any) error {
	return &FieldError{Key: key, Err: fmt.Errorf(format, args...)}
}

// within prefixes the key of a *FieldError with the path of the value it
// belongs to.
func within(prefix string, err error) error {
	if fe, ok := err.(*FieldError); ok {
		return &FieldError{Key: prefix + "." + fe.Key, Err: fe.Err}
	}
	return err
}

// Validate checks the policy, normalises it (clean root paths, lower-case
// extensions) and fills in what it derives: each root's effective lists
// and the settings of rules not given. Errors are *[FieldError] values.
func (p *Policy) Validate() error {
	seen := map[string]int{}
	for i := range p.Roots {
		r := &p.Roots[i]
		if err := r.validate(); err != nil {
			return within(fmt.Sprintf("roots[%d]", i), err)
		}
		key := fmt.Sprintf("roots[%d].path", i)
		if j, dup := seen[r.Path]; dup {
			return fieldErrorf(key, "root %q is listed twice (also roots[%d])", r.Path, j)
		}
		seen[r.Path] = i
		for path, j := range seen {
			if j != i && isUnder(r.Path, path) {
				return fieldErrorf(key, "root %q is inside root %q (roots must not be nested)", r.Path, path)
			}
			if j != i && isUnder(path, r.Path) {
				return fieldErrorf(key, "root %q contains root %q (roots must not be nested)", r.Path, path)
			}
		}
	}
	if err := checkExtensions("script_extensions", p.ScriptExtensions); err != nil {
		return err
	}
	if err := checkGlobs("no_script_zones", p.NoScriptZones); err != nil {
		return err
	}
	for i := range p.DeployWindows {
		if err := p.DeployWindows[i].validate(); err != nil {
			return within(fmt.Sprintf("deploy_windows[%d]", i), err)
		}
	}
	if err := checkWriters(p.AllowedWriters); err != nil {
		return err
	}
	if err := checkGlobs("ignore", p.Ignore); err != nil {
		return err
	}
	for _, id := range slices.Sorted(maps.Keys(p.Rules)) {
		if _, ok := RuleByID(id); !ok {
			return fieldErrorf("rules."+id, "unknown rule id (known: %s)", strings.Join(ruleIDs(), ", "))
		}
	}
	if p.Rules == nil {
		p.Rules = RuleSettings{}
	}
	for _, r := range catalog {
		if _, ok := p.Rules[r.ID]; !ok {
			p.Rules[r.ID] = RuleSetting{Enabled: true, Severity: r.Severity}
		}
	}
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

func isUnder(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func checkGlobs(key string, globs []string) error {
	for i, g := range globs {
		if g == "" || !doublestar.ValidatePattern(g) {
			return fieldErrorf(fmt.Sprintf("%s[%d]", key, i), "bad glob %q", g)
		}
	}
	return nil
}

func checkExtensions(key string, exts []string) error {
	for i, e := range exts {
		e = strings.TrimPrefix(e, ".")
		if e == "" || strings.ContainsAny(e, `/\. *?`) {
			return fieldErrorf(fmt.Sprintf("%s[%d]", key, i), "bad extension %q (want e.g. php)", exts[i])
		}
		exts[i] = strings.ToLower(e)
	}
	return nil
}

func (r *Root) validate() error {
	if r.Path == "" {
		return fieldErrorf("path", "missing: every root needs a path")
	}
	if !filepath.IsAbs(r.Path) {
		return fieldErrorf("path", "root path %q is not absolute", r.Path)
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
		CaseInsensitive  *bool     `yaml:"case_insensitive,omitempty"`
	}
	v := view{Path: r.Path, Name: r.Name, Exclude: r.Exclude, Ignore: r.Ignore, CaseInsensitive: r.CaseInsensitive}
	if r.NoScriptZones != nil {
		v.NoScriptZones = &r.NoScriptZones
	}
	if r.ScriptExtensions != nil {
		v.ScriptExtensions = &r.ScriptExtensions
	}
	return v, nil
}
