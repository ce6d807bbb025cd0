package serverconf

import (
	"path/filepath"
	"testing"
)

// The fixture trees yield the items a default installation has; this
// guards the parsers against silently losing a section.
func TestFixtureInventories(t *testing.T) {
	tests := []struct {
		tree, rel, server string
		want              map[string]int // "kind name" -> count, name "" = any
	}{
		{windowsTree, appHost, "iis", map[string]int{
			"global_module ": 36, "module ": 47, "handler ": 17, "isapi_filter ": 2, "isapi_cgi_restriction ": 3,
			"web_root Default Web Site/": 1, "access_policy system.webServer/handlers": 1,
			"global_module DefaultDocumentModule": 1, "module OutputCache": 1,
		}},
		{windowsTree, "Windows/System32/inetsrv/config/redirection.config", "iis", map[string]int{"redirection configurationRedirection": 1}},
		{windowsTree, "Windows/System32/inetsrv/config/administration.config", "iis", map[string]int{"module_provider ": 4}},
		{windowsTree, agentsConf, "exchange", map[string]int{"transport_agent ": 10, "transport_agent Malware Agent": 1}},
		{windowsTree, "inetpub/wwwroot/web.config", "webconfig", map[string]int{"handler WebDAV": 1, "module WebDAVModule": 1}},
		{debianTree, apacheConf, "apache", map[string]int{
			"load_module ": 20, "load_module php_module": 1, "script_handler .+\\.ph(?:ar|p|tml)$": 1,
			"web_root /var/www/html": 1, "web_root /cgi-bin/": 1, "exec_cgi ExecCGI": 1, "include ": 5,
		}},
		{debianTree, nginxMain, "nginx", map[string]int{"load_module ": 2, "web_root /var/www/html": 1, "script_handler ~ \\.php$": 1}},
		{debianTree, "etc/php/8.2/cli/php.ini", "php", map[string]int{"zend_extension opcache.so": 1, "extension mysqli.so": 1, "auto_prepend_file ": 0}},
		{debianTree, fpmConf, "php", map[string]int{"include /etc/php/8.2/fpm/pool.d/*.conf": 1}},
		{debianTree, htaccess, "htaccess", map[string]int{"script_handler ": 0, "exec_cgi ": 0}},
		{debianTree, tomcatConf, "tomcat", map[string]int{"listener ": 5, "valve ": 2, "web_root localhost": 1, "context /manager": 1, "war sample.war": 1}},
		{debianTree, "var/lib/tomcat10/conf/web.xml", "tomcat", map[string]int{"jsp_mapping ": 2, "jsp_mapping *.jsp": 1}},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.rel), func(t *testing.T) {
			items := parseOK(t, tc.tree, tc.rel, tc.server)
			for key, want := range tc.want {
				got := 0
				for _, it := range items {
					if key == it.Kind+" " || key == it.Kind+" "+it.Name {
						got++
					}
				}
				if got != want {
					t.Errorf("%q: %d items, want %d", key, got, want)
				}
			}
			for _, it := range items {
				if it.Attrs["non_script_extension"] != "" {
					t.Errorf("default configuration flagged: %+v", it)
				}
				if it.Source == "" || it.Line == 0 && it.Kind != "war" && it.Kind != "module_file" {
					t.Errorf("item without location: %+v", it)
				}
			}
		})
	}
}
