package scan

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"webfim/indicators"
	"webfim/indicators/yara"
	"webfim/serverconf"
	"webfim/store"
)

// Scope is what a command was asked to cover, before [Resolve] works out
// the [Target]: the command line's choices, then the configuration
// file's.
type Scope struct {
	// From the command line.
	Roots         []string // absolute web roots (--root)
	Sysroot       string   // absolute sysroot (--sysroot); "" for the live system
	HashAllSHA256 bool
	CrossDevice   bool
	NoDiscover    bool // do not look for server configurations and web roots

	// From the configuration file.
	ConfigRoots      []string // its roots, used when Roots is empty
	Configs          []serverconf.Config
	Exclude          func(root, rel string, isDir bool) bool
	ScriptExtensions []string
	// The content scan of new files (Target.Indicators, Target.YARA).
	Indicators *indicators.Engine
	YARA       *yara.Rules
	// LargeFileThreshold: see [baseline.Options.LargeFileThreshold].
	LargeFileThreshold int64
}

// Active is where [Resolve] finds the active baseline; *store.DB is one.
type Active interface {
	Resolve(ref string) (Baseline, error)
}

// ErrNoRoots is returned by [Resolve] when nothing names a web root.
var ErrNoRoots = errors.New("no web roots")

// Resolved is a resolved [Target] and what discovery added to it.
type Resolved struct {
	Target
	// Discovered is what discovery added, which the caller should say:
	// the server configs (when nothing else named any), the web roots
	// (when nothing else named one) and, then, the discovered web roots
	// that cannot be covered (missing, not a directory), with the reason.
	Discovered serverconf.Discovery
}

// Resolve works out what a snapshot covers ("webfim baseline create",
// "webfim watch"); the first rule that names roots wins:
//
//  1. roots given on the command line or in the configuration file: those
//     roots, with the configuration file's server configs, else the
//     discovered ones (unless NoDiscover);
//  2. otherwise, with an active baseline and no sysroot: the same scope as
//     that baseline (roots, configs, sysroot), so that re-baselining after
//     a deploy and the watch daemon cover exactly what was baselined;
//  3. otherwise: the web roots and configs found by discovery.
//
// It returns [ErrNoRoots] when none does.
func Resolve(s Scope, active Active) (Resolved, error) {
	r := Resolved{Target: Target{
		Roots: slices.Clone(s.Roots), Sysroot: s.Sysroot, Configs: slices.Clone(s.Configs),
		Exclude: s.Exclude, ScriptExtensions: s.ScriptExtensions,
		HashAllSHA256: s.HashAllSHA256, CrossDevice: s.CrossDevice,
		Indicators: s.Indicators, YARA: s.YARA,
		LargeFileThreshold: s.LargeFileThreshold,
	}}
	t := &r.Target
	if len(t.Roots) == 0 {
		t.Roots = slices.Clone(s.ConfigRoots)
	}
	if len(t.Roots) == 0 && s.Sysroot == "" && active != nil {
		m, err := active.Resolve("active")
		switch {
		case err == nil:
			prev := TargetOf(m)
			t.Roots, t.Sysroot = prev.Roots, prev.Sysroot
			if len(t.Configs) == 0 {
				t.Configs = prev.Configs
			}
			t.HashAllSHA256 = t.HashAllSHA256 || prev.HashAllSHA256
			return r, nil
		case !errors.Is(err, store.ErrNotFound):
			return r, err
		}
	}
	if !s.NoDiscover {
		d, err := serverconf.Discover(t.Sysroot)
		if err != nil {
			return r, fmt.Errorf("discovering server configs: %w", err)
		}
		if len(t.Configs) == 0 {
			t.Configs, r.Discovered.Configs = d.Configs, d.Configs
		}
		if len(t.Roots) == 0 {
			for _, wr := range d.WebRoots {
				t.Roots = append(t.Roots, wr.Path)
			}
			r.Discovered.WebRoots, r.Discovered.Unavailable = d.WebRoots, d.Unavailable
		}
	}
	if len(t.Roots) == 0 {
		return r, ErrNoRoots
	}
	t.Roots = cleanRoots(t.Roots)
	return r, nil
}

// Over returns the target t (that of a stored baseline: [TargetOf]) as a
// comparison walks it with the scope's configuration file: its excludes,
// script extensions and content scan, and its server configs instead of
// t's when it names some.
func (s Scope) Over(t Target) Target {
	t.Exclude, t.ScriptExtensions = s.Exclude, s.ScriptExtensions
	t.Indicators, t.YARA = s.Indicators, s.YARA
	if len(s.Configs) > 0 {
		t.Configs = slices.Clone(s.Configs)
	}
	return t
}

// cleanRoots sorts and cleans roots and drops duplicates.
func cleanRoots(roots []string) []string {
	out := make([]string, 0, len(roots))
	for _, p := range roots {
		out = append(out, filepath.Clean(p))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
