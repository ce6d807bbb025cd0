package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"webfim/baseline"
	"webfim/serverconf"
)

const root = "/srv/www"

func fileChange(kind baseline.ChangeKind, rel string) baseline.Change {
	rec := &baseline.Record{Root: root, Path: rel, Type: baseline.TypeFile, Mode: 0o644}
	c := baseline.Change{Kind: kind, Root: root, Path: rel}
	switch kind {
	case baseline.Added:
		c.New = rec
	case baseline.Removed:
		c.Old = rec
	case baseline.Moved:
		c.New, c.Old, c.From = rec, rec, "tmp/"+rel
	default:
		c.Old, c.New, c.Fields = rec, rec, []string{"content"}
		if kind == baseline.MetadataChanged {
			c.Fields = []string{"mode"}
		}
	}
	return c
}

var deploy = &Window{Label: "v2.3.1", By: "jenkins", Start: utc("2026-11-26T10:00:00Z"), End: utc("2026-11-26T11:00:00Z")}

func TestEvaluateFile(t *testing.T) {
	cfg := `
roots:
  - path: /srv/www
    ignore: ['var/sessions/**']
  - path: /srv/cdn
    no_script_zones: []
ignore: ['**/*.log', '/srv/www/tmp/cache/**']
allowed_writers: [rsync]
rules:
  webfim-014:
    enabled: false
  webfim-013:
    severity: medium
`
	p := mustParse(t, cfg)
	tests := []struct {
		name     string
		change   baseline.Change
		window   *Window
		writer   string
		rule     string
		severity Severity
		alert    bool
		drop     bool
		reason   string
	}{
		{"script added", fileChange(baseline.Added, "shell.php"), nil, "", RuleScriptAdded, High, true, false,
			`script-type file added outside any deploy window`},
		{"script added, extension case-insensitive", fileChange(baseline.Added, "a/SHELL.AsPx"), nil, "", RuleScriptAdded, High, true, false, ""},
		{"script added in window", fileChange(baseline.Added, "shell.php"), deploy, "", RuleScriptAdded, Info, false, false,
			`script-type file added; expected: inside deploy window 'v2.3.1' opened by jenkins`},
		{"script modified", fileChange(baseline.ContentChanged, "index.php"), nil, "", RuleScriptModified, High, true, false, "script-type file modified"},
		{"script moved in", fileChange(baseline.Moved, "x.jsp"), nil, "", RuleScriptAdded, High, true, false, "moved from tmp/x.jsp"},
		{"no-script zone", fileChange(baseline.Added, "wp-content/uploads/2026/11/x.php"), nil, "", RuleScriptInNoScriptZone, Critical, true, false,
			`in no-script zone "**/uploads/**"`},
		{"no-script zone ignores windows", fileChange(baseline.Added, "images/x.phtml"), deploy, "", RuleScriptInNoScriptZone, Critical, true, false,
			"inside deploy window 'v2.3.1' opened by jenkins, which does not apply to this rule"},
		{"no-script zone ignores allowed writers", fileChange(baseline.ContentChanged, "static/.htaccess"), nil, "rsync", RuleScriptInNoScriptZone, Critical, true, false, "allowed writer"},
		{"no-script zone at top level", fileChange(baseline.Added, "uploads/a.php"), nil, "", RuleScriptInNoScriptZone, Critical, true, false, ""},
		{"per-root zones replace the defaults", baseline.Change{Kind: baseline.Added, Root: "/srv/cdn", Path: "uploads/a.php", New: &baseline.Record{Type: baseline.TypeFile}}, nil, "", RuleScriptAdded, High, true, false, ""},
		{"image in no-script zone is not a script", fileChange(baseline.Added, "uploads/a.jpg"), nil, "", RuleFileChanged, Medium, true, false, "file added"},
		{"web.config is script-type", fileChange(baseline.Added, "app/web.config"), nil, "", RuleScriptAdded, High, true, false, ""},
		{"other file, severity override", fileChange(baseline.Added, "readme.txt"), nil, "", RuleFileChanged, Medium, true, false, ""},
		{"other file in window", fileChange(baseline.ContentChanged, "style.css"), deploy, "", RuleFileChanged, Info, false, false, "expected"},
		{"allowed writer", fileChange(baseline.ContentChanged, "index.php"), nil, "rsync", RuleScriptModified, Info, false, false,
			`expected: written by allowed writer "rsync"`},
		{"unknown writer", fileChange(baseline.ContentChanged, "index.php"), nil, "bash", RuleScriptModified, High, true, false, ""},
		{"metadata change", fileChange(baseline.MetadataChanged, "index.php"), nil, "", RuleFileChanged, Medium, true, false, "changed (mode)"},
		{"removed, rule disabled", fileChange(baseline.Removed, "index.php"), nil, "", RuleFileRemoved, Info, false, true, "disabled"},
		{"ignored glob", fileChange(baseline.Added, "logs/a/error.log"), nil, "", "", Info, false, true, `ignore glob "**/*.log"`},
		{"ignored absolute glob", fileChange(baseline.Added, "tmp/cache/x.php"), nil, "", "", Info, false, true, ""},
		{"ignored per root", fileChange(baseline.Added, "var/sessions/sess_1"), nil, "", "", Info, false, true, ""},
		{"directory named like a script", baseline.Change{Kind: baseline.Added, Root: root, Path: "lib.php", New: &baseline.Record{Type: baseline.TypeDir}}, nil, "", RuleFileChanged, Medium, true, false, "dir added"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := p.EvaluateFile(tt.change, Context{Now: utc("2026-11-26T10:30:00Z"), Window: tt.window, Writer: named(tt.writer)})
			if v.RuleID != tt.rule || v.Severity != tt.severity || v.Alert != tt.alert || v.Drop != tt.drop {
				t.Errorf("verdict = %s %v alert=%v drop=%v, want %s %v alert=%v drop=%v (%s)",
					v.RuleID, v.Severity, v.Alert, v.Drop, tt.rule, tt.severity, tt.alert, tt.drop, v.Reason)
			}
			if !strings.Contains(v.Reason, tt.reason) {
				t.Errorf("reason %q does not contain %q", v.Reason, tt.reason)
			}
			if v.RiskScore != v.Severity.RiskScore() {
				t.Errorf("risk score %v for %v", v.RiskScore, v.Severity)
			}
			if v.Alert && tt.window != nil && tt.rule != RuleScriptInNoScriptZone && v.Window == nil {
				t.Error("verdict does not carry the window")
			}
		})
	}
}

func item(server, kind, name, image string) *serverconf.Item {
	return &serverconf.Item{Server: server, Kind: kind, Name: name, Image: image, Scope: "server", Source: "/etc/x.conf", Line: 3}
}

func withAttrs(it *serverconf.Item, kv ...string) *serverconf.Item {
	it.Attrs = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		it.Attrs[kv[i]] = kv[i+1]
	}
	return it
}

func TestEvaluateItem(t *testing.T) {
	p := Default()
	tests := []struct {
		name     string
		change   serverconf.Change
		window   *Window
		rule     string
		severity Severity
		alert    bool
		reason   string
	}{
		{"IIS global module added", serverconf.Change{Kind: serverconf.ItemAdded, New: item("iis", "global_module", "DefaultDocumentModule_Atomic", `C:\Windows\system32\inetsrv\defdoc.dll`),
			Note: "image already used by module DefaultDocumentModule"}, nil, RuleIISModule, Critical, true,
			`iis global module "DefaultDocumentModule_Atomic" added in /etc/x.conf, image C:\Windows\system32\inetsrv\defdoc.dll outside any deploy window; image already used by module DefaultDocumentModule`},
		{"IIS module in window is lowered, not hidden", serverconf.Change{Kind: serverconf.ItemAdded, New: item("iis", "global_module", "M", "m.dll")}, deploy, RuleIISModule, Medium, true,
			"inside deploy window 'v2.3.1' opened by jenkins: severity lowered to medium"},
		{"ISAPI filter", serverconf.Change{Kind: serverconf.ItemAdded, New: item("iis", "isapi_filter", "F", "f.dll")}, nil, RuleIISModule, Critical, true, ""},
		{"web.config managed module", serverconf.Change{Kind: serverconf.ItemAdded, New: item("webconfig", "module", "M", "")}, nil, RuleIISModule, Critical, true, ""},
		{"transport agent enabled", serverconf.Change{Kind: serverconf.ItemChanged, Fields: []string{"attrs.enabled"}, Old: item("exchange", "transport_agent", "A", "a.dll"), New: item("exchange", "transport_agent", "A", "a.dll")}, nil, RuleTransportAgent, Critical, true, "(attrs.enabled)"},
		{"apache LoadModule", serverconf.Change{Kind: serverconf.ItemAdded, New: item("apache", "load_module", "evil_module", "/usr/lib/apache2/modules/mod_evil.so")}, nil, RuleServerModule, Critical, true, ""},
		{"nginx load_module image changed", serverconf.Change{Kind: serverconf.ItemChanged, Fields: []string{"image_blake3"}, Old: item("nginx", "load_module", "m", "/m.so"), New: item("nginx", "load_module", "m", "/m.so")}, nil, RuleServerModule, Critical, true, ""},
		{"tomcat valve", serverconf.Change{Kind: serverconf.ItemAdded, New: item("tomcat", "valve", "org.evil.Valve", "")}, nil, RuleServerModule, Critical, true, ""},
		{"auto_prepend_file", serverconf.Change{Kind: serverconf.ItemAdded, New: item("php", "auto_prepend_file", "auto_prepend_file", "/tmp/x.php")}, nil, RuleAutoPrepend, Critical, true, ""},
		{"htaccess maps jpg to php", serverconf.Change{Kind: serverconf.ItemAdded, New: item("htaccess", "script_handler", ".jpg", "application/x-httpd-php")}, nil, RuleNewExecutableExt, Critical, true, ""},
		{"web.config maps *.jpg", serverconf.Change{Kind: serverconf.ItemAdded, New: item("webconfig", "handler", "*.jpg", "")}, nil, RuleNewExecutableExt, Critical, true, ""},
		{"IIS handler path *.jpg", serverconf.Change{Kind: serverconf.ItemAdded, New: withAttrs(item("iis", "handler", "PageHandlerFactory-jpg", ""), "path", "*.jpg")}, nil, RuleNewExecutableExt, Critical, true, ""},
		{"IIS handler path *.aspx", serverconf.Change{Kind: serverconf.ItemAdded, New: withAttrs(item("iis", "handler", "PageHandlerFactory-Integrated", ""), "path", "*.aspx")}, nil, RuleHandlerMapping, Critical, true, ""},
		{"web.config httpHandlers", serverconf.Change{Kind: serverconf.ItemAdded, New: withAttrs(item("webconfig", "http_handler", "* *.png", ""), "path", "*.png")}, nil, RuleNewExecutableExt, Critical, true, ""},
		{"parser's judgement without extension", serverconf.Change{Kind: serverconf.ItemAdded, New: withAttrs(item("htaccess", "script_handler", "avatar", "application/x-httpd-php"), "non_script_extension", "true")}, nil, RuleNewExecutableExt, Critical, true, ""},
		{"nginx proxy location", serverconf.Change{Kind: serverconf.ItemAdded, New: item("nginx", "script_handler", "/api/", "")}, nil, RuleHandlerMapping, Critical, true, ""},
		{"IIS FastCGI application", serverconf.Change{Kind: serverconf.ItemAdded, New: item("iis", "fastcgi_application", `C:\php\php-cgi.exe`, `C:\php\php-cgi.exe`)}, nil, RuleHandlerMapping, Critical, true, ""},
		{"IIS access policy with Execute", serverconf.Change{Kind: serverconf.ItemChanged, Old: withAttrs(item("iis", "access_policy", "system.webServer/handlers", ""), "accessPolicy", "Read"), New: withAttrs(item("iis", "access_policy", "system.webServer/handlers", ""), "accessPolicy", "Read, Script, Execute")}, nil, RuleNewExecutableExt, Critical, true, ""},
		{"IIS access policy read only", serverconf.Change{Kind: serverconf.ItemAdded, New: withAttrs(item("iis", "access_policy", "system.webServer/handlers", ""), "accessPolicy", "Read")}, nil, RuleConfigItemChanged, Medium, true, ""},
		{"IIS managed httpModule", serverconf.Change{Kind: serverconf.ItemAdded, New: item("webconfig", "http_module", "Evil", "")}, nil, RuleIISModule, Critical, true, ""},
		{"nginx regex mapping php and jpg", serverconf.Change{Kind: serverconf.ItemAdded, New: item("nginx", "script_handler", `~ \.(php|jpg)$`, "")}, nil, RuleNewExecutableExt, Critical, true, ""},
		{"nginx location regex for php", serverconf.Change{Kind: serverconf.ItemAdded, New: item("nginx", "script_handler", `~ \.php$`, "")}, nil, RuleHandlerMapping, Critical, true, ""},
		{"IIS handler for aspx", serverconf.Change{Kind: serverconf.ItemChanged, Old: item("iis", "handler", "*.aspx", ""), New: item("iis", "handler", "*.aspx", "x.dll")}, nil, RuleHandlerMapping, Critical, true, ""},
		{"ExecCGI", serverconf.Change{Kind: serverconf.ItemAdded, New: item("htaccess", "exec_cgi", "ExecCGI", "")}, nil, RuleNewExecutableExt, Critical, true, ""},
		{"unparsable", serverconf.Change{Kind: serverconf.ItemAdded, New: item("apache", "unparsable", "apache2.conf:3:1: unbalanced", "")}, nil, RuleUnparsableConfig, High, true, ""},
		{"include added", serverconf.Change{Kind: serverconf.ItemAdded, New: item("apache", "include", "/etc/apache2/evil.conf", "")}, nil, RuleConfigItemChanged, Medium, true, ""},
		{"include added in window", serverconf.Change{Kind: serverconf.ItemAdded, New: item("apache", "include", "/etc/apache2/x.conf", "")}, deploy, RuleConfigItemChanged, Info, false, "expected"},
		{"module removed", serverconf.Change{Kind: serverconf.ItemRemoved, Old: item("iis", "global_module", "M", "m.dll")}, nil, RuleConfigItemRemoved, Low, true, "removed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := p.EvaluateItem(tt.change, Context{Now: time.Now(), Window: tt.window})
			if v.RuleID != tt.rule || v.Severity != tt.severity || v.Alert != tt.alert || v.Drop {
				t.Errorf("verdict = %s %v alert=%v drop=%v, want %s %v alert=%v (%s)", v.RuleID, v.Severity, v.Alert, v.Drop, tt.rule, tt.severity, tt.alert, v.Reason)
			}
			if !strings.Contains(v.Reason, tt.reason) {
				t.Errorf("reason %q does not contain %q", v.Reason, tt.reason)
			}
		})
	}
}

// A site that legitimately executes .jpg (script_extensions) is not told
// that a .jpg handler makes a new extension executable.
func TestHandlerHonoursScriptExtensions(t *testing.T) {
	p := mustParse(t, "script_extensions: [php, jpg]\n")
	v := p.EvaluateItem(serverconf.Change{Kind: serverconf.ItemAdded, New: withAttrs(item("htaccess", "script_handler", ".jpg", "x"), "non_script_extension", "true")}, Context{})
	if v.RuleID != RuleHandlerMapping {
		t.Errorf("rule %s, want %s", v.RuleID, RuleHandlerMapping)
	}
}

func TestMappedExtensions(t *testing.T) {
	tests := map[string][]string{
		"*.jpg":              {"jpg"},
		".JPG":               {"jpg"},
		"php":                {"php"},
		`~ \.php$`:           {"php"},
		`~* \.(php|phtml)$`:  {"php", "phtml"},
		`~ \.(?:php|jpg)$`:   {"php", "jpg"},
		"*.jpg|*.png":        {"jpg", "png"},
		"*":                  nil,
		"application/x-php":  nil,
		"/upload/shell.aspx": {"aspx"},
	}
	for in, want := range tests {
		if got := mappedExtensions(in); !slices.Equal(got, want) {
			t.Errorf("mappedExtensions(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExplain(t *testing.T) {
	p := mustParse(t, windowConfig("thu", "10:00", "11:00", "UTC"))
	at := p.ContextAt(utc("2026-11-26T10:30:00Z"), nil, nil)
	v, err := p.Explain(root, "uploads/x.php", ActionAdded, at)
	if err != nil || v.RuleID != RuleScriptInNoScriptZone || !v.Alert {
		t.Errorf("explain = %+v, %v", v, err)
	}
	v, _ = p.Explain(root, "x.php", ActionChanged, at)
	if v.Alert || !strings.Contains(v.Reason, "inside deploy window 'w' (recurring, config)") {
		t.Errorf("explain in window = %+v", v)
	}
	if _, err := p.Explain(root, "x", "renamed", at); err == nil {
		t.Error("unknown action accepted")
	}
}

func TestExcludedAndScriptExtensions(t *testing.T) {
	p := mustParse(t, `
roots:
  - path: /srv/www
    exclude: ['wp-content/cache/**', '/srv/www/tmp']
    script_extensions: [php]
`)
	tests := []struct {
		root, rel string
		want      bool
	}{
		{"/srv/www", "wp-content/cache/a/b.html", true},
		{"/srv/www", "wp-content/cache", true},
		{"/srv/www", "tmp", true},
		{"/srv/www", "tmp2", false},
		{"/srv/www", "wp-content/themes/a.php", false},
		{"/srv/www", "", false},
		{"/srv/other", "wp-content/cache/a", false},
	}
	for _, tt := range tests {
		if got := p.Excluded(tt.root, tt.rel, false); got != tt.want {
			t.Errorf("Excluded(%s, %s) = %v, want %v", tt.root, tt.rel, got, tt.want)
		}
	}
	if got := p.ScriptExtensionsFor("/srv/www/"); len(got) != 1 || got[0] != "php" {
		t.Errorf("ScriptExtensionsFor = %v", got)
	}
	if got := p.ScriptExtensionsFor("/srv/other"); len(got) < 30 {
		t.Errorf("ScriptExtensionsFor(unconfigured root) = %v", got)
	}
	// A .aspx file is not a script on a PHP-only root.
	v := p.EvaluateFile(fileChange(baseline.Added, "x.aspx"), Context{})
	if v.RuleID != RuleFileChanged {
		t.Errorf("x.aspx on a php-only root: %s", v.RuleID)
	}
}

func TestContextAtAndRootNames(t *testing.T) {
	p := mustParse(t, "roots:\n  - {path: /srv/www, name: www}\n  - {path: /srv/x}\n"+windowConfig("", "10:00", "11:00", "UTC"))
	ctx := p.ContextAt(utc("2026-11-26T10:30:00Z"), nil, named("rsync"))
	if ctx.Window == nil || ctx.Window.Label != "w" || ctx.Writer.Name != "rsync" {
		t.Errorf("ContextAt = %+v", ctx)
	}
	if ctx := p.ContextAt(utc("2026-11-26T11:30:00Z"), nil, nil); ctx.Window != nil {
		t.Errorf("window outside its hours: %+v", ctx.Window)
	}
	if got := p.RootNames(); len(got) != 1 || got["/srv/www"] != "www" {
		t.Errorf("RootNames = %v", got)
	}
}

// named is a writer known by its name only; nil for "".
func named(name string) *Writer {
	if name == "" {
		return nil
	}
	return &Writer{Name: name}
}

// Issue 12: the rules of the watch daemon's coverage findings.
func TestEvaluateCoverageFindings(t *testing.T) {
	p := Default()
	now := Context{Now: utc("2026-11-26T10:30:00Z")}
	inWindow := Context{Now: now.Now, Window: deploy}

	transient := func(rel string) baseline.Change {
		return baseline.Change{Kind: baseline.Transient, Root: root, Path: rel,
			New: &baseline.Record{Root: root, Path: rel, Type: baseline.TypeFile, Size: 31}}
	}
	v := p.EvaluateFile(transient("uploads/x.php"), now)
	if v.RuleID != RuleTransientScript || v.Severity != High || !v.Alert || !strings.Contains(v.Reason, "created and deleted before it could be checked") {
		t.Errorf("transient script: %+v", v)
	}
	if v := p.EvaluateFile(transient("uploads/x.php"), inWindow); v.Alert || v.RuleID != RuleTransientScript {
		t.Errorf("transient script in a deploy window: %+v, want an expected event", v)
	}
	if v := p.EvaluateFile(transient("tmp/upload.part"), now); !v.Drop {
		t.Errorf("transient non-script file: %+v, want dropped", v)
	}

	mf := serverconf.Change{Kind: serverconf.ItemAdded, New: &serverconf.Item{Server: "apache", Kind: "module_file",
		Name: "mod_evil.so", Image: "/usr/lib/apache2/modules/mod_evil.so", Source: "/usr/lib/apache2/modules/mod_evil.so"}}
	if v := p.EvaluateItem(mf, now); v.RuleID != RuleUnloadedModuleBinary || v.Severity != Medium || !v.Alert {
		t.Errorf("module_file added: %+v", v)
	}

	for _, ctx := range []Context{now, inWindow} {
		v := p.EvaluateGap("root_missing", "/srv/www", "the web root does not exist", ctx)
		if v.RuleID != RuleMonitoringGap || v.Severity != High || !v.Alert || v.Window != nil ||
			v.Reason != "monitoring gap (root_missing) at /srv/www: the web root does not exist" {
			t.Errorf("gap (window %v): %+v", ctx.Window, v)
		}
	}
	if r, _ := RuleByID(RuleMonitoringGap); r.TacticOf() != DefenseEvasion {
		t.Errorf("monitoring gap tactic %v", r.TacticOf())
	}
}
