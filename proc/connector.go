package proc

import (
	"encoding/binary"
	"fmt"
)

// The netlink process connector's messages (linux/cn_proc.h).
const (
	cnIdxProc     = 1
	cnValProc     = 1
	cnMcastListen = 1
	cnMcastIgnore = 2

	cnEventNone = 0x0
	cnEventFork = 0x1
	cnEventExec = 0x2
	cnEventUID  = 0x4
	cnEventExit = 0x80000000

	nlmsgHeaderLen = 16
	cnMsgHeaderLen = 20
	cnEventDataOff = 16 // what, cpu, timestamp_ns
)

// cnEvent is one decoded process connector event.
type cnEvent struct {
	What       uint32
	TsNs       uint64 // CLOCK_MONOTONIC
	PID, TGID  int32  // the process (fork: the child)
	ParentTGID int32  // fork only
	UID, EUID  uint32 // uid change only
	AckErr     uint32 // none (an acknowledgement) only: an errno
}

// decodeConnector decodes the netlink messages of one datagram, calling
// emit for each event. Unknown event types are skipped; a malformed
// message ends the datagram with an error.
func decodeConnector(b []byte, emit func(cnEvent)) error {
	le := binary.LittleEndian
	for len(b) >= nlmsgHeaderLen {
		n := int(le.Uint32(b))
		if n < nlmsgHeaderLen || n > len(b) {
			return fmt.Errorf("netlink message length %d of %d bytes: %w", n, len(b), errMalformed)
		}
		msg := b[nlmsgHeaderLen:n]
		if aligned := (n + 3) &^ 3; aligned < len(b) {
			b = b[aligned:]
		} else {
			b = nil
		}
		if len(msg) < cnMsgHeaderLen+cnEventDataOff {
			continue
		}
		if le.Uint32(msg) != cnIdxProc || le.Uint32(msg[4:]) != cnValProc {
			continue
		}
		ev := msg[cnMsgHeaderLen:]
		d := ev[cnEventDataOff:]
		u := func(i int) (uint32, bool) {
			if len(d) < 4*(i+1) {
				return 0, false
			}
			return le.Uint32(d[4*i:]), true
		}
		e := cnEvent{What: le.Uint32(ev), TsNs: le.Uint64(ev[8:])}
		var ok bool
		switch e.What {
		case cnEventNone:
			e.AckErr, ok = u(0)
		case cnEventFork:
			pt, ok1 := u(1)
			cp, ok2 := u(2)
			ct, ok3 := u(3)
			e.ParentTGID, e.PID, e.TGID, ok = int32(pt), int32(cp), int32(ct), ok1 && ok2 && ok3
		case cnEventExec:
			p, ok1 := u(0)
			t, ok2 := u(1)
			e.PID, e.TGID, ok = int32(p), int32(t), ok1 && ok2
		case cnEventUID:
			p, ok1 := u(0)
			t, ok2 := u(1)
			r, ok3 := u(2)
			eu, ok4 := u(3)
			e.PID, e.TGID, e.UID, e.EUID, ok = int32(p), int32(t), r, eu, ok1 && ok2 && ok3 && ok4
		case cnEventExit:
			p, ok1 := u(0)
			t, ok2 := u(1)
			e.PID, e.TGID, ok = int32(p), int32(t), ok1 && ok2
		default:
			continue
		}
		if !ok {
			return fmt.Errorf("process connector event %#x: short: %w", e.What, errMalformed)
		}
		emit(e)
	}
	return nil
}

// connectorControl is the message that starts (cnMcastListen) or stops
// (cnMcastIgnore) the kernel's reports to this socket.
func connectorControl(op uint32, seq uint32) []byte {
	le := binary.LittleEndian
	const size = nlmsgHeaderLen + cnMsgHeaderLen + 4
	b := make([]byte, size)
	le.PutUint32(b[0:], size)
	le.PutUint16(b[4:], 0x3) // NLMSG_DONE
	le.PutUint32(b[8:], seq)
	le.PutUint32(b[16:], cnIdxProc)
	le.PutUint32(b[20:], cnValProc)
	le.PutUint32(b[24:], seq)
	le.PutUint16(b[32:], 4)
	le.PutUint32(b[36:], op)
	return b
}
