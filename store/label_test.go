package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckLabel(t *testing.T) {
	long := strings.Repeat("é", MaxLabelLen/2) // exactly MaxLabelLen bytes
	for _, tc := range []struct {
		label string
		bad   string // part of the error, "" if the label is fine
	}{
		{"", ""},
		{"v2.3.1", ""},
		{"release 7 ✓", ""},
		{"1a", ""},
		{"line\nbreak\x1b[31m", ""}, // allowed, escaped when printed
		{long, ""},
		{"active", "reserved"},
		{"12", "is a number"},
		{"007", "is a number"},
		{long + "x", "257 bytes long; at most 256"},
		{"v1\xff", "not valid UTF-8"},
	} {
		err := CheckLabel(tc.label)
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("CheckLabel(%q) = %v, want nil", tc.label, err)
		case tc.bad != "" && (!errors.Is(err, ErrBadLabel) || !strings.Contains(err.Error(), tc.bad)):
			t.Errorf("CheckLabel(%q) = %v, want ErrBadLabel saying %q", tc.label, err, tc.bad)
		}
	}
	// The message of a long label shows a prefix, not the whole label, and
	// does not cut a character in two.
	err := CheckLabel(strings.Repeat("é", 200))
	if err == nil || len(err.Error()) > 120 || strings.ContainsRune(err.Error(), '\uFFFD') {
		t.Errorf("long label error: %v", err)
	}
}

// The store applies the rule itself: a caller that forgot to check cannot
// record a bad label or by.
func TestLabelRuleEnforced(t *testing.T) {
	db := openTemp(t)
	if _, err := db.Begin(Meta{Label: strings.Repeat("x", MaxLabelLen+1)}); !errors.Is(err, ErrBadLabel) {
		t.Errorf("Begin with a long label: %v, want ErrBadLabel", err)
	}
	now := time.Now()
	for _, w := range []Window{
		{Label: "12", Start: now, End: now.Add(time.Hour)},
		{Label: "ok", By: strings.Repeat("b", MaxLabelLen+1), Start: now, End: now.Add(time.Hour)},
		{By: "ci\xfe", Start: now, End: now.Add(time.Hour)},
	} {
		if _, err := db.StartWindow(w); !errors.Is(err, ErrBadLabel) {
			t.Errorf("StartWindow(label %q, by %q): %v, want ErrBadLabel", w.Label, w.By, err)
		}
	}
	if list, err := db.Windows(); err != nil || len(list) != 0 {
		t.Errorf("windows after rejected starts: %v, %v; want none", list, err)
	}
}
