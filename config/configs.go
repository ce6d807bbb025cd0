package config

import (
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"webfim/serverconf"
)

// globMeta are the characters that make a path a glob pattern for a
// user; configs entries are never expanded.
const globMeta = "*?["

// ConfigsWarnings returns what is suspicious about the configs entries,
// each as a [ConfigError] with file, line and key: an entry that is a
// glob pattern (entries are file paths, never expanded), one that names
// nothing (misspelled, or a server not installed here), or one that is
// not a regular file. Such entries are accepted, because a configuration
// may be installed after webfim.yml is written, but nothing is
// inventoried from them until they exist: "policy check", "baseline
// create", "diff" and "watch" say so.
func (c *Config) ConfigsWarnings() []*ConfigError {
	var out []*ConfigError
	for i, p := range c.Configs {
		if serverconf.IsLiveRegistry(p) {
			continue
		}
		key := fmt.Sprintf("configs[%d]", i)
		warn := func(format string, args ...any) {
			e := &ConfigError{File: c.File, Key: key, Err: fmt.Errorf(format, args...)}
			if i < len(c.configLines) {
				e.Line = c.configLines[i]
			}
			out = append(out, e)
		}
		fi, err := os.Stat(p)
		switch {
		case strings.ContainsAny(p, globMeta) && err != nil:
			warn("%q is a glob pattern: configs entries are file paths and are never expanded; list each top-level file (the files it includes are followed by webfim)", p)
		case err != nil && os.IsNotExist(err):
			warn("%q does not exist: nothing is inventoried from it until it does (misspelled?)", p)
		case err != nil:
			warn("%q cannot be read: %v", p, err)
		case fi.IsDir():
			warn("%q is a directory: give the server's top-level configuration file (the files it includes are followed by webfim)", p)
		case !fi.Mode().IsRegular():
			warn("%q is not a regular file: nothing is inventoried from it", p)
		}
	}
	return out
}

// locateConfigs records the line of every configs entry, for
// [Config.ConfigsWarnings].
func (c *Config) locateConfigs(root *yaml.Node) {
	c.configLines = make([]int, len(c.Configs))
	for i := range c.Configs {
		c.configLines[i] = locate(root, fmt.Sprintf("configs[%d]", i)).Line
	}
}
