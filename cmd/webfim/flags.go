package main

import (
	"fmt"
	"slices"

	"github.com/urfave/cli/v2"
)

// globalFlags are accepted by every command, before the command words
// ("webfim --db X diff") or after any of them ("webfim diff --db X",
// "webfim baseline create --quiet"). The app's set (withEnv) reads the
// environment variables; each command gets its own set without them (see
// addGlobalFlags), and inheritGlobalFlags passes the values down.
func globalFlags(withEnv bool) []cli.Flag {
	env := func(name string) []string {
		if withEnv {
			return []string{name}
		}
		return nil
	}
	category := ""
	if !withEnv {
		category = "global options (also accepted before the command)"
	}
	return []cli.Flag{
		&cli.StringFlag{
			Name:     "db",
			Usage:    "database file (default: /var/lib/webfim/webfim.db as root, $XDG_STATE_HOME/webfim/webfim.db otherwise)",
			EnvVars:  env("WEBFIM_DB"),
			Category: category,
		},
		&cli.StringFlag{
			Name:     "config",
			Aliases:  []string{"c"},
			Usage:    "policy and settings file (webfim.yml)",
			EnvVars:  env("WEBFIM_CONFIG"),
			Category: category,
		},
		&cli.BoolFlag{
			Name:     "quiet",
			Aliases:  []string{"q"},
			Usage:    "no progress bar or informational messages",
			Category: category,
		},
	}
}

// addGlobalFlags gives command c its own copy of the global flags, unless
// it defines a flag of the same name itself (TestNoCommandShadowsGlobalFlags
// keeps that from happening).
func addGlobalFlags(c *cli.Command) {
	for _, g := range globalFlags(false) {
		if !definesAny(c, g.Names()) {
			c.Flags = append(slices.Clip(c.Flags), g) // never into a shared slice's spare room
		}
	}
}

func definesAny(c *cli.Command, names []string) bool {
	for _, f := range c.Flags {
		for _, n := range f.Names() {
			if slices.Contains(names, n) {
				return true
			}
		}
	}
	return false
}

// inheritGlobalFlags runs before each command, outermost first: a global
// flag not given after this command's word takes the value it has one
// level up, so that the innermost occurrence on the command line wins,
// then the environment variable, then the default. urfave/cli v2 has no
// flag inheritance of its own: without this, "webfim --db X diff" would
// read the command's unset --db.
func inheritGlobalFlags(c *cli.Context) error {
	lineage := c.Lineage()
	if len(lineage) < 2 {
		return nil
	}
	parent := lineage[1]
	for _, g := range globalFlags(false) {
		name := g.Names()[0]
		if !definesAny(c.Command, g.Names()) || c.IsSet(name) || !parent.IsSet(name) {
			continue
		}
		if err := c.Set(name, fmt.Sprint(parent.Value(name))); err != nil {
			return fmt.Errorf("--%s: %w", name, err)
		}
	}
	return nil
}
