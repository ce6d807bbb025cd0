package indicators

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"
)

// PHP is matched on its call syntax rather than on bare words: the engine
// visits every '(' (found with a vectorised byte search), reads the name
// before it, and only for the few names that matter looks at the
// arguments, bounded to argWindow bytes. Request input ($_GET, $_POST,
// ...) is located the same way from each "$_". Correlations (request input
// inside a sink's arguments, a decoder inside eval's) then compare sorted
// position lists. Function names are case-insensitive in PHP, variable
// names are not.

// phpCat classifies a function name.
type phpCat uint8

const (
	catNone phpCat = iota
	catExec
	catEval
	catAssert
	catCreateFunc
	catPreg
	catCallback1 // the callable is the first argument
	catCallback2 // the callable is the second argument
	catDecoder
	catDecoderWeak // decoders common in legitimate chains (urldecode, decryption)
	catWrite1      // writes to the path in its first argument
	catWrite2      // writes to the path in its second argument
	catChr
	catProbe
	catRequestFn // returns request input
	catStrReplace
	catExtract      // extract(), parse_str(): turns input into variables
	catCallbackLast // the callable is the last argument (array_udiff, ...)
	catInclude      // include, require (language constructs, often written as calls)
	catGetenv       // getenv('HTTP_...') returns a request header
	catPutenv
	catMail // mail(): its fifth argument goes to the sendmail command line
)

var phpFuncs = map[string]phpCat{
	"system": catExec, "exec": catExec, "shell_exec": catExec, "passthru": catExec, "popen": catExec,
	"proc_open": catExec, "pcntl_exec": catExec, "expect_popen": catExec,

	"eval": catEval, "assert": catAssert, "create_function": catCreateFunc,
	"preg_replace": catPreg, "preg_filter": catPreg, "mb_ereg_replace": catPreg, "mb_eregi_replace": catPreg,

	"call_user_func": catCallback1, "call_user_func_array": catCallback1, "array_map": catCallback1,
	"register_shutdown_function": catCallback1, "register_tick_function": catCallback1,
	"forward_static_call": catCallback1, "forward_static_call_array": catCallback1,
	"header_register_callback": catCallback1, "ob_start": catCallback1, "set_error_handler": catCallback1,
	"set_exception_handler": catCallback1, "spl_autoload_register": catCallback1,
	"array_filter": catCallback2, "array_walk": catCallback2, "array_walk_recursive": catCallback2,
	"array_reduce": catCallback2, "usort": catCallback2, "uasort": catCallback2, "uksort": catCallback2,
	"preg_replace_callback": catCallback2, "iterator_apply": catCallback2,
	"array_udiff": catCallbackLast, "array_uintersect": catCallbackLast, "array_diff_ukey": catCallbackLast,
	"array_intersect_ukey": catCallbackLast, "array_udiff_assoc": catCallbackLast, "array_uintersect_assoc": catCallbackLast,
	"array_diff_uassoc": catCallbackLast, "array_intersect_uassoc": catCallbackLast,

	"base64_decode": catDecoder, "gzinflate": catDecoder, "gzuncompress": catDecoder, "gzdecode": catDecoder,
	"str_rot13": catDecoder, "strrev": catDecoder, "hex2bin": catDecoder, "convert_uudecode": catDecoder,
	"bzdecompress": catDecoder, "gzip_inflate": catDecoder,
	"rawurldecode": catDecoderWeak, "urldecode": catDecoderWeak, "openssl_decrypt": catDecoderWeak, "mcrypt_decrypt": catDecoderWeak,

	"file_put_contents": catWrite1, "fopen": catWrite1, "move_uploaded_file": catWrite2, "copy": catWrite2,
	"fwrite": catWrite2, "fputs": catWrite2,

	"include": catInclude, "include_once": catInclude, "require": catInclude, "require_once": catInclude,
	"getenv": catGetenv, "putenv": catPutenv, "mail": catMail, "mb_send_mail": catMail,

	"chr":             catChr,
	"ini_get":         catProbe,
	"function_exists": catProbe, "is_callable": catProbe,
	"getallheaders": catRequestFn, "apache_request_headers": catRequestFn,
	"str_replace": catStrReplace,
	"extract":     catExtract, "parse_str": catExtract,
}

// phpNameFilter rejects most identifiers before the map lookup: bit
// (first letter & 31) of [length][last letter & 31].
var phpNameFilter = func() (t [32][32]uint32) {
	for name := range phpFuncs {
		t[len(name)][name[len(name)-1]&31] |= 1 << (name[0] & 31)
	}
	return t
}()

type callKind uint8

const (
	ckNamed callKind = iota // name(
	ckVar                   // $name(
	ckIndex                 // $x[...](
	ckExpr                  // (...)( or 'string'(
)

type phpCall struct {
	kind  callKind
	cat   phpCat
	start int // first byte of the callee
	open  int // the '('
	end   int // the matching ')', or the end of the argument window
	// for ckVar: the variable name (without '$'), b[vs:ve]
	vs, ve int
	method bool // ckVar called as a method: $this->$f(...)
}

const (
	argWindow  = 512  // bytes of arguments looked at after a '('
	flowWindow = 1536 // bytes looked back for an assignment feeding a sink
	// bytes of look-back allowed per byte of the region (plus 64
	// windows): far above what code uses (a few per cent of it)
	flowBudgetPerByte = 8
)

func (a *analysis) scanPHP() {
	a.lex.reset(a.b, a.region > 0)
	a.phpScan()
	a.phpCorrelate()
	a.phpBackticks()
	a.phpIncludes()
	// The shared tokens (shell names, command forms, reverse shells)
	// are looked for only in files that already show an indicator:
	// they confirm, and this keeps ordinary files to the cheap passes.
	if a.anyHit() {
		a.scanCommon()
	}
}

// phpScan collects the calls of interest, in position order, and the
// request input that is indexed ($_GET[...], $GLOBALS['_POST'],
// ${'_GET'}[...]) or an argument, which the rules that look at the whole
// file need (includes, command-named parameters, superglobals reached by
// name). One vectorised byte search per candidate: in PHP a '(' comes
// every hundred bytes or so, a '[' every three hundred. Request input
// elsewhere is looked for only where a rule asks ([analysis.hasReqIn]):
// a '$' comes every sixty or seventy bytes, and visiting them all would
// cost more than the rest of the scan.
func (a *analysis) phpScan() {
	b := a.b
	a.calls = a.calls[:0]
	a.extractAt = extractUnknown
	a.reqs = a.reqs[:0]
	clear(a.indirect)
	a.flowBudget = flowBudgetPerByte*len(b) + flowWindow*64
	cands := a.cands[:0] // '$' of possible request variables
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '(')
		if j < 0 {
			break
		}
		i += j
		if i < 16 || i+4 > len(b) {
			a.phpParen(i)
			if d := requestArg(b, i); d >= 0 {
				cands = append(cands, d)
			}
			i++
			continue
		}
		// The common case, name(: the name's length from the 16 bytes
		// before the '(', without a branch on it (names of every
		// length are common, a branch on it would be mispredicted).
		hi := nonIdentBytes(binary.LittleEndian.Uint64(b[i-8 : i]))
		if hi>>63 == 0 {
			lo := nonIdentBytes(binary.LittleEndian.Uint64(b[i-16 : i-8]))
			zh := bits.LeadingZeros64(hi)
			n := (zh >> 3) + (zh>>6)*(bits.LeadingZeros64(lo)>>3) // 16: 16 or more
			if n == 16 {
				n = i - identStart(b, i-1, max(0, i-42))
			}
			a.phpCallee(i, i-n, i-1)
		} else {
			a.phpParen(i)
		}
		// An argument: foo($_POST), foreach (${'_GET'} as ...). One
		// space is looked past (WordPress writes "foo( $x )").
		q := i + 1 + int(spaceOrTab[b[i+1]])
		switch uint16(b[q]) | uint16(b[q+1])<<8 {
		case '$' | '_'<<8, '$' | '{'<<8, '$' | 'G'<<8, '$' | 'H'<<8:
			cands = append(cands, q)
		}
		i++
	}
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '[')
		if j < 0 {
			break
		}
		i += j
		if d := a.indexedVar(i); d >= 0 {
			cands = append(cands, d)
		}
		i++
	}
	slices.Sort(cands)
	cands = slices.Compact(cands)
	for _, p := range cands {
		a.phpDollar(p, true)
	}
	a.cands = cands
	// The rules walk the calls in the order of their callees; only
	// $x[f()](...) puts a callee before the one of a call found earlier.
	byStart := func(x, y phpCall) int { return x.start - y.start }
	if !slices.IsSortedFunc(a.calls, byStart) {
		slices.SortStableFunc(a.calls, byStart)
	}
	a.reqFns = a.reqFns[:0]
	for _, c := range a.calls {
		if c.cat == catRequestFn || c.cat == catGetenv && bytes.Contains(b[c.open:c.end], []byte("HTTP_")) {
			a.reqs = append(a.reqs, c.start)
			a.reqFns = append(a.reqFns, c.start)
		}
	}
	slices.Sort(a.reqs)
}

// requestArg returns the position of the '$' of a possible request
// variable that is the first argument of the '(' at p, or -1.
func requestArg(b []byte, p int) int {
	q := p + 1
	if q < len(b) && spaceOrTab[b[q]] != 0 {
		q++
	}
	if q+1 < len(b) && b[q] == '$' && maybeRequestVar(b[q+1]) {
		return q
	}
	return -1
}

var spaceOrTab = [256]uint8{' ': 1, '\t': 1}

// maybeRequestVar reports whether a '$' followed by c may start request
// input: $_GET, ${'_POST'}, $GLOBALS['_GET'], $HTTP_GET_VARS.
func maybeRequestVar(c byte) bool {
	return c == '_' || c == '{' || c == 'G' || c == 'H'
}

// indexedVar returns the position of the '$' of the variable indexed by
// the '[' at p, if it may be request input ($_..., $GLOBALS, $HTTP_...,
// ${...}), or -1.
func (a *analysis) indexedVar(p int) int {
	b := a.b
	k := p - 1
	for k >= 0 && k > p-8 && (b[k] == ' ' || b[k] == '\t') {
		k--
	}
	if k < 1 {
		return -1
	}
	// The names all end in a capital: $_GET, $GLOBALS, $HTTP_GET_VARS.
	if c := b[k]; (c < 'A' || c > 'Z') && c != '}' {
		return -1
	}
	if b[k] == '}' {
		// ${'_GET'}[...]
		lo := max(0, k-24)
		if d := bytes.LastIndex(b[lo:k], []byte("${")); d >= 0 {
			return lo + d
		}
		return -1
	}
	s := identStart(b, k, max(0, k-23))
	if s == k+1 || s == 0 || b[s-1] != '$' || !maybeRequestVar(b[s]) {
		return -1
	}
	return s - 1
}

// phpParen looks at the callee before the '(' at p.
func (a *analysis) phpParen(p int) {
	b := a.b
	k := p - 1
	for k >= 0 && k > p-16 && (b[k] == ' ' || b[k] == '\t') {
		k--
	}
	if k > 0 && b[k] == '/' && b[k-1] == '*' {
		// $f/**/(...): a comment hides the call.
		lo := max(0, k-256)
		if c := bytes.LastIndex(b[lo:k-1], []byte("/*")); c >= 0 {
			k = lo + c - 1
			for k >= 0 && k > p-300 && (b[k] == ' ' || b[k] == '\t') {
				k--
			}
		}
	}
	if k < 0 {
		return
	}
	c := b[k]
	switch {
	case isIdent(c):
		a.phpNamedCall(p, k)
	case c == ']':
		// $x[...]( : find the '[' of the index, then its variable.
		s := bytes.LastIndexByte(b[max(0, k-64):k], '[')
		if s < 0 {
			return
		}
		s += max(0, k-64)
		for s > 0 && b[s-1] == ']' { // $x['a']['b'](
			t := bytes.LastIndexByte(b[max(0, s-64):s], '[')
			if t < 0 {
				break
			}
			s = t + max(0, s-64)
		}
		vs := s
		for vs > 0 && isIdent(b[vs-1]) {
			vs--
		}
		if vs > 0 && b[vs-1] == '$' {
			a.calls = append(a.calls, phpCall{kind: ckIndex, start: vs - 1, open: p, end: a.argsEnd(p), vs: vs, ve: s})
		}
	case c == ')' || c == '\'' || c == '"':
		// (expr)(...) and 'name'(...): dynamic calls. "foo()(" is
		// common in modern code; keep them, they only count with
		// request input or a sink name.
		a.calls = append(a.calls, phpCall{kind: ckExpr, start: k, open: p, end: -1}) // end: when needed
	}
}

// phpNamedCall handles an identifier ending at k followed by '(' at p.
func (a *analysis) phpNamedCall(p, k int) {
	a.phpCallee(p, identStart(a.b, k, max(0, k-41)), k)
}

// phpCallee handles the identifier b[s:k+1] followed by the '(' at p
// (when it is longer than 41 bytes, s may be later than its start).
func (a *analysis) phpCallee(p, s, k int) {
	b := a.b
	if s < k-40 {
		return // longer than any name we want
	}
	n := k + 1 - s
	if s > 0 && b[s-1] == '$' {
		if s > 1 && b[s-2] == '$' {
			return // $$x( : rare, not handled
		}
		method := s > 2 && (b[s-2] == '>' && b[s-3] == '-' || b[s-2] == ':' && b[s-3] == ':')
		a.calls = append(a.calls, phpCall{kind: ckVar, start: s - 1, open: p, end: a.argsEnd(p), vs: s, ve: k + 1, method: method})
		return
	}
	if n >= len(phpNameFilter) || phpNameFilter[n][lower(b[k])&31]&(1<<(lower(b[s])&31)) == 0 {
		return
	}
	var buf [40]byte
	for i := 0; i < n; i++ {
		buf[i] = lower(b[s+i])
	}
	cat := phpFuncs[string(buf[:n])]
	if cat == catNone {
		return
	}
	// Methods (->exec, ::exec), definitions (function exec) and
	// namespaced functions of the same name are something else.
	if s > 0 {
		switch b[s-1] {
		case '>', ':':
			return
		case '\\':
			if s > 1 && isIdent(b[s-2]) {
				return
			}
		}
	}
	if isWord(wordBefore(b, s), "function", "new", "fn") {
		return
	}
	a.calls = append(a.calls, phpCall{kind: ckNamed, cat: cat, start: s, open: p, end: a.argsEnd(p)})
}

// wordBefore returns the word before b[s] (across spaces), up to 8
// bytes, as it is written, or nil. Compare it with [isWord].
func wordBefore(b []byte, s int) []byte {
	k := s - 1
	for k >= 0 && k > s-16 && isSpace(b[k]) {
		k--
	}
	if k == s-1 { // no space: not a separate word
		return nil
	}
	e := k + 1
	for k >= 0 && e-k <= 8 && isIdent(b[k]) {
		k--
	}
	if k >= 0 && isIdent(b[k]) {
		return nil
	}
	return b[k+1 : e]
}

// isWord reports whether w is one of the lower-case words, in any case
// (PHP keywords are case-insensitive).
func isWord(w []byte, words ...string) bool {
	for _, x := range words {
		if len(w) == len(x) && hasPrefixFold(w, x) {
			return true
		}
	}
	return false
}

// argsEnd returns the position of the ')' matching the '(' at p, skipping
// quoted strings, or p+argWindow (bounded by the region) if there is none
// within the window.
func (a *analysis) argsEnd(p int) int {
	b := a.b
	limit := min(len(b), p+argWindow)
	depth := 0
	for i := p; i < limit; i++ {
		switch c := b[i]; c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		case '\'', '"':
			j := skipString(b[:limit], i)
			if j < 0 {
				return limit
			}
			i = j
		}
	}
	return limit
}

// skipString returns the index of the quote closing the string opened at
// b[i], or -1.
func skipString(b []byte, i int) int {
	q := b[i]
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case q:
			return j
		}
	}
	return -1
}

// phpDollar reports whether the variable at p is request input: $_GET
// and friends, PHP 4's $HTTP_*_VARS and superglobals reached by name
// (${'_GET'}, $GLOBALS['_POST']). With record, it is added to a.reqs.
// A superglobal reached by name counts as an indicator, once per
// position.
func (a *analysis) phpDollar(p int, record bool) bool {
	rest := a.b[p+1:]
	if len(rest) < 3 {
		return false
	}
	req, byName := false, 0
	switch rest[0] {
	case '_':
		rest = rest[1:]
		switch {
		case hasWord(rest, "GET"), hasWord(rest, "POST"), hasWord(rest, "REQUEST"),
			hasWord(rest, "COOKIE"), hasWord(rest, "FILES"):
			req = true
		case hasWord(rest, "SERVER"):
			// Only the parts a client controls.
			w := rest[6:min(len(rest), 40)]
			req = bytes.Contains(w, []byte("HTTP_")) || bytes.Contains(w, []byte("QUERY_STRING")) ||
				bytes.Contains(w, []byte("REQUEST_URI")) || bytes.Contains(w, []byte("PATH_INFO"))
		}
	case 'H':
		if bytes.HasPrefix(rest, []byte("HTTP_")) {
			rest = rest[5:]
			req = hasWord(rest, "GET_VARS") || hasWord(rest, "POST_VARS") || hasWord(rest, "COOKIE_VARS") || hasWord(rest, "RAW_POST_DATA")
		}
	case '{':
		byName = indirectSuperglobal(rest[1:])
	case 'G':
		if bytes.HasPrefix(rest, []byte("GLOBALS[")) {
			byName = indirectSuperglobal(rest[8:])
		}
	}
	if byName > 0 {
		req = true
		if _, seen := a.indirect[p]; !seen {
			if a.indirect == nil {
				a.indirect = map[int]struct{}{}
			}
			a.indirect[p] = struct{}{}
			a.found(phpSuperglobalIndirect, p, p+byName+14)
		}
	}
	if req && record {
		a.reqs = append(a.reqs, p)
	}
	return req
}

// indirectSuperglobal looks at what follows "${" or "$GLOBALS[": a
// quoted superglobal name, possibly in pieces ('_PO'.'ST'). It returns
// the length of the name, or 0.
func indirectSuperglobal(rest []byte) int {
	rest = bytes.TrimLeft(rest[:min(len(rest), 64)], " \t")
	if len(rest) < 2 || (rest[0] != '\'' && rest[0] != '"') {
		return 0
	}
	// Concatenate the literal pieces (at most 16 bytes of name).
	var buf [16]byte
	n := 0
	for len(rest) > 0 && (rest[0] == '\'' || rest[0] == '"') {
		j := bytes.IndexByte(rest[1:], rest[0])
		if j < 0 || n+j > len(buf) {
			return 0
		}
		n += copy(buf[n:], rest[1:1+j])
		rest = bytes.TrimLeft(rest[j+2:], " \t")
		if len(rest) == 0 || rest[0] != '.' {
			break
		}
		rest = bytes.TrimLeft(rest[1:], " \t")
	}
	switch string(buf[:n]) {
	case "_GET", "_POST", "_REQUEST", "_COOKIE", "_FILES":
		return n - 1
	}
	return 0
}

// hasWordFold is hasWord in any case (PHP keywords).
func hasWordFold(b []byte, w string) bool {
	return hasPrefixFold(b, w) && (len(b) == len(w) || !isIdent(b[len(w)]))
}

// hasWord reports whether b starts with w followed by a non-identifier.
func hasWord(b []byte, w string) bool {
	return len(b) >= len(w) && string(b[:len(w)]) == w && (len(b) == len(w) || !isIdent(b[len(w)]))
}

// hasReqIn reports whether there is request input in [s, e) (a variable or
// "://input" starting there, or a call of a function returning input).
// Request input in a comment or in inline HTML does not count (the lexer
// runs only when there is a candidate).
func (a *analysis) hasReqIn(s, e int) bool {
	b := a.b
	e = min(e, len(b))
	for i := s; i < e; {
		j := bytes.IndexByte(b[i:e], '$')
		if j < 0 {
			break
		}
		p := i + j
		i = p + 1
		if p+1 < len(b) {
			switch b[p+1] {
			case '_', '{', 'G', 'H':
				if a.phpDollar(p, false) && a.code(p) {
					return true
				}
			}
		}
	}
	for i := s; i < e; {
		j := bytes.Index(b[i:min(len(b), e+7)], []byte("://input"))
		if j < 0 {
			break
		}
		if a.code(i + j) {
			return true
		}
		i += j + 8
	}
	i, _ := slices.BinarySearch(a.reqFns, s)
	for ; i < len(a.reqFns) && a.reqFns[i] < e; i++ {
		if a.code(a.reqFns[i]) {
			return true
		}
	}
	return false
}

// code reports whether position p is code, or a string (request input
// in a string is interpolated or used), not a comment or inline HTML.
func (a *analysis) code(p int) bool {
	k := a.lex.kindAt(p)
	return k != spanComment && k != spanHTML
}

// phpCorrelate judges each call of interest by its arguments.
func (a *analysis) phpCorrelate() {
	b := a.b
	chain, chainEnd := 0, -1 // chr() chain
	decEnd := -1             // end of the outermost decoder chain
	for ci := range a.calls {
		c := &a.calls[ci]
		inner := a.calls[ci+1:]
		switch c.kind {
		case ckVar:
			if a.hasReqIn(c.open, c.end) || a.argFlow(c) {
				a.found(phpRequestVarCall, c.start, c.end+1)
			}
			switch {
			case a.extracted(c.start):
				// After extract($_POST), every variable is input.
				a.found(phpRequestCallable, c.start, c.end+1)
			case c.method:
				// $this->$name(): dispatch on a computed method name,
				// common in legitimate code; only request input counts.
				if a.assignedFrom(c.start, b[c.vs:c.ve]) == srcRequest {
					a.found(phpRequestCallable, c.start, c.end+1)
				}
			case allUnderscores(b[c.vs:c.ve]):
				// $_(...), $__(...): names chosen not to be read.
				a.found(phpVarCallBuilt, c.start, c.end+1)
				if a.assignedFrom(c.start, b[c.vs:c.ve]) == srcRequest {
					a.found(phpRequestCallable, c.start, c.end+1)
				}
			default:
				switch a.assignedFrom(c.start, b[c.vs:c.ve]) {
				case srcRequest:
					a.found(phpRequestCallable, c.start, c.end+1)
				case srcBuilt:
					a.found(phpVarCallBuilt, c.start, c.end+1)
				}
			}
			continue
		case ckIndex:
			switch {
			case a.hasReqIn(c.start, c.open):
				a.found(phpRequestCallable, c.start, c.end+1)
			case a.assignedFrom(c.start, b[c.vs:c.ve]) == srcRequest:
				// $a = $_POST; $a['f']($a['x'])
				a.found(phpRequestCallable, c.start, c.end+1)
			case a.hasReqIn(c.open, c.end):
				a.found(phpRequestVarCall, c.start, c.end+1)
			}
			continue
		case ckExpr:
			// foo()(...) is common in modern code: the arguments are
			// delimited only when the callee may matter.
			if a.hasReqIn(c.start, c.open) {
				c.end = a.argsEnd(c.open)
				a.found(phpRequestCallable, c.start, c.end+1)
			} else if b[c.start] == '\'' || b[c.start] == '"' || a.decoderIn(inner, c.start-argWindow, c.open) {
				if c.end = a.argsEnd(c.open); a.hasReqIn(c.open, c.end) {
					a.found(phpRequestVarCall, c.start, c.end+1)
				}
			}
			continue
		}
		switch c.cat {
		case catExec:
			a.found(phpExec, c.start, c.end+1)
			if a.hasReqIn(c.open, c.end) {
				a.found(phpRequestExec, c.start, c.end+1)
			} else if a.argFlow(c) || a.extracted(c.start) && bytes.IndexByte(b[c.open:c.end], '$') >= 0 {
				a.found(phpRequestFlow, c.start, c.end+1)
			}
		case catEval, catAssert, catCreateFunc:
			if c.cat == catEval {
				a.found(phpEval, c.start, c.end+1)
			}
			if c.cat == catCreateFunc {
				a.found(phpCreateFunction, c.start, c.end+1)
			}
			dyn := a.evalDynamic(c)
			switch {
			case a.hasReqIn(c.open, c.end):
				a.found(phpRequestEval, c.start, c.end+1)
			case a.decoderIn(inner, c.open, c.end):
				a.found(phpEvalDecoder, c.start, c.end+1)
			case dyn && a.argFlow(c):
				a.found(phpRequestFlow, c.start, c.end+1)
			}
			if dyn && c.cat != catCreateFunc {
				a.found(phpEvalDynamic, c.start, c.end+1)
			}
		case catPreg:
			if a.pregE(c) {
				a.found(phpPregE, c.start, c.end+1)
				if a.hasReqIn(c.open, c.end) {
					a.found(phpRequestEval, c.start, c.end+1)
				} else if a.decoderIn(inner, c.open, c.end) {
					a.found(phpEvalDecoder, c.start, c.end+1)
				}
			}
		case catCallback1, catCallback2, catCallbackLast:
			n := 0
			switch c.cat {
			case catCallback2:
				n = 1
			case catCallbackLast:
				n = -1
			}
			s, e, ok := a.nthArg(c, n)
			if !ok {
				break
			}
			arg := bytes.TrimSpace(b[s:e])
			switch {
			case a.hasReqIn(s, e):
				a.found(phpRequestCallable, c.start, c.end+1)
			case a.startsWithDecoder(inner, s, e, false):
				a.found(phpEvalDecoder, c.start, c.end+1)
			case isBareVar(arg) && a.assignedFrom(c.start, arg[1:]) == srcRequest:
				a.found(phpRequestCallable, c.start, c.end+1)
			case isBareVar(arg) && a.assignedFrom(c.start, arg[1:]) == srcBuilt || isLiteralConcat(arg):
				// array_map('ass'.'ert', ...): a callable assembled
				// from pieces.
				a.found(phpVarCallBuilt, c.start, c.end+1)
				if a.hasReqIn(c.open, c.end) {
					a.found(phpRequestVarCall, c.start, c.end+1)
				}
			default:
				if cat, ok := literalFunc(b[s:e]); ok {
					// call_user_func('system', ...), array_map('assert', ...)
					if cat == catExec {
						a.found(phpExec, c.start, c.end+1)
						if a.hasReqIn(c.open, c.end) {
							a.found(phpRequestExec, c.start, c.end+1)
						}
					} else {
						a.found(phpEvalDynamic, c.start, c.end+1)
						if a.hasReqIn(c.open, c.end) {
							a.found(phpRequestEval, c.start, c.end+1)
						}
					}
				}
			}
		case catDecoder, catDecoderWeak:
			if c.start < decEnd {
				break // inside an outer decoder already judged
			}
			if c.cat == catDecoder && a.startsWithDecoder(inner, c.open+1, c.end, true) {
				a.found(phpDecoderChain, c.start, c.end+1)
				decEnd = c.end
			}
			if a.longLiteralArg(c) {
				a.found(phpDecoderBlob, c.start, c.start+60)
			}
		case catWrite1, catWrite2:
			n := 0
			if c.cat == catWrite2 {
				n = 1
			}
			s, e, ok := a.nthArg(c, n)
			if c.cat == catWrite1 && lower(b[c.start]) == 'f' && lower(b[c.start+1]) == 'i' {
				s, e, ok = c.open, c.end, true // file_put_contents: the path or the content
			}
			if ok && a.hasReqIn(s, e) {
				if c.cat == catWrite1 && lower(b[c.start+1]) == 'o' && !a.fopenWrites(c) { // fopen
					break
				}
				a.found(phpRequestWrite, c.start, c.end+1)
			}
		case catChr:
			// chr(101).chr(118)...: count the calls joined only by
			// concatenation.
			if c.start > chainEnd && chain > 0 && onlyJoiners(b[chainEnd:c.start]) {
				chain++
			} else {
				chain = 1
			}
			chainEnd = c.end + 1
			if chain == charChainMin {
				a.found(anyCharChain, c.start, c.end+1)
			}
		case catInclude:
			a.phpIncludeCall(c)
		case catPutenv:
			if s, e, ok := a.nthArg(c, 0); ok && bytes.Contains(b[s:e], []byte("LD_PRELOAD")) {
				a.found(phpLDPreload, c.start, c.end+1)
			}
		case catMail:
			// The fifth argument is added to the sendmail command
			// line (-X logs the message to a file of one's choosing).
			if s, e, ok := a.nthArg(c, 4); ok && a.hasReqIn(s, e) {
				a.found(phpRequestExec, c.start, c.end+1)
			}
		case catProbe:
			if s, e, ok := a.nthArg(c, 0); ok && probesExec(a.lowSlice(s, e)) {
				a.found(phpFunctionProbe, c.start, c.end+1)
			}
		}
	}
	a.phpCmdParams()
}

// extracted reports whether extract() or parse_str() of request input
// came before pos.
func (a *analysis) extracted(pos int) bool {
	if a.extractAt == extractUnknown {
		a.extractAt = extractNone
		for i := range a.calls {
			c := &a.calls[i]
			if c.kind == ckNamed && c.cat == catExtract && a.hasReqIn(c.open, c.end) {
				a.extractAt = c.start
				break
			}
		}
	}
	return a.extractAt >= 0 && a.extractAt < pos
}

// a.extractAt before it is computed, and when there is no such call.
const (
	extractUnknown = -2
	extractNone    = -1
)

// callsFrom returns the index of the first call starting at or after pos.
func (a *analysis) callsFrom(pos int) int {
	i, _ := slices.BinarySearchFunc(a.calls, pos, func(c phpCall, pos int) int { return c.start - pos })
	return i
}

func allUnderscores(b []byte) bool {
	for _, c := range b {
		if c != '_' {
			return false
		}
	}
	return len(b) > 0
}

// decoderIn reports whether one of calls (those after the current one)
// is a decoder starting in [s, e).
func (a *analysis) decoderIn(calls []phpCall, s, e int) bool {
	for i := range calls {
		c := &calls[i]
		if c.start >= e {
			return false
		}
		if c.start >= s && c.kind == ckNamed && (c.cat == catDecoder || c.cat == catDecoderWeak) {
			return true
		}
	}
	return false
}

// startsWithDecoder reports whether the argument b[s:e] is a call of a
// decoder (of cat, or of either kind if strong is false), directly.
func (a *analysis) startsWithDecoder(calls []phpCall, s, e int, strong bool) bool {
	b := a.b
	for s < e && (isSpace(b[s]) || b[s] == '@' || b[s] == '\\') {
		s++
	}
	for i := range calls {
		c := &calls[i]
		if c.start > s {
			return false
		}
		if c.start == s && c.kind == ckNamed && (c.cat == catDecoder || !strong && c.cat == catDecoderWeak) {
			return true
		}
	}
	return false
}

// nthArg returns the bounds of the n-th (0-based) top-level argument of
// c; n = -1: the last one.
func (a *analysis) nthArg(c *phpCall, n int) (int, int, bool) {
	b := a.b
	depth, k, s := 0, 0, c.open+1
	for i := c.open + 1; i < c.end; i++ {
		switch b[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case '\'', '"':
			j := skipString(b[:c.end], i)
			if j < 0 {
				return 0, 0, false
			}
			i = j
		case ',':
			if depth == 0 {
				if k == n {
					return s, i, true
				}
				k++
				s = i + 1
			}
		}
	}
	if k == n || n < 0 {
		return s, c.end, true
	}
	return 0, 0, false
}

// literalFunc reports whether arg is a string literal naming an exec or
// eval function, and which.
func literalFunc(arg []byte) (phpCat, bool) {
	arg = bytes.TrimSpace(arg)
	if len(arg) < 3 || (arg[0] != '\'' && arg[0] != '"') || arg[len(arg)-1] != arg[0] {
		return catNone, false
	}
	name := arg[1 : len(arg)-1]
	var buf [32]byte
	if len(name) > len(buf) {
		return catNone, false
	}
	for i, c := range name {
		buf[i] = lower(c)
	}
	switch cat := phpFuncs[string(buf[:len(name)])]; cat {
	case catExec, catEval, catAssert, catCreateFunc:
		return cat, true
	}
	return catNone, false
}

// isLiteralConcat reports whether arg is string literals joined by '.'
// (at least two): 'ass'.'ert'.
func isLiteralConcat(arg []byte) bool {
	n := 0
	for len(arg) > 0 {
		if arg[0] != '\'' && arg[0] != '"' {
			return false
		}
		j := skipString(arg, 0)
		if j < 0 {
			return false
		}
		n++
		arg = bytes.TrimLeft(arg[j+1:], " \t\r\n")
		if len(arg) == 0 {
			break
		}
		if arg[0] != '.' {
			return false
		}
		arg = bytes.TrimLeft(arg[1:], " \t\r\n")
	}
	return n >= 2
}

// phpIncludeCall judges include/require written as a call: of the
// request body (php://input), or of a data: or decoding php://filter
// stream (code that is in no file). Request variables in the path are
// found by phpIncludes, for both forms.
func (a *analysis) phpIncludeCall(c *phpCall) {
	b := a.b
	s, e, ok := a.nthArg(c, 0)
	if !ok {
		return
	}
	if i := bytes.Index(b[s:e], []byte("://input")); i >= 0 && a.code(s+i) {
		a.found(phpRequestInclude, c.start, c.end+1)
		return
	}
	q := s // the opening quote of a literal path
	for q < e && (isSpace(b[q]) || b[q] == '(') {
		q++
	}
	if e-q < 6 || (b[q] != '\'' && b[q] != '"') {
		return
	}
	lit := a.lowSlice(q+1, min(e, q+80))
	if bytes.HasPrefix(lit, []byte("data:")) ||
		bytes.HasPrefix(lit, []byte("php://filter")) && (bytes.Contains(lit, []byte("decode")) || bytes.Contains(lit, []byte("rot13")) || bytes.Contains(lit, []byte("inflate"))) {
		a.found(phpIncludeWrapper, c.start, c.end+1)
	}
}

// evalDynamic reports whether the code argument of eval/assert is built
// at run time. For assert, only a bare variable counts: assert($a > 0) is
// an ordinary assertion.
func (a *analysis) evalDynamic(c *phpCall) bool {
	s, e, ok := a.nthArg(c, 0)
	if !ok {
		return true
	}
	arg := bytes.TrimSpace(a.b[s:e])
	if len(arg) == 0 {
		return false
	}
	if c.cat == catAssert {
		return isBareVar(arg) || a.hasReqIn(s, e) || a.decoderIn(a.calls, s, e)
	}
	if (arg[0] == '\'' || arg[0] == '"') && skipString(arg, 0) == len(arg)-1 {
		return false // a constant string
	}
	return true
}

func isBareVar(b []byte) bool {
	if len(b) < 2 || b[0] != '$' || !isIdentStart(b[1]) {
		return false
	}
	for _, c := range b[2:] {
		if !isIdent(c) {
			return false
		}
	}
	return true
}

// pregE reports whether the first argument of a preg_replace-like call is
// a literal pattern with the e modifier.
func (a *analysis) pregE(c *phpCall) bool {
	s, e, ok := a.nthArg(c, 0)
	if !ok {
		return false
	}
	arg := bytes.TrimSpace(a.b[s:e])
	if len(arg) < 4 || (arg[0] != '\'' && arg[0] != '"') || skipString(arg, 0) != len(arg)-1 {
		return false
	}
	pat := arg[1 : len(arg)-1]
	if len(pat) < 2 {
		return false
	}
	open := pat[0]
	if isIdent(open) || open == '\\' || isSpace(open) {
		return false
	}
	closing := open
	switch open {
	case '(':
		closing = ')'
	case '{':
		closing = '}'
	case '[':
		closing = ']'
	case '<':
		closing = '>'
	}
	k := bytes.LastIndexByte(pat, closing)
	if k <= 0 {
		return false
	}
	for _, m := range pat[k+1:] {
		if m == 'e' {
			return true
		}
		if !isLetter(m) {
			return false
		}
	}
	return false
}

// longLiteralArg reports whether the first argument of c is (or starts
// with) a string literal of 200 bytes or more.
func (a *analysis) longLiteralArg(c *phpCall) bool {
	b := a.b
	i := c.open + 1
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i >= len(b) || (b[i] != '\'' && b[i] != '"') {
		return false
	}
	j := skipString(b[:min(len(b), i+argWindow)], i)
	return j < 0 || j-i > 200
}

// fopenWrites reports whether an fopen call's mode argument writes.
func (a *analysis) fopenWrites(c *phpCall) bool {
	s, e, ok := a.nthArg(c, 1)
	if !ok {
		return false
	}
	m := bytes.Trim(bytes.TrimSpace(a.b[s:e]), `'"`)
	return bytes.ContainsAny(m, "wax")
}

// onlyJoiners reports whether b holds only what joins string pieces:
// spaces and the concatenation operators of PHP, VBScript and JavaScript.
func onlyJoiners(b []byte) bool {
	if len(b) > 24 {
		return false
	}
	for _, c := range b {
		if !isSpace(c) && c != '.' && c != '&' && c != '+' && c != '_' {
			return false
		}
	}
	return true
}

// lowSlice returns the lower case of b[s:e] (a short argument), in a
// scratch buffer valid until the next call.
func (a *analysis) lowSlice(s, e int) []byte {
	a.scratch = slices.Grow(a.scratch[:0], e-s)[:e-s]
	toLowerASCII(a.scratch, a.b[s:e])
	return a.scratch
}

// probesExec reports whether an ini_get/function_exists argument asks
// about command functions or their restrictions.
func probesExec(arg []byte) bool {
	for _, w := range []string{"disable_functions", "'system'", "'shell_exec'", "'passthru'", "'exec'", "'popen'", "'proc_open'",
		`"system"`, `"shell_exec"`, `"passthru"`, `"exec"`, `"popen"`, `"proc_open"`} {
		if bytes.Contains(arg, []byte(w)) {
			return true
		}
	}
	return false
}

// source classifies what a variable was assigned from.
type source uint8

const (
	srcUnknown source = iota
	srcRequest
	srcBuilt // decoded, built from pieces, or naming a sink
)

// assignedFrom looks back from pos (at most flowWindow bytes) for the
// latest assignment "$name = ...;" and classifies its right-hand side.
func (a *analysis) assignedFrom(pos int, name []byte) source {
	b := a.b
	lo := max(0, pos-flowWindow)
	// A file made of dynamic calls would make every call look back
	// over its window: the looking back is bounded per region.
	if a.flowBudget -= pos - lo; a.flowBudget < 0 {
		return srcUnknown
	}
	var needle [48]byte
	if len(name)+1 > len(needle) {
		return srcUnknown
	}
	needle[0] = '$'
	n := 1 + copy(needle[1:], name)
	// The latest "$name =" before pos: the occurrences are found forwards
	// (a vectorised search; the window is short).
	rs := -1
	for i := lo; i < pos; {
		k := bytes.Index(b[i:pos], needle[:n])
		if k < 0 {
			break
		}
		k += i
		i = k + n
		v := k + n
		if v < len(b) && isIdent(b[v]) {
			continue
		}
		for v < len(b) && isSpace(b[v]) {
			v++
		}
		if v+1 < len(b) && b[v] == '.' && b[v+1] == '=' {
			v++
		}
		if v+1 >= len(b) || b[v] != '=' || b[v+1] == '=' || b[v+1] == '>' {
			continue
		}
		rs = v + 1
	}
	if rs < 0 {
		return srcUnknown
	}
	re := bytes.IndexByte(b[rs:min(len(b), rs+argWindow)], ';')
	if re < 0 {
		re = min(len(b), rs+argWindow)
	} else {
		re += rs
	}
	if w := bytes.TrimLeft(b[rs:re], " \t\r\n&@"); hasWordFold(w, "function") || hasWordFold(w, "fn") || hasWordFold(w, "static") {
		return srcUnknown // a closure: its body is code, not the value
	}
	if a.hasReqIn(rs, re) {
		return srcRequest
	}
	for i := a.callsFrom(rs); i < len(a.calls); i++ {
		c := &a.calls[i]
		if c.start >= re {
			break
		}
		if c.kind == ckNamed && (c.cat == catDecoder || c.cat == catDecoderWeak || c.cat == catChr || c.cat == catStrReplace) {
			return srcBuilt
		}
	}
	rhs := bytes.TrimSpace(b[rs:re])
	if bytes.Contains(rhs, []byte("'.'")) || bytes.Contains(rhs, []byte(`"."`)) ||
		bytes.Contains(rhs, []byte("' . '")) || bytes.Contains(rhs, []byte(`" . "`)) {
		return srcBuilt
	}
	if _, ok := literalFunc(rhs); ok {
		return srcBuilt
	}
	if len(rhs) > 2 && rhs[0] == '"' && bytes.Count(rhs, []byte(`\x`)) >= 3 {
		return srcBuilt // "\x73\x79\x73...": a name spelled in escapes
	}
	return srcUnknown
}

// argFlow reports whether a variable in c's arguments was assigned from
// request input shortly before.
func (a *analysis) argFlow(c *phpCall) bool {
	b := a.b
	for i := c.open + 1; i < c.end; i++ {
		if b[i] != '$' || i+1 >= c.end || !isIdentStart(b[i+1]) {
			continue
		}
		j := i + 1
		for j < c.end && isIdent(b[j]) {
			j++
		}
		if j-i-1 > 40 || string(b[i+1:j]) == "this" { // $this is never assigned
			i = j
			continue
		}
		if a.assignedFrom(c.start, b[i+1:j]) == srcRequest {
			return true
		}
		i = j
	}
	return false
}

// phpBackticks finds `...` shell commands built from variables.
func (a *analysis) phpBackticks() {
	b := a.b
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '`')
		if j < 0 {
			return
		}
		open := i + j
		lim := min(len(b), open+256)
		k := bytes.IndexByte(b[open+1:lim], '`')
		if k < 0 {
			i = open + 1
			continue
		}
		closing := open + 1 + k
		i = closing + 1
		body := b[open+1 : closing]
		if bytes.IndexByte(body, '\n') >= 0 || bytes.IndexByte(body, '$') < 0 || bytes.Contains(body, []byte("${")) {
			continue
		}
		// Code context: the backtick expression is a value.
		p := open - 1
		for p >= 0 && isSpace(b[p]) {
			p--
		}
		ok := p >= 0 && bytes.IndexByte([]byte("=(.,[?"), b[p]) >= 0
		if !ok {
			ok = isWord(wordBefore(b, open), "echo", "print", "return")
		}
		if !ok || commentLine(b, open) {
			continue
		}
		if a.lex.kindAt(open) != spanBacktick {
			continue
		}
		a.found(phpExec, open, closing+1)
		if a.hasReqIn(open, closing) {
			a.found(phpRequestExec, open, closing+1)
		}
	}
}

// commentLine reports whether the line holding b[p] starts like a
// comment line ("*" in a docblock, "//", "#"): docblocks quote variables
// in backticks ("the hook name, `$action`, ..."), and asking the lexer
// would mean lexing the file up to there.
func commentLine(b []byte, p int) bool {
	lo := max(0, p-256)
	ls := bytes.LastIndexByte(b[lo:p], '\n')
	if ls < 0 && lo > 0 {
		return false // a long line: let the lexer tell
	}
	ls += lo + 1
	for ls < p && (b[ls] == ' ' || b[ls] == '\t') {
		ls++
	}
	switch {
	case b[ls] == '*':
		return true
	case b[ls] == '#':
		return ls+1 < len(b) && b[ls+1] != '['
	case b[ls] == '/':
		return ls+1 < len(b) && b[ls+1] == '/'
	}
	return false
}

// phpIncludes finds include/require of a path built from request input.
func (a *analysis) phpIncludes() {
	b := a.b
	for _, r := range a.reqs {
		ls := max(0, r-100)
		if k := bytes.LastIndexByte(b[ls:r], '\n'); k >= 0 {
			ls += k + 1
		}
		ls = statementStart(b, ls, r)
		seg := a.lowSlice(ls, r)
		for _, kw := range []string{"include", "require"} {
			k := bytes.Index(seg, []byte(kw))
			if k < 0 || (k > 0 && isIdent(seg[k-1])) {
				continue
			}
			after := seg[k+len(kw):]
			after = bytes.TrimPrefix(after, []byte("_once"))
			if len(after) > 0 && isIdent(after[0]) {
				continue
			}
			a.found(phpRequestInclude, ls+k, r+12)
		}
	}
}

// statementStart returns the position after the last ';' in b[lo:r]
// that is not inside a quoted string ("data:text/plain;base64,"), or lo.
// Quotes are counted from lo: a heuristic for one line of code.
func statementStart(b []byte, lo, r int) int {
	for e := r; ; {
		k := bytes.LastIndexByte(b[lo:e], ';')
		if k < 0 {
			return lo
		}
		k += lo
		if quotesBalanced(b[lo:k]) {
			return k + 1
		}
		e = k
	}
}

// quotesBalanced reports whether b leaves no single- or double-quoted
// string open (escapes counted).
func quotesBalanced(b []byte) bool {
	var q byte
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case q != 0 && c == '\\':
			i++
		case q != 0 && c == q:
			q = 0
		case q == 0 && (c == '\'' || c == '"'):
			q = c
		}
	}
	return q == 0
}

// phpCmdParams finds request parameters named like a command.
func (a *analysis) phpCmdParams() {
	b := a.b
	for _, r := range a.reqs {
		k := bytes.IndexByte(b[r:min(len(b), r+16)], '[')
		if k < 0 {
			continue
		}
		key := b[r+k+1 : min(len(b), r+k+14)]
		key = bytes.TrimLeft(key, `'" `)
		for _, w := range []string{"cmd", "command", "exec", "execute", "shell"} {
			if len(key) > len(w) && hasPrefixFold(key, w) && (key[len(w)] == '\'' || key[len(w)] == '"' || key[len(w)] == ']') {
				a.found(phpCmdParam, r, r+k+len(w)+4)
			}
		}
	}
}
