package indicators

import (
	"bytes"
	"math/bits"
	"slices"
)

// The families other than PHP are matched on tokens: case-insensitive
// literals searched in the lower-cased region (one vectorised search per
// literal), then correlated by distance ("request input within 400 bytes
// of a process launch"). It is coarser than the PHP call analysis, and
// these families are much rarer in web roots than PHP.

// kind is what a token stands for.
type kind uint8

const (
	kRequest  kind = iota + 1
	kExec          // a process launch or shell object
	kExecCall      // a method that runs something on an object (.Exec(, .Run()
	kEval          // code evaluation
	kDecoder       // decoding or decryption
	kLoader        // class or assembly loading from bytes
	kUnsafe        // JScript eval's "unsafe" option
	kWrite         // file writing
	kEngine        // a script engine
	kSocket
	kShellIO // wiring a socket to a shell: dup2, pty.spawn, sh -i
	kChr     // one character built from a number
	kMarker
	kCmdForm
	kSSIExec
	kInternals // servlet container internals (memory shells)
)

// tok is one token.
type tok struct {
	lit  string // lower case
	kind kind
	// wordStart: not preceded by an identifier character (nor a '.' if
	// noDot); wordEnd: not followed by one.
	wordStart, wordEnd, noDot bool
	// arg, if set, must accept the bytes after the token.
	arg func(after []byte) bool
}

// event is a token found.
type event struct {
	pos, end int
	kind     kind
	tok      *tok // nil for events found otherwise
}

// argStartsCode accepts an argument that is not a string literal (a
// variable, a call, an expression).
func argStartsCode(after []byte) bool {
	after = bytes.TrimLeft(after, " \t(")
	return len(after) > 0 && after[0] != '"' && after[0] != '\'' && after[0] != ')' && after[0] != '{' && after[0] != '\n' && after[0] != '\r'
}

// argCommand accepts what follows a Perl/shell "system " or "exec ": a
// string, a variable, a list or backticks.
func argCommand(after []byte) bool {
	after = bytes.TrimLeft(after, " \t")
	return len(after) > 0 && bytes.IndexByte([]byte("\"'$@(`"), after[0]) >= 0
}

// argNotBlock accepts what follows a Perl or shell eval except a block
// (Perl's eval { ... } catches exceptions).
func argNotBlock(after []byte) bool {
	after = bytes.TrimLeft(after, " \t")
	return len(after) > 0 && after[0] != '{' && after[0] != ';' && after[0] != '\n' && after[0] != '\r'
}

// argPipe accepts a Perl open(...) of a command pipe ("cmd |", "| cmd").
func argPipe(after []byte) bool {
	after = after[:min(len(after), 60)]
	if i := bytes.IndexByte(after, ')'); i >= 0 {
		after = after[:i]
	}
	return bytes.Contains(after, []byte(`|"`)) || bytes.Contains(after, []byte(`"|`)) ||
		bytes.Contains(after, []byte(`|'`)) || bytes.Contains(after, []byte(`'|`)) || bytes.Contains(after, []byte(`"-|"`))
}

// argWriteMode accepts an open(...) whose next bytes open for writing.
func argWriteMode(after []byte) bool {
	after = after[:min(len(after), 60)]
	if i := bytes.IndexByte(after, '\n'); i >= 0 {
		after = after[:i]
	}
	for _, m := range []string{`">`, `'>`, `'w'`, `"w"`, `'wb'`, `"wb"`, `'a'`, `"a"`, `, >`, `,>`} {
		if bytes.Contains(after, []byte(m)) {
			return true
		}
	}
	return false
}

var aspTokens = []tok{
	{lit: "request(", kind: kRequest, wordStart: true},
	{lit: "request.form", kind: kRequest, wordStart: true},
	{lit: "request.querystring", kind: kRequest, wordStart: true},
	{lit: "request.item", kind: kRequest, wordStart: true},
	{lit: "request[", kind: kRequest, wordStart: true},
	{lit: "request.params", kind: kRequest, wordStart: true},
	{lit: "request.cookies", kind: kRequest, wordStart: true},
	{lit: "request.servervariables", kind: kRequest, wordStart: true},
	{lit: "request.headers", kind: kRequest, wordStart: true},
	{lit: "request.inputstream", kind: kRequest, wordStart: true},
	{lit: "request.binaryread", kind: kRequest, wordStart: true},
	{lit: "request.files", kind: kRequest, wordStart: true},
	{lit: "eval", kind: kEval, wordStart: true, wordEnd: true, noDot: true},
	{lit: "execute", kind: kEval, wordStart: true, wordEnd: true, noDot: true},
	{lit: "executeglobal", kind: kEval, wordStart: true, wordEnd: true, noDot: true},
	{lit: `"unsafe"`, kind: kUnsafe},
	{lit: "wscript.shell", kind: kExec},
	{lit: "shell.application", kind: kExec},
	{lit: "process.start", kind: kExec, wordStart: true},
	{lit: "processstartinfo", kind: kExec, wordStart: true},
	{lit: "diagnostics.process", kind: kExec},
	{lit: "cmd.exe", kind: kExec, wordStart: true},
	{lit: "cmd /c", kind: kExec, wordStart: true},
	{lit: "powershell", kind: kExec, wordStart: true},
	{lit: ".exec(", kind: kExecCall},
	{lit: ".run(", kind: kExecCall},
	{lit: ".run ", kind: kExecCall},
	{lit: ".exec ", kind: kExecCall},
	{lit: ".shellexecute", kind: kExecCall},
	{lit: "assembly.load", kind: kLoader, wordStart: true},
	{lit: "compileassemblyfromsource", kind: kLoader},
	{lit: "csharpcodeprovider", kind: kLoader},
	{lit: "vbcodeprovider", kind: kLoader},
	{lit: "activator.createinstance", kind: kLoader},
	{lit: "frombase64string", kind: kDecoder},
	{lit: "rijndaelmanaged", kind: kDecoder},
	{lit: "createdecryptor", kind: kDecoder},
	{lit: "transformfinalblock", kind: kDecoder},
	{lit: "createtextfile", kind: kWrite},
	{lit: "savetofile", kind: kWrite},
	{lit: ".saveas(", kind: kWrite},
	{lit: "writeallbytes", kind: kWrite},
	{lit: "writealltext", kind: kWrite},
	{lit: "new streamwriter", kind: kWrite},
	{lit: "new filestream", kind: kWrite},
	{lit: "chr(", kind: kChr, wordStart: true},
	{lit: "chrw(", kind: kChr, wordStart: true},
	{lit: "chrb(", kind: kChr, wordStart: true},
}

var jspTokens = []tok{
	{lit: "request.getparameter", kind: kRequest},
	{lit: ".getparameter(", kind: kRequest},
	{lit: "request.getinputstream", kind: kRequest},
	{lit: "request.getreader", kind: kRequest},
	{lit: "request.getheader", kind: kRequest},
	{lit: "request.getquerystring", kind: kRequest},
	{lit: "request.getpart", kind: kRequest},
	{lit: "getparametervalues", kind: kRequest},
	{lit: "getparametermap", kind: kRequest},
	{lit: "request.getcookies", kind: kRequest},
	{lit: "runtime.getruntime", kind: kExec},
	{lit: "java.lang.runtime", kind: kExec},
	{lit: "java.lang.processbuilder", kind: kExec},
	{lit: `getmethod("exec"`, kind: kExec},
	{lit: "processbuilder", kind: kExec, wordStart: true},
	{lit: "processimpl", kind: kExec},
	{lit: "unixprocess", kind: kExec},
	{lit: ".exec(", kind: kExecCall},
	{lit: "defineclass", kind: kLoader},
	{lit: "extends classloader", kind: kLoader},
	{lit: "defineanonymousclass", kind: kLoader},
	{lit: "$$bcel$$", kind: kLoader},
	{lit: "apache.bcel", kind: kLoader},
	{lit: "urlclassloader", kind: kLoader},
	{lit: "standardcontext", kind: kInternals},
	{lit: "applicationfilterconfig", kind: kInternals},
	{lit: "filterdef", kind: kInternals, wordStart: true},
	{lit: "filtermap", kind: kInternals, wordStart: true, wordEnd: true},
	{lit: "addservletmappingdecoded", kind: kInternals},
	{lit: "standardwrapper", kind: kInternals},
	{lit: "requestmappinghandlermapping", kind: kInternals},
	{lit: "cipher.getinstance", kind: kDecoder},
	{lit: "base64decoder", kind: kDecoder},
	{lit: "getdecoder()", kind: kDecoder},
	{lit: "decodebuffer", kind: kDecoder},
	{lit: "secretkeyspec", kind: kDecoder},
	{lit: ".dofinal(", kind: kDecoder},
	{lit: "scriptenginemanager", kind: kEngine},
	{lit: "getenginebyname", kind: kEngine},
	{lit: "elprocessor", kind: kEngine},
	{lit: "groovyshell", kind: kEngine},
	{lit: "javax.script", kind: kEngine},
	{lit: ".eval(", kind: kEval},
	{lit: "fileoutputstream", kind: kWrite},
	{lit: "filewriter", kind: kWrite},
	{lit: "randomaccessfile", kind: kWrite},
	{lit: "files.write", kind: kWrite},
	{lit: "fromcharcode(", kind: kChr},
}

var cgiTokens = []tok{
	{lit: "param(", kind: kRequest, wordStart: true},
	{lit: "->param", kind: kRequest},
	{lit: "query_string", kind: kRequest},
	{lit: "fieldstorage", kind: kRequest},
	{lit: ".getvalue(", kind: kRequest},
	{lit: ".getfirst(", kind: kRequest},
	{lit: "request.args", kind: kRequest, wordStart: true},
	{lit: "request.form", kind: kRequest, wordStart: true},
	{lit: "request.values", kind: kRequest, wordStart: true},
	{lit: "<stdin>", kind: kRequest},
	{lit: "cgi.params", kind: kRequest},
	{lit: "system(", kind: kExec, wordStart: true, noDot: true},
	{lit: "system", kind: kExec, wordStart: true, wordEnd: true, noDot: true, arg: argCommand},
	{lit: "exec(", kind: kExec, wordStart: true, noDot: true},
	{lit: "exec", kind: kExec, wordStart: true, wordEnd: true, noDot: true, arg: argCommand},
	{lit: "qx{", kind: kExec, wordStart: true},
	{lit: "qx(", kind: kExec, wordStart: true},
	{lit: "qx/", kind: kExec, wordStart: true},
	{lit: "qx|", kind: kExec, wordStart: true},
	{lit: "%x{", kind: kExec},
	{lit: "os.system", kind: kExec, wordStart: true},
	{lit: "os.popen", kind: kExec, wordStart: true},
	{lit: "os.exec", kind: kExec, wordStart: true},
	{lit: "subprocess.", kind: kExec, wordStart: true},
	{lit: "commands.getoutput", kind: kExec},
	{lit: "io.popen", kind: kExec},
	{lit: "open3", kind: kExec, wordStart: true},
	{lit: "eval(", kind: kEval, wordStart: true, noDot: true},
	{lit: "eval", kind: kEval, wordStart: true, wordEnd: true, noDot: true, arg: argNotBlock},
	{lit: ".popen(", kind: kExec},
	{lit: "open(", kind: kExec, wordStart: true, noDot: true, arg: argPipe},
	{lit: "cgi[", kind: kRequest, wordStart: true},
	{lit: "params[", kind: kRequest, wordStart: true},
	{lit: "decode_base64", kind: kDecoder},
	{lit: "b64decode", kind: kDecoder},
	{lit: "decodestring", kind: kDecoder},
	{lit: "zlib.decompress", kind: kDecoder},
	{lit: "marshal.loads", kind: kDecoder},
	{lit: "unpack(", kind: kDecoder, wordStart: true},
	{lit: "codecs.decode", kind: kDecoder},
	{lit: "unhexlify", kind: kDecoder},
	{lit: "bytes.fromhex", kind: kDecoder},
	{lit: "open(", kind: kWrite, wordStart: true, noDot: true, arg: argWriteMode},
	{lit: "chr(", kind: kChr, wordStart: true},
}

var cfmTokens = []tok{
	{lit: "url.", kind: kRequest, wordStart: true},
	{lit: "form.", kind: kRequest, wordStart: true},
	{lit: "cgi.query_string", kind: kRequest},
	{lit: "gethttprequestdata", kind: kRequest},
	{lit: "<cfexecute", kind: kExec},
	{lit: "cfexecute(", kind: kExec, wordStart: true},
	{lit: "java.lang.runtime", kind: kExec},
	{lit: "java.lang.processbuilder", kind: kExec},
	{lit: "getruntime()", kind: kExec},
	{lit: "evaluate(", kind: kEval, wordStart: true},
	{lit: "precisionevaluate(", kind: kEval, wordStart: true},
	{lit: "<cffile", kind: kWrite},
	{lit: "filewrite(", kind: kWrite, wordStart: true},
	{lit: "fileupload(", kind: kWrite, wordStart: true},
	{lit: "chr(", kind: kChr, wordStart: true},
}

var ssiTokens = []tok{
	{lit: "<!--#exec", kind: kSSIExec},
}

// commonTokens apply to every family: well-known shell names and
// telltale strings, and command boxes in forms.
var commonTokens = []tok{
	{lit: "c99shell", kind: kMarker},
	{lit: "c99sh_", kind: kMarker},
	{lit: "c99_buff", kind: kMarker},
	{lit: "c99madshell", kind: kMarker},
	{lit: "r57shell", kind: kMarker},
	{lit: "r57 shell", kind: kMarker},
	{lit: "filesman", kind: kMarker, wordStart: true},
	{lit: "wso_version", kind: kMarker},
	{lit: "b374k", kind: kMarker},
	{lit: "phpspy", kind: kMarker},
	{lit: "weevely", kind: kMarker},
	{lit: "p0wny", kind: kMarker},
	{lit: "indoxploit", kind: kMarker},
	{lit: "sh3ll", kind: kMarker},
	{lit: "madspot", kind: kMarker},
	{lit: "aspxspy", kind: kMarker},
	{lit: "jspspy", kind: kMarker},
	{lit: "cmdasp", kind: kMarker},
	{lit: "regeorg", kind: kMarker},
	{lit: "antsword", kind: kMarker},
	{lit: "caidao", kind: kMarker},
	{lit: "chopper", kind: kMarker, wordStart: true},
	{lit: "rebeyond", kind: kMarker},
	{lit: "behinder", kind: kMarker},
	{lit: "laudanum", kind: kMarker},
	{lit: "webshell", kind: kMarker, wordStart: true},
	{lit: "web shell", kind: kMarker, wordStart: true},
	{lit: "php shell", kind: kMarker, wordStart: true},
	{lit: "jsp shell", kind: kMarker, wordStart: true},
	{lit: "asp shell", kind: kMarker, wordStart: true},
	{lit: "cgi shell", kind: kMarker, wordStart: true},
	{lit: "mini shell", kind: kMarker, wordStart: true},
	{lit: "shell by", kind: kMarker, wordStart: true},
	{lit: "hacked by", kind: kMarker, wordStart: true},
	{lit: "safe mode bypass", kind: kMarker},
	{lit: "safe_mode bypass", kind: kMarker},
	{lit: "backdoor", kind: kMarker, wordStart: true},
	{lit: "k2ll33d", kind: kMarker},
	{lit: "priv8", kind: kMarker, wordStart: true},
	{lit: "alfa_data", kind: kMarker},
	{lit: "anonymousfox", kind: kMarker},
	{lit: "fsockopen", kind: kSocket},
	{lit: "socket_create", kind: kSocket},
	{lit: "stream_socket_client", kind: kSocket},
	{lit: "stream_socket_server", kind: kSocket},
	{lit: "socket.socket", kind: kSocket},
	{lit: "io::socket", kind: kSocket},
	{lit: "socket(", kind: kSocket, wordStart: true},
	{lit: "tcpsocket", kind: kSocket},
	{lit: "tcpclient", kind: kSocket},
	{lit: "java.net.socket", kind: kSocket},
	{lit: "new socket(", kind: kSocket},
	{lit: "/bin/sh", kind: kShellIO},
	{lit: "/bin/bash", kind: kShellIO},
	{lit: "cmd.exe", kind: kShellIO},
	{lit: "dup2", kind: kShellIO},
	{lit: "pty.spawn", kind: kShellIO},
	{lit: "sh -i", kind: kShellIO, wordStart: true},
	{lit: "open(stdin", kind: kShellIO},
	{lit: "open(stdout", kind: kShellIO},
	{lit: `name="cmd"`, kind: kCmdForm},
	{lit: `name='cmd'`, kind: kCmdForm},
	{lit: `name=cmd`, kind: kCmdForm, wordEnd: true},
	{lit: `name="command"`, kind: kCmdForm},
	{lit: `name='command'`, kind: kCmdForm},
	{lit: `name=command`, kind: kCmdForm, wordEnd: true},
	{lit: `name="execute"`, kind: kCmdForm},
	{lit: `name="exec"`, kind: kCmdForm},
}

// tokenSet indexes a token list for one pass over the region that finds
// them all. The region is cut into blocks of m-2 bytes (m: the shortest
// literal's length); a literal starting in a block covers the three
// bytes that end the block's window of m, at an offset that tells where
// it starts. A block whose three bytes occur in no literal's first m
// bytes (nearly all of them) is skipped after one table lookup; the
// lookups do not depend on each other, unlike a Boyer-Moore or
// Wu-Manber skip, and the branch is almost never taken, so the processor
// runs ahead.
type tokenSet struct {
	toks []tok
	m    int // the shortest literal's length, at most 15
	// grams[h] has bit q set when some literal has, at q-3 to q-1,
	// three bytes hashing to h.
	grams [1 << 13]uint16
	// byFirst[c] lists the indexes into toks of the literals starting
	// with byte c, with their second byte.
	byFirst [256][]tokHead
}

type tokHead struct {
	second byte
	i      uint16
}

func gramHash(x, y, z byte) uint16 {
	return uint16((uint32(x)<<16 | uint32(y)<<8 | uint32(z)) * 2654435761 >> 19)
}

func newTokenSet(toks []tok) *tokenSet {
	ts := &tokenSet{toks: toks, m: 15}
	for i, t := range toks {
		if len(t.lit) < 3 {
			panic("indicators: token shorter than three bytes: " + t.lit)
		}
		ts.m = min(ts.m, len(t.lit))
		ts.byFirst[t.lit[0]] = append(ts.byFirst[t.lit[0]], tokHead{t.lit[1], uint16(i)})
	}
	for _, t := range toks {
		for q := 3; q <= ts.m; q++ {
			ts.grams[gramHash(t.lit[q-3], t.lit[q-2], t.lit[q-1])] |= 1 << q
		}
	}
	return ts
}

var (
	aspSet    = newTokenSet(aspTokens)
	jspSet    = newTokenSet(jspTokens)
	cgiSet    = newTokenSet(cgiTokens)
	cfmSet    = newTokenSet(cfmTokens)
	ssiSet    = newTokenSet(ssiTokens)
	commonSet = newTokenSet(commonTokens)
)

// findTokens appends to dst[:0] every occurrence of the set's tokens in
// the lowered region, in position order.
func (a *analysis) findTokens(dst []event, ts *tokenSet) []event {
	low := a.lowered()
	dst = dst[:0]
	m := ts.m
	step := max(1, m-2)
	for base := 0; base+m <= len(low); base += step {
		// A literal starting at p in low[base : base+step] has the
		// three bytes ending the window of m at q = base+m-p.
		qs := ts.grams[gramHash(low[base+m-3], low[base+m-2], low[base+m-1])]
		for qs != 0 {
			q := 15 - bits.LeadingZeros16(qs) // largest q first: p in order
			qs &^= 1 << q
			if p := base + m - q; p < base+step {
				dst = ts.matchAt(dst, low, p)
			}
		}
	}
	return dst
}

// matchAt appends the set's tokens found at low[p].
func (ts *tokenSet) matchAt(dst []event, low []byte, p int) []event {
	if p+1 >= len(low) {
		return dst
	}
	for _, h := range ts.byFirst[low[p]] {
		if h.second != low[p+1] {
			continue
		}
		t := &ts.toks[h.i]
		e := p + len(t.lit)
		if e > len(low) || string(low[p:e]) != t.lit {
			continue
		}
		if t.wordStart && p > 0 && (isIdent(low[p-1]) || t.noDot && (low[p-1] == '.' || low[p-1] == '>' || low[p-1] == ':')) {
			continue
		}
		if t.wordEnd && e < len(low) && isIdent(low[e]) {
			continue
		}
		if t.arg != nil && !t.arg(low[e:min(len(low), e+64)]) {
			continue
		}
		dst = append(dst, event{pos: p, end: e, kind: t.kind, tok: t})
	}
	return dst
}

// byKind returns the events of kind k (a view is not possible: they are
// interleaved; the lists are short).
func byKind(evs []event, k kind) []event {
	var out []event
	for _, e := range evs {
		if e.kind == k {
			out = append(out, e)
		}
	}
	return out
}

// near returns the first event of as that has an event of bs within
// [pos-before, end+after], and whether there is one. Both lists are
// sorted; the work is linear in their lengths.
func near(as, bs []event, before, after int) (event, bool) {
	j := 0
	for _, x := range as {
		for j < len(bs) && bs[j].pos < x.pos-before {
			j++
		}
		if j < len(bs) && bs[j].pos <= x.end+after {
			return x, true
		}
	}
	return event{}, false
}

// scanTokens runs the token rules of the region's family.
func (a *analysis) scanTokens() {
	var toks *tokenSet
	switch a.fam {
	case FamilyASP:
		toks = aspSet
	case FamilyJSP:
		toks = jspSet
	case FamilyCGI:
		toks = cgiSet
	case FamilyCFM:
		toks = cfmSet
	case FamilySSI:
		toks = ssiSet
	}
	a.events = a.findTokens(a.events, toks)
	switch a.fam {
	case FamilyASP:
		a.aspRules(a.events)
	case FamilyJSP:
		a.jspRules(a.events)
	case FamilyCGI:
		a.cgiRules(a.events)
		a.backticksCGI()
	case FamilyCFM:
		a.cfmRules(a.events)
	case FamilySSI:
		if len(a.events) > 0 {
			a.found(ssiExec, a.events[0].pos, a.events[0].end+40)
		}
	}
	a.charChains(a.events)
	a.scanCommon()
}

func (a *analysis) aspRules(evs []event) {
	req, eval, exec := byKind(evs, kRequest), byKind(evs, kEval), byKind(evs, kExec)
	execCall := byKind(evs, kExecCall)
	if x, ok := near(eval, req, 0, 80); ok {
		a.found(aspRequestEval, x.pos, x.end+60)
	}
	execCallReq, execCallReqOK := near(execCall, req, 0, 60)
	if x, ok := near(eval, byKind(evs, kUnsafe), 0, 200); ok {
		a.found(aspEvalUnsafe, x.pos, x.end+60)
	}
	for _, x := range eval {
		// Eval("Field") is ASP.NET data binding; Execute "literal" is
		// harmless.
		if argStartsCode(a.low[x.end:min(len(a.low), x.end+32)]) && !bytes.HasPrefix(bytes.TrimLeft(a.low[x.end:min(len(a.low), x.end+32)], " ("), []byte("container.")) {
			a.found(aspEvalDynamic, x.pos, x.end+60)
			// Request input read into a variable just before.
			if _, ok := near([]event{x}, req, 400, 0); ok {
				a.found(aspRequestEval, x.pos, x.end+60)
			}
			break
		}
	}
	if execCallReqOK {
		// o.Run Request("x"): whatever the object, which may be hidden.
		a.found(aspRequestExec, execCallReq.pos, execCallReq.end+60)
	}
	if len(exec) > 0 {
		a.found(aspShellObject, exec[0].pos, exec[0].end+40)
		runs := mergeEvents(exec, execCall)
		if x, ok := near(runs, req, 400, 400); ok {
			a.found(aspRequestExec, x.pos, x.end+60)
		}
	}
	loaders := byKind(evs, kLoader)
	if x, ok := near(loaders, req, 600, 600); ok {
		a.found(aspRequestAssemblyLoad, x.pos, x.end+60)
	} else if x, ok := near(loaders, byKind(evs, kDecoder), 600, 600); ok {
		a.found(aspAssemblyLoad, x.pos, x.end+60)
	}
	if x, ok := near(byKind(evs, kWrite), req, 300, 300); ok {
		a.found(aspRequestWrite, x.pos, x.end+60)
	}
}

func (a *analysis) jspRules(evs []event) {
	req, exec := byKind(evs, kRequest), byKind(evs, kExec)
	if len(exec) > 0 {
		// Runtime.getRuntime() alone is also used for memory figures;
		// it counts with an .exec( after it.
		runs := mergeEvents(exec, byKind(evs, kExecCall))
		var launch []event
		for _, x := range exec {
			if x.tok.lit != "runtime.getruntime" || bytes.Contains(a.low[x.end:min(len(a.low), x.end+64)], []byte(".exec(")) {
				launch = append(launch, x)
			}
		}
		if len(launch) > 0 {
			a.found(jspExec, launch[0].pos, launch[0].end+60)
			if x, ok := near(runs, req, 600, 600); ok {
				a.found(jspRequestExec, x.pos, x.end+60)
			}
		}
	}
	loaders := byKind(evs, kLoader)
	if x, ok := near(loaders, req, 1000, 1000); ok {
		a.found(jspRequestClassLoad, x.pos, x.end+60)
	} else if x, ok := near(loaders, byKind(evs, kDecoder), 1000, 1000); ok {
		a.found(jspDefineClass, x.pos, x.end+60)
	}
	if eng := byKind(evs, kEngine); len(eng) > 0 {
		evals := byKind(evs, kEval)
		if x, ok := near(evals, eng, 2000, 2000); ok {
			a.found(jspScriptEval, x.pos, x.end+60)
			if y, ok := near(evals, req, 400, 400); ok {
				a.found(jspRequestEval, y.pos, y.end+60)
			}
		}
	}
	if x, ok := near(byKind(evs, kWrite), req, 300, 300); ok {
		a.found(jspRequestWrite, x.pos, x.end+60)
	}
	if in := byKind(evs, kInternals); len(in) > 0 {
		a.found(jspServerInternals, in[0].pos, in[0].end+60)
	}
}

func (a *analysis) cgiRules(evs []event) {
	req, exec, eval := byKind(evs, kRequest), byKind(evs, kExec), byKind(evs, kEval)
	if len(exec) > 0 {
		a.found(cgiExec, exec[0].pos, exec[0].end+60)
	}
	if x, ok := near(mergeEvents(exec, eval), req, 400, 400); ok {
		a.found(cgiRequestExec, x.pos, x.end+60)
	}
	// exec() is Python's eval.
	if x, ok := near(mergeEvents(eval, exec), byKind(evs, kDecoder), 0, 80); ok {
		a.found(cgiEvalDecoder, x.pos, x.end+60)
	}
	for _, x := range eval {
		after := a.low[x.end:min(len(a.low), x.end+32)]
		if argStartsCode(after) || bytes.HasPrefix(bytes.TrimLeft(after, " \t"), []byte(`"$`)) {
			a.found(cgiEvalDynamic, x.pos, x.end+60)
			break
		}
	}
	if x, ok := near(byKind(evs, kWrite), req, 300, 300); ok {
		a.found(cgiRequestWrite, x.pos, x.end+60)
	}
}

// backticksCGI finds Perl, Ruby and shell backtick commands with a
// variable inside.
func (a *analysis) backticksCGI() {
	b := a.b
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '`')
		if j < 0 {
			return
		}
		open := i + j
		k := bytes.IndexByte(b[open+1:min(len(b), open+256)], '`')
		if k < 0 {
			i = open + 1
			continue
		}
		closing := open + 1 + k
		i = closing + 1
		body := b[open+1 : closing]
		if bytes.IndexByte(body, '\n') < 0 && (bytes.IndexByte(body, '$') >= 0 || bytes.Contains(body, []byte("#{"))) {
			a.found(cgiExec, open, closing+1)
			if x, ok := near([]event{{pos: open, end: closing + 1}}, byKind(a.events, kRequest), 400, 400); ok {
				a.found(cgiRequestExec, x.pos, x.end)
			}
		}
	}
}

func (a *analysis) cfmRules(evs []event) {
	var req []event
	for _, x := range byKind(evs, kRequest) {
		// url.cmd, form.x: a scope followed by a name.
		if x.end < len(a.low) && (isIdentStart(a.low[x.end]) || a.low[x.end-1] != '.') {
			req = append(req, x)
		}
	}
	exec := byKind(evs, kExec)
	if len(exec) > 0 {
		a.found(cfmExecute, exec[0].pos, exec[0].end+60)
		if x, ok := near(exec, req, 400, 400); ok {
			a.found(cfmRequestExec, x.pos, x.end+60)
		}
	}
	if x, ok := near(byKind(evs, kEval), req, 0, 80); ok {
		a.found(cfmRequestEval, x.pos, x.end+60)
	}
	if x, ok := near(byKind(evs, kWrite), req, 200, 200); ok {
		a.found(cfmRequestWrite, x.pos, x.end+60)
	}
}

// charChains finds chr()-like calls joined only by concatenation.
func (a *analysis) charChains(evs []event) {
	chain, prevEnd := 0, -1
	for _, x := range evs {
		if x.kind != kChr {
			continue
		}
		// The call's end: its closing parenthesis, close by.
		end := x.end
		if k := bytes.IndexByte(a.low[x.end:min(len(a.low), x.end+16)], ')'); k >= 0 {
			end = x.end + k + 1
		}
		if chain > 0 && x.pos >= prevEnd && onlyJoiners(a.low[prevEnd:x.pos]) {
			chain++
		} else {
			chain = 1
		}
		prevEnd = end
		if chain == charChainMin {
			a.found(anyCharChain, x.pos, end)
		}
		if x.tok != nil && x.tok.lit == "fromcharcode(" && manyNumbers(a.low[x.end:min(len(a.low), x.end+argWindow)]) {
			a.found(anyCharChain, x.pos, x.end+40)
		}
	}
}

// manyNumbers reports whether args starts with charChainMin or more
// comma-separated numbers.
func manyNumbers(args []byte) bool {
	n := 0
	for _, f := range bytes.SplitN(args, []byte(","), charChainMin+1) {
		f = bytes.TrimSpace(f)
		f = bytes.TrimRight(f, ")")
		if len(f) == 0 || len(f) > 5 {
			break
		}
		ok := true
		for _, c := range f {
			if c < '0' || c > '9' {
				ok = false
			}
		}
		if !ok {
			break
		}
		n++
	}
	return n >= charChainMin
}

// scanCommon runs the tokens every family shares.

func (a *analysis) scanCommon() {
	a.common = a.findTokens(a.common, commonSet)
	for _, x := range a.common {
		switch x.kind {
		case kMarker:
			a.found(anyShellMarker, x.pos, x.end+20)
		case kCmdForm:
			a.found(anyCmdForm, x.pos, x.end+20)
		}
	}
	if sock := byKind(a.common, kSocket); len(sock) > 0 {
		if x, ok := near(sock, byKind(a.common, kShellIO), 2000, 2000); ok {
			a.found(anyReverseShell, x.pos, x.end+60)
		}
	}
}

func mergeEvents(x, y []event) []event {
	out := make([]event, 0, len(x)+len(y))
	out = append(out, x...)
	out = append(out, y...)
	slices.SortFunc(out, func(p, q event) int { return p.pos - q.pos })
	return out
}
