package serverconf

import (
	"path"
	"strings"
)

// ndirective is one nginx directive with its block, if any.
type ndirective struct {
	name  string
	args  []string
	line  int
	block []*ndirective
	src   string
}

type ntoken struct {
	s         string
	line, col int
	quoted    bool
	isSpecial bool // ; { }
}

// nginxTokens splits an nginx configuration into words, quoted strings
// and the special characters ; { }; "#" starts a comment outside quotes.
func nginxTokens(src string, data []byte) ([]ntoken, error) {
	var toks []ntoken
	line, col := 1, 0
	s := string(data)
	for i := 0; i < len(s); {
		c := s[i]
		col++
		switch {
		case c == '\n':
			line, col = line+1, 0
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f':
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == ';' || c == '{' || c == '}':
			toks = append(toks, ntoken{s: string(c), line: line, col: col, isSpecial: true})
			i++
		case c == '"' || c == '\'':
			startLine, startCol := line, col
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					return nil, &ParseError{File: src, Line: startLine, Col: startCol, Msg: "unterminated quoted string"}
				}
				if s[i] == c {
					i++
					col++
					break
				}
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == c || s[i+1] == '\\') {
					i++
					col++
				}
				if s[i] == '\n' {
					line, col = line+1, 0
				}
				b.WriteByte(s[i])
				i++
				col++
			}
			toks = append(toks, ntoken{s: b.String(), line: startLine, col: startCol, quoted: true})
		default:
			startCol := col
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n\f;{}\"'", rune(s[j])) {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				j++
			}
			// "#" inside a word is literal (e.g. a regex), as in nginx
			toks = append(toks, ntoken{s: s[i:j], line: line, col: startCol})
			col += j - i - 1
			i = j
		}
	}
	return toks, nil
}

// parseNginxTree builds the directive tree; unbalanced braces and
// directives without ";" are errors with their position.
func parseNginxTree(src string, data []byte) ([]*ndirective, error) {
	if err := checkText(src, data); err != nil {
		return nil, err
	}
	toks, err := nginxTokens(src, data)
	if err != nil {
		return nil, err
	}
	type frame struct {
		list *[]*ndirective
		open ntoken
	}
	var top []*ndirective
	stack := []frame{{list: &top}}
	var cur *ndirective
	for _, t := range toks {
		switch {
		case t.isSpecial && t.s == ";":
			if cur == nil {
				continue // an empty statement
			}
			l := stack[len(stack)-1].list
			*l = append(*l, cur)
			cur = nil
		case t.isSpecial && t.s == "{":
			if cur == nil {
				return nil, &ParseError{File: src, Line: t.line, Col: t.col, Msg: `unexpected "{"`}
			}
			if len(stack) > 64 {
				return nil, &ParseError{File: src, Line: t.line, Col: t.col, Msg: "blocks nested too deeply"}
			}
			l := stack[len(stack)-1].list
			*l = append(*l, cur)
			stack = append(stack, frame{list: &cur.block, open: t})
			cur = nil
		case t.isSpecial && t.s == "}":
			if cur != nil {
				return nil, &ParseError{File: src, Line: cur.line, Col: 1, Msg: "directive " + strquote(cur.name) + ` has no ";"`}
			}
			if len(stack) == 1 {
				return nil, &ParseError{File: src, Line: t.line, Col: t.col, Msg: `unexpected "}"`}
			}
			stack = stack[:len(stack)-1]
		default:
			if cur == nil {
				cur = &ndirective{name: t.s, line: t.line, src: src}
			} else {
				cur.args = append(cur.args, t.s)
			}
		}
	}
	if cur != nil {
		return nil, &ParseError{File: src, Line: cur.line, Col: 1, Msg: "unexpected end of file, directive " + strquote(cur.name) + ` has no ";"`}
	}
	if len(stack) > 1 {
		o := stack[len(stack)-1].open
		return nil, &ParseError{File: src, Line: o.line, Col: o.col, Msg: `unexpected end of file, "{" is not closed`}
	}
	return top, nil
}

type nginxConf struct {
	p       *parser
	confDir string // server path of the directory of nginx.conf
}

// parseNginx reads nginx.conf and what it includes.
func parseNginx(p *parser, src string, data []byte) error {
	dirs, err := parseNginxTree(src, data)
	if err != nil {
		return err
	}
	c := &nginxConf{p: p, confDir: path.Dir(src)}
	c.walk(dirs, "main", "")
	return nil
}

// walk emits items for dirs; scope names the server block ("server
// example.org" or "server :8080") and location names the location.
func (c *nginxConf) walk(dirs []*ndirective, scope, location string) {
	for _, d := range dirs {
		switch d.name {
		case "include":
			if len(d.args) == 0 {
				continue
			}
			c.p.add(Item{Kind: "include", Name: d.args[0], Scope: scope, Source: d.src, Line: d.line})
			pat := d.args[0]
			if !strings.HasPrefix(pat, "/") {
				pat = path.Join(c.confDir, pat)
			}
			restore := c.p.expanding(d.src, d.line, "include "+d.args[0])
			for _, m := range c.p.glob(pat) {
				_, data, ok := c.p.include(m)
				if !ok {
					continue
				}
				src := m
				sub, err := parseNginxTree(src, data)
				if err != nil {
					c.p.add(c.p.unparsable(err.(*ParseError)))
					continue
				}
				c.p.depth++
				c.walk(sub, scope, location)
				c.p.depth--
			}
			restore()
		case "load_module":
			if len(d.args) == 0 {
				continue
			}
			img := d.args[0]
			if !strings.HasPrefix(img, "/") {
				img = c.prefixed(img)
			}
			c.p.add(Item{Kind: "load_module", Name: d.args[0], Image: img, Scope: scope, Source: d.src, Line: d.line})
		case "root", "alias":
			if len(d.args) == 0 {
				continue
			}
			name := d.args[0]
			a := map[string]string{"directive": d.name}
			if location != "" {
				a["location"] = location
			}
			img := name
			if !strings.HasPrefix(img, "/") && !strings.HasPrefix(img, "$") {
				img = path.Join(c.prefix(), img) // "root html;" is relative to the prefix
			}
			c.p.add(Item{Kind: "web_root", Name: name, Image: img, Scope: scope, Source: d.src, Line: d.line, Attrs: a})
		case "fastcgi_pass", "proxy_pass", "uwsgi_pass", "scgi_pass", "grpc_pass":
			if len(d.args) == 0 || location == "" {
				continue
			}
			a := map[string]string{}
			if !locationScripts(location) && (d.name == "fastcgi_pass" || d.name == "uwsgi_pass" || d.name == "scgi_pass") {
				a["non_script_extension"] = "true"
			}
			c.p.add(Item{Kind: "script_handler", Name: location, Type: d.name, Image: d.args[0], Scope: scope, Source: d.src, Line: d.line, Attrs: a})
		case "server":
			if d.block == nil {
				continue
			}
			c.walk(d.block, serverLabel(d.block), location)
		case "location":
			if d.block == nil {
				continue
			}
			c.walk(d.block, scope, strings.Join(d.args, " "))
		default:
			if d.block != nil {
				c.walk(d.block, scope, location)
			}
		}
	}
}

// prefixed resolves a load_module path relative to the nginx prefix:
// /usr/share/nginx on Debian and RHEL, /etc/nginx for upstream builds.
func (c *nginxConf) prefixed(p string) string {
	for _, pre := range []string{"/usr/share/nginx", "/usr/lib/nginx", "/etc/nginx", path.Dir(c.confDir)} {
		if _, err := c.p.root.host(path.Join(pre, p), false); err == nil {
			return path.Join(pre, p)
		}
	}
	return path.Join(c.prefix(), p)
}

// prefix is nginx's --prefix: the parent of the conf directory for
// source builds (/usr/local/nginx/conf), /usr/share/nginx for packages.
func (c *nginxConf) prefix() string {
	if path.Base(c.confDir) == "conf" {
		return path.Dir(c.confDir)
	}
	return "/usr/share/nginx"
}

func serverLabel(block []*ndirective) string {
	for _, d := range block {
		if d.name == "server_name" && len(d.args) > 0 {
			return "server " + strings.Join(d.args, " ")
		}
	}
	for _, d := range block {
		if d.name == "listen" && len(d.args) > 0 {
			return "server listen " + d.args[0]
		}
	}
	return "server"
}

// locationScripts reports whether a location pattern names only script
// extensions (\.php$), as opposed to "~ \.jpg$" passed to PHP.
func locationScripts(loc string) bool {
	l := strings.ToLower(loc)
	if !strings.HasPrefix(l, "~") {
		return true // prefix locations: the backend decides
	}
	return scriptPattern(strings.TrimLeft(l, "~* "))
}
