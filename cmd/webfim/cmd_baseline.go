package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"webfim/baseline"
	"webfim/policy"
	"webfim/scan"
	"webfim/store"
	"webfim/trust"
)

// baselineCommand is the "webfim baseline" command, registered in main.go.
func baselineCommand() *cli.Command {
	return &cli.Command{
		Name:  "baseline",
		Usage: "take, list and manage baselines",
		Subcommands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "hash the web roots and server configs into a new baseline and make it active",
				ArgsUsage: " ",
				Description: "When it replaces an active baseline, the new one is reviewed as \"deploy finish\" reviews it\n" +
					"(in the deploy window open now, if any): findings that need review are listed and the\n" +
					"baseline is refused (exit 8) unless they are accepted or held out, or --no-activate is given.",
				Flags: append(append(append([]cli.Flag{
					&cli.StringFlag{Name: "label", Usage: "a name for the baseline, e.g. the release deployed"},
					&cli.BoolFlag{Name: "full", Usage: "re-hash every file instead of reusing digests of unchanged files"},
					&cli.BoolFlag{Name: "no-activate", Usage: "store the baseline without making it active (nothing is reviewed)"},
				}, newBaselineSigningFlags...), reviewFlags()...), targetFlags...),
				Action: baselineCreate,
			},
			{
				Name:   "list",
				Usage:  "list the stored baselines",
				Flags:  []cli.Flag{formatFlag("text", "json")},
				Action: baselineList,
			},
			{
				Name:      "show",
				Usage:     "show a baseline and optionally its entries",
				ArgsUsage: "[flags] ID",
				Flags: []cli.Flag{
					formatFlag("text", "json"),
					&cli.BoolFlag{Name: "entries", Usage: "print the recorded entries"},
					&cli.StringFlag{Name: "prefix", Usage: "only entries whose path starts with `PREFIX`"},
				},
				Action: baselineShow,
			},
			{
				Name:      "activate",
				Usage:     "make a baseline the one diff and watch compare against",
				ArgsUsage: "[flags] ID",
				Description: "Under require_signed (webfim.yml), a baseline that diff and watch would refuse as the active one\n" +
					"(not signed by a trusted key, differing from what was signed, or older than the newest signed\n" +
					"baseline seen: a replay) is not activated (exit 16) unless --force is given.",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "force", Usage: "under require_signed, activate a baseline that is not trusted (diff and watch still refuse it)"},
				},
				Action: baselineActivate,
			},
			{
				Name:      "delete",
				Usage:     "delete a baseline",
				ArgsUsage: "[flags] ID",
				Action: func(c *cli.Context) error {
					return withBaseline(c, func(db *store.DB, m store.Meta) error {
						if err := db.Delete(m.ID); err != nil {
							return err
						}
						if !m.Active {
							infof(c, "baseline %d%s deleted\n", m.ID, labelSuffix(m))
							return nil
						}
						// The newest remaining baseline took over: say which.
						now, err := db.Resolve("active")
						switch {
						case err == nil:
							infof(c, "baseline %d%s deleted; baseline %d%s is now active\n", m.ID, labelSuffix(m), now.ID, labelSuffix(now))
						case errors.Is(err, store.ErrNotFound):
							infof(c, "baseline %d%s deleted; no baseline is active now ('webfim baseline create' takes one)\n", m.ID, labelSuffix(m))
						default:
							return fmt.Errorf("baseline %d deleted, but which one is active now is unknown: %w", m.ID, err)
						}
						return nil
					})
				},
			},
			{
				Name:  "prune",
				Usage: "delete all but the newest N baselines (the active one is always kept)",
				Flags: []cli.Flag{&cli.IntFlag{Name: "keep", Usage: "how many baselines to keep (required)"}},
				Action: func(c *cli.Context) error {
					keep := c.Int("keep")
					if !c.IsSet("keep") {
						return usageError{errors.New("baseline prune needs --keep N")}
					}
					if keep < 1 {
						return usageError{fmt.Errorf("--keep must be at least 1, got %d", keep)}
					}
					db, err := openExistingDB(c)
					if err != nil {
						return err
					}
					deleted, err := db.Prune(keep)
					if err != nil {
						return err
					}
					for _, m := range deleted {
						infof(c, "baseline %d%s deleted\n", m.ID, labelSuffix(m))
					}
					return nil
				},
			},
		},
	}
}

// withBaseline resolves the command's single ID argument and runs fn.
func withBaseline(c *cli.Context, fn func(*store.DB, store.Meta) error) error {
	if c.NArg() != 1 {
		for _, a := range c.Args().Tail() {
			if strings.HasPrefix(a, "-") {
				return usageError{fmt.Errorf("flags go before the ID: %s [flags] ID (got %q after the ID)", c.Command.HelpName, a)}
			}
		}
		return usageError{fmt.Errorf("%s needs exactly one baseline ID (a number, a label or 'active')", c.Command.HelpName)}
	}
	db, err := openExistingDB(c)
	if err != nil {
		return err
	}
	m, err := resolve(db, c.Args().First())
	if err != nil {
		return err
	}
	return fn(db, m)
}

func baselineCreate(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (roots are given with --root DIR)", c.Args().First())}
	}
	if err := store.CheckLabel(c.String("label")); err != nil {
		return usageError{fmt.Errorf("--label: %w", err)} // before hashing, not after
	}
	if c.Bool("no-activate") {
		for _, f := range reviewFlagNames {
			if c.IsSet(f) {
				return usageError{fmt.Errorf("--%s does not go with --no-activate (a baseline that is not active trusts nothing; nothing is reviewed)", f)}
			}
		}
		return createBaseline(c, c.String("label"), false)
	}
	opts, err := reviewOptions(c)
	if err != nil {
		return err
	}
	conf, err := loadConfig(c.String("config"))
	if err != nil {
		return err
	}
	db, err := openDB(c)
	if err != nil {
		return err
	}
	now := time.Now()
	windows, err := db.WindowsBetween(now, now)
	if err != nil {
		return err
	}
	adhoc := make([]policy.Window, len(windows))
	for i, w := range windows {
		adhoc[i] = policyWindow(w)
	}
	rv := opts.review(&conf.Policy, conf.Policy.ContextAt(now, adhoc, nil))
	m, held, err := takeReviewed(c, db, "baseline create", c.String("label"), rv, conf.Outbox.MaxEntries, "")
	var pending pendingError
	if errors.As(err, &pending) {
		return err
	}
	if err != nil {
		return fmt.Errorf("baseline create: %w", err)
	}
	if !c.Bool("quiet") {
		rv.print(c.App.Writer, true)
	}
	if held > 0 {
		return heldError("baseline create", m, held)
	}
	return nil
}

// baselineActivate makes a baseline the active one. Under require_signed
// it first checks the baseline as diff and watch will check the active
// one: activating one they refuse would only move the failure to them
// (watch alerts webfim-031 and keeps the last verified baseline), and
// an attacker's re-baseline is exactly such an activation, so it is
// refused unless --force says the operator means it.
func baselineActivate(c *cli.Context) error {
	return withBaseline(c, func(db *store.DB, m store.Meta) error {
		ring, required, err := keyRing(c)
		if err != nil {
			return err
		}
		if required {
			m.Active = true // checked as the active baseline: a replay is refused too
			_, terr := trustedBaseline(db, ring, m)
			switch {
			case terr != nil && !c.Bool("force"):
				return fmt.Errorf("not activated: %w; --force activates it anyway", terr)
			case terr != nil:
				fmt.Fprintf(c.App.ErrWriter, "webfim: warning: %v; activated anyway (--force): diff refuses it and watch alerts (webfim-031) until it is signed\n", terr)
			}
		}
		if err := db.Activate(m.ID); err != nil {
			return err
		}
		infof(c, "baseline %d%s is active\n", m.ID, labelSuffix(m))
		return nil
	})
}

// createBaseline takes a baseline as "baseline create --no-activate"
// does (nothing is reviewed); see takeBaseline.
func createBaseline(c *cli.Context, label string, activate bool) error {
	db, err := openDB(c)
	if err != nil {
		return err
	}
	if _, err := takeBaseline(c, db, label, activate, scan.Review{}); err != nil {
		return fmt.Errorf("baseline create: %w", err)
	}
	return nil
}

// createReviewed takes a baseline of the command's target under review
// and makes it active (baseline create, deploy finish); see takeBaseline.
func createReviewed(c *cli.Context, db *store.DB, label string, review scan.Review) (store.Meta, error) {
	return takeBaseline(c, db, label, true, review)
}

// takeBaseline takes a baseline as "baseline create" does; "deploy
// finish" uses it too, with the roots of the active baseline. review
// sees what it would trust (scan.CreateReviewed). With --sign-key or
// --agent the baseline is signed before it is published; under
// require_signed an unsigned baseline is stored without being made
// active (diff and watch would refuse it), with what to do next.
func takeBaseline(c *cli.Context, db *store.DB, label string, activate bool, review scan.Review) (store.Meta, error) {
	ring, required, err := keyRing(c)
	if err != nil {
		return store.Meta{}, err
	}
	sign, signed, err := newBaselineSigner(c, ring, required)
	if err != nil {
		return store.Meta{}, err
	}
	defer signed()
	awaitSignature := required && sign == nil && activate
	if awaitSignature {
		activate = false
	}
	t, err := target(c, db)
	if err != nil {
		return store.Meta{}, err
	}
	opt := scan.Options{Full: c.Bool("full"), OnError: warnEntry(c), OnContentError: warnContent(c), OnStatement: sign}
	bar := newProgress(c, db)
	if bar != nil {
		opt.Progress = bar.update
	}
	// The new content (every script of a first baseline) is scanned for
	// web-shell indicators before it is trusted; what scores at medium or
	// above is said.
	flagged := scannedReport{w: c.App.ErrWriter}
	opt.OnIndicators = flagged.record
	m, err := scan.CreateReviewed(c.Context, db, t, label, version, opt, activate, review)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return m, err
	}
	if flagged.flagged > 0 {
		fmt.Fprintf(c.App.ErrWriter, "webfim: warning: %d %s of baseline %d %s web-shell indicators at medium or above: check %s ('webfim scan FILE' shows them)\n",
			flagged.flagged, plural(flagged.flagged, "file", "files"), m.ID, plural(flagged.flagged, "shows", "show"), plural(flagged.flagged, "it", "them"))
	}
	active := ""
	if activate {
		active = ", active"
	}
	if sign != nil {
		active += ", signed"
	}
	infof(c, "baseline %d%s: %d files, %d dirs, %d symlinks, %d other, %s, %d errors, %d unstable, %s%s\n",
		m.ID, labelSuffix(m), m.Files, m.Dirs, m.Symlinks, m.Others, humanBytes(m.Bytes), m.Errors, m.Unstable,
		m.Duration.Round(time.Millisecond), active)
	if sign != nil {
		if err := raiseMarkOfNew(db, ring, m); err != nil {
			return m, err
		}
	}
	if awaitSignature {
		// Said even with --quiet: the baseline is not in force.
		state := "stored but NOT active"
		if m.Active { // the first baseline is active anyway
			state = "active, but diff and watch refuse it until it is signed"
		}
		fmt.Fprintf(c.App.ErrWriter, "webfim: baseline %d%s is %s: require_signed is set and it is not signed (--sign-key FILE or --agent signs a baseline as it is taken). To sign it with a key kept elsewhere:\n"+
			"  webfim baseline sign --print-digest %d > statement            # here\n"+
			"  webfim sign-digest --key KEY -o statement.sig statement       # on the signing host\n"+
			"  webfim baseline attach-signature --activate %d statement.sig  # here\n", m.ID, labelSuffix(m), state, m.ID, m.ID)
	}
	return m, nil
}

// raiseMarkOfNew raises the host's signed mark to a baseline just taken
// and signed by a trusted key.
func raiseMarkOfNew(db *store.DB, ring *trust.KeyRing, m store.Meta) error {
	sigs, err := storedSignatures(db, m.ID)
	if err != nil {
		return err
	}
	for _, s := range sigs {
		if v, err := ring.Verify(s); err == nil && v.Trusted != nil {
			_, err := db.RaiseSignedMark(markOf(v.Statement))
			return err
		}
	}
	return nil
}

// warnContent reports a content scan that could not complete (a YARA
// batch); the findings are still reported, on what the engine found.
func warnContent(c *cli.Context) func(err error) {
	return func(err error) {
		fmt.Fprintf(c.App.ErrWriter, "webfim: warning: %s\n", displayText(err.Error()))
	}
}

// warnEntry reports an entry that could not be read; the walk goes on.
func warnEntry(c *cli.Context) func(root, rel string, err error) {
	return func(root, rel string, err error) {
		fmt.Fprintf(c.App.ErrWriter, "webfim: warning: %s: %v\n", displayPath(filepath.Join(root, filepath.FromSlash(rel))), err)
	}
}

func infof(c *cli.Context, format string, args ...any) {
	if !c.Bool("quiet") {
		fmt.Fprintf(c.App.ErrWriter, format, args...)
	}
}

func labelSuffix(m store.Meta) string {
	if m.Label == "" {
		return ""
	}
	return ` "` + displayText(m.Label) + `"`
}

func baselineList(c *cli.Context) error {
	db, err := openExistingDB(c)
	if err != nil {
		return err
	}
	list, err := db.List()
	if err != nil {
		return err
	}
	if c.String("format") == "json" {
		out := make([]metaJSON, len(list))
		for i, m := range list {
			out[i] = newMetaJSON(m)
		}
		return writeJSON(c.App.Writer, out)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tACTIVE\tCREATED\tLABEL\tFILES\tBYTES\tERRORS\tROOTS")
	for _, m := range list {
		mark := ""
		if m.Active {
			mark = "*"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%d\t%s\n", m.ID, mark, m.Created.Local().Format("2006-01-02 15:04:05"),
			displayText(m.Label), m.Files, humanBytes(m.Bytes), m.Errors, joinPaths(m.Roots))
	}
	return tw.Flush()
}

// shownSignature is a signature stored with a baseline, as baseline show
// lists it: the key that made it and the digest it signs. Whether the key
// is trusted and the records still match is baseline verify's job.
type shownSignature struct {
	Key    string `json:"key"`
	Digest string `json:"digest"`
	Error  string `json:"error,omitempty"`
}

// shownDigest returns the digest recorded when baseline m was taken
// ("" for a baseline of an older webfim) and its stored signatures.
func shownDigest(db *store.DB, m store.Meta) (string, []shownSignature, error) {
	d, err := db.Digest(m.ID)
	if err != nil {
		return "", nil, err
	}
	digest := ""
	if d.Statement != nil {
		st, err := trust.ParseStatement(d.Statement)
		if err != nil {
			return "", nil, fmt.Errorf("baseline %d: recorded digest: %w", m.ID, err)
		}
		digest = st.Digest().String()
	}
	sigs, err := storedSignatures(db, m.ID)
	if err != nil {
		return "", nil, err
	}
	var out []shownSignature
	for _, s := range sigs {
		v, err := (&trust.KeyRing{}).Verify(s)
		sh := shownSignature{}
		if v.Key != nil {
			sh.Key = trust.DescribeKey(v.Key, "")
		}
		if v.Statement != nil {
			sh.Digest = v.Statement.Digest().String()
		}
		if err != nil {
			sh.Error = err.Error()
		}
		out = append(out, sh)
	}
	return digest, out, nil
}

func baselineShow(c *cli.Context) error {
	return withBaseline(c, func(db *store.DB, m store.Meta) error {
		digest, sigs, err := shownDigest(db, m)
		if err != nil {
			return err
		}
		if c.String("format") == "json" {
			out := struct {
				metaJSON
				Digest     string           `json:"digest,omitempty"`
				Signatures []shownSignature `json:"signatures"`
				Entries    []recordJSON     `json:"entries,omitempty"`
			}{metaJSON: newMetaJSON(m), Digest: digest, Signatures: sigs}
			if out.Signatures == nil {
				out.Signatures = []shownSignature{}
			}
			if c.Bool("entries") {
				for r, err := range db.Records(m.ID, c.String("prefix")) {
					if err != nil {
						return err
					}
					out.Entries = append(out.Entries, newRecordJSON(r))
				}
			}
			return writeJSON(c.App.Writer, out)
		}
		w := c.App.Writer
		fmt.Fprintf(w, "baseline %d%s", m.ID, labelSuffix(m))
		if m.Active {
			fmt.Fprint(w, " (active)")
		}
		fmt.Fprintf(w, "\n  created   %s on %s by webfim %s\n", m.Created.Local().Format(time.RFC3339), displayText(m.Host), displayText(m.Version))
		for _, r := range m.Roots {
			fmt.Fprintf(w, "  root      %s\n", displayPath(r))
		}
		for _, cf := range m.Configs {
			fmt.Fprintf(w, "  config    %s\n", displayPath(cf))
		}
		if m.Sysroot != "" {
			fmt.Fprintf(w, "  sysroot   %s\n", displayPath(m.Sysroot))
		}
		fmt.Fprintf(w, "  entries   %d files, %d dirs, %d symlinks, %d other (%s)\n", m.Files, m.Dirs, m.Symlinks, m.Others, humanBytes(m.Bytes))
		fmt.Fprintf(w, "  problems  %d unreadable, %d unstable\n", m.Errors, m.Unstable)
		fmt.Fprintf(w, "  took      %s (full re-hash: %v)\n", m.Duration.Round(time.Millisecond), m.Full)
		if rv := m.Review; rv != nil {
			for _, f := range rv.Accepted {
				fmt.Fprintf(w, "  accepted  %s %s %s %s by %s: %s\n", f.Severity, f.Rule, f.ID, displayPath(f.Subject), displayText(rv.By), displayText(rv.Reason))
			}
			for _, f := range rv.Held {
				fmt.Fprintf(w, "  held out  %s %s %s %s\n", f.Severity, f.Rule, f.ID, displayPath(f.Subject))
			}
		}
		if digest == "" {
			fmt.Fprintln(w, "  digest    none recorded (taken by an older webfim)")
		} else {
			fmt.Fprintf(w, "  digest    %s (recorded when taken)\n", digest)
		}
		if len(sigs) == 0 {
			fmt.Fprintln(w, "  signed    no")
		}
		for _, s := range sigs {
			switch {
			case s.Error != "":
				fmt.Fprintf(w, "  signed    unusable signature: %s\n", s.Error)
			case s.Digest != digest:
				fmt.Fprintf(w, "  signed    by %s, over another digest: %s\n", s.Key, s.Digest)
			default:
				fmt.Fprintf(w, "  signed    by %s\n", s.Key)
			}
		}
		if len(sigs) > 0 {
			fmt.Fprintf(w, "            (the key is not checked against the trusted keys here, nor the records against the digest: webfim baseline verify %d)\n", m.ID)
		}
		if !c.Bool("entries") {
			return nil
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
		for r, err := range db.Records(m.ID, c.String("prefix")) {
			if err != nil {
				tw.Flush()
				return err
			}
			writeRecordLine(tw, r)
		}
		return tw.Flush()
	})
}

// writeRecordLine prints one entry as a line: mode, owner, size, digest, path.
func writeRecordLine(w io.Writer, r baseline.Record) {
	digest := "-"
	if len(r.BLAKE3) > 0 {
		digest = fmt.Sprintf("%x", r.BLAKE3[:8])
	}
	p := displayPath(filepath.Join(r.Root, filepath.FromSlash(r.Path)))
	switch {
	case r.Type == baseline.TypeSymlink:
		p += " -> " + displayPath(r.Target)
	case r.Err != "":
		p += "  (" + r.Err + ")"
	case r.Unstable:
		p += "  (unstable)"
	}
	fmt.Fprintf(w, "%s\t%d:%d\t%s\t%s\t%s\n", r.Mode, r.UID, r.GID, strconv.FormatInt(r.Size, 10), digest, p)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// progress draws a progress bar on a terminal's stderr.
type progress struct {
	bar *progressbar.ProgressBar
}

// newProgress returns nil when stderr is not a terminal or --quiet is set.
// The previous baseline's byte count serves as the total for the ETA.
func newProgress(c *cli.Context, db *store.DB) *progress {
	if c.Bool("quiet") || !isTerminal(os.Stderr) {
		return nil
	}
	total := int64(-1)
	if prev, err := db.Resolve("active"); err == nil && prev.Bytes > 0 {
		total = prev.Bytes
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetDescription("hashing"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	return &progress{bar: bar}
}

func (p *progress) update(s baseline.Progress) {
	p.bar.Describe(fmt.Sprintf("%d files", s.Files))
	_ = p.bar.Set64(s.Bytes)
}

func (p *progress) finish() { _ = p.bar.Finish() }
