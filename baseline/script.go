package baseline

import (
	"path"
	"strings"
)

// DefaultScriptExtensions are the extensions (without the dot, lower case)
// of files a web server may execute: server-side scripts, templates and
// archives deployable as applications. Their SHA-256 is recorded so that
// alerts can be pivoted to threat-intelligence lookups.
var DefaultScriptExtensions = []string{
	"asp", "aspx", "ashx", "asmx", "asax", "ascx", "cshtml", "razor", "soap", "svc",
	"php", "php3", "php4", "php5", "php7", "php8", "phtml", "pht", "phps", "phar", "inc",
	"jsp", "jspx", "jspf", "jsv", "jsw", "tag", "tagx", "war", "ear",
	"cfm", "cfc", "shtml", "shtm", "stm", "cgi", "pl", "py", "rb",
}

// scriptFileNames are configuration files that change how a server executes
// the files around them (handler mappings, auto_prepend_file, ...).
var scriptFileNames = []string{".htaccess", ".user.ini", "web.config"}

// IsScript reports whether the base name of name has one of exts as its
// extension (case-insensitive, with or without a leading dot), or is one of
// .htaccess, .user.ini and web.config. A nil exts means
// [DefaultScriptExtensions].
func IsScript(name string, exts []string) bool {
	if exts == nil {
		exts = DefaultScriptExtensions
	}
	base := path.Base(name)
	for _, n := range scriptFileNames {
		if strings.EqualFold(base, n) {
			return true
		}
	}
	dot := strings.LastIndexByte(base, '.')
	if dot < 0 || dot == len(base)-1 {
		return false
	}
	ext := base[dot+1:]
	for _, e := range exts {
		if strings.EqualFold(ext, strings.TrimPrefix(e, ".")) {
			return true
		}
	}
	return false
}
