package baseline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"webfim/indicators"
)

// Options configure [Walk] and [Stat].
type Options struct {
	// Workers is the number of hashing goroutines; 0 means runtime.NumCPU().
	Workers int
	// Full ignores Previous digests and hashes every regular file.
	Full bool
	// Previous is the prior state of the same roots, in State order. A
	// regular file whose size, mtime, ctime, inode and device equal its
	// previous record reuses that record's digests (see docs/baseline.md).
	// An error from Previous is passed to OnError and the rest is hashed.
	// Previous is read ahead on a goroutine of its own. [MergeWalk]
	// ignores it: its old state takes this place.
	Previous State
	// HashAllSHA256 records SHA-256 for every regular file, not only
	// script-type ones.
	HashAllSHA256 bool
	// ScriptExtensions are the extensions that get a SHA-256 digest; nil
	// means DefaultScriptExtensions.
	ScriptExtensions []string
	// CrossDevice descends into directories on other file systems; by
	// default a mount point is recorded but not entered.
	CrossDevice bool
	// Roots are all the roots of the state, for [Stat], which records one
	// entry, and for a walk of some of them: a symlink whose target is
	// outside every root has its target read (see LinkedFile). [Walk]
	// adds its own roots; nil means those (for Stat, the entry's root).
	Roots []string
	// Sysroot is the directory an offline image is mounted or copied at:
	// absolute symlink targets are read inside it.
	Sysroot string
	// Exclude, if set, drops an entry (and, for a directory, everything
	// below it) from the walk. rel is slash-separated.
	Exclude func(root, rel string, isDir bool) bool
	// OnError is told of every entry that could not be read completely; the
	// walk goes on and the record carries the error text in Err. It is
	// called from the goroutine iterating the State, in walk order.
	OnError func(root, rel string, err error)
	// Progress, if set, is called from the goroutine iterating the State at
	// most about ten times a second, and once more at the end with Done.
	Progress func(p Progress)
	// Limiter, if set, is asked for every chunk read while hashing (up to
	// 256 KiB, so a rate limiter needs at least that burst), from several
	// goroutines at once.
	Limiter interface {
		WaitN(ctx context.Context, n int) error
	}
	// Indicators, if set, scans the regular files that are read, as they
	// are hashed, for web-shell indicators: those with a script
	// extension ([indicators.FamilyOf]), when their content is new (no
	// previous record of the path, or another digest). The result is
	// Record.Indicators.
	Indicators *indicators.Engine
	// LargeFileThreshold is the size above which a regular file is
	// sampled instead of read whole (see [Record.Sampled]); 0 means
	// [DefaultLargeFileThreshold], a negative value never samples. Values
	// below 2*[SampleSize] count as 2*SampleSize.
	LargeFileThreshold int64
}

// Progress counts what a walk has produced so far.
type Progress struct {
	Files       int64 // entries recorded (of any type)
	Bytes       int64 // sum of the sizes of regular files recorded
	Hashed      int64 // regular files actually read (not reused)
	HashedBytes int64 // bytes actually read
	Done        bool
}

const (
	// reorderWindow bounds the records in flight between the walking
	// producer and the consumer: memory stays bounded whatever the tree.
	reorderWindow = 4096
	// batchItems items travel together: one channel send, one wake-up
	// and one completion signal per batch instead of per entry.
	batchItems      = 64
	progressEvery   = 100 * time.Millisecond
	ctxCheckEntries = 256
)

// ErrBadRoot is wrapped by the errors about unusable roots.
var ErrBadRoot = errors.New("bad root")

// checkRoots validates roots and returns them sorted.
func checkRoots(roots []string) ([]string, error) {
	if len(roots) == 0 {
		return nil, fmt.Errorf("%w: no root given", ErrBadRoot)
	}
	sorted := slices.Clone(roots)
	slices.Sort(sorted)
	for i, r := range sorted {
		if !filepath.IsAbs(r) {
			return nil, fmt.Errorf("%w: %q is not an absolute path", ErrBadRoot, r)
		}
		if filepath.Clean(r) != r {
			return nil, fmt.Errorf("%w: %q is not clean (want %q)", ErrBadRoot, r, filepath.Clean(r))
		}
		fi, err := os.Stat(r)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadRoot, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%w: %s is not a directory", ErrBadRoot, r)
		}
		if i > 0 {
			prev := sorted[i-1]
			if prev == r {
				return nil, fmt.Errorf("%w: %s is given twice", ErrBadRoot, r)
			}
			if isUnder(prev, r) {
				return nil, fmt.Errorf("%w: %s is inside root %s", ErrBadRoot, r, prev)
			}
		}
	}
	// Nesting need not show between neighbours ("/a", "/a b", "/a/c").
	for i, r := range sorted {
		for _, q := range sorted[:i] {
			if isUnder(q, r) {
				return nil, fmt.Errorf("%w: %s is inside root %s", ErrBadRoot, r, q)
			}
		}
	}
	return sorted, nil
}

func isUnder(parent, p string) bool {
	sep := string(filepath.Separator)
	if strings.HasSuffix(parent, sep) { // "/" or `C:\`
		return strings.HasPrefix(p, parent) && len(p) > len(parent)
	}
	return strings.HasPrefix(p, parent+sep)
}

// fullPath joins a root and a slash-separated relative path.
func fullPath(root, rel string) string {
	if rel == "" {
		return root
	}
	if strings.HasSuffix(root, string(filepath.Separator)) {
		return root + filepath.FromSlash(rel)
	}
	return root + string(filepath.Separator) + filepath.FromSlash(rel)
}

// item is one entry travelling from the producer to the consumer, in walk
// order. Directories are stat'ed by the producer (it must know their device
// before descending); every other entry is a job: a worker lstats it
// relative to its open parent directory, reads its link target or hashes
// it (or reuses prev's digests), then signals done.
type item struct {
	rec        Record
	err        error
	job        bool        // a worker must complete it
	regular    bool        // the directory listing says regular file
	listed     Type        // the type the directory listing gave
	listedMode fs.FileMode // its type bits
	dir        *dirHandle
	name       string // within dir
	prev       Record // the previous record of this path, if hasPrev
	hasPrev    bool
	read       int64
	hashed     bool
	// skip: no live record. The entry vanished before lstat (it is not
	// part of the state), or, in a merged walk, the item only carries
	// prev, a previous record the walk passed by.
	skip   bool
	notice bool // no record, only err for OnError
}

var itemPool = sync.Pool{New: func() any { return new(item) }}

func (it *item) recycle() {
	*it = item{}
	itemPool.Put(it)
}

// batch is a run of consecutive items in walk order. Its jobs are
// completed by one worker, except large files, which it hands to the
// large-file lane; whoever completes the last one signals done once.
type batch struct {
	items []*item
	jobs  []*item // the items of items that are jobs
	done  chan struct{}
	// pending counts the jobs not completed yet, plus one held by the
	// worker until it went through them all.
	pending atomic.Int32
}

// finish records n completed jobs (or the worker's hold) and signals done
// after the last.
func (b *batch) finish(n int32) {
	if b.pending.Add(-n) == 0 {
		b.done <- struct{}{}
	}
}

var batchPool = sync.Pool{New: func() any {
	return &batch{items: make([]*item, 0, batchItems), done: make(chan struct{}, 1)}
}}

func (b *batch) recycle() {
	clear(b.items)
	clear(b.jobs)
	b.items, b.jobs = b.items[:0], b.jobs[:0]
	batchPool.Put(b)
}

// Walk records every entry under roots, depth-first with names in byte
// order, so the records come out sorted by Root and [Key]. Each root
// itself is a record with Path "". Roots must be absolute, clean, existing
// directories, none inside another (in any order; they are sorted).
//
// Entries that cannot be read are recorded with Err and passed to
// opt.OnError; the walk goes on. A bad root or a cancelled ctx ends the
// stream (the error is yielded last).
func Walk(ctx context.Context, roots []string, opt Options) State {
	return func(yield func(Record, error) bool) {
		sorted, err := checkRoots(roots)
		if err != nil {
			yield(Record{}, err)
			return
		}
		w := newWalker(ctx, sorted, opt, false)
		defer w.stop()
		w.start()
		w.consume(func(p Pair, err error) bool { return yield(p.New, err) })
	}
}

// Pair is one entry of a merge of an old and a new state: its old record,
// its new record, or both. Old-only entries were removed (or moved), new-only
// ones added.
type Pair struct {
	Old, New       Record
	HasOld, HasNew bool
}

// MergeWalk walks roots like [Walk] with old as the previous state, and
// yields every live record paired with its old record, if any, and every
// old record the walk passed by (removed, excluded, under a mount point
// not entered, under an unreadable directory, of another root) as an
// old-only pair, all in (Root, [Key]) order: the merge [ComparePairs]
// needs, from one read of old. Unless opt.Full, digests are reused from
// old as [Options.Previous] would; opt.Previous is ignored.
//
// old is read ahead on a goroutine of its own, so it must not call back
// into the caller (a stored state). An error from old, or old out of
// order ([ErrUnordered]), ends the stream with an error saying "old
// state"; errors of the walk end it as for [Walk].
func MergeWalk(ctx context.Context, roots []string, old State, opt Options) iter.Seq2[Pair, error] {
	return func(yield func(Pair, error) bool) {
		sorted, err := checkRoots(roots)
		if err != nil {
			yield(Pair{}, err)
			return
		}
		opt.Previous = old
		w := newWalker(ctx, sorted, opt, true)
		defer w.stop()
		w.start()
		w.consume(yield)
	}
}

type walker struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	roots   []string
	opt     Options
	scripts *scriptMatcher
	order   chan *batch
	jobs    chan *batch
	lane    *lane  // large files, hashed beside the workers
	pending *batch // items not yet handed over, owned by the producer
	wg      sync.WaitGroup
	walkErr error // set by the producer before it closes order
	// merged: the previous state is also the old side of a comparison
	// (MergeWalk): every one of its records comes out, and an error in it
	// ends the walk.
	merged   bool
	prevNext func() (Record, error, bool)
	prevStop func()
	prev     Record
	prevOK   bool
	entries  int
}

func newWalker(ctx context.Context, roots []string, opt Options, merged bool) *walker {
	ctx, cancel := context.WithCancelCause(ctx)
	if opt.Workers <= 0 {
		opt.Workers = runtime.NumCPU()
	}
	return &walker{
		ctx: ctx, cancel: cancel, roots: roots, opt: opt, merged: merged,
		scripts: newScriptMatcher(&opt),
		order:   make(chan *batch, reorderWindow/batchItems),
		jobs:    make(chan *batch, reorderWindow/batchItems),
		lane:    newLane(),
	}
}

func (w *walker) start() {
	var workers sync.WaitGroup
	for range w.opt.Workers {
		w.wg.Add(1)
		workers.Add(1)
		go func() {
			defer workers.Done()
			w.worker()
		}()
	}
	w.wg.Add(2)
	go w.runLane()
	go func() {
		defer w.wg.Done()
		workers.Wait()
		w.lane.close() // nothing more can be handed to it
	}()
	w.wg.Add(1)
	go w.produce()
}

// stop ends the producer and the workers and waits for them, so an early
// break by the consumer leaks nothing.
func (w *walker) stop() {
	w.cancel(errConsumerDone)
	for range w.order { // unblock a producer stuck on a full channel
	}
	w.wg.Wait()
}

func (w *walker) worker() {
	defer w.wg.Done()
	h := newHasher(&w.opt)
	defer h.release()
	for b := range w.jobs {
		b.pending.Store(int32(len(b.jobs)) + 1)
		done := int32(1)
		for _, it := range b.jobs {
			if w.ctx.Err() == nil {
				if w.complete(h, b, it) {
					continue // the lane completes it
				}
			} else {
				it.err = w.ctx.Err()
			}
			it.dir.release()
			it.dir = nil
			done++
		}
		b.finish(done)
	}
}

// complete stats a non-directory entry and reads what it must; it
// reports true when it handed the entry, a large file, to the lane
// instead, which completes it.
func (w *walker) complete(h *hasher, b *batch, it *item) (deferred bool) {
	rec := &it.rec
	if it.regular && (w.opt.Full || !it.hasPrev) {
		if handled, deferred := w.openAndHash(h, b, it, fullPath(rec.Root, rec.Path)); handled {
			return deferred
		}
	}
	if err := it.dir.lstat(it.name, rec.Root, rec.Path, rec); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Vanished between the directory listing and lstat: it was
			// not there when looked at, so it is not part of this state.
			it.skip = true
			return false
		}
		// Listed but not stat-able (a directory readable but not
		// searchable): record what the listing said.
		rec.Type, rec.Mode, rec.Err, it.err = it.listed, it.listedMode, err.Error(), err
		return false
	}
	switch rec.Type {
	case TypeSymlink:
		target, err := it.dir.readlink(it.name, rec.Root, rec.Path, rec.Size)
		if err != nil {
			rec.Err, it.err = err.Error(), err
			return
		}
		rec.Target = target
		var prev *Record
		if it.hasPrev {
			prev = &it.prev
		}
		n, err := h.hashLinkTarget(w.ctx, &w.opt, w.roots, fullPath(rec.Root, rec.Path), rec, prev, w.scripts.needSHA(it.name))
		if n > 0 {
			it.read, it.hashed = n, true
		}
		if err != nil {
			it.err = err
		}
	case TypeFile:
		sha := w.scripts.needSHA(it.name)
		var prev *Record
		if it.hasPrev {
			prev = &it.prev
		}
		if !w.opt.Full && canReuse(prev, rec, sha, w.opt.sampled(rec.Size)) {
			reuse(rec, prev, sha)
			return false
		}
		if w.large(rec.Size) {
			w.lane.push(laneJob{b: b, it: it, withSHA: sha})
			return true
		}
		it.read, it.err = h.hashFile(w.ctx, it.dir, it.name, fullPath(rec.Root, rec.Path), rec, sha, prev)
		it.hashed = true
	}
	return false
}

// openAndHash is the path of a regular file that must be read anyway:
// open first and take the metadata from fstat, which saves an lstat per
// file. It reports handled=false, having changed nothing, when the entry
// is not (or no longer) an openable regular file; the caller then takes
// the lstat path, which records what it is or why it cannot be read. A
// large file is handed, open, to the lane (deferred).
func (w *walker) openAndHash(h *hasher, b *batch, it *item, p string) (handled, deferred bool) {
	if testHookBeforeOpen != nil {
		testHookBeforeOpen(p)
	}
	f, err := it.dir.openFile(it.name, p)
	if err != nil {
		return false, false
	}
	var before Record
	if err := f.stat(&before); err != nil || before.Type != TypeFile {
		f.close()
		return false, false
	}
	copyMeta(&it.rec, &before)
	var prev *Record
	if it.hasPrev {
		prev = &it.prev
	}
	if w.large(before.Size) {
		// The lane opens it again: an open descriptor per queued large
		// file could run into the descriptor limit.
		f.close()
		w.lane.push(laneJob{b: b, it: it, withSHA: w.scripts.needSHA(it.name)})
		return true, true
	}
	it.read, it.err = h.hashOpen(w.ctx, f, p, it.name, &it.rec, w.scripts.needSHA(it.name), before, prev)
	it.hashed = true
	f.close()
	return true, false
}

// consume yields the records in walk order, waiting for each one's job.
// Old-only pairs come only from a merged walk.
func (w *walker) consume(yield func(Pair, error) bool) {
	var p Progress
	last := time.Now()
	report := func(done bool) {
		if w.opt.Progress != nil {
			p.Done = done
			w.opt.Progress(p)
		}
	}
batches:
	for b := range w.order {
		if len(b.jobs) > 0 {
			<-b.done
		}
		for _, it := range b.items {
			if !w.consumeItem(it, &p, yield) {
				if w.ctx.Err() != nil {
					break batches
				}
				return
			}
			if w.opt.Progress != nil && p.Files%64 == 0 {
				if now := time.Now(); now.Sub(last) >= progressEvery {
					last = now
					report(false)
				}
			}
		}
		b.recycle()
	}
	w.stop()
	err := w.walkErr
	if err == nil {
		err = w.parentErr()
	}
	if err != nil {
		yield(Pair{}, err)
		return
	}
	report(true)
}

// consumeItem yields the record of one completed item, if it has one. It
// reports false when the walk must end: the context is done, or yield
// returned false.
func (w *walker) consumeItem(it *item, p *Progress, yield func(Pair, error) bool) bool {
	if it.notice {
		if w.opt.OnError != nil {
			w.opt.OnError("", "", it.err)
		}
		it.recycle()
		return true
	}
	if w.ctx.Err() != nil {
		it.recycle()
		return false
	}
	if it.skip {
		if !w.merged || !it.hasPrev {
			it.recycle()
			return true
		}
		pair := Pair{Old: it.prev, HasOld: true}
		it.recycle()
		return yield(pair, nil)
	}
	p.Files++
	if it.rec.Type == TypeFile {
		p.Bytes += it.rec.Size
	}
	if it.hashed {
		p.Hashed++
		p.HashedBytes += it.read
	}
	if it.err != nil && w.opt.OnError != nil {
		w.opt.OnError(it.rec.Root, it.rec.Path, it.err)
	}
	pair := Pair{New: it.rec, HasNew: true}
	if w.merged && it.hasPrev {
		pair.Old, pair.HasOld = it.prev, true
	}
	it.recycle()
	return yield(pair, nil)
}

// parentErr is the caller's context error, if the caller cancelled (as
// opposed to the walk stopping itself).
func (w *walker) parentErr() error {
	if errors.Is(context.Cause(w.ctx), errConsumerDone) {
		return nil
	}
	return w.ctx.Err()
}

var errConsumerDone = errors.New("walk finished")

// produce walks the roots and feeds order (and jobs).
func (w *walker) produce() {
	defer w.wg.Done()
	defer close(w.order)
	defer close(w.jobs)
	defer w.flush() // what was walked before an error is still yielded
	if w.opt.Previous != nil && (!w.opt.Full || w.merged) {
		next, stop := pullAhead(w.opt.Previous)
		w.prevNext, w.prevStop = next, stop
		defer stop()
		if err := w.advancePrev(); err != nil {
			w.walkErr = err
			return
		}
	}
	err := w.walkRoots()
	if err == nil {
		err = w.drainPrev()
	}
	if err != nil && !errors.Is(err, errConsumerDone) {
		w.walkErr = err
	}
}

func (w *walker) walkRoots() error {
	for _, root := range w.roots {
		if err := w.walkRoot(root); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) walkRoot(root string) error {
	it := itemPool.Get().(*item)
	if err := w.takePrev(root, "", it); err != nil {
		it.recycle()
		return err
	}
	it.rec.Root = root
	if err := statEntry(root, &it.rec, true); err != nil {
		it.recycle()
		return fmt.Errorf("%w: %w", ErrBadRoot, err)
	}
	return w.visitDir(it, nil, "", root, "", it.rec.Dev, true)
}

// emit queues an item for the consumer (and for the workers if it is a
// job); a full batch is handed over. It returns the context error once
// the walk is cancelled.
func (w *walker) emit(it *item) error {
	b := w.pending
	if b == nil {
		b = batchPool.Get().(*batch)
		w.pending = b
	}
	b.items = append(b.items, it)
	if it.job {
		b.jobs = append(b.jobs, it)
	}
	if len(b.items) >= batchItems {
		return w.flush()
	}
	return nil
}

// flush hands the pending batch to the consumer, and to the workers if it
// holds jobs.
func (w *walker) flush() error {
	b := w.pending
	if b == nil {
		return nil
	}
	w.pending = nil
	// Once in order, the items that are not jobs belong to the consumer,
	// and so does a batch without jobs: it may be recycled at once.
	hasJobs := len(b.jobs) > 0
	select {
	case w.order <- b:
	case <-w.ctx.Done():
		for _, it := range b.items {
			it.dir.release()
		}
		return w.ctx.Err()
	}
	if hasJobs {
		select {
		case w.jobs <- b:
		case <-w.ctx.Done():
			for _, it := range b.jobs {
				it.err = w.ctx.Err()
				it.dir.release()
				it.dir = nil
			}
			b.done <- struct{}{}
			return w.ctx.Err()
		}
	}
	return nil
}

// visitDir emits the directory item it (its record already stat'ed) and,
// unless it is on another device, its children. parent is the open
// directory holding it as name (nil for a root).
func (w *walker) visitDir(it *item, parent *dirHandle, name, root, rel string, rootDev uint64, isRoot bool) error {
	dirPath := fullPath(root, rel)
	descend := isRoot || w.opt.CrossDevice || it.rec.Dev == rootDev
	var entries []dirEntry
	var dir *dirHandle
	if descend {
		var err error
		dir, entries, err = readDir(parent, name, dirPath, isRoot)
		if err != nil {
			it.err = err
			it.rec.Err = err.Error()
		}
	}
	if err := w.emit(it); err != nil {
		dir.release()
		return err
	}
	err := w.visitEntries(dir, root, rel, rootDev, entries)
	dir.release()
	return err
}

func (w *walker) visitEntries(dir *dirHandle, root, rel string, rootDev uint64, entries []dirEntry) error {
	for _, e := range entries {
		if w.entries++; w.entries%ctxCheckEntries == 0 {
			if err := w.ctx.Err(); err != nil {
				return err
			}
		}
		name := e.name
		childRel := name
		if rel != "" {
			childRel = rel + "/" + name
		}
		isDir := e.typ.IsDir()
		if w.opt.Exclude != nil && w.opt.Exclude(root, childRel, isDir) {
			continue
		}
		it := itemPool.Get().(*item)
		if err := w.takePrev(root, childRel, it); err != nil {
			it.recycle()
			return err
		}
		it.rec.Root, it.rec.Path = root, childRel
		if isDir {
			if err := dir.lstat(name, root, childRel, &it.rec); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					// Vanished after the listing: not part of the state
					// (a merged walk still yields its previous record).
					if !w.merged || !it.hasPrev {
						it.recycle()
						continue
					}
					it.rec, it.skip = Record{}, true
				} else {
					it.rec.Type, it.rec.Err, it.err = TypeDir, err.Error(), err
				}
				if err := w.emit(it); err != nil {
					return err
				}
				continue
			}
			if it.rec.Type == TypeDir {
				if err := w.visitDir(it, dir, name, root, childRel, rootDev, false); err != nil {
					return err
				}
				continue
			}
			// Replaced by a non-directory since the listing: a job
			// like any other (it stats again).
			it.rec = Record{Root: root, Path: childRel}
		}
		it.job, it.dir, it.name = true, dir.acquire(), name
		it.regular = e.typ.IsRegular()
		it.listed, it.listedMode = typeOfMode(e.typ), e.typ
		if err := w.emit(it); err != nil {
			return err
		}
	}
	return nil
}

// dirEntry is an entry of a directory listing.
type dirEntry struct {
	name string
	typ  fs.FileMode // type bits
}

// typeOfMode maps the type bits of a directory listing to a Type.
func typeOfMode(m fs.FileMode) Type {
	switch {
	case m.IsRegular():
		return TypeFile
	case m.IsDir():
		return TypeDir
	case m&fs.ModeSymlink != 0:
		return TypeSymlink
	}
	return TypeOther
}

// readDir opens a directory and lists its entries in byte order of their
// names; the handle stays open while the entries are visited.
func readDir(parent *dirHandle, name, path string, follow bool) (*dirHandle, []dirEntry, error) {
	d, err := openDir(parent, name, path, follow)
	if err != nil {
		return nil, nil, err
	}
	entries, err := d.entries()
	if err != nil {
		d.release()
		return nil, nil, fmt.Errorf("read directory %s: %w", path, err)
	}
	slices.SortFunc(entries, func(a, b dirEntry) int { return strings.Compare(a.name, b.name) })
	return d, entries, nil
}

// takePrev advances the previous state to (root, rel) and moves its
// record there, if any, to it.prev: a merge join, no map of the previous
// state. In a merged walk, the previous records passed by are emitted as
// old-only items first, so everything comes out in order.
func (w *walker) takePrev(root, rel string, it *item) error {
	for w.prevOK {
		c := strings.Compare(w.prev.Root, root)
		if c == 0 {
			c = ComparePaths(w.prev.Path, rel)
		}
		if c > 0 {
			return nil
		}
		if c == 0 {
			it.prev, it.hasPrev = w.prev, true
		} else if err := w.emitOldOnly(); err != nil {
			return err
		}
		if err := w.advancePrev(); err != nil {
			return err
		}
		if c == 0 {
			return nil
		}
	}
	return nil
}

// drainPrev emits the previous records left after the walk, in a merged
// walk (those of the roots the walk did not reach).
func (w *walker) drainPrev() error {
	for w.merged && w.prevOK {
		if err := w.emitOldOnly(); err != nil {
			return err
		}
		if err := w.advancePrev(); err != nil {
			return err
		}
	}
	return nil
}

// emitOldOnly emits the current previous record as an old-only item, in a
// merged walk; in a plain one it is only passed by.
func (w *walker) emitOldOnly() error {
	if !w.merged {
		return nil
	}
	it := itemPool.Get().(*item)
	it.prev, it.hasPrev, it.skip = w.prev, true, true
	return w.emit(it)
}

// advancePrev reads the next previous record. In a merged walk an error
// in the previous state (or a record out of order) is returned: it ends
// the walk. Otherwise the previous state is abandoned and OnError told.
func (w *walker) advancePrev() error {
	last, hadLast := w.prev, w.prevOK
	rec, err, ok := w.prevNext()
	if ok && err == nil && w.merged && hadLast && compareRecords(&last, &rec) >= 0 {
		err = fmt.Errorf("%w: %q %q comes after %q %q", ErrUnordered, rec.Root, rec.Path, last.Root, last.Path)
	}
	if ok && err != nil {
		w.prev, w.prevOK = Record{}, false
		w.prevStop()
		if w.merged {
			return fmt.Errorf("old state: %w", err)
		}
		// Hashing the rest is safe, only slower; tell OnError in order.
		it := itemPool.Get().(*item)
		it.notice = true
		it.err = fmt.Errorf("previous state unusable, hashing the rest: %w", err)
		return w.emit(it)
	}
	w.prev, w.prevOK = rec, ok
	if !ok {
		w.prevStop()
	}
	return nil
}

// ComparePaths orders two slash-separated relative paths as their [Key]s
// would, without building the keys.
func ComparePaths(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca == '/' {
			ca = 0
		}
		if cb == '/' {
			cb = 0
		}
		if ca < cb {
			return -1
		}
		return 1
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}
