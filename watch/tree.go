package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"webfim/serverconf"
)

// HintKind says what a [Hint] asks the consumer to check.
type HintKind uint8

// Hint kinds.
const (
	// HintPath: the entry Root/Rel may have changed, appeared or vanished.
	HintPath HintKind = iota + 1
	// HintSubtree: the directory Root/Rel was removed or renamed away; it and
	// everything the baseline knows below it may be gone.
	HintSubtree
	// HintConfig: the server configuration file Path may have changed.
	HintConfig
	// HintRescan: events for Root were lost or cannot be watched; rescan
	// the whole root. Reason says why.
	HintRescan
)

func (k HintKind) String() string {
	switch k {
	case HintPath:
		return "path"
	case HintSubtree:
		return "subtree"
	case HintConfig:
		return "config"
	case HintRescan:
		return "rescan"
	}
	return "unknown"
}

// Reasons carried by [HintRescan] hints.
const (
	ReasonOverflow  = "overflow"   // the notification queue overflowed
	ReasonDegraded  = "degraded"   // the root could not be fully watched (inotify limits)
	ReasonQueueFull = "queue_full" // the debouncer dropped paths to stay bounded
	ReasonRoot      = "root"       // the root itself vanished or came back
	ReasonRecovered = "recovered"  // a degraded root is fully watched again
)

// Hint says that something may have changed. It is never trusted as a
// description of the change: the consumer looks at the file system itself.
type Hint struct {
	Kind HintKind
	// Root is the watched root (absolute, cleaned); empty for HintConfig.
	Root string
	// Rel is the slash-separated path relative to Root ("" for the root).
	Rel string
	// Path is the configured config file path of a HintConfig.
	Path string
	// Reason says why a HintRescan was requested.
	Reason string
	// Err is set on the first HintRescan of a degraded root: a *[LimitError].
	Err error
	// Seen is what the tree saw of a HintPath entry at its events, for
	// the report of one gone before it is checked.
	Seen *Sighting
}

// TreeOptions configures a [Tree].
type TreeOptions struct {
	// Roots are absolute directories; they must not be nested.
	Roots []string
	// ConfigFiles are server configuration files (anywhere) watched through
	// their parent directory, because editors and package managers replace
	// them by renaming a new file over the old one. A config file that is a
	// symlink is watched at the link and at its target.
	ConfigFiles []string
	// Exclude, if set, skips entries (and, for directories, their subtrees).
	Exclude func(root, rel string, isDir bool) bool
	// CrossDevice lets the tree descend into other file systems mounted
	// below a root; by default mount points are reported but not entered.
	CrossDevice bool
	// DegradedInterval is how often a root that could not be fully watched
	// is rescanned instead (default 1 minute).
	DegradedInterval time.Duration
	// Logger receives warnings and the one clear message per degraded root
	// (default slog.Default()).
	Logger *slog.Logger
	// Sysroot is the image the roots are inside of ("" for the live
	// system): absolute symlink targets are followed inside it, as
	// baseline create reads them.
	Sysroot string
	// MaxLinkTargetDirs bounds the directories watched for the targets of
	// symlinks that lead from a root to a file outside every root
	// (default DefaultMaxLinkTargetDirs; negative: none).
	MaxLinkTargetDirs int
}

// LimitError explains that a directory could not be watched because an
// inotify limit was reached, and what to do about it.
type LimitError struct {
	Root, Dir string
	// Sysctl names the limit to raise.
	Sysctl string
	// Current is the limit's value when the error happened ("" if unknown).
	Current string
	// Fallback is the rescan interval the root falls back to.
	Fallback time.Duration
	Err      error // syscall.ENOSPC or syscall.EMFILE
}

func (e *LimitError) Error() string {
	cur := ""
	if e.Current != "" {
		cur = " = " + e.Current
	}
	extra := ""
	if e.Sysctl == "fs.inotify.max_user_instances" {
		extra = " (or the process's open file limit, LimitNOFILE)"
	}
	return fmt.Sprintf("cannot watch %s: %v: inotify limit %s%s reached%s; root %s is now rescanned every %s instead of watched; raise the limit (e.g. sysctl -w %s=%s, persisted in /etc/sysctl.d/) and restart or reload webfim watch",
		e.Dir, e.Err, e.Sysctl, cur, extra, e.Root, e.Fallback, e.Sysctl, suggestedLimit(e.Sysctl))
}

func (e *LimitError) Unwrap() error { return e.Err }

func suggestedLimit(sysctl string) string {
	if sysctl == "fs.inotify.max_user_instances" {
		return "1024"
	}
	return "1048576"
}

// limitOf tells whether err is an inotify limit error and which sysctl
// governs it.
func limitOf(err error) (string, bool) {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return "fs.inotify.max_user_watches", true
	case errors.Is(err, syscall.EMFILE):
		return "fs.inotify.max_user_instances", true
	}
	return "", false
}

// readLimit reads the current value of an inotify limit (a variable so
// that tests can raise a limit).
var readLimit = readSysctl

func readSysctl(name string) string {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// RootStatus describes how a root is being watched.
type RootStatus struct {
	Root string
	// Degraded: some directories could not be watched (inotify limits); the
	// root is rescanned every DegradedInterval.
	Degraded bool
	// Missing: the root does not exist (any more); it is retried every
	// DegradedInterval.
	Missing bool
	// Target is where the root leads when it is a symbolic link (the
	// common current -> releases/N layout); empty otherwise.
	Target string
	Err    error
}

type rootState struct {
	RootStatus
	dev      uint64
	devKnown bool
}

// statRoot describes the directory root leads to: a root may be a
// symbolic link to a directory, followed as "webfim baseline create" and
// "webfim diff" follow it (the root alone; links below it never are).
// target is the resolved directory of a link, "" otherwise.
func statRoot(root string) (fi fs.FileInfo, target string, err error) {
	fi, err = os.Lstat(root)
	if err != nil {
		return nil, "", err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if target, err = filepath.EvalSymlinks(root); err != nil {
			return nil, "", err
		}
		if fi, err = os.Stat(target); err != nil {
			return nil, "", err
		}
	}
	if !fi.IsDir() {
		return nil, "", fmt.Errorf("watch root %s: not a directory", root)
	}
	return fi, target, nil
}

// Tree watches directory trees recursively with one watch per directory.
// When a directory appears it is watched first and then scanned, so files
// created inside it before the watch existed are still reported
// (mkdir -p a/b/c && touch a/b/c/x.php yields x.php). Symlinks are never
// followed. A Tree is used by one goroutine calling [Tree.Run]; its status
// methods are safe for concurrent use.
type Tree struct {
	n          Notifier
	opt        TreeOptions
	log        *slog.Logger
	roots      []rootState
	idx        *dirIndex
	configDirs map[string]map[string][]string // dir -> base name -> configured paths
	// configLost holds the config directories that are not watched (they
	// did not exist, or were removed): retried at every tick.
	configLost map[string]bool
	// sourceDirs are the directories the server configurations list
	// (wildcard includes, PHP's scan directory, module directories): any
	// entry appearing, changing or going in one is a config hint.
	sourceDirs map[string]bool
	// configWatched are the directories outside the roots watched for the
	// configurations (configDirs and sourceDirs).
	configWatched map[string]bool
	// nextSources holds the sources handed over by SetConfigSources, for
	// Run to apply; sourcesWake says there are some (or links from NoteLink).
	nextSources *serverconf.Sources
	sourcesWake chan struct{}
	// rootLinkDirs are the parent directories of the roots that are
	// symbolic links, watched to see a link switched (a deploy's
	// ln -sfn releases/N+1 current).
	rootLinkDirs map[string]bool
	// links follows the targets of symlinks leading out of the roots.
	links linkState
	ready chan struct{}
	dirs  atomic.Int64

	ctx context.Context
	out chan<- Hint

	mu     sync.Mutex
	status []RootStatus
	// watchedConfigs is configWatched, for ConfigDirs.
	watchedConfigs []string
	// linkTargets are the followed link targets, for LinkTargets.
	linkTargets []string
	// nextLinks are the links handed over by NoteLink, for Run.
	nextLinks [][2]string
}

// ConfigDirs returns the directories outside the roots watched for the
// server configurations and their sources, sorted.
func (t *Tree) ConfigDirs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.watchedConfigs)
}

func (t *Tree) publishConfigDirs() {
	dirs := slices.Sorted(maps.Keys(t.configWatched))
	t.mu.Lock()
	t.watchedConfigs = dirs
	t.mu.Unlock()
}

// ErrNestedRoots is returned by [NewTree] when one root lies inside another.
var ErrNestedRoots = errors.New("watch roots must not be nested")

// NewTree checks the roots and returns a Tree reading events from n. The
// Tree does not own n: the caller closes it after Run returned.
func NewTree(n Notifier, opt TreeOptions) (*Tree, error) {
	if opt.DegradedInterval <= 0 {
		opt.DegradedInterval = time.Minute
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	roots := slices.Clone(opt.Roots)
	for i, r := range roots {
		if !filepath.IsAbs(r) {
			return nil, fmt.Errorf("watch root %q: not an absolute path", r)
		}
		roots[i] = filepath.Clean(r)
		if _, _, err := statRoot(roots[i]); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("watch root: %w", err)
			}
			return nil, err
		}
	}
	slices.Sort(roots)
	roots = slices.Compact(roots)
	for i := 1; i < len(roots); i++ {
		if _, ok := relOf(roots[i-1], roots[i]); ok {
			return nil, fmt.Errorf("%w: %s contains %s", ErrNestedRoots, roots[i-1], roots[i])
		}
	}
	t := &Tree{
		n: n, opt: opt, log: log,
		idx:           newDirIndex(),
		configDirs:    make(map[string]map[string][]string),
		configLost:    make(map[string]bool),
		sourceDirs:    make(map[string]bool),
		ready:         make(chan struct{}),
		sourcesWake:   make(chan struct{}, 1),
		rootLinkDirs:  make(map[string]bool),
		configWatched: make(map[string]bool),
		links:         newLinkState(),
	}
	for _, r := range roots {
		t.roots = append(t.roots, rootState{RootStatus: RootStatus{Root: r}})
	}
	for _, c := range opt.ConfigFiles {
		if !filepath.IsAbs(c) {
			return nil, fmt.Errorf("config file %q: not an absolute path", c)
		}
	}
	t.configNames(nil)
	t.publish()
	return t, nil
}

// configNames rebuilds configDirs from the configured files and the
// source files of their inventories (included files, module binaries).
func (t *Tree) configNames(sources []string) {
	clear(t.configDirs)
	for _, c := range t.opt.ConfigFiles {
		c = filepath.Clean(c)
		t.addConfigName(c, c)
		if resolved, err := filepath.EvalSymlinks(c); err == nil && resolved != c {
			t.addConfigName(resolved, c)
		}
	}
	for _, f := range sources {
		if filepath.IsAbs(f) {
			t.addConfigName(filepath.Clean(f), filepath.Clean(f))
		}
	}
}

// SetConfigSources hands the tree the files and directories the server
// configurations were last read from ([serverconf.Sources]): from then on
// an event on any of them is a config hint, so an included file, a file
// dropped into a wildcard-included directory or a module directory, or a
// module binary swapped in place is checked at once instead of at the next
// rescan. It replaces the previous sources (includes may have changed).
// Safe for concurrent use; Run applies it.
func (t *Tree) SetConfigSources(s serverconf.Sources) {
	s = serverconf.Sources{Files: slices.Clone(s.Files), Dirs: slices.Clone(s.Dirs)}
	t.mu.Lock()
	t.nextSources = &s
	t.mu.Unlock()
	t.wakeSources()
}

// wakeSources has Run apply what SetConfigSources and NoteLink handed
// over; a wake already pending covers this one.
func (t *Tree) wakeSources() {
	select {
	case t.sourcesWake <- struct{}{}:
	default:
	}
}

// applySources watches the directories the new sources need and drops the
// watches no longer needed (outside the roots, whose watches are the
// tree's own).
func (t *Tree) applySources() {
	t.mu.Lock()
	s := t.nextSources
	t.nextSources = nil
	t.mu.Unlock()
	if s == nil {
		return
	}
	t.configNames(s.Files)
	clear(t.sourceDirs)
	for _, d := range s.Dirs {
		if filepath.IsAbs(d) {
			t.sourceDirs[filepath.Clean(d)] = true
		}
	}
	t.watchConfigDirs()
}

// watchConfigDirs makes the config watches those of configDirs and
// sourceDirs.
func (t *Tree) watchConfigDirs() {
	want := make(map[string]bool)
	for d := range t.configDirs {
		want[d] = true
	}
	for d := range t.sourceDirs {
		want[d] = true
	}
	for _, d := range slices.Sorted(maps.Keys(want)) {
		if t.configWatched[d] || t.configLost[d] {
			continue
		}
		if err := t.n.Add(d); err != nil {
			t.log.Warn("cannot watch config directory; retrying periodically, its files are checked on rescans meanwhile", "dir", d, "err", err)
			t.configLost[d] = true
			continue
		}
		t.configWatched[d] = true
	}
	for _, d := range slices.Sorted(maps.Keys(t.configWatched)) {
		if want[d] {
			continue
		}
		delete(t.configWatched, d)
		if _, _, underRoot := t.rootOf(d); !underRoot && t.links.dirs[d] == 0 {
			_ = t.n.Remove(d)
		}
	}
	for d := range t.configLost {
		if !want[d] {
			delete(t.configLost, d)
		}
	}
	t.publishConfigDirs()
}

func (t *Tree) addConfigName(file, configured string) {
	dir, base := filepath.Dir(file), filepath.Base(file)
	if t.configDirs[dir] == nil {
		t.configDirs[dir] = make(map[string][]string)
	}
	if !slices.Contains(t.configDirs[dir][base], configured) {
		t.configDirs[dir][base] = append(t.configDirs[dir][base], configured)
	}
}

// Ready is closed once every root's initial watches are in place: from then
// on nothing is missed, so a catch-up scan started after Ready cannot miss a
// change made during it.
func (t *Tree) Ready() <-chan struct{} { return t.ready }

// Dirs returns the number of directories currently watched under the roots.
func (t *Tree) Dirs() int { return int(t.dirs.Load()) }

// Status returns the state of every root.
func (t *Tree) Status() []RootStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.status)
}

func (t *Tree) publish() {
	t.mu.Lock()
	t.status = t.status[:0]
	for _, r := range t.roots {
		t.status = append(t.status, r.RootStatus)
	}
	t.mu.Unlock()
	t.dirs.Store(int64(t.idx.count))
}

// Run watches the roots and config files, sending hints to out, until ctx is
// cancelled or the notifier is closed. Sends on out block: the consumer
// (normally a [Debouncer]) must keep reading.
func (t *Tree) Run(ctx context.Context, out chan<- Hint) error {
	t.ctx, t.out = ctx, out
	for i := range t.roots {
		t.setupRoot(i)
	}
	t.setupConfigs()
	t.publish()
	close(t.ready)

	tick := time.NewTicker(t.opt.DegradedInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-t.n.Events():
			if !ok {
				return errors.New("watch: notifier closed")
			}
			t.handle(ev)
		case err, ok := <-t.n.Errors():
			if !ok {
				return errors.New("watch: notifier closed")
			}
			t.handleError(err)
		case <-tick.C:
			t.tick()
		case <-t.sourcesWake:
			t.applySources()
			t.applyLinks()
		}
		t.publish()
	}
}

func (t *Tree) emit(h Hint) {
	select {
	case t.out <- h:
	case <-t.ctx.Done():
	}
}

func (t *Tree) setupRoot(i int) {
	r := &t.roots[i]
	fi, target, err := statRoot(r.Root)
	if err != nil {
		if !r.Missing {
			t.log.Warn("watch root missing; retrying periodically", "root", r.Root, "err", err)
		}
		r.Missing = true
		return
	}
	r.Missing, r.Target = false, target
	if target != "" {
		t.watchRootLink(r.Root)
	}
	r.dev, r.devKnown = deviceOf(fi)
	t.addTree(i, "", false)
}

// watchRootLink watches the directory holding root, a symbolic link, so
// that a switch of the link is seen at once (the periodic tick checks it
// too).
func (t *Tree) watchRootLink(root string) {
	dir := filepath.Dir(root)
	if t.rootLinkDirs[dir] {
		return
	}
	if err := t.n.Add(dir); err != nil {
		t.log.Warn("cannot watch the directory of a symlinked root; a switch of the link is seen within a minute instead", "root", root, "err", err)
		return
	}
	t.rootLinkDirs[dir] = true
}

// checkRootLink re-resolves root i, a symbolic link: when it leads
// somewhere else than the directories watched (the link was switched,
// or its target removed), the old watches go, the new target is watched
// and a rescan of the root is asked for. It reports whether it did.
func (t *Tree) checkRootLink(i int) bool {
	r := &t.roots[i]
	if r.Missing {
		return false // the tick sets it up again
	}
	_, target, err := statRoot(r.Root)
	if err == nil && target == r.Target {
		return false
	}
	was := r.Target
	t.forget(i, "")
	t.setupRoot(i)
	if r.Missing {
		t.emit(Hint{Kind: HintSubtree, Root: r.Root})
		return true
	}
	t.log.Info("watch root leads to another directory; watching it", "root", r.Root, "was", was, "now", r.Target)
	t.emit(Hint{Kind: HintRescan, Root: r.Root, Reason: ReasonRoot})
	return true
}

func (t *Tree) setupConfigs() {
	t.applySources()
	t.watchConfigDirs()
}

// retryConfigDirs watches again the config directories that were missing
// or removed; each one that now exists gets a hint for its config files
// (they may have appeared meanwhile).
func (t *Tree) retryConfigDirs() {
	for _, d := range slices.Sorted(maps.Keys(t.configLost)) {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			continue
		}
		if err := t.n.Add(d); err != nil {
			continue // still reported by the first warning
		}
		delete(t.configLost, d)
		t.configWatched[d] = true
		t.publishConfigDirs()
		t.log.Info("watching config directory", "dir", d)
		t.configHints(d)
	}
}

// configHints hints every config file configured in dir, or dir itself
// when the configurations list it.
func (t *Tree) configHints(dir string) {
	if t.sourceDirs[dir] {
		t.emit(Hint{Kind: HintConfig, Path: dir})
	}
	for _, paths := range t.configDirs[dir] {
		for _, c := range paths {
			t.emit(Hint{Kind: HintConfig, Path: c})
		}
	}
}

func (t *Tree) absOf(root, rel string) string {
	if rel == "" {
		return root
	}
	return filepath.Join(root, filepath.FromSlash(rel))
}

func (t *Tree) excluded(root, rel string, isDir bool) bool {
	return rel != "" && t.opt.Exclude != nil && t.opt.Exclude(root, rel, isDir)
}

// addTree watches the directory rel of root i and every directory below it,
// each before it is read. With emit, every entry found is hinted: used for
// directories that appeared after the watch started.
func (t *Tree) addTree(i int, rel string, emit bool) {
	r := &t.roots[i]
	stack := []string{rel}
	for len(stack) > 0 {
		dir := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if t.ctx.Err() != nil || (r.Degraded && !emit) {
			return // a degraded root is covered by rescans, not by this walk
		}
		abs := t.absOf(r.Root, dir)
		var fi fs.FileInfo
		var err error
		if dir == "" {
			fi, _, err = statRoot(abs) // the root alone may be a link
		} else if fi, err = os.Lstat(abs); err == nil && !fi.IsDir() {
			continue // replaced (by a symlink, say): never follow
		}
		if err != nil {
			continue // vanished
		}
		if dir != "" && !t.opt.CrossDevice && r.devKnown {
			if dev, ok := deviceOf(fi); ok && dev != r.dev {
				continue // a mount point: reported by its parent, not entered
			}
		}
		if !r.Degraded {
			if err := t.n.Add(abs); err != nil {
				if sysctl, ok := limitOf(err); ok {
					t.degrade(i, abs, sysctl, err)
				} else {
					if !errors.Is(err, fs.ErrNotExist) {
						t.log.Warn("cannot watch directory", "dir", abs, "err", err)
					}
					continue
				}
			} else {
				t.idx.add(r.Root, dir)
			}
		}
		entries, err := readDirUnsorted(abs)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.log.Warn("cannot read directory", "dir", abs, "err", err)
		}
		for _, e := range entries {
			child := joinRel(dir, filepath.ToSlash(e.Name()))
			isDir := e.Type().IsDir() // false for symlinks to directories
			if t.excluded(r.Root, child, isDir) {
				continue
			}
			if emit {
				t.emit(Hint{Kind: HintPath, Root: r.Root, Rel: child})
			}
			if e.Type()&fs.ModeSymlink != 0 {
				t.noteLink(r.Root, child)
			}
			if isDir {
				stack = append(stack, child)
			}
		}
	}
}

func readDirUnsorted(dir string) ([]fs.DirEntry, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

func (t *Tree) degrade(i int, dir, sysctl string, err error) {
	r := &t.roots[i]
	if r.Degraded {
		return
	}
	lerr := &LimitError{Root: r.Root, Dir: dir, Sysctl: sysctl, Current: readLimit(sysctl), Fallback: t.opt.DegradedInterval, Err: err}
	r.Degraded, r.Err = true, lerr
	t.log.Error(lerr.Error(), "root", r.Root, "sysctl", sysctl)
	t.emit(Hint{Kind: HintRescan, Root: r.Root, Reason: ReasonDegraded, Err: lerr})
}

// relOf returns p relative to root, slash-separated, if p is root or below.
func relOf(root, p string) (string, bool) {
	if p == root {
		return "", true
	}
	prefix := root
	if !strings.HasSuffix(prefix, string(filepath.Separator)) {
		prefix += string(filepath.Separator)
	}
	if !strings.HasPrefix(p, prefix) {
		return "", false
	}
	return filepath.ToSlash(p[len(prefix):]), true
}

func (t *Tree) rootOf(p string) (int, string, bool) {
	for i := range t.roots {
		if rel, ok := relOf(t.roots[i].Root, p); ok {
			return i, rel, true
		}
	}
	return 0, "", false
}

func (t *Tree) handle(ev Event) {
	p := filepath.Clean(ev.Path)
	if names := t.configDirs[filepath.Dir(p)]; names != nil {
		for _, c := range names[filepath.Base(p)] {
			t.emit(Hint{Kind: HintConfig, Path: c})
		}
	}
	if dir := filepath.Dir(p); t.sourceDirs[dir] {
		t.emit(Hint{Kind: HintConfig, Path: dir})
	}
	t.linkEvent(ev, p)
	if (t.configDirs[p] != nil || t.sourceDirs[p]) && ev.Op&(OpRemove|OpRename) != 0 && !t.configLost[p] {
		// A config directory itself went away: its watch is gone with it.
		t.log.Warn("config directory removed or renamed; retrying periodically", "dir", p)
		delete(t.configWatched, p)
		t.publishConfigDirs()
		t.configLost[p] = true
		t.configHints(p)
	}
	i, rel, ok := t.rootOf(p)
	if !ok {
		return
	}
	r := &t.roots[i]
	if r.Missing {
		return
	}
	if rel == "" && r.Target != "" {
		t.checkRootLink(i)
		return
	}
	if rel == "" {
		if ev.Op&(OpRemove|OpRename) != 0 {
			t.forget(i, "")
			r.Missing = true
			t.log.Warn("watch root removed or renamed; retrying periodically", "root", r.Root)
			t.emit(Hint{Kind: HintSubtree, Root: r.Root})
		}
		return
	}
	if ev.Op&(OpRemove|OpRename) != 0 {
		wasDir := t.idx.has(r.Root, rel)
		if t.excluded(r.Root, rel, wasDir) {
			return
		}
		if wasDir {
			// A renamed directory keeps its inotify watches under their old
			// names: drop them all, the new name is re-added from its Create.
			t.forget(i, rel)
			t.emit(Hint{Kind: HintSubtree, Root: r.Root, Rel: rel})
		} else {
			t.dropLink(p)
			now := time.Now()
			gone := &Sighting{First: now, Last: now, MovedAway: ev.Op.Has(OpRename)}
			t.emit(Hint{Kind: HintPath, Root: r.Root, Rel: rel, Seen: gone})
		}
		if !ev.Op.Has(OpCreate) {
			return
		}
	}
	fi, err := os.Lstat(p)
	if err != nil {
		var seen *Sighting
		if ev.Op.Has(OpCreate) {
			seen = sight(r.Root, rel, nil, time.Now()) // created and gone already
		}
		t.emit(Hint{Kind: HintPath, Root: r.Root, Rel: rel, Seen: seen})
		return
	}
	if t.excluded(r.Root, rel, fi.IsDir()) {
		return
	}
	t.emit(Hint{Kind: HintPath, Root: r.Root, Rel: rel, Seen: sight(r.Root, rel, fi, time.Now())})
	if fi.Mode()&fs.ModeSymlink != 0 {
		t.noteLink(r.Root, rel)
	} else {
		t.dropLink(p) // a link replaced by a file
	}
	if fi.IsDir() && (ev.Op.Has(OpCreate) || !t.idx.has(r.Root, rel)) {
		t.addTree(i, rel, true)
	}
}

// forget drops the watches of rel and every directory below it.
func (t *Tree) forget(i int, rel string) {
	root := t.roots[i].Root
	t.forgetLinks(root, rel)
	t.idx.remove(root, rel, func(d string) {
		_ = t.n.Remove(t.absOf(root, d)) // already gone when the directory was deleted
	})
}

func (t *Tree) handleError(err error) {
	if !errors.Is(err, ErrOverflow) {
		t.log.Warn("file system notification error", "err", err)
		return
	}
	// The kernel does not say which watch overflowed: resynchronise the
	// watches of every root and ask for a rescan of each.
	t.log.Warn("file system notification queue overflowed; rescanning all roots", "roots", len(t.roots))
	for i := range t.roots {
		r := &t.roots[i]
		if r.Missing {
			continue
		}
		t.resync(i)
		t.emit(Hint{Kind: HintRescan, Root: r.Root, Reason: ReasonOverflow})
	}
	for _, names := range t.configDirs {
		for _, paths := range names {
			for _, c := range paths {
				t.emit(Hint{Kind: HintConfig, Path: c})
			}
		}
	}
	for d := range t.sourceDirs {
		t.emit(Hint{Kind: HintConfig, Path: d})
	}
}

// resync re-walks root i: directories created while events were lost get
// their watches, directories that vanished lose theirs.
func (t *Tree) resync(i int) {
	root := t.roots[i].Root
	old := t.idx.roots[root]
	if old != nil {
		delete(t.idx.roots, root)
		t.idx.count -= countNodes(old)
	}
	t.setupRoot(i)
	if old == nil {
		return
	}
	var stale []string
	var walk func(n *dirNode, rel string)
	walk = func(n *dirNode, rel string) {
		if !t.idx.has(root, rel) {
			stale = append(stale, rel)
		}
		for name, c := range n.children {
			walk(c, joinRel(rel, name))
		}
	}
	walk(old, "")
	for _, rel := range stale {
		_ = t.n.Remove(t.absOf(root, rel))
	}
}

func countNodes(n *dirNode) int {
	c := 1
	for _, ch := range n.children {
		c += countNodes(ch)
	}
	return c
}

func (t *Tree) tick() {
	t.retryConfigDirs()
	t.recheckLinks()
	for i := range t.roots {
		r := &t.roots[i]
		if r.Target != "" && t.checkRootLink(i) {
			continue
		}
		switch {
		case r.Missing:
			t.setupRoot(i)
			if !r.Missing {
				t.log.Info("watch root is back", "root", r.Root)
				t.emit(Hint{Kind: HintRescan, Root: r.Root, Reason: ReasonRoot})
			}
		case r.Degraded:
			if le, now, ok := t.limitRaised(r); ok {
				t.retryDegraded(i, le, now)
			}
			if r.Degraded {
				t.emit(Hint{Kind: HintRescan, Root: r.Root, Reason: ReasonDegraded})
			}
		}
	}
}

// limitRaised reports whether the inotify limit that degraded root r has
// been changed since (the operator did what the error message said), with
// that limit and its new value.
func (t *Tree) limitRaised(r *rootState) (le *LimitError, now string, ok bool) {
	if !errors.As(r.Err, &le) || le.Current == "" {
		return nil, "", false
	}
	now = readLimit(le.Sysctl)
	return le, now, now != "" && now != le.Current
}

// retryDegraded tries to watch every directory of root i again, after its
// limit le changed to now. If that is still too low, the root stays
// degraded and the error is reported once more, with the new value.
func (t *Tree) retryDegraded(i int, le *LimitError, now string) {
	r := &t.roots[i]
	t.log.Info("inotify limit changed; watching the root again", "root", r.Root, "sysctl", le.Sysctl, "was", le.Current, "now", now)
	r.Degraded, r.Err = false, nil
	t.resync(i)
	if r.Degraded {
		return
	}
	t.log.Info("root fully watched again; rescanning it once for what the fallback rescans may have missed", "root", r.Root, "dirs", t.idx.count)
	t.emit(Hint{Kind: HintRescan, Root: r.Root, Reason: ReasonRecovered})
}
