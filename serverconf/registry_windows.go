//go:build windows

package serverconf

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"webfim/hive"
)

// liveAccess reads keys in the native (64-bit) view, so that
// WOW6432Node is not redirected.
const liveAccess = registry.QUERY_VALUE | registry.ENUMERATE_SUB_KEYS | registry.WOW64_64KEY

// liveKey is a key of the live registry below HKEY_LOCAL_MACHINE, opened
// for each operation and closed after it.
type liveKey struct{ path, name string }

func (k liveKey) open() (registry.Key, error) {
	return registry.OpenKey(registry.LOCAL_MACHINE, k.path, liveAccess)
}

func (k liveKey) keyName() string { return k.name }

func (k liveKey) subkeys() iter.Seq2[regKey, error] {
	return func(yield func(regKey, error) bool) {
		key, err := k.open()
		if err != nil {
			yield(nil, fmt.Errorf(`HKLM\%s: %w`, k.path, err))
			return
		}
		names, err := key.ReadSubKeyNames(-1)
		key.Close()
		if err != nil {
			yield(nil, fmt.Errorf(`HKLM\%s: %w`, k.path, err))
			return
		}
		for _, n := range names {
			if !yield(liveKey{path: k.path + `\` + n, name: n}, nil) {
				return
			}
		}
	}
}

func (k liveKey) subkey(name string) (regKey, error) {
	for c, err := range k.subkeys() {
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(c.keyName(), name) {
			return c, nil
		}
	}
	return nil, fmt.Errorf(`HKLM\%s\%s: %w`, k.path, name, hive.ErrNotFound)
}

func (k liveKey) values() iter.Seq2[regValue, error] {
	return func(yield func(regValue, error) bool) {
		key, err := k.open()
		if err != nil {
			yield(regValue{}, fmt.Errorf(`HKLM\%s: %w`, k.path, err))
			return
		}
		defer key.Close()
		names, err := key.ReadValueNames(-1)
		if err != nil {
			yield(regValue{}, fmt.Errorf(`HKLM\%s: %w`, k.path, err))
			return
		}
		for _, n := range names {
			if !yield(liveValue(key, n), nil) {
				return
			}
		}
	}
}

// liveValue reads one value, at most hive.MaxDataSize bytes of it.
func liveValue(key registry.Key, name string) regValue {
	v := regValue{name: name}
	for range 3 { // the value may grow between the two calls
		n, typ, err := key.GetValue(name, nil)
		if err != nil {
			v.err = err
			return v
		}
		v.typ = hive.Type(typ)
		if n > hive.MaxDataSize {
			v.err = fmt.Errorf("%d bytes of data exceed the limit of %d: %w", n, hive.MaxDataSize, hive.ErrTooLarge)
			return v
		}
		buf := make([]byte, n)
		if n == 0 {
			v.data = buf
			return v
		}
		n, typ, err = key.GetValue(name, buf)
		if errors.Is(err, registry.ErrShortBuffer) || errors.Is(err, windows.ERROR_MORE_DATA) {
			continue
		}
		v.typ, v.data, v.err = hive.Type(typ), buf[:n], err
		return v
	}
	v.err = errors.New("the value kept changing while it was read")
	return v
}

// liveRegistry inventories HKLM\SYSTEM (below CurrentControlSet) or
// HKLM\SOFTWARE of the running system.
func (p *parser) liveRegistry(name, src string, rootsOnly bool) (RegistryHive, error) {
	info := RegistryHive{Hive: name, Path: src, Keys: []string{}}
	base, prefix := liveKey{path: name, name: name}, `HKLM\`+name
	if name == "SYSTEM" {
		base, prefix = liveKey{path: `SYSTEM\CurrentControlSet`, name: "CurrentControlSet"}, `HKLM\SYSTEM\CurrentControlSet`
	}
	k, err := base.open()
	if err != nil {
		return info, fmt.Errorf("%s: %w", prefix, err)
	}
	k.Close()
	w := &regWalker{p: p, src: src, maxKeys: liveMaxKeys, rootsOnly: rootsOnly}
	w.inventory(base, prefix, name)
	info.Keys = w.found
	return info, w.err
}

// registryWatch is a key watched for changes: the whole subtree of an
// inventoried key, or the names of the subkeys of a key where new
// inventoried keys may appear.
type registryWatch struct {
	path    string // below HKLM
	subtree bool
	filter  uint32
	key     registry.Key
	event   windows.Handle
}

// watchParents are where new inventoried keys appear (a new W3SVC*
// service, InetStp installed, a new Exchange version).
var watchParents = []string{`SYSTEM\CurrentControlSet\Services`, `SOFTWARE\Microsoft`, `SOFTWARE\WOW6432Node\Microsoft`}

// WatchRegistry calls changed whenever a value or subkey below the
// inventoried keys of the live registry changes, or an inventoried key
// appears or goes, until ctx is done. Notifications are hints, as file
// system events are: changed should schedule a debounced re-read of the
// "registry" configs (HKLM\SYSTEM, HKLM\SOFTWARE), not read them itself.
// It returns ctx.Err() when ctx is done, or why watching failed.
func WatchRegistry(ctx context.Context, changed func()) error {
	cancel, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return fmt.Errorf("watching the registry: %w", err)
	}
	defer windows.CloseHandle(cancel)
	stop := context.AfterFunc(ctx, func() { windows.SetEvent(cancel) })
	defer stop()
	// Notifications are one-shot: after each one every key is resolved
	// and armed again (a key may have appeared). A change between the
	// notification and the re-arm is not lost: changed schedules a
	// re-read, which runs after the re-arm.
	for {
		watches, err := armRegistryWatches()
		if err != nil {
			return err
		}
		err = waitRegistry(cancel, watches, changed)
		closeRegistryWatches(watches)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return err
		}
	}
}

// armRegistryWatches opens and arms the keys to watch: every inventoried
// key found (its subtree) and the parents where new ones appear.
func armRegistryWatches() ([]*registryWatch, error) {
	var ws []*registryWatch
	add := func(path string, subtree bool, filter uint32) error {
		if len(ws) >= 63 { // WaitForMultipleObjects takes 64 handles, one is the cancel event
			return nil
		}
		k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.NOTIFY|registry.WOW64_64KEY)
		if err != nil {
			if errors.Is(err, registry.ErrNotExist) {
				return nil
			}
			return fmt.Errorf(`watching HKLM\%s: %w`, path, err)
		}
		ev, err := windows.CreateEvent(nil, 0, 0, nil)
		if err != nil {
			k.Close()
			return err
		}
		w := &registryWatch{path: path, subtree: subtree, filter: filter, key: k, event: ev}
		ws = append(ws, w)
		if err := windows.RegNotifyChangeKeyValue(windows.Handle(k), subtree, filter, ev, true); err != nil {
			return fmt.Errorf(`watching HKLM\%s: %w`, path, err)
		}
		return nil
	}
	names := uint32(windows.REG_NOTIFY_CHANGE_NAME)
	all := names | windows.REG_NOTIFY_CHANGE_LAST_SET
	for _, p := range watchParents {
		if err := add(p, false, names); err != nil {
			closeRegistryWatches(ws)
			return nil, err
		}
	}
	if err := add(`SOFTWARE\Microsoft\ExchangeServer`, true, names); err != nil {
		closeRegistryWatches(ws)
		return nil, err
	}
	for _, h := range hiveFiles {
		p := &parser{root: sysroot{}, server: "registry"}
		roots, _ := p.liveRegistryRoots(h)
		for _, k := range roots {
			if err := add(k, true, all); err != nil {
				closeRegistryWatches(ws)
				return nil, err
			}
		}
	}
	return ws, nil
}

// liveRegistryRoots returns the inventoried keys of a live hive, as paths
// below HKLM, without reading their values.
func (p *parser) liveRegistryRoots(name string) ([]string, error) {
	info, err := p.liveRegistry(name, `HKLM\`+name, true)
	var keys []string
	for _, k := range info.Keys {
		keys = append(keys, strings.TrimPrefix(k, `HKLM\`))
	}
	return keys, err
}

// waitRegistry waits for one of the watches or cancel, and calls changed
// for a change.
func waitRegistry(cancel windows.Handle, ws []*registryWatch, changed func()) error {
	handles := []windows.Handle{cancel}
	for _, w := range ws {
		handles = append(handles, w.event)
	}
	ev, err := windows.WaitForMultipleObjects(handles, false, windows.INFINITE)
	if err != nil {
		return fmt.Errorf("watching the registry: %w", err)
	}
	if i := int(ev - windows.WAIT_OBJECT_0); i > 0 && i < len(handles) {
		changed()
	}
	return nil
}

func closeRegistryWatches(ws []*registryWatch) {
	for _, w := range ws {
		w.key.Close()
		windows.CloseHandle(w.event)
	}
}
