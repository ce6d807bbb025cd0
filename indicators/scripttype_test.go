package indicators

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestEachExtension(t *testing.T) {
	for name, want := range map[string][]string{
		"s.php.jpg":         {"jpg", "php"},
		"x.tar.gz":          {"gz", "tar"},
		"README":            nil,
		".htaccess":         {"htaccess"},
		".php":              {"php"},
		"x.php.":            {"php"},
		"a..b":              {"b"},
		`C:\www\s.asp;.jpg`: {"jpg", "asp;"},
		"dir.php/file":      nil,
		"up/x.PHP5":         {"PHP5"},
	} {
		var got []string
		EachExtension(name, func(ext string) bool { got = append(got, ext); return true })
		if !slices.Equal(got, want) {
			t.Errorf("EachExtension(%q) = %q, want %q", name, got, want)
		}
	}
	n := 0
	EachExtension("a.b.c.d", func(string) bool { n++; return false })
	if n != 1 {
		t.Errorf("EachExtension went on after false: %d calls", n)
	}
}

// TestScriptTypes checks the one list: every extension the attack
// replays used is in it, each once, in lower case, and FamilyOf agrees.
func TestScriptTypes(t *testing.T) {
	seen := map[string]bool{}
	for _, st := range ScriptTypes() {
		if st.Ext == "" || st.Ext != string(lowerString(st.Ext)) || seen[st.Ext] {
			t.Errorf("bad or repeated extension %q", st.Ext)
		}
		seen[st.Ext] = true
		if got := FamilyOf("x." + st.Ext); got != st.Family {
			t.Errorf("FamilyOf(x.%s) = %s, want %s", st.Ext, got, st.Family)
		}
	}
	for _, ext := range []string{"php2", "php6", "phtm", "pgif", "hphp", "ctp", "module", "inc", "asa", "cer",
		"cfml", "xhtml", "shtm", "jspf", "phar", "war", "ear", "php", "aspx", "jsp"} {
		if !IsScriptExtension(ext) || !IsScriptExtension("."+ext) || !IsScriptExtension(string(upperString(ext))) {
			t.Errorf("%s is not a script extension", ext)
		}
	}
	for _, ext := range []string{"jpg", "png", "js", "css", "html", "txt", "", "php\x00"} {
		if IsScriptExtension(ext) {
			t.Errorf("%q is a script extension", ext)
		}
	}
	if got := ScriptExtensions(); len(got) != len(seen) {
		t.Errorf("ScriptExtensions has %d entries, the table %d", len(got), len(seen))
	}
}

func lowerString(s string) []byte {
	b := []byte(s)
	for i := range b {
		b[i] = lower(b[i])
	}
	return b
}

func upperString(s string) []byte {
	b := []byte(s)
	for i := range b {
		if b[i] >= 'a' && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return b
}

// TestSniffRandomBinary: compressed images are random bytes to the
// sniffer, and "<?=" or "<%@" occur in them by chance; a real script
// has text after its opener. 20,000 random prefixes of SniffLen bytes
// (160 MB) must give no family, while the same with a script spliced in
// must.
func TestSniffRandomBinary(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, SniffLen)
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i := range n {
		for j := range buf {
			buf[j] = byte(r.Uint32())
		}
		if f := Sniff(buf); f != FamilyNone {
			t.Fatalf("random prefix %d sniffed as %s", i, f)
		}
	}
	for _, code := range []string{"<?=`$_GET[0]`?>", "<?php system($_GET['c']);", "<%@ Page Language=\"C#\" %>", "<% eval request(\"x\") %>"} {
		copy(buf[4000:], code)
		if f := Sniff(buf); f == FamilyNone {
			t.Errorf("%q inside binary noise not sniffed", code)
		}
	}
}
