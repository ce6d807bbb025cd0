package indicators

import (
	"bytes"
	"math"
	"slices"
)

// analysis is the per-file matching state, reused across files by a
// Scanner. A file is scanned as one or two regions (the head, and the
// tail of a file larger than the limit); positions are offsets into the
// current region.
type analysis struct {
	e    *Engine
	fam  Family
	hits [numIndicators]hit

	region    int    // 0: head, 1: tail
	b         []byte // the region
	low       []byte // its ASCII lower case, once lowered() is called
	lowDone   bool
	firstLine int // line number of the region's first byte

	// scratch, reused
	calls  []phpCall
	reqs   []int // request input found by phpScan
	reqFns []int // calls of functions returning request input
	cands  []int // possible request variables
	// start of the first extract()/parse_str() of request input
	// (extractUnknown until asked)
	extractAt int
	// superglobals reached by name, counted (phpDollar meets some twice)
	indirect   map[int]struct{}
	flowBudget int // bytes assignedFrom may still look back over
	events     []event
	lex        phpLex
	common     []event
	order      []int
	scratch    []byte
}

// hit is what is kept of an indicator found: its count and first
// occurrence (line and excerpt are computed when its region ends).
type hit struct {
	count   int
	region  int
	pos     int
	end     int
	line    int
	excerpt string
}

func (a *analysis) reset(e *Engine, fam Family) {
	a.e, a.fam = e, fam
	a.hits = [numIndicators]hit{}
	a.region = -1
}

// found records indicator i at b[pos:end] of the current region.
func (a *analysis) found(i ind, pos, end int) {
	if a.e.weights[i] == 0 {
		return
	}
	if a.fam == FamilyPHP && catalog[i].Family == FamilyPHP || i == anyCharChain && a.fam == FamilyPHP {
		// PHP constructs count in code only (a backtick string is a
		// command; a request key in an interpolated string counts).
		switch a.lex.kindAt(pos) {
		case spanComment, spanHTML:
			return
		case spanString:
			if i != phpCmdParam {
				return
			}
		}
	}
	h := &a.hits[i]
	h.count++
	if h.count == 1 || h.region == a.region && pos < h.pos {
		h.region, h.pos, h.end = a.region, pos, end
	}
}

func (a *analysis) has(i ind) bool { return a.hits[i].count > 0 }

// anyHit reports whether some indicator was found so far.
func (a *analysis) anyHit() bool {
	for i := range a.hits {
		if a.hits[i].count > 0 {
			return true
		}
	}
	return false
}

// lowered returns the lower-case copy of the region, made on first use.
func (a *analysis) lowered() []byte {
	if !a.lowDone {
		a.low = slices.Grow(a.low[:0], len(a.b))[:len(a.b)]
		toLowerASCII(a.low, a.b)
		a.lowDone = true
	}
	return a.low
}

// scanRegion runs every applicable matcher on b, whose first byte is on
// line firstLine.
func (a *analysis) scanRegion(b []byte, firstLine int) {
	a.region++
	a.b, a.firstLine, a.lowDone = b, firstLine, false
	if a.fam == FamilyPHP {
		a.scanPHP()
	} else {
		a.scanTokens()
	}
	a.scanObfuscation()
	a.locate()
	a.b = nil
}

// locate computes the line and excerpt of the hits first seen in this
// region, counting newlines once, in position order.
func (a *analysis) locate() {
	a.order = a.order[:0]
	for i := range a.hits {
		if h := &a.hits[i]; h.count > 0 && h.region == a.region && h.line == 0 {
			a.order = append(a.order, i)
		}
	}
	slices.SortFunc(a.order, func(x, y int) int { return a.hits[x].pos - a.hits[y].pos })
	line, at := a.firstLine, 0
	for _, i := range a.order {
		h := &a.hits[i]
		line += bytes.Count(a.b[at:h.pos], newline)
		at = h.pos
		h.line = line
		h.excerpt = excerpt(a.b, h.pos, h.end)
	}
}

// matches returns the hits as Matches, strongest first.
func (a *analysis) matches() []Match {
	var ms []Match
	for i := range a.hits {
		h := &a.hits[i]
		if h.count == 0 {
			continue
		}
		c := &catalog[i]
		ms = append(ms, Match{ID: c.ID, Weight: a.e.weights[i], Description: c.Description, Line: h.line, Excerpt: h.excerpt, Count: h.count})
	}
	sortMatches(ms)
	return ms
}

// excerptMax bounds the bytes an excerpt shows (before escaping).
const excerptMax = 80

// excerpt returns the escaped text of b around b[pos:end], within its
// line: the whole line when it is short enough, else a window from a few
// bytes before pos.
func excerpt(b []byte, pos, end int) string {
	if line, ok := shortLine(b, pos); ok {
		return escape(bytes.TrimSpace(line))
	}
	ls := bytes.LastIndexByte(b[max(0, pos-excerptMax):pos], '\n')
	if ls < 0 {
		ls = max(0, pos-excerptMax)
	} else {
		ls += max(0, pos-excerptMax) + 1
	}
	start := max(ls, pos-16)
	stop := min(len(b), max(end, pos+48), start+excerptMax)
	if i := bytes.IndexByte(b[pos:stop], '\n'); i >= 0 {
		stop = pos + i
	}
	return escape(bytes.TrimSpace(b[start:stop]))
}

// shortLine returns the line of b holding pos if it is at most
// excerptMax bytes long.
func shortLine(b []byte, pos int) ([]byte, bool) {
	lo := max(0, pos-excerptMax)
	ls := lo
	if i := bytes.LastIndexByte(b[lo:pos], '\n'); i >= 0 {
		ls = lo + i + 1
	} else if lo > 0 {
		return nil, false // the line starts further back
	}
	hi := min(len(b), ls+excerptMax)
	le := bytes.IndexByte(b[ls:hi], '\n')
	switch {
	case le >= 0:
		return b[ls : ls+le], true
	case hi == len(b):
		return b[ls:hi], true
	}
	return nil, false
}

// escape keeps printable ASCII and writes anything else (and the
// backslash) as an escape, so an excerpt is safe in a terminal, a log
// line and JSON.
func escape(b []byte) string {
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 0, len(b)+8)
	for _, c := range b {
		switch {
		case c == '\\':
			out = append(out, '\\', '\\')
		case c == '\t':
			out = append(out, '\\', 't')
		case c >= 0x20 && c < 0x7f:
			out = append(out, c)
		default:
			out = append(out, '\\', 'x', hexdigits[c>>4], hexdigits[c&15])
		}
	}
	return string(out)
}

// Obfuscation thresholds.
const (
	longLineBytes = 4096
	blobMinRun    = 256 // base64 or hex characters in a row
	blobMinBits   = 5.0 // Shannon entropy per character of a base64 blob
	hexMinBits    = 3.0
	escapeMinRun  = 16 // escapes in a row
	charChainMin  = 8  // chr() calls joined in a row
)

// scanObfuscation finds the family-independent signals: very long lines,
// base64 and hex blobs, runs of escapes. Each is found with work linear
// in the region and far below one step per byte on ordinary code.
func (a *analysis) scanObfuscation() {
	a.longLines()
	a.blobs()
	a.escapes()
}

// longLines finds lines longer than longLineBytes by looking at one window
// of that size per step: a window holding a newline only holds short lines
// up to its last newline.
func (a *analysis) longLines() {
	b := a.b
	s := 0
	for s+longLineBytes < len(b) {
		w := b[s : s+longLineBytes+1]
		if q := bytes.LastIndexByte(w, '\n'); q >= 0 {
			s += q + 1
			continue
		}
		e := bytes.IndexByte(b[s+longLineBytes:], '\n')
		if e < 0 {
			e = len(b)
		} else {
			e += s + longLineBytes
		}
		a.found(anyLongLine, s, s+excerptMax)
		s = e + 1
	}
}

// blobs finds runs of at least blobMinRun base64 characters by probing one
// byte per blobMinRun: a long enough run must cover the probe.
func (a *analysis) blobs() {
	b := a.b
	const L = blobMinRun
	pos := 0
	for pos+L-1 < len(b) {
		probe := pos + L - 1
		if !b64Around(b, probe) {
			// No run of L through the probe; the next one starts
			// after it.
			pos = probe + 1
			continue
		}
		s := probe
		for s > pos && classes[b[s-1]]&clsB64 != 0 {
			s--
		}
		e := probe + 1
		for e < len(b) && classes[b[e]]&clsB64 != 0 {
			e++
		}
		if e-s >= L {
			a.classifyRun(s, e)
		}
		pos = e + 1
	}
}

// b64Around is a quick necessary condition for a run of blobMinRun
// base64 characters through b[p]: b[p] is one, and such a run holds all of
// b[p-L/2 : p] or all of b[p : p+L/2+1]. Eight bytes of each side are
// tested, without branches (on code one of them is almost always a
// space, a quote or a bracket, and a branch per byte would be
// mispredicted often).
func b64Around(b []byte, p int) bool {
	const half = blobMinRun / 2
	if p < half || p+half >= len(b) {
		return classes[b[p]]&clsB64 != 0 // at an edge: the walk decides
	}
	w := b[p-half : p+half+1] // w[half] is the probe
	left := classes[w[0]] & classes[w[16]] & classes[w[32]] & classes[w[48]] &
		classes[w[64]] & classes[w[80]] & classes[w[96]] & classes[w[112]]
	right := classes[w[half+16]] & classes[w[half+32]] & classes[w[half+48]] & classes[w[half+64]] &
		classes[w[half+80]] & classes[w[half+96]] & classes[w[half+112]] & classes[w[2*half]]
	return classes[w[half]]&(left|right)&clsB64 != 0
}

// classifyRun judges a long run b[s:e] of base64 characters.
func (a *analysis) classifyRun(s, e int) {
	b := a.b
	// A data: URI (an inline image or font) is legitimate and common.
	if s >= 7 && string(b[s-7:s]) == "base64," {
		return
	}
	run := b[s:e]
	// Look at a bounded sample: a huge blob is as suspicious as its
	// first 64 KiB.
	if len(run) > 64<<10 {
		run = run[:64<<10]
	}
	var hist [256]int
	for _, c := range run {
		hist[c]++
	}
	allHex, upper, lowerc, digit := true, 0, 0, 0
	for c, n := range hist {
		if n == 0 {
			continue
		}
		if classes[c]&clsHex == 0 {
			allHex = false
		}
		switch {
		case c >= 'A' && c <= 'Z':
			upper += n
		case c >= 'a' && c <= 'z':
			lowerc += n
		case c >= '0' && c <= '9':
			digit += n
		}
	}
	bits := entropy(&hist, len(run))
	switch {
	case allHex && bits >= hexMinBits && digit > 0:
		a.found(anyHexBlob, s, s+40)
	case !allHex && bits >= blobMinBits && upper > 0 && lowerc > 0 && digit > 0:
		a.found(anyBase64Blob, s, s+40)
	}
}

// entropy is the Shannon entropy in bits per symbol of a histogram of n
// symbols.
func entropy(hist *[256]int, n int) float64 {
	if n == 0 {
		return 0
	}
	var h float64
	fn := float64(n)
	for _, c := range hist {
		if c > 0 {
			p := float64(c) / fn
			h -= p * math.Log2(p)
		}
	}
	return h
}

// escapes finds runs of escapes: \xNN, \NNN (octal), \uNNNN.
func (a *analysis) escapes() {
	b := a.b
	i := 0
	for {
		j := bytes.IndexByte(b[i:], '\\')
		if j < 0 {
			return
		}
		start := i + j
		n, k := 0, start
		for {
			w := escapeLen(b, k)
			if w == 0 {
				break
			}
			n++
			k += w
		}
		if n >= escapeMinRun {
			a.found(anyEscapeBlob, start, start+40)
		}
		i = max(k, start+1)
	}
}

// escapeLen returns the length of the escape sequence at b[k] (0 if none).
func escapeLen(b []byte, k int) int {
	if k+1 >= len(b) || b[k] != '\\' {
		return 0
	}
	switch c := b[k+1]; {
	case c == 'x' || c == 'X':
		if k+3 < len(b) && isHex(b[k+2]) && isHex(b[k+3]) {
			return 4
		}
	case c == 'u':
		if k+5 < len(b) && isHex(b[k+2]) && isHex(b[k+3]) && isHex(b[k+4]) && isHex(b[k+5]) {
			return 6
		}
	case c >= '0' && c <= '7':
		if k+3 < len(b) && b[k+2] >= '0' && b[k+2] <= '7' && b[k+3] >= '0' && b[k+3] <= '7' {
			return 4
		}
	}
	return 0
}
