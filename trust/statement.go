package trust

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"webfim/merkle"
)

// StatementHeader is the first line of every statement this webfim
// makes (version 2, which covers the baseline's review).
const StatementHeader = "webfim-baseline-statement v2"

// statementHeaderV1 is the first line of a statement of version 1, which
// has no review lines. Such statements are still read and verified (see
// [Statement.V1]); none is made any more.
const statementHeaderV1 = "webfim-baseline-statement v1"

// timeLayout writes the creation time with all nine fraction digits, so
// that a time has exactly one spelling.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// ErrBadStatement is wrapped by the errors of [ParseStatement].
var ErrBadStatement = errors.New("bad baseline statement")

// Statement is what a signature vouches for: the metadata of a baseline
// and the Merkle roots of its content. Its text ([Statement.MarshalText])
// is canonical, and the baseline's digest is the SHA-256 of that text.
type Statement struct {
	// Sequence orders the baselines of one host: the id the baseline got
	// in the database that created it. A verifier refuses a signed
	// baseline older than the newest signed one it has seen.
	Sequence      uint64
	Created       time.Time
	Host          string
	Label         string
	Version       string // of the webfim that took the baseline
	Sysroot       string
	Full          bool
	HashAllSHA256 bool
	Counts        Counts
	Configs       []string
	// Review is what the baseline trusted on a user's word and what it
	// held out ("deploy finish"); nil when nothing needed review.
	Review    *Review
	Inventory TreeHead
	// V1 marks a statement read in version 1, made before the review was
	// signed: it has no review lines, and [Compare] does not compare
	// reviews against it.
	V1 bool
	// Roots are ordered by path (byte order), each path once.
	Roots []RootHead
}

// Review records the findings a new baseline would have absorbed and
// that needed review: those accepted (trusted, with the reason given) and
// those held out of the baseline (they keep alerting against it). It is
// part of the signed statement, so who accepted what cannot be rewritten
// without verify noticing.
type Review struct {
	By       string            `json:"by,omitempty"`
	Reason   string            `json:"reason,omitempty"`
	Accepted []ReviewedFinding `json:"accepted,omitempty"`
	Held     []ReviewedFinding `json:"held,omitempty"`
}

// ReviewedFinding names one finding of a [Review].
type ReviewedFinding struct {
	ID       string `json:"id"` // its event.id (alert.FindingID)
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	Subject  string `json:"subject"` // the path, or the configuration item
}

// Counts are the entry counts of a baseline's metadata.
type Counts struct {
	Files, Dirs, Symlinks, Others, Errors, Unstable, Bytes int64
}

// TreeHead is the size and Merkle root of a list of leaves.
type TreeHead struct {
	Leaves uint64
	Root   merkle.Hash
}

// RootHead is the tree head of the records of one web root.
type RootHead struct {
	Path string
	TreeHead
}

// Digest identifies a statement: SHA-256 of its text.
type Digest [sha256.Size]byte

func (d Digest) String() string { return "sha256:" + merkle.Hash(d).String() }

// ParseDigest reads a digest written as by [Digest.String].
func ParseDigest(s string) (Digest, error) {
	hex, ok := strings.CutPrefix(s, "sha256:")
	if !ok {
		return Digest{}, fmt.Errorf("digest %q: want sha256:HEX", s)
	}
	h, err := merkle.ParseHash(hex)
	return Digest(h), err
}

// Digest returns SHA-256 of the statement's text.
func (s *Statement) Digest() Digest { return sha256.Sum256(s.MarshalText()) }

// Root returns the head of the root with that path, if the statement
// has it.
func (s *Statement) Root(path string) (RootHead, bool) {
	i, ok := slices.BinarySearchFunc(s.Roots, path, func(r RootHead, p string) int { return strings.Compare(r.Path, p) })
	if !ok {
		return RootHead{}, false
	}
	return s.Roots[i], true
}

// MarshalText returns the canonical text of the statement: one field per
// line, in this order, each line "name value..." ended by "\n":
//
//	webfim-baseline-statement v2
//	sequence 7
//	created 2026-11-28T10:11:12.123456789Z
//	host "web01"
//	label "v2.3.1"
//	version "0.1.0"
//	sysroot ""
//	full true
//	hash-all-sha256 false
//	counts files 3 dirs 2 symlinks 0 others 0 errors 0 unstable 0 bytes 34
//	config "apache:/etc/apache2/apache2.conf"     (one line per config, in order; none if none)
//	review "ci" "release 2.3.1"                   (by, reason; only if the baseline has a review)
//	accepted "ID" "webfim-002" "high" "x.php"     (id, rule, severity, subject; one per accepted finding)
//	held "ID" "webfim-001" "high" "up/y.php"      (the same, one per finding held out)
//	inventory 17 <64 hex digits>                  (items, Merkle root of their leaves)
//	root "/var/www/html" 5 <64 hex digits>        (one line per root, by path; records, Merkle root)
//
// The time is UTC with nine fraction digits. Strings are quoted: bytes
// 0x20-0x7e but '"' and '\' as they are, '\"', '\\', and every other
// byte as \xHH (lower-case hex), so that raw paths that are not UTF-8
// have exactly one spelling. A version 1 statement ([Statement.V1]) has
// the header "webfim-baseline-statement v1" and no review lines.
func (s *Statement) MarshalText() []byte {
	b := make([]byte, 0, 512+100*len(s.Roots))
	if s.V1 {
		b = append(b, statementHeaderV1...)
	} else {
		b = append(b, StatementHeader...)
	}
	b = append(b, "\nsequence "...)
	b = strconv.AppendUint(b, s.Sequence, 10)
	b = append(b, "\ncreated "...)
	b = s.Created.UTC().AppendFormat(b, timeLayout)
	b = appendQuotedLine(b, "host", s.Host)
	b = appendQuotedLine(b, "label", s.Label)
	b = appendQuotedLine(b, "version", s.Version)
	b = appendQuotedLine(b, "sysroot", s.Sysroot)
	b = append(b, "\nfull "...)
	b = strconv.AppendBool(b, s.Full)
	b = append(b, "\nhash-all-sha256 "...)
	b = strconv.AppendBool(b, s.HashAllSHA256)
	b = append(b, "\ncounts"...)
	for _, c := range s.Counts.fields() {
		b = append(b, ' ')
		b = append(b, c.name...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, c.value, 10)
	}
	for _, c := range s.Configs {
		b = appendQuotedLine(b, "config", c)
	}
	if rv := s.Review; rv != nil && !s.V1 {
		b = appendQuotedLine(b, "review", rv.By)
		b = append(b, ' ')
		b = AppendQuoted(b, rv.Reason)
		b = appendFindings(b, "accepted", rv.Accepted)
		b = appendFindings(b, "held", rv.Held)
	}
	b = append(b, "\ninventory "...)
	b = appendHead(b, s.Inventory)
	for _, r := range s.Roots {
		b = appendQuotedLine(b, "root", r.Path)
		b = append(b, ' ')
		b = appendHead(b, r.TreeHead)
	}
	return append(b, '\n')
}

func appendFindings(b []byte, name string, fs []ReviewedFinding) []byte {
	for _, f := range fs {
		b = appendQuotedLine(b, name, f.ID)
		for _, v := range []string{f.Rule, f.Severity, f.Subject} {
			b = append(b, ' ')
			b = AppendQuoted(b, v)
		}
	}
	return b
}

type countField struct {
	name  string
	value int64
}

func (c Counts) fields() []countField {
	return []countField{
		{"files", c.Files}, {"dirs", c.Dirs}, {"symlinks", c.Symlinks}, {"others", c.Others},
		{"errors", c.Errors}, {"unstable", c.Unstable}, {"bytes", c.Bytes},
	}
}

func appendHead(b []byte, h TreeHead) []byte {
	b = strconv.AppendUint(b, h.Leaves, 10)
	b = append(b, ' ')
	return append(b, h.Root.String()...)
}

func appendQuotedLine(b []byte, name, value string) []byte {
	b = append(b, '\n')
	b = append(b, name...)
	b = append(b, ' ')
	return AppendQuoted(b, value)
}

// AppendQuoted appends s quoted as statements quote strings.
func AppendQuoted(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c >= 0x20 && c <= 0x7e:
			b = append(b, c)
		default:
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return append(b, '"')
}

// Quote returns s quoted as statements quote strings.
func Quote(s string) string { return string(AppendQuoted(nil, s)) }

// maxStatement bounds the size of a statement read from a file.
const maxStatement = 16 << 20

// ParseStatement reads a statement's text. Only the canonical text is
// accepted: the parsed statement marshals back to exactly data.
func ParseStatement(data []byte) (*Statement, error) {
	if len(data) > maxStatement {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadStatement, len(data), maxStatement)
	}
	if !bytes.HasSuffix(data, []byte("\n")) {
		return nil, fmt.Errorf("%w: does not end with a newline (truncated?)", ErrBadStatement)
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	p := stmtParser{lines: lines}
	s := &Statement{}
	switch l := p.next(); {
	case l == StatementHeader:
	case l == statementHeaderV1:
		s.V1 = true
	default:
		if strings.HasPrefix(l, "webfim-baseline-statement ") {
			return nil, fmt.Errorf("%w: unknown version %q (this webfim reads v1 and v2)", ErrBadStatement, l)
		}
		return nil, fmt.Errorf("%w: line 1: not a webfim baseline statement", ErrBadStatement)
	}
	s.Sequence = p.uint("sequence")
	if v := p.field("created"); p.err == nil {
		t, err := time.Parse(timeLayout, v)
		if err != nil {
			p.fail("created: %v", err)
		}
		s.Created = t
	}
	s.Host = p.quoted("host")
	s.Label = p.quoted("label")
	s.Version = p.quoted("version")
	s.Sysroot = p.quoted("sysroot")
	s.Full = p.bool("full")
	s.HashAllSHA256 = p.bool("hash-all-sha256")
	if v := p.field("counts"); p.err == nil {
		f := strings.Split(v, " ")
		want := s.Counts.fields()
		vals := make([]int64, len(want))
		if len(f) != 2*len(want) {
			p.fail("counts: want %d fields", 2*len(want))
		}
		for i := 0; p.err == nil && i < len(want); i++ {
			n, err := strconv.ParseInt(f[2*i+1], 10, 64)
			if f[2*i] != want[i].name || err != nil {
				p.fail("counts: want %s N", want[i].name)
			}
			vals[i] = n
		}
		c := &s.Counts
		c.Files, c.Dirs, c.Symlinks, c.Others, c.Errors, c.Unstable, c.Bytes = vals[0], vals[1], vals[2], vals[3], vals[4], vals[5], vals[6]
	}
	for p.err == nil && p.peek("config") {
		s.Configs = append(s.Configs, p.quoted("config"))
	}
	if p.err == nil && !s.V1 && p.peek("review") {
		f := p.quotedList("review", 2)
		s.Review = &Review{By: f[0], Reason: f[1]}
		for p.err == nil && p.peek("accepted") {
			s.Review.Accepted = append(s.Review.Accepted, p.finding("accepted"))
		}
		for p.err == nil && p.peek("held") {
			s.Review.Held = append(s.Review.Held, p.finding("held"))
		}
	}
	if v := p.field("inventory"); p.err == nil {
		s.Inventory = p.head("inventory", v)
	}
	for p.err == nil && p.i < len(p.lines) {
		v := p.field("root")
		if p.err != nil {
			break
		}
		path, rest, err := unquotePrefix(v)
		if err != nil || !strings.HasPrefix(rest, " ") {
			p.fail("root: bad path")
			break
		}
		r := RootHead{Path: path, TreeHead: p.head("root", rest[1:])}
		if n := len(s.Roots); n > 0 && s.Roots[n-1].Path >= path {
			p.fail("root %s: roots not in order", Quote(path))
		}
		s.Roots = append(s.Roots, r)
	}
	if p.err != nil {
		return nil, p.err
	}
	if !bytes.Equal(s.MarshalText(), data) {
		return nil, fmt.Errorf("%w: not in canonical form", ErrBadStatement)
	}
	return s, nil
}

type stmtParser struct {
	lines []string
	i     int
	err   error
}

func (p *stmtParser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: line %d: %s", ErrBadStatement, p.i, fmt.Sprintf(format, args...))
	}
}

func (p *stmtParser) next() string {
	if p.i >= len(p.lines) {
		p.i++
		return ""
	}
	p.i++
	return p.lines[p.i-1]
}

func (p *stmtParser) peek(name string) bool {
	return p.i < len(p.lines) && strings.HasPrefix(p.lines[p.i], name+" ")
}

// field returns the value of the next line, which must be "name value".
func (p *stmtParser) field(name string) string {
	if p.err != nil {
		return ""
	}
	l := p.next()
	v, ok := strings.CutPrefix(l, name+" ")
	if !ok {
		if p.i > len(p.lines) {
			p.fail("missing %s (truncated?)", name)
		} else {
			p.fail("want %s, have %q", name, firstWord(l))
		}
	}
	return v
}

func firstWord(l string) string {
	w, _, _ := strings.Cut(l, " ")
	if len(w) > 40 {
		w = w[:40] + "..."
	}
	return w
}

func (p *stmtParser) uint(name string) uint64 {
	v := p.field(name)
	if p.err != nil {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		p.fail("%s: %v", name, err)
	}
	return n
}

func (p *stmtParser) bool(name string) bool {
	switch v := p.field(name); v {
	case "true":
		return true
	case "false":
	default:
		p.fail("%s: want true or false", name)
	}
	return false
}

func (p *stmtParser) quoted(name string) string {
	v := p.field(name)
	if p.err != nil {
		return ""
	}
	s, rest, err := unquotePrefix(v)
	if err != nil || rest != "" {
		p.fail("%s: bad string", name)
	}
	return s
}

// quotedList reads a line of n quoted strings separated by spaces.
func (p *stmtParser) quotedList(name string, n int) []string {
	out := make([]string, n)
	v := p.field(name)
	for i := 0; p.err == nil && i < n; i++ {
		if i > 0 {
			var ok bool
			if v, ok = strings.CutPrefix(v, " "); !ok {
				p.fail("%s: want %d quoted strings", name, n)
				break
			}
		}
		s, rest, err := unquotePrefix(v)
		if err != nil {
			p.fail("%s: bad string", name)
			break
		}
		out[i], v = s, rest
	}
	if p.err == nil && v != "" {
		p.fail("%s: want %d quoted strings", name, n)
	}
	return out
}

func (p *stmtParser) finding(name string) ReviewedFinding {
	f := p.quotedList(name, 4)
	return ReviewedFinding{ID: f[0], Rule: f[1], Severity: f[2], Subject: f[3]}
}

func (p *stmtParser) head(name, v string) TreeHead {
	n, hex, ok := strings.Cut(v, " ")
	leaves, err := strconv.ParseUint(n, 10, 64)
	if !ok || err != nil {
		p.fail("%s: want COUNT HASH", name)
		return TreeHead{}
	}
	h, err := merkle.ParseHash(hex)
	if err != nil {
		p.fail("%s: %v", name, err)
	}
	return TreeHead{Leaves: leaves, Root: h}
}

// unquotePrefix reads a quoted string at the start of v and returns it and
// what follows.
func unquotePrefix(v string) (string, string, error) {
	errBad := errors.New("bad quoted string")
	if !strings.HasPrefix(v, `"`) {
		return "", "", errBad
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"':
			return b.String(), v[i+1:], nil
		case c == '\\':
			if i+1 >= len(v) {
				return "", "", errBad
			}
			switch v[i+1] {
			case '"', '\\':
				b.WriteByte(v[i+1])
				i++
			case 'x':
				if i+3 >= len(v) {
					return "", "", errBad
				}
				n, err := strconv.ParseUint(v[i+2:i+4], 16, 8)
				if err != nil {
					return "", "", errBad
				}
				b.WriteByte(byte(n))
				i += 3
			default:
				return "", "", errBad
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errBad
}
