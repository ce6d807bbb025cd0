package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"webfim/store"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"webfim": func() { os.Exit(run(os.Args)) },
	})
}

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
