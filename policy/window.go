package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DeployWindow is a window from the config file: recurring (weekdays,
// start and end "HH:MM" in a time zone) or one-off (start and end as
// RFC 3339 timestamps).
type DeployWindow struct {
	Name string `yaml:"name"`
	// Weekdays the window opens on; empty: every day. A window whose end
	// is not after its start ends on the next day (e.g. 22:00-02:00).
	Weekdays []Weekday `yaml:"weekdays,omitempty"`
	Start    string    `yaml:"start"`
	End      string    `yaml:"end"`
	// Timezone is an IANA zone name (Europe/Berlin); default UTC. Only for
	// recurring windows.
	Timezone string `yaml:"timezone,omitempty"`

	recurring        bool
	loc              *time.Location
	startMin, endMin int // minutes after midnight; endMin may be 1440 ("24:00")
	from, until      time.Time
}

// Window is a deploy window in effect: a config window or an ad-hoc window
// opened with "webfim deploy start" and kept in the database.
type Window struct {
	Label, By  string
	Start, End time.Time
	Recurring  bool
}

// String describes the window for reasons: "'v2.3.1' opened by jenkins".
func (w *Window) String() string {
	s := "'" + w.Label + "'"
	if w.Label == "" {
		s = "(unlabelled)"
	}
	switch {
	case w.By != "":
		s += " opened by " + w.By
	case w.Recurring:
		s += " (recurring, config)"
	default:
		s += " (config)"
	}
	return s
}

// Contains reports whether t is in [Start, End).
func (w *Window) Contains(t time.Time) bool {
	return !t.Before(w.Start) && t.Before(w.End)
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("want a time of day \"HH:MM\" (00:00-24:00), got %q", s)
	}
	return hh*60 + mm, nil
}

func (w *DeployWindow) validate() error {
	if strings.TrimSpace(w.Name) == "" {
		return fieldErrorf("name", "missing: every deploy window needs a name")
	}
	if w.Start == "" {
		return fieldErrorf("start", "missing")
	}
	if w.End == "" {
		return fieldErrorf("end", "missing")
	}
	if _, err := parseClock(w.Start); err != nil {
		// One-off window: RFC 3339 timestamps.
		if len(w.Weekdays) > 0 {
			return fieldErrorf("weekdays", "a one-off window (start is a date) takes no weekdays")
		}
		if w.Timezone != "" {
			return fieldErrorf("timezone", "a one-off window takes no timezone: put the offset in start and end")
		}
		var err error
		if w.from, err = time.Parse(time.RFC3339, w.Start); err != nil {
			return fieldErrorf("start", "want \"HH:MM\" (recurring) or an RFC 3339 time such as 2026-12-01T20:00:00+01:00 (one-off), got %q", w.Start)
		}
		if w.until, err = time.Parse(time.RFC3339, w.End); err != nil {
			return fieldErrorf("end", "want an RFC 3339 time such as 2026-12-01T22:00:00+01:00, got %q", w.End)
		}
		if !w.until.After(w.from) {
			return fieldErrorf("end", "end %s is not after start %s", w.End, w.Start)
		}
		return nil
	}
	w.recurring = true
	var err error
	if w.startMin, err = parseClock(w.Start); err != nil {
		return fieldErrorf("start", "%v", err)
	}
	if w.endMin, err = parseClock(w.End); err != nil {
		return fieldErrorf("end", "%v", err)
	}
	if w.startMin == 1440 {
		return fieldErrorf("start", "a window cannot start at 24:00; use 00:00")
	}
	if w.startMin == w.endMin {
		return fieldErrorf("end", "end equals start; for a whole day use start 00:00, end 24:00")
	}
	if w.Timezone == "" {
		w.loc = time.UTC
	} else if w.loc, err = time.LoadLocation(w.Timezone); err != nil || w.Timezone == "Local" {
		return fieldErrorf("timezone", "unknown time zone %q (want an IANA name such as Europe/Berlin)", w.Timezone)
	}
	return nil
}

// occurrence returns the instance of a recurring window that starts on the
// calendar day of day (in the window's zone), if the weekday matches.
func (w *DeployWindow) occurrence(y int, m time.Month, d int) (Window, bool) {
	day := time.Date(y, m, d, 0, 0, 0, 0, w.loc)
	if len(w.Weekdays) > 0 {
		ok := false
		for _, wd := range w.Weekdays {
			if time.Weekday(wd) == day.Weekday() {
				ok = true
			}
		}
		if !ok {
			return Window{}, false
		}
	}
	// time.Date resolves wall clocks in the zone: a time that does not
	// exist (spring forward) or exists twice (fall back) is mapped by the
	// zone rules, so a 01:00-03:00 window is one hour long on the day the
	// clocks jump from 02:00 to 03:00.
	start := time.Date(y, m, d, w.startMin/60, w.startMin%60, 0, 0, w.loc)
	endDay := d
	if w.endMin <= w.startMin {
		endDay++ // across midnight
	}
	end := time.Date(y, m, endDay, w.endMin/60, w.endMin%60, 0, 0, w.loc)
	return Window{Label: w.Name, Start: start, End: end, Recurring: true}, true
}

// at returns the instance of the config window containing t.
func (w *DeployWindow) at(t time.Time) (Window, bool) {
	if !w.recurring {
		win := Window{Label: w.Name, Start: w.from, End: w.until}
		return win, win.Contains(t)
	}
	lt := t.In(w.loc)
	// The instance containing t started today or, across midnight, the
	// day before (in the zone's calendar).
	for back := 0; back <= 1; back++ {
		y, m, d := lt.Date()
		if win, ok := w.occurrence(y, m, d-back); ok && win.Contains(t) {
			return win, true
		}
	}
	return Window{}, false
}

// WindowAt returns the deploy window in effect at t, or nil: ad-hoc windows
// (from the database) first, then the config windows. Among several
// overlapping windows of one kind, the one ending last wins, so the reason
// names the window that keeps changes expected longest.
func (p *Policy) WindowAt(t time.Time, adhoc []Window) *Window {
	var best *Window
	for i := range adhoc {
		if adhoc[i].Contains(t) && (best == nil || adhoc[i].End.After(best.End)) {
			w := adhoc[i]
			best = &w
		}
	}
	if best != nil {
		return best
	}
	for i := range p.DeployWindows {
		if w, ok := p.DeployWindows[i].at(t); ok && (best == nil || w.End.After(best.End)) {
			best = &w
		}
	}
	return best
}
