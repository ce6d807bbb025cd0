package indicators

import "bytes"

// Scanner scans one file at a time as its bytes stream past: it is an
// [io.Writer] to feed with the chunks a hashing loop reads, so a file is
// read once for both. Its memory is bounded by the engine's MaxBytes plus
// TailBytes whatever the file's size, and the matching (in
// [Scanner.Result], or in the Write that brings a whole file, see
// [Scanner.ResetSize]) is linear in what was kept. A Scanner is reused
// across files ([Scanner.Reset]) and must not be shared between
// goroutines.
//
//	s := engine.NewScanner()
//	for each file {
//		s.Reset(indicators.FamilyOf(name))
//		... for each chunk: hash.Write(chunk); s.Write(chunk) ...
//		res := s.Result()
//	}
//
// A caller that knows the file's size (from fstat) says so with
// [Scanner.ResetSize]: a file that then comes in one Write, the common
// case for scripts, is scanned right there without being copied.
type Scanner struct {
	e   *Engine
	fam Family
	// off: not a script (or FamilyNone and the sniffed prefix said
	// so): bytes are counted, not kept.
	off     bool
	sniffed bool
	head    []byte // the first maxBytes bytes
	tail    []byte // ring buffer of the last tailBytes bytes after head
	tailPos int    // next write position in tail
	tailLen int
	total   int64
	// newlines seen after head (the tail's line numbers need them)
	linesAfterHead int64
	// size announced by ResetSize (-1: unknown); inPlace: the file came
	// whole in the first Write and was scanned there (a.hits hold the
	// result).
	size    int64
	inPlace bool
	a       analysis
}

// NewScanner returns a Scanner using e's settings.
func (e *Engine) NewScanner() *Scanner {
	return &Scanner{e: e}
}

// Reset starts a new file of family fam. With [FamilyNone] the scanner
// sniffs the first [SniffLen] bytes ([Sniff]) and scans the file only if
// they look like a script.
func (s *Scanner) Reset(fam Family) { s.ResetSize(fam, -1) }

// ResetSize is [Scanner.Reset] for a file of size bytes. When the first
// Write brings exactly size bytes (and size is within the engine's
// MaxBytes), they are scanned in place instead of copied. If more bytes
// follow (the file grew after the caller's stat), they are counted, not
// scanned, and the result says Truncated: a caller that re-reads a file
// that changed under it, as the hashing pass does, calls ResetSize again
// for the new read.
func (s *Scanner) ResetSize(fam Family, size int64) {
	s.size = size
	s.inPlace = false
	s.fam = fam
	s.off = false
	s.sniffed = fam == FamilyNone
	s.head = s.head[:0]
	s.tailPos, s.tailLen = 0, 0
	s.total = 0
	s.linesAfterHead = 0
}

// NotScript reports whether the file was found not to be a script (given
// as FamilyNone, and its first bytes did not sniff as one): the rest of it
// need not be written.
func (s *Scanner) NotScript() bool { return s.off }

// Write consumes the next bytes of the file. It never fails and keeps no
// reference to p.
func (s *Scanner) Write(p []byte) (int, error) {
	n := len(p)
	if s.total == 0 && n > 0 && int64(n) == s.size && n <= s.e.maxBytes && !s.off {
		s.total = int64(n)
		s.scanInPlace(p)
		return n, nil
	}
	s.total += int64(n)
	if s.off || s.inPlace {
		return n, nil
	}
	if room := s.e.maxBytes - len(s.head); room > 0 {
		k := min(room, len(p))
		if cap(s.head)-len(s.head) < k {
			// Grow within maxBytes: the buffer never exceeds the limit.
			grown := make([]byte, len(s.head), min(s.e.maxBytes, max(2*cap(s.head), len(s.head)+k, 64<<10)))
			copy(grown, s.head)
			s.head = grown
		}
		s.head = append(s.head, p[:k]...)
		p = p[k:]
		if s.fam == FamilyNone && len(s.head) >= SniffLen {
			s.decide()
			if s.off {
				return n, nil
			}
		}
	}
	if len(p) == 0 {
		return n, nil
	}
	s.linesAfterHead += int64(bytes.Count(p, newline))
	if s.e.tailBytes == 0 {
		return n, nil
	}
	if s.tail == nil {
		s.tail = make([]byte, s.e.tailBytes)
	}
	if len(p) >= len(s.tail) {
		copy(s.tail, p[len(p)-len(s.tail):])
		s.tailPos, s.tailLen = 0, len(s.tail)
		return n, nil
	}
	k := copy(s.tail[s.tailPos:], p)
	copy(s.tail, p[k:])
	s.tailPos = (s.tailPos + len(p)) % len(s.tail)
	s.tailLen = min(s.tailLen+len(p), len(s.tail))
	return n, nil
}

var newline = []byte{'\n'}

// scanInPlace scans p, the whole file, without copying it.
func (s *Scanner) scanInPlace(p []byte) {
	if s.fam == FamilyNone {
		if s.fam = Sniff(p); s.fam == FamilyNone {
			s.off = true
			return
		}
	}
	s.inPlace = true
	s.a.reset(s.e, s.fam)
	s.a.scanRegion(p, 1)
}

// decide sniffs the family of a file given as FamilyNone.
func (s *Scanner) decide() {
	s.fam = Sniff(s.head)
	if s.fam == FamilyNone {
		s.off = true
		s.head = s.head[:0]
	}
}

// Result scans what was kept of the file (unless it was scanned in
// place) and returns the verdict. Call it once per file, after the last
// Write.
func (s *Scanner) Result() Result {
	if s.fam == FamilyNone && !s.off {
		s.decide()
	}
	r := Result{Family: s.fam, Size: s.total, Sniffed: s.sniffed && s.fam != FamilyNone}
	if s.off || s.fam == FamilyNone {
		r.Family = FamilyNone
		return r
	}
	a := &s.a
	if s.inPlace {
		r.Truncated = s.total > s.size
		return s.finish(r)
	}
	a.reset(s.e, s.fam)
	a.scanRegion(s.head, 1)
	if s.total > int64(len(s.head)) {
		r.Truncated = true
		if s.tailLen > 0 {
			// Linearise the ring; the tail starts after the head (it
			// may start mid-line: its first line is partial).
			tail := make([]byte, 0, s.tailLen)
			start := (s.tailPos - s.tailLen + len(s.tail)) % len(s.tail)
			if start+s.tailLen <= len(s.tail) {
				tail = append(tail, s.tail[start:start+s.tailLen]...)
			} else {
				tail = append(tail, s.tail[start:]...)
				tail = append(tail, s.tail[:s.tailPos]...)
			}
			headLines := bytes.Count(s.head, newline)
			firstLine := 1 + int64(headLines) + s.linesAfterHead - int64(bytes.Count(tail, newline))
			a.scanRegion(tail, int(firstLine))
		}
	}
	return s.finish(r)
}

// finish fills r from the hits.
func (s *Scanner) finish(r Result) Result {
	r.Matches = s.a.matches()
	for _, m := range r.Matches {
		r.Score += m.Weight
	}
	r.Level = s.e.thresholds.Level(r.Score)
	return r
}
