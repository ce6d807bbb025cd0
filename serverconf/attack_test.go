package serverconf

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	appHost     = "Windows/System32/inetsrv/config/applicationHost.config"
	agentsConf  = "Program Files/Microsoft/Exchange Server/V15/TransportRoles/Shared/agents.config"
	apacheConf  = "etc/apache2/apache2.conf"
	nginxMain   = "etc/nginx/nginx.conf"
	fpmConf     = "etc/php/8.2/fpm/php-fpm.conf"
	htaccess    = "var/www/html/.htaccess"
	tomcatConf  = "var/lib/tomcat10/conf/server.xml"
	windowsTree = "testdata/windows"
	debianTree  = "testdata/debian"
)

// replay parses rel in a copy of tree before and after attack, and
// returns the copy and the changes Diff reports.
func replay(t *testing.T, tree, rel, server string, attack func(root string)) (string, []Change) {
	t.Helper()
	root := copyTree(t, tree)
	old := parseOK(t, root, rel, server)
	attack(root)
	new := parseOK(t, root, rel, server)
	return root, Diff(old, new)
}

func checkChanges(t *testing.T, got, want []Change) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Diff changes (-want +got):\n%s", d)
	}
}

// appcmd install module /name:DefaultDocumentModule_Atomic
// /image:%windir%\system32\inetsrv\defdoc.dll
func TestAttackIISModuleReusingImage(t *testing.T) {
	root, got := replay(t, windowsTree, appHost, "iis", func(root string) {
		edit(t, root, appHost, "        </globalModules>",
			`                <add name="DefaultDocumentModule_Atomic" image="%windir%\system32\inetsrv\defdoc.dll" />`+"\r\n        </globalModules>")
		edit(t, root, appHost, "            </modules>",
			`                <add name="DefaultDocumentModule_Atomic" />`+"\r\n            </modules>")
	})
	src := "/" + appHost
	checkChanges(t, got, []Change{
		{Kind: ItemAdded, New: &Item{
			Server: "iis", Kind: "global_module", Name: "DefaultDocumentModule_Atomic",
			Image: `C:\Windows\system32\inetsrv\defdoc.dll`, Scope: "server",
			Attrs:  map[string]string{"raw_image": `%windir%\system32\inetsrv\defdoc.dll`},
			Source: src, Line: lineOf(t, root, appHost, `name="DefaultDocumentModule_Atomic" image`),
			ImageBLAKE3: fileBLAKE3(t, root, "Windows/System32/inetsrv/defdoc.dll"),
		}, Note: `image C:\Windows\System32\inetsrv\defdoc.dll is already used by module DefaultDocumentModule`},
		{Kind: ItemAdded, New: &Item{
			Server: "iis", Kind: "module", Name: "DefaultDocumentModule_Atomic", Scope: "server",
			Source: src, Line: lineOf(t, root, appHost, `<add name="DefaultDocumentModule_Atomic" />`),
		}},
	})
}

// An ISAPI filter added inside a <location> for one site.
func TestAttackIISFilterInLocation(t *testing.T) {
	root, got := replay(t, windowsTree, appHost, "iis", func(root string) {
		edit(t, root, appHost, "</configuration>", `    <location path="Default Web Site">
        <system.webServer>
            <isapiFilters>
                <filter name="OwaAuth" path="%SystemDrive%\inetpub\wwwroot\bin\owaauth.dll" enabled="true" />
            </isapiFilters>
        </system.webServer>
    </location>
</configuration>`)
		writeFile(t, root, "inetpub/wwwroot/bin/owaauth.dll", "MZ implant")
	})
	checkChanges(t, got, []Change{
		{Kind: ItemAdded, New: &Item{
			Server: "iis", Kind: "isapi_filter", Name: "OwaAuth", Image: `C:\inetpub\wwwroot\bin\owaauth.dll`,
			Scope: "Default Web Site", Source: "/" + appHost, Line: lineOf(t, root, appHost, `name="OwaAuth"`),
			Attrs:       map[string]string{"enabled": "true", "raw_image": `%SystemDrive%\inetpub\wwwroot\bin\owaauth.dll`},
			ImageBLAKE3: fileBLAKE3(t, root, "inetpub/wwwroot/bin/owaauth.dll"),
		}},
	})
}

const evilAgent = `      <agent name="Exchange Mail Helper" baseType="Microsoft.Exchange.Data.Transport.Routing.RoutingAgent" classFactory="Helper.HelperAgentFactory" assemblyPath="C:\Program Files\Microsoft\Exchange Server\V15\TransportRoles\agents\Helper\Helper.dll" enabled="false" />
    </agentList>`

// Install-TransportAgent then Enable-TransportAgent of a new agent.
func TestAttackExchangeTransportAgent(t *testing.T) {
	root := copyTree(t, windowsTree)
	before := parseOK(t, root, agentsConf, "exchange")
	writeFile(t, root, "Program Files/Microsoft/Exchange Server/V15/TransportRoles/agents/Helper/Helper.dll", "MZ implant")
	edit(t, root, agentsConf, "    </agentList>", evilAgent) // Install-TransportAgent
	installed := parseOK(t, root, agentsConf, "exchange")
	edit(t, root, agentsConf, `Helper.dll" enabled="false"`, `Helper.dll" enabled="true"`) // Enable-TransportAgent
	enabled := parseOK(t, root, agentsConf, "exchange")

	agent := Item{
		Server: "exchange", Kind: "transport_agent", Name: "Exchange Mail Helper",
		Type:   "Microsoft.Exchange.Data.Transport.Routing.RoutingAgent",
		Image:  `C:\Program Files\Microsoft\Exchange Server\V15\TransportRoles\agents\Helper\Helper.dll`,
		Attrs:  map[string]string{"classFactory": "Helper.HelperAgentFactory", "enabled": "false"},
		Source: "/" + agentsConf, Line: lineOf(t, root, agentsConf, "Exchange Mail Helper"),
		ImageBLAKE3: fileBLAKE3(t, root, "Program Files/Microsoft/Exchange Server/V15/TransportRoles/agents/Helper/Helper.dll"),
	}
	on := agent
	on.Attrs = map[string]string{"classFactory": "Helper.HelperAgentFactory", "enabled": "true"}
	checkChanges(t, Diff(before, installed), []Change{{Kind: ItemAdded, New: &agent}})
	checkChanges(t, Diff(installed, enabled), []Change{{Kind: ItemChanged, Fields: []string{"attrs.enabled"}, Old: &agent, New: &on,
		Note: "agent Exchange Mail Helper was enabled"}})
	checkChanges(t, Diff(before, enabled), []Change{{Kind: ItemAdded, New: &on}})
}

// A new LoadModule in a file dropped into mods-enabled.
func TestAttackApacheLoadModule(t *testing.T) {
	root, got := replay(t, debianTree, apacheConf, "apache", func(root string) {
		writeFile(t, root, "usr/lib/apache2/modules/mod_backdoor.so", "\x7fELF implant")
		writeFile(t, root, "etc/apache2/mods-enabled/backdoor.load", "LoadModule backdoor_module /usr/lib/apache2/modules/mod_backdoor.so\n")
	})
	checkChanges(t, got, []Change{
		{Kind: ItemAdded, New: &Item{
			Server: "apache", Kind: "load_module", Name: "backdoor_module", Image: "/usr/lib/apache2/modules/mod_backdoor.so",
			Scope: "server", Source: "/etc/apache2/mods-enabled/backdoor.load", Line: 1,
			ImageBLAKE3: fileBLAKE3(t, root, "usr/lib/apache2/modules/mod_backdoor.so"),
		}},
	})
}

// A new load_module in nginx.conf: lines below it move, which is not a change.
func TestAttackNginxLoadModule(t *testing.T) {
	root, got := replay(t, debianTree, nginxMain, "nginx", func(root string) {
		writeFile(t, root, "usr/lib/nginx/modules/ngx_http_cache_purge_module.so", "\x7fELF implant")
		edit(t, root, nginxMain, "pid /run/nginx.pid;\n", "pid /run/nginx.pid;\nload_module /usr/lib/nginx/modules/ngx_http_cache_purge_module.so;\n")
	})
	checkChanges(t, got, []Change{
		{Kind: ItemAdded, New: &Item{
			Server: "nginx", Kind: "load_module", Name: "/usr/lib/nginx/modules/ngx_http_cache_purge_module.so",
			Image: "/usr/lib/nginx/modules/ngx_http_cache_purge_module.so", Scope: "main",
			Source: "/" + nginxMain, Line: 4,
			ImageBLAKE3: fileBLAKE3(t, root, "usr/lib/nginx/modules/ngx_http_cache_purge_module.so"),
		}},
	})
}

// auto_prepend_file added to an FPM pool, pointing at an uploaded "image".
func TestAttackFPMAutoPrepend(t *testing.T) {
	root, got := replay(t, debianTree, fpmConf, "php", func(root string) {
		edit(t, root, "etc/php/8.2/fpm/pool.d/www.conf", "pm = dynamic\n",
			"pm = dynamic\nphp_admin_value[auto_prepend_file] = /var/www/html/uploads/cat.jpg\n")
	})
	pool := "etc/php/8.2/fpm/pool.d/www.conf"
	checkChanges(t, got, []Change{
		{Kind: ItemAdded, New: &Item{
			Server: "php", Kind: "auto_prepend_file", Name: "auto_prepend_file", Image: "/var/www/html/uploads/cat.jpg",
			Scope: "pool www", Attrs: map[string]string{"directive": "php_admin_value"},
			Source: "/" + pool, Line: lineOf(t, root, pool, "auto_prepend_file"),
			ImageBLAKE3: fileBLAKE3(t, root, "var/www/html/uploads/cat.jpg"),
		}, Note: "PHP runs /var/www/html/uploads/cat.jpg on every request"},
	})
}

// An .htaccess that maps .jpg to PHP.
func TestAttackHtaccessJpgToPHP(t *testing.T) {
	root, got := replay(t, debianTree, htaccess, "htaccess", func(root string) {
		edit(t, root, htaccess, "Options -Indexes\n", "Options -Indexes\nAddType application/x-httpd-php .jpg\n")
	})
	_ = root
	checkChanges(t, got, []Change{
		{Kind: ItemAdded, New: &Item{
			Server: "htaccess", Kind: "script_handler", Name: ".jpg", Type: "application/x-httpd-php",
			Scope: "/var/www/html", Attrs: map[string]string{"directive": "addtype", "non_script_extension": "true"},
			Source: "/" + htaccess, Line: 2,
		}, Note: "maps non-script files .jpg to application/x-httpd-php"},
	})
}

// A new Tomcat Valve in the Host.
func TestAttackTomcatValve(t *testing.T) {
	root, got := replay(t, debianTree, tomcatConf, "tomcat", func(root string) {
		edit(t, root, tomcatConf, "      </Host>", `        <Valve className="org.apache.catalina.valves.GodzillaValve" />
      </Host>`)
	})
	checkChanges(t, got, []Change{
		{Kind: ItemAdded, New: &Item{
			Server: "tomcat", Kind: "valve", Name: "org.apache.catalina.valves.GodzillaValve",
			Scope:  "Server > Service Catalina > Engine Catalina > Host localhost",
			Source: "/" + tomcatConf, Line: lineOf(t, root, tomcatConf, "GodzillaValve"),
		}},
	})
}

// A web.config dropped into an upload folder making .jpg files ASP.NET pages.
func TestAttackWebConfigJpgHandler(t *testing.T) {
	root := copyTree(t, windowsTree)
	rel := "inetpub/wwwroot/web.config"
	old := parseOK(t, root, rel, "webconfig")
	edit(t, root, rel, "            <remove name=\"WebDAV\" />\n", "            <remove name=\"WebDAV\" />\n"+
		`            <add name="jpg" path="*.jpg" verb="*" type="System.Web.UI.PageHandlerFactory" resourceType="Unspecified" />`+"\n")
	got := Diff(old, parseOK(t, root, rel, "webconfig"))
	checkChanges(t, got, []Change{
		{Kind: ItemAdded, New: &Item{
			Server: "webconfig", Kind: "handler", Name: "jpg", Type: "System.Web.UI.PageHandlerFactory", Scope: "/inetpub/wwwroot",
			Attrs:  map[string]string{"path": "*.jpg", "verb": "*", "resourceType": "Unspecified", "non_script_extension": "true"},
			Source: "/" + rel, Line: lineOf(t, root, rel, `name="jpg"`),
		}, Note: "maps non-script files *.jpg to System.Web.UI.PageHandlerFactory"},
	})
}
