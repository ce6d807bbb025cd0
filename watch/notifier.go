package watch

import (
	"errors"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// Op is a set of file operations reported by a [Notifier].
type Op uint32

// Operations. A single [Event] may carry several.
const (
	OpCreate Op = 1 << iota
	OpWrite
	OpRemove
	OpRename // the path was renamed away (the new name arrives as OpCreate)
	OpChmod
)

// Has reports whether o includes every bit of h.
func (o Op) Has(h Op) bool { return o&h == h }

func (o Op) String() string {
	names := []string{"create", "write", "remove", "rename", "chmod"}
	s := ""
	for i, n := range names {
		if o&(1<<i) != 0 {
			if s != "" {
				s += "|"
			}
			s += n
		}
	}
	if s == "" {
		return "none"
	}
	return s
}

// Event is one notification: something happened to Path.
type Event struct {
	Path string
	Op   Op
}

// Notifier is a non-recursive file system notification source: Add watches
// one directory (its direct children), as fsnotify does. It exists so that
// tests can inject queue overflows and watch-limit errors.
type Notifier interface {
	// Add starts watching the directory path. Adding a watched path again is
	// not an error.
	Add(path string) error
	// Remove stops watching path; removing a path that is not watched (for
	// example because its directory was deleted) may return an error, which
	// callers ignore.
	Remove(path string) error
	// Events delivers notifications; it is closed by Close.
	Events() <-chan Event
	// Errors delivers asynchronous errors; [ErrOverflow] says that events
	// were lost. It is closed by Close.
	Errors() <-chan error
	Close() error
}

// ErrOverflow is sent on [Notifier.Errors] when the kernel (or the
// notifier's own) event queue overflowed and events were lost.
var ErrOverflow = fsnotify.ErrEventOverflow

// fsNotifier is the [Notifier] backed by fsnotify (inotify on Linux).
type fsNotifier struct {
	w      *fsnotify.Watcher
	events chan Event
	errors chan error
	done   chan struct{}
	once   sync.Once
}

// NewNotifier returns a [Notifier] backed by fsnotify. buffer is the size of
// the event channel between the kernel reader and the consumer (0 = 4096);
// the kernel queue itself is bounded by fs.inotify.max_queued_events.
func NewNotifier(buffer int) (Notifier, error) {
	if buffer <= 0 {
		buffer = 4096
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	n := &fsNotifier{
		w:      w,
		events: make(chan Event, buffer),
		errors: make(chan error, 16),
		done:   make(chan struct{}),
	}
	go n.forward()
	return n, nil
}

func (n *fsNotifier) forward() {
	defer close(n.events)
	defer close(n.errors)
	evs, errs := n.w.Events, n.w.Errors
	for evs != nil || errs != nil {
		select {
		case ev, ok := <-evs:
			if !ok {
				evs = nil
				continue
			}
			select {
			case n.events <- Event{Path: ev.Name, Op: convertOp(ev.Op)}:
			case <-n.done:
				return
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			select {
			case n.errors <- err:
			case <-n.done:
				return
			}
		case <-n.done:
			return
		}
	}
}

func convertOp(o fsnotify.Op) Op {
	var r Op
	if o.Has(fsnotify.Create) {
		r |= OpCreate
	}
	if o.Has(fsnotify.Write) {
		r |= OpWrite
	}
	if o.Has(fsnotify.Remove) {
		r |= OpRemove
	}
	if o.Has(fsnotify.Rename) {
		r |= OpRename
	}
	if o.Has(fsnotify.Chmod) {
		r |= OpChmod
	}
	return r
}

func (n *fsNotifier) Add(path string) error    { return n.w.Add(path) }
func (n *fsNotifier) Remove(path string) error { return n.w.Remove(path) }
func (n *fsNotifier) Events() <-chan Event     { return n.events }
func (n *fsNotifier) Errors() <-chan error     { return n.errors }

func (n *fsNotifier) Close() error {
	var err error
	n.once.Do(func() {
		close(n.done)
		err = n.w.Close()
		if errors.Is(err, fsnotify.ErrClosed) {
			err = nil
		}
	})
	return err
}
