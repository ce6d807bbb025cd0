package indicators

import (
	"bytes"
	"strings"
)

// Family is the server-side language family of a script: it decides which
// indicators apply.
type Family uint8

// The language families. [FamilyNone] is a file that is not a script (by
// name and, when sniffed, by content).
const (
	FamilyNone Family = iota
	FamilyPHP
	FamilyASP // classic ASP, ASP.NET (aspx, ashx, asmx, ...), Razor
	FamilyJSP // JSP and JSP fragments, tag files
	FamilyCGI // Perl, Python, Ruby and shell scripts run as CGI
	FamilyCFM // ColdFusion
	FamilySSI // server-side includes (shtml)
)

// Families lists the script families in a stable order (for reports).
var Families = []Family{FamilyPHP, FamilyASP, FamilyJSP, FamilyCGI, FamilyCFM, FamilySSI}

var familyNames = [...]string{"none", "php", "asp", "jsp", "cgi", "cfm", "ssi"}

// String returns the family's short name: php, asp, jsp, cgi, cfm, ssi or
// none.
func (f Family) String() string {
	if int(f) < len(familyNames) {
		return familyNames[f]
	}
	return "none"
}

// MarshalText makes a Family appear by name in JSON.
func (f Family) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// ParseFamily is the inverse of [Family.String].
func ParseFamily(s string) (Family, bool) {
	for i, n := range familyNames {
		if strings.EqualFold(s, n) {
			return Family(i), true
		}
	}
	return FamilyNone, false
}

// FamilyOf returns the family of a file by its name: any of its
// extensions, any case (see [EachExtension]): "s.php.jpg" is PHP, as
// Apache's AddHandler runs it, and "x.tar.php" too. A name with no script
// extension, or only a deployable archive's (war, ear), is [FamilyNone]
// (its content may still be sniffed, see [Sniff]).
func FamilyOf(name string) Family {
	fam := FamilyNone
	EachExtension(name, func(ext string) bool {
		if t, ok := scriptTypeOf(ext); ok && t.Family != FamilyNone {
			fam = t.Family
			return false
		}
		return true
	})
	return fam
}

// SniffLen is the prefix [Sniff] looks at: enough for a script hidden after
// an image header or a comment block, small enough for any file.
const SniffLen = 8 << 10

// Sniff reports the script family the content looks like, judging only its
// first [SniffLen] bytes: a PHP open tag (<?php, <?=, a short tag followed
// by code), ASP/JSP delimiters (<%, <%@, <%=), <jsp:...> actions, a
// server-side <script runat="server">, ColdFusion tags (<cfscript>,
// <cfset ...), server-side include directives (<!--#exec ...>) and a #! line
// at the very start. It returns [FamilyNone] when nothing matches.
func Sniff(prefix []byte) Family {
	if len(prefix) > SniffLen {
		prefix = prefix[:SniffLen]
	}
	if bytes.HasPrefix(prefix, []byte("#!")) {
		return sniffShebang(prefix)
	}
	for i := 0; ; {
		j := bytes.IndexByte(prefix[i:], '<')
		if j < 0 {
			return FamilyNone
		}
		i += j + 1
		if i < len(prefix) && !tagOpener[prefix[i]] {
			continue // <div, </p, <a ...: most tags of a page, nothing to look at
		}
		if f := sniffTag(prefix, i); f != FamilyNone {
			return f
		}
	}
}

// tagOpener are the bytes after a '<' that [sniffTag] may act on.
var tagOpener = func() (t [256]bool) {
	for _, c := range []byte("?%!jJcCsS") {
		t[c] = true
	}
	return t
}()

// sniffTag looks at the bytes after a '<' at i-1.
func sniffTag(b []byte, i int) Family {
	rest := b[i:]
	switch {
	case len(rest) == 0:
		return FamilyNone
	case rest[0] == '?':
		rest = rest[1:]
		if hasPrefixFold(rest, "php") || bytes.HasPrefix(rest, []byte("=")) && textFollows(rest[1:]) {
			return FamilyPHP
		}
		// A short open tag followed by code; "<?xml" and other processing
		// instructions are not PHP.
		if len(rest) >= 2 && isSpace(rest[0]) && textFollows(rest) && shortTagCode(rest) {
			return FamilyPHP
		}
	case rest[0] == '%':
		// <%@ is a directive; <% <%= <%! are code blocks, which close.
		if len(rest) >= 2 && textFollows(rest[2:]) &&
			(rest[1] == '@' || (rest[1] == '=' || rest[1] == '!' || isSpace(rest[1])) && bytes.Contains(rest[2:], []byte("%>"))) {
			return aspOrJSP(b)
		}
	case rest[0] == '!':
		if hasPrefixFold(rest, "!--#exec") || hasPrefixFold(rest, "!--#include") {
			return FamilySSI
		}
	case hasPrefixFold(rest, "jsp:"):
		return FamilyJSP
	case hasPrefixFold(rest, "cf") && len(rest) > 3 && isLetter(rest[2]):
		for _, t := range cfTags {
			if hasPrefixFold(rest[2:], t) {
				return FamilyCFM
			}
		}
	case hasPrefixFold(rest, "script"):
		end := bytes.IndexByte(rest, '>')
		if end < 0 {
			end = len(rest)
		}
		tag := bytes.ToLower(rest[:end])
		if bytes.Contains(tag, []byte("runat")) && bytes.Contains(tag, []byte("server")) {
			return aspOrJSP(b)
		}
		if bytes.Contains(tag, []byte(`language="php"`)) || bytes.Contains(tag, []byte(`language='php'`)) {
			return FamilyPHP
		}
	}
	return FamilyNone
}

// textFollows reports whether the bytes after a short opener ("<?=",
// "<? ", "<%@", "<%") look like text: the next few are printable ASCII or
// white space (or the prefix ends). Three bytes such as "<?=" occur by
// chance about once in 2,000 compressed images of 8 KiB; code after
// them is text.
func textFollows(b []byte) bool {
	const n = 6
	for i := 0; i < n && i < len(b); i++ {
		if c := b[i]; (c < 0x20 || c > 0x7e) && !isSpace(c) {
			return false
		}
	}
	return true
}

// shortTagCode reports whether what follows a short open tag "<? " looks
// like PHP: a variable, a suppressed call, a comment, or a word followed
// by a call, a variable, a string or a semicolon (echo $x; include 'f';
// system(...)).
func shortTagCode(rest []byte) bool {
	k := 0
	for k < len(rest) && isSpace(rest[k]) {
		k++
	}
	if k >= len(rest) {
		return false
	}
	switch c := rest[k]; {
	case c == '$' || c == '@':
		return true
	case c == '/' && k+1 < len(rest) && (rest[k+1] == '/' || rest[k+1] == '*'):
		return true
	case !isIdentStart(c):
		return false
	}
	w := k
	for k < len(rest) && isIdent(rest[k]) {
		k++
	}
	switch strings.ToLower(string(rest[w:k])) {
	case "echo", "print", "if", "include", "require", "include_once", "require_once", "foreach", "function", "eval", "exit", "die":
		return true
	}
	for k < len(rest) && (rest[k] == ' ' || rest[k] == '\t') {
		k++
	}
	return k < len(rest) && bytes.IndexByte([]byte("($'\";"), rest[k]) >= 0
}

// cfTags are the ColdFusion tag names (after "<cf") that mark a template.
var cfTags = []string{"script", "set", "output", "execute", "file", "query", "component", "function",
	"include", "if", "param", "http", "object", "invoke", "directory", "loop", "dump", "location"}

// aspOrJSP tells the two families that share the <% %> delimiters apart by
// Java-only idioms.
func aspOrJSP(b []byte) Family {
	low := bytes.ToLower(b)
	for _, s := range []string{"<jsp:", "<%@ page import", "<%@page import", "java.", "request.getparameter", "out.print", "pageencoding", "<%@ taglib", "<%@taglib"} {
		if bytes.Contains(low, []byte(s)) {
			return FamilyJSP
		}
	}
	return FamilyASP
}

// sniffShebang classifies a #! line: any interpreter makes it a script
// (executable through CGI); it is filed under CGI unless it names PHP.
func sniffShebang(b []byte) Family {
	line := b
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		line = b[:i]
	}
	if bytes.Contains(bytes.ToLower(line), []byte("php")) {
		return FamilyPHP
	}
	return FamilyCGI
}

// hasPrefixFold reports whether b starts with prefix, ignoring ASCII
// case. It runs for every '<' of a sniffed prefix, so it converts and
// allocates nothing.
func hasPrefixFold[T ~string | ~[]byte](b T, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if lowerASCII(b[i]) != lowerASCII(prefix[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
