package proc

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// The records the eBPF programs write into the ring buffer. Fork and exit
// records stop after the start time; exec records carry the rest.
const (
	recExec = 1
	recFork = 2
	recExit = 3

	recOffKind     = 0  // u32
	recOffTGID     = 4  // u32: the process
	recOffPPID     = 8  // u32: parent's tgid (exec: real_parent; fork: the forking process)
	recOffUID      = 12 // u32: exec: the process's; fork: the forking process's (the child's)
	recOffEUID     = 16 // u32
	recOffFileLen  = 20 // s32: bpf_probe_read_kernel_str's result (with the NUL) or an error
	recOffArgsLen  = 24 // u32: arg_end - arg_start, before the cut at recArgsMax
	recOffErrs     = 28 // u32: recErr* bits
	recOffStart    = 32 // u64: task start_boottime, ns
	recOffComm     = 40 // [16]byte
	recOffFile     = 56 // [recFileMax]byte
	recOffArgs     = recOffFile + recFileMax
	recFileMax     = 512
	recArgsMax     = MaxArgsBytes
	recShortSize   = 40
	recExecSize    = recOffArgs + recArgsMax
	nsPerTick      = 1e9 / ticksPerSecond
	recErrStart    = 1 << 0
	recErrParent   = 1 << 1
	recErrEUID     = 1 << 2
	recErrArgs     = 1 << 3
	recErrFilename = 1 << 4
)

// bpfRecord is a decoded ring buffer record.
type bpfRecord struct {
	Kind       uint32
	TGID, PPID int32
	UID, EUID  uint32
	StartNs    uint64
	Errs       uint32
	Comm       string
	File       string // empty when it could not be read
	Args       []string
	ArgsCut    bool
}

// decodeRecord decodes one ring buffer record.
func decodeRecord(b []byte) (bpfRecord, error) {
	var r bpfRecord
	if len(b) < recShortSize {
		return r, fmt.Errorf("record of %d bytes, want at least %d: %w", len(b), recShortSize, errMalformed)
	}
	le := binary.LittleEndian
	r.Kind = le.Uint32(b[recOffKind:])
	r.TGID = int32(le.Uint32(b[recOffTGID:]))
	r.PPID = int32(le.Uint32(b[recOffPPID:]))
	r.Errs = le.Uint32(b[recOffErrs:])
	r.StartNs = le.Uint64(b[recOffStart:])
	r.UID, r.EUID = le.Uint32(b[recOffUID:]), le.Uint32(b[recOffEUID:])
	switch r.Kind {
	case recFork, recExit:
		return r, nil
	case recExec:
	default:
		return r, fmt.Errorf("record kind %d: %w", r.Kind, errMalformed)
	}
	if len(b) < recExecSize {
		return r, fmt.Errorf("exec record of %d bytes, want %d: %w", len(b), recExecSize, errMalformed)
	}
	comm := b[recOffComm : recOffComm+16]
	if i := bytes.IndexByte(comm, 0); i >= 0 {
		comm = comm[:i]
	}
	r.Comm = string(comm)
	if n := int32(le.Uint32(b[recOffFileLen:])); n > 1 && r.Errs&recErrFilename == 0 {
		f := b[recOffFile : recOffFile+min(int(n), recFileMax)]
		if i := bytes.IndexByte(f, 0); i >= 0 {
			f = f[:i]
		}
		r.File = string(f)
	}
	if n := le.Uint32(b[recOffArgsLen:]); n > 0 && r.Errs&recErrArgs == 0 {
		cut := n > recArgsMax
		r.Args, r.ArgsCut = splitArgs(b[recOffArgs:recOffArgs+min(int(n), recArgsMax)], cut)
	}
	return r, nil
}

// ticks converts a start_boottime in nanoseconds to clock ticks, as
// /proc/PID/stat counts them.
func ticks(ns uint64) uint64 { return ns / nsPerTick }
