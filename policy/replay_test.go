package policy

import (
	"strings"
	"testing"

	"webfim/baseline"
	"webfim/indicators"
)

// sniffed returns c with its new record's content as the hashing pass
// would have sniffed it.
func sniffed(c baseline.Change, fam indicators.Family, restricts bool) baseline.Change {
	n := *c.New
	n.Sniffed, n.ContentFamily, n.RestrictsOnly = true, fam, restricts
	c.New = &n
	return c
}

// The policy holes of issue 10, replayed: each case is an attack (or the
// false positive) the issue lists, with the verdict it must get.
func TestEvaluateFileAttackReplays(t *testing.T) {
	p := mustParse(t, `
roots:
  - path: /srv/www
  - path: /srv/iis
    case_insensitive: true
ignore: ['**/cache/**']
`)
	iis := func(c baseline.Change) baseline.Change {
		c.Root = "/srv/iis"
		return c
	}
	tests := []struct {
		name     string
		change   baseline.Change
		window   *Window
		rule     string
		severity Severity
		alert    bool
		reason   string
	}{
		// 3: ignore does not outrank a zone.
		{"ignored cache inside a zone", fileChange(baseline.Added, "uploads/cache/x.php"), nil, RuleScriptInNoScriptZone, Critical, true,
			`ignore glob "**/cache/**" does not apply in a no-script zone`},
		{"ignored cache outside zones is still ignored", fileChange(baseline.Added, "var/cache/x.php"), nil, "", 0, false, ""},
		{"ignored image in a zone is still ignored", fileChange(baseline.Added, "uploads/cache/a.jpg"), nil, "", 0, false, ""},
		// 4: zones follow the root's case sensitivity.
		{"case-insensitive root", iis(fileChange(baseline.Added, "Uploads/s.php")), nil, RuleScriptInNoScriptZone, Critical, true, `"**/uploads/**"`},
		{"case-insensitive root, upper-case zone path", iis(fileChange(baseline.Added, "WP-CONTENT/UPLOADS/S.PHP")), nil, RuleScriptInNoScriptZone, Critical, true, ""},
		{"case-sensitive root", fileChange(baseline.Added, "Uploads/s.php"), nil, RuleScriptAdded, High, true, ""},
		// 5: extension gaps and multi-extension names.
		{"double extension in a zone", fileChange(baseline.Added, "uploads/s.php.jpg"), nil, RuleScriptInNoScriptZone, Critical, true, ""},
		{"double extension", fileChange(baseline.Added, "s.php.jpg"), nil, RuleScriptAdded, High, true, ""},
		{".phtm", fileChange(baseline.Added, "a.phtm"), nil, RuleScriptAdded, High, true, ""},
		{".phar", fileChange(baseline.Added, "a.phar"), nil, RuleScriptAdded, High, true, ""},
		{".cer", fileChange(baseline.Added, "a.cer"), nil, RuleScriptAdded, High, true, ""},
		{".jspf", fileChange(baseline.Added, "a.jspf"), nil, RuleScriptAdded, High, true, ""},
		// 6: script content in a file that is not script-type.
		{"PHP as .jpg in a zone", sniffed(fileChange(baseline.Added, "uploads/x.jpg"), indicators.FamilyPHP, false), nil, RuleScriptInNoScriptZone, Critical, true,
			"file with php content added in no-script zone"},
		{"PHP as .png in a zone, in a window", sniffed(fileChange(baseline.ContentChanged, "images/pic.png"), indicators.FamilyPHP, false), deploy, RuleScriptInNoScriptZone, Critical, true, ""},
		{"PHP as .png elsewhere", sniffed(fileChange(baseline.Added, "pic.png"), indicators.FamilyPHP, false), nil, RuleScriptContent, Medium, true, "php content"},
		{"PHP as .png elsewhere, in a window", sniffed(fileChange(baseline.Added, "pic.png"), indicators.FamilyPHP, false), deploy, RuleScriptContent, Info, false, "expected"},
		{"real image in a zone", sniffed(fileChange(baseline.Added, "uploads/pic.png"), indicators.FamilyNone, false), nil, RuleFileChanged, Low, true, ""},
		{"chmod of a sniffed file", sniffed(fileChange(baseline.MetadataChanged, "pic.png"), indicators.FamilyPHP, false), nil, RuleFileChanged, Low, true, ""},
		// 8: MediaWiki's images/.htaccess only denies.
		{"deny-only .htaccess in a zone", sniffed(fileChange(baseline.Added, "images/.htaccess"), indicators.FamilyNone, true), nil, RuleRestrictOnlyConfig, Low, true, "only restrict"},
		{"deny-only .htaccess in a window", sniffed(fileChange(baseline.Added, "images/.htaccess"), indicators.FamilyNone, true), deploy, RuleRestrictOnlyConfig, Info, false, ""},
		{"granting .htaccess in a zone", sniffed(fileChange(baseline.Added, "images/.htaccess"), indicators.FamilyNone, false), nil, RuleScriptInNoScriptZone, Critical, true, ""},
		{"unsniffed .htaccess in a zone", fileChange(baseline.Added, "images/.htaccess"), nil, RuleScriptInNoScriptZone, Critical, true, ""},
		{"restrict bit on another name is meaningless", sniffed(fileChange(baseline.Added, "images/x.php"), indicators.FamilyPHP, true), nil, RuleScriptInNoScriptZone, Critical, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := p.EvaluateFile(tt.change, Context{Window: tt.window})
			if tt.rule == "" {
				if !v.Drop {
					t.Fatalf("verdict %+v, want dropped", v)
				}
				return
			}
			if v.Drop || v.RuleID != tt.rule || v.Severity != tt.severity || v.Alert != tt.alert || !strings.Contains(v.Reason, tt.reason) {
				t.Errorf("verdict %s %s alert=%v drop=%v %q\nwant %s %s alert=%v, reason containing %q",
					v.RuleID, v.Severity, v.Alert, v.Drop, v.Reason, tt.rule, tt.severity, tt.alert, tt.reason)
			}
		})
	}
}

// Issue 10, item 9: an in-place edit followed by "touch -r" keeps the
// mtime, but not the ctime.
func TestEvaluateFileTimestomp(t *testing.T) {
	p := mustParse(t, "")
	change := func(rel string, oldM, oldC, newM, newC int64) baseline.Change {
		c := fileChange(baseline.ContentChanged, rel)
		o, n := *c.Old, *c.New
		o.Mtime, o.Ctime, n.Mtime, n.Ctime = oldM, oldC, newM, newC
		c.Old, c.New = &o, &n
		return c
	}
	for _, tt := range []struct {
		name     string
		c        baseline.Change
		window   *Window
		stomped  bool
		severity Severity
		rule     string
	}{
		{"mtime restored", change("index.php", 100, 100, 100, 200), nil, true, Critical, RuleScriptModified},
		{"mtime set back", change("index.php", 100, 100, 50, 200), nil, true, Critical, RuleScriptModified},
		{"non-script raised from low", change("a.txt", 100, 100, 100, 200), nil, true, Medium, RuleFileChanged},
		{"ordinary edit", change("index.php", 100, 100, 300, 300), nil, false, High, RuleScriptModified},
		{"ctime unknown", change("index.php", 100, 0, 100, 0), nil, false, High, RuleScriptModified},
		{"inside a window: noted, still expected", change("index.php", 100, 100, 100, 200), deploy, true, Info, RuleScriptModified},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := p.EvaluateFile(tt.c, Context{Window: tt.window})
			if v.Timestomped != tt.stomped || v.Severity != tt.severity || v.RuleID != tt.rule {
				t.Errorf("verdict %s %s timestomped=%v (%q), want %s %s timestomped=%v", v.RuleID, v.Severity, v.Timestomped, v.Reason, tt.rule, tt.severity, tt.stomped)
			}
			if tt.stomped != strings.Contains(v.Reason, "timestomping") {
				t.Errorf("reason %q: timestomping said = %v, want %v", v.Reason, !tt.stomped, tt.stomped)
			}
		})
	}
}

func TestNoScriptZoneCase(t *testing.T) {
	p := mustParse(t, "")
	if _, ok := p.NoScriptZone(`C:\inetpub\wwwroot`, "Uploads/s.aspx"); !ok {
		t.Errorf("a Windows root matches zones case-sensitively")
	}
	if g, ok := p.NoScriptZone("/srv/x", "Uploads/s.php"); ok != platformCaseInsensitive {
		t.Errorf("default root: zone %q matched=%v, want %v on this platform", g, ok, platformCaseInsensitive)
	}
	off := false
	p.Roots = append(p.Roots, Root{Path: "/srv/x", CaseInsensitive: &off})
	if _, ok := p.NoScriptZone("/srv/x", "Uploads/s.php"); ok {
		t.Errorf("case_insensitive: false is not honoured")
	}
}

func TestNeedsReview(t *testing.T) {
	p := mustParse(t, "")
	for _, tt := range []struct {
		name string
		v    Verdict
		min  Severity
		want bool
	}{
		{"zone shell in a window", p.EvaluateFile(fileChange(baseline.Added, "uploads/s.php"), Context{Window: deploy}), High, true},
		{"script deployed in a window", p.EvaluateFile(fileChange(baseline.Added, "s.php"), Context{Window: deploy}), High, false},
		{"script outside a window", p.EvaluateFile(fileChange(baseline.Added, "s.php"), Context{}), High, true},
		{"script outside a window, min critical", p.EvaluateFile(fileChange(baseline.Added, "s.php"), Context{}), Critical, false},
		{"low file", p.EvaluateFile(fileChange(baseline.Added, "a.txt"), Context{}), High, false},
		{"low file, min low", p.EvaluateFile(fileChange(baseline.Added, "a.txt"), Context{}), Low, true},
		{"module lowered by a window", p.decide(RuleServerModule, "module", Context{Window: deploy}), Critical, true},
		{"dropped", Verdict{Drop: true, RuleID: RuleScriptInNoScriptZone}, Low, false},
	} {
		if got := tt.v.NeedsReview(tt.min); got != tt.want {
			t.Errorf("%s: NeedsReview(%s) = %v, want %v (%+v)", tt.name, tt.min, got, tt.want, tt.v)
		}
	}
}
