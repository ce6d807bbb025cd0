package serverconf

import "path/filepath"

// Bounds of one inventory's include expansion. Real configurations stay
// far below them (Debian's Apache reads about 60 files, 200 KiB); a
// hostile or mistaken "Include /*/*/*/*/*" would otherwise read the
// whole file system. Exceeding one is an error of the file holding the
// include directive: its "unparsable" item says which bound, where.
const (
	// maxIncludeDepth bounds the nesting of included files.
	maxIncludeDepth = 16
	// maxIncludeFiles bounds the files read (besides the configuration
	// itself).
	maxIncludeFiles = 4096
	// maxInventoryBytes bounds the bytes of configuration read in all.
	maxInventoryBytes = 64 << 20
	// maxGlobDirs bounds the directories listed to expand wildcards and
	// directory includes.
	maxGlobDirs = 4096
	// maxGlobMatches bounds what one pattern matches.
	maxGlobMatches = 4096
	// maxModuleFiles bounds the files listed in module directories.
	maxModuleFiles = 4096
)

// origin locates an include directive.
type origin struct {
	src       string
	line      int
	directive string
}

// expanding sets the include directive whose expansion follows, where an
// exceeded bound is reported; the returned func restores the previous
// one (includes nest).
func (p *parser) expanding(src string, line int, directive string) func() {
	prev := p.at
	p.at = origin{src: src, line: line, directive: directive}
	return func() { p.at = prev }
}

// exceed reports, once per inventory, that the expansion of the current
// include directive went past a bound (what), and stops every further
// include: the inventory stays bounded and says why it is incomplete.
func (p *parser) exceed(what string) {
	if p.limited {
		return
	}
	p.limited = true
	at := p.at
	if at.src == "" {
		at.src = p.top
	}
	msg := what + ": webfim stops reading includes here"
	if at.directive != "" {
		msg = at.directive + " expands too far (" + what + "); webfim stops reading includes here: list the files or narrow the pattern"
	}
	p.items = append(p.items, p.unparsable(&ParseError{File: at.src, Line: at.line, Col: 1, Msg: msg}))
}

// Sources are the files and directories an inventory was read from, as
// paths on this host: what a watcher follows to see every change that
// can change the inventory.
type Sources struct {
	// Files are read whole: the configuration, the files it includes and
	// the binaries its items name. A path reached through a symbolic link
	// is listed as written and as resolved.
	Files []string
	// Dirs are listed: a new, removed or replaced entry in one of them
	// can change the inventory (directories of wildcard and directory
	// includes, PHP's scan directory, the directories of loaded modules).
	Dirs []string
}

// addFile records server path sp (and hp, its resolved host path, if
// known) as a file source.
func (s *Sources) addFile(r sysroot, sp, hp string) {
	s.Files = appendNew(s.Files, r.lexical(sp))
	if hp != "" {
		s.Files = appendNew(s.Files, hp)
	}
}

// addDir records the server directory sp as a directory source, as
// written and resolved.
func (s *Sources) addDir(r sysroot, sp string) {
	s.Dirs = appendNew(s.Dirs, r.lexical(sp))
	if hp, err := r.host(sp, false); err == nil {
		s.Dirs = appendNew(s.Dirs, hp)
	}
}

func appendNew(list []string, p string) []string {
	if p == "" {
		return list
	}
	for _, x := range list {
		if x == p {
			return list
		}
	}
	return append(list, p)
}

// lexical maps server path p into the sysroot without resolving links.
func (r sysroot) lexical(p string) string {
	if p == "" {
		return ""
	}
	if r.dir == "" {
		if isWindowsPath(p) {
			return p
		}
		return filepath.Clean(p)
	}
	if filepath.IsAbs(p) && r.display(p) != p {
		return filepath.Clean(p) // already a host path inside the sysroot
	}
	return filepath.Join(r.dir, filepath.FromSlash(serverPath(p)))
}
