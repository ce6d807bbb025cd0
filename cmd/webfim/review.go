package main

import (
	"errors"
	"fmt"
	"io"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"webfim/alert"
	"webfim/baseline"
	"webfim/policy"
	"webfim/scan"
	"webfim/serverconf"
	"webfim/store"
)

// reviewFlagNames are the flags of [reviewFlags].
var reviewFlagNames = []string{"accept", "accept-all", "reason", "hold-pending", "review-severity"}

// reviewFlags are the flags of the commands that make a new baseline the
// trusted one after a review: deploy finish, baseline create.
func reviewFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "accept", Usage: "trust the pending finding `ID` (its event.id, or a unique prefix of 8 or more characters); repeatable"},
		&cli.BoolFlag{Name: "accept-all", Usage: "trust every pending finding (needs --reason)"},
		&cli.StringFlag{Name: "reason", Usage: "why the accepted findings are trusted (`TEXT`, stored in the baseline and the audit events)"},
		&cli.BoolFlag{Name: "hold-pending", Usage: "take the baseline without the pending findings not accepted (they keep alerting) instead of refusing"},
		&cli.StringFlag{Name: "review-severity", Value: policy.DefaultReviewSeverity.String(), Usage: "findings at or above `LEVEL` (low, medium, high, critical) need review"},
	}
}

// reviewOpts are the review flags, checked.
type reviewOpts struct {
	min       policy.Severity
	accepts   []string
	acceptAll bool
	hold      bool
	reason    string
}

func reviewOptions(c *cli.Context) (reviewOpts, error) {
	o := reviewOpts{accepts: c.StringSlice("accept"), acceptAll: c.Bool("accept-all"), hold: c.Bool("hold-pending"), reason: c.String("reason")}
	if o.acceptAll && strings.TrimSpace(o.reason) == "" {
		return o, usageError{errors.New("--accept-all needs --reason TEXT (it is stored with the baseline)")}
	}
	for _, a := range o.accepts {
		if len(a) < 8 {
			return o, usageError{fmt.Errorf("--accept %q: give a finding id or a prefix of at least 8 characters", a)}
		}
	}
	var err error
	if o.min, err = policy.ParseSeverity(c.String("review-severity")); err != nil {
		return o, usageError{fmt.Errorf("--review-severity: %w", err)}
	}
	return o, nil
}

// review returns the review of a new baseline under pol in context ctx.
func (o reviewOpts) review(pol *policy.Policy, ctx policy.Context) *review {
	rv := &review{pol: pol, ctx: ctx, min: o.min, acceptAll: o.acceptAll, accepts: o.accepts, hold: o.hold, reason: o.reason}
	if u, err := user.Current(); err == nil {
		rv.by = u.Username
	}
	return rv
}

// takeReviewed takes and activates a baseline labelled label under the
// review rv, for the command named cmd ("deploy finish", "baseline
// create"): on a refusal it lists the findings and returns the exit-8
// error (what follows says how to go on); once taken it warns about
// --accept arguments that matched nothing and returns the baseline
// (published with the audit events of what was accepted, see commit), and held, the findings it was taken without.
func takeReviewed(c *cli.Context, db *store.DB, cmd, label string, rv *review, maxOutbox int, refusedNext string) (m store.Meta, held int, err error) {
	rv.maxOutbox = maxOutbox
	m, err = createReviewed(c, db, label, rv.scan())
	if errors.Is(err, errRefused) {
		rv.print(c.App.Writer, false)
		return m, 0, pendingError{fmt.Sprintf("%s: %d finding(s) need review; no baseline was taken%s.\n"+
			"Remove what should not be there and run %s again, or accept: --accept ID..., --accept-all --reason TEXT,\n"+
			"or take the baseline without them (they keep alerting): --hold-pending", cmd, rv.unaccepted(), refusedNext, cmd)}
	}
	if err != nil {
		return m, 0, err
	}
	for _, a := range rv.unmatched() {
		fmt.Fprintf(c.App.ErrWriter, "webfim: warning: --accept %s matches no finding that needed review\n", displayText(a))
	}
	return m, len(rv.held()), nil
}

// heldError is the exit-8 error of a baseline taken without findings that
// needed review.
func heldError(cmd string, m store.Meta, held int) error {
	return pendingError{fmt.Sprintf("%s: baseline %d was taken without %d finding(s) that need review; they keep alerting", cmd, m.ID, held)}
}

// errRefused abandons a reviewed snapshot that would trust findings no
// one accepted.
var errRefused = errors.New("findings need review")

// review judges what "deploy finish" would trust (see scan.Review): the
// findings that need review, which of them the user accepted, and the
// decision.
type review struct {
	pol       *policy.Policy
	ctx       policy.Context
	min       policy.Severity
	acceptAll bool
	accepts   []string // ids or prefixes
	hold      bool     // take the baseline without the unaccepted ones
	by        string
	reason    string

	maxOutbox int // bounds the outbox the audit events are queued in

	pending []pendingFinding
}

type pendingFinding struct {
	alert.Finding
	id       string
	accepted bool
}

func (r *review) scan() scan.Review {
	return scan.Review{
		File: func(ch baseline.Change) bool {
			return r.judge(alert.Finding{File: &ch, Verdict: r.pol.EvaluateFile(ch, r.ctx)})
		},
		Item: func(ch serverconf.Change) bool {
			return r.judge(alert.Finding{Item: &ch, Verdict: r.pol.EvaluateItem(ch, r.ctx)})
		},
		Commit: r.commit,
	}
}

// judge notes a finding that needs review and holds it out unless it is
// accepted.
func (r *review) judge(f alert.Finding) bool {
	if !f.Verdict.NeedsReview(r.min) {
		return false
	}
	p := pendingFinding{Finding: f, id: alert.FindingID(f)}
	p.accepted = r.acceptAll || r.acceptedID(p.id)
	r.pending = append(r.pending, p)
	return !p.accepted
}

func (r *review) acceptedID(id string) bool {
	for _, a := range r.accepts {
		if strings.HasPrefix(id, strings.ToLower(a)) {
			return true
		}
	}
	return false
}

func (r *review) commit(m *store.Meta, w *store.BaselineWriter) error {
	if r.unaccepted() > 0 && !r.hold {
		return errRefused
	}
	if len(r.pending) == 0 {
		return nil
	}
	// The audit events are published with the baseline, in one
	// transaction: a kill in between cannot lose them.
	audits, err := r.audit(*m)
	if err != nil {
		return err
	}
	w.EnqueueOnCommit(r.maxOutbox, audits...)
	rv := &store.Review{By: r.by}
	for _, p := range r.pending {
		f := store.ReviewedFinding{ID: p.id, Rule: p.Verdict.RuleID, Severity: p.Verdict.Severity.String(), Subject: subject(p.Finding)}
		if p.accepted {
			rv.Accepted = append(rv.Accepted, f)
			rv.Reason = r.reason
		} else {
			rv.Held = append(rv.Held, f)
		}
	}
	m.Review = rv
	return nil
}

func (r *review) unaccepted() int { return len(r.held()) }

func (r *review) held() []pendingFinding {
	var out []pendingFinding
	for _, p := range r.pending {
		if !p.accepted {
			out = append(out, p)
		}
	}
	return out
}

// unmatched are the --accept arguments that matched no pending finding.
func (r *review) unmatched() []string {
	var out []string
	for _, a := range r.accepts {
		found := false
		for _, p := range r.pending {
			found = found || strings.HasPrefix(p.id, strings.ToLower(a))
		}
		if !found {
			out = append(out, a)
		}
	}
	return out
}

// print lists the findings that needed review: before a refusal, all of
// them; after a baseline was taken, what was accepted and what was held.
func (r *review) print(w io.Writer, taken bool) {
	if len(r.pending) == 0 {
		return
	}
	if !taken {
		fmt.Fprintf(w, "%d finding(s) would be trusted by the new baseline and need review:\n", len(r.pending))
	}
	for _, p := range r.pending {
		state := "pending"
		switch {
		case p.accepted:
			state = "accepted"
		case taken:
			state = "held out"
		}
		fmt.Fprintf(w, "  %-8s %-8s %s %s %s: %s\n", state, p.Verdict.Severity, p.Verdict.RuleID, p.id, displayText(subject(p.Finding)), displayText(p.Verdict.Reason))
	}
}

// audit returns the ECS audit event of every accepted finding of the
// baseline m, for the outbox (the outputs of "webfim watch").
func (r *review) audit(m store.Meta) ([]store.OutboxEntry, error) {
	env := alert.DefaultEnv(version)
	env.RootNames = r.pol.RootNames()
	env.BaselineID, env.BaselineLabel, env.Now = m.ID, m.Label, time.Now()
	var entries []store.OutboxEntry
	for _, p := range r.pending {
		if !p.accepted {
			continue
		}
		d := alert.FindingAccepted(p.Finding, r.by, r.reason, env)
		b, err := d.Encode()
		if err != nil {
			return nil, err
		}
		entries = append(entries, store.OutboxEntry{ID: d.ID(), Doc: b})
	}
	return entries, nil
}

// subject names what a finding is about: the file's path, or the
// configuration item and its file.
func subject(f alert.Finding) string {
	if c := f.File; c != nil {
		return filepath.Join(c.Root, filepath.FromSlash(c.Path))
	}
	it := f.Item.New
	if it == nil {
		it = f.Item.Old
	}
	return fmt.Sprintf("%s %s %q in %s", it.Server, strings.ReplaceAll(it.Kind, "_", " "), it.Name, it.Source)
}
