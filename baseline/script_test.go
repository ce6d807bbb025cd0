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
		{"x.php.jpg", nil, true},
		{"s.php.jpg", []string{"php"}, true},
		{"moment.min.js", nil, false},
		{"x.PHP7.png", nil, true},
		{"x.php2", nil, true},
		{"x.pgif", nil, true},
		{"x.cer", nil, true},
		{"x.xhtml", nil, true},
		{"x.module", nil, true},
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
		{"x.php.jpg", []string{}, false},
	} {
		if got := IsScript(tc.name, tc.exts); got != tc.want {
			t.Errorf("IsScript(%q, %q) = %v, want %v", tc.name, tc.exts, got, tc.want)
		}
	}
}

func TestDefaultScriptExtensionsFromIssue(t *testing.T) {
	// The list agreed in issues 1 and 10 (the one list of package
	// indicators); guards against an accidental edit.
	const want = "asp aspx ashx asmx asax ascx asa cer cshtml vbhtml razor soap svc master rem " +
		"php php2 php3 php4 php5 php6 php7 php8 phtml pht phtm phps phar pgif hphp ctp module inc " +
		"jsp jspx jspf jsv jsw tag tagx xhtml war ear cfm cfml cfc shtml shtm stm cgi fcgi pl pm py rb sh lua"
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
