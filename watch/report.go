package watch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"webfim/alert"
	"webfim/policy"
	"webfim/scan"
)

// Finding is one change judged by the policy, as the daemon reports it:
// an alert document, or an event document for an expected change.
type Finding struct {
	alert.Finding
	// ID is the finding's [alert.FindingID]: the same in "webfim diff
	// --format ecs", in live checks and in rescans, before and after a
	// restart.
	ID string
	// EventID is the document's event.id: ID for the first report; for a
	// reminder, ID, "-" and the unix time of the report it follows, so
	// that a reminder sent again after a crash keeps its id too.
	EventID  string
	Time     time.Time
	Baseline scan.Baseline
	// Reminder is set when the finding was reported before and is
	// reported again because the reminder interval passed.
	Reminder bool

	subject string // what it is about, for the dedupe table
}

func newFinding(f alert.Finding, now time.Time, b scan.Baseline) Finding {
	return Finding{Finding: f, ID: alert.FindingID(f), Time: now, Baseline: b, subject: subjectOf(f)}
}

// Notice kinds.
const (
	NoticeOverflow        = "overflow"         // events were lost; a rescan follows
	NoticeDegraded        = "degraded"         // a root cannot be fully watched (inotify limits)
	NoticeRestored        = "restored"         // a degraded root is fully watched again
	NoticeBaselineCreated = "baseline_created" // no baseline existed; the daemon created one
	NoticeCatchUp         = "catch_up"         // a catch-up scan of Roots started after a start
	// NoticeAttributionDegraded: an attribution mechanism (Mechanism)
	// does not work fully; Message is the exact reason, Status what runs.
	NoticeAttributionDegraded = "attribution_degraded"
	// NoticeBaselineUntrusted: Baseline is not what a trusted key signed
	// (require_signed); Message says why, changes are judged against
	// Judged.
	NoticeBaselineUntrusted = "baseline_untrusted"
	NoticeGapResolved       = "gap_resolved" // a monitoring gap (Gap) is resolved
)

// Notice is an event about the daemon itself that the SOC should see.
type Notice struct {
	Kind    string
	Roots   []string
	Message string
	// Err and Fallback describe a degraded root: the *LimitError and the
	// rescan interval replacing the watches.
	Err      error
	Fallback time.Duration
	// Mechanism and Status describe an attribution degradation.
	Mechanism, Status string
	Time              time.Time
	// Baseline and Judged: see NoticeBaselineUntrusted; Verdict is the
	// policy's (rule webfim-031).
	Baseline, Judged scan.Baseline
	Verdict          policy.Verdict
	// Gap is the monitoring gap a NoticeGapResolved is about.
	Gap *alert.Gap
}

// Sink delivers findings and notices. Emit must return only once the
// documents are durable (in the outbox): the findings are then marked
// seen and not reported again. [OutboxSink] is the implementation over
// the store's outbox and an output.Deliverer.
type Sink interface {
	Emit(ctx context.Context, findings []Finding) error
	Notice(ctx context.Context, n Notice) error
}

func (d *Daemon) notice(ctx context.Context, n Notice) {
	if n.Time.IsZero() {
		n.Time = time.Now()
	}
	if err := d.deps.Sink.Notice(ctx, n); err != nil {
		d.log.Error("cannot report notice", "kind", n.Kind, "err", err)
	}
}

// The dedupe table (the store's seen table) remembers the findings
// reported, under the key subject NUL id: the subject is what a finding
// is about ("f" NUL root NUL path for a file, "i" NUL source NUL identity
// for a server configuration item), the id its FindingID. A subject has
// one current finding: reporting another one (new content, another rule)
// forgets the earlier ones, and a check that finds the subject back to
// its baseline state (or gone, if the baseline does not know it) forgets
// them all, so that the same finding coming back is reported again.
// Keys of a directory's files share the prefix "f" NUL root NUL dir "/".
//
// Keys of webfim before FindingID (32 hex digits, no NUL) match nothing
// any more; the daily prune deletes them. After an upgrade the findings
// still present are therefore reported once more, with their new
// event.id.

// maxSubject bounds the subjects kept verbatim; a longer one (a path deep
// below its root) is kept as its SHA-256, and is then forgotten only by
// its own path's checks, not by its directory's.
const maxSubject = 4096

func fileSubject(root, rel string) string {
	return capSubject("f\x00" + root + "\x00" + rel)
}

func subjectOf(f alert.Finding) string {
	switch {
	case f.File != nil:
		return fileSubject(f.File.Root, f.File.Path)
	case f.Item != nil:
		it := f.Item.New
		if it == nil {
			it = f.Item.Old
		}
		return capSubject("i\x00" + it.Source + "\x00" + it.Identity())
	}
	return ""
}

func capSubject(s string) string {
	if len(s) <= maxSubject {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "h\x00" + hex.EncodeToString(sum[:])
}

// subjectPrefix is the prefix of the keys of a subject's findings.
func subjectPrefix(subject string) string { return subject + "\x00" }

// subtreePrefix is the prefix of the keys of the files below rel of root
// (and of root itself when rel is "").
func subtreePrefix(root, rel string) string {
	if rel == "" {
		return "f\x00" + root + "\x00"
	}
	return "f\x00" + root + "\x00" + rel + "/"
}

// itemsPrefix is the prefix of the keys of every item finding.
const itemsPrefix = "i\x00"

// subjectOfKey returns the subject part of a dedupe key.
func subjectOfKey(key string) string {
	if i := strings.LastIndexByte(key, 0); i >= 0 {
		return key[:i]
	}
	return key
}

// seenKey is the finding's dedupe key. A verdict shaped by a deploy
// window (an expected event, an alert lowered to medium) has a key of its
// own, so that the same change judged later without the window (after a
// stale window, or found again once the window is over) is reported.
func (f *Finding) seenKey() string {
	key := f.subject + "\x00" + f.ID
	if f.Verdict.Window != nil {
		key += "~window"
	}
	return key
}

// report dedupes findings against what was already reported and hands
// the new ones to the sink, then marks them seen. A crash between the
// two reports them again after the restart (at-least-once), with the same
// EventID.
func (d *Daemon) report(ctx context.Context, findings []Finding) error {
	d.reportMu.Lock()
	defer d.reportMu.Unlock()
	cfg, _, _, _ := d.snapshot()
	now := time.Now()
	var out []Finding
	inBatch := make(map[string]bool, len(findings))
	for _, f := range findings {
		key := f.seenKey()
		if inBatch[key] {
			continue
		}
		inBatch[key] = true
		seen, ok, err := d.deps.Store.Seen(key)
		if err != nil {
			return fmt.Errorf("checking whether a finding was reported: %w", err)
		}
		f.EventID = f.ID
		if ok {
			if cfg.ReminderInterval <= 0 || now.Sub(seen) < cfg.ReminderInterval {
				continue
			}
			f.Reminder = true
			f.EventID = f.ID + "-" + strconv.FormatInt(seen.Unix(), 10)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil
	}
	if err := d.emit(ctx, out); err != nil {
		return err
	}
	keys := make([]string, len(out))
	current := make(map[string]bool, len(out))
	var replaced []string
	for i, f := range out {
		keys[i] = f.seenKey()
		current[keys[i]] = true
		if !f.Reminder {
			replaced = append(replaced, subjectPrefix(f.subject))
		}
		d.metrics.alerts.WithLabelValues(f.Verdict.RuleID, f.Verdict.Kind()).Inc()
		d.logFinding(f)
	}
	// A subject has one current finding: the entries of those it replaces go.
	if len(replaced) > 0 {
		if _, err := d.deps.Store.ForgetSeenUnder(replaced, func(k string, _ time.Time) bool { return current[k] }); err != nil {
			d.log.Warn("cannot forget the findings these replace; they may be reported again if they come back", "err", err)
		}
	}
	if err := d.deps.Store.MarkSeenAll(now, keys...); err != nil {
		// Reported but not marked: reported once more later, never lost.
		d.log.Warn("cannot mark findings as reported; they may be reported again", "err", err)
	}
	return nil
}

// forgetSeen forgets the dedupe entries under prefixes, except those
// keep returns true for.
func (d *Daemon) forgetSeen(prefixes []string, keep func(key string, last time.Time) bool) {
	d.reportMu.Lock()
	defer d.reportMu.Unlock()
	if _, err := d.deps.Store.ForgetSeenUnder(prefixes, keep); err != nil {
		d.log.Warn("cannot update the dedupe table; a finding that went away and comes back may not be reported again", "err", err)
	}
}

func (d *Daemon) logFinding(f Finding) {
	attrs := []any{"rule", f.Verdict.RuleID, "severity", f.Verdict.Severity.String(), "kind", f.Verdict.Kind(), "id", f.EventID}
	if f.File != nil {
		attrs = append(attrs, "change", string(f.File.Kind), "root", f.File.Root, "path", f.File.Path)
	}
	if f.Item != nil {
		it := f.Item.New
		if it == nil {
			it = f.Item.Old
		}
		attrs = append(attrs, "change", string(f.Item.Kind), "server", it.Server, "item", it.Kind+" "+it.Name, "source", it.Source)
	}
	if f.Spawn != nil {
		attrs = append(attrs, spawnAttrs(f.Spawn)...)
	}
	d.log.Info("finding", attrs...)
}

// emit hands findings to the sink, retrying a failing outbox twice (after
// 1 s and 2 s); a final failure is counted.
func (d *Daemon) emit(ctx context.Context, fs []Finding) error {
	var err error
	for attempt, wait := 0, time.Second; attempt < 3; attempt, wait = attempt+1, wait*2 {
		if err = d.deps.Sink.Emit(ctx, fs); err == nil {
			return nil
		}
		d.log.Warn("queueing findings failed; retrying", "err", err, "in", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	d.metrics.emitErrors.Inc()
	return err
}
