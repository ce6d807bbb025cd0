package proc

import (
	"cmp"
	"container/list"
	"slices"
	"sync"
	"time"
)

// Defaults of [TableOptions].
const (
	DefaultMaxEntries   = 16384
	DefaultTombstoneTTL = 5 * time.Second
)

// TableOptions configure a [Table].
type TableOptions struct {
	// MaxEntries is the hard cap on entries, live and exited
	// (DefaultMaxEntries when 0). A snapshot is about 200 bytes plus its
	// strings; forked children share their parent's.
	MaxEntries int
	// TombstoneTTL is how long an exited process stays resolvable
	// (DefaultTombstoneTTL when 0).
	TombstoneTTL time.Duration
	// IsServer decides which processes are web, application or database
	// servers, for the inherited [Process.Server] mark. Nil: no marks.
	IsServer func(*Process) bool
	// LookupUser names a uid ("" when unknown). Nil: the system's user
	// database, cached.
	LookupUser func(uid uint32) string
	// BootTime converts start times to wall-clock time. Zero: taken from
	// the system clock.
	BootTime time.Time
	// Now is the clock (tests). Nil: time.Now.
	Now func() time.Time
}

// TableStats are counters of a [Table].
type TableStats struct {
	Entries, Live, Exited int
	// EvictedExited counts tombstones dropped because of the cap (not
	// counting those that expired); EvictedLive counts live processes
	// dropped because the cap was reached with no tombstone left.
	EvictedExited, EvictedLive uint64
	Expired                    uint64
}

type entry struct {
	p       *Process
	exited  time.Time // zero while alive
	checked time.Time // when the snapshot's uids were last known current
	elem    *list.Element
}

// Table is a bounded map of process snapshots, safe for concurrent use.
type Table struct {
	mu     sync.Mutex
	byKey  map[Key]*entry
	byPID  map[int32]*entry // the latest process with each pid
	live   list.List        // of *entry, oldest first
	exited list.List        // of *entry, in exit order
	opt    TableOptions
	users  *userCache
	stats  TableStats
}

// NewTable returns an empty table.
func NewTable(opt TableOptions) *Table {
	if opt.MaxEntries <= 0 {
		opt.MaxEntries = DefaultMaxEntries
	}
	if opt.TombstoneTTL <= 0 {
		opt.TombstoneTTL = DefaultTombstoneTTL
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.BootTime.IsZero() {
		opt.BootTime = bootTime()
	}
	t := &Table{byKey: map[Key]*entry{}, byPID: map[int32]*entry{}, opt: opt}
	t.users = newUserCache(opt.LookupUser)
	return t
}

// Lookup returns the latest process known with this pid (alive, or exited
// less than the tombstone TTL ago), or nil.
func (t *Table) Lookup(pid int32) *Process {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byPID[pid]; e != nil {
		return e.p
	}
	return nil
}

// Get returns the process with this identity, or nil.
func (t *Table) Get(k Key) *Process {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.get(k); e != nil {
		return e.p
	}
	return nil
}

// Exited reports whether the process with this identity is known to have
// exited, and when.
func (t *Table) Exited(k Key) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.get(k); e != nil && !e.exited.IsZero() {
		return e.exited, true
	}
	return time.Time{}, false
}

// state returns the latest process with this pid, whether it exited, and
// when its uids were last known current.
func (t *Table) state(pid int32) (p *Process, exited bool, checked time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byPID[pid]; e != nil {
		return e.p, !e.exited.IsZero(), e.checked
	}
	return nil, false, time.Time{}
}

// Parent returns p's parent as the table knows it, or nil.
func (t *Table) Parent(p *Process) *Process {
	if p == nil || p.PPID <= 0 {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.parentOf(p)
}

// Ancestors returns up to n ancestors of p, nearest first, as far as the
// table knows them.
func (t *Table) Ancestors(p *Process, n int) []*Process {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*Process
	seen := map[Key]bool{p.Key(): true}
	for cur := p; len(out) < n; {
		par := t.parentOf(cur)
		if par == nil || seen[par.Key()] {
			break
		}
		seen[par.Key()] = true
		out = append(out, par)
		cur = par
	}
	return out
}

// Len returns the number of entries, live and exited.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byKey)
}

// Stats returns the table's counters.
func (t *Table) Stats() TableStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.Entries, s.Live, s.Exited = len(t.byKey), t.live.Len(), t.exited.Len()
	return s
}

// parentOf finds p's parent: by identity when the snapshot recorded the
// parent's start time, else the latest process with that pid that started
// no later than p.
func (t *Table) parentOf(p *Process) *Process {
	if p.PPID <= 0 {
		return nil
	}
	if p.ParentStart != 0 {
		if e := t.get(p.ParentKey()); e != nil {
			return e.p
		}
		return nil
	}
	if e := t.byPID[p.PPID]; e != nil && e.p.Start <= p.Start {
		return e.p
	}
	return nil
}

// get finds an entry by identity, tolerating one tick of difference in
// the start time (the process connector's estimate of a fork's start).
func (t *Table) get(k Key) *entry {
	if e := t.byKey[k]; e != nil {
		return e
	}
	if e := t.byPID[k.PID]; e != nil && closeStart(e.p.Start, k.Start) {
		return e
	}
	return nil
}

func closeStart(a, b uint64) bool { return a == b || a == b+1 || b == a+1 }

// put stores a snapshot of a live process, replacing an older snapshot of
// the same process, and enforces the cap.
func (t *Table) put(p *Process) {
	now := t.opt.Now()
	t.expire(now)
	k := p.Key()
	if e := t.get(k); e != nil {
		if e.p.Key() != k {
			delete(t.byKey, e.p.Key())
			t.byKey[k] = e
		}
		e.p, e.checked = p, now
		t.byPID[p.PID] = e
		return
	}
	if old := t.byPID[p.PID]; old != nil && old.exited.IsZero() {
		// The pid was reused: the old process exited without our seeing it.
		t.markExited(old, now)
	}
	e := &entry{p: p, checked: now}
	e.elem = t.live.PushBack(e)
	t.byKey[k] = e
	t.byPID[p.PID] = e
	t.enforceCap()
}

// exit marks a process as exited; its snapshot stays resolvable until
// the tombstone expires.
func (t *Table) exit(k Key) {
	now := t.opt.Now()
	if e := t.get(k); e != nil && e.exited.IsZero() {
		t.markExited(e, now)
	}
	t.expire(now)
}

func (t *Table) markExited(e *entry, now time.Time) {
	t.live.Remove(e.elem)
	e.exited = now
	e.elem = t.exited.PushBack(e)
}

// drop removes an entry entirely.
func (t *Table) drop(e *entry) {
	if e.exited.IsZero() {
		t.live.Remove(e.elem)
	} else {
		t.exited.Remove(e.elem)
	}
	k := e.p.Key()
	if t.byKey[k] == e {
		delete(t.byKey, k)
	}
	if t.byPID[k.PID] == e {
		delete(t.byPID, k.PID)
	}
}

// expire drops tombstones older than the TTL.
func (t *Table) expire(now time.Time) {
	for f := t.exited.Front(); f != nil; f = t.exited.Front() {
		e := f.Value.(*entry)
		if now.Sub(e.exited) < t.opt.TombstoneTTL {
			return
		}
		t.drop(e)
		t.stats.Expired++
	}
}

// enforceCap evicts the oldest tombstone, else the oldest live process,
// until the table is within its cap.
func (t *Table) enforceCap() {
	for len(t.byKey) > t.opt.MaxEntries {
		if f := t.exited.Front(); f != nil {
			t.drop(f.Value.(*entry))
			t.stats.EvictedExited++
			continue
		}
		f := t.live.Front()
		if f == nil {
			return
		}
		t.drop(f.Value.(*entry))
		t.stats.EvictedLive++
	}
}

// Expire drops the tombstones older than the TTL; the [Monitor] calls it
// periodically, tables used alone expire on every change.
func (t *Table) Expire() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(t.opt.Now())
}

// Fork records a child that has not exec'd: it runs its parent's program.
// The child's start is in clock ticks since boot; estimated says it is
// an estimate (see [FieldStart]).
func (t *Table) Fork(parentPID, childPID int32, start uint64, estimated bool) *Process {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fork(parentPID, childPID, start, estimated, nil, nil)
}

// fork records a child; readParent, if not nil, is asked for a parent the
// table does not know (with t.mu held: it must not use the table); creds,
// if not nil, are the forking process's uid and euid at the fork (the
// parent may have called setuid since its snapshot).
func (t *Table) fork(parentPID, childPID int32, start uint64, estimated bool, readParent func(int32) *Process, creds *[2]uint32) *Process {
	par := t.byPID[parentPID]
	var parent *Process
	if par != nil {
		parent = par.p
	} else if readParent != nil {
		if parent = readParent(parentPID); parent != nil {
			t.putMarked(parent)
		}
	}
	if parent != nil && creds != nil && (parent.UID != creds[0] || parent.EUID != creds[1] || parent.Missing&FieldUser != 0) {
		if q := t.setUser(parent.Key(), creds[0], creds[1]); q != nil {
			parent = q
		}
	}
	c := &Process{PID: childPID, Start: start, Started: t.started(start), PPID: parentPID, Origin: OriginFork}
	if estimated {
		c.Missing |= FieldStart
	}
	if parent != nil {
		c.ParentStart = parent.Start
		c.Executable, c.Args, c.ArgsTruncated, c.Comm = parent.Executable, parent.Args, parent.ArgsTruncated, parent.Comm
		c.UID, c.EUID, c.User, c.EffectiveUser = parent.UID, parent.EUID, parent.User, parent.EffectiveUser
		c.Missing |= parent.Missing &^ (FieldParent | FieldStart)
		c.inheritMark(parent, t.opt.IsServer)
	} else {
		c.Missing |= FieldExecutable | FieldArgs | FieldUser | FieldComm
	}
	t.put(c)
	return c
}

// Exec records an exec: p carries what the source read (PID, Start,
// PPID, Executable, Args, Comm, UID, EUID, Origin, Missing); the table
// completes the parent's start time, the user names and the server mark,
// stores the snapshot and returns it.
func (t *Table) Exec(p *Process) *Process {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.execLocked(p)
}

func (t *Table) execLocked(p *Process) *Process {
	if p.Started.IsZero() {
		p.Started = t.started(p.Start)
	}
	t.nameUsers(p)
	var parent *Process
	if e := t.byPID[p.PPID]; e != nil && p.PPID > 0 && e.p.Start <= p.Start {
		parent = e.p
	}
	if parent != nil {
		p.ParentStart = parent.Start
		p.inheritMark(parent, t.opt.IsServer)
	} else if prev := t.get(p.Key()); prev != nil && prev.p.PPID == p.PPID {
		// The parent is gone from the table: keep what the fork knew.
		p.ParentStart, p.Server, p.ServerDepth = prev.p.ParentStart, prev.p.Server, prev.p.ServerDepth
	}
	t.put(p)
	return p
}

// SetUser records a change of uids (setuid without exec) for a live
// process and returns the new snapshot, or nil if the process is unknown.
func (t *Table) SetUser(k Key, uid, euid uint32) *Process {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.setUser(k, uid, euid)
}

func (t *Table) setUser(k Key, uid, euid uint32) *Process {
	e := t.get(k)
	if e == nil {
		return nil
	}
	e.checked = t.opt.Now()
	if e.p.UID == uid && e.p.EUID == euid && e.p.Missing&FieldUser == 0 {
		return e.p
	}
	c := *e.p
	c.UID, c.EUID = uid, euid
	c.Missing &^= FieldUser
	t.nameUsers(&c)
	e.p = &c
	return &c
}

// Exit records that a process exited.
func (t *Table) Exit(k Key) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.exit(k)
}

// ExitPID records that the latest process with this pid exited (for
// sources that do not report start times).
func (t *Table) ExitPID(pid int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.opt.Now()
	if e := t.byPID[pid]; e != nil && e.exited.IsZero() {
		t.markExited(e, now)
	}
	t.expire(now)
}

// putMarked stores a snapshot read from /proc after computing its mark
// from the parent the table knows.
func (t *Table) putMarked(p *Process) {
	t.nameUsers(p)
	if p.Started.IsZero() {
		p.Started = t.started(p.Start)
	}
	if par := t.parentOf(p); par != nil {
		p.ParentStart = par.Start
		p.inheritMark(par, t.opt.IsServer)
	}
	t.put(p)
}

// Merge reconciles the table with a full listing of the live processes
// (from /proc): processes not listed are marked exited, listed ones that
// the table does not know (or knows with missing fields) are stored. It
// returns the processes that were new to the table, parents first. The
// listing must hold every live process; an entry for a process that
// [Table.Known] reports complete may carry only PID and Start.
func (t *Table) Merge(listing []*Process) []*Process {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.opt.Now()
	listed := make(map[int32]bool, len(listing))
	for _, p := range listing {
		listed[p.PID] = true
	}
	for f := t.live.Front(); f != nil; {
		next := f.Next()
		if e := f.Value.(*entry); !listed[e.p.PID] {
			t.markExited(e, now)
		}
		f = next
	}
	sortByStart(listing)
	var added []*Process
	for _, p := range listing {
		if e := t.get(p.Key()); e != nil && e.exited.IsZero() {
			switch {
			case p.Origin == 0:
				continue // a stub for a process Known reported complete
			case p.Comm != e.p.Comm:
				// The process exec'd since it was read (an exec keeps the
				// pid and start time): a new program, reported as one.
				added = append(added, p)
			case e.p.Missing&^FieldStart == 0 || p.Missing&^FieldStart == e.p.Missing&^FieldStart:
				continue // already complete, or /proc knows no more
			default:
				p.Server, p.ServerDepth = e.p.Server, e.p.ServerDepth
			}
		} else {
			added = append(added, p)
		}
		t.putMarked(p)
	}
	t.expire(now)
	return added
}

// Known reports whether the table holds a live, complete snapshot of
// this process (so a rebuild need not read its details).
func (t *Table) Known(k Key, comm string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.get(k)
	return e != nil && e.exited.IsZero() && e.p.Missing&^FieldStart == 0 && e.p.Comm == comm
}

func (t *Table) started(start uint64) time.Time {
	return t.opt.BootTime.Add(time.Duration(start) * (time.Second / ticksPerSecond))
}

func (t *Table) nameUsers(p *Process) {
	if p.Missing&FieldUser != 0 {
		return
	}
	p.User = t.users.name(p.UID)
	p.EffectiveUser = t.users.name(p.EUID)
}

// sortByStart orders processes by start time, then pid, so that parents
// come before their children.
func sortByStart(ps []*Process) {
	slices.SortFunc(ps, func(a, b *Process) int {
		if c := cmp.Compare(a.Start, b.Start); c != 0 {
			return c
		}
		return cmp.Compare(a.PID, b.PID)
	})
}
