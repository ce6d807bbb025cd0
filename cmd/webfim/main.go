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
	"slices"
	"strings"
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

// commands returns the commands, one per cmd_<name>.go file, sorted by
// name as "webfim --help" lists them (TestCommandsSorted checks it). A new
// command is added here.
func commands() []*cli.Command {
	baseline := baselineCommand()
	// The trust subcommands of baseline live in their own files.
	baseline.Subcommands = append(baseline.Subcommands,
		baselineExportCommand(),
		baselineImportCommand(),
		baselineSignCommand(),
		baselineAttachSignatureCommand(),
		baselineVerifyCommand(),
	)
	return []*cli.Command{
		baseline,
		deployCommand(),
		diffCommand(),
		discoverCommand(),
		initCommand(),
		keyCommand(),
		modulesCommand(),
		policyCommand(),
		scanCommand(),
		signDigestCommand(),
		watchCommand(),
	}
}

func newApp() *cli.App {
	cmds := commands()
	applyConventions(cmds)
	return &cli.App{
		Name:                 "webfim",
		HelpName:             "webfim",
		Usage:                "web-root integrity monitor: baselines, diffs and watches web roots and server configs",
		Version:              version,
		EnableBashCompletion: true,
		Flags:                globalFlags(true),
		Commands:             cmds,
		Action:               needCommand,
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
	defer runExitFuncs()
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
	if errors.As(err, &ce) && ce.ExitCode() == 3 && strings.HasPrefix(err.Error(), "No help topic for") {
		// urfave/cli's "help NAME" for an unknown NAME: a usage error,
		// not the "added and removed" of diff's status scheme.
		fmt.Fprintf(os.Stderr, "webfim: %s ('webfim --help' lists the commands)\n", err)
		return exitUsage
	}
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

// applyConventions gives every command and subcommand the conventions of
// the CLI, so that each cmd_<name>.go file need not: the global flags are
// accepted after the command words too (see globalFlags), flag errors are
// usage errors (exit 17; urfave/cli only applies the app's handler at the
// top), a command with subcommands needs one, a command without ArgsUsage
// takes no arguments, and a flag given after an argument is refused with a
// message saying where it goes.
func applyConventions(cmds []*cli.Command) {
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
		}
		addGlobalFlags(c)
		before := c.Before
		leaf := len(c.Subcommands) == 0 // urfave/cli adds "help" to each when it runs
		c.Before = func(ctx *cli.Context) error {
			if err := inheritGlobalFlags(ctx); err != nil {
				return err
			}
			if leaf {
				if ctx.Command.ArgsUsage == "" && ctx.NArg() > 0 {
					return usageError{fmt.Errorf("%s takes no arguments, got %q", ctx.Command.HelpName, ctx.Args().First())}
				}
				if err := flagsAfterArguments(ctx); err != nil {
					return err
				}
			}
			if before != nil {
				return before(ctx)
			}
			return nil
		}
		if len(c.Subcommands) > 0 {
			if c.Action == nil {
				c.Action = needCommand
			}
			applyConventions(c.Subcommands)
		}
	}
}

// needCommand is the action of the app and of every command that has
// subcommands, run when none of them was named: without arguments, a
// usage error with the help on stderr (like go and git, and unlike
// "--help", which exits 0 with the help on stdout); with an unknown word,
// a usage error naming it.
func needCommand(c *cli.Context) error {
	isApp := len(c.Lineage()) <= 2 // the app's context and an empty parent
	name := c.App.HelpName
	if !isApp {
		name = c.Command.HelpName
	}
	if c.NArg() == 0 {
		w := c.App.Writer
		c.App.Writer = c.App.ErrWriter
		if isApp {
			_ = cli.ShowAppHelp(c)
		} else {
			_ = cli.ShowSubcommandHelp(c)
		}
		c.App.Writer = w
		return usageError{fmt.Errorf("%s needs a command (see above)", name)}
	}
	return usageError{fmt.Errorf("unknown command %q for %s ('%s --help' lists the commands)", c.Args().First(), name, name)}
}

// flagsAfterArguments refuses a flag of the command given after an
// argument ("baseline show 3 --entries"): urfave/cli stops parsing flags at
// the first argument, and taking the flag for a file or an ID would be
// worse than saying where it goes.
func flagsAfterArguments(c *cli.Context) error {
	usage := argsUsage(c.Command)
	args := c.Args().Slice()
	if usage == "" {
		return nil // no arguments: the command says so itself
	}
	for _, a := range args[min(1, len(args)):] {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name == "" {
			continue
		}
		for _, f := range c.Command.Flags {
			if slices.Contains(f.Names(), name) {
				return usageError{fmt.Errorf("flags go before the arguments: %s [flags] %s (got %q after %q; a file named like a flag can be given as ./%s)",
					c.Command.HelpName, usage, a, args[0], a)}
			}
		}
	}
	return nil
}

// argsUsage is what a command's help says its arguments are, without the
// "[flags]" some put first.
func argsUsage(c *cli.Command) string {
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(c.ArgsUsage), "[flags]"))
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
