package main

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/rogpeppe/go-internal/testscript"
)

// hup sends SIGHUP to the webfim watch daemons of this script: the
// processes whose environment holds this script's WEBFIM_DB and whose
// command line has "watch" (testscript's kill knows no SIGHUP). It reads
// /proc.
func hup(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: hup")
	}
	want := "WEBFIM_DB=" + ts.Getenv("WEBFIM_DB")
	dirs, err := os.ReadDir("/proc")
	ts.Check(err)
	sent := 0
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err1 := os.ReadFile("/proc/" + d.Name() + "/environ")
		cmd, err2 := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err1 != nil || err2 != nil ||
			!slices.Contains(strings.Split(string(env), "\x00"), want) ||
			!slices.Contains(strings.Split(string(cmd), "\x00"), "watch") {
			continue
		}
		if p, err := os.FindProcess(pid); err == nil && p.Signal(syscall.SIGHUP) == nil {
			sent++
		}
	}
	if sent == 0 {
		ts.Fatalf("hup: no webfim watch process of this script found")
	}
}
