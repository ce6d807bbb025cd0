package serverconf

import (
	"os"
	"path"
	"sort"
	"strings"

	"webfim/indicators"
)

// scriptExtensions are extensions a web server normally executes (the
// one list of package indicators, with a leading dot); a handler mapping
// any other extension to a script engine is suspicious.
var scriptExtensions = func() map[string]bool {
	m := map[string]bool{}
	for _, ext := range indicators.ScriptExtensions() {
		m["."+ext] = true
	}
	return m
}()

// scriptHandler reports whether an Apache handler or MIME type runs code.
func scriptHandler(h string) bool {
	h = strings.ToLower(h)
	for _, s := range []string{"php", "cgi", "x-httpd", "proxy:", "fcgi", "perl", "python", "jsp", "asp", "lua", "isapi", "server-parsed"} {
		if strings.Contains(h, s) {
			return true
		}
	}
	return false
}

// apacheFile is the state of parsing one Apache configuration file.
type apacheFile struct {
	p        *parser
	src      string
	htaccess bool
	ctx      *apacheCtx
}

// apacheCtx is shared across included files of one configuration.
type apacheCtx struct {
	serverRoot string // server path
	// vars are the variables ${NAME} expands to: Define'd in the
	// configuration, or exported by Debian's envvars file, which
	// apache2ctl sources before starting httpd.
	vars map[string]string
}

// maxExpandedLine bounds a line after ${VAR} expansion (a hostile
// Define repeated on a line must not blow up memory).
const maxExpandedLine = 64 << 10

// maxSectionDepth bounds <Section> nesting; real configurations nest a
// handful deep, and every item carries its scope label.
const maxSectionDepth = 64

type apacheSection struct {
	name  string
	label string // "" for sections that do not change the scope (<IfModule>)
	line  int
}

// parseApache reads httpd.conf / apache2.conf and what it includes.
func parseApache(p *parser, src string, data []byte) error {
	root := path.Dir(src)
	if path.Base(root) == "conf" { // RHEL: /etc/httpd/conf/httpd.conf, ServerRoot /etc/httpd
		root = path.Dir(root)
	}
	f := &apacheFile{p: p, src: src, ctx: &apacheCtx{serverRoot: root, vars: map[string]string{}}}
	f.loadEnvvars(path.Join(path.Dir(src), "envvars"))
	return f.parse(data, nil)
}

// loadEnvvars reads the plain assignments (NAME=value, with or without
// export) of Debian's envvars file, if there is one; shell constructs
// are skipped, as are values using other than $NAME and ${NAME}.
func (f *apacheFile) loadEnvvars(sp string) {
	hp, err := f.p.root.host(sp, false)
	if err != nil {
		return
	}
	if fi, err := os.Stat(hp); err != nil || !fi.Mode().IsRegular() {
		return
	}
	_, data, ok := f.p.include(sp)
	if !ok || checkText(sp, data) != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "export "))
		name, value, ok := strings.Cut(line, "=")
		if !ok || !shellName(name) || strings.ContainsAny(value, "`;|&<>()") {
			continue
		}
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		if v, ok := expandShell(value, f.ctx.vars); ok {
			f.ctx.vars[name] = v
		}
	}
}

// shellName reports whether s is a shell variable name.
func shellName(s string) bool {
	for i := range len(s) {
		if !nameByte(s[i], i == 0) {
			return false
		}
	}
	return s != ""
}

func nameByte(c byte, first bool) bool {
	return c == '_' || c|0x20 >= 'a' && c|0x20 <= 'z' || !first && c >= '0' && c <= '9'
}

// expandShell expands $NAME and ${NAME} as a shell would (unset: empty);
// it reports false for other expansions (${NAME##x} and the like).
func expandShell(s string, vars map[string]string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		rest := s[i+1:]
		if strings.HasPrefix(rest, "{") {
			end := strings.IndexByte(rest, '}')
			if end < 0 || !shellName(rest[1:end]) {
				return "", false
			}
			b.WriteString(vars[rest[1:end]])
			i += 2 + end
			continue
		}
		n := 0
		for n < len(rest) && nameByte(rest[n], n == 0) {
			n++
		}
		if n == 0 {
			b.WriteByte('$')
			i++
			continue
		}
		b.WriteString(vars[rest[:n]])
		i += 1 + n
	}
	return b.String(), true
}

// expand replaces ${NAME} by the value of a defined variable, as httpd
// does when it reads a line; an undefined variable is left as written.
func (f *apacheFile) expand(l string) string {
	if f.ctx.vars == nil || !strings.Contains(l, "${") {
		return l
	}
	orig := l
	var b strings.Builder
	for {
		i := strings.Index(l, "${")
		if i < 0 {
			b.WriteString(l)
			break
		}
		end := strings.IndexByte(l[i:], '}')
		if end < 0 {
			b.WriteString(l)
			break
		}
		b.WriteString(l[:i])
		if v, ok := f.ctx.vars[l[i+2:i+end]]; ok {
			b.WriteString(v)
		} else {
			b.WriteString(l[i : i+end+1])
		}
		if b.Len() > maxExpandedLine {
			return orig // leave a hostile line as written
		}
		l = l[i+end+1:]
	}
	return b.String()
}

// parseHtaccess reads a .htaccess file; its scope is its directory.
func parseHtaccess(p *parser, src string, data []byte) error {
	f := &apacheFile{p: p, src: src, htaccess: true, ctx: &apacheCtx{serverRoot: "/"}}
	return f.parse(data, []apacheSection{{label: path.Dir(src)}})
}

// apacheLines splits data into logical lines (joining "\" continuations),
// each with the number of its first physical line.
func apacheLines(data []byte) (lines []string, nums []int) {
	var cur strings.Builder
	start := 0
	for i, l := range strings.Split(string(data), "\n") {
		l = strings.TrimRight(l, "\r")
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(l, `\`) {
			cur.WriteString(strings.TrimSuffix(l, `\`))
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		nums = append(nums, start)
		cur.Reset()
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
		nums = append(nums, start)
	}
	return lines, nums
}

// apacheArgs splits a directive line into words; double or single quotes
// group words, backslash escapes the next character inside quotes.
func apacheArgs(s string) []string {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t\f")
		if s == "" {
			return out
		}
		var b strings.Builder
		if q := s[0]; q == '"' || q == '\'' {
			i := 1
			for ; i < len(s) && s[i] != q; i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == q || s[i+1] == '\\') {
					i++
				}
				b.WriteByte(s[i])
			}
			out = append(out, b.String())
			if i < len(s) {
				i++
			}
			s = s[i:]
			continue
		}
		i := strings.IndexAny(s, " \t\f")
		if i < 0 {
			i = len(s)
		}
		out = append(out, s[:i])
		s = s[i:]
	}
}

func (f *apacheFile) parse(data []byte, scope []apacheSection) error {
	if err := checkText(f.src, data); err != nil {
		return err
	}
	base := len(scope)
	lines, nums := apacheLines(data)
	for i, l := range lines {
		line := nums[i]
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' {
			continue
		}
		l = f.expand(l)
		if strings.HasPrefix(l, "</") {
			name := strings.ToLower(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(l, "</"), ">")))
			if len(scope) == base {
				return &ParseError{File: f.src, Line: line, Col: 1, Msg: "</" + name + "> without matching section"}
			}
			if top := scope[len(scope)-1]; top.name != name {
				return &ParseError{File: f.src, Line: line, Col: 1, Msg: "</" + name + "> closes <" + top.name + "> opened on line " + itoa(top.line)}
			}
			scope = scope[:len(scope)-1]
			continue
		}
		if l[0] == '<' {
			if !strings.HasSuffix(l, ">") {
				return &ParseError{File: f.src, Line: line, Col: len(l), Msg: "section directive missing closing '>'"}
			}
			args := apacheArgs(strings.TrimSuffix(l[1:], ">"))
			if len(args) == 0 {
				return &ParseError{File: f.src, Line: line, Col: 1, Msg: "empty section directive"}
			}
			name := strings.ToLower(args[0])
			label := ""
			switch name {
			case "ifmodule", "ifdefine", "ifversion", "iffile", "ifdirective", "ifsection", "if", "elseif", "else":
			default:
				label = strings.Join(append([]string{args[0]}, args[1:]...), " ")
			}
			if len(scope)-base >= maxSectionDepth {
				return &ParseError{File: f.src, Line: line, Col: 1, Msg: "sections nested too deeply"}
			}
			scope = append(scope, apacheSection{name: name, label: label, line: line})
			continue
		}
		args := apacheArgs(l)
		f.directive(strings.ToLower(args[0]), args[1:], line, scope)
	}
	if len(scope) > base {
		top := scope[len(scope)-1]
		return &ParseError{File: f.src, Line: top.line, Col: 1, Msg: "<" + top.name + "> is not closed"}
	}
	return nil
}

func scopeLabel(scope []apacheSection, dflt string) string {
	var parts []string
	for _, s := range scope {
		if s.label != "" {
			parts = append(parts, s.label)
		}
	}
	if len(parts) == 0 {
		return dflt
	}
	return strings.Join(parts, " > ")
}

// filesPattern is the innermost <Files>/<FilesMatch> pattern, which is
// what a SetHandler inside it applies to.
func filesPattern(scope []apacheSection) string {
	for i := len(scope) - 1; i >= 0; i-- {
		if n := scope[i].name; n == "files" || n == "filesmatch" || n == "location" || n == "locationmatch" {
			_, pat, _ := strings.Cut(scope[i].label, " ")
			return pat
		}
	}
	return "*"
}

// abs resolves a path relative to ServerRoot.
func (f *apacheFile) abs(p string) string {
	if strings.HasPrefix(p, "/") {
		return path.Clean(p)
	}
	return path.Join(f.ctx.serverRoot, p)
}

func (f *apacheFile) item(it Item, scope []apacheSection, line int) {
	it.Scope = scopeLabel(scope, "server")
	it.Source, it.Line = f.src, line
	f.p.add(it)
}

func (f *apacheFile) directive(name string, args []string, line int, scope []apacheSection) {
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	switch name {
	case "define":
		if !f.htaccess && len(args) > 0 && f.ctx.vars != nil {
			f.ctx.vars[args[0]] = arg(1)
		}
	case "undefine":
		if !f.htaccess && len(args) > 0 && f.ctx.vars != nil {
			delete(f.ctx.vars, args[0])
		}
	case "serverroot":
		if !f.htaccess && arg(0) != "" {
			f.ctx.serverRoot = path.Clean("/" + arg(0))
		}
	case "loadmodule":
		if len(args) >= 2 {
			f.item(Item{Kind: "load_module", Name: args[0], Image: f.abs(args[1]), Attrs: withRaw(nil, args[1], f.abs(args[1]))}, scope, line)
		}
	case "loadfile":
		for _, a := range args {
			f.item(Item{Kind: "load_file", Name: a, Image: f.abs(a)}, scope, line)
		}
	case "include", "includeoptional":
		if f.htaccess || len(args) == 0 {
			return
		}
		f.item(Item{Kind: "include", Name: args[0], Attrs: map[string]string{"directive": name}}, scope, line)
		spelled := map[string]string{"include": "Include", "includeoptional": "IncludeOptional"}[name]
		defer f.p.expanding(f.src, line, spelled+" "+args[0])()
		f.include(f.abs(args[0]), scope)
	case "documentroot":
		if len(args) > 0 {
			f.item(Item{Kind: "web_root", Name: f.abs(args[0]), Image: f.abs(args[0]), Attrs: map[string]string{"directive": "DocumentRoot"}}, scope, line)
		}
	case "alias", "scriptalias", "aliasmatch", "scriptaliasmatch":
		if len(args) >= 2 {
			f.item(Item{Kind: "web_root", Name: args[0], Image: f.abs(args[1]), Attrs: map[string]string{"directive": name}}, scope, line)
		}
	case "addhandler", "addtype":
		if len(args) < 2 || name == "addtype" && !scriptHandler(args[0]) {
			return
		}
		for _, ext := range args[1:] {
			ext = strings.ToLower(ext)
			if !strings.HasPrefix(ext, ".") {
				ext = "." + ext
			}
			a := map[string]string{"directive": name}
			if !scriptExtensions[ext] && scriptHandler(args[0]) {
				a["non_script_extension"] = "true"
			}
			f.item(Item{Kind: "script_handler", Name: ext, Type: args[0], Attrs: a}, scope, line)
		}
	case "sethandler", "forcetype":
		if len(args) == 0 || !scriptHandler(args[0]) {
			return
		}
		pat := filesPattern(scope)
		a := map[string]string{"directive": name}
		if pat != "*" && !scriptPattern(pat) {
			a["non_script_extension"] = "true"
		}
		f.item(Item{Kind: "script_handler", Name: pat, Type: args[0], Attrs: a}, scope, line)
	case "options":
		for _, o := range args {
			if o = strings.ToLower(o); o == "execcgi" || o == "+execcgi" || o == "all" {
				f.item(Item{Kind: "exec_cgi", Name: "ExecCGI", Attrs: map[string]string{"options": strings.Join(args, " ")}}, scope, line)
				break
			}
		}
	case "php_value", "php_admin_value", "php_flag", "php_admin_flag":
		if len(args) >= 1 {
			f.phpSetting(strings.ToLower(args[0]), arg(1), name, scope, line)
		}
	}
}

// phpSetting records the PHP settings that run code on every request.
func (f *apacheFile) phpSetting(key, value, directive string, scope []apacheSection, line int) {
	switch key {
	case "auto_prepend_file", "auto_append_file":
		if value == "" || strings.EqualFold(value, "none") {
			return
		}
		f.item(Item{Kind: key, Name: key, Image: value, Attrs: map[string]string{"directive": directive}}, scope, line)
	}
}

var patternNoise = strings.NewReplacer(`\`, "", "$", "", "^", "", "~", "", `"`, "")

// scriptPattern reports whether a <Files>/<FilesMatch> pattern names
// only script extensions, e.g. ".+\.ph(ar|p|tml)$" or "*.php".
func scriptPattern(pat string) bool {
	p := patternNoise.Replace(strings.ToLower(pat))
	for ext := range scriptExtensions {
		if strings.Contains(p, strings.TrimPrefix(ext, ".")) {
			return true
		}
	}
	return strings.Contains(p, ".ph")
}

// include parses the files a pattern names, spliced into the current
// scope; a directory includes every file below it.
func (f *apacheFile) include(pattern string, scope []apacheSection) {
	var files []string
	for _, m := range f.p.glob(pattern) {
		hp, err := f.p.root.host(m, false)
		if err != nil {
			continue
		}
		if fi, err := os.Stat(hp); err == nil && fi.IsDir() {
			files = append(files, f.dirFiles(m, 0)...)
			if f.p.limited {
				return
			}
			continue
		}
		files = append(files, m)
	}
	for _, m := range files {
		_, data, ok := f.p.include(m)
		src := m // as included: mods-enabled/x.load, not the symlink target
		if !ok {
			continue
		}
		sub := &apacheFile{p: f.p, src: src, ctx: f.ctx}
		f.p.depth++
		if err := sub.parse(data, append([]apacheSection(nil), scope...)); err != nil {
			f.p.add(f.p.unparsable(err.(*ParseError)))
		}
		f.p.depth--
	}
}

// dirFiles lists the files below an included directory, as httpd reads
// them; the directories listed count against maxGlobDirs and are sources
// of the inventory.
func (f *apacheFile) dirFiles(dir string, depth int) []string {
	p := f.p
	if p.limited {
		return nil
	}
	hp, err := p.root.host(dir, false)
	if err != nil || depth > 8 {
		return nil
	}
	if p.globDirs++; p.globDirs > maxGlobDirs {
		p.exceed("more than " + itoa(maxGlobDirs) + " directories listed")
		return nil
	}
	p.sources.addDir(p.root, dir)
	ents, err := os.ReadDir(hp)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		sp := path.Join(dir, e.Name())
		if e.IsDir() {
			out = append(out, f.dirFiles(sp, depth+1)...)
			if p.limited {
				return nil
			}
		} else {
			out = append(out, sp)
		}
		if len(out) > maxGlobMatches {
			p.exceed("more than " + itoa(maxGlobMatches) + " paths matched")
			return nil
		}
	}
	sort.Strings(out)
	return out
}
