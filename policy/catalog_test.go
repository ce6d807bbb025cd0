package policy

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite generated files (docs/rules.md)")

// docs/rules.md is generated from the catalog so that docs cannot drift.
func TestRulesDoc(t *testing.T) {
	path := filepath.Join("..", "docs", "rules.md")
	want := CatalogMarkdown()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("docs/rules.md is out of date; run go test ./policy -run TestRulesDoc -update\n%s", cmp.Diff(want, string(got)))
	}
}

func TestCatalog(t *testing.T) {
	// Ids are stable and increasing; ranges are reserved per line of
	// work, so they need not be dense.
	idForm := regexp.MustCompile(`^webfim-[0-9]{3}$`)
	prev := ""
	for i, r := range Rules() {
		if !idForm.MatchString(r.ID) {
			t.Errorf("rule %d has id %q, want webfim-NNN", i, r.ID)
		}
		if r.ID <= prev {
			t.Errorf("rule %d has id %s after %s (ids are unique, in increasing order)", i, r.ID, prev)
		}
		prev = r.ID
		if r.Name == "" || r.Description == "" || r.Triggers == "" || r.Tuning == "" || len(r.References) == 0 || r.Version < 1 {
			t.Errorf("rule %s is missing documentation: %+v", r.ID, r)
		}
		// Changes of the server are persistence (T1505); a rule of
		// another tactic says so.
		if (r.Tactic == nil && r.Technique.ID != "T1505") || r.Severity < Low {
			t.Errorf("rule %s: tactic %s technique %s severity %v", r.ID, r.TacticOf().ID, r.Technique.ID, r.Severity)
		}
		if s := r.Subtechnique; s != nil && !strings.HasPrefix(s.ID, r.Technique.ID+".") {
			t.Errorf("rule %s: sub-technique %s of %s", r.ID, s.ID, r.Technique.ID)
		}
	}
}
