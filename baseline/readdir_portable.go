//go:build !linux

package baseline

import "io/fs"

// dirEntries converts what os.File.ReadDir lists: the listing of the
// platforms without the getdents reader of readdir_linux.go (the other
// Unix systems, readdir_other.go; Windows, sys_windows.go).
func dirEntries(list []fs.DirEntry, err error) ([]dirEntry, error) {
	if err != nil {
		return nil, err
	}
	entries := make([]dirEntry, len(list))
	for i, e := range list {
		entries[i] = dirEntry{name: e.Name(), typ: e.Type()}
	}
	return entries, nil
}
