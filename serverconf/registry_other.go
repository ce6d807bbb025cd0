//go:build !windows

package serverconf

import (
	"context"
	"errors"
)

// liveRegistry fails: only Windows has a live registry.
func (p *parser) liveRegistry(name, src string, rootsOnly bool) (RegistryHive, error) {
	return RegistryHive{Hive: name, Path: src, Keys: []string{}},
		errors.New("the live registry can only be read on Windows; give the path of a hive file (Windows/System32/config/" + name + ")")
}

// WatchRegistry is only available on Windows, where it follows changes of
// the inventoried registry keys (RegNotifyChangeKeyValue).
func WatchRegistry(ctx context.Context, changed func()) error {
	return errors.ErrUnsupported
}
