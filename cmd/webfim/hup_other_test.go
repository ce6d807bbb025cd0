//go:build !linux

package main

import "github.com/rogpeppe/go-internal/testscript"

func hup(ts *testscript.TestScript, neg bool, args []string) {
	ts.Fatalf("hup: finds the daemon through /proc, on Linux only")
}
