package proc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"webfim/internal/itest"
)

// startMonitor starts a monitor with exactly one source and fails the
// test if that source does not start.
func startMonitor(t *testing.T, src Source, opt Options) *Monitor {
	t.Helper()
	opt.Sources = []Source{src}
	m, err := Start(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if st := m.Status(); st.Source != src {
		t.Fatalf("source %v did not start: %v", src, st)
	}
	return m
}

// runMarked runs `sh -c 'exit 0' marker` and returns its pid.
func runMarked(t *testing.T, cmd string, args ...string) int32 {
	t.Helper()
	c := exec.Command(cmd, args...)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v: %s", cmd, args, err, out)
	}
	return int32(c.Process.Pid)
}

func TestEBPFSeesShortLivedExec(t *testing.T) {
	itest.RequireRoot(t, "loading eBPF programs")
	var execs atomic.Int32
	m := startMonitor(t, SourceEBPF, Options{OnExec: func(_ *Table, p *Process) {
		if strings.Contains(p.CommandLine(), "webfim-marker-1") {
			execs.Add(1)
		}
	}})
	// The GC pitfall: objects not kept referenced close their descriptors
	// (and a collected link detaches). The monitor must survive a GC.
	for range 3 {
		runtime.GC()
	}
	pid := runMarked(t, "/bin/sh", "-c", "exit 0", "webfim-marker-1")
	m.Sync()
	p := m.Table().Lookup(pid)
	if p == nil {
		t.Fatalf("pid %d not in the table after Sync; status %v, stats %+v", pid, m.Status(), m.Stats())
	}
	if p.Origin != OriginExec {
		t.Errorf("origin %v, want %v", p.Origin, OriginExec)
	}
	if want := []string{"/bin/sh", "-c", "exit 0", "webfim-marker-1"}; !slices.Equal(p.Args, want) {
		t.Errorf("args %q, want %q", p.Args, want)
	}
	if p.UID != 0 || p.EUID != 0 || p.User != "root" {
		t.Errorf("uid %d euid %d user %q, want 0 0 root", p.UID, p.EUID, p.User)
	}
	if p.PPID != int32(os.Getpid()) {
		t.Errorf("ppid %d, want the test's pid %d", p.PPID, os.Getpid())
	}
	if real, _ := os.Readlink("/proc/self/exe"); p.Executable == "" || !strings.HasPrefix(p.Executable, "/") {
		t.Errorf("executable %q, want an absolute path (test's own: %s)", p.Executable, real)
	}
	if p.Comm != "sh" {
		t.Errorf("comm %q, want sh", p.Comm)
	}
	if p.Missing != 0 {
		t.Errorf("missing %v, want nothing", p.Missing)
	}
	if _, exited := m.Table().Exited(p.Key()); !exited {
		t.Errorf("process %v not marked exited", p.Key())
	}
	// The start time must be the one /proc uses for the same process:
	// compare with a live one.
	c := exec.Command("sleep", "5")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Process.Kill()
	time.Sleep(50 * time.Millisecond)
	m.Sync()
	live := m.Table().Lookup(int32(c.Process.Pid))
	st, err := hostProc.stat(int32(c.Process.Pid))
	if live == nil || err != nil || live.Start != st.Start {
		t.Errorf("sleep: table %+v, /proc/PID/stat start %d (%v)", live, st.Start, err)
	}
	if execs.Load() == 0 {
		t.Error("OnExec was not called for the marked exec")
	}
}

func TestEBPFWithoutBTFFallsBackToConnector(t *testing.T) {
	itest.RequireRoot(t, "the process connector")
	m, err := Start(context.Background(), Options{KernelBTF: "/nonexistent/vmlinux", Sources: []Source{SourceEBPF, SourceConnector}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	st := m.Status()
	if st.Source != SourceConnector {
		t.Fatalf("source %v, want connector; %v", st.Source, st)
	}
	if len(st.Attempts) != 2 || !errors.Is(st.Attempts[0].Err, ErrNoBTF) {
		t.Fatalf("attempts %+v, want ebpf failing with ErrNoBTF", st.Attempts)
	}
	if s := st.String(); !strings.Contains(s, "no BTF") || !strings.Contains(s, "/nonexistent/vmlinux") {
		t.Errorf("status %q does not give the reason", s)
	}
}

func TestConnectorSeesExec(t *testing.T) {
	itest.RequireRoot(t, "reading other users' processes in /proc")
	m := startMonitor(t, SourceConnector, Options{})
	// A process that lives a moment: /proc is read when its exec arrives.
	pid := runMarked(t, "/bin/sh", "-c", "sleep 0.2", "webfim-marker-2")
	m.Sync()
	p := m.Table().Lookup(pid)
	if p == nil {
		t.Fatalf("pid %d not in the table", pid)
	}
	if p.Origin != OriginConnectorExec || p.Missing&^FieldStart != 0 {
		t.Errorf("origin %v missing %v", p.Origin, p.Missing)
	}
	if want := []string{"/bin/sh", "-c", "sleep 0.2", "webfim-marker-2"}; !slices.Equal(p.Args, want) {
		t.Errorf("args %q, want %q", p.Args, want)
	}
	if p.Executable != "/usr/bin/dash" && p.Executable != "/usr/bin/bash" && !strings.HasSuffix(p.Executable, "sh") {
		t.Errorf("executable %q", p.Executable)
	}
	if _, exited := m.Table().Exited(p.Key()); !exited {
		t.Error("exit not recorded")
	}
}

func TestPollSourceIsDegraded(t *testing.T) {
	itest.RequireRoot(t, "reading other users' processes in /proc")
	m := startMonitor(t, SourcePoll, Options{PollInterval: 50 * time.Millisecond})
	if !m.Status().Degraded() || !strings.Contains(m.Status().String(), "degraded") {
		t.Errorf("status %q not degraded", m.Status())
	}
	c := exec.Command("sleep", "2")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Process.Kill()
	// A poll may catch the child between fork and exec (still the test
	// binary): the next poll must replace that snapshot with sleep's.
	deadline := time.Now().Add(2 * time.Second)
	var p *Process
	for p = m.Table().Lookup(int32(c.Process.Pid)); p == nil || len(p.Args) == 0 || p.Args[0] != "sleep"; p = m.Table().Lookup(int32(c.Process.Pid)) {
		if time.Now().After(deadline) {
			t.Fatalf("polling did not see sleep's exec within 2 s; snapshot %+v", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p.Origin != OriginProcfs {
		t.Errorf("polled snapshot %+v", p)
	}
}

// A web server worker forks from a root parent and calls setuid without
// exec: Resolve must report the uid it has now, whatever the source.
func TestResolveSeesSetuidWithoutExec(t *testing.T) {
	itest.RequireRoot(t, "changing uid")
	for _, src := range []Source{SourceEBPF, SourceConnector} {
		t.Run(src.String(), func(t *testing.T) {
			m := startMonitor(t, src, Options{})
			c := exec.Command(os.Args[0], "-test.run=^TestHelperSetuid$")
			c.Env = append(os.Environ(), "WEBFIM_PROC_HELPER=setuid")
			out, err := c.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			defer c.Wait()
			defer c.Process.Kill()
			buf := make([]byte, 16)
			if n, err := out.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "ready") {
				t.Fatalf("helper: %q %v", buf[:n], err)
			}
			m.Sync()
			// The helper forked after its setuid: the fork alone tells
			// (eBPF reads the forking process's uids; the connector has
			// uid events).
			if p := m.Table().Lookup(int32(c.Process.Pid)); p == nil || p.UID != 33 {
				t.Errorf("table before Resolve: %+v, want uid 33", p)
			}
			p := m.Resolve(int32(c.Process.Pid))
			if p == nil || p.UID != 33 || p.EUID != 33 || p.User != "www-data" {
				t.Fatalf("resolved %+v, want uid 33 (www-data)", p)
			}
		})
	}
}

func TestHelperSetuid(t *testing.T) {
	if os.Getenv("WEBFIM_PROC_HELPER") != "setuid" {
		t.Skip("helper process for TestResolveSeesSetuidWithoutExec")
	}
	if err := syscall.Setresuid(33, 33, 33); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("true").Run(); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("ready\n")
	time.Sleep(10 * time.Second)
}

// Without privileges, eBPF is refused with a reason that names the
// capabilities; the monitor still runs on a lesser source.
func TestUnprivilegedFallsBack(t *testing.T) {
	itest.RequireRoot(t, "switching to an unprivileged user")
	bin := itest.ExecutableCopy(t)
	c := exec.Command(bin, "-test.run=^TestHelperUnprivileged$")
	c.Env = append(os.Environ(), "WEBFIM_PROC_HELPER=unprivileged")
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("helper as nobody: %v\n%s", err, out)
	}
	got := string(out)
	if !strings.Contains(got, "ebpf: ") || !strings.Contains(got, "needs CAP_BPF and CAP_PERFMON") {
		t.Errorf("status does not say why eBPF is unavailable:\n%s", got)
	}
	if !strings.Contains(got, "source=connector") && !strings.Contains(got, "source=poll") {
		t.Errorf("no fallback source:\n%s", got)
	}
}

func TestHelperUnprivileged(t *testing.T) {
	if os.Getenv("WEBFIM_PROC_HELPER") != "unprivileged" {
		t.Skip("helper process for TestUnprivilegedFallsBack")
	}
	m, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	st := m.Status()
	if !errors.Is(st.Attempts[0].Err, ErrPermission) {
		t.Errorf("ebpf error %v is not ErrPermission", st.Attempts[0].Err)
	}
	os.Stdout.WriteString("source=" + st.Source.String() + "\nstatus: " + st.String() + "\n")
}

// A real fork bomb of short-lived processes: the table never exceeds its
// cap, tombstones go first, and a live process stays resolvable.
func TestForkBombStaysWithinCap(t *testing.T) {
	itest.RequireRoot(t, "loading eBPF programs")
	live, _ := hostProc.list(nil)
	limit := len(live) + 300
	m := startMonitor(t, SourceEBPF, Options{Table: TableOptions{MaxEntries: limit}})
	sleeper := exec.Command("sleep", "600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleeper.Process.Kill()
	bomb := exec.Command("/bin/sh", "-c", "i=0; while [ $i -lt 1000 ]; do /bin/true & i=$((i+1)); done; wait")
	if err := bomb.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- bomb.Wait() }()
	peak := 0
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		case <-time.After(5 * time.Millisecond):
		}
		peak = max(peak, m.Table().Len())
	}
	m.Sync()
	peak = max(peak, m.Table().Len())
	st := m.Stats()
	t.Logf("1,000 forks+execs, cap %d: peak %d entries, %d execs seen, stats %+v", limit, peak, st.Execs, st.Table)
	if peak > limit {
		t.Errorf("peak %d entries over the cap %d", peak, limit)
	}
	if st.Execs < 1000 || st.Table.EvictedExited == 0 {
		t.Errorf("execs %d (want >= 1000), tombstones evicted %d (want > 0)", st.Execs, st.Table.EvictedExited)
	}
	// Live processes go only when live ones alone exceed the cap (other
	// work on the machine); then Resolve reads them again.
	if p := m.Resolve(int32(sleeper.Process.Pid)); p == nil || p.Args[0] != "sleep" {
		t.Errorf("the live sleeper does not resolve: %+v", p)
	}
}

func TestProcfsFake(t *testing.T) {
	root := t.TempDir()
	mk := func(pid int, stat, status, cmdline, exe string) {
		d := root + "/" + strconv.Itoa(pid)
		os.MkdirAll(d, 0o755)
		os.WriteFile(d+"/stat", []byte(stat), 0o644)
		os.WriteFile(d+"/status", []byte(status), 0o644)
		os.WriteFile(d+"/cmdline", []byte(cmdline), 0o644)
		if exe != "" {
			os.Symlink(exe, d+"/exe")
		}
	}
	rest := " 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 %d 1000 10"
	mk(1, "1 (init) S 0"+strings.Replace(rest, "%d", "5", 1), "Name:\tinit\nPPid:\t0\nUid:\t0\t0\t0\t0\n", "/sbin/init\x00", "/sbin/init")
	mk(40, "40 (sh) Z 1"+strings.Replace(rest, "%d", "90", 1), "Name:\tsh\nPPid:\t1\nUid:\t33\t33\t33\t33\n", "", "")
	os.MkdirAll(root+"/self", 0o755)
	os.MkdirAll(root+"/77", 0o755) // vanished between readdir and read
	list, err := procfs{root: root}.list(nil)
	if err != nil {
		t.Fatal(err)
	}
	sortByStart(list)
	if len(list) != 2 {
		t.Fatalf("listed %d processes, want 2", len(list))
	}
	if p := list[0]; p.Executable != "/sbin/init" || !slices.Equal(p.Args, []string{"/sbin/init"}) || p.Missing != FieldParent {
		t.Errorf("init: %+v", p)
	}
	// A zombie: status readable, exe and cmdline not.
	if p := list[1]; p.Comm != "sh" || p.UID != 33 || p.Missing != FieldExecutable|FieldArgs {
		t.Errorf("zombie: %+v (missing %v)", p, p.Missing)
	}
}

func TestContextEndsMonitor(t *testing.T) {
	itest.RequireRoot(t, "loading eBPF programs")
	ctx, cancel := context.WithCancel(context.Background())
	m, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan error, 1)
	go func() { done <- m.Close() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close after the context ended did not return")
	}
}
