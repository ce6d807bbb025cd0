package watch

import (
	"context"
	"errors"
	"maps"
	"slices"

	"webfim/serverconf"
)

// noteConfigSources records the files and directories the server
// configuration path was just read from and hands the union of every
// configuration's sources to the running tree, which follows them (see
// [Tree.SetConfigSources]). Includes are thus re-resolved at every read:
// a new Include line's files are followed from the check that saw it.
func (d *Daemon) noteConfigSources(path string, s serverconf.Sources) {
	d.mu.Lock()
	if d.configSources == nil {
		d.configSources = make(map[string]serverconf.Sources)
	}
	d.configSources[path] = s
	var all serverconf.Sources
	for _, p := range slices.Sorted(maps.Keys(d.configSources)) {
		for _, f := range d.configSources[p].Files {
			if !slices.Contains(all.Files, f) {
				all.Files = append(all.Files, f)
			}
		}
		for _, dir := range d.configSources[p].Dirs {
			if !slices.Contains(all.Dirs, dir) {
				all.Dirs = append(all.Dirs, dir)
			}
		}
	}
	tree := d.tree
	d.mu.Unlock()
	if tree != nil {
		tree.SetConfigSources(all)
	}
}

// configWarning logs a warning about a server configuration's inventory
// (a registry hive whose transaction logs are not replayed, a module
// directory listed only in part) once per file and text: the same
// inventory is read at every config check.
func (d *Daemon) configWarning(path string, err error) {
	key := path + "\x00" + err.Error()
	d.mu.Lock()
	if d.configWarned == nil {
		d.configWarned = make(map[string]bool)
	}
	seen := d.configWarned[key]
	d.configWarned[key] = true
	d.mu.Unlock()
	if !seen {
		d.log.Warn("server configuration inventory may be incomplete", "file", path, "err", err)
	}
}

// fileConfigs are the configured server configurations that are files
// (watched through the tree); the live registry (HKLM\SYSTEM,
// HKLM\SOFTWARE) is not a file and is followed by [Daemon.watchRegistry].
func (c Config) fileConfigs() []string {
	var paths []string
	for _, cf := range c.Target.Configs {
		if !serverconf.IsLiveRegistry(cf.Path) {
			paths = append(paths, cf.Path)
		}
	}
	return paths
}

// liveRegistry reports whether cfg inventories the live registry.
func (c Config) liveRegistry() bool {
	return slices.ContainsFunc(c.Target.Configs, func(cf serverconf.Config) bool { return serverconf.IsLiveRegistry(cf.Path) })
}

// watchRegistryFunc is serverconf.WatchRegistry; tests replace it.
var watchRegistryFunc = serverconf.WatchRegistry

// watchRegistry follows the inventoried keys of the live registry
// (RegNotifyChangeKeyValue on Windows) and queues a config check on every
// change, until ctx is done. Where the registry cannot be watched (not
// Windows, or an error) it says so once: the periodic rescans still read
// it.
func (d *Daemon) watchRegistry(ctx context.Context) {
	err := watchRegistryFunc(ctx, d.requestConfigCheck)
	switch {
	case ctx.Err() != nil:
	case errors.Is(err, errors.ErrUnsupported):
		d.log.Warn("the live registry cannot be watched on this system; it is read at every rescan")
	case err != nil:
		d.log.Warn("stopped watching the registry; it is read at every rescan", "err", err)
	}
}
