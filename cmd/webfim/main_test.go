package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"webfim/hive/hivetest"
	"webfim/store"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"webfim": func() { os.Exit(run(os.Args)) },
	})
}

// goldenDir holds the ECS documents the scripts compare with (ecsgolden).
var goldenDir, _ = filepath.Abs(filepath.Join("testdata", "golden"))

// TestScripts runs the CLI scenarios in testdata/script/*.txtar.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("WEBFIM_DB", e.WorkDir+"/webfim.db")
			e.Setenv("XDG_STATE_HOME", e.WorkDir+"/state")
			e.Setenv("NO_COLOR", "1")
			fixtures, err := filepath.Abs("../../serverconf/testdata")
			if err != nil {
				return err
			}
			e.Setenv("FIXTURES", fixtures)
			return nil
		},
		Condition: toolCondition,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"webfim-exit": webfimExit,
			"cptree":      cptree,
			"gentree":     gentree,
			"sleep":       sleep,
			"waitsize":    waitsize,
			"waitmatch":   waitmatch,
			"waitoutbox":  waitoutbox,
			"hup":         hup,
			"dbedit":      dbedit,
			"mkhive":      mkhive,
			"ecsgolden":   ecsgolden,
			"setenvq":     setenvq,
			"sameid":      sameid,
			"setenvmatch": setenvmatch,
			"ecscount":    ecscount,
		},
	})
}

// webfimExit runs "webfim ARGS..." and fails unless it exits with the
// given status: webfim-exit STATUS ARGS...
func webfimExit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: webfim-exit STATUS [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("webfim-exit: bad status %q", args[0])
	}
	got := 0
	if err := ts.Exec("webfim", args[1:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("webfim-exit: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("webfim %v: exit status %d, want %d", args[1:], got, want)
	}
}

// setenvq sets an environment variable to a Go string literal's value
// (without its quotes), repeated N times: setenvq NAME GOSTRING [N]. It
// makes labels with newlines, escape sequences, invalid UTF-8 or just
// many bytes, which a script line cannot spell.
func setenvq(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: setenvq NAME GOSTRING [N]")
	}
	s, err := strconv.Unquote(`"` + args[1] + `"`)
	ts.Check(err)
	n := 1
	if len(args) == 3 {
		n, err = strconv.Atoi(args[2])
		ts.Check(err)
	}
	ts.Setenv(args[0], strings.Repeat(s, n))
}

// setenvmatch sets an environment variable to the first submatch of
// REGEXP in FILE: setenvmatch NAME FILE REGEXP (cp stdout FILE first to
// capture a command's output), e.g. a finding id to pass back.
func setenvmatch(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: setenvmatch NAME FILE REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[2])
	ts.Check(err)
	m := re.FindSubmatch([]byte(ts.ReadFile(args[1])))
	if len(m) < 2 {
		ts.Fatalf("%s: no match for %s", args[1], args[2])
	}
	ts.Setenv(args[0], string(m[1]))
}

// ecscount counts the alerts of an NDJSON file of ECS documents at or
// above a severity (event.severity: 1 low .. 4 critical), logs them by
// rule and fails if there are more than MAX: ecscount FILE MINSEVERITY MAX.
func ecscount(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: ecscount FILE MINSEVERITY MAX")
	}
	min, err := strconv.Atoi(args[1])
	ts.Check(err)
	max, err := strconv.Atoi(args[2])
	ts.Check(err)
	type doc struct {
		Event struct {
			Kind     string `json:"kind"`
			Severity int    `json:"severity"`
		} `json:"event"`
		Rule struct {
			ID string `json:"id"`
		} `json:"rule"`
		File struct {
			Path string `json:"path"`
		} `json:"file"`
	}
	docs, alerts, byRule := 0, 0, map[string]int{}
	for _, line := range strings.Split(ts.ReadFile(args[0]), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var d doc
		ts.Check(json.Unmarshal([]byte(line), &d))
		docs++
		if d.Event.Kind == "alert" && d.Event.Severity >= min {
			alerts++
			byRule[d.Rule.ID]++
			if alerts <= 20 {
				ts.Logf("alert %s severity %d: %s", d.Rule.ID, d.Event.Severity, d.File.Path)
			}
		}
	}
	ts.Logf("%d documents, %d alerts at severity %d or above %v", docs, alerts, min, byRule)
	if alerts > max {
		ts.Fatalf("%d alerts at severity %d or above, want at most %d", alerts, min, max)
	}
}

// cptree copies a directory tree, symlinks as symlinks: cptree SRC DST.
func cptree(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: cptree SRC DST")
	}
	src, dst := ts.MkAbs(args[0]), ts.MkAbs(args[1])
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if old, err := os.Readlink(target); err == nil && old == link {
				return nil // copied over an earlier copy
			}
			return os.Symlink(link, target)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, 0o644)
		}
	})
	ts.Check(err)
}

// gentree writes N small files spread over directories of 100:
// gentree DIR N.
func gentree(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: gentree DIR N")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	dir := ts.MkAbs(args[0])
	for i := 0; i < n; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%04d", i/100))
		if i%100 == 0 {
			ts.Check(os.MkdirAll(sub, 0o755))
		}
		ts.Check(os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%06d.php", i)), []byte(fmt.Sprintf("<?php // %d\n", i)), 0o644))
	}
}

// sleep pauses the script: sleep DURATION.
func sleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

// waitsize waits until FILE is at least BYTES long, for at most 60 s:
// waitsize FILE BYTES. The crash test uses it to kill a baseline create
// once its first batch is in the database, not before and not after.
func waitsize(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitsize FILE BYTES")
	}
	want, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(ts.MkAbs(args[0])); err == nil && fi.Size() >= want {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	ts.Fatalf("%s did not reach %d bytes within 60s", args[0], want)
}

// waitmatch waits until FILE has a line matching REGEXP, for at most
// 30 s: waitmatch FILE REGEXP. With !, it checks that no line matches now.
// The watch scripts use it to read what a running daemon delivered.
func waitmatch(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: waitmatch FILE REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, _ := os.ReadFile(ts.MkAbs(args[0]))
		found := re.Match(data)
		if neg {
			if found {
				ts.Fatalf("%s has a line matching %q", args[0], args[1])
			}
			return
		}
		if found {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no line of %s matched %q within 30s; it holds:\n%s", args[0], args[1], data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sameid checks that the documents of FILE1 and FILE2 (NDJSON) whose line
// matches REGEXP have one and the same event.id: sameid FILE1 FILE2 REGEXP.
// The scripts use it to compare what diff --format ecs and watch emit.
func sameid(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: sameid FILE1 FILE2 REGEXP")
	}
	re, err := regexp.Compile(args[2])
	ts.Check(err)
	ids := func(file string) []string {
		var out []string
		for _, line := range strings.Split(ts.ReadFile(file), "\n") {
			if !re.MatchString(line) {
				continue
			}
			var doc struct {
				Event struct {
					ID string `json:"id"`
				} `json:"event"`
			}
			if err := json.Unmarshal([]byte(line), &doc); err != nil {
				ts.Fatalf("%s: %v: %s", file, err, line)
			}
			out = append(out, doc.Event.ID)
		}
		if len(out) == 0 {
			ts.Fatalf("%s: no document matches %q", file, args[2])
		}
		return out
	}
	a, b := ids(args[0]), ids(args[1])
	for _, id := range append(a, b...) {
		if id == "" || id != a[0] {
			ts.Fatalf("event.id differ: %s has %q, %s has %q", args[0], a, args[1], b)
		}
	}
	ts.Logf("event.id %s in both", a[0])
}

// waitoutbox waits until an undelivered document in the outbox of
// $WEBFIM_DB matches REGEXP, or with ! until the outbox is empty; for at
// most 30 s: [!] waitoutbox [REGEXP].
func waitoutbox(ts *testscript.TestScript, neg bool, args []string) {
	if neg != (len(args) == 0) || len(args) > 1 {
		ts.Fatalf("usage: waitoutbox REGEXP | ! waitoutbox")
	}
	var re *regexp.Regexp
	if !neg {
		re = regexp.MustCompile(args[0])
	}
	db, err := store.Open(ts.Getenv("WEBFIM_DB"), store.Options{})
	ts.Check(err)
	deadline := time.Now().Add(30 * time.Second)
	for {
		pending, err := db.Pending(0)
		ts.Check(err)
		if neg && len(pending) == 0 {
			return
		}
		for _, e := range pending {
			if re != nil && re.Match(e.Doc) {
				return
			}
		}
		if time.Now().After(deadline) {
			ts.Fatalf("outbox still holds %d documents after 30s (none matching %v)", len(pending), re)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mkhive writes a registry hive built from spec files (hivetest.Parse
// format, applied in turn): mkhive [-layout N] [-dirty] HIVE SPEC...
// -layout writes the same tree in another cell layout, as Windows does
// when it rewrites a hive; -dirty leaves the sequence numbers apart and
// writes a HIVE.LOG1 holding the change, as a hive copied from a running
// system can be.
func mkhive(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("mkhive", flag.ContinueOnError)
	layout := fs.Int64("layout", 0, "")
	dirty := fs.Bool("dirty", false, "")
	if neg || fs.Parse(args) != nil || fs.NArg() < 2 {
		ts.Fatalf("usage: mkhive [-layout N] [-dirty] HIVE SPEC...")
	}
	var tree *hivetest.Key
	for _, spec := range fs.Args()[1:] {
		var err error
		tree, err = hivetest.Parse(tree, ts.ReadFile(spec))
		if err != nil {
			ts.Fatalf("%s: %v", spec, err)
		}
	}
	path := ts.MkAbs(fs.Arg(0))
	ts.Check(os.MkdirAll(filepath.Dir(path), 0o755))
	opt := hivetest.Options{Layout: *layout}
	if *dirty {
		opt.PrimarySequence, opt.SecondarySequence = 12, 11
		ts.Check(os.WriteFile(path+".LOG1", hivetest.Log(12, 12, 11), 0o644))
	}
	ts.Check(hivetest.WriteFile(path, tree, opt))
}

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden from what the scripts produce")

// ecsgolden compares the ECS documents of an NDJSON file (diff --format
// ecs) with testdata/golden/NAME.ndjson, after replacing what depends on
// the machine and the moment (timestamps, host, agent version):
// ecsgolden FILE NAME. With -update it rewrites the golden file. The alert
// package validates the golden files against the ECS schema.
func ecsgolden(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: ecsgolden FILE NAME")
	}
	var out []byte
	for _, line := range strings.Split(strings.TrimSpace(ts.ReadFile(args[0])), "\n") {
		if line == "" {
			continue
		}
		var doc map[string]any
		ts.Check(json.Unmarshal([]byte(line), &doc))
		doc["@timestamp"] = "2026-11-26T10:30:00Z"
		doc["event"].(map[string]any)["created"] = "2026-11-26T10:30:00Z"
		doc["host"] = map[string]any{"name": "web01"}
		doc["agent"].(map[string]any)["version"] = "0.1.0"
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		ts.Check(enc.Encode(doc))
		out = append(out, b.String()...)
	}
	path := filepath.Join(goldenDir, args[1]+".ndjson")
	if *updateGolden {
		ts.Check(os.WriteFile(path, out, 0o644))
	}
	want, err := os.ReadFile(path)
	if err != nil {
		ts.Fatalf("%v (go test ./cmd/webfim -run TestScripts -update writes it)", err)
	}
	if string(want) != string(out) {
		ts.Fatalf("%s differs from %s (go test ./cmd/webfim -run TestScripts -update rewrites it):\n%s", args[0], path, out)
	}
}
