package proc

import (
	"errors"
	"io"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

var hostProc = procfs{root: "/proc"}

func (fs procfs) dir(pid int32) string { return fs.root + "/" + strconv.Itoa(int(pid)) }

// stat reads /proc/PID/stat.
func (fs procfs) stat(pid int32) (statInfo, error) {
	b, err := readBounded(fs.dir(pid)+"/stat", 4096)
	if err != nil {
		return statInfo{}, err
	}
	return parseStat(b)
}

// read returns a snapshot of pid from /proc, nil if the process is gone.
// What cannot be read is marked missing: the exe link of an exited but
// not yet reaped process (or of another user's process without
// CAP_SYS_PTRACE) is unreadable while its status still is.
func (fs procfs) read(pid int32) *Process {
	st, err := fs.stat(pid)
	if err != nil {
		return nil
	}
	return fs.readDetails(pid, st, OriginProcfs)
}

func (fs procfs) readDetails(pid int32, st statInfo, origin Origin) *Process {
	d := fs.dir(pid)
	p := &Process{PID: pid, Start: st.Start, PPID: st.PPID, Comm: st.Comm, Origin: origin}
	if b, err := readBounded(d+"/status", 8192); err == nil {
		if s, err := parseStatus(b); err == nil && s.HasUID {
			p.UID, p.EUID = s.UID, s.EUID
		} else {
			p.Missing |= FieldUser
		}
	} else {
		p.Missing |= FieldUser
	}
	if exe, err := os.Readlink(d + "/exe"); err == nil {
		p.Executable, _ = boundPath(exe)
	} else {
		p.Missing |= FieldExecutable
	}
	b, err := readBounded(d+"/cmdline", MaxArgsBytes+1)
	switch {
	case err != nil:
		p.Missing |= FieldArgs
	case len(b) == 0:
		// Kernel threads and zombies have no command line.
		p.Missing |= FieldArgs
	default:
		p.Args, p.ArgsTruncated = splitArgs(b, len(b) > MaxArgsBytes)
	}
	if p.PPID <= 0 {
		p.Missing |= FieldParent
	}
	return p
}

// list returns every process in /proc: complete snapshots for those that
// known does not report complete under their current comm (a changed comm
// means the process exec'd since), PID and Start only for the others.
func (fs procfs) list(known func(Key, string) bool) ([]*Process, error) {
	f, err := os.Open(fs.root)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	out := make([]*Process, 0, len(names))
	for _, n := range names {
		v, err := strconv.ParseInt(n, 10, 32)
		if err != nil || v <= 0 {
			continue
		}
		pid := int32(v)
		st, err := fs.stat(pid)
		if err != nil {
			continue // exited meanwhile
		}
		if known != nil && known(Key{PID: pid, Start: st.Start}, st.Comm) {
			out = append(out, &Process{PID: pid, Start: st.Start, PPID: st.PPID})
			continue
		}
		out = append(out, fs.readDetails(pid, st, OriginProcfs))
	}
	return out, nil
}

// readBounded reads at most n bytes of a (proc) file.
func readBounded(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	m, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:m], nil
}

// bootTime is the wall-clock time of boot: now minus CLOCK_BOOTTIME.
func bootTime() time.Time {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return time.Time{}
	}
	return time.Now().Add(-time.Duration(ts.Nano()))
}

// monotonicToBoot is the offset to add to a CLOCK_MONOTONIC time to get
// CLOCK_BOOTTIME (the time spent suspended).
func monotonicToBoot() int64 {
	var m, b unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &m) != nil || unix.ClockGettime(unix.CLOCK_BOOTTIME, &b) != nil {
		return 0
	}
	return b.Nano() - m.Nano()
}
