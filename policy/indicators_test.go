package policy

import (
	"strings"
	"testing"

	"webfim/baseline"
	"webfim/indicators"
)

// withContent gives the new record of c the indicators of a score at a
// level (the matches say what was found).
func withContent(c baseline.Change, level indicators.Level, ids ...string) baseline.Change {
	scores := map[indicators.Level]int{indicators.LevelLow: 15, indicators.LevelMedium: 45, indicators.LevelHigh: 100}
	res := &indicators.Result{Family: indicators.FamilyPHP, Score: scores[level], Level: level}
	for i, id := range ids {
		res.Matches = append(res.Matches, indicators.Match{ID: id, Weight: 10, Line: i + 2, Count: 1})
	}
	n := *c.New
	n.Indicators = res
	c.New = &n
	return c
}

func TestEvaluateFileIndicators(t *testing.T) {
	p := mustParse(t, `
ignore: ['cache/**']
rules:
  webfim-013:
    enabled: false
`)
	strict := mustParse(t, "rules:\n  webfim-025:\n    severity: critical\n")
	off := mustParse(t, "rules:\n  webfim-025:\n    enabled: false\n")
	added := fileChange(baseline.Added, "wp-includes/cache.php")
	high := func(c baseline.Change) baseline.Change {
		return withContent(c, indicators.LevelHigh, "php.request-exec", "php.exec", "php.cmd-param", "any.long-line")
	}
	tests := []struct {
		name     string
		p        *Policy
		change   baseline.Change
		window   *Window
		rule     string
		severity Severity
		alert    bool
		reason   string
	}{
		{"strong hit in a window is high", p, high(added), deploy, RuleWebShellIndicators, High, true,
			"script-type file added; expected: inside deploy window 'v2.3.1' opened by jenkins; but its content shows web-shell indicators: score 100, high: php.request-exec (line 2), php.exec (line 3), php.cmd-param (line 4) and 1 more"},
		{"medium hit in a window is medium", p, withContent(added, indicators.LevelMedium, "php.eval-dynamic"), deploy, RuleWebShellIndicators, Medium, true,
			"but its content shows web-shell indicators: score 45, medium: php.eval-dynamic (line 2)"},
		{"weak hit in a window stays expected", p, withContent(added, indicators.LevelLow, "php.exec"), deploy, RuleScriptAdded, Info, false,
			"expected: inside deploy window 'v2.3.1' opened by jenkins; its content shows web-shell indicators: score 15, low: php.exec (line 2)"},
		{"strong hit outside a window keeps its rule", p, high(added), nil, RuleScriptAdded, High, true,
			"outside any deploy window; its content shows web-shell indicators: score 100, high"},
		{"strong hit in a no-script zone stays critical", p, high(fileChange(baseline.Added, "uploads/x.php")), deploy, RuleScriptInNoScriptZone, Critical, true,
			"in no-script zone \"**/uploads/**\"; inside deploy window 'v2.3.1' opened by jenkins, which does not apply to this rule; its content shows"},
		{"injected into a page in a window", p, high(fileChange(baseline.ContentChanged, "index.php")), deploy, RuleWebShellIndicators, High, true, "script-type file modified; expected"},
		{"moved in, in a window", p, high(fileChange(baseline.Moved, "x.php")), deploy, RuleWebShellIndicators, High, true, "moved from tmp/x.php"},
		{"a script by content under an image's name (sniffed, issue 10)", p, high(fileChange(baseline.Added, "logo.gif")), nil, RuleWebShellIndicators, High, true,
			"file added; rule webfim-013 is disabled in the policy; but its content shows"},
		{"allowed writer does not lower it", p, high(added), nil, RuleScriptAdded, High, true, ""},
		{"ignored path stays ignored", p, high(fileChange(baseline.Added, "cache/x.php")), nil, "", Info, false, "ignore glob"},
		{"score 0 changes nothing", p, withContent(added, indicators.LevelNone), deploy, RuleScriptAdded, Info, false, "expected: inside deploy window 'v2.3.1' opened by jenkins"},
		{"rule severity override applies to strong hits", strict, high(added), nil, RuleWebShellIndicators, Critical, true, ""},
		{"and caps medium hits at medium", strict, withContent(added, indicators.LevelMedium, "php.eval-dynamic"), deploy, RuleWebShellIndicators, Medium, true, ""},
		{"rule disabled: the path's rule decides", off, high(added), deploy, RuleScriptAdded, Info, false, "its content shows web-shell indicators"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.p.EvaluateFile(tt.change, Context{Now: utc("2026-11-26T10:30:00Z"), Window: tt.window})
			if v.RuleID != tt.rule || v.Severity != tt.severity || v.Alert != tt.alert {
				t.Errorf("verdict = %s %v alert=%v drop=%v, want %s %v alert=%v (%s)", v.RuleID, v.Severity, v.Alert, v.Drop, tt.rule, tt.severity, tt.alert, v.Reason)
			}
			if !strings.Contains(v.Reason, tt.reason) {
				t.Errorf("reason %q does not contain %q", v.Reason, tt.reason)
			}
			if v.RiskScore != v.Severity.RiskScore() {
				t.Errorf("risk score %v for %v", v.RiskScore, v.Severity)
			}
		})
	}

	// A removal has no new content; a metadata change none that is new.
	for _, kind := range []baseline.ChangeKind{baseline.Removed, baseline.MetadataChanged} {
		rec := &baseline.Record{Type: baseline.TypeFile, Indicators: &indicators.Result{Score: 100, Level: indicators.LevelHigh}}
		c := baseline.Change{Kind: kind, Root: root, Path: "x.php", Old: rec, New: rec, Fields: []string{"mode"}}
		if v := p.EvaluateFile(c, Context{Window: deploy}); v.RuleID == RuleWebShellIndicators {
			t.Errorf("%s raised by indicators", kind)
		}
	}
}

// policy explain of a file: the verdict takes its indicators into account.
func TestExplainContent(t *testing.T) {
	p := Default()
	res := &indicators.Result{Score: 100, Level: indicators.LevelHigh, Matches: []indicators.Match{{ID: "php.request-exec", Line: 2}}}
	v, err := p.ExplainContent("/srv/www", "a.php", ActionAdded, res, Context{Window: deploy})
	if err != nil || v.RuleID != RuleWebShellIndicators || v.Severity != High {
		t.Errorf("ExplainContent: %+v, %v", v, err)
	}
	v, err = p.Explain("/srv/www", "a.php", ActionAdded, Context{Window: deploy})
	if err != nil || v.Alert {
		t.Errorf("Explain without content: %+v, %v", v, err)
	}
}
