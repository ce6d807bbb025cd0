package serverconf

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRestrictsOnly(t *testing.T) {
	for _, tc := range []struct {
		server, data string
		want         bool
	}{
		// MediaWiki's images/.htaccess (Debian's mediawiki 1.39)
		{"htaccess", "<IfModule php7_module>\nphp_flag engine off\n</IfModule>\n# In php8, php dropped the version number.\n<IfModule php_module>\nphp_flag engine off\n</IfModule>\n", true},
		{"htaccess", "Require all denied\nSatisfy All\n", true},
		{"htaccess", "Deny from all\n", true},
		{"htaccess", "Order Deny,Allow\r\nDeny from all\r\n", true},
		{"htaccess", "Options -ExecCGI -Indexes\nRemoveHandler .php .phtml\nRemoveType .php\n", true},
		{"htaccess", "SetHandler none\n", true},
		{"htaccess", "<FilesMatch \"\\.(php|phtml)$\">\n  Require all denied\n</FilesMatch>\n", true},
		{"htaccess", "RewriteEngine On\nRewriteCond %{QUERY_STRING} \\.php [NC]\nRewriteRule . - [F,L]\n", true},
		{"htaccess", "Header set X-Content-Type-Options nosniff\n", true},
		{"htaccess", "", true},
		{"htaccess", "# nothing\n\n", true},
		{"htaccess", "php_flag engine off\nphp_value engine 0\n", true},
		// anything that maps, runs or is unknown
		{"htaccess", "AddType application/x-httpd-php .jpg\n", false},
		{"htaccess", "AddHandler cgi-script .php\nOptions -ExecCGI\n", false},
		{"htaccess", "SetHandler application/x-httpd-php\n", false},
		{"htaccess", "ForceType text/plain\n", false},
		{"htaccess", "php_value auto_prepend_file /tmp/x.png\n", false},
		{"htaccess", "php_flag engine on\n", false},
		{"htaccess", "Options +ExecCGI\n", false},
		{"htaccess", "Options FollowSymLinks\n", false},
		{"htaccess", "RewriteRule .* - [H=application/x-httpd-php]\n", false},
		{"htaccess", "RewriteRule ^x$ /shell.php [L]\n", false},
		{"htaccess", "AddOutputFilter INCLUDES .html\n", false},
		{"htaccess", "<IfModule mod_php.c>\nphp_flag engine off\n", false}, // unclosed section
		{"htaccess", "</IfModule>\n", false},
		{"htaccess", "<Directory />\nRequire all denied\n</Directory>\n", false},
		{"htaccess", "Require all \\\n denied\n", true},
		{"htaccess", "Deny from all\x00", false},
		{"userini", "engine = Off\ndisplay_errors=0\n", true},
		{"userini", "; comment\n[PATH=/x]\nengine = off\n", true},
		{"userini", "auto_prepend_file = /var/www/html/uploads/x.png\n", false},
		{"userini", "error_log = /var/www/html/x.php\n", false},
		{"userini", "engine = on\n", false},
		{"webconfig", "<configuration/>", false},
		{"apache", "Require all denied\n", false},
	} {
		if got := RestrictsOnly(tc.server, []byte(tc.data)); got != tc.want {
			t.Errorf("RestrictsOnly(%s, %q) = %v, want %v", tc.server, tc.data, got, tc.want)
		}
	}
	big := make([]byte, MaxRestrictiveSize+1)
	for i := range big {
		big[i] = '#'
	}
	if RestrictsOnly("htaccess", big) {
		t.Error("a file over MaxRestrictiveSize counts as restrictive")
	}
}

// FuzzRestrictsOnly: never panics, and a file judged restrictive yields
// no item that runs code when the inventory parser reads it.
func FuzzRestrictsOnly(f *testing.F) {
	for _, s := range []string{"<IfModule php_module>\nphp_flag engine off\n</IfModule>\n", "Require all denied\n",
		"AddType application/x-httpd-php .jpg\n", "RewriteRule . - [F]\n", "Options -ExecCGI\nRemoveHandler .php\n"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	if data, err := os.ReadFile(filepath.Join(debianTree, htaccess)); err == nil {
		f.Add(string(data), false)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data string, userini bool) {
		server, name := "htaccess", ".htaccess"
		if userini {
			server, name = "userini", ".user.ini"
		}
		if !RestrictsOnly(server, []byte(data)) {
			return
		}
		for _, it := range ParseBytes(dir, filepath.Join(dir, name), server, []byte(data)).Items {
			switch it.Kind {
			case "script_handler", "exec_cgi", "auto_prepend_file", "auto_append_file", "unparsable":
				t.Fatalf("restrictive %s %q has item %+v", server, data, it)
			}
		}
	})
}
