package writer

import (
	"container/list"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"webfim/proc"
)

// Op is what a process did to a path.
type Op uint8

// Operations recorded in an [Access].
const (
	OpCreate Op = iota + 1 // created the file
	OpWrite                // wrote (or truncated) its content
	OpRename               // renamed it into this path, or away from it
	OpDelete               // deleted it
)

var opNames = [...]string{"", "create", "write", "rename", "delete"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", o)
}

// Access is one process acting on a path.
type Access struct {
	// PID is the process as fanotify reported it; Process is what the
	// process table knew of it (nil when nothing could be learned: it
	// exited and no exec source had seen it).
	PID     int32
	Process *proc.Process
	Op      Op
	Time    time.Time // when the event was read
}

// Record is what is known of the processes behind a path.
type Record struct {
	// Path is the absolute path, symbolic links of the root resolved.
	Path string
	// Created is the process that made the name appear: by creating the
	// file, or by renaming a file to it (Op tells which).
	Created *Access
	// Written is the process that last wrote the content. For a file
	// renamed into the root, the last writer under its former name when it
	// was under a root, else the renaming process (which put the content
	// there).
	Written *Access
	// Removed is the process that deleted the path or renamed it away,
	// when that is the last thing that happened to it.
	Removed *Access
}

// Errors of [Status].
var (
	// ErrUnsupported: not Linux, or a kernel without fanotify file handles.
	ErrUnsupported = errors.New("fanotify unavailable")
	// ErrPermission: fanotify needs CAP_SYS_ADMIN (and file handles
	// CAP_DAC_READ_SEARCH).
	ErrPermission = errors.New("permission denied")
	// ErrOverlay: the root is on overlayfs and its upper layer is not
	// reachable.
	ErrOverlay = errors.New("overlayfs upper layer unreachable")
)

// RootStatus is the state of one root.
type RootStatus struct {
	Root string
	Err  error // nil when the root's changes are attributed
}

// Status says whether writer attribution works, and if not, why.
type Status struct {
	Err   error // set when nothing can be attributed (fanotify_init failed)
	Roots []RootStatus
}

// Available reports whether at least one root is attributed.
func (s Status) Available() bool {
	if s.Err != nil {
		return false
	}
	for _, r := range s.Roots {
		if r.Err == nil {
			return true
		}
	}
	return false
}

// String is one line for logs: "fanotify on 2 roots", or the reasons.
func (s Status) String() string {
	if s.Err != nil {
		return "writer attribution unavailable: " + s.Err.Error()
	}
	var ok int
	var bad []string
	for _, r := range s.Roots {
		if r.Err == nil {
			ok++
		} else {
			bad = append(bad, r.Root+": "+r.Err.Error())
		}
	}
	out := fmt.Sprintf("fanotify on %d of %d roots", ok, len(s.Roots))
	if len(bad) > 0 {
		out += "; unattributed: " + strings.Join(bad, "; ")
	}
	return out
}

// Stats are counters of a [Tracker].
type Stats struct {
	Events     uint64 // fanotify events read, on the whole marked filesystems
	InRoots    uint64 // of those, events under a root
	Unresolved uint64 // events under a root whose process stayed unknown
	PathLost   uint64 // events whose directory could not be opened (gone)
	Overflows  uint64 // queue overflows (events lost by the kernel)
	Records    int    // paths held
}

// Options configure a [Tracker].
type Options struct {
	// MaxRecords bounds the paths remembered, least recently changed
	// evicted first (default 32768, a few MB).
	MaxRecords int
}

// DefaultMaxRecords is the default of [Options.MaxRecords].
const DefaultMaxRecords = 32768

// records is a bounded map from path to Record, least recently changed
// first out.
type records struct {
	max    int
	byPath map[string]*list.Element
	order  list.List // of *Record
}

func newRecords(max int) *records {
	if max <= 0 {
		max = DefaultMaxRecords
	}
	return &records{max: max, byPath: map[string]*list.Element{}}
}

func (r *records) get(path string) (*Record, bool) {
	if e, ok := r.byPath[path]; ok {
		return e.Value.(*Record), true
	}
	return nil, false
}

// touch returns the record of path, created if needed, moved to the most
// recent end; fresh says to start it anew (a new file at the path).
func (r *records) touch(path string, fresh bool) *Record {
	if e, ok := r.byPath[path]; ok {
		r.order.MoveToBack(e)
		rec := e.Value.(*Record)
		if fresh {
			*rec = Record{Path: path}
		}
		return rec
	}
	rec := &Record{Path: path}
	r.byPath[path] = r.order.PushBack(rec)
	for len(r.byPath) > r.max {
		f := r.order.Front()
		r.order.Remove(f)
		delete(r.byPath, f.Value.(*Record).Path)
	}
	return rec
}

func (r *records) len() int { return len(r.byPath) }

// Tracker attributes file changes; see the package documentation. Safe
// for concurrent use.
type Tracker struct {
	mu      sync.Mutex
	status  Status
	recs    *records
	stats   Stats
	mon     *proc.Monitor
	roots   map[string]string // root as given -> its real path
	sys     *fanotify         // nil when unavailable
	stop    chan struct{}
	done    chan struct{}
	closing sync.Once
}

// Status returns whether attribution works and why not.
func (t *Tracker) Status() Status { return t.status }

// Lookup returns what is known of the processes behind root/rel (root
// exactly as given to [New], rel slash-separated). Events queued before
// the call are read first.
func (t *Tracker) Lookup(root, rel string) (Record, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sys == nil {
		return Record{}, false
	}
	t.drainLocked()
	real, ok := t.roots[root]
	if !ok {
		return Record{}, false
	}
	if rec, ok := t.recs.get(filepath.Join(real, filepath.FromSlash(rel))); ok {
		return *rec, true
	}
	return Record{}, false
}

// Stats returns the tracker's counters.
func (t *Tracker) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.Records = t.recs.len()
	return s
}

// Close stops watching.
func (t *Tracker) Close() error {
	var err error
	t.closing.Do(func() {
		if t.sys == nil {
			return
		}
		close(t.stop)
		t.sys.wake()
		<-t.done
		t.mu.Lock()
		defer t.mu.Unlock()
		err = t.sys.close()
	})
	return err
}

// event is a decoded file event, its paths resolved.
type event struct {
	mask  uint64
	pid   int32
	path  string // under a root when newIn
	newIn bool
	// For a rename: the former path, when it was under a root.
	oldPath string
	oldIn   bool
}

// apply updates the records with one event.
func (t *Tracker) apply(ev event, acc func(Op) *Access) {
	switch {
	case ev.mask&maskCreate != 0:
		rec := t.recs.touch(ev.path, true)
		rec.Created = acc(OpCreate)
	case ev.mask&(maskCloseWrite|maskModify) != 0:
		rec := t.recs.touch(ev.path, false)
		rec.Written, rec.Removed = acc(OpWrite), nil
	case ev.mask&maskDelete != 0:
		rec := t.recs.touch(ev.path, false)
		rec.Removed = acc(OpDelete)
	case ev.mask&maskMovedFrom != 0:
		rec := t.recs.touch(ev.path, false)
		rec.Removed = acc(OpRename)
	case ev.mask&(maskMovedTo|maskRename) != 0:
		var written *Access
		if ev.oldIn {
			old := t.recs.touch(ev.oldPath, false)
			written = old.Written
			old.Removed = acc(OpRename)
		}
		if !ev.newIn {
			return
		}
		a := acc(OpRename)
		if written == nil {
			written = a
		}
		rec := t.recs.touch(ev.path, true)
		rec.Created, rec.Written = a, written
	}
}
