package serverconf

import (
	"path"
	"strings"
)

// iisCollection describes a configuration collection whose <add>,
// <remove> and <clear/> elements become items.
type iisCollection struct {
	kind string
	elem string                // the element adding an entry, "add" if empty
	key  func(n *xnode) string // the collection key, as IIS matches it
	item func(n *xnode) Item
}

func nameKey(n *xnode) string { v, _ := n.attrFold("name"); return v }

func attrs(n *xnode, names ...string) map[string]string {
	m := map[string]string{}
	for _, k := range names {
		if v, ok := n.attrFold(k); ok && v != "" {
			m[k] = v
		}
	}
	return m
}

// iisCollections are keyed by the section path below <configuration>.
var iisCollections = map[string]iisCollection{
	"system.webServer/globalModules": {kind: "global_module", key: nameKey, item: func(n *xnode) Item {
		raw, _ := n.attrFold("image")
		img := expandWindows(raw)
		return Item{Name: nameKey(n), Image: img, Attrs: withRaw(attrs(n, "preCondition"), raw, img)}
	}},
	"system.webServer/modules": {kind: "module", key: nameKey, item: func(n *xnode) Item {
		t, _ := n.attrFold("type")
		return Item{Name: nameKey(n), Type: t, Attrs: attrs(n, "preCondition")}
	}},
	"system.webServer/handlers": {kind: "handler", key: nameKey, item: func(n *xnode) Item {
		raw, _ := n.attrFold("scriptProcessor")
		img := expandWindows(raw)
		t, _ := n.attrFold("type")
		a := withRaw(attrs(n, "path", "verb", "modules", "resourceType", "requireAccess", "preCondition"), raw, img)
		if iisMapsNonScript(a["path"], a["modules"], img, t) {
			a["non_script_extension"] = "true"
		}
		return Item{Name: nameKey(n), Image: img, Type: t, Attrs: a}
	}},
	"system.webServer/isapiFilters": {kind: "isapi_filter", elem: "filter", key: nameKey, item: func(n *xnode) Item {
		raw, _ := n.attrFold("path")
		img := expandWindows(raw)
		return Item{Name: nameKey(n), Image: img, Attrs: withRaw(attrs(n, "enabled", "enableCache", "preCondition"), raw, img)}
	}},
	"system.webServer/security/isapiCgiRestriction": {kind: "isapi_cgi_restriction",
		key: func(n *xnode) string { v, _ := n.attrFold("path"); return expandWindows(v) },
		item: func(n *xnode) Item {
			raw, _ := n.attrFold("path")
			img := expandWindows(raw)
			return Item{Name: img, Image: img, Attrs: withRaw(attrs(n, "allowed", "groupId", "description"), raw, img)}
		}},
	"system.web/httpModules": {kind: "http_module", key: nameKey, item: func(n *xnode) Item {
		t, _ := n.attrFold("type")
		return Item{Name: nameKey(n), Type: t}
	}},
	"system.web/httpHandlers": {kind: "http_handler",
		key: func(n *xnode) string {
			v, _ := n.attrFold("verb")
			p, _ := n.attrFold("path")
			return v + " " + p
		},
		item: func(n *xnode) Item {
			v, _ := n.attrFold("verb")
			p, _ := n.attrFold("path")
			t, _ := n.attrFold("type")
			a := attrs(n, "path", "verb", "validate")
			if iisMapsNonScript(p, "", "", t) {
				a["non_script_extension"] = "true"
			}
			return Item{Name: v + " " + p, Type: t, Attrs: a}
		}},
	"system.webServer/fastCgi": {kind: "fastcgi_application", elem: "application",
		key: func(n *xnode) string {
			p, _ := n.attrFold("fullPath")
			a, _ := n.attrFold("arguments")
			return expandWindows(p) + "|" + a
		},
		item: func(n *xnode) Item {
			raw, _ := n.attrFold("fullPath")
			img := expandWindows(raw)
			a, _ := n.attrFold("arguments")
			name := img
			if a != "" {
				name += "|" + a
			}
			return Item{Name: name, Image: img, Attrs: withRaw(attrs(n, "arguments", "monitorChangesTo"), raw, img)}
		}},
	"moduleProviders": {kind: "module_provider", key: nameKey, item: func(n *xnode) Item {
		t, _ := n.attrFold("type")
		return Item{Name: nameKey(n), Type: t}
	}},
}

// iisWalker turns an IIS-style <configuration> document into items.
type iisWalker struct {
	p     *parser
	src   string
	scope func(location string) string
}

// parseIIS reads applicationHost.config, administration.config and
// redirection.config.
func parseIIS(p *parser, src string, data []byte) error {
	root, err := parseXML(src, data)
	if err != nil {
		return err
	}
	w := iisWalker{p: p, src: src, scope: func(loc string) string {
		if loc == "" || loc == "." {
			return "server"
		}
		return loc
	}}
	w.walk(root, "", "")
	return nil
}

// parseWebConfig reads a web.config: its scope is its directory, plus the
// path of any <location>.
func parseWebConfig(p *parser, src string, data []byte) error {
	root, err := parseXML(src, data)
	if err != nil {
		return err
	}
	dir := path.Dir(strings.ReplaceAll(src, `\`, "/"))
	w := iisWalker{p: p, src: src, scope: func(loc string) string {
		if loc == "" || loc == "." {
			return dir
		}
		return dir + " location " + loc
	}}
	w.walk(root, "", "")
	return nil
}

func (w *iisWalker) walk(n *xnode, section, location string) {
	for _, c := range n.children {
		if c.name == "location" {
			loc, _ := c.attrFold("path")
			w.walk(c, section, loc)
			continue
		}
		sec := c.name
		if section != "" {
			sec = section + "/" + c.name
		}
		if cs, ok := c.attrFold("configSource"); ok {
			w.p.add(Item{Kind: "config_source", Name: sec, Image: cs, Scope: w.scope(location), Source: w.src, Line: c.line})
			if sub, src, ok := w.configSource(cs); ok && sub.name == c.name {
				sw := *w
				sw.src = src
				sw.section(sub, sec, location)
				continue
			}
		}
		w.section(c, sec, location)
	}
}

// configSource reads the file a section is moved to: a path relative to
// the directory of the configuration, without "..", as IIS requires.
func (w *iisWalker) configSource(cs string) (*xnode, string, bool) {
	rel := strings.ReplaceAll(cs, `\`, "/")
	if rel == "" || strings.HasPrefix(rel, "/") || isWindowsPath(cs) && strings.Contains(cs, ":") || strings.Contains(rel, "..") {
		return nil, "", false
	}
	sp := path.Join(path.Dir(strings.ReplaceAll(w.src, `\`, "/")), rel)
	_, data, ok := w.p.include(sp)
	if !ok {
		return nil, "", false
	}
	root, err := parseXML(sp, data)
	if err != nil {
		w.p.add(w.p.unparsable(err.(*ParseError)))
		return nil, "", false
	}
	return root, sp, true
}

// section handles one element below <configuration> (or a <location>).
func (w *iisWalker) section(c *xnode, sec, location string) {
	switch {
	case sec == "system.applicationHost/sites":
		w.sites(c)
		return
	case sec == "configurationRedirection":
		w.p.add(Item{Kind: "redirection", Name: "configurationRedirection", Image: expandWindows(c.attr("path")),
			Scope: "server", Source: w.src, Line: c.line, Attrs: attrs(c, "enabled", "userName")})
		return
	case sec == "configSections":
		return
	}
	if col, ok := iisCollections[sec]; ok {
		if ap, ok := c.attrFold("accessPolicy"); ok && col.kind == "handler" {
			// "Read, Script, Execute" on an upload folder makes it executable
			w.p.add(Item{Kind: "access_policy", Name: sec, Scope: w.scope(location), Source: w.src, Line: c.line,
				Attrs: map[string]string{"accessPolicy": ap}})
		}
		w.collection(c, col, location)
		return
	}
	w.walk(c, sec, location)
}

// collection applies <add>, <remove> and <clear/> in order. What remains
// of the local <add>s becomes items; a <remove> or <clear/> of inherited
// entries is an item too (op=remove / op=clear), since dropping a
// security module for one site is worth knowing.
func (w *iisWalker) collection(n *xnode, col iisCollection, location string) {
	type entry struct {
		it     Item
		remove bool
	}
	var order []string
	entries := map[string]*entry{}
	put := func(key string, e *entry) {
		k := strings.ToLower(key)
		if _, ok := entries[k]; !ok {
			order = append(order, k)
		}
		entries[k] = e
	}
	scope := w.scope(location)
	for _, c := range n.children {
		elem := col.elem
		if elem == "" {
			elem = "add"
		}
		switch c.name {
		case elem:
			it := col.item(c)
			it.Kind, it.Scope, it.Source, it.Line = col.kind, scope, w.src, c.line
			put(col.key(c), &entry{it: it})
		case "remove":
			key := col.key(c)
			if e, ok := entries[strings.ToLower(key)]; ok && !e.remove {
				delete(entries, strings.ToLower(key))
				continue
			}
			put(key, &entry{remove: true, it: Item{Kind: col.kind, Name: key, Scope: scope, Source: w.src, Line: c.line,
				Attrs: map[string]string{"op": "remove"}}})
		case "clear":
			clear(entries)
			order = order[:0]
			put("*", &entry{remove: true, it: Item{Kind: col.kind, Name: "*", Scope: scope, Source: w.src, Line: c.line,
				Attrs: map[string]string{"op": "clear"}}})
		}
	}
	for _, k := range order {
		if e, ok := entries[k]; ok {
			w.p.add(e.it)
			delete(entries, k) // a key re-added after removal is listed once
		}
	}
}

// sites records the physical path of every virtual directory as a web
// root named "site/app/vdir".
func (w *iisWalker) sites(n *xnode) {
	for _, site := range n.children {
		if site.name != "site" {
			continue
		}
		name, _ := site.attrFold("name")
		for _, app := range site.children {
			if app.name != "application" {
				continue
			}
			appPath, _ := app.attrFold("path")
			for _, vd := range app.children {
				if vd.name != "virtualDirectory" {
					continue
				}
				vdPath, _ := vd.attrFold("path")
				raw, _ := vd.attrFold("physicalPath")
				img := expandWindows(raw)
				a := withRaw(attrs(vd, "userName"), raw, img)
				a["site_id"], _ = site.attrFold("id")
				a["application_pool"], _ = app.attrFold("applicationPool")
				w.p.add(Item{Kind: "web_root", Name: name + path.Join("/", appPath, vdPath), Image: img,
					Scope: "server", Source: w.src, Line: vd.line, Attrs: a})
			}
		}
	}
}

// parseExchange reads agents.config and fetagents.config.
func parseExchange(p *parser, src string, data []byte) error {
	root, err := parseXML(src, data)
	if err != nil {
		return err
	}
	var walk func(n *xnode)
	walk = func(n *xnode) {
		for _, c := range n.children {
			if c.name == "agent" {
				raw, _ := c.attrFold("assemblyPath")
				img := expandWindows(raw)
				bt, _ := c.attrFold("baseType")
				p.add(Item{Kind: "transport_agent", Name: nameKey(c), Type: bt, Image: img, Source: src, Line: c.line,
					Attrs: withRaw(attrs(c, "classFactory", "enabled"), raw, img)})
				continue
			}
			walk(c)
		}
	}
	walk(root)
	return nil
}

// iisExecutable are extensions IIS and ASP.NET execute by design, beyond
// the usual script extensions.
var iisExecutable = map[string]bool{
	".dll": true, ".exe": true, ".axd": true, ".rem": true, ".soap": true, ".svc": true, ".xamlx": true,
	".xoml": true, ".rules": true, ".ascx": true, ".master": true, ".asax": true, ".ashx": true, ".config": true,
}

// iisMapsNonScript reports whether a handler makes files of a non-script
// extension ("*.jpg") execute: through a script processor, an executing
// module, or a managed handler type other than the ones that refuse or
// serve files statically.
func iisMapsNonScript(pathPattern, modules, scriptProcessor, typ string) bool {
	if !strings.HasPrefix(pathPattern, "*.") || strings.ContainsAny(pathPattern[2:], "*?/") {
		return false
	}
	ext := strings.ToLower(pathPattern[1:])
	if ext == "." || scriptExtensions[ext] || iisExecutable[ext] {
		return false
	}
	m := strings.ToLower(modules)
	t := strings.ToLower(typ)
	switch {
	case scriptProcessor != "":
		return true
	case strings.Contains(m, "isapimodule") || strings.Contains(m, "cgimodule") || strings.Contains(m, "fastcgimodule") ||
		strings.Contains(m, "serversideincludemodule"):
		return true
	case t != "" && !strings.Contains(t, "forbidden") && !strings.Contains(t, "notfound") &&
		!strings.Contains(t, "staticfile") && !strings.Contains(t, "defaulthttphandler"):
		return true
	}
	return false
}
