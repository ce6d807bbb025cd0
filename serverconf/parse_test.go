package serverconf

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// parseString parses content written to a temporary sysroot at rel.
func parseString(t *testing.T, server, rel, content string) Inventory {
	t.Helper()
	root := t.TempDir()
	writeFile(t, root, rel, content)
	return ParseFile(root, filepath.Join(root, filepath.FromSlash(rel)), server)
}

// brief renders items as "kind name scope image type k=v..." lines.
func brief(items []Item) []string {
	var out []string
	for _, it := range items {
		s := it.Kind + "|" + it.Name + "|" + it.Scope + "|" + it.Image + "|" + it.Type
		for _, k := range sortedKeys(it.Attrs) {
			s += "|" + k + "=" + it.Attrs[k]
		}
		out = append(out, s)
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	for i := range k {
		for j := i + 1; j < len(k); j++ {
			if k[j] < k[i] {
				k[i], k[j] = k[j], k[i]
			}
		}
	}
	return k
}

func TestParsers(t *testing.T) {
	tests := []struct {
		name, server, rel, content string
		want                       []string
	}{
		{"iis add remove clear", "iis", "Windows/System32/inetsrv/config/applicationHost.config", `<configuration>
  <system.webServer>
    <globalModules>
      <add name="A" image="%windir%\a.dll" />
      <add name="B" image="%SystemRoot%\b.dll" />
      <remove name="a" />
      <add name="C" image="%ProgramFiles%\c.dll" preCondition="bitness64" />
    </globalModules>
  </system.webServer>
  <location path="Site/app" overrideMode="Allow">
    <system.webServer>
      <modules>
        <remove name="RequestFilteringModule" />
        <add name="Evil" type="Evil.Module" />
      </modules>
      <handlers>
        <clear />
        <add name="JpgAsAspx" path="*.jpg" verb="*" type="System.Web.UI.PageHandlerFactory" />
      </handlers>
    </system.webServer>
  </location>
</configuration>`, []string{
			`global_module|B|server|C:\Windows\b.dll||raw_image=%SystemRoot%\b.dll`,
			`global_module|C|server|C:\Program Files\c.dll||preCondition=bitness64|raw_image=%ProgramFiles%\c.dll`,
			`module|RequestFilteringModule|Site/app|||op=remove`,
			`module|Evil|Site/app||Evil.Module`,
			`handler|*|Site/app|||op=clear`,
			`handler|JpgAsAspx|Site/app||System.Web.UI.PageHandlerFactory|non_script_extension=true|path=*.jpg|verb=*`,
		}},
		{"iis config source and redirection", "iis", "r.config", `<configuration>
  <configurationRedirection enabled="true" path="\\fileserver\share\config" userName="svc" />
  <system.webServer><handlers configSource="handlers.config" /></system.webServer>
</configuration>`, []string{
			`redirection|configurationRedirection|server|\\fileserver\share\config||enabled=true|userName=svc`,
			`config_source|system.webServer/handlers|server|handlers.config|`,
		}},
		{"web.config", "webconfig", "inetpub/wwwroot/web.config", `<?xml version="1.0"?>
<configuration>
  <system.webServer><handlers accessPolicy="Read, Script, Execute"><add name="x" path="*.jpg" verb="*" type="System.Web.UI.PageHandlerFactory" /></handlers></system.webServer>
  <system.web>
    <httpModules><add name="M" type="Evil.M, Evil" /></httpModules>
    <httpHandlers><add verb="*" path="*.png" type="System.Web.UI.PageHandlerFactory" /></httpHandlers>
  </system.web>
  <location path="uploads"><system.webServer><modules><add name="U" type="U.M" /></modules></system.webServer></location>
</configuration>`, []string{
			`access_policy|system.webServer/handlers|/inetpub/wwwroot|||accessPolicy=Read, Script, Execute`,
			`handler|x|/inetpub/wwwroot||System.Web.UI.PageHandlerFactory|non_script_extension=true|path=*.jpg|verb=*`,
			`http_module|M|/inetpub/wwwroot||Evil.M, Evil`,
			`http_handler|* *.png|/inetpub/wwwroot||System.Web.UI.PageHandlerFactory|non_script_extension=true|path=*.png|verb=*`,
			`module|U|/inetpub/wwwroot location uploads||U.M`,
		}},
		{"exchange utf-16", "exchange", "agents.config", "\xff\xfe" + utf16le(`<?xml version="1.0" encoding="utf-16"?><configuration><mexRuntime><agentList>
<agent name="A" baseType="B" classFactory="F" assemblyPath="%ExchangeInstallPath%\a.dll" enabled="true" /></agentList></mexRuntime></configuration>`),
			[]string{`transport_agent|A||C:\Program Files\Microsoft\Exchange Server\V15\a.dll|B|classFactory=F|enabled=true|raw_image=%ExchangeInstallPath%\a.dll`}},
		{"apache", "apache", "etc/httpd/conf/httpd.conf", `ServerRoot "/etc/httpd"
LoadModule foo_module \
    modules/mod_foo.so
LoadFile /usr/lib64/libevil.so
<VirtualHost *:80>
  DocumentRoot "/srv/www"
  Alias /static "/srv/static"
  AddHandler cgi-script .cgi .jpg
  <Files "x.png">
    SetHandler application/x-httpd-php
  </Files>
  php_admin_value auto_prepend_file /srv/prepend.php
  Options +ExecCGI
</VirtualHost>
`, []string{
			`load_module|foo_module|server|/etc/httpd/modules/mod_foo.so||raw_image=modules/mod_foo.so`,
			`load_file|/usr/lib64/libevil.so|server|/usr/lib64/libevil.so|`,
			`web_root|/srv/www|VirtualHost *:80|/srv/www||directive=DocumentRoot`,
			`web_root|/static|VirtualHost *:80|/srv/static||directive=alias`,
			`script_handler|.cgi|VirtualHost *:80||cgi-script|directive=addhandler`,
			`script_handler|.jpg|VirtualHost *:80||cgi-script|directive=addhandler|non_script_extension=true`,
			`script_handler|x.png|VirtualHost *:80 > Files x.png||application/x-httpd-php|directive=sethandler|non_script_extension=true`,
			`auto_prepend_file|auto_prepend_file|VirtualHost *:80|/srv/prepend.php||directive=php_admin_value`,
			`exec_cgi|ExecCGI|VirtualHost *:80|||options=+ExecCGI`,
		}},
		{"htaccess", "htaccess", "var/www/html/up/.htaccess", `AddHandler application/x-httpd-php .gif
<FilesMatch "\.php$">
SetHandler application/x-httpd-php
</FilesMatch>
php_value auto_append_file "/tmp/a.php"
Options All
`, []string{
			`script_handler|.gif|/var/www/html/up||application/x-httpd-php|directive=addhandler|non_script_extension=true`,
			`script_handler|\.php$|/var/www/html/up > FilesMatch \.php$||application/x-httpd-php|directive=sethandler`,
			`auto_append_file|auto_append_file|/var/www/html/up|/tmp/a.php||directive=php_value`,
			`exec_cgi|ExecCGI|/var/www/html/up|||options=All`,
		}},
		{"nginx", "nginx", "etc/nginx/nginx.conf", `# comment { not a brace
load_module "/usr/lib/nginx/modules/a b.so";
http {
  server {
    listen 8080;
    root '/srv/x'; # trailing { comment
    location ~* \.(jpg|png)$ { fastcgi_pass 127.0.0.1:9000; }
    location /api/ { proxy_pass http://backend; alias /srv/api/; }
  }
  server { server_name a b; root html; }
}
`, []string{
			`load_module|/usr/lib/nginx/modules/a b.so|main|/usr/lib/nginx/modules/a b.so|`,
			`web_root|/srv/x|server listen 8080|/srv/x||directive=root`,
			`script_handler|~* \.(jpg|png)$|server listen 8080|127.0.0.1:9000|fastcgi_pass|non_script_extension=true`,
			`script_handler|/api/|server listen 8080|http://backend|proxy_pass`,
			`web_root|/srv/api/|server listen 8080|/srv/api/||directive=alias|location=/api/`,
			`web_root|html|server a b|/usr/share/nginx/html||directive=root`,
		}},
		{"php ini", "php", "etc/php.ini", `[PHP]
extension_dir = "/usr/lib64/php/modules"
extension=evil
zend_extension = /opt/x.so ; a comment
auto_prepend_file = "/var/www/p.php"
auto_append_file = none
[HOST=www.example.org]
auto_append_file = /a.php
`, []string{
			`extension|evil||/usr/lib64/php/modules/evil.so|`,
			`zend_extension|/opt/x.so||/opt/x.so|`,
			`auto_prepend_file|auto_prepend_file||/var/www/p.php|`,
			`auto_append_file|auto_append_file|HOST=www.example.org|/a.php|`,
		}},
		{"user.ini", "userini", "var/www/html/.user.ini", "auto_prepend_file=/var/www/html/x.png\nextension=ignored\n",
			[]string{`auto_prepend_file|auto_prepend_file|/var/www/html|/var/www/html/x.png|`}},
		{"tomcat web.xml", "tomcat", "opt/tomcat/conf/web.xml", `<web-app><servlet><servlet-name>jsp</servlet-name><servlet-class>org.apache.jasper.servlet.JspServlet</servlet-class></servlet>
<servlet-mapping><servlet-name>jsp</servlet-name><url-pattern>*.jpg</url-pattern></servlet-mapping></web-app>`,
			[]string{`jsp_mapping|*.jpg|web.xml||org.apache.jasper.servlet.JspServlet|non_script_extension=true|servlet=jsp`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := parseString(t, tc.server, tc.rel, tc.content)
			if inv.Err != nil {
				t.Fatalf("parse error: %v", inv.Err)
			}
			if d := cmp.Diff(tc.want, brief(inv.Items)); d != "" {
				t.Errorf("items (-want +got):\n%s", d)
			}
		})
	}
}

func utf16le(s string) string {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return string(b)
}

func TestUnparsable(t *testing.T) {
	tests := []struct {
		name, server, rel, content string
		line, col                  int
		msg                        string
	}{
		{"broken xml", "iis", "applicationHost.config", "<configuration>\n  <globalModules>\n    <add name=\"x\" \n  </globalModules>\n</configuration>\n", 4, 0, "XML"},
		{"unclosed xml", "exchange", "agents.config", "<configuration>\n<agentList>\n", 3, 1, "XML"},
		{"binary garbage", "nginx", "nginx.conf", "worker_processes 1;\nevents {}\n\x7fELF\x02\x01\x01\x00", 3, 1, "binary data"},
		{"binary xml", "tomcat", "server.xml", "<Server>\n\x00\x01\x02garbage", 2, 1, "binary data"},
		{"nginx unbalanced open", "nginx", "nginx.conf", "http {\n  server {\n    root /x;\n}\n", 1, 6, `"{" is not closed`},
		{"nginx unbalanced close", "nginx", "nginx.conf", "http {\n}\n}\n", 3, 1, `unexpected "}"`},
		{"nginx missing semicolon", "nginx", "nginx.conf", "http {\n  root /x\n}\n", 2, 1, `has no ";"`},
		{"apache unclosed", "apache", "apache2.conf", "<VirtualHost *:80>\nDocumentRoot /x\n", 1, 1, "not closed"},
		{"apache mismatched", "apache", "apache2.conf", "<Directory />\n</VirtualHost>\n", 2, 1, "closes <directory>"},
		{"apache nested too deeply", "apache", "apache2.conf", strings.Repeat("<Directory />\n", 65), 65, 1, "nested too deeply"},
		{"too many items", "apache", "apache2.conf", "LoadFile" + strings.Repeat(" /x", maxItems+1), 0, 0, "more than 100000 items"},
		{"php bad section", "php", "php.ini", "[PHP\nx=1\n", 1, 5, `without "]"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := parseString(t, tc.server, tc.rel, tc.content)
			if inv.Err == nil {
				t.Fatalf("no error; items %v", brief(inv.Items))
			}
			if inv.Err.Line != tc.line || tc.col != 0 && inv.Err.Col != tc.col || !strings.Contains(inv.Err.Msg, tc.msg) {
				t.Errorf("error %v; want line %d col %d containing %q", inv.Err, tc.line, tc.col, tc.msg)
			}
			if !errors.Is(inv.Err, ErrUnparsable) {
				t.Error("ParseError does not match ErrUnparsable")
			}
			if inv.BLAKE3 == "" {
				t.Error("unparsable file not hashed")
			}
			last := inv.Items[len(inv.Items)-1]
			if last.Kind != "unparsable" || last.Attrs["line"] != itoa(inv.Err.Line) || last.Source != inv.Source {
				t.Errorf("no unparsable item at the error: %+v", last)
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "nginx.conf")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxConfigSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	inv := ParseFile(root, p, "nginx")
	if inv.Err == nil || !strings.Contains(inv.Err.Msg, "larger than") || len(inv.Items) != 1 || inv.Items[0].Kind != "unparsable" {
		t.Errorf("oversized config: %+v", inv)
	}
}

func TestUnreadable(t *testing.T) {
	inv := ParseFile("", filepath.Join(t.TempDir(), "missing.conf"), "nginx")
	if inv.Err == nil || len(inv.Items) != 1 || inv.Items[0].Kind != "unparsable" {
		t.Errorf("missing config: %+v", inv)
	}
}

// A config that becomes unparsable is reported as such, not as the
// removal of everything it held.
func TestDiffUnparsable(t *testing.T) {
	root := copyTree(t, windowsTree)
	old := parseOK(t, root, agentsConf, "exchange")
	edit(t, root, agentsConf, "</agentList>", "</agentLis>")
	inv := ParseFile(root, filepath.Join(root, agentsConf), "exchange")
	if inv.Err == nil {
		t.Fatal("broken agents.config parsed")
	}
	got := Diff(old, inv.Items)
	if len(got) != 1 || got[0].Kind != ItemAdded || got[0].New.Kind != "unparsable" {
		t.Fatalf("changes: %+v", got)
	}
	if got[0].New.Attrs["line"] != itoa(lineOf(t, root, agentsConf, "</agentLis>")) {
		t.Errorf("unparsable item at line %s, want the broken tag", got[0].New.Attrs["line"])
	}
	// once fixed, the unparsable item goes away; compared with a baseline
	// taken while it was broken, its items are new
	back := Diff(inv.Items, old)
	if len(back) != len(old)+1 || back[len(back)-1].Kind != ItemRemoved || back[len(back)-1].Old.Kind != "unparsable" {
		t.Errorf("changes after the fix: %+v", back)
	}
}

// A module binary swapped in place is a change of image_blake3.
func TestDiffSwappedBinary(t *testing.T) {
	root := copyTree(t, windowsTree)
	old := parseOK(t, root, appHost, "iis")
	writeFile(t, root, "Windows/System32/inetsrv/static.dll", "MZ trojaned static.dll")
	got := Diff(old, parseOK(t, root, appHost, "iis"))
	if len(got) != 1 || got[0].Kind != ItemChanged || got[0].New.Name != "StaticFileModule" ||
		!cmp.Equal(got[0].Fields, []string{"image_blake3"}) || got[0].Note != `the binary C:\Windows\System32\inetsrv\static.dll was replaced` {
		t.Errorf("changes: %+v", got)
	}
}

// Windows names and images compare case-insensitively: recasing is no change.
func TestDiffCaseInsensitiveWindows(t *testing.T) {
	root := copyTree(t, windowsTree)
	old := parseOK(t, root, appHost, "iis")
	edit(t, root, appHost, `<add name="StaticFileModule" image="%windir%\System32\inetsrv\static.dll" />`,
		`<add name="staticfilemodule" image="%WINDIR%\system32\INETSRV\static.dll" />`)
	got := Diff(old, parseOK(t, root, appHost, "iis"))
	// only the raw spelling differs
	if len(got) != 1 || !cmp.Equal(got[0].Fields, []string{"attrs.raw_image"}) {
		t.Errorf("changes: %+v", got)
	}
}

func TestDiffDeterministic(t *testing.T) {
	root := copyTree(t, debianTree)
	old := parseOK(t, root, apacheConf, "apache")
	for _, f := range []string{"etc/apache2/mods-enabled/php8.2.load", "etc/apache2/mods-enabled/status.load"} {
		if err := os.Remove(filepath.Join(root, f)); err != nil {
			t.Fatal(err)
		}
	}
	first := Diff(old, parseOK(t, root, apacheConf, "apache"))
	if len(first) != 2 || first[0].Old.Name != "php_module" || first[1].Old.Name != "status_module" {
		t.Fatalf("changes: %+v", first)
	}
	for i := 0; i < 20; i++ {
		if d := cmp.Diff(first, Diff(old, parseOK(t, root, apacheConf, "apache"))); d != "" {
			t.Fatalf("Diff not deterministic:\n%s", d)
		}
	}
}

func TestIncludeLoop(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "etc/nginx/nginx.conf", "include /etc/nginx/a.conf;\n")
	writeFile(t, root, "etc/nginx/a.conf", "include /etc/nginx/nginx.conf;\ninclude /etc/nginx/a.conf;\nload_module /m.so;\n")
	inv := ParseFile(root, filepath.Join(root, "etc/nginx/nginx.conf"), "nginx")
	if inv.Err != nil {
		t.Fatal(inv.Err)
	}
	n := 0
	for _, it := range inv.Items {
		if it.Kind == "load_module" {
			n++
		}
	}
	if n != 1 || !cmp.Equal(inv.Files, []string{"/etc/nginx/nginx.conf", "/etc/nginx/a.conf"}) {
		t.Errorf("load_module seen %d times, files %v", n, inv.Files)
	}
}

func TestDetect(t *testing.T) {
	for name, want := range map[string]string{
		"applicationHost.config": "iis", "agents.config": "exchange", "/etc/apache2/sites-enabled/x.conf": "apache",
		"/etc/nginx/conf.d/x.conf": "nginx", "/etc/php/8.2/apache2/php.ini": "php", "/etc/php-fpm.d/www.conf": "php",
		"/opt/tomcat/conf/server.xml": "tomcat", "web.config": "webconfig", ".htaccess": "htaccess",
	} {
		if got := Detect(name, nil); got != want {
			t.Errorf("Detect(%q) = %q, want %q", name, got, want)
		}
	}
	if got := Detect("x.conf", []byte("LoadModule a b\n")); got != "apache" {
		t.Errorf("Detect by content = %q", got)
	}
}

// A FIFO where a module binary or an included config is expected must
// not hang the parser.
func TestFIFONotOpened(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "etc/nginx/nginx.conf", "load_module /m.so;\ninclude /etc/nginx/fifo.conf;\n")
	if err := mkfifo(filepath.Join(root, "m.so")); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	if err := mkfifo(filepath.Join(root, "etc/nginx/fifo.conf")); err != nil {
		t.Fatal(err)
	}
	inv := ParseFile(root, filepath.Join(root, "etc/nginx/nginx.conf"), "nginx")
	if inv.Err != nil || len(inv.Items) < 2 || inv.Items[1].ImageBLAKE3 != "" {
		t.Errorf("inventory: %+v", inv)
	}
}

// RHEL layout: ServerRoot /etc/httpd, relative includes, and includes
// inside a <VirtualHost> inherit its scope.
func TestApacheRHELIncludes(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "etc/httpd/conf/httpd.conf", `ServerRoot "/etc/httpd"
Include conf.modules.d/*.conf
<VirtualHost *:443>
    IncludeOptional vhost.d/*.conf
</VirtualHost>
IncludeOptional conf.d/*.conf
`)
	writeFile(t, root, "etc/httpd/conf.modules.d/00-base.conf", "LoadModule alias_module modules/mod_alias.so\n")
	writeFile(t, root, "etc/httpd/vhost.d/shop.conf", "DocumentRoot /srv/shop\n")
	writeFile(t, root, "etc/httpd/conf.d/php.conf", "AddHandler php-script .php\n")
	writeFile(t, root, "etc/httpd/modules/mod_alias.so", "\x7fELF")
	inv := ParseFile(root, filepath.Join(root, "etc/httpd/conf/httpd.conf"), "")
	if inv.Err != nil || inv.Server != "apache" {
		t.Fatalf("inventory: %+v", inv)
	}
	want := []string{
		`include|conf.modules.d/*.conf|server|||directive=include`,
		`load_module|alias_module|server|/etc/httpd/modules/mod_alias.so||raw_image=modules/mod_alias.so`,
		`include|vhost.d/*.conf|VirtualHost *:443|||directive=includeoptional`,
		`web_root|/srv/shop|VirtualHost *:443|/srv/shop||directive=DocumentRoot`,
		`include|conf.d/*.conf|server|||directive=includeoptional`,
		`script_handler|.php|server||php-script|directive=addhandler`,
	}
	if d := cmp.Diff(want, brief(inv.Items)); d != "" {
		t.Errorf("items (-want +got):\n%s", d)
	}
	if inv.Items[1].ImageBLAKE3 == "" {
		t.Error("module binary relative to ServerRoot not hashed")
	}
	wantFiles := []string{"/etc/httpd/conf/httpd.conf", "/etc/httpd/conf.modules.d/00-base.conf", "/etc/httpd/vhost.d/shop.conf", "/etc/httpd/conf.d/php.conf"}
	if d := cmp.Diff(wantFiles, inv.Files); d != "" {
		t.Errorf("files (-want +got):\n%s", d)
	}
}

// A broken included file is its own unparsable item; the rest is read.
func TestBrokenInclude(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "etc/nginx/nginx.conf", "include /etc/nginx/conf.d/*.conf;\nload_module /m.so;\n")
	writeFile(t, root, "etc/nginx/conf.d/bad.conf", "server {\n")
	inv := ParseFile(root, filepath.Join(root, "etc/nginx/nginx.conf"), "nginx")
	if inv.Err != nil {
		t.Fatal(inv.Err)
	}
	want := []string{
		`include|/etc/nginx/conf.d/*.conf|main||`,
		`unparsable|/etc/nginx/conf.d/bad.conf|||
			|blake3=ea3e2a0daa9f09fa9e5d8bc95c076501bf13d8c2ef2beabe7f91f384d112106e|col=8|error=unexpected end of file, "{" is not closed|line=1`,
		`load_module|/m.so|main|/m.so|`,
	}
	want[1] = strings.ReplaceAll(want[1], "\n\t\t\t", "")
	if d := cmp.Diff(want, brief(inv.Items)); d != "" {
		t.Errorf("items (-want +got):\n%s", d)
	}
}

// Debian's /var/lib/tomcat10/conf links to /etc/tomcat10: appBase stays
// relative to CATALINA_BASE.
func TestTomcatEtcLayout(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "etc/tomcat10/server.xml", `<Server><Service name="Catalina"><Engine name="Catalina"><Host name="localhost" appBase="webapps" /></Engine></Service></Server>`)
	inv := ParseFile(root, filepath.Join(root, "etc/tomcat10/server.xml"), "tomcat")
	if len(inv.Items) != 1 || inv.Items[0].Image != "/var/lib/tomcat10/webapps" {
		t.Errorf("items: %v", brief(inv.Items))
	}
}

// A section moved to another file with configSource is read from there;
// a path leaving the config directory is not followed.
func TestIISConfigSource(t *testing.T) {
	root := t.TempDir()
	dir := "Windows/System32/inetsrv/config"
	writeFile(t, root, dir+"/applicationHost.config", `<configuration>
  <system.webServer>
    <globalModules configSource="gm.config" />
    <isapiFilters configSource="..\..\evil.config" />
  </system.webServer>
</configuration>`)
	writeFile(t, root, dir+"/gm.config", "<globalModules>\n  <add name=\"Hidden\" image=\"%windir%\\hidden.dll\" />\n</globalModules>\n")
	writeFile(t, root, "Windows/System32/evil.config", `<isapiFilters><filter name="X" path="x.dll" /></isapiFilters>`)
	inv := ParseFile(root, filepath.Join(root, dir, "applicationHost.config"), "iis")
	if inv.Err != nil {
		t.Fatal(inv.Err)
	}
	want := []string{
		`config_source|system.webServer/globalModules|server|gm.config|`,
		`global_module|Hidden|server|C:\Windows\hidden.dll||raw_image=%windir%\hidden.dll`,
		`config_source|system.webServer/isapiFilters|server|..\..\evil.config|`,
	}
	if d := cmp.Diff(want, brief(inv.Items)); d != "" {
		t.Errorf("items (-want +got):\n%s", d)
	}
	if got := inv.Items[1].Source; got != "/"+dir+"/gm.config" {
		t.Errorf("moved section source %q", got)
	}
}

// TestApacheVariables: ${NAME} expands to what Define or Debian's envvars
// set, so web roots and module images written with variables are found;
// an undefined variable is left as written, and a line that would expand
// beyond the bound is left alone.
func TestApacheVariables(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "etc/apache2/envvars", `# envvars - default environment variables for apache2ctl
unset HOME
if [ "${APACHE_CONFDIR##/etc/apache2-}" != "${APACHE_CONFDIR}" ] ; then
	SUFFIX="-${APACHE_CONFDIR##/etc/apache2-}"
else
	SUFFIX=
fi
export APACHE_RUN_USER=www-data
export APACHE_LOG_DIR=/var/log/apache2$SUFFIX
export MODDIR="/usr/lib/apache2/modules"
export EVIL=$(curl http://x)
`)
	big := strings.Repeat("x", 8<<10)
	writeFile(t, root, "etc/apache2/apache2.conf", `Define SITE /srv/shop
Define BIG `+big+`
DocumentRoot ${SITE}/public
LoadModule evil_module ${MODDIR}/mod_evil.so
Alias /static ${UNDEFINED}/static
ErrorLog ${APACHE_LOG_DIR}/error.log
Alias /big ${BIG}${BIG}${BIG}${BIG}${BIG}${BIG}${BIG}${BIG}${BIG}
Undefine SITE
DocumentRoot ${SITE}
`)
	inv := ParseFile(root, filepath.Join(root, "etc/apache2/apache2.conf"), "")
	if inv.Err != nil || inv.Server != "apache" {
		t.Fatalf("inventory: %+v", inv)
	}
	got := brief(inv.Items)
	want := []string{
		`web_root|/srv/shop/public|server|/srv/shop/public||directive=DocumentRoot`,
		`load_module|evil_module|server|/usr/lib/apache2/modules/mod_evil.so|`,
		`web_root|/static|server|/etc/apache2/${UNDEFINED}/static||directive=alias`,
		`web_root|/big|server|/etc/apache2/${BIG}${BIG}${BIG}${BIG}${BIG}${BIG}${BIG}${BIG}${BIG}||directive=alias`,
		`web_root|/etc/apache2/${SITE}|server|/etc/apache2/${SITE}||directive=DocumentRoot`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("items (-want +got):\n%s", d)
	}
	if !slices.Contains(inv.Files, "/etc/apache2/envvars") {
		t.Errorf("envvars is not among the files the inventory read: %v", inv.Files)
	}
}
