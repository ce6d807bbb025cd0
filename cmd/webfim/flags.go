package main

import (
	"github.com/urfave/cli/v2"
)

// globalFlags are accepted by every command (before the command name).
var globalFlags = []cli.Flag{
	&cli.StringFlag{
		Name:    "db",
		Usage:   "database file (default: /var/lib/webfim/webfim.db as root, $XDG_STATE_HOME/webfim/webfim.db otherwise)",
		EnvVars: []string{"WEBFIM_DB"},
	},
	&cli.StringFlag{
		Name:    "config",
		Aliases: []string{"c"},
		Usage:   "policy and settings file (webfim.yml)",
		EnvVars: []string{"WEBFIM_CONFIG"},
	},
	&cli.BoolFlag{
		Name:    "quiet",
		Aliases: []string{"q"},
		Usage:   "no progress bar or informational messages",
	},
}
