package config

import (
	"slices"
	"testing"

	"webfim/lineage"
	"webfim/proc"
)

func TestAttributionDefaults(t *testing.T) {
	c := Default()
	a := c.Attribution
	if !a.Enabled || !slices.Equal(a.Sources(), proc.DefaultSources) || a.KernelBTF != "" ||
		a.Lineage.MaxDepth != lineage.DefaultMaxDepth || !a.Lineage.BuiltinAllow || len(a.Lineage.Allow) != 0 {
		t.Errorf("defaults: %+v", a)
	}
	if !c.TrustUnknownWriters {
		t.Error("trust_unknown_writers is off by default")
	}
}

// The allowlist of the file is what the rules use, with the built-in
// entries unless builtin_allow is off.
func TestAttributionRules(t *testing.T) {
	apache := &proc.Process{PID: 10, Start: 10, Executable: "/usr/sbin/apache2", Comm: "apache2", Args: []string{"/usr/sbin/apache2", "-k", "start"}}
	spawn := func(cmdline ...string) *proc.Process {
		return &proc.Process{PID: 11, Start: 11, Executable: "/usr/bin/dash", Comm: "sh", Args: cmdline}
	}
	thumbs := spawn("sh", "-c", "convert /var/www/up/a.png /var/www/up/a.jpg")
	logs := spawn("sh", "-c", "/usr/bin/rotatelogs /var/log/apache2/access.%Y 86400")
	for _, tt := range []struct {
		yml                string
		thumbsOK, rotateOK bool
		sources            []proc.Source
	}{
		{"", false, true, proc.DefaultSources},
		{`
attribution:
  process_sources: [connector]
  lineage:
    allow:
      - server: apache2
        executable: sh
        command_line: '^sh -c convert [a-z0-9/._-]+ [a-z0-9/._-]+$'
        reason: thumbnails
`, true, true, []proc.Source{proc.SourceConnector}},
		{"attribution:\n  lineage:\n    builtin_allow: false\n    allow: [{executable: convert}]\n", false, false, proc.DefaultSources},
	} {
		c := mustParse(t, tt.yml)
		r, err := c.Attribution.Rules()
		if err != nil {
			t.Fatal(err)
		}
		if _, alerted := r.Check(thumbs, []*proc.Process{apache}); alerted == tt.thumbsOK {
			t.Errorf("%s: thumbnails alerted=%v", tt.yml, alerted)
		}
		if _, alerted := r.Check(logs, []*proc.Process{apache}); alerted == tt.rotateOK {
			t.Errorf("%s: piped logs alerted=%v", tt.yml, alerted)
		}
		// An appended command is not allowed.
		if _, alerted := r.Check(spawn("sh", "-c", "convert /var/www/up/a.png /var/www/up/a.jpg; id"), []*proc.Process{apache}); !alerted {
			t.Errorf("%s: an appended command was allowed", tt.yml)
		}
		if got := c.Attribution.Sources(); !slices.Equal(got, tt.sources) {
			t.Errorf("sources %v, want %v", got, tt.sources)
		}
	}
}
