package main

import (
	"encoding/json"
	"fmt"
	"os/user"
	"time"

	"github.com/urfave/cli/v2"

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
				Usage: "close the open deploy window and take a new baseline labelled like it",
				Flags: append([]cli.Flag{
					&cli.BoolFlag{Name: "no-rebaseline", Usage: "only close the window"},
				}, newBaselineSigningFlags...),
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

func deployFinishAction(c *cli.Context) error {
	db, err := openExistingDB(c)
	if err != nil {
		return err
	}
	w, err := db.FinishWindow(time.Now())
	if err != nil {
		return err
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(c.App.Writer, "%s finished at %s\n", describeWindow(w), w.Finished.Format(time.RFC3339))
	}
	if c.Bool("no-rebaseline") {
		return nil
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
	if err := createBaseline(c, label, true); err != nil {
		return fmt.Errorf("deploy finish: window closed, but the new baseline failed: %w", err)
	}
	return nil
}
