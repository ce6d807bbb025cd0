package indicators

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

func newEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := New(Settings{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// scanChunks feeds data to a Scanner in chunks of the given sizes (cycled).
func scanChunks(e *Engine, name string, data []byte, sizes []int) Result {
	s := e.NewScanner()
	s.Reset(FamilyOf(name))
	for i, k := 0, 0; i < len(data); k++ {
		n := min(sizes[k%len(sizes)], len(data)-i)
		s.Write(data[i : i+n])
		i += n
	}
	return s.Result()
}

func sameResult(a, b Result) bool {
	if a.Score != b.Score || a.Level != b.Level || a.Family != b.Family || a.Truncated != b.Truncated || len(a.Matches) != len(b.Matches) {
		return false
	}
	for i := range a.Matches {
		if a.Matches[i] != b.Matches[i] {
			return false
		}
	}
	return true
}

// Streaming the bytes in any chunks gives the result of scanning them
// at once: the hashing pass can feed the engine as it reads.
func TestStreamingMatchesWhole(t *testing.T) {
	e := newEngine(t)
	paths, _ := filepath.Glob("testdata/samples/*.txtar")
	for _, p := range paths {
		for _, f := range loadArchive(t, p) {
			whole := e.Scan(f.name, f.data)
			for _, sizes := range [][]int{{1}, {7, 3}, {4096}} {
				if got := scanChunks(e, f.name, f.data, sizes); !sameResult(got, whole) {
					t.Errorf("%s in chunks %v: %+v, whole: %+v", f.name, sizes, got, whole)
				}
			}
		}
	}
}

func TestBenignStaysBelowMedium(t *testing.T) {
	e := newEngine(t)
	for _, f := range loadArchive(t, "testdata/benign/benign.txtar") {
		if r := e.Scan(f.name, f.data); r.Level >= LevelMedium {
			t.Errorf("%s: level %s, score %d: %s", f.name, r.Level, r.Score, matchIDs(r))
		}
	}
}

func TestSampleIndicators(t *testing.T) {
	e := newEngine(t)
	for _, tc := range []struct{ name, src, want string }{
		{"a.php", "<?php system($_GET['c']);", "php.request-exec"},
		{"a.php", "<?php eval(base64_decode('ZWNobyAxOw=='));", "php.eval-decoder"},
		{"a.php", "<?php $x = gzinflate(base64_decode($d));", "php.decoder-chain"},
		{"a.php", "<?php $_GET['a']($_GET['b']);", "php.request-callable"},
		{"a.php", "<?php preg_replace('/x/e', $y, $z);", "php.preg-e"},
		{"a.php", "<?php $f = 'sy'.'stem'; $f($x);", "php.var-call-built"},
		{"a.php", "<?php $c = $_POST['c']; passthru($c);", "php.request-flow"},
		{"a.php", "<?php include($_GET['p']);", "php.request-include"},
		{"a.php", "<?php echo `ls $d`;", "php.exec"},
		{"a.php", "<?php $a = chr(97).chr(115).chr(115).chr(101).chr(114).chr(116).chr(95).chr(120);", "any.char-chain"},
		{"a.php", "<?php $s = \"" + strings.Repeat(`\x41`, 20) + "\";", "any.escape-blob"},
		{"a.php", "<?php $b = '" + b64Blob(400) + "'; eval($b);", "any.base64-blob"},
		{"a.php", "<?php $h = '" + strings.Repeat("0123456789abcdef", 20) + "'; eval($h);", "any.hex-blob"},
		{"a.php", "<?php\n" + strings.Repeat("$a=1;", 1000) + "\n", "any.long-line"},
		{"a.php", "<?php system($x); // c99shell", "any.shell-marker"},
		{"a.asp", `<%eval request("x")%>`, "asp.request-eval"},
		{"a.aspx", `<%@ Page Language="Jscript"%><%eval(Request.Item["z"],"unsafe");%>`, "asp.eval-unsafe"},
		{"a.jsp", `<% Runtime.getRuntime().exec(request.getParameter("c")); %>`, "jsp.request-exec"},
		{"a.cgi", "#!/usr/bin/perl\nsystem(param('c'));", "cgi.request-exec"},
		{"a.cfm", `<cfexecute name="cmd.exe" arguments="/c #url.c#">`, "cfm.request-exec"},
		{"a.shtml", `<!--#exec cmd="id" -->`, "ssi.exec"},
		{"a.php", "<?php include('php://input');", "php.request-include"},
		{"a.php", "<?php require_once ('data:text/plain;base64,PD9waHAgcGhwaW5mbygpOw==');", "php.include-wrapper"},
		{"a.php", "<?php include 'data:;base64,' . $_GET['p'];", "php.request-include"},
		{"a.php", "<?php putenv('LD_PRELOAD=/tmp/x.so'); mail('a', 'b', 'c');", "php.ld-preload"},
		{"a.php", "<?php mail($to, $s, $m, $h, $_POST['o']);", "php.request-exec"},
		{"a.php", "<?php system(getenv('HTTP_X'));", "php.request-exec"},
		{"a.php", "<?php array_map('sys' . 'tem', $_GET);", "php.var-call-built"},
		{"a.php", "<?php $f = $_GET['f']; usort($a, $f);", "php.request-callable"},
		{"a.php", "<?php $r = $_REQUEST; $r['a']($r['b']);", "php.request-callable"},
		{"a.php", "<?php $g = ${'_G' . 'ET'}; system($g['c']);", "php.superglobal-indirect"},
		{"a.php", "<?php $f/* x */($_GET['c']);", "php.request-var-call"},
		{"a.php", "<?php file_put_contents('x.php', $_POST['c']);", "php.request-write"},
		{"a.aspx", `<% System.Reflection.Assembly.Load(Request.BinaryRead(Request.ContentLength)).CreateInstance("U"); %>`, "asp.request-assembly-load"},
		{"a.jsp", `<% StandardContext ctx = (StandardContext) f.get(ac); ctx.addFilterDef(def); %>`, "jsp.server-internals"},
	} {
		r := e.Scan(tc.name, []byte(tc.src))
		if !r.Has(tc.want) {
			t.Errorf("%s %q: %s not found (got %s)", tc.name, tc.src, tc.want, matchIDs(r))
		}
	}
}

func b64Blob(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(64)]
	}
	return string(b)
}

// Constructs in comments, strings and inline HTML are not code.
func TestPHPNotCode(t *testing.T) {
	e := newEngine(t)
	for _, src := range []string{
		"<?php\n// system($_GET['c']);\n",
		"<?php\n/* eval($_POST['x']); */\n",
		"<?php\n# passthru($_REQUEST['c']);\n",
		"<?php $s = 'system($_GET[1])';",
		"<html>eval($_POST['x'])</html>",
		"<?php\n/**\n * The hook name, `$action`, refers to the action.\n */\n",
		"<?php $doc = <<<EOT\nsystem($_GET['c']);\nEOT;\n",
		"<?php $cb = function ($m) { return base64_decode($m[1]); }; $cb($x);",
		"<?php $cb = static fn ($m) => rawurldecode($m[0]); return preg_replace_callback($re, $cb, $s);",
	} {
		if r := e.Scan("a.php", []byte(src)); r.Score != 0 {
			t.Errorf("%q: score %d (%s), want 0", src, r.Score, matchIDs(r))
		}
	}
}

func TestLineAndExcerpt(t *testing.T) {
	e := newEngine(t)
	r := e.Scan("a.php", []byte("<?php\n\n\n  system($_GET['c'] . \"\x1b[2J\t\");\n"))
	var m Match
	for _, x := range r.Matches {
		if x.ID == "php.request-exec" {
			m = x
		}
	}
	if m.Line != 4 {
		t.Errorf("line %d, want 4", m.Line)
	}
	if want := `system($_GET['c'] . "\x1b[2J\t");`; m.Excerpt != want {
		t.Errorf("excerpt %q, want %q", m.Excerpt, want)
	}
}

// A short line is shown whole, from its start; a long one around the hit.
func TestExcerptWindow(t *testing.T) {
	e := newEngine(t)
	r := e.Scan("a.php", []byte("<?php\nif (isset($_POST['x'])) { @eval($_POST['x']); }\n"))
	if len(r.Matches) == 0 || r.Matches[0].Excerpt != "if (isset($_POST['x'])) { @eval($_POST['x']); }" {
		t.Errorf("short line: %+v", r.Matches)
	}
	long := "<?php\n$a = '" + strings.Repeat("x", 200) + "'; eval($_POST['x']); $b = '" + strings.Repeat("y", 200) + "';\n"
	r = e.Scan("a.php", []byte(long))
	if len(r.Matches) == 0 {
		t.Fatal("no match")
	}
	if ex := r.Matches[0].Excerpt; !strings.Contains(ex, "eval($_POST['x'])") || len(ex) > excerptMax || strings.HasPrefix(ex, "$a") {
		t.Errorf("long line: excerpt %q", ex)
	}
}

// A file larger than MaxBytes is scanned on its head and tail; code
// appended at the end is found with its true line number.
func TestTruncatedTail(t *testing.T) {
	e, err := New(Settings{MaxBytes: 16 << 10, TailBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var src bytes.Buffer
	src.WriteString("<?php\n")
	for i := 0; i < 2000; i++ {
		src.WriteString("// filler line of an ordinary file\n")
	}
	src.WriteString("system($_GET['c']);\n")
	r := scanChunks(e, "big.php", src.Bytes(), []int{1000})
	if !r.Truncated || !r.Has("php.request-exec") {
		t.Fatalf("truncated %v, indicators %s", r.Truncated, matchIDs(r))
	}
	for _, m := range r.Matches {
		if m.ID == "php.request-exec" && m.Line != 2002 {
			t.Errorf("line %d, want 2002", m.Line)
		}
	}
	// Without a tail, the appended code is out of reach.
	e2, _ := New(Settings{MaxBytes: 16 << 10, TailBytes: -1})
	if r := e2.Scan("big.php", src.Bytes()); r.Has("php.request-exec") || !r.Truncated {
		t.Errorf("no tail: %s, truncated %v", matchIDs(r), r.Truncated)
	}
}

// One 100 MB line: bounded memory and work (the head is scanned, the rest
// only counted).
func TestPathologicalLongLine(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MB")
	}
	e := newEngine(t)
	s := e.NewScanner()
	s.Reset(FamilyPHP)
	s.Write([]byte("<?php $x = '"))
	chunk := bytes.Repeat([]byte("eval($_GET[(((("), 256<<10/16)
	for n := 0; n < 100<<20; n += len(chunk) {
		s.Write(chunk)
	}
	r := s.Result()
	if !r.Truncated || r.Size < 100<<20 {
		t.Errorf("truncated %v, size %d", r.Truncated, r.Size)
	}
	if cap(s.head) > DefaultMaxBytes || len(s.tail) > DefaultTailBytes {
		t.Errorf("buffers grew: head %d, tail %d", cap(s.head), len(s.tail))
	}
}

func TestSniff(t *testing.T) {
	for src, want := range map[string]Family{
		"<?php echo 1;":                      FamilyPHP,
		"GIF89a\x00\x01<?php system($x);":    FamilyPHP,
		"<?= $x ?>":                          FamilyPHP,
		"<? echo 1; ?>":                      FamilyPHP,
		"<?xml version=\"1.0\"?><svg/>":      FamilyNone,
		"<%@ Page Language=\"C#\" %>":        FamilyASP,
		"<% Response.Write(1) %>":            FamilyASP,
		"<%@ page import=\"java.io.*\" %>":   FamilyJSP,
		"<jsp:root>":                         FamilyJSP,
		"<cfscript>x=1;</cfscript>":          FamilyCFM,
		"<CFSET x = 1>":                      FamilyCFM,
		"#!/usr/bin/perl\nprint 1;":          FamilyCGI,
		"#!/usr/bin/php\n<?php":              FamilyPHP,
		"<!--#exec cmd=\"id\" -->":           FamilySSI,
		"<script runat=\"server\">":          FamilyASP,
		"<html><body>hello</body></html>":    FamilyNone,
		"\x89PNG\r\n\x1a\n\x00\x00 <? no":    FamilyNone,
		"a 50% <% discount":                  FamilyNone,
		"<script language=\"php\">echo 1;":   FamilyPHP,
		"<%= request.getParameter(\"x\") %>": FamilyJSP,
	} {
		if got := Sniff([]byte(src)); got != want {
			t.Errorf("Sniff(%q) = %s, want %s", src, got, want)
		}
	}
	// Only the prefix counts.
	late := append(bytes.Repeat([]byte{'x'}, SniffLen), "<?php"...)
	if got := Sniff(late); got != FamilyNone {
		t.Errorf("script after SniffLen: %s, want none", got)
	}
}

func TestFamilyOf(t *testing.T) {
	for name, want := range map[string]Family{
		"a.php": FamilyPHP, "A.PHP": FamilyPHP, "s.php.jpg": FamilyPHP, "x.phtml": FamilyPHP, "x.inc": FamilyPHP,
		"a.aspx": FamilyASP, "a.asa": FamilyASP, "a.cer": FamilyASP, "x.jspf": FamilyJSP, "x.cfml": FamilyCFM,
		"x.pl": FamilyCGI, "x.py": FamilyCGI, "x.shtml": FamilySSI, "x.jpg": FamilyNone, "README": FamilyNone,
		`C:\inetpub\wwwroot\x.ASPX`: FamilyASP, "dir.php/file.txt": FamilyNone,
	} {
		if got := FamilyOf(name); got != want {
			t.Errorf("FamilyOf(%q) = %s, want %s", name, got, want)
		}
	}
}

func TestSniffedScanner(t *testing.T) {
	e := newEngine(t)
	r := e.Scan("pic.jpg", []byte("GIF89a\n<?php system($_GET['c']); ?>"))
	if r.Family != FamilyPHP || !r.Sniffed || !r.Has("php.request-exec") {
		t.Errorf("got %+v", r)
	}
	s := e.NewScanner()
	s.Reset(FamilyNone)
	s.Write(bytes.Repeat([]byte{0xff}, SniffLen+1))
	if !s.NotScript() {
		t.Error("binary content: NotScript false")
	}
	if r := s.Result(); r.Family != FamilyNone || r.Score != 0 {
		t.Errorf("binary content: %+v", r)
	}
}

func TestSettings(t *testing.T) {
	for _, s := range []Settings{
		{Weights: map[string]int{"php.nope": 1}},
		{Weights: map[string]int{"php.exec": -1}},
		{Thresholds: Thresholds{Low: 50, Medium: 40, High: 70}},
		{MaxBytes: 10},
		{MaxBytes: 1 << 30},
		{MaxBytes: 1 << 20, TailBytes: 2 << 20},
	} {
		if _, err := New(s); !errors.Is(err, ErrSettings) {
			t.Errorf("%+v: error %v, want ErrSettings", s, err)
		}
	}
	e, err := New(Settings{Weights: map[string]int{"php.exec": 0}, Thresholds: Thresholds{High: 200}})
	if err != nil {
		t.Fatal(err)
	}
	r := e.Scan("a.php", []byte("<?php system($_GET['c']);"))
	if r.Has("php.exec") || r.Level != LevelMedium || e.Thresholds().Low != DefaultThresholds.Low {
		t.Errorf("overrides not applied: %+v", r)
	}
}

func TestCatalog(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Catalog() {
		if seen[c.ID] || c.Weight <= 0 || c.Description == "" || !strings.HasPrefix(c.ID, c.Family.String()+".") && !(c.Family == FamilyNone && strings.HasPrefix(c.ID, "any.")) {
			t.Errorf("bad catalog entry %+v", c)
		}
		seen[c.ID] = true
	}
}

// identStart, which tests eight bytes at a time, agrees with a byte loop.
func TestIdentStart(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("aZ_09$-> ([\x7f\x80\xdf\xc1^`@{")
	b := make([]byte, 64)
	for n := 0; n < 200000; n++ {
		for i := range b {
			if rng.IntN(4) == 0 {
				b[i] = byte(rng.IntN(256))
			} else {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		k := rng.IntN(len(b))
		lo := rng.IntN(k + 2)
		want := k + 1
		for want > lo && isIdent(b[want-1]) {
			want--
		}
		if got := identStart(b, k, lo); got != want {
			t.Fatalf("identStart(%q, %d, %d) = %d, want %d", b, k, lo, got, want)
		}
	}
}

// findTokens, which skips ahead, finds what a test of every position
// finds, in the same order.
func TestFindTokens(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sets := []*tokenSet{aspSet, jspSet, cgiSet, cfmSet, ssiSet, commonSet}
	for n := 0; n < 3000; n++ {
		ts := sets[n%len(sets)]
		// Text made of pieces of the literals, case changed, and noise.
		var src []byte
		for len(src) < 300 {
			switch rng.IntN(3) {
			case 0:
				lit := ts.toks[rng.IntN(len(ts.toks))].lit
				src = append(src, lit[:1+rng.IntN(len(lit))]...)
			case 1:
				src = append(src, strings.ToUpper(ts.toks[rng.IntN(len(ts.toks))].lit)...)
			default:
				src = append(src, " ._$(\"'a1>:"[rng.IntN(11)])
			}
		}
		a := &analysis{}
		a.b = src
		got := a.findTokens(nil, ts)
		low := bytes.ToLower(src)
		var want []event
		for p := range low {
			for i := range ts.toks {
				tk := &ts.toks[i]
				e := p + len(tk.lit)
				if e > len(low) || string(low[p:e]) != tk.lit {
					continue
				}
				if tk.wordStart && p > 0 && (isIdent(low[p-1]) || tk.noDot && (low[p-1] == '.' || low[p-1] == '>' || low[p-1] == ':')) {
					continue
				}
				if tk.wordEnd && e < len(low) && isIdent(low[e]) {
					continue
				}
				if tk.arg != nil && !tk.arg(low[e:min(len(low), e+64)]) {
					continue
				}
				want = append(want, event{pos: p, end: e, kind: tk.kind, tok: tk})
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d tokens, want %d", src, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%q: token %d is %+v, want %+v", src, i, got[i], want[i])
			}
		}
	}
}

// ResetSize: a file that comes whole in one Write is scanned in place
// with the result of the copying path; one that grows after its stat is
// reported truncated, with what was scanned; one that shrank is scanned
// as usual.
func TestResetSize(t *testing.T) {
	e := newEngine(t)
	for _, f := range loadArchive(t, "testdata/samples/php.txtar") {
		want := scanChunks(e, f.name, f.data, []int{4096})
		s := e.NewScanner()
		s.ResetSize(FamilyOf(f.name), int64(len(f.data)))
		s.Write(f.data)
		if got := s.Result(); !sameResult(got, want) || got.Size != int64(len(f.data)) {
			t.Errorf("%s in place: %+v, copying: %+v", f.name, got, want)
		}
	}
	src := []byte("<?php system($_GET['c']);\n")
	s := e.NewScanner()
	s.ResetSize(FamilyPHP, int64(len(src)))
	s.Write(src)
	s.Write([]byte("eval($_POST['x']);\n")) // appended after the stat
	r := s.Result()
	if !r.Truncated || r.Size != int64(len(src))+19 || !r.Has("php.request-exec") || r.Has("php.request-eval") {
		t.Errorf("grown file: %+v", r)
	}
	s.ResetSize(FamilyPHP, 1000) // shrank: comes in a short Write
	s.Write(src)
	if r := s.Result(); r.Truncated || !r.Has("php.request-exec") {
		t.Errorf("shrunk file: %+v", r)
	}
	s.ResetSize(FamilyNone, SniffLen+1) // sniffed in place
	s.Write(bytes.Repeat([]byte{0xff}, SniffLen+1))
	if !s.NotScript() {
		t.Error("binary content scanned in place: NotScript false")
	}
	img := []byte("GIF89a\n<?php passthru($_REQUEST['c']); ?>")
	s.ResetSize(FamilyNone, int64(len(img)))
	s.Write(img)
	if r := s.Result(); r.Family != FamilyPHP || !r.Sniffed || !r.Has("php.request-exec") {
		t.Errorf("sniffed in place: %+v", r)
	}
}
