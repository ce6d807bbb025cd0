package serverconf

import (
	"os"
	"path"
	"sort"
	"strings"
)

// moduleDirKinds are the items whose image's directory is a module
// directory: where the server's loadable modules live
// (/usr/lib/apache2/modules, nginx's modules, PHP's extension_dir).
// LoadFile is left out: it names shared libraries, whose directories
// (/usr/lib/x86_64-linux-gnu) hold thousands of files that are not
// server modules.
var moduleDirKinds = map[string]bool{"load_module": true, "extension": true, "zend_extension": true}

// moduleFiles adds a "module_file" item for every file of a module
// directory that no item references: a binary dropped there, ready for a
// LoadModule or extension= line, is then a change of its own, and so is
// an unused module replaced in place. Referenced binaries are already
// hashed as their items' images.
func (p *parser) moduleFiles() {
	referenced := map[string]bool{}
	var dirs []string
	for _, it := range p.items {
		if it.Image == "" || isWindowsPath(it.Image) || !strings.HasPrefix(it.Image, "/") {
			continue
		}
		referenced[path.Clean(it.Image)] = true
		if moduleDirKinds[it.Kind] {
			dirs = appendNew(dirs, path.Dir(path.Clean(it.Image)))
		}
	}
	sort.Strings(dirs)
	listed := 0
	for _, dir := range dirs {
		p.sources.addDir(p.root, dir)
		hd, err := p.root.host(dir, false)
		if err != nil {
			continue
		}
		ents, err := os.ReadDir(hd)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if listed >= maxModuleFiles {
				p.warnings = append(p.warnings, "more than "+itoa(maxModuleFiles)+" files in the module directories; "+dir+" and the next ones are only partly inventoried")
				return
			}
			sp := path.Join(dir, e.Name())
			if referenced[sp] || e.IsDir() {
				continue
			}
			if e.Type()&os.ModeSymlink != 0 {
				if fi, err := os.Stat(path.Join(hd, e.Name())); err != nil || !fi.Mode().IsRegular() {
					continue
				}
			} else if !e.Type().IsRegular() {
				continue
			}
			listed++
			p.add(Item{Kind: "module_file", Name: e.Name(), Image: sp, Scope: dir, Source: sp})
		}
	}
}
