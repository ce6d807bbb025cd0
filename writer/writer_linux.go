package writer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"webfim/proc"
)

const overlayfsMagic = 0x794c7630

// batchPause is how long the reader lets events gather after a wakeup.
const batchPause = 50 * time.Millisecond

// fanotify is the Linux machinery of a Tracker.
type fanotify struct {
	fd, wakeFD int
	mounts     map[[8]byte]int // fsid -> a descriptor on it, for open_by_handle_at
	roots      []watched
	dirs       map[string]string // directory handle -> path ("": gone)
	key        []byte            // scratch for cache keys
	buf        []byte
	self       int32
}

// watched is a root as the events show it: prefix is the path events
// carry (the upper layer of an overlay), path the root's real path.
type watched struct {
	prefix, path string
	under        string // prefix + "/"
}

// New starts attributing the changes under roots. mon resolves pids to
// processes (nil: accesses carry the pid only). It never fails: what does
// not work is in [Tracker.Status], and lookups then find nothing.
func New(roots []string, mon *proc.Monitor, opt Options) *Tracker {
	t := &Tracker{recs: newRecords(opt.MaxRecords), mon: mon, roots: map[string]string{}, stop: make(chan struct{}), done: make(chan struct{})}
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_NOTIF|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK|unix.FAN_UNLIMITED_QUEUE|unix.FAN_REPORT_FID|unix.FAN_REPORT_DFID_NAME,
		unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		t.status.Err = initError(err)
		for _, r := range roots {
			t.status.Roots = append(t.status.Roots, RootStatus{Root: r, Err: t.status.Err})
		}
		return t
	}
	sys := &fanotify{fd: fd, wakeFD: -1, mounts: map[[8]byte]int{}, dirs: map[string]string{}, buf: make([]byte, 64<<10), self: int32(os.Getpid())}
	ok := false
	for _, r := range roots {
		real, err := sys.add(r)
		t.status.Roots = append(t.status.Roots, RootStatus{Root: r, Err: err})
		if err == nil {
			t.roots[r] = real
			ok = true
		}
	}
	if ok {
		sys.wakeFD, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			t.status.Err = fmt.Errorf("eventfd: %w", err)
			ok = false
		}
	}
	if !ok {
		sys.close()
		return t
	}
	t.sys = sys
	go t.loop()
	return t
}

func initError(err error) error {
	switch {
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("fanotify_init: %w: needs CAP_SYS_ADMIN", ErrPermission)
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("fanotify_init: %w: kernel without FAN_REPORT_DFID_NAME (Linux 5.9+)", ErrUnsupported)
	case errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("fanotify_init: %w: kernel without CONFIG_FANOTIFY", ErrUnsupported)
	}
	return fmt.Errorf("fanotify_init: %w", err)
}

// add marks the filesystem of root and returns the root's real path.
func (f *fanotify) add(root string) (string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", err
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(real, &sfs); err != nil {
		return "", fmt.Errorf("statfs: %w", err)
	}
	markPath, prefix := real, real
	if sfs.Type == overlayfsMagic {
		upper, mountPoint, err := overlayUpper("/proc/self/mountinfo", real)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrOverlay, err)
		}
		if _, err := os.Stat(upper); err != nil {
			return "", fmt.Errorf("%w: %v", ErrOverlay, err)
		}
		rel, err := filepath.Rel(mountPoint, real)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrOverlay, err)
		}
		markPath, prefix = upper, filepath.Join(upper, rel)
		if err := unix.Statfs(markPath, &sfs); err != nil {
			return "", fmt.Errorf("%w: statfs %s: %v", ErrOverlay, markPath, err)
		}
	}
	// FAN_CLOSE_WRITE rather than FAN_MODIFY: one event per file written
	// and closed instead of one per write(2), on the whole filesystem.
	mask := uint64(unix.FAN_CREATE | unix.FAN_CLOSE_WRITE | unix.FAN_DELETE | unix.FAN_RENAME | unix.FAN_ONDIR)
	err = unix.FanotifyMark(f.fd, unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, mask, unix.AT_FDCWD, markPath)
	if errors.Is(err, unix.EINVAL) {
		// FAN_RENAME is Linux 5.17+: pair-less moves instead.
		mask = mask&^unix.FAN_RENAME | unix.FAN_MOVED_FROM | unix.FAN_MOVED_TO
		err = unix.FanotifyMark(f.fd, unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, mask, unix.AT_FDCWD, markPath)
	}
	switch {
	case err == nil:
	case errors.Is(err, unix.EPERM):
		return "", fmt.Errorf("fanotify_mark %s: %w: needs CAP_SYS_ADMIN", markPath, ErrPermission)
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENODEV), errors.Is(err, unix.EXDEV):
		return "", fmt.Errorf("fanotify_mark %s: %w: the filesystem does not report file handles (%v)", markPath, ErrUnsupported, err)
	default:
		return "", fmt.Errorf("fanotify_mark %s: %w", markPath, err)
	}
	var fsid [8]byte
	binary.LittleEndian.PutUint32(fsid[0:], uint32(sfs.Fsid.Val[0]))
	binary.LittleEndian.PutUint32(fsid[4:], uint32(sfs.Fsid.Val[1]))
	if _, ok := f.mounts[fsid]; !ok {
		mfd, err := unix.Open(markPath, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", fmt.Errorf("open %s: %w", markPath, err)
		}
		f.mounts[fsid] = mfd
	}
	f.roots = append(f.roots, watched{prefix: prefix, path: real, under: prefix + "/"})
	return real, nil
}

// loop reads events as they come, until Close.
func (t *Tracker) loop() {
	defer close(t.done)
	pfd := []unix.PollFd{{Fd: int32(t.sys.fd), Events: unix.POLLIN}, {Fd: int32(t.sys.wakeFD), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(pfd, -1)
		select {
		case <-t.stop:
			return
		default:
		}
		if err != nil && err != unix.EINTR {
			return
		}
		if pfd[0].Revents&unix.POLLIN != 0 {
			// Let events gather: one batch per wakeup, not one per event
			// (Lookup drains on its own, so nothing waits for this).
			select {
			case <-t.stop:
				return
			case <-time.After(batchPause):
			}
			t.mu.Lock()
			t.drainLocked()
			t.mu.Unlock()
		}
	}
}

// drainLocked reads every queued event, drains the exec source, and
// applies the events with their processes. Events are resolved to paths
// while their read buffer is valid; those outside the roots (most of a
// busy filesystem's) cost no allocation.
func (t *Tracker) drainLocked() {
	f := t.sys
	now := time.Now()
	var events []event
	handle := func(r rawEvent) {
		t.stats.Events++
		if r.fd >= 0 {
			unix.Close(int(r.fd))
		}
		if r.mask&maskOverflow != 0 {
			t.stats.Overflows++
			return
		}
		if r.mask&maskOnDir != 0 {
			// Directories are not recorded; a moved one (by anyone, this
			// process included) makes the cached paths below it stale. A
			// deleted one does not: nothing below it can change any more.
			if r.mask&(maskRename|maskMovedFrom|maskMovedTo) != 0 {
				clear(f.dirs)
			}
			return
		}
		if r.pid == f.self {
			return
		}
		ev := event{mask: r.mask, pid: r.pid}
		if r.mask&maskRename != 0 {
			ev.oldPath, ev.oldIn = t.under(r.old)
			ev.path, ev.newIn = t.under(r.new)
		} else {
			ev.path, ev.newIn = t.under(r.dir)
		}
		if ev.newIn || ev.oldIn {
			t.stats.InRoots++
			events = append(events, ev)
		}
	}
	// Bounded, so that a storm of events on the filesystem cannot hold
	// Lookup forever: 256 reads are 16 MiB of events.
	for range 256 {
		n, err := unix.Read(f.fd, f.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		if err := parseEvents(f.buf[:n], handle); err != nil {
			t.stats.PathLost++
		}
	}
	if len(events) == 0 {
		return
	}
	// The join rule: every writer exec'd before it wrote, so once the exec
	// source is drained the table knows the batch's processes.
	if t.mon != nil {
		t.mon.Sync()
	}
	procs := map[int32]*proc.Process{}
	for _, ev := range events {
		t.apply(ev, func(op Op) *Access {
			p, ok := procs[ev.pid]
			if !ok && t.mon != nil {
				p = t.mon.Resolve(ev.pid)
				procs[ev.pid] = p
			}
			if p == nil {
				t.stats.Unresolved++
			}
			return &Access{PID: ev.pid, Process: p, Op: op, Time: now}
		})
	}
}

// under resolves a directory handle and name to a path and reports
// whether it is under a root (mapped from an overlay's upper layer).
func (t *Tracker) under(h *handleName) (string, bool) {
	if h == nil || len(h.name) == 0 || string(h.name) == "." {
		return "", false
	}
	dir, ok := t.sys.dirPath(h)
	if !ok {
		t.stats.PathLost++
		return "", false
	}
	for _, w := range t.sys.roots {
		if dir == w.prefix || strings.HasPrefix(dir, w.under) {
			return w.path + dir[len(w.prefix):] + "/" + string(h.name), true
		}
	}
	return "", false
}

// dirPath turns a directory handle into its current path, cached (a
// directory that is gone is cached as such: its handle stays stale).
func (f *fanotify) dirPath(h *handleName) (string, bool) {
	f.key = h.appendKey(f.key[:0])
	if p, ok := f.dirs[string(f.key)]; ok {
		return p, p != ""
	}
	mfd, ok := f.mounts[h.fsid]
	if !ok {
		return "", false
	}
	p := ""
	fd, err := unix.OpenByHandleAt(mfd, unix.NewFileHandle(h.handleType, h.handle), unix.O_PATH|unix.O_CLOEXEC)
	switch {
	case err == nil:
		p, err = os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		unix.Close(fd)
		if err != nil || strings.HasSuffix(p, " (deleted)") {
			p = ""
		}
	case errors.Is(err, unix.ESTALE), errors.Is(err, unix.ENOENT):
		// Gone for good: cached as such below.
	default:
		return "", false // perhaps transient (EMFILE): not cached
	}
	if len(f.dirs) >= 4096 {
		clear(f.dirs)
	}
	f.dirs[string(f.key)] = p
	return p, p != ""
}

func (f *fanotify) wake() {
	var one [8]byte
	one[0] = 1
	unix.Write(f.wakeFD, one[:])
}

func (f *fanotify) close() error {
	for _, m := range f.mounts {
		unix.Close(m)
	}
	if f.wakeFD >= 0 {
		unix.Close(f.wakeFD)
	}
	return unix.Close(f.fd)
}
