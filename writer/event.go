package writer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// fanotify's event masks and records (linux/fanotify.h); defined here so
// that the decoder is portable and fuzzed everywhere.
const (
	maskModify     = 0x00000002
	maskCloseWrite = 0x00000008
	maskMovedFrom  = 0x00000040
	maskMovedTo    = 0x00000080
	maskCreate     = 0x00000100
	maskDelete     = 0x00000200
	maskOverflow   = 0x00004000
	maskRename     = 0x10000000
	maskOnDir      = 0x40000000

	metadataLen = 24 // struct fanotify_event_metadata

	infoFID         = 1
	infoDFIDName    = 2
	infoDFID        = 3
	infoOldDFIDName = 10
	infoNewDFIDName = 12
)

var errMalformed = errors.New("malformed fanotify event")

// handleName is a directory's file handle and a name in it. handle and
// name point into the buffer the event was read into: valid only while
// the event is handled.
type handleName struct {
	fsid       [8]byte
	handleType int32
	handle     []byte
	name       []byte
}

// appendKey appends what identifies the directory (for the path cache).
func (h *handleName) appendKey(b []byte) []byte {
	b = append(b, h.fsid[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(h.handleType))
	return append(b, h.handle...)
}

// rawEvent is one event as read, before its paths are resolved; its
// handles point into the read buffer.
type rawEvent struct {
	mask     uint64
	pid      int32
	fd       int32       // FAN_NOFD with FID reporting; closed by the reader otherwise
	dir      *handleName // DFID_NAME: the directory and the name
	old, new *handleName // FAN_RENAME: former and new directory and name
}

// parseEvents decodes a buffer read from a fanotify descriptor.
func parseEvents(buf []byte, emit func(rawEvent)) error {
	le := binary.LittleEndian
	for len(buf) > 0 {
		if len(buf) < metadataLen {
			return fmt.Errorf("%d trailing bytes: %w", len(buf), errMalformed)
		}
		evLen := int(le.Uint32(buf))
		metaLen := int(le.Uint16(buf[6:]))
		if evLen < metadataLen || evLen > len(buf) || metaLen < metadataLen || metaLen > evLen {
			return fmt.Errorf("event length %d, metadata %d, of %d bytes: %w", evLen, metaLen, len(buf), errMalformed)
		}
		ev := rawEvent{mask: le.Uint64(buf[8:]), fd: int32(le.Uint32(buf[16:])), pid: int32(le.Uint32(buf[20:]))}
		info := buf[metaLen:evLen]
		buf = buf[evLen:]
		for len(info) > 0 {
			if len(info) < 4 {
				return fmt.Errorf("info header of %d bytes: %w", len(info), errMalformed)
			}
			typ, n := info[0], int(le.Uint16(info[2:]))
			if n < 4 || n > len(info) {
				return fmt.Errorf("info record length %d of %d: %w", n, len(info), errMalformed)
			}
			body := info[4:n]
			info = info[n:]
			switch typ {
			case infoDFIDName, infoOldDFIDName, infoNewDFIDName:
				h, err := parseHandleName(body)
				if err != nil {
					return err
				}
				switch typ {
				case infoDFIDName:
					ev.dir = h
				case infoOldDFIDName:
					ev.old = h
				default:
					ev.new = h
				}
			}
		}
		emit(ev)
	}
	return nil
}

// parseHandleName decodes fsid, struct file_handle and a NUL-terminated
// name.
func parseHandleName(b []byte) (*handleName, error) {
	le := binary.LittleEndian
	if len(b) < 16 {
		return nil, fmt.Errorf("file handle record of %d bytes: %w", len(b), errMalformed)
	}
	h := &handleName{}
	copy(h.fsid[:], b[:8])
	size := int(le.Uint32(b[8:]))
	h.handleType = int32(le.Uint32(b[12:]))
	if size > len(b)-16 || size > 128 { // MAX_HANDLE_SZ
		return nil, fmt.Errorf("file handle of %d bytes: %w", size, errMalformed)
	}
	h.handle = b[16 : 16+size]
	rest := b[16+size:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		return nil, fmt.Errorf("name without NUL: %w", errMalformed)
	}
	h.name = rest[:i]
	return h, nil
}
