// Command webfim is a web-root integrity monitor: it baselines web roots and
// server configurations, diffs them, and watches them for planted server
// software components (MITRE ATT&CK T1505).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"sync"
	"syscall"

	"github.com/urfave/cli/v2"

	"webfim/store"
)

// version is set at link time (-ldflags "-X main.version=...").
var version = "0.1.0-dev"

// Exit codes. Differences are reported like AIDE and Tripwire, as a bit sum;
// errors use codes of 16 and above so scripts can tell them apart.
const (
	exitOK      = 0
	exitAdded   = 1
	exitRemoved = 2
	exitChanged = 4 // content, metadata, moved, or a server module inventory change
	exitError   = 16
	exitUsage   = 17 // bad flags, arguments or config file
	exitLocked  = 18 // the database is held by another process for too long
)

// commands is filled by the init functions of the cmd_*.go files, one
// command per file, so that commands can be added without touching main.
var commands []*cli.Command

func register(c *cli.Command) { commands = append(commands, c) }

// subcommands holds subcommands registered by files other than their
// parent's (registerSub), attached by newApp.
var (
	subcommands   = map[string][]*cli.Command{}
	attachSubOnce sync.Once
)

func registerSub(parent string, c *cli.Command) { subcommands[parent] = append(subcommands[parent], c) }

func newApp() *cli.App {
	attachSubOnce.Do(func() {
		for _, c := range commands {
			c.Subcommands = append(c.Subcommands, subcommands[c.Name]...)
		}
	})
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	markUsageErrors(commands)
	return &cli.App{
		Name:                 "webfim",
		Usage:                "web-root integrity monitor: baselines, diffs and watches web roots and server configs",
		Version:              version,
		EnableBashCompletion: true,
		Flags:                globalFlags,
		Commands:             commands,
		ExitErrHandler:       func(*cli.Context, error) {}, // main prints errors and picks the code
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
	}
}

func main() {
	tuneGC()
	os.Exit(run(os.Args))
}

// tuneGC trades memory for CPU: a walk allocates small short-lived objects
// per entry, and with the default GOGC of 100 the collector runs every few
// milliseconds on a small heap. A soft memory limit keeps the peak in
// check (the 1,000,000-file target is 150 MB for a baseline); the watch
// daemon goes back to GOGC 100. $GOGC and $GOMEMLIMIT override either
// setting.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(128 << 20)
	}
}

// run executes the CLI and returns the process exit code.
func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newApp().RunContext(ctx, args)
	return exitCode(err)
}

// exitCode maps an error returned by a command to the process exit code
// and prints it.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ce cli.ExitCoder
	if errors.As(err, &ce) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "webfim:", msg)
		}
		return ce.ExitCode()
	}
	fmt.Fprintln(os.Stderr, "webfim:", err)
	if errors.Is(err, store.ErrCorrupt) {
		fmt.Fprintln(os.Stderr, "webfim: hint: keep a copy of the damaged file for investigation, then move it aside (or restore it from a backup) and take a new baseline; 'webfim --db FILE baseline list' shows what can still be read")
	}
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	if errors.Is(err, store.ErrLocked) {
		return exitLocked
	}
	return exitError
}

// markUsageErrors makes flag errors of every command and subcommand usage
// errors (exit 17); urfave/cli only applies the app's handler at the top.
func markUsageErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
		}
		markUsageErrors(c.Subcommands)
	}
}

// usageError marks an error in how webfim was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// differences is returned by commands that report differences: its code is
// the bit sum of exitAdded, exitRemoved and exitChanged; it prints nothing.
type differences int

func (d differences) Error() string { return "" }
func (d differences) ExitCode() int { return int(d) }
