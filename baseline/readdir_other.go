//go:build unix && !linux

package baseline

func (d *dirHandle) entries() ([]dirEntry, error) { return dirEntries(d.f.ReadDir(-1)) }
