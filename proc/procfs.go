package proc

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// procfs reads processes from a /proc file system (its root is a
// parameter so tests can use a fake tree). Its methods are Linux-only.
type procfs struct {
	root string
}

// errMalformed is wrapped by the /proc parsers for content they cannot
// read.
var errMalformed = errors.New("malformed")

// statInfo is what the process needs from /proc/PID/stat.
type statInfo struct {
	Comm  string
	PPID  int32
	Start uint64 // clock ticks since boot
}

// parseStat reads /proc/PID/stat: "pid (comm) state ppid ... starttime ...".
// The comm may hold spaces and parentheses: it ends at the last ')'.
func parseStat(b []byte) (statInfo, error) {
	var s statInfo
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return s, fmt.Errorf("stat: no (comm): %w", errMalformed)
	}
	s.Comm = string(b[open+1 : end])
	f := bytes.Fields(b[end+1:])
	// f[0] is field 3 (state): ppid is field 4, starttime field 22.
	if len(f) < 20 {
		return s, fmt.Errorf("stat: %d fields after comm, want 20: %w", len(f), errMalformed)
	}
	ppid, err := strconv.ParseInt(string(f[1]), 10, 32)
	if err != nil {
		return s, fmt.Errorf("stat: ppid: %w", errMalformed)
	}
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return s, fmt.Errorf("stat: starttime: %w", errMalformed)
	}
	s.PPID, s.Start = int32(ppid), start
	return s, nil
}

// statusInfo is what the process needs from /proc/PID/status.
type statusInfo struct {
	Name      string
	PPID      int32
	UID, EUID uint32
	HasUID    bool
}

// parseStatus reads the Name, PPid and Uid lines of /proc/PID/status.
func parseStatus(b []byte) (statusInfo, error) {
	var s statusInfo
	var havePPID bool
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		key, val, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		val = bytes.TrimSpace(val)
		switch string(key) {
		case "Name":
			s.Name = unescapeStatusName(val)
		case "PPid":
			v, err := strconv.ParseInt(string(val), 10, 32)
			if err != nil {
				return s, fmt.Errorf("status: PPid %q: %w", val, errMalformed)
			}
			s.PPID, havePPID = int32(v), true
		case "Uid":
			f := bytes.Fields(val)
			if len(f) < 2 {
				return s, fmt.Errorf("status: Uid %q: %w", val, errMalformed)
			}
			r, err1 := strconv.ParseUint(string(f[0]), 10, 32)
			e, err2 := strconv.ParseUint(string(f[1]), 10, 32)
			if err1 != nil || err2 != nil {
				return s, fmt.Errorf("status: Uid %q: %w", val, errMalformed)
			}
			s.UID, s.EUID, s.HasUID = uint32(r), uint32(e), true
		}
	}
	if !havePPID {
		return s, fmt.Errorf("status: no PPid line: %w", errMalformed)
	}
	return s, nil
}

// unescapeStatusName undoes the kernel's escaping of the Name line
// (backslash as "\\\\", newline as "\\n").
func unescapeStatusName(v []byte) string {
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v)
	}
	var out []byte
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			switch v[i+1] {
			case '\\':
				out = append(out, '\\')
				i++
				continue
			case 'n':
				out = append(out, '\n')
				i++
				continue
			}
		}
		out = append(out, v[i])
	}
	return string(out)
}
