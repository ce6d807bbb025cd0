package indicators

import (
	"bytes"
	"slices"
)

// phpLex tells code from comments, strings and inline HTML in a PHP
// region. It is lazy: a position is lexed only when a candidate hit needs
// the answer, so files with nothing suspicious are never lexed, and each
// byte is lexed at most once (the non-code spans found are kept).
type phpLex struct {
	b     []byte
	pos   int // lexed up to here
	state lexState
	spans []span // non-code spans, in order
}

type lexState uint8

const (
	lexHTML lexState = iota
	lexCode
)

// spanKind is what a non-code span is.
type spanKind uint8

const (
	spanCode     spanKind = iota // not a span: code
	spanHTML                     // outside <?php ... ?>
	spanComment                  // //, # and /* */
	spanString                   // '...', "...", heredoc, nowdoc
	spanBacktick                 // `...`: a shell command
)

type span struct {
	s, e int
	k    spanKind
}

// reset starts lexing b, in inline HTML (the start of a file) or, for a
// region that starts mid-file (the tail of a large file), in code.
func (l *phpLex) reset(b []byte, inCode bool) {
	l.b, l.pos, l.state = b, 0, lexHTML
	if inCode {
		l.state = lexCode
	}
	l.spans = l.spans[:0]
}

// kindAt returns what position p is: code or the kind of span holding it.
func (l *phpLex) kindAt(p int) spanKind {
	if p >= l.pos {
		l.advance(p + 1)
	}
	i, _ := slices.BinarySearchFunc(l.spans, p, func(s span, p int) int {
		switch {
		case s.e <= p:
			return -1
		case s.s > p:
			return 1
		}
		return 0
	})
	if i < len(l.spans) && l.spans[i].s <= p && p < l.spans[i].e {
		return l.spans[i].k
	}
	return spanCode
}

// lexCodeStop marks the bytes where code may turn into something else.
var lexCodeStop = func() (t [256]bool) {
	for _, c := range []byte("?/#'\"`<") {
		t[c] = true
	}
	return t
}()

func (l *phpLex) add(s, e int, k spanKind) {
	if e > s {
		l.spans = append(l.spans, span{s, e, k})
	}
}

// advance lexes at least up to position to (whole tokens at a time).
func (l *phpLex) advance(to int) {
	b := l.b
	for l.pos < to && l.pos < len(b) {
		p := l.pos
		if l.state == lexHTML {
			k := bytes.Index(b[p:], []byte("<?"))
			for k >= 0 && hasPrefixFold(b[p+k+2:], "xml") {
				k2 := bytes.Index(b[p+k+2:], []byte("<?"))
				if k2 < 0 {
					k = -1
					break
				}
				k += 2 + k2
			}
			if k < 0 {
				l.add(p, len(b), spanHTML)
				l.pos = len(b)
				return
			}
			l.add(p, p+k, spanHTML)
			q := p + k + 2
			if hasPrefixFold(b[q:], "php") {
				q += 3
			} else if q < len(b) && b[q] == '=' {
				q++
			}
			l.pos, l.state = q, lexCode
			continue
		}
		// Code: skip to the next byte that may start something else.
		for p < len(b) && !lexCodeStop[b[p]] {
			p++
		}
		l.pos = p
		if p >= len(b) {
			return
		}
		c := b[p]
		next := byte(0)
		if p+1 < len(b) {
			next = b[p+1]
		}
		switch {
		case c == '?' && next == '>':
			l.pos, l.state = p+2, lexHTML
		case c == '/' && next == '/', c == '#' && next != '[':
			// A line comment ends at the newline or at ?>.
			e := len(b)
			if k := bytes.IndexByte(b[p:], '\n'); k >= 0 {
				e = p + k
			}
			if k := bytes.Index(b[p:e], []byte("?>")); k >= 0 {
				e = p + k
			}
			l.add(p, e, spanComment)
			l.pos = e
		case c == '/' && next == '*':
			e := len(b)
			if k := bytes.Index(b[p+2:], []byte("*/")); k >= 0 {
				e = p + 2 + k + 2
			}
			l.add(p, e, spanComment)
			l.pos = e
		case c == '\'' || c == '"' || c == '`':
			e := closeQuote(b, p)
			k := spanString
			if c == '`' {
				k = spanBacktick
			}
			l.add(p, e, k)
			l.pos = e
		case c == '<' && next == '<' && p+2 < len(b) && b[p+2] == '<':
			e := heredocEnd(b, p)
			l.add(p, e, spanString)
			l.pos = e
		default:
			l.pos = p + 1
		}
	}
}

// closeQuote returns the position after the quote closing the string
// opened at b[p] (the end of b if it is not closed).
func closeQuote(b []byte, p int) int {
	q := b[p]
	i := p + 1
	for {
		k := bytes.IndexByte(b[i:], q)
		if k < 0 {
			return len(b)
		}
		j := i + k
		// An odd number of backslashes before it escapes it.
		n := 0
		for m := j - 1; m > p && b[m] == '\\'; m-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		i = j + 1
	}
}

// heredocEnd returns the position after the heredoc or nowdoc starting
// with "<<<" at b[p].
func heredocEnd(b []byte, p int) int {
	i := p + 3
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	if i < len(b) && (b[i] == '\'' || b[i] == '"') {
		i++
	}
	s := i
	for i < len(b) && isIdent(b[i]) {
		i++
	}
	id := b[s:i]
	if len(id) == 0 {
		return p + 3 // not a heredoc (a shift operator, say)
	}
	nl := bytes.IndexByte(b[i:], '\n')
	if nl < 0 {
		return len(b)
	}
	for j := i + nl + 1; j < len(b); {
		// A line whose first non-blank text is the identifier, not
		// followed by an identifier character, closes it.
		k := j
		for k < len(b) && (b[k] == ' ' || b[k] == '\t') {
			k++
		}
		if bytes.HasPrefix(b[k:], id) && (k+len(id) == len(b) || !isIdent(b[k+len(id)])) {
			return k + len(id)
		}
		n := bytes.IndexByte(b[j:], '\n')
		if n < 0 {
			return len(b)
		}
		j += n + 1
	}
	return len(b)
}
