package yara

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// needYARA skips without the yara tools, unless the CI asks for every
// integration test.
func needYARA(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("yara"); err != nil {
		if os.Getenv("WEBFIM_REQUIRE_INTEGRATION") != "" {
			t.Fatal("yara not installed, and WEBFIM_REQUIRE_INTEGRATION is set (.ci/run installs it: apt-get install -y yara)")
		}
		t.Skip("yara not installed (apt-get install -y yara)")
	}
}

func TestScanFiles(t *testing.T) {
	needYARA(t)
	ctx := context.Background()
	r, err := Compile(ctx, Settings{Rules: []string{"testdata/webshells.yar"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	php := write("a shell.php", "<?php @eval($_POST['x']); ?>")
	jsp := write("c.jsp", `<% Runtime.getRuntime().exec(request.getParameter("c")); %>`)
	clean := write("index.php", "<?php echo 'hello';")
	missing := filepath.Join(dir, "missing.php")
	got, err := r.ScanFiles(ctx, []string{php, jsp, clean, missing})
	var se *ScanError
	if !errors.As(err, &se) || se.Path != missing {
		t.Errorf("error %v, want a ScanError for %s", err, missing)
	}
	if len(got[php]) != 1 || got[php][0].Rule != "php_eval_request" || got[php][0].Namespace != "webshells" ||
		!slices.Equal(got[php][0].Tags, []string{"webshell", "php"}) {
		t.Errorf("%s: matches %+v, want php_eval_request in namespace webshells, tags webshell,php", php, got[php])
	}
	if len(got[jsp]) != 1 || got[jsp][0].Rule != "jsp_runtime_exec" {
		t.Errorf("%s: matches %+v, want jsp_runtime_exec", jsp, got[jsp])
	}
	if len(got[clean]) != 0 {
		t.Errorf("%s: matches %+v, want none", clean, got[clean])
	}
	if r.Weight() != DefaultWeight {
		t.Errorf("weight %d, want %d", r.Weight(), DefaultWeight)
	}
}

func TestRuleErrorsNameRuleAndLine(t *testing.T) {
	needYARA(t)
	for _, tc := range []struct {
		file, rule string
		line       int
		msg        string
	}{
		{"testdata/broken.yar", "uses_undefined_string", 9, "undefined string"},
		// yara reports an unterminated string on the line after it.
		{"testdata/syntax.yar", "bad_syntax", 6, "unterminated string"},
	} {
		_, err := Compile(context.Background(), Settings{Rules: []string{"testdata/webshells.yar", tc.file}})
		var re *RuleError
		if !errors.As(err, &re) {
			t.Fatalf("%s: error %v, want a RuleError", tc.file, err)
		}
		if re.File != tc.file || re.Rule != tc.rule || re.Line != tc.line || !strings.Contains(re.Message, tc.msg) {
			t.Errorf("%s: got %+v, want rule %s at line %d: %s", tc.file, *re, tc.rule, tc.line, tc.msg)
		}
		if s := err.Error(); !strings.Contains(s, tc.file+":"+strconv.Itoa(tc.line)) || !strings.Contains(s, "rule "+tc.rule) {
			t.Errorf("%s: message %q does not name file, line and rule", tc.file, s)
		}
	}
}

func TestMissingRuleFile(t *testing.T) {
	needYARA(t)
	_, err := Compile(context.Background(), Settings{Rules: []string{"testdata/nope.yar"}})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v, want not exist", err)
	}
}

func TestNoYARA(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Compile(context.Background(), Settings{Rules: []string{"testdata/webshells.yar"}})
	if !errors.Is(err, ErrNoYARA) {
		t.Errorf("error %v, want ErrNoYARA", err)
	}
}

func TestParseMatch(t *testing.T) {
	for _, tc := range []struct {
		line, rule, ns, path string
		tags                 []string
		ok                   bool
	}{
		{"default:r /a/b c.php", "r", "default", "/a/b c.php", nil, true},
		{"ns:r [t1,t2] /x", "r", "ns", "/x", []string{"t1", "t2"}, true},
		{"ns:r [] /x", "r", "ns", "/x", nil, true},
		{"garbage", "", "", "", nil, false},
		{"norule /x", "", "", "", nil, false},
	} {
		m, p, ok := parseMatch(tc.line)
		if ok != tc.ok || ok && (m.Rule != tc.rule || m.Namespace != tc.ns || p != tc.path || !slices.Equal(m.Tags, tc.tags)) {
			t.Errorf("parseMatch(%q) = %+v %q %v", tc.line, m, p, ok)
		}
	}
}

func TestNamespace(t *testing.T) {
	for in, want := range map[string]string{"web-shells": "web_shells", "9x": "r_9x", "": "r_", "ok_1": "ok_1"} {
		if got := namespace(in); got != want {
			t.Errorf("namespace(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRuleErrorsFindsEnclosingRule(t *testing.T) {
	out := []byte("testdata/broken.yar(9): error: undefined string \"$missing\"\nwarning: rule \"fine\" in testdata/broken.yar(1): slow\n")
	err := parseRuleErrors(out, false)
	var re *RuleError
	if !errors.As(err, &re) || re.Rule != "uses_undefined_string" || re.Line != 9 || re.Warning {
		t.Fatalf("got %v, want the error of rule uses_undefined_string at line 9 (warnings left out)", err)
	}
	if err := parseRuleErrors(out, true); len(err.(interface{ Unwrap() []error }).Unwrap()) != 2 {
		t.Errorf("with warnings: %v, want two", err)
	}
}
