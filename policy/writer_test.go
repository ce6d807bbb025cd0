package policy

import (
	"errors"
	"strings"
	"testing"

	"webfim/baseline"
)

var (
	rsync   = &Writer{Name: "rsync", Names: []string{"rsync"}, Executable: "/usr/bin/rsync", PID: 4100, User: "deploy"}
	apache  = &Writer{Name: "apache2", Names: []string{"apache2"}, Executable: "/usr/sbin/apache2", PID: 812, User: "www-data", Server: "apache2"}
	shell   = &Writer{Name: "dash", Names: []string{"dash", "sh"}, Executable: "/usr/bin/dash", PID: 9001, User: "www-data", Server: "apache2"}
	mysqld  = &Writer{Name: "mysqld", Executable: "/usr/sbin/mysqld", PID: 700, User: "mysql", Server: "mysqld"}
	copying = &Writer{Name: "cp", Names: []string{"cp"}, Executable: "/usr/bin/cp", PID: 5000, User: "root"}
)

// With allowed_writers set, a deploy window covers only their changes
// (and, by default, those of an unknown writer); a script written by a
// server process is at least high whatever the window or the list says.
func TestWriterAndWindows(t *testing.T) {
	strict := mustParse(t, "allowed_writers: [rsync, '/opt/deploy/bin/*']\n")
	distrust := mustParse(t, "allowed_writers: [rsync]\ntrust_unknown_writers: false\n")
	open := Default() // no allowed_writers: windows cover every writer
	lowScripts := mustParse(t, "rules:\n  webfim-002: {severity: low}\n")
	script := fileChange(baseline.Added, "up/shell.php")
	page := fileChange(baseline.Added, "up/photo.jpg")
	zone := fileChange(baseline.Added, "uploads/x.php")
	tests := []struct {
		name     string
		p        *Policy
		change   baseline.Change
		window   *Window
		writer   *Writer
		rule     string
		severity Severity
		alert    bool
		reason   string
	}{
		{"allowed writer in window", strict, page, deploy, rsync, RuleFileChanged, Info, false,
			"expected: inside deploy window 'v2.3.1' opened by jenkins"},
		{"allowed writer by executable glob", strict, script, deploy, &Writer{Name: "deployer", Executable: "/opt/deploy/bin/deployer"}, RuleScriptAdded, Info, false, "expected"},
		{"other writer in window", strict, page, deploy, copying, RuleFileChanged, Low, true,
			`file added; inside deploy window 'v2.3.1' opened by jenkins, but written by "cp" (pid 5000, root), which is not in allowed_writers`},
		{"web server in window, not a script", strict, page, deploy, apache, RuleFileChanged, Low, true, `written by "apache2" (pid 812, www-data), which is not in allowed_writers`},
		{"web server in window, a script", strict, script, deploy, apache, RuleScriptAdded, High, true,
			`script-type file added; inside deploy window 'v2.3.1' opened by jenkins, but written by "apache2" (pid 812, www-data), which is not in allowed_writers, a process of server "apache2"`},
		{"unknown writer in window, trusted", strict, script, deploy, nil, RuleScriptAdded, Info, false, "expected: inside deploy window"},
		{"unknown writer in window, not trusted", distrust, script, deploy, nil, RuleScriptAdded, High, true,
			"but the writer is unknown and trust_unknown_writers is off"},
		{"no allowed_writers: the window covers any writer", open, page, deploy, copying, RuleFileChanged, Info, false, "expected"},
		{"no allowed_writers: a server's script still alerts", open, script, deploy, apache, RuleScriptAdded, High, true,
			`written by "apache2" (pid 812, www-data), a process of server "apache2": at least high, even inside deploy window 'v2.3.1' opened by jenkins`},
		{"a shell below the web server counts as the server", open, script, deploy, shell, RuleScriptAdded, High, true, `a process of server "apache2"`},
		{"a database writing a script (INTO OUTFILE)", open, script, nil, mysqld, RuleScriptAdded, High, true, `a process of server "mysqld"`},
		{"allowed writer outside a window", strict, script, nil, rsync, RuleScriptAdded, Info, false, `expected: written by allowed writer "rsync" (pid 4100, deploy)`},
		{"server listed as allowed writer: a script is still high", mustParse(t, "allowed_writers: [apache2]\n"), script, nil, apache, RuleScriptAdded, High, true,
			"at least high, even from an allowed writer"},
		{"severity override raised to high", lowScripts, script, nil, apache, RuleScriptAdded, High, true, "at least high"},
		{"no-script zone stays critical", strict, zone, deploy, apache, RuleScriptInNoScriptZone, Critical, true, `a process of server "apache2"`},
		{"a removed script is not raised", open, fileChange(baseline.Removed, "shell.php"), nil, apache, RuleFileRemoved, Low, true, "removed outside any deploy window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.p.EvaluateFile(tt.change, Context{Now: utc("2026-11-26T10:30:00Z"), Window: tt.window, Writer: tt.writer})
			if v.RuleID != tt.rule || v.Severity != tt.severity || v.Alert != tt.alert || v.Drop {
				t.Errorf("verdict = %s %v alert=%v drop=%v, want %s %v alert=%v (%s)", v.RuleID, v.Severity, v.Alert, v.Drop, tt.rule, tt.severity, tt.alert, v.Reason)
			}
			if !strings.Contains(v.Reason, tt.reason) {
				t.Errorf("reason %q does not contain %q", v.Reason, tt.reason)
			}
			if v.RiskScore != v.Severity.RiskScore() {
				t.Errorf("risk score %v for %v", v.RiskScore, v.Severity)
			}
			if v.Alert && v.Window != nil && v.Severity != Medium {
				t.Errorf("an alert at %v carries window %v", v.Severity, v.Window)
			}
		})
	}
}

func TestAllowedWritersValidation(t *testing.T) {
	for _, bad := range [][]string{{""}, {"  "}, {"rsync", "[x"}} {
		p := Default()
		p.AllowedWriters = bad
		err := p.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || !strings.HasPrefix(fe.Key, "allowed_writers[") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if !Default().TrustUnknownWriters {
		t.Error("trust_unknown_writers is off by default")
	}
}

// A server spawning a tool always alerts: windows do not apply, the
// rule's settings do.
func TestEvaluateSpawn(t *testing.T) {
	const what = `"apache2" (web server) spawned "whoami" (reconnaissance): apache2(812) -> dash(9001) -> whoami(9002)`
	v := Default().EvaluateSpawn(what, Context{Window: deploy, Writer: rsync})
	if !v.Alert || v.RuleID != RuleServerSpawn || v.Severity != High || v.Window != nil || !strings.HasPrefix(v.Reason, what) ||
		!strings.Contains(v.Reason, "which does not apply to this rule") {
		t.Errorf("spawn in a window: %+v", v)
	}
	if v := mustParse(t, "rules:\n  webfim-022: {enabled: false}\n").EvaluateSpawn(what, Context{}); !v.Drop {
		t.Errorf("disabled rule: %+v", v)
	}
	if v := mustParse(t, "rules:\n  webfim-022: {severity: critical}\n").EvaluateSpawn(what, Context{}); v.Severity != Critical || v.RiskScore != 99 {
		t.Errorf("severity override: %+v", v)
	}
}
