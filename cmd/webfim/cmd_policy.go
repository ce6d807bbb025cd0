package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"webfim/config"
	"webfim/indicators"
	"webfim/lineage"
	"webfim/policy"
	"webfim/proc"
	"webfim/store"
)

// policyCommand is the "webfim policy" command, registered in main.go.
func policyCommand() *cli.Command {
	return &cli.Command{
		Name:  "policy",
		Usage: "validate the policy file and explain verdicts",
		Subcommands: []*cli.Command{
			{
				Name:      "check",
				Usage:     "validate a config file and print the effective policy, defaults filled in",
				ArgsUsage: "[FILE]",
				Description: "FILE defaults to --config. Without either, prints the built-in defaults.\n" +
					"An invalid file is reported with its file name, line and key, and exit status 17.",
				Action: policyCheckAction,
			},
			{
				Name:  "explain",
				Usage: "print the verdict and reason the policy gives a change of a path",
				Description: "Judges a hypothetical change of --path at --time (default: now), with the deploy\n" +
					"windows of the config file and those opened with \"webfim deploy start\" in the database.\n" +
					"PATH is absolute (its root is the configured root containing it) or relative to --root.\n" +
					"The new content of an added or changed script-type file is scanned for web-shell\n" +
					"indicators as the hashing pass would (the config's indicators section): that of --content\n" +
					"FILE, else that of the file at PATH if it exists; the verdict is raised by them and they\n" +
					"are printed.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "path", Usage: "the changed `PATH` (required)"},
					&cli.StringFlag{Name: "time", Usage: "when the change happens, RFC 3339 (`TIME`, default now)"},
					&cli.StringFlag{Name: "action", Value: "added", Usage: "added, changed or removed"},
					&cli.StringFlag{Name: "root", Usage: "the web `ROOT` the path belongs to"},
					&cli.StringFlag{Name: "writer", Usage: "the `PROCESS` that made the change, by name or executable path (for allowed_writers; a server's name, e.g. apache2, makes it a server process)"},
					&cli.StringFlag{Name: "content", Usage: "scan `FILE` as the new content of PATH for web-shell indicators (default: PATH itself, if it exists)"},
					&cli.BoolFlag{Name: "json", Usage: "print the verdict as JSON"},
				},
				Action: policyExplainAction,
			},
		},
	}
}

// loadConfig loads the --config file, or the built-in defaults without
// one. A bad file is a usage error (exit 17).
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	conf, err := config.Load(path)
	if err != nil {
		return nil, usageError{err}
	}
	return conf, nil
}

// loadPolicy is loadConfig for commands that only judge changes.
func loadPolicy(path string) (*policy.Policy, error) {
	conf, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	return &conf.Policy, nil
}

func policyCheckAction(c *cli.Context) error {
	if c.NArg() > 1 {
		return usageError{errors.New("policy check: at most one FILE")}
	}
	path := c.Args().First()
	if path == "" {
		path = c.String("config")
	}
	conf, err := loadConfig(path)
	if err != nil {
		return err
	}
	out, err := conf.Marshal()
	if err != nil {
		return err
	}
	warnConfigs(c, conf)
	if !c.Bool("quiet") {
		var roots []string
		for _, r := range conf.Roots {
			roots = append(roots, r.Path)
		}
		warnMounts(c, roots, conf.CrossDevice, conf.Excluded)
		if path == "" {
			fmt.Fprintln(c.App.ErrWriter, "webfim: no config file given (--config); built-in defaults:")
		} else {
			fmt.Fprintf(c.App.ErrWriter, "webfim: %s is valid; effective policy:\n", path)
		}
	}
	_, err = c.App.Writer.Write(out)
	return err
}

func policyExplainAction(c *cli.Context) error {
	if c.String("path") == "" {
		return usageError{errors.New("policy explain: --path is required")}
	}
	conf, err := loadConfig(c.String("config"))
	if err != nil {
		return err
	}
	p := &conf.Policy
	t := time.Now()
	if s := c.String("time"); s != "" {
		if t, err = time.Parse(time.RFC3339, s); err != nil {
			return usageError{fmt.Errorf("--time: want an RFC 3339 time such as 2026-11-26T22:30:00+01:00, got %q", s)}
		}
	}
	action := policy.Action(c.String("action"))
	switch action {
	case policy.ActionAdded, policy.ActionChanged, policy.ActionRemoved:
	default:
		return usageError{fmt.Errorf("--action must be added, changed or removed, not %q", action)}
	}
	root, rel, err := explainRoot(p, c.String("root"), c.String("path"))
	if err != nil {
		return usageError{err}
	}
	adhoc, err := adhocWindows(c, false)
	if err != nil {
		return err
	}
	content, res, err := explainContent(c, conf, root, rel, action)
	if err != nil {
		return err
	}
	v, err := p.ExplainContent(root, rel, action, res, p.ContextAt(t, adhoc, explainWriter(c.String("writer"))))
	if err != nil {
		return usageError{err}
	}
	w := c.App.Writer
	if c.Bool("json") {
		out := map[string]any{
			"root": root, "path": rel, "action": action, "time": t.Format(time.RFC3339),
			"rule_id": v.RuleID, "rule_name": v.RuleName, "severity": v.Severity.String(), "risk_score": v.RiskScore,
			"alert": v.Alert, "reported": !v.Drop, "reason": v.Reason,
		}
		if v.Window != nil {
			out["window"] = map[string]any{"label": v.Window.Label, "by": v.Window.By, "start": v.Window.Start, "end": v.Window.End, "recurring": v.Window.Recurring}
		}
		if res != nil {
			out["content"] = content
			out["indicators"] = newIndicatorsJSON(res)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	verdict := "expected event (not an alert)"
	switch {
	case v.Drop:
		verdict = "not reported"
	case v.Alert:
		verdict = fmt.Sprintf("alert, severity %s, risk score %g", v.Severity, v.RiskScore)
	}
	fmt.Fprintf(w, "path:    %s\n", filepath.Join(root, filepath.FromSlash(rel)))
	fmt.Fprintf(w, "action:  %s at %s\n", action, t.Format(time.RFC3339))
	if v.RuleID != "" {
		fmt.Fprintf(w, "rule:    %s %s\n", v.RuleID, v.RuleName)
	}
	fmt.Fprintf(w, "verdict: %s\n", verdict)
	fmt.Fprintf(w, "reason:  %s\n", displayText(v.Reason))
	if v.Window != nil {
		fmt.Fprintf(w, "window:  %s, %s to %s\n", displayText(v.Window.String()), v.Window.Start.Format(time.RFC3339), v.Window.End.Format(time.RFC3339))
	}
	if res != nil {
		fmt.Fprintf(w, "content: %s\n", displayPath(content))
		printIndicators(w, "", func(_, s string) string { return s }, res)
	}
	return nil
}

// explainContent scans for web-shell indicators the content a change of
// root/rel would bring, as the hashing pass would: the file named by
// --content, else the regular file at the path if there is one. It
// returns that file and the result; no result for a removal, a name that
// is not script-type (the hashing pass does not scan it either) or with
// the indicators disabled.
func explainContent(c *cli.Context, conf *config.Config, root, rel string, a policy.Action) (string, *indicators.Result, error) {
	file := c.String("content")
	explicit := file != ""
	if a == policy.ActionRemoved {
		if explicit {
			return "", nil, usageError{errors.New("--content: a removed file has no new content")}
		}
		return "", nil, nil
	}
	if !explicit {
		file = filepath.Join(root, filepath.FromSlash(rel))
		if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() {
			return "", nil, nil
		}
	}
	fam := indicators.FamilyOf(rel)
	if fam == indicators.FamilyNone {
		if explicit {
			fmt.Fprintf(c.App.ErrWriter, "webfim: note: --content not scanned: %s is not a script-type name\n", displayPath(rel))
		}
		return "", nil, nil
	}
	e, rules, err := contentScan(c.Context, conf)
	if err != nil || e == nil {
		if err == nil && explicit {
			fmt.Fprintln(c.App.ErrWriter, "webfim: note: --content not scanned: the indicators are disabled in the config file")
		}
		return "", nil, err
	}
	var buf []byte
	res, err := scanOne(e, e.NewScanner(), &buf, file, fam)
	if err != nil {
		return "", nil, usageError{fmt.Errorf("--content: %w", err)}
	}
	if rules != nil {
		matches, err := rules.ScanFiles(c.Context, []string{file})
		for _, m := range matches[file] {
			res.Add(indicators.YARAMatch(m, rules.Weight()), e.Thresholds())
		}
		if err != nil {
			res.Errors = append(res.Errors, err.Error())
		}
	}
	return file, &res, nil
}

// explainRoot splits an explain path into a root and a relative path.
func explainRoot(p *policy.Policy, root, path string) (string, string, error) {
	if root != "" {
		if !filepath.IsAbs(root) {
			return "", "", fmt.Errorf("--root %q is not absolute", root)
		}
		root = filepath.Clean(root)
		if filepath.IsAbs(path) {
			rel, err := filepath.Rel(root, path)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return "", "", fmt.Errorf("--path %s is not under --root %s", path, root)
			}
			path = rel
		}
		return root, filepath.ToSlash(filepath.Clean(path)), nil
	}
	if !filepath.IsAbs(path) {
		return "", "", fmt.Errorf("--path %q is relative: give --root or an absolute path", path)
	}
	path = filepath.Clean(path)
	for _, r := range p.Roots {
		if rel, err := filepath.Rel(r.Path, path); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return r.Path, filepath.ToSlash(rel), nil
		}
	}
	// No configured root: judge the path relative to the file system root,
	// which is what relative globs such as **/uploads/** match anyway.
	vol := filepath.VolumeName(path)
	return vol + string(filepath.Separator), filepath.ToSlash(strings.TrimLeft(path[len(vol):], `/\`)), nil
}

// dbPath is the database path from --db / WEBFIM_DB or the default.
func dbPath(c *cli.Context) (string, error) {
	if p := c.String("db"); p != "" {
		return p, nil
	}
	return store.DefaultPath()
}

// adhocWindows returns the deploy windows recorded in the database (each
// ending when it was finished, if earlier), for the policy. With create
// false, a database that does not exist yet means no windows.
func adhocWindows(c *cli.Context, create bool) ([]policy.Window, error) {
	path, err := dbPath(c)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil && !create {
		return nil, nil
	}
	db, err := store.Open(path, store.Options{})
	if err != nil {
		return nil, err
	}
	list, err := db.Windows()
	if err != nil {
		return nil, err
	}
	out := make([]policy.Window, 0, len(list))
	for _, w := range list {
		out = append(out, policyWindow(w))
	}
	return out, nil
}

// policyWindow converts a database window: a finished window ends when it
// was finished.
func policyWindow(w store.Window) policy.Window {
	end := w.End
	if !w.Finished.IsZero() && w.Finished.Before(end) {
		end = w.Finished
	}
	return policy.Window{Label: w.Label, By: w.By, Start: w.Start, End: end}
}

// explainWriter is the writer of --writer: a process name or an
// executable path, a server process when lineage says so. Nil (unknown)
// for "".
func explainWriter(name string) *policy.Writer {
	if name == "" {
		return nil
	}
	p := &proc.Process{Comm: name, Args: []string{name}}
	if strings.Contains(name, "/") {
		p.Executable, p.Comm = name, filepath.Base(name)
	}
	w := &policy.Writer{Name: p.Name(), Names: lineage.Names(p), Executable: p.Executable}
	if lineage.IsServer(p) {
		w.Server = p.Name()
	}
	return w
}
