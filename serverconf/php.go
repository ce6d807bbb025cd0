package serverconf

import (
	"path"
	"strings"
)

// parsePHPIni reads php.ini, conf.d/*.ini, php-fpm.conf and FPM pool
// files: extension and zend_extension lines, auto_prepend_file and
// auto_append_file, and php_value[...]/php_admin_value[...] of pools
// (scope "pool NAME"). FPM "include" globs are followed.
func parsePHPIni(p *parser, src string, data []byte) error {
	if err := phpIni(p, src, data, "", false); err != nil {
		return err
	}
	// PHP scans conf.d next to php.ini (Debian) as PHP_INI_SCAN_DIR
	if strings.EqualFold(path.Base(src), "php.ini") {
		scan := path.Join(path.Dir(src), "conf.d", "*.ini")
		if src == "/etc/php.ini" { // RHEL
			scan = "/etc/php.d/*.ini"
		}
		defer p.expanding(src, 0, "PHP's scan directory "+path.Dir(scan))()
		for _, m := range p.glob(scan) {
			_, idata, ok := p.include(m)
			if !ok {
				continue
			}
			if err := phpIni(p, m, idata, "", false); err != nil {
				p.add(p.unparsable(err.(*ParseError)))
			}
		}
	}
	return nil
}

// parseUserIni reads a .user.ini under a web root (scope: its directory).
func parseUserIni(p *parser, src string, data []byte) error {
	return phpIni(p, src, data, path.Dir(src), true)
}

func phpIni(p *parser, src string, data []byte, dirScope string, userIni bool) error {
	if err := checkText(src, data); err != nil {
		return err
	}
	section := ""
	extDir := ""
	for i, l := range strings.Split(string(data), "\n") {
		line := i + 1
		l = strings.TrimSpace(strings.TrimRight(l, "\r"))
		if l == "" || l[0] == ';' || l[0] == '#' {
			continue
		}
		if l[0] == '[' {
			end := strings.IndexByte(l, ']')
			if end < 0 {
				return &ParseError{File: src, Line: line, Col: len(l) + 1, Msg: `section header without "]"`}
			}
			section = strings.TrimSpace(l[1:end])
			continue
		}
		key, val, ok := strings.Cut(l, "=")
		if !ok {
			return &ParseError{File: src, Line: line, Col: 1, Msg: `line is neither a section nor "key = value"`}
		}
		key = strings.TrimSpace(key)
		val = iniValue(val)
		scope := dirScope
		lower := strings.ToLower(section)
		if scope == "" && (strings.HasPrefix(lower, "path=") || strings.HasPrefix(lower, "host=")) {
			scope = section
		}
		directive := ""
		// FPM pools: php_admin_value[auto_prepend_file] = /x
		if b := strings.IndexByte(key, '['); b > 0 && strings.HasSuffix(key, "]") {
			switch strings.ToLower(key[:b]) {
			case "php_value", "php_admin_value", "php_flag", "php_admin_flag":
				directive = key[:b]
				key = strings.TrimSpace(key[b+1 : len(key)-1])
				if section != "" {
					scope = "pool " + section
				}
			default:
				continue
			}
		}
		a := map[string]string{}
		if directive != "" {
			a["directive"] = directive
		}
		switch k := strings.ToLower(key); k {
		case "extension_dir":
			extDir = val
		case "extension", "zend_extension":
			if val == "" || userIni {
				continue
			}
			img := ""
			switch {
			case strings.HasPrefix(val, "/"):
				img = val
			case extDir != "" && strings.HasPrefix(extDir, "/"):
				img = path.Join(extDir, soName(val))
			default:
				img = p.phpExtension(soName(val))
			}
			p.add(Item{Kind: k, Name: val, Image: img, Scope: scope, Source: src, Line: line, Attrs: a})
		case "auto_prepend_file", "auto_append_file":
			if val == "" || strings.EqualFold(val, "none") {
				continue
			}
			p.add(Item{Kind: k, Name: k, Image: val, Scope: scope, Source: src, Line: line, Attrs: a})
		case "include":
			if userIni || directive != "" {
				continue
			}
			pat := val
			if !strings.HasPrefix(pat, "/") {
				pat = path.Join(path.Dir(src), pat)
			}
			p.add(Item{Kind: "include", Name: val, Scope: scope, Source: src, Line: line})
			restore := p.expanding(src, line, "include="+val)
			for _, m := range p.glob(pat) {
				_, idata, ok := p.include(m)
				if !ok {
					continue
				}
				isrc := m
				p.depth++
				if err := phpIni(p, isrc, idata, "", false); err != nil {
					p.add(p.unparsable(err.(*ParseError)))
				}
				p.depth--
			}
			restore()
		}
	}
	return nil
}

// iniValue strips quotes and trailing comments from an ini value.
func iniValue(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 1 && (v[0] == '"' || v[0] == '\'') {
		if end := strings.IndexByte(v[1:], v[0]); end >= 0 {
			return v[1 : 1+end]
		}
		return v[1:]
	}
	if i := strings.Index(v, " ;"); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

func soName(v string) string {
	if strings.HasSuffix(v, ".so") || strings.HasSuffix(strings.ToLower(v), ".dll") {
		return v
	}
	return v + ".so"
}

// phpExtension finds an extension in the default extension directories:
// Debian /usr/lib/php/API/, RHEL /usr/lib64/php/modules/.
func (p *parser) phpExtension(name string) string {
	for _, pat := range []string{"/usr/lib/php/*/" + name, "/usr/lib64/php/modules/" + name, "/usr/lib/php/modules/" + name} {
		if m := p.glob(pat); len(m) > 0 {
			return m[len(m)-1]
		}
	}
	return ""
}
