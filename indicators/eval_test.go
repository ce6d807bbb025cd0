package indicators

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// The evaluation: the hand-written samples of testdata/samples (web-shell
// patterns, per family) must be flagged, and the PHP files of Debian's
// wordpress and mediawiki packages (legitimate code) must not be. The
// table is printed with -v; CI prints it (.ci/run).

// Targets for the legitimate WordPress + MediaWiki PHP files (issue 11).
const (
	legitMediumMax = 0.005 // flagged at medium or above
	legitHighMax   = 0.001 // flagged at high
)

// sampleFile is one file of a txtar archive.
type sampleFile struct {
	name string
	data []byte
}

func loadArchive(t testing.TB, path string) []sampleFile {
	t.Helper()
	ar, err := txtar.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []sampleFile
	for _, f := range ar.Files {
		out = append(out, sampleFile{f.Name, f.Data})
	}
	return out
}

// legitDirs are the legitimate code trees: $WEBFIM_LEGIT_DIRS (a list
// separated like PATH), or the Debian wordpress and mediawiki packages.
func legitDirs(t testing.TB) []string {
	if v := os.Getenv("WEBFIM_LEGIT_DIRS"); v != "" {
		return filepath.SplitList(v)
	}
	dirs := []string{"/usr/share/wordpress", "/usr/share/mediawiki"}
	for _, d := range dirs {
		if _, err := os.Stat(d); err != nil {
			if os.Getenv("WEBFIM_REQUIRE_INTEGRATION") != "" {
				t.Fatalf("%s missing, and WEBFIM_REQUIRE_INTEGRATION is set (.ci/run installs it: apt-get install -y wordpress mediawiki)", d)
			}
			t.Skipf("%s missing (apt-get install -y wordpress mediawiki): the legitimate corpus is not available", d)
		}
	}
	return dirs
}

// walkFollow calls fn for every regular file under root, following
// symbolic links (the Debian packages link to shared libraries), each
// directory once.
func walkFollow(root string, fn func(path string) error) error {
	seen := map[string]bool{}
	var walk func(dir string) error
	walk = func(dir string) error {
		real, err := filepath.EvalSymlinks(dir)
		if err != nil || seen[real] {
			return nil
		}
		seen[real] = true
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, de := range ents {
			p := filepath.Join(dir, de.Name())
			fi, err := os.Stat(p)
			if err != nil {
				continue // a dangling link
			}
			if fi.IsDir() {
				if err := walk(p); err != nil {
					return err
				}
			} else if fi.Mode().IsRegular() {
				if err := fn(p); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(root)
}

// tally counts files by level.
type tally struct {
	n                 int
	low, medium, high int // at or above each level
	flagged           []string
}

func (c *tally) add(name string, r Result) {
	c.n++
	switch r.Level {
	case LevelHigh:
		c.high++
		fallthrough
	case LevelMedium:
		c.medium++
		fallthrough
	case LevelLow:
		c.low++
	}
	if r.Level >= LevelMedium {
		c.flagged = append(c.flagged, fmt.Sprintf("%s %d %s %s", r.Level, r.Score, name, matchIDs(r)))
	}
}

func matchIDs(r Result) string {
	var ids []string
	for _, m := range r.Matches {
		ids = append(ids, fmt.Sprintf("%s@%d", m.ID, m.Line))
	}
	return strings.Join(ids, ",")
}

func pct(k, n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(k)/float64(n))
}

func TestEvaluation(t *testing.T) {
	e, err := New(Settings{})
	if err != nil {
		t.Fatal(err)
	}
	samples := map[Family]*tally{}
	legit := map[Family]*tally{}
	for _, f := range Families {
		samples[f], legit[f] = &tally{}, &tally{}
	}
	for _, f := range Families {
		path := filepath.Join("testdata", "samples", f.String()+".txtar")
		for _, s := range loadArchive(t, path) {
			r := e.Scan(s.name, s.data)
			if r.Family != f {
				t.Errorf("%s: %s: family %s, want %s", path, s.name, r.Family, f)
			}
			samples[f].add(s.name, r)
			if r.Level < LevelMedium {
				t.Errorf("%s: %s: not flagged (score %d, level %s, indicators %s)", path, s.name, r.Score, r.Level, matchIDs(r))
			}
		}
	}
	for _, dir := range legitDirs(t) {
		err := walkFollow(dir, func(p string) error {
			fam := FamilyOf(p)
			if fam == FamilyNone {
				return nil
			}
			r, err := e.ScanFile(p)
			if err != nil {
				return err
			}
			legit[fam].add(p, r)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-6s | %7s %8s %8s %8s | %7s %8s %8s %8s\n", "family", "samples", ">=low", ">=medium", "high", "legit", ">=low", ">=medium", "high")
	for _, f := range Families {
		s, l := samples[f], legit[f]
		fmt.Fprintf(&sb, "%-6s | %7d %8s %8s %8s | %7d %8s %8s %8s\n", f, s.n, pct(s.low, s.n), pct(s.medium, s.n), pct(s.high, s.n),
			l.n, pct(l.low, l.n), pct(l.medium, l.n), pct(l.high, l.n))
	}
	t.Logf("indicator evaluation (samples: testdata/samples; legit: %s)\n%s", strings.Join(legitDirs(t), ", "), sb.String())
	php := legit[FamilyPHP]
	if php.n < 1000 {
		t.Fatalf("only %d legitimate PHP files found: the corpus is incomplete", php.n)
	}
	for _, f := range Families {
		if len(legit[f].flagged) > 0 {
			slices.Sort(legit[f].flagged)
			t.Logf("legitimate %s files flagged at medium or above:\n  %s", f, strings.Join(legit[f].flagged, "\n  "))
		}
	}
	if got := float64(php.medium) / float64(php.n); got > legitMediumMax {
		t.Errorf("legitimate PHP flagged at medium or above: %d of %d (%.3f%%), target <= %.1f%%", php.medium, php.n, 100*got, 100*legitMediumMax)
	}
	if got := float64(php.high) / float64(php.n); got > legitHighMax {
		t.Errorf("legitimate PHP flagged at high: %d of %d (%.3f%%), target <= %.1f%%", php.high, php.n, 100*got, 100*legitHighMax)
	}
}
