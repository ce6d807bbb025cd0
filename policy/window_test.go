package policy

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// mustParse decodes the policy keys of a config file as package config
// does (strictly, over the defaults) and validates them.
func mustParse(t testing.TB, yml string) *Policy {
	t.Helper()
	p := Default()
	dec := yaml.NewDecoder(strings.NewReader(yml))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("decode: %v", err)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return p
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func windowConfig(weekdays, start, end, tz string) string {
	s := "deploy_windows:\n  - name: w\n    start: \"" + start + "\"\n    end: \"" + end + "\"\n"
	if weekdays != "" {
		s += "    weekdays: [" + weekdays + "]\n"
	}
	if tz != "" {
		s += "    timezone: " + tz + "\n"
	}
	return s
}

func TestRecurringWindows(t *testing.T) {
	tests := []struct {
		name                     string
		weekdays, start, end, tz string
		at                       string // UTC instant
		in                       bool
	}{
		// 2026-11-27 is a Friday; Berlin is UTC+1 in November.
		{"across midnight, before start", "fri", "22:00", "02:00", "Europe/Berlin", "2026-11-27T20:59:00Z", false},
		{"across midnight, at start", "fri", "22:00", "02:00", "Europe/Berlin", "2026-11-27T21:00:00Z", true},
		{"across midnight, after midnight", "fri", "22:00", "02:00", "Europe/Berlin", "2026-11-28T00:30:00Z", true},
		{"across midnight, end is exclusive", "fri", "22:00", "02:00", "Europe/Berlin", "2026-11-28T01:00:00Z", false},
		{"across midnight, wrong opening day", "fri", "22:00", "02:00", "Europe/Berlin", "2026-11-26T21:30:00Z", false},
		{"across midnight, Saturday night is not Friday's", "fri", "22:00", "02:00", "Europe/Berlin", "2026-11-28T21:30:00Z", false},
		{"zone matters: same wall clock in UTC", "fri", "22:00", "02:00", "", "2026-11-27T21:30:00Z", false},
		{"UTC default zone", "fri", "22:00", "02:00", "", "2026-11-27T22:30:00Z", true},
		{"every day when no weekdays", "", "09:00", "10:00", "UTC", "2026-11-29T09:59:59Z", true},
		{"whole day with 24:00", "thu", "00:00", "24:00", "UTC", "2026-11-26T23:59:59Z", true},
		{"whole day ends at midnight", "thu", "00:00", "24:00", "UTC", "2026-11-27T00:00:00Z", false},

		// Europe/Berlin springs forward on 2026-03-29 02:00 CET -> 03:00 CEST:
		// a 01:00-03:00 window lasts one hour, 00:00Z-01:00Z.
		{"Berlin spring forward, 01:30 CET", "", "01:00", "03:00", "Europe/Berlin", "2026-03-29T00:30:00Z", true},
		{"Berlin spring forward, 03:00 CEST is the end", "", "01:00", "03:00", "Europe/Berlin", "2026-03-29T01:00:00Z", false},
		{"Berlin spring forward, day before is CET", "", "01:00", "03:00", "Europe/Berlin", "2026-03-28T01:30:00Z", true},
		// A start inside the gap is read with the offset before the jump:
		// 02:30 CET does not exist and becomes 03:30 CEST (01:30Z).
		{"Berlin window starting in the gap, before", "", "02:30", "04:00", "Europe/Berlin", "2026-03-29T01:15:00Z", false},
		{"Berlin window starting in the gap, after", "", "02:30", "04:00", "Europe/Berlin", "2026-03-29T01:30:00Z", true},
		// Europe/Berlin falls back on 2026-10-25 03:00 CEST -> 02:00 CET:
		// a 01:00-03:00 window lasts three hours, 23:00Z-02:00Z.
		{"Berlin fall back, 01:00 CEST start", "", "01:00", "03:00", "Europe/Berlin", "2026-10-24T23:00:00Z", true},
		{"Berlin fall back, first 02:30 (CEST)", "", "01:00", "03:00", "Europe/Berlin", "2026-10-25T00:30:00Z", true},
		{"Berlin fall back, second 02:30 (CET)", "", "01:00", "03:00", "Europe/Berlin", "2026-10-25T01:30:00Z", true},
		{"Berlin fall back, 03:00 CET is the end", "", "01:00", "03:00", "Europe/Berlin", "2026-10-25T02:00:00Z", false},

		// America/New_York springs forward on 2026-03-08 02:00 EST -> 03:00 EDT.
		{"New York spring forward, 01:30 EST", "", "01:00", "03:00", "America/New_York", "2026-03-08T06:30:00Z", true},
		{"New York spring forward, 03:00 EDT is the end", "", "01:00", "03:00", "America/New_York", "2026-03-08T07:00:00Z", false},
		{"New York across midnight into DST", "sat", "23:00", "04:00", "America/New_York", "2026-03-08T07:30:00Z", true},
		{"New York across midnight into DST, 04:00 EDT is the end", "sat", "23:00", "04:00", "America/New_York", "2026-03-08T08:00:00Z", false},
		// America/New_York falls back on 2026-11-01 02:00 EDT -> 01:00 EST:
		// a 01:00-02:00 window lasts two hours, 05:00Z-07:00Z.
		{"New York fall back, first 01:30 (EDT)", "", "01:00", "02:00", "America/New_York", "2026-11-01T05:30:00Z", true},
		{"New York fall back, second 01:30 (EST)", "", "01:00", "02:00", "America/New_York", "2026-11-01T06:30:00Z", true},
		{"New York fall back, 02:00 EST is the end", "", "01:00", "02:00", "America/New_York", "2026-11-01T07:00:00Z", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, windowConfig(tt.weekdays, tt.start, tt.end, tt.tz))
			w := p.WindowAt(utc(tt.at), nil)
			if (w != nil) != tt.in {
				t.Fatalf("WindowAt(%s) = %v, want inside=%v", tt.at, w, tt.in)
			}
			if w != nil && (!w.Recurring || w.Label != "w" || !w.Contains(utc(tt.at))) {
				t.Errorf("window = %+v", w)
			}
		})
	}
}

func TestWindowLengthAcrossDST(t *testing.T) {
	tests := []struct {
		tz, day string
		want    time.Duration
	}{
		{"Europe/Berlin", "2026-03-29T00:30:00Z", time.Hour},
		{"Europe/Berlin", "2026-10-25T00:30:00Z", 3 * time.Hour},
		{"Europe/Berlin", "2026-06-01T00:30:00Z", 2 * time.Hour},
		{"America/New_York", "2026-03-08T06:30:00Z", time.Hour},
	}
	for _, tt := range tests {
		p := mustParse(t, windowConfig("", "01:00", "03:00", tt.tz))
		w := p.WindowAt(utc(tt.day), nil)
		if w == nil {
			t.Fatalf("%s %s: no window", tt.tz, tt.day)
		}
		if got := w.End.Sub(w.Start); got != tt.want {
			t.Errorf("%s %s: window lasts %v, want %v", tt.tz, tt.day, got, tt.want)
		}
	}
}

func TestOneOffAndOverlappingWindows(t *testing.T) {
	p := mustParse(t, `
deploy_windows:
  - name: short
    start: "20:00"
    end: "21:00"
  - name: long
    start: "19:00"
    end: "23:00"
  - name: migration
    start: 2026-12-01T20:00:00+01:00
    end: 2026-12-02T02:00:00+01:00
`)
	adhoc := []Window{
		{Label: "v2.3.1", By: "jenkins", Start: utc("2026-11-26T20:30:00Z"), End: utc("2026-11-26T20:40:00Z")},
		{Label: "v2.3.2", By: "gitlab", Start: utc("2026-11-26T20:35:00Z"), End: utc("2026-11-26T20:50:00Z")},
	}
	tests := []struct {
		at, want string
	}{
		{"2026-11-26T18:59:00Z", ""},
		{"2026-11-26T19:30:00Z", "long"},
		{"2026-11-26T20:15:00Z", "long"},   // both config windows: the one ending last
		{"2026-11-26T20:31:00Z", "v2.3.1"}, // ad-hoc wins over config
		{"2026-11-26T20:36:00Z", "v2.3.2"}, // overlapping ad-hoc: ends last
		{"2026-11-26T20:45:00Z", "v2.3.2"},
		{"2026-12-01T19:00:00Z", "migration"},
		{"2026-12-02T00:59:00Z", "migration"},
		{"2026-12-02T01:00:00Z", ""},
	}
	for _, tt := range tests {
		w := p.WindowAt(utc(tt.at), adhoc)
		got := ""
		if w != nil {
			got = w.Label
		}
		if got != tt.want {
			t.Errorf("WindowAt(%s) = %q, want %q", tt.at, got, tt.want)
		}
	}
	w := p.WindowAt(utc("2026-11-26T20:31:00Z"), adhoc)
	if s := w.String(); s != "'v2.3.1' opened by jenkins" {
		t.Errorf("String() = %q", s)
	}
}
