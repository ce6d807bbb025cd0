package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"webfim/lineage"
	"webfim/proc"
)

// AttributionSettings configure process attribution of the watch daemon
// (Linux; see docs/attribution.md).
type AttributionSettings struct {
	// Enabled turns attribution on (default). Where the system refuses a
	// mechanism the daemon says why and goes on without it.
	Enabled bool `yaml:"enabled"`
	// ProcessSources are the exec sources to try, best first: ebpf,
	// connector, poll (the default is all three in this order).
	ProcessSources []string `yaml:"process_sources"`
	// KernelBTF is a BTF file for kernels whose BTF is not at
	// /sys/kernel/btf/vmlinux.
	KernelBTF string `yaml:"kernel_btf,omitempty"`
	// Lineage configures the server-spawn rule (webfim-022).
	Lineage LineageSettings `yaml:"lineage"`
}

// LineageSettings configure the detection of servers spawning shells and
// tools.
type LineageSettings struct {
	// MaxDepth is how many generations below a server a shell or tool
	// is still attributed to it (default 4).
	MaxDepth int `yaml:"max_depth"`
	// Allow are the known-good spawns (an application that calls convert
	// through a shell), as Falco's allowlists.
	Allow []lineage.Allow `yaml:"allow"`
	// BuiltinAllow keeps the spawns stock servers make themselves
	// allowed: Apache's piped logs, PHP's mail() (default true).
	BuiltinAllow bool `yaml:"builtin_allow"`
}

// maxLineageDepth bounds max_depth: deeper chains are not a server's.
const maxLineageDepth = 16

func defaultAttribution() AttributionSettings {
	names := make([]string, len(proc.DefaultSources))
	for i, s := range proc.DefaultSources {
		names[i] = s.String()
	}
	return AttributionSettings{
		Enabled:        true,
		ProcessSources: names,
		Lineage:        LineageSettings{MaxDepth: lineage.DefaultMaxDepth, Allow: []lineage.Allow{}, BuiltinAllow: true},
	}
}

// validate checks the settings, with errors keyed by their place in the
// file.
func (a *AttributionSettings) validate() error {
	if len(a.ProcessSources) == 0 {
		return fieldErrorf("attribution.process_sources", "no exec source: give at least one of ebpf, connector, poll (or enabled: false)")
	}
	for i, name := range a.ProcessSources {
		key := fmt.Sprintf("attribution.process_sources[%d]", i)
		if _, err := proc.ParseSource(name); err != nil {
			return fieldErrorf(key, "%v", err)
		}
		if slices.Index(a.ProcessSources, name) != i {
			return fieldErrorf(key, "%q is listed twice", name)
		}
	}
	if a.KernelBTF != "" && !filepath.IsAbs(a.KernelBTF) {
		return fieldErrorf("attribution.kernel_btf", "BTF file %q is not absolute", a.KernelBTF)
	}
	if d := a.Lineage.MaxDepth; d < 1 || d > maxLineageDepth {
		return fieldErrorf("attribution.lineage.max_depth", "want 1 to %d generations, got %d", maxLineageDepth, d)
	}
	for i, al := range a.Lineage.Allow {
		if err := al.Validate(); err != nil {
			key := fmt.Sprintf("attribution.lineage.allow[%d]", i)
			var ae *lineage.AllowError
			if errors.As(err, &ae) {
				if ae.Field != "" {
					key += "." + ae.Field
				}
				return fieldErrorf(key, "%v", ae.Err)
			}
			return fieldErrorf(key, "%v", err)
		}
	}
	return nil
}

// Sources returns the exec sources, parsed (validated by Load).
func (a *AttributionSettings) Sources() []proc.Source {
	out := make([]proc.Source, 0, len(a.ProcessSources))
	for _, name := range a.ProcessSources {
		if s, err := proc.ParseSource(name); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// Rules compiles the lineage rules: the built-in allowlist (unless
// builtin_allow is off) and the configured entries.
func (a *AttributionSettings) Rules() (*lineage.Rules, error) {
	var allow []lineage.Allow
	if a.Lineage.BuiltinAllow {
		allow = append(allow, lineage.DefaultAllow...)
	}
	allow = append(allow, a.Lineage.Allow...)
	return lineage.NewRules(a.Lineage.MaxDepth, allow)
}
