package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"webfim/baseline"
	"webfim/config"
	"webfim/scan"
	"webfim/serverconf"
	"webfim/store"
)

// targetFlags choose what a snapshot covers (baseline create, diff).
var targetFlags = []cli.Flag{
	&cli.StringSliceFlag{Name: "root", Usage: "web root `DIR` to cover (repeatable; default: the config file's roots, else the scope of the active baseline, else the discovered roots)"},
	&cli.StringFlag{Name: "sysroot", Usage: "examine the server mounted or copied at `DIR` (an offline image) instead of /"},
	&cli.BoolFlag{Name: "no-discover", Usage: "do not look for server configurations at their standard locations"},
	&cli.BoolFlag{Name: "hash-all-sha256", Usage: "record SHA-256 for every file, not only script-type files"},
	&cli.BoolFlag{Name: "cross-device", Usage: "descend into other file systems mounted under a root (also cross_device in webfim.yml)"},
}

// scope is what the flags and the config file say a snapshot covers;
// scan.Resolve works out the rest.
func scope(c *cli.Context) (scan.Scope, error) {
	s := scan.Scope{
		HashAllSHA256: c.Bool("hash-all-sha256"),
		CrossDevice:   c.Bool("cross-device"),
		NoDiscover:    c.Bool("no-discover"),
	}
	if v := c.String("sysroot"); v != "" {
		abs, err := filepath.Abs(v)
		if err != nil {
			return s, usageError{fmt.Errorf("--sysroot %s: %w", v, err)}
		}
		s.Sysroot = abs
	}
	for _, r := range c.StringSlice("root") {
		abs, err := filepath.Abs(r)
		if err != nil {
			return s, usageError{fmt.Errorf("--root %s: %w", r, err)}
		}
		s.Roots = append(s.Roots, abs)
	}
	pol, err := loadConfig(c.String("config"))
	if err != nil {
		return s, err
	}
	warnConfigs(c, pol)
	applyPolicy(&s, pol)
	s.Indicators, s.YARA, err = contentScan(c.Context, pol)
	return s, err
}

// target works out what a snapshot covers (scan.Resolve) and says what
// discovery added to it, and which discovered web roots it cannot cover.
func target(c *cli.Context, db *store.DB) (scan.Target, error) {
	s, err := scope(c)
	if err != nil {
		return scan.Target{}, err
	}
	r, err := scan.Resolve(s, db)
	if errors.Is(err, scan.ErrNoRoots) {
		return r.Target, usageError{fmt.Errorf("%w: give --root DIR (none were discovered and there is no baseline yet)", err)}
	}
	if err != nil {
		return r.Target, err
	}
	if !c.Bool("quiet") {
		warnMounts(c, r.Roots, r.CrossDevice, r.Exclude)
		if note := discoveryNote(r.Sysroot, r.Discovered); note != "" {
			fmt.Fprintln(c.App.ErrWriter, note)
		}
		for _, u := range r.Discovered.Unavailable {
			fmt.Fprintf(c.App.ErrWriter, "webfim: warning: web root %s (%s) is not watched: %s\n", displayPath(u.Path), rootOrigin(u), u.Reason)
		}
	}
	return r.Target, nil
}

// discoveryNote is the line that says what discovery added to a snapshot
// ("" if nothing): run as root, the quick start's "baseline create --root
// DIR" also inventories the machine's own Apache or PHP configuration,
// and the user should know.
func discoveryNote(sysroot string, found serverconf.Discovery) string {
	var parts []string
	if n := len(found.Configs); n > 0 {
		names := make([]string, n)
		for i, cf := range found.Configs {
			names[i] = cf.Server + " " + displayPath(cf.Path)
		}
		parts = append(parts, fmt.Sprintf("%d server %s (%s)", n, plural(n, "config", "configs"), listSome(names)))
	}
	if n := len(found.WebRoots); n > 0 {
		names := make([]string, n)
		for i, r := range found.WebRoots {
			names[i] = displayPath(r.Path)
		}
		parts = append(parts, fmt.Sprintf("%d web %s (%s)", n, plural(n, "root", "roots"), listSome(names)))
	}
	if len(parts) == 0 {
		return ""
	}
	where := "on this system"
	if sysroot != "" {
		where = "in sysroot " + displayPath(sysroot)
	}
	return fmt.Sprintf("webfim: discovered %s and covered too: %s; --no-discover turns discovery off, 'webfim discover' lists what it finds",
		where, strings.Join(parts, ", "))
}

// listSome joins the first few names, saying how many more there are.
func listSome(names []string) string {
	const max = 5
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:max], ", "), len(names)-max)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func joinPaths(ps []string) string {
	d := make([]string, len(ps))
	for i, p := range ps {
		d[i] = displayPath(p)
	}
	return strings.Join(d, ", ")
}

// warnConfigs says which configs entries of the config file name nothing
// that can be inventoried (a glob, a misspelled path, a directory).
func warnConfigs(c *cli.Context, pol *config.Config) {
	if c.Bool("quiet") {
		return
	}
	for _, w := range pol.ConfigsWarnings() {
		fmt.Fprintf(c.App.ErrWriter, "webfim: warning: %s\n", w)
	}
}

// warnMounts says which file systems are mounted inside the roots and
// not covered (cross-device off, not excluded): a walk records the mount
// point but does not enter it, so a shell on a tmpfs mounted at R/sub
// would be invisible.
func warnMounts(c *cli.Context, roots []string, crossDevice bool, exclude func(root, rel string, isDir bool) bool) {
	if crossDevice {
		return
	}
	for _, root := range roots {
		points, err := baseline.MountsUnder(root)
		if err != nil {
			continue
		}
		base := root
		if resolved, err := filepath.EvalSymlinks(root); err == nil {
			base = resolved
		}
		for _, p := range points {
			rel, err := filepath.Rel(base, p)
			if err != nil || (exclude != nil && exclude(root, filepath.ToSlash(rel), true)) {
				continue
			}
			fmt.Fprintf(c.App.ErrWriter, "webfim: warning: a file system is mounted at %s inside root %s and is not covered: --cross-device covers it, an exclude silences this\n", displayPath(p), displayPath(root))
		}
	}
}

// applyPolicy takes what the config file says about walking: its roots,
// excludes, script extensions and the server configs to inventory.
func applyPolicy(s *scan.Scope, pol *config.Config) {
	s.Exclude = pol.Excluded
	s.ScriptExtensions = pol.ScriptExtensions
	s.LargeFileThreshold = int64(pol.LargeFileThreshold)
	s.CrossDevice = s.CrossDevice || pol.CrossDevice // the flag or the config
	for _, r := range pol.Roots {
		s.ConfigRoots = append(s.ConfigRoots, r.Path)
	}
	for _, path := range pol.Configs {
		s.Configs = append(s.Configs, serverconf.Config{Path: path})
	}
}
