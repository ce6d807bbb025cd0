package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/user"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"webfim/policy"
	"webfim/store"
)

// deployCommand is the "webfim deploy" command, registered in main.go.
func deployCommand() *cli.Command {
	return &cli.Command{
		Name:  "deploy",
		Usage: "open and close ad-hoc deploy windows (for CI/CD pipelines)",
		Description: "Inside a deploy window, changes are expected events instead of alerts (except scripts in\n" +
			"no-script zones, and server modules, which still alert at medium). Windows live in the\n" +
			"database, so a running \"webfim watch\" sees them. A window closes itself at its end time.",
		Subcommands: []*cli.Command{
			{
				Name:  "start",
				Usage: "open a deploy window now",
				Flags: []cli.Flag{
					&cli.DurationFlag{Name: "duration", Value: 30 * time.Minute, Usage: "how long the window stays open at most"},
					&cli.StringFlag{Name: "label", Usage: "release `LABEL` (also the label of the baseline taken by finish)"},
					&cli.StringFlag{Name: "by", Usage: "who opens it, e.g. the pipeline `NAME` (default: the user name)"},
				},
				Action: deployStartAction,
			},
			{
				Name:   "status",
				Usage:  "print the open deploy window, if any",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the window as JSON (null when none is open)"}},
				Action: deployStatusAction,
			},
			{
				Name:  "finish",
				Usage: "review what changed, take a new baseline labelled like the window, then close it",
				Description: "The new baseline is compared with the active one, in the walk that takes it, and each\n" +
					"difference is judged as the watch daemon judges it inside the window. Findings that need\n" +
					"review (at or above --review-severity, and always scripts in no-script zones, server modules,\n" +
					"handlers and prepends) are not trusted silently: finish lists them and exits 8 without\n" +
					"taking the baseline, and the window stays open. Remove them and run finish again, accept\n" +
					"them (--accept ID, --accept-all with --reason: stored in the baseline, and an audit event\n" +
					"in the outbox), or --hold-pending: the baseline is taken without them, so they keep\n" +
					"alerting (exit 8). The window closes only once the new baseline is committed, so finish\n" +
					"can be run again after it was interrupted.",
				Flags: append([]cli.Flag{
					&cli.BoolFlag{Name: "no-rebaseline", Usage: "only close the window (nothing is reviewed nor trusted)"},
					&cli.BoolFlag{Name: "full", Usage: "re-hash every file instead of trusting unchanged size, mtime, ctime, inode and device"},
				}, append(slices.Clone(newBaselineSigningFlags), reviewFlags()...)...),
				Action: deployFinishAction,
			},
		},
	}
}

func describeWindow(w store.Window) string {
	s := "deploy window"
	if w.Label != "" {
		s += " '" + displayText(w.Label) + "'"
	} else {
		s += fmt.Sprintf(" #%d", w.ID)
	}
	if w.By != "" {
		s += " opened by " + displayText(w.By)
	}
	return s
}

func deployStartAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError{fmt.Errorf("deploy start: unexpected argument %q", c.Args().First())}
	}
	d := c.Duration("duration")
	if d <= 0 {
		return usageError{fmt.Errorf("--duration must be positive, got %s", d)}
	}
	by := c.String("by")
	if by == "" {
		if u, err := user.Current(); err == nil {
			by = u.Username
		}
	}
	now := time.Now()
	w := store.Window{Label: c.String("label"), By: by, Start: now, End: now.Add(d)}
	if err := store.CheckWindow(w); err != nil {
		// deploy finish labels its baseline like the window: say it now.
		return usageError{err}
	}
	db, err := openDB(c)
	if err != nil {
		return err
	}
	w, err = db.StartWindow(w)
	if err != nil {
		return err
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(c.App.Writer, "%s is open until %s (%s)\n", describeWindow(w), w.End.Format(time.RFC3339), d)
	}
	return nil
}

func deployStatusAction(c *cli.Context) error {
	db, err := openExistingDB(c)
	if err != nil {
		return err
	}
	now := time.Now()
	w, ok, err := db.CurrentWindow(now)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		var v any
		if ok {
			v = w
		}
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	if !ok {
		fmt.Fprintln(c.App.Writer, "no deploy window is open")
		return nil
	}
	fmt.Fprintf(c.App.Writer, "%s is open since %s, until %s (%s left)\n", describeWindow(w),
		w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339), w.End.Sub(now).Round(time.Second))
	return nil
}

// exitPending is the exit status of "deploy finish" when findings that
// need review were not trusted: the baseline was refused, or taken
// without them (--hold-pending).
const exitPending = 8

// pendingError is the error of exitPending; its message is already printed.
type pendingError struct{ msg string }

func (e pendingError) Error() string { return e.msg }
func (e pendingError) ExitCode() int { return exitPending }

func deployFinishAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError{fmt.Errorf("deploy finish: unexpected argument %q", c.Args().First())}
	}
	if c.Bool("no-rebaseline") {
		for _, f := range append(reviewFlagNames, "full") {
			if c.IsSet(f) {
				return usageError{fmt.Errorf("deploy finish: --%s does not go with --no-rebaseline (nothing is reviewed)", f)}
			}
		}
	}
	opts, err := reviewOptions(c)
	if err != nil {
		return err
	}
	db, err := openExistingDB(c)
	if err != nil {
		return err
	}
	// The instant finish starts is the window's end: what changes from
	// now on is judged outside it, whether or not this snapshot sees it.
	now := time.Now()
	if c.Bool("no-rebaseline") {
		w, err := db.FinishWindow(now)
		if err != nil {
			return err
		}
		if !c.Bool("quiet") {
			fmt.Fprintf(c.App.Writer, "%s finished at %s\n", describeWindow(w), w.Finished.Format(time.RFC3339))
		}
		return nil
	}
	w, ok, err := db.CurrentWindow(now)
	if err != nil {
		return err
	}
	if !ok {
		// A window that ran out (its --duration) is over; the release it
		// covered is trusted the same reviewed way by baseline create.
		return fmt.Errorf("deploy finish: %w at %s (a window past its end is over: take the baseline with 'webfim baseline create', which reviews the changes first)", store.ErrNoWindow, now.Format(time.RFC3339))
	}
	label := w.Label
	if err := store.CheckLabel(label); err != nil {
		// a window recorded before labels were checked
		infof(c, "webfim: the window's label cannot label a baseline (%v); using deploy-%d\n", err, w.ID)
		label = ""
	}
	if label == "" {
		label = fmt.Sprintf("deploy-%d", w.ID)
	}
	conf, err := loadConfig(c.String("config"))
	if err != nil {
		return err
	}
	rv := opts.review(&conf.Policy, conf.Policy.ContextAt(now, []policy.Window{policyWindow(w)}, nil))
	m, held, err := takeReviewed(c, db, "deploy finish", label, rv, conf.Outbox.MaxEntries, " and "+describeWindow(w)+" stays open")
	var pending pendingError
	if errors.As(err, &pending) {
		return err
	}
	if err != nil {
		return fmt.Errorf("deploy finish: the new baseline failed, %s stays open (run deploy finish again): %w", describeWindow(w), err)
	}
	fw, err := db.FinishWindow(now)
	if err != nil {
		return fmt.Errorf("deploy finish: baseline %d is active, but closing the window failed: %w", m.ID, err)
	}
	if !c.Bool("quiet") {
		rv.print(c.App.Writer, true)
		fmt.Fprintf(c.App.Writer, "%s finished at %s\n", describeWindow(fw), fw.Finished.Format(time.RFC3339))
	}
	if held > 0 {
		return heldError("deploy finish", m, held)
	}
	return nil
}
