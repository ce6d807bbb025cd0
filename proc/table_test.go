package proc

import (
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeClock is a settable clock for tombstone expiry.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func isServerName(names ...string) func(*Process) bool {
	return func(p *Process) bool { return slices.Contains(names, p.Name()) }
}

func newTestTable(clock *fakeClock, max int) *Table {
	return NewTable(TableOptions{
		MaxEntries:   max,
		TombstoneTTL: 5 * time.Second,
		IsServer:     isServerName("apache2", "postgres"),
		LookupUser:   func(uid uint32) string { return map[uint32]string{0: "root", 33: "www-data"}[uid] },
		BootTime:     time.Unix(1_000_000, 0),
		Now:          clock.now,
	})
}

func execP(pid, ppid int32, start uint64, exe string, uid uint32, args ...string) *Process {
	return &Process{PID: pid, PPID: ppid, Start: start, Executable: exe, Comm: filepath.Base(exe),
		Args: append([]string{exe}, args...), UID: uid, EUID: uid, Origin: OriginExec}
}

func TestTableLineageMarks(t *testing.T) {
	clock := &fakeClock{t: time.Unix(2_000_000, 0)}
	tab := newTestTable(clock, 100)
	tab.Exec(execP(1, 0, 1, "/sbin/init", 0))
	root := tab.Exec(execP(100, 1, 10, "/usr/sbin/apache2", 0, "-k", "start"))
	if root.Server != nil {
		t.Errorf("apache2 under init has a server mark: %v", root.Server.Key())
	}
	worker := tab.Fork(100, 200, 20, false)
	if worker.Executable != "/usr/sbin/apache2" || worker.Origin != OriginFork || !slices.Equal(worker.Args, root.Args) {
		t.Errorf("forked worker %+v does not run its parent's program", worker)
	}
	if worker.Server != root || worker.ServerDepth != 1 {
		t.Errorf("worker mark %v depth %d, want the root apache2 at depth 1", worker.Server, worker.ServerDepth)
	}
	worker = tab.SetUser(worker.Key(), 33, 33)
	if worker.User != "www-data" || worker.EffectiveUser != "www-data" {
		t.Errorf("after setuid: users %q %q", worker.User, worker.EffectiveUser)
	}
	tab.Fork(200, 300, 30, false)
	sh := tab.Exec(execP(300, 200, 30, "/usr/bin/dash", 33, "-c", "whoami"))
	if sh.Server == nil || sh.Server.PID != 200 || sh.ServerDepth != 1 {
		t.Fatalf("sh mark %v depth %d, want the worker (200) at depth 1", sh.Server, sh.ServerDepth)
	}
	if sh.User != "www-data" || sh.ParentStart != 20 {
		t.Errorf("sh user %q parent start %d", sh.User, sh.ParentStart)
	}
	tab.Fork(300, 400, 31, false)
	who := tab.Exec(execP(400, 300, 31, "/usr/bin/whoami", 33))
	if who.Server == nil || who.Server.PID != 200 || who.ServerDepth != 2 {
		t.Fatalf("whoami mark %v depth %d, want the worker at depth 2", who.Server, who.ServerDepth)
	}
	anc := tab.Ancestors(who, 5)
	var pids []int32
	for _, a := range anc {
		pids = append(pids, a.PID)
	}
	if !slices.Equal(pids, []int32{300, 200, 100, 1}) {
		t.Errorf("ancestors %v, want 300 200 100 1", pids)
	}
	if !who.Started.Equal(time.Unix(1_000_000, 310_000_000)) {
		t.Errorf("started %v, want boot + 0.31 s", who.Started)
	}
}

func TestTableTombstones(t *testing.T) {
	clock := &fakeClock{t: time.Unix(2_000_000, 0)}
	tab := newTestTable(clock, 100)
	p := tab.Exec(execP(10, 1, 5, "/bin/sh", 0, "-c", "echo x > f"))
	tab.Exit(p.Key())
	clock.add(4 * time.Second)
	if got := tab.Lookup(10); got != p {
		t.Fatalf("4 s after exit: lookup %v, want the tombstone", got)
	}
	if _, ok := tab.Exited(p.Key()); !ok {
		t.Error("tombstone not marked exited")
	}
	clock.add(2 * time.Second)
	tab.Expire()
	if got := tab.Lookup(10); got != nil {
		t.Errorf("6 s after exit: lookup %v, want nothing", got)
	}
	if s := tab.Stats(); s.Expired != 1 || s.Entries != 0 {
		t.Errorf("stats %+v, want 1 expired, 0 entries", s)
	}
}

func TestTablePIDReuse(t *testing.T) {
	clock := &fakeClock{t: time.Unix(2_000_000, 0)}
	tab := newTestTable(clock, 100)
	old := tab.Exec(execP(10, 1, 5, "/bin/old", 0))
	// Exit missed (lost event); the pid comes back with another start.
	nu := tab.Exec(execP(10, 1, 500, "/bin/new", 0))
	if tab.Lookup(10) != nu {
		t.Fatal("lookup does not return the newest process with the pid")
	}
	if got := tab.Get(old.Key()); got != old {
		t.Errorf("old process %v no longer resolvable by key", old.Key())
	}
	if _, exited := tab.Exited(old.Key()); !exited {
		t.Error("old process not marked exited when its pid was reused")
	}
	// A child of the old process must not be attached to the new one.
	orphan := &Process{PID: 11, PPID: 10, ParentStart: 5, Start: 6}
	if par := tab.Parent(orphan); par != old {
		t.Errorf("parent of a child of the old process: %v", par)
	}
}

func TestTableCapEvictsExitedFirst(t *testing.T) {
	clock := &fakeClock{t: time.Unix(2_000_000, 0)}
	tab := newTestTable(clock, 10)
	for pid := int32(1); pid <= 5; pid++ {
		tab.Exec(execP(pid, 0, uint64(pid), "/bin/live", 0))
	}
	for pid := int32(100); pid < 200; pid++ {
		p := tab.Exec(execP(pid, 1, uint64(pid), "/bin/short", 0))
		tab.Exit(p.Key())
		if n := tab.Len(); n > 10 {
			t.Fatalf("%d entries, cap 10", n)
		}
	}
	for pid := int32(1); pid <= 5; pid++ {
		if tab.Lookup(pid) == nil {
			t.Errorf("live process %d evicted while tombstones remained", pid)
		}
	}
	for pid := int32(195); pid < 200; pid++ {
		if tab.Lookup(pid) == nil {
			t.Errorf("newest tombstone %d evicted", pid)
		}
	}
	if s := tab.Stats(); s.EvictedExited != 95 || s.EvictedLive != 0 {
		t.Errorf("stats %+v, want 95 tombstones evicted, no live", s)
	}
	// Live processes alone over the cap: the oldest live go.
	for pid := int32(1000); pid < 1020; pid++ {
		tab.Exec(execP(pid, 1, uint64(pid), "/bin/bomb", 0))
	}
	if n, s := tab.Len(), tab.Stats(); n != 10 || s.EvictedLive == 0 {
		t.Errorf("%d entries, stats %+v; want 10 with live evictions", n, s)
	}
	if tab.Lookup(1019) == nil || tab.Lookup(1) != nil {
		t.Error("eviction of live processes is not oldest first")
	}
}

// A fork bomb of short-lived processes, 300,000 of them, must not grow
// the table beyond its cap, nor the heap beyond what the cap allows.
func TestTableMemoryBoundedUnderForkBomb(t *testing.T) {
	clock := &fakeClock{t: time.Unix(2_000_000, 0)}
	const max = 4096
	tab := newTestTable(clock, max)
	long := strings.Repeat("a", 900)
	tab.Exec(execP(1, 0, 1, "/bin/bash", 0))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 300_000 {
		pid := int32(2 + i)
		c := tab.Fork(1, pid, uint64(2+i), false)
		if i%2 == 0 {
			// Half exec with unique, long arguments.
			tab.Exec(execP(pid, 1, c.Start, "/bin/x", 0, fmt.Sprint(i), long))
		}
		if i%3 != 0 {
			tab.Exit(c.Key())
		}
		if i%100_000 == 0 {
			if n := tab.Len(); n > max {
				t.Fatalf("after %d forks: %d entries, cap %d", i, n, max)
			}
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	// ~1.2 KB per entry at most (900-byte argument, snapshot, maps, list).
	if limit := int64(max * 1500); grown > limit {
		t.Errorf("heap grew by %d bytes for %d entries (limit %d)", grown, max, limit)
	}
	t.Logf("300,000 forks, cap %d: %d entries, heap +%.1f MB, stats %+v", max, tab.Len(), float64(grown)/1e6, tab.Stats())
}

func TestTableMerge(t *testing.T) {
	clock := &fakeClock{t: time.Unix(2_000_000, 0)}
	tab := newTestTable(clock, 100)
	tab.Exec(execP(1, 0, 1, "/sbin/init", 0))
	gone := tab.Exec(execP(50, 1, 40, "/bin/gone", 0))
	listing := []*Process{
		{PID: 1, Start: 1}, // known and complete: PID and Start only
		execP(61, 60, 70, "/usr/bin/dash", 33, "-c", "id"),
		execP(60, 1, 60, "/usr/lib/postgresql/15/bin/postgres", 101),
	}
	added := tab.Merge(listing)
	var pids []int32
	for _, p := range added {
		pids = append(pids, p.PID)
	}
	if !slices.Equal(pids, []int32{60, 61}) {
		t.Errorf("added %v, want 60 then 61 (parents first)", pids)
	}
	if _, ok := tab.Exited(gone.Key()); !ok {
		t.Error("a process missing from /proc was not marked exited")
	}
	if p := tab.Lookup(61); p == nil || p.Server == nil || p.Server.PID != 60 {
		t.Errorf("dash under postgres has mark %v", p)
	}
	if p := tab.Lookup(1); p == nil || p.Executable != "/sbin/init" {
		t.Errorf("known process replaced by its short listing: %+v", p)
	}
	// A process read from /proc has its start as wall-clock time too.
	if p := tab.Lookup(60); p == nil || !p.Started.Equal(time.Unix(1_000_000, 600_000_000)) {
		t.Errorf("postgres read from /proc: started %v, want boot + 0.6 s", p.Started)
	}
}

// Polling sees a process that exec'd since it was read under the same
// pid and start time: its changed comm makes the new program a new
// snapshot, reported as added (a forked child caught before its exec must
// not keep its parent's image).
func TestTableMergeSeesExecByComm(t *testing.T) {
	clock := &fakeClock{t: time.Unix(2_000_000, 0)}
	tab := newTestTable(clock, 100)
	tab.Exec(execP(1, 0, 1, "/sbin/init", 0))
	server := tab.Exec(execP(60, 1, 60, "/usr/sbin/apache2", 33))
	forked := execP(61, 60, 70, "/usr/sbin/apache2", 33)
	forked.Origin = OriginProcfs
	if added := tab.Merge([]*Process{{PID: 1, Start: 1}, {PID: 60, Start: 60}, forked}); len(added) != 1 {
		t.Fatalf("first listing added %d processes, want the forked worker", len(added))
	}
	if !tab.Known(forked.Key(), "apache2") || tab.Known(forked.Key(), "sh") {
		t.Error("Known does not tell a changed comm from the snapshot's")
	}
	execd := execP(61, 60, 70, "/usr/bin/dash", 33, "-c", "id")
	execd.Comm, execd.Origin = "sh", OriginProcfs
	added := tab.Merge([]*Process{{PID: 1, Start: 1}, {PID: 60, Start: 60}, execd})
	if len(added) != 1 || added[0].Executable != "/usr/bin/dash" {
		t.Fatalf("exec since the last listing: added %+v, want the sh snapshot", added)
	}
	if p := tab.Lookup(61); p == nil || p.Executable != "/usr/bin/dash" || p.Server == nil || p.Server.PID != server.PID {
		t.Errorf("after the exec the table holds %+v", p)
	}
}

func TestBoundArgs(t *testing.T) {
	long := strings.Repeat("x", 2000)
	args, cut := boundArgs([]string{"sh", "-c", long})
	if !cut || len(strings.Join(args, " ")) > MaxArgsBytes || args[0] != "sh" || args[1] != "-c" {
		t.Errorf("bound: cut %v, %d bytes, %q", cut, len(strings.Join(args, " ")), args[:2])
	}
	args, cut = splitArgs([]byte("a\x00b\x00"), false)
	if cut || !slices.Equal(args, []string{"a", "b"}) {
		t.Errorf("split %q cut %v", args, cut)
	}
	// A reader that cut a multi-byte character keeps the valid prefix.
	args, cut = splitArgs([]byte("a\x00h\xc3\xa9\xc3"), true)
	if !cut || !slices.Equal(args, []string{"a", "h\xc3\xa9"}) {
		t.Errorf("split of a cut block %q cut %v", args, cut)
	}
	if got := validPrefix("\xe2\x82\xac\xe2\x82\xac", 4); got != "\xe2\x82\xac" {
		t.Errorf("validPrefix cut inside a character: %q", got)
	}
}

func TestFieldString(t *testing.T) {
	if got := (FieldExecutable | FieldArgs).String(); got != "executable,args" {
		t.Errorf("got %q", got)
	}
	if got := Field(0).String(); got != "" {
		t.Errorf("no field: %q", got)
	}
}

func TestParseSource(t *testing.T) {
	for _, s := range DefaultSources {
		if got, err := ParseSource(s.String()); err != nil || got != s {
			t.Errorf("ParseSource(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseSource("none"); err == nil {
		t.Error("none parsed as a source")
	}
}
