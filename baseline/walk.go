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
	"time"
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
	// 256 KiB, so a rate limiter needs at least that burst).
	Limiter interface {
		WaitN(ctx context.Context, n int) error
	}
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
	reorderWindow   = 4096
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

// item is one record travelling from the producer to the consumer, in
// walk order; done is signalled by the worker that hashed it.
type item struct {
	rec    Record
	err    error
	hash   bool // a worker must hash it
	sha    bool // with SHA-256
	path   string
	read   int64
	hashed bool
	notice bool // no record, only err for OnError
	done   chan struct{}
}

var itemPool = sync.Pool{New: func() any { return &item{done: make(chan struct{}, 1)} }}

// Walk records every entry under roots, depth-first with names in byte
// order, so the records come out sorted by Root and [Key]. Each root
// itself is a record with Path "". Roots must be absolute, clean, existing
// directories, none inside another (in any order; they are sorted).
//
// Entries that cannot be read are recorded with Err and passed to
// opt.OnError; the walk goes on. A bad root, a cancelled ctx or a failure
// of the consumer's yield ends the stream (the error is yielded last).
func Walk(ctx context.Context, roots []string, opt Options) State {
	return func(yield func(Record, error) bool) {
		sorted, err := checkRoots(roots)
		if err != nil {
			yield(Record{}, err)
			return
		}
		w := newWalker(ctx, sorted, opt)
		defer w.stop()
		w.start()
		w.consume(yield)
	}
}

type walker struct {
	ctx      context.Context
	cancel   context.CancelCauseFunc
	roots    []string
	opt      Options
	scripts  *scriptMatcher
	order    chan *item
	jobs     chan *item
	wg       sync.WaitGroup
	walkErr  error // set by the producer before it closes order
	prevNext func() (Record, error, bool)
	prevStop func()
	prev     Record
	prevOK   bool
	entries  int
}

func newWalker(ctx context.Context, roots []string, opt Options) *walker {
	ctx, cancel := context.WithCancelCause(ctx)
	if opt.Workers <= 0 {
		opt.Workers = runtime.NumCPU()
	}
	return &walker{
		ctx: ctx, cancel: cancel, roots: roots, opt: opt,
		scripts: newScriptMatcher(&opt),
		order:   make(chan *item, reorderWindow),
		jobs:    make(chan *item, reorderWindow),
	}
}

func (w *walker) start() {
	for range w.opt.Workers {
		w.wg.Add(1)
		go w.hashWorker()
	}
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

func (w *walker) hashWorker() {
	defer w.wg.Done()
	h := newHasher(&w.opt)
	defer h.release()
	for it := range w.jobs {
		if w.ctx.Err() == nil {
			n, err := h.hashFile(w.ctx, it.path, &it.rec, it.sha)
			it.read, it.hashed, it.err = n, true, err
		} else {
			it.err = w.ctx.Err()
		}
		it.done <- struct{}{}
	}
}

// consume yields the records in walk order, waiting for each one's hash.
func (w *walker) consume(yield func(Record, error) bool) {
	var p Progress
	last := time.Now()
	report := func(done bool) {
		if w.opt.Progress != nil {
			p.Done = done
			w.opt.Progress(p)
		}
	}
	for it := range w.order {
		if it.hash {
			<-it.done
		}
		if it.notice {
			if w.opt.OnError != nil {
				w.opt.OnError("", "", it.err)
			}
			*it = item{done: it.done}
			itemPool.Put(it)
			continue
		}
		if err := w.ctx.Err(); err != nil {
			itemPool.Put(it)
			break
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
		rec := it.rec
		*it = item{done: it.done}
		itemPool.Put(it)
		if !yield(rec, nil) {
			return
		}
		if w.opt.Progress != nil && p.Files%64 == 0 {
			if now := time.Now(); now.Sub(last) >= progressEvery {
				last = now
				report(false)
			}
		}
	}
	w.stop()
	err := w.walkErr
	if err == nil {
		// The consumer's context is what the caller sees, not our own
		// cancellation.
		err = w.parentErr()
	}
	if err != nil {
		yield(Record{}, err)
		return
	}
	report(true)
}

func (w *walker) parentErr() error {
	// w.ctx is derived from the caller's ctx; its cause tells whether the
	// caller cancelled or we did.
	if errors.Is(context.Cause(w.ctx), errConsumerDone) {
		return nil
	}
	return w.ctx.Err()
}

var errConsumerDone = errors.New("walk finished")

// produce walks the roots and feeds order (and jobs for files to hash).
func (w *walker) produce() {
	defer w.wg.Done()
	defer close(w.order)
	defer close(w.jobs)
	if w.opt.Previous != nil && !w.opt.Full {
		next, stop := iter.Pull2(iter.Seq2[Record, error](w.opt.Previous))
		w.prevNext, w.prevStop = next, stop
		defer stop()
		w.advancePrev()
	}
	for _, root := range w.roots {
		if err := w.walkRoot(root); err != nil {
			if !errors.Is(err, errConsumerDone) {
				w.walkErr = err
			}
			return
		}
	}
}

func (w *walker) walkRoot(root string) error {
	var rootRec Record
	rootRec.Root = root
	if err := statEntry(root, &rootRec, true); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRoot, err)
	}
	return w.visitDir(root, "", rootRec.Dev, &rootRec, true)
}

// emit hands a record to the consumer (and to the workers if it needs
// hashing). It returns the context error once the walk is cancelled.
func (w *walker) emit(it *item) error {
	// Once in order, an item not to be hashed belongs to the consumer.
	hash := it.hash
	select {
	case w.order <- it:
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
	if hash {
		select {
		case w.jobs <- it:
		case <-w.ctx.Done():
			it.err = w.ctx.Err()
			it.done <- struct{}{}
			return w.ctx.Err()
		}
	}
	return nil
}

// visitDir emits the directory record rec (already stat'ed) and, unless it
// is on another device, its children.
func (w *walker) visitDir(root, rel string, rootDev uint64, rec *Record, isRoot bool) error {
	it := itemPool.Get().(*item)
	it.rec = *rec
	dirPath := fullPath(root, rel)
	descend := isRoot || w.opt.CrossDevice || rec.Dev == rootDev
	var names []string
	var dir *dirHandle
	if descend {
		var err error
		dir, names, err = readDir(dirPath, isRoot)
		if err != nil {
			it.err = err
			it.rec.Err = err.Error()
		}
	}
	if dir != nil {
		defer dir.close()
	}
	if err := w.emit(it); err != nil {
		return err
	}
	for _, name := range names {
		if w.entries++; w.entries%ctxCheckEntries == 0 {
			if err := w.ctx.Err(); err != nil {
				return err
			}
		}
		childRel := name
		if rel != "" {
			childRel = rel + "/" + name
		}
		if err := w.visit(dir, root, childRel, name, rootDev); err != nil {
			return err
		}
	}
	return nil
}

// readDir opens a directory and lists its names in byte order; the handle
// stays open while the entries are visited.
func readDir(path string, follow bool) (*dirHandle, []string, error) {
	d, err := openDir(path, follow)
	if err != nil {
		return nil, nil, err
	}
	names, err := d.names()
	if err != nil {
		d.close()
		return nil, nil, fmt.Errorf("read directory %s: %w", path, err)
	}
	slices.Sort(names)
	return d, names, nil
}

// visit stats one entry and emits it (recursing into directories).
func (w *walker) visit(dir *dirHandle, root, rel, name string, rootDev uint64) error {
	p := fullPath(root, rel)
	var rec Record
	rec.Root, rec.Path = root, rel
	statErr := dir.lstat(name, p, &rec)
	if statErr != nil && errors.Is(statErr, fs.ErrNotExist) {
		// Vanished between the directory listing and lstat: it was not
		// there when we looked, so it is not part of this state.
		return nil
	}
	if w.opt.Exclude != nil && w.opt.Exclude(root, rel, rec.Type == TypeDir) {
		return nil
	}
	prev := w.lookupPrev(root, rel)
	if statErr != nil {
		// Known to exist but not stat-able (e.g. EACCES on a path
		// component raced): record what we know.
		it := itemPool.Get().(*item)
		rec.Type = TypeOther
		rec.Err = statErr.Error()
		it.rec, it.err = rec, statErr
		return w.emit(it)
	}
	switch rec.Type {
	case TypeDir:
		return w.visitDir(root, rel, rootDev, &rec, false)
	case TypeSymlink:
		it := itemPool.Get().(*item)
		target, err := dir.readlink(name, p, rec.Size)
		if err != nil {
			it.err = err
			rec.Err = err.Error()
		}
		rec.Target = target
		it.rec = rec
		return w.emit(it)
	case TypeFile:
		it := itemPool.Get().(*item)
		it.sha = w.scripts.needSHA(name)
		if !w.opt.Full && canReuse(prev, &rec, it.sha) {
			rec.BLAKE3 = prev.BLAKE3
			if it.sha {
				rec.SHA256 = prev.SHA256
			}
		} else {
			it.hash = true
			it.path = p
		}
		it.rec = rec
		return w.emit(it)
	default:
		it := itemPool.Get().(*item)
		it.rec = rec
		return w.emit(it)
	}
}

// lookupPrev advances the previous state to (root, rel) and returns its
// record there, if any: a merge join, no map of the previous state.
func (w *walker) lookupPrev(root, rel string) *Record {
	for w.prevOK {
		c := strings.Compare(w.prev.Root, root)
		if c == 0 {
			c = ComparePaths(w.prev.Path, rel)
		}
		switch {
		case c < 0:
			w.advancePrev()
		case c == 0:
			return &w.prev
		default:
			return nil
		}
	}
	return nil
}

func (w *walker) advancePrev() {
	rec, err, ok := w.prevNext()
	if ok && err != nil {
		// Hashing the rest is safe, only slower; tell OnError in order.
		it := itemPool.Get().(*item)
		it.notice = true
		it.err = fmt.Errorf("previous state unusable, hashing the rest: %w", err)
		w.emit(it) // a cancelled walk stops at the next entry anyway
		ok = false
	}
	w.prev, w.prevOK = rec, ok
	if !ok {
		w.prevStop()
	}
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
