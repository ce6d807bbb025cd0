package watch

import (
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"webfim/baseline"
)

// A symlink under a root whose target is a regular file outside every root
// (x.php -> /var/tmp/.s.php) carries its target's digests in the baseline
// (see [baseline.LinkedFile]): a change of the target is a content change
// of the link. The tree follows such targets live, through their parent
// directory (filtered to the target names, as config files are, because a
// target is often replaced by a rename), and hints the link paths when a
// target changes. The extra watches are bounded by
// TreeOptions.MaxLinkTargetDirs; beyond it targets are seen at rescans.

// DefaultMaxLinkTargetDirs is the default bound on the directories
// watched for the targets of symlinks leading out of the roots.
const DefaultMaxLinkTargetDirs = 1024

// linkRef is a symlink under a root and the outside file it leads to.
type linkRef struct {
	root, rel, target string
}

// linkState is what the tree knows of links to outside files.
type linkState struct {
	byLink   map[string]linkRef         // link (absolute) -> its reference
	byTarget map[string]map[string]bool // target -> links (absolute)
	dirs     map[string]int             // watched target directory -> targets in it
	lost     map[string]bool            // target directories whose watch went away
	full     bool                       // the bound was hit and logged
}

func newLinkState() linkState {
	return linkState{
		byLink:   make(map[string]linkRef),
		byTarget: make(map[string]map[string]bool),
		dirs:     make(map[string]int),
		lost:     make(map[string]bool),
	}
}

// LinkTargets returns the outside files followed for symlinks under the
// roots, sorted.
func (t *Tree) LinkTargets() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.linkTargets)
}

func (t *Tree) publishLinks() {
	targets := slices.Sorted(maps.Keys(t.links.byTarget))
	t.mu.Lock()
	t.linkTargets = targets
	t.mu.Unlock()
}

func (t *Tree) maxLinkTargetDirs() int {
	if t.opt.MaxLinkTargetDirs == 0 {
		return DefaultMaxLinkTargetDirs
	}
	return max(t.opt.MaxLinkTargetDirs, 0)
}

// noteLink looks at the symlink rel of root (just listed, created or
// changed): if it leads to a file outside every root, that file is
// followed; a link that now leads elsewhere drops its old target.
func (t *Tree) noteLink(root, rel string) {
	abs := t.absOf(root, rel)
	target, err := os.Readlink(abs)
	var outside string
	if err == nil {
		roots := make([]string, len(t.roots))
		for i := range t.roots {
			roots[i] = t.roots[i].Root
		}
		outside = baseline.OutsideTarget(roots, t.opt.Sysroot, abs, target)
	}
	if outside != "" {
		if fi, err := os.Lstat(outside); err == nil && fi.IsDir() {
			outside = "" // only files are read with their link
		}
	}
	if old, ok := t.links.byLink[abs]; ok {
		if old.target == outside {
			return
		}
		t.dropLink(abs)
	}
	if outside == "" {
		return
	}
	dir := filepath.Dir(outside)
	if t.links.dirs[dir] == 0 && !t.links.lost[dir] {
		if n := len(t.links.dirs) + len(t.links.lost); n >= t.maxLinkTargetDirs() {
			if !t.links.full {
				t.links.full = true
				t.log.Warn("too many directories to watch for the targets of symlinks leading out of the roots; further targets are seen at the periodic rescans only",
					"limit", t.maxLinkTargetDirs(), "link", abs, "target", outside)
			}
			return
		}
		if err := t.n.Add(dir); err != nil {
			level := slog.LevelWarn
			if errors.Is(err, fs.ErrNotExist) {
				level = slog.LevelInfo // a dangling link: nothing to read yet
			}
			t.log.Log(t.ctx, level, "cannot watch the directory of a symlink's target; retrying periodically, the target is seen at rescans meanwhile",
				"link", abs, "target", outside, "err", err)
			t.links.lost[dir] = true
		}
	}
	if !t.links.lost[dir] {
		t.links.dirs[dir]++
	}
	t.links.byLink[abs] = linkRef{root: root, rel: rel, target: outside}
	if t.links.byTarget[outside] == nil {
		t.links.byTarget[outside] = make(map[string]bool)
	}
	t.links.byTarget[outside][abs] = true
	t.publishLinks()
}

// dropLink stops following the target of the link abs (removed, or now
// leading elsewhere); the last link into a directory drops its watch.
func (t *Tree) dropLink(abs string) {
	ref, ok := t.links.byLink[abs]
	if !ok {
		return
	}
	delete(t.links.byLink, abs)
	delete(t.links.byTarget[ref.target], abs)
	if len(t.links.byTarget[ref.target]) == 0 {
		delete(t.links.byTarget, ref.target)
	}
	dir := filepath.Dir(ref.target)
	t.publishLinks()
	if t.links.lost[dir] {
		if !t.linkDirUsed(dir) {
			delete(t.links.lost, dir)
		}
		return
	}
	if t.links.dirs[dir]--; t.links.dirs[dir] > 0 {
		return
	}
	delete(t.links.dirs, dir)
	t.links.full = false // room again: the next one over the bound is logged
	if !t.configWatched[dir] && !t.rootLinkDirs[dir] {
		_ = t.n.Remove(dir)
	}
}

func (t *Tree) linkDirUsed(dir string) bool {
	for target := range t.links.byTarget {
		if filepath.Dir(target) == dir {
			return true
		}
	}
	return false
}

// forgetLinks drops the links at or under rel of root (a removed
// directory, a root switched to another release).
func (t *Tree) forgetLinks(root, rel string) {
	for abs, ref := range t.links.byLink {
		if ref.root != root {
			continue
		}
		if _, under := relOf(t.absOf(root, rel), abs); under {
			t.dropLink(abs)
		}
	}
}

// linkEvent hints the links leading to p when p is a followed target, and
// notes a target directory that went away.
func (t *Tree) linkEvent(ev Event, p string) {
	for abs := range t.links.byTarget[p] {
		ref := t.links.byLink[abs]
		t.emit(Hint{Kind: HintPath, Root: ref.root, Rel: ref.rel})
	}
	if t.links.dirs[p] > 0 && ev.Op&(OpRemove|OpRename) != 0 {
		t.log.Warn("directory of a symlink's target removed or renamed; retrying periodically", "dir", p)
		delete(t.links.dirs, p)
		t.links.lost[p] = true
		t.linkDirHints(p)
	}
}

// linkDirHints hints every link whose target is in dir.
func (t *Tree) linkDirHints(dir string) {
	for target, links := range t.links.byTarget {
		if filepath.Dir(target) != dir {
			continue
		}
		for abs := range links {
			ref := t.links.byLink[abs]
			t.emit(Hint{Kind: HintPath, Root: ref.root, Rel: ref.rel})
		}
	}
}

// recheckLinks runs at every tick: a link re-pointed while an event was
// lost is noted again, and a target directory that came back is watched
// again (its links are checked: the target may have changed meanwhile).
func (t *Tree) recheckLinks() {
	for _, abs := range slices.Sorted(maps.Keys(t.links.byLink)) {
		ref, ok := t.links.byLink[abs]
		if !ok {
			continue
		}
		if _, err := os.Lstat(abs); err != nil {
			t.dropLink(abs)
			continue
		}
		t.noteLink(ref.root, ref.rel)
	}
	for _, dir := range slices.Sorted(maps.Keys(t.links.lost)) {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		if err := t.n.Add(dir); err != nil {
			continue
		}
		delete(t.links.lost, dir)
		for target, links := range t.links.byTarget {
			if filepath.Dir(target) == dir {
				t.links.dirs[dir] += len(links)
			}
		}
		t.log.Info("watching the directory of a symlink's target again", "dir", dir)
		t.linkDirHints(dir)
	}
}

// NoteLink tells the tree of the symlink rel of root, found by a rescan or
// a check to lead to a file outside the roots (its directory may not be
// watched: a degraded root): its target is followed from then on. Safe
// for concurrent use; Run applies it.
func (t *Tree) NoteLink(root, rel string) {
	t.mu.Lock()
	t.nextLinks = append(t.nextLinks, [2]string{root, rel})
	t.mu.Unlock()
	t.wakeSources()
}

// applyLinks notes the links handed over by NoteLink.
func (t *Tree) applyLinks() {
	t.mu.Lock()
	links := t.nextLinks
	t.nextLinks = nil
	t.mu.Unlock()
	for _, l := range links {
		i, rel, ok := t.rootOf(t.absOf(l[0], l[1]))
		if !ok || t.roots[i].Missing || t.excluded(t.roots[i].Root, rel, false) {
			continue
		}
		t.noteLink(t.roots[i].Root, rel)
	}
}
