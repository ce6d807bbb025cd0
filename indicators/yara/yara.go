// Package yara runs YARA rules on files with the yara command-line tool
// (Debian's yara package): rules are compiled once with yarac, and each
// batch of files is scanned by one yara process with a timeout.
//
// Why a separate process rather than a library: no maintained pure-Go
// YARA engine is available from the Go module proxy, and the Go bindings
// of libyara need cgo, which the default and Windows builds of webfim do
// not use. The yara tool is the reference implementation, so rule sets
// written for it (signature-base, the YARA-Rules project, vendors' feeds)
// behave exactly as their authors tested them; a crash or a runaway rule
// costs a child process, not the daemon. See docs/indicators.md.
package yara

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Settings name the rule files and bound the scans. They are meant to be
// embedded in webfim.yml (indicators.yara).
type Settings struct {
	// Rules are YARA rule source files. A "NAMESPACE:" prefix is not
	// supported: each file is its own namespace, named after the file.
	Rules []string `yaml:"rules" json:"rules,omitempty"`
	// Timeout bounds one batch scan (0: DefaultTimeout); yara is also
	// told to give up on any single file after this long.
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Weight is the score a matching rule adds (0: DefaultWeight).
	Weight int `yaml:"weight" json:"weight,omitempty"`
}

// Defaults.
const (
	DefaultTimeout = 60 * time.Second
	// DefaultWeight makes a rule match "high" by itself: rule sets are
	// written to name a known threat.
	DefaultWeight = 70
)

// Externals are the external variables common web-shell rule sets use
// (signature-base and the tools built on it: LOKI, THOR). They are
// defined as empty strings so that such rules compile; a batch scan
// cannot give them per-file values.
var Externals = []string{"filename", "filepath", "extension", "filetype", "owner"}

// ErrNoYARA is returned when the yara tools are not installed.
var ErrNoYARA = errors.New("the yara and yarac commands are not installed (Debian: apt-get install yara)")

// RuleError is an error or warning in a rule file, where yarac put it.
type RuleError struct {
	File    string
	Line    int
	Rule    string // the rule holding the line ("" outside any rule)
	Message string
	Warning bool
}

func (e *RuleError) Error() string {
	where := fmt.Sprintf("%s:%d", e.File, e.Line)
	if e.Rule != "" {
		where += fmt.Sprintf(" (rule %s)", e.Rule)
	}
	return where + ": " + e.Message
}

// Rules are compiled rule files, ready to scan with.
type Rules struct {
	compiled string // the yarac output, in a private temporary directory
	dir      string
	timeout  time.Duration
	weight   int
}

// Compile checks and compiles the rule files of s. A rule error is
// returned as a *RuleError (joined when there are several: see
// errors.As), naming the file, the line and the rule.
func Compile(ctx context.Context, s Settings) (*Rules, error) {
	if len(s.Rules) == 0 {
		return nil, errors.New("yara: no rule files given")
	}
	yarac, err := exec.LookPath("yarac")
	if err != nil {
		return nil, ErrNoYARA
	}
	if _, err := exec.LookPath("yara"); err != nil {
		return nil, ErrNoYARA
	}
	for _, f := range s.Rules {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("yara: rule file: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "webfim-yara-")
	if err != nil {
		return nil, fmt.Errorf("yara: %w", err)
	}
	r := &Rules{compiled: filepath.Join(dir, "rules.yarc"), dir: dir, timeout: s.Timeout, weight: s.Weight}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	if r.weight <= 0 {
		r.weight = DefaultWeight
	}
	args := defineArgs()
	for _, f := range s.Rules {
		// Namespaces keep equal rule names of different files apart.
		ns := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		args = append(args, namespace(ns)+":"+f)
	}
	args = append(args, r.compiled)
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(cctx, yarac, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		r.Close()
		if errs := parseRuleErrors(stderr.Bytes(), false); errs != nil {
			return nil, errs
		}
		if cctx.Err() != nil {
			return nil, fmt.Errorf("yara: compiling the rules took longer than %s", r.timeout)
		}
		return nil, fmt.Errorf("yara: yarac: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return r, nil
}

// Weight is the score a rule match adds.
func (r *Rules) Weight() int { return r.weight }

// Close removes the compiled rules.
func (r *Rules) Close() error { return os.RemoveAll(r.dir) }

func defineArgs() []string {
	var args []string
	for _, v := range Externals {
		args = append(args, "-d", v+"=")
	}
	return args
}

// namespace makes a YARA identifier of a file name.
func namespace(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) == 0 || b[0] >= '0' && b[0] <= '9' {
		b = append([]byte("r_"), b...)
	}
	return string(b)
}

// yarac and yara report problems as
//
//	error: rule "NAME" in FILE(LINE): MESSAGE
//	warning: rule "NAME" in FILE(LINE): MESSAGE
//	FILE(LINE): error: MESSAGE
var (
	ruleErrorRe  = regexp.MustCompile(`^(error|warning): (?:rule "([^"]*)" in )?(.*)\((\d+)\): (.*)$`)
	ruleErrorRe2 = regexp.MustCompile(`^(.*)\((\d+)\): (error|warning): (.*)$`)
)

// parseRuleErrors returns the errors (and, if warnings, the warnings) of
// a yarac run, joined; nil if it printed none.
func parseRuleErrors(out []byte, warnings bool) error {
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		var e RuleError
		if m := ruleErrorRe.FindStringSubmatch(line); m != nil {
			e = RuleError{Warning: m[1] == "warning", Rule: m[2], File: m[3], Message: m[5]}
			e.Line, _ = strconv.Atoi(m[4])
		} else if m := ruleErrorRe2.FindStringSubmatch(line); m != nil {
			e = RuleError{File: m[1], Warning: m[3] == "warning", Message: m[4]}
			e.Line, _ = strconv.Atoi(m[2])
		} else {
			continue
		}
		if e.Warning && !warnings {
			continue
		}
		if e.Rule == "" {
			e.Rule = enclosingRule(e.File, e.Line)
		}
		errs = append(errs, &e)
	}
	return errors.Join(errs...)
}

var ruleDeclRe = regexp.MustCompile(`^\s*(?:(?:private|global)\s+)*rule\s+([A-Za-z_][A-Za-z0-9_]*)`)

// enclosingRule returns the name of the last rule declared at or before
// line of file ("" if none, or the file cannot be read).
func enclosingRule(file string, line int) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	name := ""
	for n := 1; sc.Scan() && n <= line; n++ {
		if m := ruleDeclRe.FindStringSubmatch(sc.Text()); m != nil {
			name = m[1]
		}
	}
	return name
}

// Match is a rule that matched a file.
type Match struct {
	Rule      string   `json:"rule"`
	Namespace string   `json:"namespace"`
	Tags      []string `json:"tags,omitempty"`
}

// ScanError is a file yara could not scan.
type ScanError struct {
	Path    string
	Message string
}

func (e *ScanError) Error() string { return "yara: " + e.Path + ": " + e.Message }

// ScanFiles scans the files at paths (made absolute) with one yara
// process and returns the matches by path. It is safe for concurrent use. Files yara could not read are
// reported as *ScanError values in the joined error, next to the matches
// of the others. The whole batch is bounded by the timeout.
func (r *Rules) ScanFiles(ctx context.Context, paths []string) (map[string][]Match, error) {
	out := map[string][]Match{}
	if len(paths) == 0 {
		return out, nil
	}
	var list strings.Builder
	var errs []error
	abs := map[string]string{} // absolute path -> as given
	for _, p := range paths {
		a, err := filepath.Abs(p)
		if err != nil {
			errs = append(errs, &ScanError{p, err.Error()})
			continue
		}
		if strings.ContainsAny(a, "\n\r") {
			errs = append(errs, &ScanError{p, "a path with a line break cannot be passed to yara"})
			continue
		}
		abs[a] = p
		list.WriteString(a)
		list.WriteByte('\n')
	}
	// A list file of its own: scans may run concurrently (the watch
	// daemon's checks and rescans).
	lf, err := os.CreateTemp(r.dir, "scan-list-")
	if err != nil {
		return nil, fmt.Errorf("yara: %w", err)
	}
	listFile := lf.Name()
	defer os.Remove(listFile)
	_, err = lf.WriteString(list.String())
	if cerr := lf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("yara: %w", err)
	}
	secs := max(1, int(r.timeout/time.Second))
	args := append([]string{"-C", "-e", "-g", "-w", "-N", "-a", strconv.Itoa(secs)}, defineArgs()...)
	args = append(args, "--scan-list", r.compiled, listFile)
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(cctx, "yara", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	for _, line := range strings.Split(stdout.String(), "\n") {
		m, path, ok := parseMatch(line)
		if !ok {
			continue
		}
		if orig, ok := abs[path]; ok {
			path = orig
		}
		out[path] = append(out[path], m)
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "error scanning "); ok {
			p, msg, _ := strings.Cut(rest, ": ")
			if orig, ok := abs[p]; ok {
				p = orig
			}
			errs = append(errs, &ScanError{p, msg})
		}
	}
	switch {
	case cctx.Err() != nil && ctx.Err() == nil:
		errs = append(errs, fmt.Errorf("yara: the scan of %d files took longer than %s and was stopped", len(paths), r.timeout))
	case ctx.Err() != nil:
		errs = append(errs, ctx.Err())
	case runErr != nil:
		errs = append(errs, fmt.Errorf("yara: %w: %s", runErr, strings.TrimSpace(stderr.String())))
	}
	return out, errors.Join(errs...)
}

// parseMatch parses "NAMESPACE:RULE [TAG,...] PATH".
func parseMatch(line string) (Match, string, bool) {
	id, rest, ok := strings.Cut(line, " ")
	if !ok {
		return Match{}, "", false
	}
	ns, rule, ok := strings.Cut(id, ":")
	if !ok {
		return Match{}, "", false
	}
	m := Match{Rule: rule, Namespace: ns}
	if strings.HasPrefix(rest, "[") {
		tags, path, ok := strings.Cut(rest[1:], "] ")
		if !ok {
			return Match{}, "", false
		}
		if tags != "" {
			m.Tags = strings.Split(tags, ",")
		}
		rest = path
	}
	return m, rest, rest != ""
}
