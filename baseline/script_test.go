package baseline

import "testing"

func TestIsScript(t *testing.T) {
	for _, tc := range []struct {
		name string
		exts []string
		want bool
	}{
		{"index.php", nil, true},
		{"shell.PhP5", nil, true},
		{"a/b/c.aspx", nil, true},
		{"upload/x.jpg.phtml", nil, true},
		{"x.php.jpg", nil, false},
		{"style.css", nil, false},
		{"README", nil, false},
		{"php", nil, false},
		{"trailingdot.", nil, false},
		{".htaccess", nil, true},
		{"sub/.HTACCESS", nil, true},
		{"dir/.user.ini", nil, true},
		{"Web.Config", nil, true},
		{"web.config.bak", nil, false},
		{"x.htaccess", nil, false},
		{"app.war", nil, true},
		{"script.py", nil, true},
		{"x.js", nil, false},
		{"x.js", []string{"js"}, true},
		{"x.JS", []string{".js"}, true},
		{"x.php", []string{"js"}, false},
		{".htaccess", []string{}, true},
		{"x.php", []string{}, false},
	} {
		if got := IsScript(tc.name, tc.exts); got != tc.want {
			t.Errorf("IsScript(%q, %q) = %v, want %v", tc.name, tc.exts, got, tc.want)
		}
	}
}

func TestDefaultScriptExtensionsFromIssue(t *testing.T) {
	// The list agreed in the issue; guards against an accidental edit.
	const want = "asp aspx ashx asmx asax ascx cshtml razor soap svc php php3 php4 php5 php7 php8 phtml pht phps phar inc jsp jspx jspf jsv jsw tag tagx war ear cfm cfc shtml shtm stm cgi pl py rb"
	got := ""
	for i, e := range DefaultScriptExtensions {
		if i > 0 {
			got += " "
		}
		got += e
	}
	if got != want {
		t.Errorf("DefaultScriptExtensions = %q\nwant %q", got, want)
	}
}
