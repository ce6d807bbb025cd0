package serverconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzParser checks that parsing arbitrary bytes as server never panics,
// always yields a hash, and either items or a located error. Seeds are the
// fixture files of that server.
func fuzzParser(f *testing.F, server string, seeds ...string) {
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	root := f.TempDir()
	name := filepath.Join(root, "fuzz.conf")
	f.Fuzz(func(t *testing.T, data []byte) {
		inv := ParseBytes(root, name, server, data)
		if inv.BLAKE3 == "" || inv.Server != server {
			t.Fatalf("inventory without hash or server: %+v", inv)
		}
		if inv.Err != nil {
			if inv.Err.Line < 0 || inv.Err.Msg == "" || inv.Err.File != "/fuzz.conf" {
				t.Fatalf("bad error position: %+v", inv.Err)
			}
			if last := inv.Items[len(inv.Items)-1]; last.Kind != "unparsable" {
				t.Fatalf("error without unparsable item: %+v", inv.Items)
			}
			if strings.Contains(inv.Err.Msg, "internal parser error") {
				t.Fatalf("parser panicked on %q", data)
			}
		}
		for _, it := range inv.Items {
			if it.Kind == "" || it.Server == "" {
				t.Fatalf("item without kind or server: %+v", it)
			}
		}
		// the diff of an inventory with itself is empty
		if c := Diff(inv.Items, inv.Items); len(c) != 0 {
			t.Fatalf("self diff: %+v", c)
		}
	})
}

func FuzzParseIIS(f *testing.F) {
	fuzzParser(f, "iis", windowsTree+"/"+appHost,
		windowsTree+"/Windows/System32/inetsrv/config/administration.config",
		windowsTree+"/Windows/System32/inetsrv/config/redirection.config")
}

func FuzzParseWebConfig(f *testing.F) {
	fuzzParser(f, "webconfig", windowsTree+"/inetpub/wwwroot/web.config")
}

func FuzzParseExchange(f *testing.F) {
	fuzzParser(f, "exchange", windowsTree+"/"+agentsConf)
}

func FuzzParseApache(f *testing.F) {
	fuzzParser(f, "apache", debianTree+"/etc/apache2/mods-available/php8.2.conf",
		debianTree+"/etc/apache2/mods-available/mime.conf", debianTree+"/etc/apache2/conf-available/serve-cgi-bin.conf",
		debianTree+"/etc/apache2/sites-available/000-default.conf", debianTree+"/etc/apache2/apache2.conf")
}

func FuzzParseHtaccess(f *testing.F) {
	fuzzParser(f, "htaccess", debianTree+"/"+htaccess)
}

func FuzzParseNginx(f *testing.F) {
	fuzzParser(f, "nginx", debianTree+"/etc/nginx/sites-available/default", debianTree+"/etc/nginx/mime.types",
		debianTree+"/etc/nginx/snippets/fastcgi-php.conf")
}

func FuzzParsePHPIni(f *testing.F) {
	fuzzParser(f, "php", debianTree+"/etc/php/8.2/cli/php.ini", debianTree+"/etc/php/8.2/fpm/pool.d/www.conf")
}

func FuzzParseTomcat(f *testing.F) {
	fuzzParser(f, "tomcat", debianTree+"/"+tomcatConf, debianTree+"/var/lib/tomcat10/conf/web.xml",
		debianTree+"/var/lib/tomcat10/conf/Catalina/localhost/manager.xml")
}

func FuzzParseUserIni(f *testing.F) {
	f.Add([]byte("; per-directory settings\nauto_prepend_file = /var/www/html/wp-content/uploads/x.png\nupload_max_filesize = 64M\n"))
	fuzzParser(f, "userini", debianTree+"/etc/php/8.2/mods-available/opcache.ini")
}
