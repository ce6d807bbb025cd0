package alert

import (
	"fmt"
	"strings"

	"webfim/policy"
)

// Gap is a monitoring gap: part of what the watch daemon monitors that it
// cannot see, for the reason Reason, at Path (a root, a mount point; the
// database file for [GapDatabaseLost]). It is reported as an alert of rule
// webfim-020 when it opens ([FromGap]) and as an event when it is
// resolved ([GapResolved]).
type Gap struct {
	Reason string
	Path   string
	// Root is the web root the gap is in, if any.
	Root string
	// Detail says what is wrong and what to do, in one sentence.
	Detail string
}

// Gap reasons: webfim.gap.reason of the documents.
const (
	// GapBaselineLost: the database has no active baseline any more
	// (the last one was deleted): nothing can be compared.
	GapBaselineLost = "baseline_lost"
	// GapDatabaseLost: the database file is gone, replaced or damaged:
	// nothing can be compared nor queued.
	GapDatabaseLost = "database_lost"
	// GapRootMissing: a web root does not exist (deleted, renamed, a
	// symbolic link pointing nowhere) or is not a directory.
	GapRootMissing = "root_missing"
	// GapRootNotInBaseline: a configured root is not in the active
	// baseline, so its changes are not compared.
	GapRootNotInBaseline = "root_not_in_baseline"
	// GapMountNotCrossed: a file system is mounted inside a root and not
	// walked nor watched (cross_device is off and it is not excluded).
	GapMountNotCrossed = "mount_not_crossed"
	// GapWatchLimit: inotify limits leave directories of a root
	// unwatched; they are only rescanned periodically.
	GapWatchLimit = "watch_limit"
)

// Key identifies a gap: one alert per gap, however often it is seen.
func (g Gap) Key() string { return g.Reason + "\x00" + g.Path }

// FromGap builds the alert of a monitoring gap that opened.
func FromGap(g Gap, v policy.Verdict, env Env) Document {
	d := base(env)
	verdictFields(d, v)
	gapFields(d, g)
	d["event.type"] = []string{"info"}
	d["event.action"] = "monitoring-gap"
	d["event.outcome"] = "failure"
	d["message"] = message(v, "")
	d["event.id"] = FindingID(Finding{Gap: &g, Verdict: v})
	escapeInvalid(d)
	return d
}

// GapResolved builds the event saying that a monitoring gap is resolved:
// what it covers is seen again (and rescanned).
func GapResolved(g Gap, env Env) Document {
	var roots []string
	if g.Root != "" {
		roots = []string{g.Root}
	}
	where := ""
	if g.Path != "" {
		where = " at " + g.Path
	}
	d := operational(env, "monitoring-gap-resolved", fmt.Sprintf("Monitoring gap resolved (%s)%s: covered again", g.Reason, where), 0, roots)
	gapFields(d, g)
	d["event.outcome"] = "success"
	d["event.id"] = digest("monitoring-gap-resolved", g.Reason, g.Path, timestamp(env.Now))
	escapeInvalid(d)
	return d
}

func gapFields(d Document, g Gap) {
	d["event.category"] = []string{"file"}
	d["webfim.gap.reason"] = g.Reason
	d.set("webfim.gap.path", g.Path)
	d.set("webfim.gap.detail", g.Detail)
	d.set("webfim.root.path", g.Root)
	if g.Path != "" && g.Reason != GapDatabaseLost {
		d["file.path"] = g.Path
		d["file.type"] = "dir"
	}
	if g.Reason == GapDatabaseLost {
		d["file.path"] = g.Path
		d["file.type"] = "file"
	}
	if r := strings.TrimSpace(g.Detail); r != "" {
		d["event.reason"] = r
	}
}
