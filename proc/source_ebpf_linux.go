package proc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// kernelOffsets are the byte offsets of the kernel structure members the
// programs read, from the running kernel's BTF.
type kernelOffsets struct {
	taskPID, taskTGID, taskRealParent, taskGroupLeader int32
	taskMM, taskCred, taskStartBoottime                int32
	mmArgStart, mmArgEnd                               int32
	credEUID                                           int32
	bprmFilename                                       int32
	// exitHasGroupDead: sched_process_exit(task, group_dead), Linux 6.16+;
	// older kernels pass the task only.
	exitHasGroupDead bool
}

func loadOffsets(path string) (kernelOffsets, error) {
	var o kernelOffsets
	var spec *btf.Spec
	var err error
	if path != "" {
		spec, err = btf.LoadSpec(path)
	} else {
		spec, err = btf.LoadKernelSpec()
	}
	if err != nil {
		return o, fmt.Errorf("%w: %w", ErrNoBTF, err)
	}
	var errs []error
	off := func(dst *int32, structName, member string) {
		v, err := memberOffset(spec, structName, member)
		errs = append(errs, err)
		*dst = v
	}
	off(&o.taskPID, "task_struct", "pid")
	off(&o.taskTGID, "task_struct", "tgid")
	off(&o.taskRealParent, "task_struct", "real_parent")
	off(&o.taskGroupLeader, "task_struct", "group_leader")
	off(&o.taskMM, "task_struct", "mm")
	off(&o.taskCred, "task_struct", "cred")
	off(&o.taskStartBoottime, "task_struct", "start_boottime")
	off(&o.mmArgStart, "mm_struct", "arg_start")
	off(&o.mmArgEnd, "mm_struct", "arg_end")
	off(&o.credEUID, "cred", "euid")
	off(&o.bprmFilename, "linux_binprm", "filename")
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("kernel structures: %w", err)
	}
	var tp *btf.Typedef
	if err := spec.TypeByName("btf_trace_sched_process_exit", &tp); err != nil {
		return o, fmt.Errorf("tracepoint sched_process_exit: %w", err)
	}
	if ptr, ok := btf.UnderlyingType(tp.Type).(*btf.Pointer); ok {
		if fp, ok := ptr.Target.(*btf.FuncProto); ok {
			// The first parameter is the tracepoint's context (void *).
			o.exitHasGroupDead = len(fp.Params) >= 3
		}
	}
	return o, nil
}

// memberOffset finds a member of a struct, looking into anonymous
// structs and unions, and returns its byte offset.
func memberOffset(spec *btf.Spec, structName, member string) (int32, error) {
	var s *btf.Struct
	if err := spec.TypeByName(structName, &s); err != nil {
		return 0, fmt.Errorf("struct %s: %w", structName, err)
	}
	var find func(members []btf.Member) (btf.Member, uint32, bool)
	find = func(members []btf.Member) (btf.Member, uint32, bool) {
		for _, m := range members {
			if m.Name == member {
				return m, m.Offset.Bytes(), true
			}
			if m.Name != "" {
				continue
			}
			var inner []btf.Member
			switch c := btf.UnderlyingType(m.Type).(type) {
			case *btf.Struct:
				inner = c.Members
			case *btf.Union:
				inner = c.Members
			}
			if f, o, ok := find(inner); ok {
				return f, m.Offset.Bytes() + o, true
			}
		}
		return btf.Member{}, 0, false
	}
	m, o, ok := find(s.Members)
	if !ok {
		return 0, fmt.Errorf("%s.%s: not in BTF", structName, member)
	}
	if m.BitfieldSize != 0 || m.Offset%8 != 0 {
		return 0, fmt.Errorf("%s.%s: a bit field", structName, member)
	}
	return int32(o), nil
}

// ebpfSource runs the three tracepoint programs. It holds every kernel
// object: cilium/ebpf closes a file descriptor when its Go object is
// garbage-collected, and a link collected that way silently detaches.
type ebpfSource struct {
	m        *Monitor
	ring     *ebpf.Map
	lostMap  *ebpf.Map
	progs    []*ebpf.Program
	links    []link.Link
	rd       *ringbuf.Reader
	syncMu   sync.Mutex
	syncReq  chan struct{} // ends the reader's pause early
	flushed  chan struct{}
	done     chan struct{}
	decodeKO atomic.Uint64
	exes     exeResolver
}

func startEBPF(m *Monitor) (src source, err error) {
	off, err := loadOffsets(m.opt.KernelBTF)
	if err != nil {
		return nil, err
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	_ = rlimit.RemoveMemlock()
	s := &ebpfSource{m: m, syncReq: make(chan struct{}, 1), flushed: make(chan struct{}, 1), done: make(chan struct{})}
	defer func() {
		if err != nil {
			s.release()
		}
	}()
	s.ring, err = ebpf.NewMap(&ebpf.MapSpec{Name: "webfim_exec", Type: ebpf.RingBuf, MaxEntries: uint32(m.opt.RingBufferBytes)})
	if err != nil {
		return nil, bpfError("creating the ring buffer", err)
	}
	s.lostMap, err = ebpf.NewMap(&ebpf.MapSpec{Name: "webfim_lost", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return nil, bpfError("creating the loss counter", err)
	}
	for _, p := range []struct {
		tracepoint string
		ins        asm.Instructions
	}{
		{"sched_process_exec", execProgram(off, s.ring.FD(), s.lostMap.FD())},
		{"sched_process_fork", forkProgram(off, s.ring.FD(), s.lostMap.FD())},
		{"sched_process_exit", exitProgram(off, s.ring.FD(), s.lostMap.FD())},
	} {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "webfim_" + p.tracepoint[len("sched_process_"):], Type: ebpf.RawTracepoint, Instructions: p.ins, License: "GPL"})
		if err != nil {
			return nil, bpfError("loading the "+p.tracepoint+" program", err)
		}
		s.progs = append(s.progs, prog)
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: p.tracepoint, Program: prog})
		if err != nil {
			return nil, bpfError("attaching to "+p.tracepoint, err)
		}
		s.links = append(s.links, l)
	}
	s.rd, err = ringbuf.NewReader(s.ring)
	if err != nil {
		return nil, bpfError("reading the ring buffer", err)
	}
	go s.read()
	return s, nil
}

func bpfError(what string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%s: %w: needs CAP_BPF and CAP_PERFMON (%v)", what, ErrPermission, err)
	}
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("%s: rejected by the kernel's verifier: %v", what, ve)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// batchPause is how long the readers wait, once their queue is empty,
// before waiting for the next event: events then come in batches, with
// one wakeup each instead of one per event. Sync does not wait for it.
const batchPause = 50 * time.Millisecond

// read applies the records until the reader is closed: it blocks for a
// record, takes every record queued after it without blocking, then
// pauses (ended early by sync) so that the next records come as a batch.
// Deadlines, not AvailableBytes, tell the queue is empty: the reader's
// lock makes them safe against Close.
func (s *ebpfSource) read() {
	defer close(s.done)
	var rec ringbuf.Record
	pause := time.NewTimer(batchPause)
	for {
		err := s.rd.ReadInto(&rec)
		switch {
		case err == nil:
			s.apply(rec.RawSample)
			s.rd.SetDeadline(time.Now())
		case errors.Is(err, ringbuf.ErrFlushed):
			select {
			case s.flushed <- struct{}{}:
			default:
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			pause.Reset(batchPause)
			select {
			case <-pause.C:
			case <-s.syncReq:
			}
			s.rd.SetDeadline(time.Time{})
		default:
			// Closed (os.ErrClosed, ringbuf.ErrClosed); reading a mapped
			// ring cannot fail otherwise.
			return
		}
	}
}

func (s *ebpfSource) apply(b []byte) {
	r, err := decodeRecord(b)
	if err != nil || r.TGID <= 0 {
		s.decodeKO.Add(1)
		return
	}
	t := s.m.table
	switch r.Kind {
	case recFork:
		var creds *[2]uint32
		if r.Errs&recErrEUID == 0 {
			creds = &[2]uint32{r.UID, r.EUID}
		}
		t.mu.Lock()
		t.fork(r.PPID, r.TGID, ticks(r.StartNs), false, s.m.fs.read, creds)
		t.mu.Unlock()
	case recExit:
		t.Exit(Key{PID: r.TGID, Start: ticks(r.StartNs)})
	case recExec:
		p := &Process{PID: r.TGID, Start: ticks(r.StartNs), PPID: r.PPID, Comm: r.Comm,
			UID: r.UID, EUID: r.EUID, Args: r.Args, ArgsTruncated: r.ArgsCut, Origin: OriginExec}
		if r.Errs&recErrEUID != 0 {
			p.EUID = p.UID
		}
		if r.Errs&recErrStart != 0 {
			p.Missing |= FieldStart
		}
		if r.Errs&recErrParent != 0 || r.PPID <= 0 {
			p.Missing |= FieldParent
		}
		if r.File == "" {
			p.Missing |= FieldExecutable
		} else {
			p.Executable = s.exes.resolve(r.File, r.TGID)
		}
		if r.Args == nil {
			p.Missing |= FieldArgs
		}
		s.m.applyExec(p)
	}
}

// sync flushes the ring buffer: the reader returns every record queued
// before the flush, then ErrFlushed.
func (s *ebpfSource) sync() {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if err := s.rd.Flush(); err != nil {
		return
	}
	select {
	case s.syncReq <- struct{}{}:
	default:
	}
	select {
	case <-s.flushed:
	case <-s.done:
	}
}

func (s *ebpfSource) lost() uint64 {
	var n uint64
	if s.lostMap == nil || s.lostMap.Lookup(uint32(0), &n) != nil {
		return 0
	}
	return n + s.decodeKO.Load()
}

func (s *ebpfSource) close() error {
	var err error
	if s.rd != nil {
		err = s.rd.Close()
		<-s.done
	}
	s.release()
	return err
}

func (s *ebpfSource) release() {
	for _, l := range s.links {
		l.Close()
	}
	for _, p := range s.progs {
		p.Close()
	}
	if s.ring != nil {
		s.ring.Close()
	}
	if s.lostMap != nil {
		s.lostMap.Close()
	}
}

// exeResolver turns the path given to execve into the executable's
// absolute path without symbolic links (what /proc/PID/exe would say),
// cached: the process has often exited by the time its record is read.
type exeResolver struct {
	cache map[string]string
}

func (r *exeResolver) resolve(file string, pid int32) string {
	if !filepath.IsAbs(file) {
		// Relative to the process's working directory, readable only while
		// it lives; else keep what execve was given.
		if cwd, err := os.Readlink(hostProc.dir(pid) + "/cwd"); err == nil {
			file = filepath.Join(cwd, file)
		} else {
			return file
		}
	}
	if real, ok := r.cache[file]; ok {
		return real
	}
	real, err := filepath.EvalSymlinks(file)
	if err != nil {
		real = file
	}
	real, _ = boundPath(real)
	if r.cache == nil || len(r.cache) >= 4096 {
		r.cache = map[string]string{}
	}
	r.cache[file] = real
	return real
}

// The programs. Registers: R6 the tracepoint context (u64 args[]), R7 the
// reserved record, R8 the task, R9 the error bits; R1-R5 are clobbered by
// helper calls. Fields are read with bpf_probe_read_kernel at offsets from
// BTF; a failed read zeroes its destination and sets an error bit,
// computed without branches: bit if r0 != 0.

// errBit ORs bit into R9 when R0 (a helper's result) is not zero.
func errBit(bit int32) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.Neg.Imm(asm.R1, 0),
		asm.Or.Reg(asm.R1, asm.R0),
		asm.RSh.Imm(asm.R1, 63), // 1 when R0 != 0
		asm.Mul.Imm(asm.R1, bit),
		asm.Or.Reg(asm.R9, asm.R1),
	}
}

// readKernel copies size bytes from *(srcReg)+srcOff to dst+dstOff.
func readKernel(dst asm.Register, dstOff int32, size int32, src asm.Register, srcOff int32, bit int32) asm.Instructions {
	ins := asm.Instructions{
		asm.Mov.Reg(asm.R1, dst), asm.Add.Imm(asm.R1, dstOff),
		asm.Mov.Imm(asm.R2, size),
		asm.Mov.Reg(asm.R3, src), asm.Add.Imm(asm.R3, srcOff),
		asm.FnProbeReadKernel.Call(),
	}
	return append(ins, errBit(bit)...)
}

// readPointer reads the pointer at src+srcOff into the stack slot fp-8
// and into R4.
func readPointer(src asm.Register, srcOff int32, bit int32) asm.Instructions {
	ins := readKernel(asm.RFP, -8, 8, src, srcOff, bit)
	return append(ins, asm.LoadMem(asm.R4, asm.RFP, -8, asm.DWord))
}

// reserve reserves size bytes of the ring into R7, or jumps to "lost".
func reserve(ringFD int, size int32) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapPtr(asm.R1, ringFD),
		asm.Mov.Imm(asm.R2, size),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JEq.Imm(asm.R0, 0, "lost"),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.Mov.Imm(asm.R9, 0),
	}
}

// submit stores the error bits and submits the record; then the shared
// tail: "lost" counts a failed reservation, "out" returns 0.
func submit(lostFD int) asm.Instructions {
	return asm.Instructions{
		asm.StoreMem(asm.R7, recOffErrs, asm.R9, asm.Word),
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRingbufSubmit.Call(),
		asm.Ja.Label("out"),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word).WithSymbol("lost"),
		asm.LoadMapPtr(asm.R1, lostFD),
		asm.Mov.Reg(asm.R2, asm.RFP), asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	}
}

// shortFields zeroes the fields a fork or exit record does not use.
func shortFields() asm.Instructions {
	var ins asm.Instructions
	for off := int16(recOffUID); off < recOffErrs; off += 4 {
		ins = append(ins, asm.StoreImm(asm.R7, off, 0, asm.Word))
	}
	return ins
}

// execProgram: sched_process_exec(task, old_pid, bprm), current == task.
func execProgram(o kernelOffsets, ringFD, lostFD int) asm.Instructions {
	ins := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R8, asm.R6, 0, asm.DWord),
	}
	ins = append(ins, reserve(ringFD, recExecSize)...)
	ins = append(ins,
		asm.StoreImm(asm.R7, recOffKind, recExec, asm.Word),
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.StoreMem(asm.R7, recOffTGID, asm.R0, asm.Word),
		asm.FnGetCurrentUidGid.Call(),
		asm.StoreMem(asm.R7, recOffUID, asm.R0, asm.Word),
	)
	ins = append(ins, readKernel(asm.R7, recOffStart, 8, asm.R8, o.taskStartBoottime, recErrStart)...)
	// ppid = task->real_parent->tgid
	ins = append(ins, readPointer(asm.R8, o.taskRealParent, recErrParent)...)
	ins = append(ins, readKernel(asm.R7, recOffPPID, 4, asm.R4, o.taskTGID, recErrParent)...)
	// euid = task->cred->euid
	ins = append(ins, readPointer(asm.R8, o.taskCred, recErrEUID)...)
	ins = append(ins, readKernel(asm.R7, recOffEUID, 4, asm.R4, o.credEUID, recErrEUID)...)
	// filename = *bprm->filename
	ins = append(ins, asm.LoadMem(asm.R5, asm.R6, 16, asm.DWord))
	ins = append(ins, readPointer(asm.R5, o.bprmFilename, recErrFilename)...)
	ins = append(ins,
		asm.Mov.Reg(asm.R1, asm.R7), asm.Add.Imm(asm.R1, recOffFile),
		asm.Mov.Imm(asm.R2, recFileMax),
		asm.Mov.Reg(asm.R3, asm.R4),
		asm.FnProbeReadKernelStr.Call(),
		asm.StoreMem(asm.R7, recOffFileLen, asm.R0, asm.Word),
		// comm
		asm.Mov.Reg(asm.R1, asm.R7), asm.Add.Imm(asm.R1, recOffComm),
		asm.Mov.Imm(asm.R2, 16),
		asm.FnGetCurrentComm.Call(),
		asm.StoreImm(asm.R7, recOffArgsLen, 0, asm.Word),
	)
	// args: task->mm->arg_start .. arg_end, at most recArgsMax bytes.
	ins = append(ins, readPointer(asm.R8, o.taskMM, recErrArgs)...)
	ins = append(ins, readKernel(asm.RFP, -16, 8, asm.R4, o.mmArgStart, recErrArgs)...)
	ins = append(ins, asm.LoadMem(asm.R4, asm.RFP, -8, asm.DWord))
	ins = append(ins, readKernel(asm.RFP, -24, 8, asm.R4, o.mmArgEnd, recErrArgs)...)
	ins = append(ins,
		asm.LoadMem(asm.R2, asm.RFP, -24, asm.DWord),
		asm.LoadMem(asm.R3, asm.RFP, -16, asm.DWord),
		asm.Sub.Reg(asm.R2, asm.R3),
		asm.JSLT.Imm(asm.R2, 1, "done"),
		asm.StoreMem(asm.R7, recOffArgsLen, asm.R2, asm.Word),
		asm.JLE.Imm(asm.R2, recArgsMax, "readargs"),
		asm.Mov.Imm(asm.R2, recArgsMax),
		asm.Mov.Reg(asm.R1, asm.R7).WithSymbol("readargs"),
		asm.Add.Imm(asm.R1, recOffArgs),
		asm.FnProbeReadUser.Call(),
	)
	ins = append(ins, errBit(recErrArgs)...)
	done := submit(lostFD)
	done[0] = done[0].WithSymbol("done")
	return append(ins, done...)
}

// forkProgram: sched_process_fork(parent, child), current == parent.
// Threads (child pid != child tgid) are skipped.
func forkProgram(o kernelOffsets, ringFD, lostFD int) asm.Instructions {
	ins := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R8, asm.R6, 8, asm.DWord),
		asm.Mov.Imm(asm.R9, 0),
	}
	ins = append(ins, readKernel(asm.RFP, -16, 4, asm.R8, o.taskPID, 1)...)
	ins = append(ins, readKernel(asm.RFP, -12, 4, asm.R8, o.taskTGID, 1)...)
	ins = append(ins,
		asm.LoadMem(asm.R1, asm.RFP, -16, asm.Word),
		asm.LoadMem(asm.R2, asm.RFP, -12, asm.Word),
		asm.JNE.Reg(asm.R1, asm.R2, "out"),
	)
	ins = append(ins, reserve(ringFD, recShortSize)...)
	ins = append(ins, shortFields()...)
	ins = append(ins,
		asm.StoreImm(asm.R7, recOffKind, recFork, asm.Word),
		asm.LoadMem(asm.R1, asm.RFP, -12, asm.Word),
		asm.StoreMem(asm.R7, recOffTGID, asm.R1, asm.Word),
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.StoreMem(asm.R7, recOffPPID, asm.R0, asm.Word),
	)
	ins = append(ins, readKernel(asm.R7, recOffStart, 8, asm.R8, o.taskStartBoottime, recErrStart)...)
	// The forking process's uids now: a web server worker forked by a root
	// parent calls setuid without exec, and only its children show it.
	ins = append(ins,
		asm.FnGetCurrentUidGid.Call(),
		asm.StoreMem(asm.R7, recOffUID, asm.R0, asm.Word),
		asm.LoadMem(asm.R8, asm.R6, 0, asm.DWord),
	)
	ins = append(ins, readPointer(asm.R8, o.taskCred, recErrEUID)...)
	ins = append(ins, readKernel(asm.R7, recOffEUID, 4, asm.R4, o.credEUID, recErrEUID)...)
	return append(ins, submit(lostFD)...)
}

// exitProgram: sched_process_exit(task[, group_dead]), current == task.
// Only the exit of the whole thread group is recorded.
func exitProgram(o kernelOffsets, ringFD, lostFD int) asm.Instructions {
	ins := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
	if o.exitHasGroupDead {
		ins = append(ins,
			asm.LoadMem(asm.R2, asm.R6, 8, asm.DWord),
			asm.And.Imm(asm.R2, 0xff),
			asm.JEq.Imm(asm.R2, 0, "out"),
		)
	} else {
		ins = append(ins,
			asm.FnGetCurrentPidTgid.Call(),
			asm.Mov.Reg(asm.R1, asm.R0),
			asm.LSh.Imm(asm.R1, 32),
			asm.RSh.Imm(asm.R1, 32),
			asm.RSh.Imm(asm.R0, 32),
			asm.JNE.Reg(asm.R0, asm.R1, "out"),
		)
	}
	ins = append(ins, asm.LoadMem(asm.R8, asm.R6, 0, asm.DWord))
	ins = append(ins, reserve(ringFD, recShortSize)...)
	ins = append(ins, shortFields()...)
	ins = append(ins,
		asm.StoreImm(asm.R7, recOffKind, recExit, asm.Word),
		asm.StoreImm(asm.R7, recOffPPID, 0, asm.Word),
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.StoreMem(asm.R7, recOffTGID, asm.R0, asm.Word),
	)
	// The process's start time is its group leader's.
	ins = append(ins, readPointer(asm.R8, o.taskGroupLeader, recErrStart)...)
	ins = append(ins, readKernel(asm.R7, recOffStart, 8, asm.R4, o.taskStartBoottime, recErrStart)...)
	return append(ins, submit(lostFD)...)
}
