package serverconf

import (
	"os"
	"path"
	"sort"
	"strings"
)

// parseTomcat reads conf/server.xml (Valves, Listeners, Host appBase,
// Context docBase; plus the conf/Catalina/HOST/*.xml context descriptors
// and the webapps/*.war of each Host), conf/web.xml (mappings of the JSP
// and CGI servlets) or a single context descriptor, by root element.
func parseTomcat(p *parser, src string, data []byte) error {
	root, err := parseXML(src, data)
	if err != nil {
		return err
	}
	base := path.Dir(path.Dir(src)) // CATALINA_BASE of conf/server.xml
	if conf := path.Dir(src); path.Dir(conf) == "/etc" && strings.HasPrefix(path.Base(conf), "tomcat") {
		// Debian: /var/lib/tomcatN/conf is a link to /etc/tomcatN
		base = "/var/lib/" + path.Base(conf)
	}
	t := &tomcat{p: p, src: src, base: base}
	switch root.name {
	case "Server":
		t.container(root, "Server")
	case "web-app":
		t.webXML(root)
	case "Context":
		name := strings.TrimSuffix(path.Base(src), ".xml")
		t.context(root, "Context "+path.Base(path.Dir(src))+"/"+name, "/"+strings.ReplaceAll(name, "#", "/"), "")
	}
	return nil
}

type tomcat struct {
	p    *parser
	src  string
	base string
}

func (t *tomcat) abs(p string) string {
	if strings.HasPrefix(p, "/") || isWindowsPath(p) {
		return p
	}
	return path.Join(t.base, p)
}

// container walks Server, Service, Engine and Host elements; scope is the
// chain "Server > Service Catalina > Engine Catalina > Host localhost".
func (t *tomcat) container(n *xnode, scope string) {
	for _, c := range n.children {
		switch c.name {
		case "Valve", "Listener":
			t.p.add(Item{Kind: strings.ToLower(c.name), Name: c.attr("className"), Scope: scope,
				Source: t.src, Line: c.line, Attrs: xattrs(c, "className")})
		case "Service", "Engine":
			t.container(c, scope+" > "+c.name+" "+c.attr("name"))
		case "Host":
			hs := scope + " > Host " + c.attr("name")
			appBase := c.attr("appBase")
			if appBase == "" {
				appBase = "webapps"
			}
			t.p.add(Item{Kind: "web_root", Name: c.attr("name"), Image: t.abs(appBase), Scope: scope, Source: t.src, Line: c.line,
				Attrs: xattrs(c, "name", "appBase")})
			t.container(c, hs)
			t.descriptors(c, hs)
			t.wars(t.abs(appBase), hs)
		case "Context":
			t.context(c, scope, c.attr("path"), "")
		}
	}
}

func (t *tomcat) context(c *xnode, scope, ctxPath, src string) {
	if src == "" {
		src = t.src
	}
	doc := c.attr("docBase")
	img := ""
	if doc != "" {
		img = t.abs(doc)
	}
	t.p.add(Item{Kind: "context", Name: ctxPath, Image: img, Scope: scope, Source: src, Line: c.line, Attrs: xattrs(c, "path", "docBase")})
	cs := scope + " > Context " + ctxPath
	for _, v := range c.children {
		if v.name == "Valve" || v.name == "Listener" {
			t.p.add(Item{Kind: strings.ToLower(v.name), Name: v.attr("className"), Scope: cs,
				Source: src, Line: v.line, Attrs: xattrs(v, "className")})
		}
	}
}

// descriptors parses conf/Catalina/HOST/*.xml.
func (t *tomcat) descriptors(host *xnode, scope string) {
	engine := "Catalina"
	for _, m := range t.p.glob(path.Join(t.base, "conf", engine, host.attr("name"), "*.xml")) {
		src, data, ok := t.p.include(m)
		if !ok {
			continue
		}
		root, err := parseXML(src, data)
		if err != nil {
			t.p.add(t.p.unparsable(err.(*ParseError)))
			continue
		}
		if root.name != "Context" {
			continue
		}
		name := strings.TrimSuffix(path.Base(m), ".xml")
		if name == "ROOT" {
			name = ""
		}
		t.context(root, scope, "/"+strings.ReplaceAll(name, "#", "/"), src)
	}
}

// wars lists appBase/*.war, hashed like module binaries.
func (t *tomcat) wars(appBase, scope string) {
	hp, err := t.p.root.host(appBase, false)
	if err != nil {
		return
	}
	ents, err := os.ReadDir(hp)
	if err != nil {
		return
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(strings.ToLower(e.Name()), ".war") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		t.p.add(Item{Kind: "war", Name: n, Image: path.Join(appBase, n), Scope: scope, Source: t.src})
	}
}

// webXML records the url-patterns mapped to the JSP, CGI and SSI
// servlets: mapping *.jpg to the JSP servlet makes images executable.
func (t *tomcat) webXML(root *xnode) {
	classes := map[string]string{}
	for _, s := range root.children {
		if s.name == "servlet" {
			classes[childText(s, "servlet-name")] = childText(s, "servlet-class")
		}
	}
	for _, m := range root.children {
		if m.name != "servlet-mapping" {
			continue
		}
		name := childText(m, "servlet-name")
		class := classes[name]
		if !scriptServlet(name, class) {
			continue
		}
		for _, u := range m.children {
			if u.name != "url-pattern" {
				continue
			}
			pat := strings.TrimSpace(u.text.String())
			a := map[string]string{"servlet": name}
			ext := strings.ToLower(strings.TrimPrefix(pat, "*"))
			if strings.HasPrefix(pat, "*.") && !scriptExtensions[ext] {
				a["non_script_extension"] = "true"
			}
			t.p.add(Item{Kind: "jsp_mapping", Name: pat, Type: class, Scope: "web.xml", Source: t.src, Line: u.line, Attrs: a})
		}
	}
}

func scriptServlet(name, class string) bool {
	n := strings.ToLower(name)
	return n == "jsp" || n == "cgi" || n == "ssi" || strings.HasSuffix(class, "JspServlet") ||
		strings.HasSuffix(class, "CGIServlet") || strings.HasSuffix(class, "SSIServlet")
}

func childText(n *xnode, name string) string {
	if c := n.child(name); c != nil {
		return strings.TrimSpace(c.text.String())
	}
	return ""
}

func xattrs(n *xnode, skip ...string) map[string]string {
	m := map[string]string{}
outer:
	for _, a := range n.attrs {
		for _, s := range skip {
			if a.Name.Local == s {
				continue outer
			}
		}
		m[a.Name.Local] = a.Value
	}
	return m
}
