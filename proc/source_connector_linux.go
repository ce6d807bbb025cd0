package proc

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// connectorSource reads the netlink process connector. Every read of the
// socket happens under mu and applies its events before releasing it, so
// sync (which drains the socket under mu) returns only when every queued
// event is in the table.
type connectorSource struct {
	m       *Monitor
	fd      int
	wake    int // eventfd: ends the reader's poll
	mu      sync.Mutex
	buf     []byte
	done    chan struct{}
	lostN   atomic.Uint64
	bootOff int64 // CLOCK_BOOTTIME - CLOCK_MONOTONIC
	closed  atomic.Bool
}

func startConnector(m *Monitor) (src source, err error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, connectorError("socket", err)
	}
	s := &connectorSource{m: m, fd: fd, wake: -1, buf: make([]byte, 64<<10), done: make(chan struct{}), bootOff: monotonicToBoot()}
	defer func() {
		if err != nil {
			unix.Close(s.fd)
			if s.wake >= 0 {
				unix.Close(s.wake)
			}
		}
	}()
	// A large buffer absorbs exec storms; the forced size needs
	// CAP_NET_ADMIN, the plain one is capped by net.core.rmem_max.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		return nil, connectorError("bind", err)
	}
	if err := unix.Sendto(fd, connectorControl(cnMcastListen, 1), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, connectorError("subscribe", err)
	}
	if err := s.awaitAck(); err != nil {
		return nil, err
	}
	if s.wake, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	go s.read()
	return s, nil
}

func connectorError(what string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("process connector: %s: %w: needs the initial user and pid namespaces (%v)", what, ErrPermission, err)
	}
	if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("process connector: %s: %w (kernel without CONFIG_PROC_EVENTS)", what, err)
	}
	return fmt.Errorf("process connector: %s: %w", what, err)
}

// awaitAck waits up to a second for the kernel's answer to the
// subscription: an error there (EPERM in a container) means no events.
func (s *connectorSource) awaitAck() error {
	pfd := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
	for range 10 {
		if n, err := unix.Poll(pfd, 100); err != nil && err != unix.EINTR {
			return connectorError("poll", err)
		} else if n == 0 {
			continue
		}
		var ack *cnEvent
		err := s.drain(func(e cnEvent) {
			if e.What == cnEventNone && ack == nil {
				ack = &e
			}
		})
		if err != nil {
			return connectorError("receive", err)
		}
		if ack != nil {
			if ack.AckErr != 0 {
				return connectorError("subscribe", syscall.Errno(ack.AckErr))
			}
			return nil
		}
	}
	return nil // old kernels do not acknowledge; events will tell
}

// read waits for data and drains it under mu, until closed.
func (s *connectorSource) read() {
	defer close(s.done)
	pfd := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}, {Fd: int32(s.wake), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(pfd, -1)
		if s.closed.Load() {
			return
		}
		if err != nil && err != unix.EINTR {
			return
		}
		if pfd[0].Revents != 0 {
			s.mu.Lock()
			err := s.drain(s.apply)
			s.mu.Unlock()
			if err != nil && !errors.Is(err, errMalformed) {
				return
			}
			// No pause here, unlike eBPF: /proc must be read as soon as
			// an exec arrives, before the process exits.
		}
	}
}

// drain reads the socket until it is empty (or 4,096 datagrams, so that
// an exec storm cannot hold sync forever), passing events to emit.
// ENOBUFS (the kernel dropped events) requests a rebuild from /proc.
func (s *connectorSource) drain(emit func(cnEvent)) error {
	for range 4096 {
		n, _, err := unix.Recvfrom(s.fd, s.buf, 0)
		switch {
		case err == unix.EAGAIN:
			return nil
		case err == unix.EINTR:
			continue
		case err == unix.ENOBUFS:
			s.lostN.Add(1)
			s.m.requestRebuild()
			continue
		case err != nil:
			return err
		}
		if err := decodeConnector(s.buf[:n], emit); err != nil {
			s.lostN.Add(1)
		}
	}
	return nil
}

func (s *connectorSource) apply(e cnEvent) {
	t := s.m.table
	switch e.What {
	case cnEventFork:
		if e.PID != e.TGID {
			return // a thread
		}
		start := ticks(uint64(int64(e.TsNs) + s.bootOff))
		t.mu.Lock()
		t.fork(e.ParentTGID, e.TGID, start, true, s.m.fs.read, nil)
		t.mu.Unlock()
	case cnEventExec:
		s.m.applyExec(s.readExec(e))
	case cnEventUID:
		if e.PID != e.TGID {
			return
		}
		if p := t.Lookup(e.TGID); p != nil {
			t.SetUser(p.Key(), e.UID, e.EUID)
		}
	case cnEventExit:
		if e.PID == e.TGID {
			t.ExitPID(e.TGID)
		}
	}
}

// readExec reads what /proc still shows of a process that just exec'd.
// A process that already exited but is not reaped keeps its status (comm,
// uids, parent) while its exe link and command line are gone; one that is
// reaped keeps only what the table knew from its fork.
func (s *connectorSource) readExec(e cnEvent) *Process {
	fs := s.m.fs
	if st, err := fs.stat(e.TGID); err == nil {
		return fs.readDetails(e.TGID, st, OriginConnectorExec)
	}
	p := &Process{PID: e.TGID, Origin: OriginConnectorExec, Missing: FieldExecutable | FieldArgs | FieldUser | FieldComm}
	if prev := s.m.table.Lookup(e.TGID); prev != nil {
		p.Start, p.PPID = prev.Start, prev.PPID
		p.Missing |= prev.Missing & FieldStart
	} else {
		p.Start = ticks(uint64(int64(e.TsNs) + s.bootOff))
		p.Missing |= FieldStart | FieldParent
	}
	return p
}

func (s *connectorSource) sync() {
	if s.closed.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drain(s.apply)
}

func (s *connectorSource) lost() uint64 { return s.lostN.Load() }

func (s *connectorSource) close() error {
	if s.closed.Swap(true) {
		return nil
	}
	_ = unix.Sendto(s.fd, connectorControl(cnMcastIgnore, 2), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
	var one [8]byte
	one[0] = 1
	_, _ = unix.Write(s.wake, one[:])
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	unix.Close(s.wake)
	return unix.Close(s.fd)
}
