package serverconf

import (
	"sort"
	"strings"
)

// Diff compares two inventories item by item, matching items by
// Identity (items with the same identity are paired in order of source
// and line). Changes come sorted by identity; for a changed item, Fields
// lists what differs: "image", "type", "image_blake3" and "attrs.NAME".
// Source line numbers are not compared: editing a file above an item
// moves it without changing it.
//
// When a file is unparsable in new, its items cannot be compared: their
// removal is not reported, only the "unparsable" item.
//
// A binary of a module directory that becomes loaded (a2enmod) or
// unloaded is reported by the change of the item loading it, not also as
// a "module_file" item gone or come back with the same digest.
func Diff(old, new []Item) []Change {
	oldBy := groupByIdentity(old)
	newBy := groupByIdentity(new)
	broken := map[string]bool{}
	for _, it := range new {
		if it.Kind == "unparsable" {
			broken[it.Source] = true
		}
	}
	keys := make([]string, 0, len(oldBy)+len(newBy))
	for k := range oldBy {
		keys = append(keys, k)
	}
	for k := range newBy {
		if _, ok := oldBy[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	images := imageUsers(old, new)
	loadedOld, loadedNew := loadedImages(old), loadedImages(new)
	unloadedOld := map[string]string{}
	for _, it := range old {
		if it.Kind == "module_file" {
			unloadedOld[imageKey(it)] = it.ImageBLAKE3
		}
	}
	var out []Change
	for _, k := range keys {
		o, n := oldBy[k], newBy[k]
		for i := 0; i < len(o) || i < len(n); i++ {
			switch {
			case i >= len(n):
				if broken[o[i].Source] && o[i].Kind != "unparsable" {
					continue
				}
				it := o[i]
				if it.Kind == "module_file" && loadedNew[imageKey(it)] == it.ImageBLAKE3 {
					continue // now loaded: its loading item is the change
				}
				out = append(out, Change{Kind: ItemRemoved, Old: &it})
			case i >= len(o):
				it := n[i]
				if it.Kind == "module_file" && loadedOld[imageKey(it)] == it.ImageBLAKE3 {
					continue // no longer loaded: its loading item is the change
				}
				note := addedNote(it, images)
				if d, ok := unloadedOld[imageKey(it)]; ok && it.Kind != "module_file" && d == it.ImageBLAKE3 && d != "" {
					note = joinNotes(note, "the binary was already in the module directory at the baseline, with this digest")
				}
				out = append(out, Change{Kind: ItemAdded, New: &it, Note: note})
			default:
				if f := fieldsChanged(o[i], n[i]); len(f) > 0 {
					oi, ni := o[i], n[i]
					out = append(out, Change{Kind: ItemChanged, Fields: f, Old: &oi, New: &ni, Note: changedNote(oi, ni, f, images)})
				}
			}
		}
	}
	return out
}

func groupByIdentity(items []Item) map[string][]Item {
	m := map[string][]Item{}
	for _, it := range items {
		k := it.Identity()
		m[k] = append(m[k], it)
	}
	for _, l := range m {
		sort.SliceStable(l, func(i, j int) bool {
			if l[i].Source != l[j].Source {
				return l[i].Source < l[j].Source
			}
			return l[i].Line < l[j].Line
		})
	}
	return m
}

func fieldsChanged(o, n Item) []string {
	var f []string
	if !sameImage(o, n) {
		f = append(f, "image")
	}
	if o.Type != n.Type {
		f = append(f, "type")
	}
	if o.ImageBLAKE3 != n.ImageBLAKE3 {
		f = append(f, "image_blake3")
	}
	var ak []string
	for k, v := range o.Attrs {
		if n.Attrs[k] != v {
			ak = append(ak, k)
		}
	}
	for k := range n.Attrs {
		if _, ok := o.Attrs[k]; !ok {
			ak = append(ak, k)
		}
	}
	sort.Strings(ak)
	for _, k := range ak {
		f = append(f, "attrs."+k)
	}
	return f
}

func sameImage(o, n Item) bool {
	if windowsServer(n.Server) {
		return strings.EqualFold(o.Image, n.Image)
	}
	return o.Image == n.Image
}

// imageKey is how images are matched: Windows paths case-insensitively.
func imageKey(it Item) string {
	if windowsServer(it.Server) || isWindowsPath(it.Image) {
		return strings.ToLower(it.Image)
	}
	return it.Image
}

// loadedImages maps the images items load (module_file items excepted)
// to their digests.
func loadedImages(items []Item) map[string]string {
	m := map[string]string{}
	for _, it := range items {
		if it.Image != "" && it.Kind != "module_file" && hashedKind(it.Kind) {
			m[imageKey(it)] = it.ImageBLAKE3
		}
	}
	return m
}

// imageUsers maps each image to the items using it, old inventory first:
// an added module reusing a legitimate image is said so. An unloaded
// binary of a module directory (module_file) uses nothing.
func imageUsers(old, new []Item) map[string][]Item {
	m := map[string][]Item{}
	for _, l := range [][]Item{old, new} {
		for _, it := range l {
			if it.Image != "" && it.Kind != "module_file" && hashedKind(it.Kind) {
				m[imageKey(it)] = append(m[imageKey(it)], it)
			}
		}
	}
	return m
}

func kindNoun(kind string) string {
	switch kind {
	case "global_module", "module", "load_module", "http_module":
		return "module"
	case "transport_agent":
		return "agent"
	case "isapi_filter":
		return "ISAPI filter"
	case "filter_dll":
		return "ISAPI filter DLL"
	case "service_dll":
		return "service DLL"
	case "service_image":
		return "service image"
	case "iis_component":
		return "IIS component"
	case "module_file":
		return "module binary"
	}
	return strings.ReplaceAll(kind, "_", " ")
}

// reuseNote says which other item already uses it's image.
func reuseNote(it Item, images map[string][]Item) string {
	if it.Image == "" || !hashedKind(it.Kind) {
		return ""
	}
	var other *Item
	for _, u := range images[imageKey(it)] {
		if u.Identity() == it.Identity() {
			continue
		}
		if u.Kind == it.Kind { // a module's image used by another module says most
			other = &u
			break
		}
		if other == nil {
			other = &u
		}
	}
	if other == nil {
		return ""
	}
	return "image " + other.Image + " is already used by " + kindNoun(other.Kind) + " " + other.Name
}

func addedNote(it Item, images map[string][]Item) string {
	var notes []string
	if n := reuseNote(it, images); n != "" {
		notes = append(notes, n)
	}
	notes = append(notes, riskNotes(it)...)
	return strings.Join(notes, "; ")
}

func changedNote(o, n Item, fields []string, images map[string][]Item) string {
	var notes []string
	for _, f := range fields {
		switch f {
		case "image":
			if r := reuseNote(n, images); r != "" {
				notes = append(notes, r)
			}
		case "image_blake3":
			if sameImage(o, n) && o.ImageBLAKE3 != "" && n.ImageBLAKE3 != "" {
				notes = append(notes, "the binary "+n.Image+" was replaced")
			}
		case "attrs.enabled":
			if strings.EqualFold(n.Attrs["enabled"], "true") {
				notes = append(notes, kindNoun(n.Kind)+" "+n.Name+" was enabled")
			}
		}
	}
	notes = append(notes, riskNotes(n)...)
	return strings.Join(notes, "; ")
}

// riskNotes explain items that are findings by themselves.
func riskNotes(it Item) []string {
	var n []string
	if it.Attrs["non_script_extension"] == "true" {
		n = append(n, "maps non-script files "+firstNonEmpty(it.Attrs["path"], it.Name)+" to "+
			firstNonEmpty(it.Type, it.Image, it.Attrs["modules"]))
	}
	switch it.Kind {
	case "auto_prepend_file", "auto_append_file":
		n = append(n, "PHP runs "+it.Image+" on every request")
	case "redirection":
		if strings.EqualFold(it.Attrs["enabled"], "true") {
			n = append(n, "IIS configuration is redirected to "+it.Image)
		}
	}
	return n
}

func joinNotes(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
