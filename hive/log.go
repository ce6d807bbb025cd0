package hive

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// LogFile is a transaction log found next to a hive (HIVE.LOG, .LOG1,
// .LOG2).
type LogFile struct {
	Name string `json:"name"` // the file name
	Size int64  `json:"size"`
	// Format is "new" (Windows 8.1 and later: log entries), "old" (a
	// dirty vector), or "" when the log is empty or unreadable.
	Format string `json:"format,omitempty"`
	// Pending is set when the log holds changes the primary file does
	// not have; Sequence is then the sequence number they start at (new
	// format).
	Pending  bool   `json:"pending"`
	Sequence uint32 `json:"sequence,omitempty"`
	Err      string `json:"error,omitempty"`
}

// LogState is what [CheckLogs] found about the transaction logs of a hive.
type LogState struct {
	Header Header    `json:"-"`
	Logs   []LogFile `json:"logs,omitempty"`
}

// Stale reports whether the primary file may not hold the hive's last
// changes: it is dirty, or a log holds changes not yet written to it.
func (s LogState) Stale() bool {
	if s.Header.Dirty() {
		return true
	}
	for _, l := range s.Logs {
		if l.Pending {
			return true
		}
	}
	return false
}

// Problem says in one sentence why what was read from the primary file may
// be stale, or "" when it is not.
func (s LogState) Problem() string {
	var pending []string
	for _, l := range s.Logs {
		if l.Pending {
			pending = append(pending, l.Name)
		}
	}
	hd := s.Header
	switch {
	case hd.Dirty() && len(pending) > 0:
		return fmt.Sprintf("dirty hive (%s): its last changes are in %s, which webfim does not replay; values read may be stale",
			dirtyWhy(hd), strings.Join(pending, ", "))
	case hd.Dirty():
		return fmt.Sprintf("dirty hive (%s) and no transaction log holding its last changes was found next to it; values read may be stale", dirtyWhy(hd))
	case len(pending) > 0:
		return fmt.Sprintf("%s hold%s changes not yet written to the hive (Windows writes it lazily), which webfim does not replay; values read may be stale",
			strings.Join(pending, ", "), map[bool]string{true: "", false: "s"}[len(pending) > 1])
	}
	return ""
}

func dirtyWhy(hd Header) string {
	if hd.PrimarySequence != hd.SecondarySequence {
		return fmt.Sprintf("sequence numbers %d and %d differ", hd.PrimarySequence, hd.SecondarySequence)
	}
	return "header checksum mismatch"
}

// CheckLogs looks for the transaction logs of the hive file at path (file
// names compared case-insensitively) and reads their headers to tell
// whether they hold changes the primary file, whose header is hd, lacks.
// It never replays them.
func CheckLogs(hd Header, path string) LogState {
	st := LogState{Header: hd}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return st
	}
	for _, suffix := range []string{".LOG", ".LOG1", ".LOG2"} {
		for _, e := range ents {
			if !strings.EqualFold(e.Name(), base+suffix) {
				continue
			}
			st.Logs = append(st.Logs, readLog(hd, filepath.Join(dir, e.Name())))
			break
		}
	}
	return st
}

func readLog(hd Header, path string) LogFile {
	l := LogFile{Name: filepath.Base(path)}
	fi, err := os.Lstat(path)
	if err != nil {
		l.Err = err.Error()
		return l
	}
	if !fi.Mode().IsRegular() {
		l.Err = "not a regular file"
		return l
	}
	l.Size = fi.Size()
	if l.Size == 0 {
		return l
	}
	f, err := os.Open(path)
	if err != nil {
		l.Err = err.Error()
		return l
	}
	defer f.Close()
	var b [0x200 + 16]byte
	n, err := f.ReadAt(b[:], 0)
	if err != nil && err != io.EOF {
		l.Err = err.Error()
		return l
	}
	if n < 0x200 || string(b[0:4]) != "regf" {
		l.Err = "no \"regf\" base block at its start"
		return l
	}
	le := binary.LittleEndian
	switch ft := le.Uint32(b[0x1c:]); ft {
	case 6:
		l.Format = "new"
		if n >= 0x200+16 && string(b[0x200:0x204]) == "HvLE" {
			seq := le.Uint32(b[0x200+12:])
			// Entries from the primary's secondary sequence number on
			// have not been written to it.
			if seq >= hd.SecondarySequence {
				l.Pending, l.Sequence = true, seq
			}
		}
	case 1, 2:
		l.Format = "old"
		complete := le.Uint32(b[4:]) == le.Uint32(b[8:])
		if n >= 0x204 && string(b[0x200:0x204]) == "DIRT" && complete && hd.Dirty() {
			l.Pending = true
		}
	default:
		l.Err = fmt.Sprintf("unknown log file type %d", ft)
	}
	return l
}
