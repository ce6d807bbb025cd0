package serverconf

import "strings"

// MaxRestrictiveSize bounds the per-directory configurations that
// [RestrictsOnly] reads: larger files are never judged restrictive.
const MaxRestrictiveSize = 64 << 10

// RestrictsOnly reports whether the content of a per-directory
// configuration file only restricts what the server does with the files
// around it: every directive denies or limits access, or turns execution
// off, so that the file cannot make anything run. Such a file (MediaWiki's
// images/.htaccess with "php_flag engine off", an uploads/.htaccess with
// "Require all denied") is not script-type; any other directive, handler
// and type mappings (AddHandler, AddType, SetHandler, ForceType, Action),
// PHP settings other than turning the engine off, filters, rewrites other
// than "forbidden" or "gone", or something unknown, makes it one.
//
// server is the name [ForFile] gives: "htaccess" and "userini" are
// judged; a web.config (XML, whose handlers, modules and location
// elements can change everything) never counts as restrictive. An empty
// file, or one of only comments, restricts nothing and enables nothing:
// it counts as restrictive.
func RestrictsOnly(server string, data []byte) bool {
	if len(data) > MaxRestrictiveSize {
		return false
	}
	for _, c := range data {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return false // binary data: the parsers refuse it too
		}
	}
	switch server {
	case "htaccess":
		return htaccessRestricts(data)
	case "userini":
		return userIniRestricts(data)
	}
	return false
}

// htaccessSections are the Apache sections a restrictive .htaccess may use:
// conditions and the file and method selectors, none of which runs code.
var htaccessSections = map[string]bool{
	"ifmodule": true, "ifdefine": true, "ifversion": true, "ifdirective": true, "ifsection": true, "iffile": true,
	"if": true, "elseif": true, "else": true, "files": true, "filesmatch": true, "limit": true, "limitexcept": true,
	"requireall": true, "requireany": true, "requirenone": true,
}

// htaccessAccess are the directives of access control and authentication:
// they decide who may fetch a file, never what runs.
var htaccessAccess = map[string]bool{
	"require": true, "satisfy": true, "order": true, "deny": true, "allow": true,
	"authtype": true, "authname": true, "authuserfile": true, "authgroupfile": true, "authbasicprovider": true,
	"header": true, // response headers (X-Content-Type-Options: nosniff, Content-Security-Policy)
}

func htaccessRestricts(data []byte) bool {
	var open []string // the sections open, innermost last
	for _, line := range logicalLines(data, true) {
		if line == "" || line[0] == '#' {
			continue
		}
		if strings.HasPrefix(line, "</") {
			name := strings.ToLower(strings.TrimSpace(strings.TrimSuffix(line[2:], ">")))
			if len(open) == 0 || open[len(open)-1] != name || !strings.HasSuffix(line, ">") {
				return false
			}
			open = open[:len(open)-1]
			continue
		}
		if line[0] == '<' {
			f := strings.Fields(line[1:])
			if len(f) == 0 || !strings.HasSuffix(line, ">") {
				return false
			}
			name := strings.ToLower(strings.TrimSuffix(f[0], ">"))
			if !htaccessSections[name] {
				return false
			}
			open = append(open, name)
			continue
		}
		f := strings.Fields(line)
		if !htaccessDirectiveRestricts(strings.ToLower(f[0]), f[1:]) {
			return false
		}
	}
	return len(open) == 0
}

// htaccessDirectiveRestricts judges one directive of a .htaccess file.
func htaccessDirectiveRestricts(name string, args []string) bool {
	lower := func(i int) string {
		if i < len(args) {
			return strings.ToLower(strings.Trim(args[i], `"'`))
		}
		return ""
	}
	switch {
	case htaccessAccess[name]:
		return true
	case name == "removehandler" || name == "removetype" || name == "removeoutputfilter" || name == "removeinputfilter":
		return true
	case name == "options":
		// Only options turned off: -ExecCGI, -Includes, -Indexes, None.
		for _, o := range args {
			if o != "-"+strings.TrimPrefix(o, "-") && !strings.EqualFold(o, "none") || o == "-" {
				return false
			}
		}
		return len(args) > 0
	case name == "sethandler":
		h := lower(0)
		return len(args) == 1 && (h == "none" || h == "default-handler")
	case name == "php_flag" || name == "php_admin_flag" || name == "php_value" || name == "php_admin_value":
		return len(args) == 2 && lower(0) == "engine" && offValue(lower(1))
	case name == "rewriteengine" || name == "rewriteoptions" || name == "rewritecond" || name == "rewritebase":
		return true
	case name == "rewriterule":
		// RewriteRule PATTERN - [F] or [G]: refuse, never rewrite to a
		// handler ([H=...]), a type ([T=...]) or a proxy ([P]).
		if len(args) != 3 || args[1] != "-" {
			return false
		}
		refuses := false
		for _, fl := range strings.Split(strings.ToLower(strings.Trim(args[2], "[]")), ",") {
			switch strings.TrimSpace(fl) {
			case "f", "forbidden", "g", "gone":
				refuses = true
			case "nc", "nocase", "l", "last", "end":
			default:
				return false
			}
		}
		return refuses
	}
	return false
}

// userIniRestricts accepts a .user.ini that only turns things off: the
// PHP engine, error display, file uploads, URL opening.
func userIniRestricts(data []byte) bool {
	for _, line := range logicalLines(data, false) {
		if line == "" || line[0] == ';' || line[0] == '#' || line[0] == '[' && strings.HasSuffix(line, "]") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return false
		}
		key = strings.ToLower(strings.TrimSpace(key))
		value = strings.ToLower(strings.Trim(strings.TrimSpace(value), `"'`))
		switch key {
		case "engine", "display_errors", "display_startup_errors", "html_errors", "expose_php", "file_uploads", "allow_url_fopen", "short_open_tag":
			if !offValue(value) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func offValue(v string) bool {
	switch v {
	case "off", "0", "false", "no", "none", "":
		return true
	}
	return false
}

// logicalLines splits data into trimmed lines, joining the lines that end
// with a backslash when continued (Apache's continuation; INI files have
// none).
func logicalLines(data []byte, continued bool) []string {
	var out []string
	var cur strings.Builder
	for _, raw := range strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n") {
		line := strings.TrimSpace(raw)
		if continued && strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`))
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(line)
		out = append(out, strings.TrimSpace(cur.String()))
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}
