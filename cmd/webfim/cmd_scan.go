package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"webfim/indicators"
	"webfim/indicators/yara"
)

// scanCommand is the "webfim scan" command, registered in main.go.
func scanCommand() *cli.Command {
	return &cli.Command{
		Name:      "scan",
		Usage:     "look for web-shell indicators in files, outside any baseline (triage)",
		ArgsUsage: "FILE|DIR...",
		Description: "Scans script files (by extension; other files are sniffed for script content unless\n" +
			"--no-sniff) for web-shell indicators and prints each file with a score, a level and the\n" +
			"indicators found (docs/indicators.md). Directories are walked without following symbolic\n" +
			"links. The settings are those of the config file's indicators section (thresholds,\n" +
			"weights, max_bytes, tail_bytes, yara), which the flags override. Exit status: 0 if no\n" +
			"file reaches --threshold, 1 if some file does, 16 if a file could not be read (the\n" +
			"others are still reported), 17 for bad flags or settings.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output format: text or json"},
			&cli.StringFlag{Name: "threshold", Value: "medium", Usage: "the `LEVEL` (low, medium, high) at which a file makes the exit status 1"},
			&cli.StringSliceFlag{Name: "weight", Usage: "override an indicator's weight, `ID=N` (0 disables it); repeatable"},
			&cli.Int64Flag{Name: "max-bytes", Usage: "scan at most the first `N` bytes of a file (and its last tail_bytes); default: the config file's max_bytes, 1 MiB"},
			&cli.BoolFlag{Name: "no-sniff", Usage: "scan only files with a script extension"},
			&cli.BoolFlag{Name: "all", Usage: "also list files with no indicator"},
			&cli.StringSliceFlag{Name: "yara", Usage: "run the YARA rules in `FILE` too, instead of the config file's (needs the yara command); repeatable"},
			&cli.DurationFlag{Name: "yara-timeout", Value: yara.DefaultTimeout, Usage: "bound on the YARA scan of all the files"},
			&cli.BoolFlag{Name: "list", Usage: "print the indicator catalog and exit"},
		},
		Action: scanAction,
	}
}

// scanReport is one file in the output.
type scanReport struct {
	Path string `json:"path"`
	indicators.Result
	Error string `json:"error,omitempty"`
}

// scanOutput is the JSON document of a scan.
type scanOutput struct {
	Thresholds indicators.Thresholds `json:"thresholds"`
	Threshold  string                `json:"threshold"`
	Scanned    int                   `json:"scanned"`
	Flagged    int                   `json:"flagged"`
	Files      []scanReport          `json:"files"`
}

func scanAction(c *cli.Context) error {
	w := c.App.Writer
	if c.Bool("list") {
		return printCatalog(w, c.String("format"))
	}
	format := c.String("format")
	if format != "text" && format != "json" {
		return usageError{fmt.Errorf("--format must be text or json, not %q", format)}
	}
	threshold, err := indicators.ParseLevel(c.String("threshold"))
	if err != nil || threshold == indicators.LevelNone {
		return usageError{fmt.Errorf("--threshold must be low, medium or high, not %q", c.String("threshold"))}
	}
	if c.NArg() == 0 {
		return usageError{errors.New("scan needs at least one FILE or DIR")}
	}
	// The config file's indicator settings, then the flags.
	conf, err := loadConfig(c.String("config"))
	if err != nil {
		return err
	}
	settings := conf.Indicators.Settings
	settings.Weights = maps.Clone(settings.Weights)
	if settings.Weights == nil {
		settings.Weights = map[string]int{}
	}
	if c.IsSet("max-bytes") {
		settings.MaxBytes = c.Int64("max-bytes")
		if settings.TailBytes > settings.MaxBytes {
			settings.TailBytes = 0 // the default tail for that size
		}
	}
	for _, kv := range c.StringSlice("weight") {
		id, n, ok := strings.Cut(kv, "=")
		v, err := strconv.Atoi(n)
		if !ok || err != nil {
			return usageError{fmt.Errorf("--weight %q: want ID=N", kv)}
		}
		settings.Weights[id] = v
	}
	if c.IsSet("yara") {
		settings.YARA.Rules = c.StringSlice("yara")
	}
	if c.IsSet("yara-timeout") {
		settings.YARA.Timeout = c.Duration("yara-timeout")
	}
	engine, err := indicators.New(settings)
	if err != nil {
		return usageError{err}
	}
	var rules *yara.Rules
	if files := settings.YARA.Rules; len(files) > 0 {
		rules, err = yara.Compile(c.Context, settings.YARA)
		if err != nil {
			if !c.IsSet("yara") && conf.File != "" {
				return usageError{conf.ErrorAt(yaraKey(files, err), err)}
			}
			var re *yara.RuleError
			if errors.As(err, &re) {
				return usageError{fmt.Errorf("yara rules: %w", err)}
			}
			return cli.Exit("scan: "+err.Error(), exitError)
		}
		defer rules.Close()
	}

	var reports []scanReport
	failed := false
	scanner := engine.NewScanner()
	var buf []byte
	sniff := !c.Bool("no-sniff")
	for _, arg := range c.Args().Slice() {
		err := filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if cerr := c.Context.Err(); cerr != nil {
				return cerr
			}
			if err != nil {
				reports = append(reports, scanReport{Path: p, Error: err.Error()})
				failed = true
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			fam := indicators.FamilyOf(p)
			if fam == indicators.FamilyNone && !sniff && p != arg {
				return nil
			}
			res, err := scanOne(engine, scanner, &buf, p, fam)
			if err != nil {
				reports = append(reports, scanReport{Path: p, Error: err.Error()})
				failed = true
				return nil
			}
			if res.Family != indicators.FamilyNone || p == arg {
				reports = append(reports, scanReport{Path: p, Result: res})
			}
			return nil
		})
		if err != nil {
			if c.Context.Err() != nil {
				return cli.Exit("scan: interrupted", exitError)
			}
			return cli.Exit("scan: "+err.Error(), exitError)
		}
	}
	if rules != nil {
		var paths []string
		for _, r := range reports {
			if r.Error == "" && r.Family != indicators.FamilyNone {
				paths = append(paths, r.Path)
			}
		}
		matches, err := rules.ScanFiles(c.Context, paths)
		if err != nil {
			fmt.Fprintln(c.App.ErrWriter, "webfim: scan:", err)
			failed = true
		}
		for i := range reports {
			for _, m := range matches[reports[i].Path] {
				reports[i].Add(indicators.YARAMatch(m, rules.Weight()), engine.Thresholds())
			}
		}
	}

	out := scanOutput{Thresholds: engine.Thresholds(), Threshold: threshold.String(), Files: []scanReport{}}
	for _, r := range reports {
		if r.Error == "" {
			out.Scanned++
		}
		if r.Error == "" && r.Level >= threshold {
			out.Flagged++
		}
		if r.Error != "" || r.Score > 0 || c.Bool("all") {
			out.Files = append(out.Files, r)
		}
	}
	slices.SortStableFunc(out.Files, func(a, b scanReport) int { return b.Score - a.Score })
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printScanText(w, out)
	}
	switch {
	case failed:
		return cli.Exit("", exitError)
	case out.Flagged > 0:
		return cli.Exit("", 1)
	}
	return nil
}

// scanOne scans the file at p. A file that fits in the engine's
// MaxBytes is read whole into buf and scanned in place; a larger one is
// streamed (its prefix and tail are kept).
func scanOne(e *indicators.Engine, s *indicators.Scanner, buf *[]byte, p string, fam indicators.Family) (indicators.Result, error) {
	f, err := os.Open(p)
	if err != nil {
		return indicators.Result{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return indicators.Result{}, err
	}
	if size := fi.Size(); size <= e.MaxBytes() {
		if int64(cap(*buf)) < size+1 {
			*buf = make([]byte, size+1)
		}
		b := (*buf)[:size+1]
		n, err := io.ReadFull(f, b)
		switch {
		case err == io.ErrUnexpectedEOF || err == io.EOF: // the whole file (it may have shrunk)
			s.ResetSize(fam, int64(n))
			s.Write(b[:n])
			return s.Result(), nil
		case err != nil:
			return indicators.Result{}, fmt.Errorf("read %s: %w", p, err)
		}
		// It grew since fstat: stream it.
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return indicators.Result{}, err
		}
	}
	res, err := e.ScanReader(fam, f)
	if err != nil {
		return res, fmt.Errorf("read %s: %w", p, err)
	}
	return res, nil
}

func printScanText(w io.Writer, out scanOutput) {
	for _, r := range out.Files {
		if r.Error != "" {
			fmt.Fprintf(w, "error   %s: %s\n", r.Path, r.Error)
			continue
		}
		notes := []string{r.Family.String()}
		if r.Sniffed {
			notes = append(notes, "sniffed")
		}
		if r.Truncated {
			notes = append(notes, fmt.Sprintf("scanned a prefix and the end of %d bytes", r.Size))
		}
		fmt.Fprintf(w, "%-7s %3d  %s  (%s)\n", r.Level, r.Score, r.Path, strings.Join(notes, ", "))
		for _, m := range r.Matches {
			where := ""
			if m.Line > 0 {
				where = fmt.Sprintf("line %d: %s", m.Line, m.Excerpt)
			}
			fmt.Fprintf(w, "          %-26s %3d  %s\n", m.ID, m.Weight, where)
		}
	}
	fmt.Fprintf(w, "%d files scanned, %d at or above %s (thresholds: low %d, medium %d, high %d)\n",
		out.Scanned, out.Flagged, out.Threshold, out.Thresholds.Low, out.Thresholds.Medium, out.Thresholds.High)
}

// printCatalog prints every indicator with its default weight.
func printCatalog(w io.Writer, format string) error {
	cat := indicators.Catalog()
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(cat)
	}
	for _, ind := range cat {
		fmt.Fprintf(w, "%-26s %3d  %s\n", ind.ID, ind.Weight, ind.Description)
	}
	return nil
}
