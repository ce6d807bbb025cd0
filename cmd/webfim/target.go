package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

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
	&cli.BoolFlag{Name: "cross-device", Usage: "descend into other file systems mounted under a root"},
}

// target works out what a snapshot covers:
//
//  1. roots given by --root or the config file: those roots, with the
//     config file's server configs, else the discovered ones (unless
//     --no-discover);
//  2. otherwise, with an active baseline: the same scope as that baseline
//     (roots, configs, sysroot), so re-baselining after a deploy and the
//     watch daemon cover exactly what was baselined;
//  3. otherwise: the web roots and configs found by discovery.
func target(c *cli.Context, db *store.DB) (scan.Target, error) {
	t := scan.Target{
		Sysroot:       c.String("sysroot"),
		HashAllSHA256: c.Bool("hash-all-sha256"),
		CrossDevice:   c.Bool("cross-device"),
	}
	if t.Sysroot != "" {
		abs, err := filepath.Abs(t.Sysroot)
		if err != nil {
			return t, usageError{fmt.Errorf("--sysroot %s: %w", t.Sysroot, err)}
		}
		t.Sysroot = abs
	}
	for _, r := range c.StringSlice("root") {
		abs, err := filepath.Abs(r)
		if err != nil {
			return t, usageError{fmt.Errorf("--root %s: %w", r, err)}
		}
		t.Roots = append(t.Roots, abs)
	}
	pol, err := loadConfig(c.String("config"))
	if err != nil {
		return t, err
	}
	applyPolicy(&t, pol)
	if len(t.Roots) == 0 {
		for _, r := range pol.Roots {
			t.Roots = append(t.Roots, r.Path)
		}
	}
	if len(t.Roots) == 0 && !c.IsSet("sysroot") {
		active, err := db.Resolve("active")
		switch {
		case err == nil:
			prev := scan.TargetOf(active)
			t.Roots, t.Sysroot = prev.Roots, prev.Sysroot
			if len(t.Configs) == 0 {
				t.Configs = prev.Configs
			}
			t.HashAllSHA256 = t.HashAllSHA256 || prev.HashAllSHA256
			return t, nil
		case !errors.Is(err, store.ErrNotFound):
			return t, err
		}
	}
	if !c.Bool("no-discover") {
		d, err := serverconf.Discover(t.Sysroot)
		if err != nil {
			return t, fmt.Errorf("discovering server configs: %w", err)
		}
		var found serverconf.Discovery
		if len(t.Configs) == 0 {
			t.Configs, found.Configs = d.Configs, d.Configs
		}
		if len(t.Roots) == 0 {
			for _, wr := range d.WebRoots {
				t.Roots = append(t.Roots, wr.Path)
			}
			found.WebRoots, found.Unavailable = d.WebRoots, d.Unavailable
		}
		if !c.Bool("quiet") {
			if note := discoveryNote(t.Sysroot, found); note != "" {
				fmt.Fprintln(c.App.ErrWriter, note)
			}
			for _, u := range found.Unavailable {
				fmt.Fprintf(c.App.ErrWriter, "webfim: warning: web root %s (%s) is not watched: %s\n", displayPath(u.Path), rootOrigin(u), u.Reason)
			}
		}
	}
	if len(t.Roots) == 0 {
		return t, usageError{errors.New("no web roots: give --root DIR (none were discovered and there is no baseline yet)")}
	}
	t.Roots = dedupe(t.Roots)
	return t, nil
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

func dedupe(paths []string) []string {
	sort.Strings(paths)
	out := paths[:0]
	for i, p := range paths {
		if i == 0 || p != paths[i-1] {
			out = append(out, filepath.Clean(p))
		}
	}
	return out
}

func joinPaths(ps []string) string {
	d := make([]string, len(ps))
	for i, p := range ps {
		d[i] = displayPath(p)
	}
	return strings.Join(d, ", ")
}

// applyPolicy takes what the config file says about walking: excludes,
// script extensions and the server configs to inventory.
func applyPolicy(t *scan.Target, pol *config.Config) {
	t.Exclude = pol.Excluded
	t.ScriptExtensions = pol.ScriptExtensions
	for _, path := range pol.Configs {
		t.Configs = append(t.Configs, serverconf.Config{Path: path})
	}
}
