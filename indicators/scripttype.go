package indicators

import "strings"

// ScriptType is one entry of the list of script-type extensions: files a
// web server may execute, by default or by common configuration.
type ScriptType struct {
	// Ext is the extension, lower case, without the dot.
	Ext string
	// Family is the language the indicators read such a file as;
	// [FamilyNone] for a deployable archive (war, ear), which the server
	// unpacks and runs but which is not itself source code.
	Family Family
}

// scriptTypes is the one list of script-type extensions. The default
// script_extensions of the policy (what is a script, which files get a
// SHA-256), the handler-mapping checks of package serverconf and
// [FamilyOf] all derive from it; docs/policy.md lists it. It covers the
// extensions servers map to an interpreter by default or by common
// configuration, including the rarer ones attackers use to slip past
// upload filters (php2, phtm, pgif, asa, cer, ...).
var scriptTypes = []ScriptType{
	// ASP.NET and classic ASP (IIS; cer and asa map to asp.dll).
	{"asp", FamilyASP}, {"aspx", FamilyASP}, {"ashx", FamilyASP}, {"asmx", FamilyASP}, {"asax", FamilyASP},
	{"ascx", FamilyASP}, {"asa", FamilyASP}, {"cer", FamilyASP}, {"cshtml", FamilyASP}, {"vbhtml", FamilyASP},
	{"razor", FamilyASP}, {"soap", FamilyASP}, {"svc", FamilyASP}, {"master", FamilyASP}, {"rem", FamilyASP},
	// PHP, with the historical and CMS-specific extensions (CakePHP ctp,
	// Drupal module and inc, HipHop hphp).
	{"php", FamilyPHP}, {"php2", FamilyPHP}, {"php3", FamilyPHP}, {"php4", FamilyPHP}, {"php5", FamilyPHP},
	{"php6", FamilyPHP}, {"php7", FamilyPHP}, {"php8", FamilyPHP}, {"phtml", FamilyPHP}, {"pht", FamilyPHP},
	{"phtm", FamilyPHP}, {"phps", FamilyPHP}, {"phar", FamilyPHP}, {"pgif", FamilyPHP}, {"hphp", FamilyPHP},
	{"ctp", FamilyPHP}, {"module", FamilyPHP}, {"inc", FamilyPHP},
	// Java: JSP, fragments, tag files, JSF facelets, and the archives a
	// servlet container deploys.
	{"jsp", FamilyJSP}, {"jspx", FamilyJSP}, {"jspf", FamilyJSP}, {"jsv", FamilyJSP}, {"jsw", FamilyJSP},
	{"tag", FamilyJSP}, {"tagx", FamilyJSP}, {"xhtml", FamilyJSP}, {"war", FamilyNone}, {"ear", FamilyNone},
	// ColdFusion.
	{"cfm", FamilyCFM}, {"cfml", FamilyCFM}, {"cfc", FamilyCFM},
	// Server-side includes.
	{"shtml", FamilySSI}, {"shtm", FamilySSI}, {"stm", FamilySSI},
	// CGI and other interpreters (mod_lua for lua).
	{"cgi", FamilyCGI}, {"fcgi", FamilyCGI}, {"pl", FamilyCGI}, {"pm", FamilyCGI}, {"py", FamilyCGI},
	{"rb", FamilyCGI}, {"sh", FamilyCGI}, {"lua", FamilyCGI},
}

var scriptTypeByExt = func() map[string]ScriptType {
	m := make(map[string]ScriptType, len(scriptTypes))
	for _, t := range scriptTypes {
		m[t.Ext] = t
	}
	return m
}()

// ScriptTypes returns the list of script-type extensions.
func ScriptTypes() []ScriptType { return append([]ScriptType(nil), scriptTypes...) }

// ScriptExtensions returns the script-type extensions (lower case, no
// dot), in the order of [ScriptTypes]: the default of the policy's
// script_extensions.
func ScriptExtensions() []string {
	exts := make([]string, len(scriptTypes))
	for i, t := range scriptTypes {
		exts[i] = t.Ext
	}
	return exts
}

// IsScriptExtension reports whether ext (any case, with or without a
// leading dot) is in the list of script-type extensions.
func IsScriptExtension(ext string) bool {
	_, ok := scriptTypeOf(strings.TrimPrefix(ext, "."))
	return ok
}

// scriptTypeOf looks ext up without allocating for the usual short,
// lower-case extensions.
func scriptTypeOf(ext string) (ScriptType, bool) {
	if len(ext) == 0 || len(ext) > 16 {
		return ScriptType{}, false
	}
	var buf [16]byte
	for i := 0; i < len(ext); i++ {
		buf[i] = lower(ext[i])
	}
	t, ok := scriptTypeByExt[string(buf[:len(ext)])] // no allocation: map lookup of a converted slice
	return t, ok
}

// EachExtension calls f with every extension of the base name of name
// (after the last "/" or "\"), the last one first: "s.php.jpg" gives
// "jpg", then "php". The part before the first dot is the name, not an
// extension ("README" has none; a dotfile's name is empty, so ".php" has
// the extension "php", as Apache reads it); an empty extension (a
// trailing dot) is skipped. It stops when f returns false. Every
// extension counts because Apache's mod_mime applies a handler mapped to
// any of them (AddHandler php-script .php runs s.php.jpg), and Windows
// drops trailing dots ("x.php." is x.php).
func EachExtension(name string, f func(ext string) bool) {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	first := strings.IndexByte(name, '.')
	if first < 0 {
		return
	}
	rest := name[first+1:]
	for rest != "" {
		i := strings.LastIndexByte(rest, '.')
		ext := rest[i+1:]
		if i < 0 {
			ext, rest = rest, ""
		} else {
			rest = rest[:i]
		}
		if ext != "" && !f(ext) {
			return
		}
	}
}
