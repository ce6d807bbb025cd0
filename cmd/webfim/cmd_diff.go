package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"webfim/baseline"
	"webfim/indicators"
	"webfim/scan"
	"webfim/serverconf"
	"webfim/store"
)

// diffCommand is the "webfim diff" command, registered in main.go.
func diffCommand() *cli.Command {
	return &cli.Command{
		Name:  "diff",
		Usage: "compare a baseline with the live roots or with another baseline",
		Description: `Exit status: 0 no differences; otherwise the bit sum of 1 (added),
2 (removed) and 4 (changed: content, metadata, moved, server module
inventory); 16 error, 17 usage error, 18 database locked.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Value: "active", Usage: "baseline `ID` to compare from (number, label or 'active'), or an export FILE (a path, or NAME.webfim), read without the database"},
			&cli.StringFlag{Name: "sysroot", Usage: "with --from FILE: compare with the server mounted or copied at `DIR` (an offline image)"},
			trustedKeyFlag,
			&cli.StringFlag{Name: "to", Value: "live", Usage: "baseline `ID` to compare to, or 'live' for the file system now"},
			&cli.BoolFlag{Name: "fast", Usage: "trust unchanged size, mtime, ctime, inode and device instead of re-hashing"},
			formatFlag("text", "json", "ndjson", "ecs"),
		},
		Action: diff,
	}
}

func formatFlag(formats ...string) cli.Flag {
	return &cli.StringFlag{
		Name: "format", Value: formats[0], Usage: "output `FORMAT`: " + strings.Join(formats, ", "),
		Action: func(c *cli.Context, v string) error {
			for _, f := range formats {
				if v == f {
					return nil
				}
			}
			return usageError{fmt.Errorf("--format %q: must be one of %s", v, strings.Join(formats, ", "))}
		},
	}
}

func diff(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", c.Args().First())}
	}
	if from := c.String("from"); isExportFile(from) {
		return diffFromFile(c, from)
	}
	if c.IsSet("sysroot") {
		return usageError{errors.New("diff --sysroot goes with --from FILE (a stored baseline remembers its sysroot)")}
	}
	db, err := openExistingDB(c)
	if err != nil {
		return err
	}
	from, err := resolve(db, c.String("from"))
	if err != nil {
		return err
	}
	var to *store.Meta
	if ref := c.String("to"); ref != "live" {
		m, err := resolve(db, ref)
		if err != nil {
			return err
		}
		to = &m
	}
	if err := requireSignedBaselines(c, db, from, to); err != nil {
		return err
	}
	rep, err := newReporter(c)
	if err != nil {
		return err
	}
	if err := rep.begin(from, to); err != nil {
		return err
	}
	opt := scan.Options{Full: !c.Bool("fast"), OnError: warnEntry(c), OnContentError: warnContent(c)}
	var s scan.Scope // without a config file: the baseline's own scope
	pol, err := loadConfig(c.String("config"))
	if err != nil {
		return err
	}
	if c.String("config") != "" {
		applyPolicy(&s, pol)
	}
	if to == nil { // live content is scanned; stored baselines hold none
		if s.Indicators, s.YARA, err = contentScan(c.Context, pol); err != nil {
			return err
		}
	}
	t := s.Over(scan.TargetOf(from))
	res, err := scan.Diff(c.Context, db, from, to, t, opt, scan.Emitter{File: rep.file, Item: rep.item})
	if err != nil {
		return fmt.Errorf("diff: %w", err)
	}
	if err := rep.end(res); err != nil {
		return err
	}
	if bits := res.ExitBits(); bits != 0 {
		return differences(bits)
	}
	return nil
}

// requireSignedBaselines refuses, when webfim.yml sets require_signed,
// to compare with a stored baseline that is not signed by a trusted key,
// differs from what was signed, or is an active baseline older than the
// newest signed one seen (a replay). Checking reads every record of the
// baseline once before the diff does.
func requireSignedBaselines(c *cli.Context, db *store.DB, from store.Meta, to *store.Meta) error {
	ring, required, err := keyRing(c)
	if err != nil || !required {
		return err
	}
	sides := []store.Meta{from}
	if to != nil {
		sides = append(sides, *to)
	}
	for _, m := range sides {
		r, err := trustedBaseline(db, ring, m)
		if err != nil {
			return err
		}
		infof(c, "baseline %d%s: verified, signed by %s\n", m.ID, labelSuffix(m), r.SignedBy)
	}
	return nil
}

// newReporter returns the reporter of --format.
func newReporter(c *cli.Context) (reporter, error) {
	switch c.String("format") {
	case "json":
		return &jsonReporter{w: c.App.Writer}, nil
	case "ndjson":
		return &ndjsonReporter{enc: json.NewEncoder(c.App.Writer)}, nil
	case "ecs":
		return newECSReporter(c)
	}
	return &textReporter{w: c.App.Writer, colour: c.App.Writer == os.Stdout && useColour(os.Stdout)}, nil
}

// reporter writes the differences in one output format.
type reporter interface {
	begin(from store.Meta, to *store.Meta) error
	file(baseline.Change) error
	item(serverconf.Change) error
	end(scan.Result) error
}

// changeJSON is one file change in the json and ndjson schemas.
type changeJSON struct {
	Type string `json:"type"` // "file"
	Kind string `json:"kind"`
	Root string `json:"root"`
	pathJSON
	From   *pathJSON   `json:"from,omitempty"`
	Fields []string    `json:"fields,omitempty"`
	Old    *recordJSON `json:"old,omitempty"`
	New    *recordJSON `json:"new,omitempty"`
	// Indicators are those of the new content, when it was scanned.
	Indicators *indicatorsJSON `json:"indicators,omitempty"`
}

// indicatorsJSON is the web-shell indicator scan of a file's new content
// in the json and ndjson schemas.
type indicatorsJSON struct {
	Score     int                `json:"score"`
	Level     indicators.Level   `json:"level"`
	Family    indicators.Family  `json:"family"`
	Matches   []indicators.Match `json:"matches"`
	Truncated bool               `json:"truncated,omitempty"`
	Sniffed   bool               `json:"sniffed,omitempty"`
	Errors    []string           `json:"errors,omitempty"`
}

// newIndicators is the scan of the new content of ch, if any.
func newIndicators(ch baseline.Change) *indicators.Result {
	if ch.Kind == baseline.Removed || ch.Kind == baseline.MetadataChanged || ch.New == nil {
		return nil
	}
	return ch.New.Indicators
}

func newChangeJSON(ch baseline.Change) changeJSON {
	out := changeJSON{Type: "file", Kind: string(ch.Kind), Root: ch.Root, pathJSON: newPathJSON(ch.Path), Fields: ch.Fields}
	if ch.Kind == baseline.Moved {
		p := newPathJSON(ch.From)
		out.From = &p
	}
	if ch.Old != nil {
		r := newRecordJSON(*ch.Old)
		out.Old = &r
	}
	if ch.New != nil {
		r := newRecordJSON(*ch.New)
		out.New = &r
	}
	if res := newIndicators(ch); res != nil {
		out.Indicators = newIndicatorsJSON(res)
	}
	return out
}

func newIndicatorsJSON(res *indicators.Result) *indicatorsJSON {
	j := &indicatorsJSON{Score: res.Score, Level: res.Level, Family: res.Family, Matches: res.Matches,
		Truncated: res.Truncated, Sniffed: res.Sniffed, Errors: res.Errors}
	if j.Matches == nil {
		j.Matches = []indicators.Match{}
	}
	return j
}

// itemJSON is one server module inventory change in the json and ndjson schemas.
type itemJSON struct {
	Type string `json:"type"` // "module"
	serverconf.Change
}

type summaryJSON struct {
	Type            string `json:"type"` // "summary"
	Added           int    `json:"added"`
	Removed         int    `json:"removed"`
	ContentChanged  int    `json:"content_changed"`
	MetadataChanged int    `json:"metadata_changed"`
	Moved           int    `json:"moved"`
	ModulesAdded    int    `json:"modules_added"`
	ModulesRemoved  int    `json:"modules_removed"`
	ModulesChanged  int    `json:"modules_changed"`
	ExitStatus      int    `json:"exit_status"`
}

func newSummaryJSON(r scan.Result) summaryJSON {
	return summaryJSON{
		Type: "summary", Added: r.Files.Added, Removed: r.Files.Removed, ContentChanged: r.Files.ContentChanged,
		MetadataChanged: r.Files.MetadataChanged, Moved: r.Files.Moved, ModulesAdded: r.Items.Added,
		ModulesRemoved: r.Items.Removed, ModulesChanged: r.Items.Changed, ExitStatus: r.ExitBits(),
	}
}

type sideJSON struct {
	Live     bool      `json:"live"`
	Baseline *metaJSON `json:"baseline,omitempty"`
}

func sides(from store.Meta, to *store.Meta) (sideJSON, sideJSON) {
	f := newMetaJSON(from)
	if to == nil {
		return sideJSON{Baseline: &f}, sideJSON{Live: true}
	}
	t := newMetaJSON(*to)
	return sideJSON{Baseline: &f}, sideJSON{Baseline: &t}
}

// ndjsonReporter writes one JSON object per line: a header, the changes,
// then the summary.
type ndjsonReporter struct{ enc *json.Encoder }

func (r *ndjsonReporter) begin(from store.Meta, to *store.Meta) error {
	f, t := sides(from, to)
	return r.enc.Encode(struct {
		Type   string   `json:"type"`
		Schema string   `json:"schema"`
		From   sideJSON `json:"from"`
		To     sideJSON `json:"to"`
	}{"header", diffSchema, f, t})
}
func (r *ndjsonReporter) file(ch baseline.Change) error { return r.enc.Encode(newChangeJSON(ch)) }
func (r *ndjsonReporter) item(ch serverconf.Change) error {
	return r.enc.Encode(itemJSON{"module", ch})
}
func (r *ndjsonReporter) end(res scan.Result) error { return r.enc.Encode(newSummaryJSON(res)) }

const diffSchema = "webfim.diff/v1"

// jsonReporter writes one JSON document, streaming the changes so that a
// large diff does not have to fit in memory.
type jsonReporter struct {
	w io.Writer
	n int
}

func (r *jsonReporter) begin(from store.Meta, to *store.Meta) error {
	f, t := sides(from, to)
	fb, _ := json.Marshal(f)
	tb, _ := json.Marshal(t)
	_, err := fmt.Fprintf(r.w, "{\"schema\":%q,\"from\":%s,\"to\":%s,\"changes\":[", diffSchema, fb, tb)
	return err
}

func (r *jsonReporter) elem(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	sep := ",\n"
	if r.n == 0 {
		sep = "\n"
	}
	r.n++
	_, err = fmt.Fprintf(r.w, "%s%s", sep, b)
	return err
}

func (r *jsonReporter) file(ch baseline.Change) error   { return r.elem(newChangeJSON(ch)) }
func (r *jsonReporter) item(ch serverconf.Change) error { return r.elem(itemJSON{"module", ch}) }

func (r *jsonReporter) end(res scan.Result) error {
	b, err := json.Marshal(newSummaryJSON(res))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(r.w, "\n],\"summary\":%s}\n", b)
	return err
}

// textReporter groups the changes by kind for reading; it buffers them,
// which is proportional to the number of differences, not the tree.
type textReporter struct {
	w      io.Writer
	colour bool
	header string
	files  map[baseline.ChangeKind][]baseline.Change
	items  []serverconf.Change
}

func (r *textReporter) begin(from store.Meta, to *store.Meta) error {
	side := func(m store.Meta) string {
		return fmt.Sprintf("baseline %d%s (%s)", m.ID, labelSuffix(m), m.Created.Local().Format("2006-01-02 15:04"))
	}
	r.header = side(from) + " -> live"
	if to != nil {
		r.header = side(from) + " -> " + side(*to)
	}
	r.files = map[baseline.ChangeKind][]baseline.Change{}
	return nil
}

func (r *textReporter) file(ch baseline.Change) error {
	r.files[ch.Kind] = append(r.files[ch.Kind], ch)
	return nil
}

func (r *textReporter) item(ch serverconf.Change) error {
	r.items = append(r.items, ch)
	return nil
}

const (
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiBold   = "\x1b[1m"
	ansiReset  = "\x1b[0m"
)

func (r *textReporter) paint(colour, s string) string {
	if !r.colour {
		return s
	}
	return colour + s + ansiReset
}

func fullPath(root, rel string) string {
	return displayPath(filepath.Join(root, filepath.FromSlash(rel)))
}

func (r *textReporter) end(res scan.Result) error {
	fmt.Fprintln(r.w, r.paint(ansiBold, "webfim diff: "+r.header))
	groups := []struct {
		kind   baseline.ChangeKind
		title  string
		mark   string
		colour string
	}{
		{baseline.Added, "Added", "+", ansiGreen},
		{baseline.Removed, "Removed", "-", ansiRed},
		{baseline.ContentChanged, "Content changed", "~", ansiYellow},
		{baseline.MetadataChanged, "Metadata changed", "~", ansiYellow},
		{baseline.Moved, "Moved", ">", ansiCyan},
	}
	for _, g := range groups {
		list := r.files[g.kind]
		if len(list) == 0 {
			continue
		}
		fmt.Fprintf(r.w, "\n%s (%d):\n", r.paint(ansiBold, g.title), len(list))
		tw := tabwriter.NewWriter(r.w, 0, 4, 2, ' ', 0)
		for _, ch := range list {
			fmt.Fprintf(tw, "  %s %s\t%s\n", r.paint(g.colour, g.mark), changeSubject(ch), changeDetail(ch))
			if res := newIndicators(ch); res != nil && (res.Score > 0 || len(res.Errors) > 0) {
				tw.Flush() // the indicators are not columns of the table
				r.indicators(res)
			}
		}
		tw.Flush()
	}
	if len(r.items) > 0 {
		fmt.Fprintf(r.w, "\n%s (%d):\n", r.paint(ansiBold, "Server modules"), len(r.items))
		tw := tabwriter.NewWriter(r.w, 0, 4, 2, ' ', 0)
		for _, ch := range r.items {
			mark, colour := "~", ansiYellow
			it := ch.New
			switch ch.Kind {
			case serverconf.ItemAdded:
				mark, colour = "+", ansiGreen
			case serverconf.ItemRemoved:
				mark, colour, it = "-", ansiRed, ch.Old
			}
			fmt.Fprintf(tw, "  %s %s %s %s\t%s\n", r.paint(colour, mark), it.Server, it.Kind, displayPath(it.Name), itemDetail(ch, it))
		}
		tw.Flush()
	}
	s := res.Files
	fmt.Fprintf(r.w, "\nSummary: %d added, %d removed, %d content changed, %d metadata changed, %d moved; server modules: %d added, %d removed, %d changed\n",
		s.Added, s.Removed, s.ContentChanged, s.MetadataChanged, s.Moved, res.Items.Added, res.Items.Removed, res.Items.Changed)
	return nil
}

// indicators prints the web-shell indicators of a change's new content
// under it (see printIndicators).
func (r *textReporter) indicators(res *indicators.Result) {
	printIndicators(r.w, "      ", r.paint, res)
}

// printIndicators prints the web-shell indicators res, indented: the level
// and score, then one line per indicator with its weight, line and
// excerpt, and what could not be scanned.
func printIndicators(w io.Writer, indent string, paint func(colour, s string) string, res *indicators.Result) {
	colour := ansiYellow
	if res.Level >= indicators.LevelHigh {
		colour = ansiRed
	}
	notes := []string{res.Family.String()}
	if res.Sniffed {
		notes = append(notes, "sniffed")
	}
	if res.Truncated {
		notes = append(notes, fmt.Sprintf("scanned a prefix and the end of %d bytes", res.Size))
	}
	fmt.Fprintf(w, "%s%s score %d (%s)\n", indent, paint(colour, "indicators: "+res.Level.String()+","), res.Score, strings.Join(notes, ", "))
	for _, m := range res.Matches {
		where := ""
		if m.Line > 0 {
			where = fmt.Sprintf("line %d: %s", m.Line, m.Excerpt)
		}
		fmt.Fprintf(w, "%s  %-26s %3d  %s\n", indent, m.ID, m.Weight, displayText(where))
	}
	for _, e := range res.Errors {
		fmt.Fprintf(w, "%s  incomplete: %s\n", indent, displayText(e))
	}
}

func changeSubject(ch baseline.Change) string {
	if ch.Kind == baseline.Moved {
		return fullPath(ch.Root, ch.From) + " -> " + displayPath(ch.Path)
	}
	return fullPath(ch.Root, ch.Path)
}

// changeDetail says what differs, old -> new, for one file change.
func changeDetail(ch baseline.Change) string {
	rec := ch.New
	if rec == nil {
		rec = ch.Old
	}
	switch ch.Kind {
	case baseline.Added, baseline.Removed:
		d := fmt.Sprintf("%s %s %d:%d %s", rec.Type, rec.Mode, rec.UID, rec.GID, humanBytes(rec.Size))
		if rec.Err != "" {
			d += " (" + rec.Err + ")"
		}
		return d
	}
	var parts []string
	for _, f := range ch.Fields {
		o, n := fieldValue(ch.Old, f), fieldValue(ch.New, f)
		parts = append(parts, fmt.Sprintf("%s %s -> %s", f, o, n))
	}
	return strings.Join(parts, ", ")
}

func fieldValue(r *baseline.Record, field string) string {
	if r == nil {
		return "?"
	}
	switch field {
	case "content":
		if len(r.BLAKE3) == 0 {
			if r.Err != "" {
				return "(" + r.Err + ")"
			}
			return "?"
		}
		return fmt.Sprintf("%x…", r.BLAKE3[:6])
	case "size":
		return fmt.Sprint(r.Size)
	case "mode":
		return r.Mode.String()
	case "uid":
		return fmt.Sprint(r.UID)
	case "gid":
		return fmt.Sprint(r.GID)
	case "type":
		return r.Type.String()
	case "target":
		return displayPath(r.Target)
	case "mtime":
		return nsTime(r.Mtime)
	}
	return "…"
}

func itemDetail(ch serverconf.Change, it *serverconf.Item) string {
	var parts []string
	if it.Image != "" {
		parts = append(parts, "image "+displayPath(it.Image))
	}
	if it.Type != "" {
		parts = append(parts, "type "+it.Type)
	}
	if it.Scope != "" && it.Scope != "server" {
		parts = append(parts, "scope "+displayPath(it.Scope))
	}
	if len(ch.Fields) > 0 {
		parts = append(parts, "changed: "+strings.Join(ch.Fields, ", "))
	}
	loc := displayPath(it.Source)
	if it.Line > 0 {
		loc = fmt.Sprintf("%s:%d", loc, it.Line)
	}
	parts = append(parts, "("+loc+")")
	if ch.Note != "" {
		parts = append(parts, "— "+ch.Note)
	}
	return strings.Join(parts, "  ")
}
