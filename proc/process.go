package proc

import (
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxArgsBytes bounds the argv kept for a process: the arguments, counted
// with one separator each, are cut at this many bytes and
// [Process.ArgsTruncated] is set.
const MaxArgsBytes = 1024

// MaxPathBytes bounds the executable path kept for a process.
const MaxPathBytes = 1024

// ticksPerSecond is Linux's USER_HZ, the unit of the start time in
// /proc/PID/stat; it is 100 on every architecture Go supports.
const ticksPerSecond = 100

// Key identifies a process across pid reuse: its pid and its start time in
// clock ticks since boot (field 22 of /proc/PID/stat).
type Key struct {
	PID   int32
	Start uint64
}

func (k Key) String() string {
	return strconv.Itoa(int(k.PID)) + "@" + strconv.FormatUint(k.Start, 10)
}

// Field names a piece of process information, for [Process.Missing].
type Field uint8

// Fields that may be missing from a snapshot.
const (
	// FieldExecutable: the executable path could not be read (the process
	// had exited, or /proc/PID/exe was denied); [Process.Comm] may still
	// tell the program.
	FieldExecutable Field = 1 << iota
	// FieldArgs: the arguments could not be read.
	FieldArgs
	// FieldUser: the real and effective uids could not be read.
	FieldUser
	// FieldParent: the parent pid is unknown.
	FieldParent
	// FieldStart: the start time is estimated (± one clock tick).
	FieldStart
	// FieldComm: the comm (kernel task name) could not be read.
	FieldComm
)

var fieldNames = []string{"executable", "args", "user", "parent", "start", "comm"}

// String lists the fields, comma-separated, in a fixed order.
func (f Field) String() string {
	var s []string
	for i, n := range fieldNames {
		if f&(1<<i) != 0 {
			s = append(s, n)
		}
	}
	return strings.Join(s, ",")
}

// Origin tells how a snapshot was learned.
type Origin uint8

// Origins of a snapshot.
const (
	// OriginExec: from an exec event of the eBPF source, read in kernel
	// context at exec time (complete even for a process that exits at once).
	OriginExec Origin = iota + 1
	// OriginConnectorExec: from an exec event of the process connector,
	// with /proc read when the event was handled.
	OriginConnectorExec
	// OriginFork: a forked child that has not exec'd: it runs its parent's
	// executable, so executable and args are the parent's.
	OriginFork
	// OriginProcfs: read from /proc (initial table, rebuild, polling, or a
	// late lookup of a process the table did not know).
	OriginProcfs
)

var originNames = [...]string{"", "ebpf-exec", "connector-exec", "fork", "procfs"}

func (o Origin) String() string {
	if int(o) < len(originNames) {
		return originNames[o]
	}
	return "origin(" + strconv.Itoa(int(o)) + ")"
}

// Process is one snapshot of a process. Snapshots are shared and must not
// be modified; an update (exec, uid change) makes a new snapshot.
type Process struct {
	PID   int32
	Start uint64 // clock ticks since boot, as in /proc/PID/stat
	// Started is Start as wall-clock time (boot time + Start).
	Started time.Time

	PPID        int32
	ParentStart uint64 // 0 when the parent is not known to the table

	Executable    string   // absolute path when known; see Missing
	Args          []string // argv, bounded to MaxArgsBytes
	ArgsTruncated bool
	Comm          string // kernel task name (15 bytes at most)

	UID, EUID           uint32
	User, EffectiveUser string // names of UID and EUID; "" when unknown

	Origin  Origin
	Missing Field // what could not be read

	// Server is the nearest ancestor that is a web, application or
	// database server (as decided by [Options.IsServer]) and ServerDepth
	// the number of generations between it and this process (1: a direct
	// child). Inherited at fork, so it survives the eviction of the
	// processes in between. Nil when the process is not below a server.
	Server      *Process
	ServerDepth int
}

// Key returns the process's identity.
func (p *Process) Key() Key { return Key{PID: p.PID, Start: p.Start} }

// ParentKey returns the identity of the parent as it was when this
// snapshot was taken.
func (p *Process) ParentKey() Key { return Key{PID: p.PPID, Start: p.ParentStart} }

// Name is the program's name: the base name of the executable, else the
// comm.
func (p *Process) Name() string {
	if p.Executable != "" {
		return filepath.Base(p.Executable)
	}
	return p.Comm
}

// CommandLine joins the arguments with spaces (the form ECS
// process.command_line uses); empty when the args are missing.
func (p *Process) CommandLine() string { return strings.Join(p.Args, " ") }

// withServer returns a copy of p carrying the server mark computed from
// its parent.
func (p *Process) inheritMark(parent *Process, isServer func(*Process) bool) {
	if parent == nil {
		return
	}
	if isServer != nil && isServer(parent) {
		p.Server, p.ServerDepth = parent, 1
		return
	}
	if parent.Server != nil {
		p.Server, p.ServerDepth = parent.Server, parent.ServerDepth+1
	}
}

// boundArgs cuts argv to MaxArgsBytes (each argument counted with one
// separator) and reports whether anything was cut.
func boundArgs(args []string) ([]string, bool) {
	n := 0
	for i, a := range args {
		if n+len(a) > MaxArgsBytes {
			out := append([]string(nil), args[:i]...)
			if rest := MaxArgsBytes - n; rest > 0 {
				out = append(out, validPrefix(a, rest))
			}
			return out, true
		}
		n += len(a) + 1
	}
	return args, false
}

// splitArgs splits a NUL-separated argument block (as in /proc/PID/cmdline
// or the process's memory between arg_start and arg_end) into argv, bounded.
// truncated says the block itself was cut by its reader.
func splitArgs(b []byte, truncated bool) ([]string, bool) {
	s := string(b)
	if !truncated {
		s = strings.TrimSuffix(s, "\x00")
	}
	if s == "" {
		return nil, truncated
	}
	args := strings.Split(s, "\x00")
	if truncated && len(args) > 0 {
		// The last argument was cut by the reader: keep its valid prefix.
		last := len(args) - 1
		args[last] = trimPartialRune(args[last])
	}
	out, cut := boundArgs(args)
	return out, cut || truncated
}

// boundPath cuts a path to MaxPathBytes.
func boundPath(p string) (string, bool) {
	if len(p) <= MaxPathBytes {
		return p, false
	}
	return validPrefix(p, MaxPathBytes), true
}

// trimPartialRune drops a UTF-8 sequence cut at the end of s.
func trimPartialRune(s string) string {
	for i := len(s) - 1; i >= 0 && i >= len(s)-utf8.UTFMax; i-- {
		if s[i]&0xC0 != 0x80 { // the last lead (or ASCII) byte
			if !utf8.FullRuneInString(s[i:]) {
				return s[:i]
			}
			break
		}
	}
	return s
}

// validPrefix returns at most n bytes of s without splitting a UTF-8
// sequence (bytes that are not UTF-8 at all are kept as they are).
func validPrefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	// Step back over continuation bytes of a sequence split at the cut.
	for i := 0; i < 3 && cut > 0 && s[cut]&0xC0 == 0x80; i++ {
		cut--
	}
	if cut == 0 {
		cut = n
	}
	return s[:cut]
}
