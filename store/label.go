package store

import (
	"strings"
	"unicode/utf8"
)

// MaxLabelLen is the longest label of a baseline or a deploy window, and
// the longest "by" of a deploy window, in bytes: enough for a release name
// or a pipeline URL, short enough to print on one line.
const MaxLabelLen = 256

// CheckLabel reports why label cannot name a baseline or a deploy window
// (a window's label becomes the label of the baseline "deploy finish"
// takes), wrapping [ErrBadLabel]; "" (no label) is fine. A label is at most
// [MaxLabelLen] bytes of UTF-8, and neither "active" nor all digits, which
// name the active baseline and baseline ids. Other characters are allowed:
// whoever prints a label escapes what a terminal would interpret.
func CheckLabel(label string) error {
	if err := checkText("label", label); err != nil {
		return err
	}
	if label == "active" {
		return errorf(ErrBadLabel, "label %q is reserved (it names the active baseline)", label)
	}
	if label != "" && strings.Trim(label, "0123456789") == "" {
		return errorf(ErrBadLabel, "label %s is a number and would be taken for a baseline id", quote(label))
	}
	return nil
}

// CheckWindow reports why w's label or by cannot be recorded (see
// [CheckLabel]), wrapping [ErrBadLabel].
func CheckWindow(w Window) error {
	if err := CheckLabel(w.Label); err != nil {
		return err
	}
	return checkText("by", w.By)
}

// checkText applies the length and encoding rule of labels to the text
// field what.
func checkText(what, s string) error {
	if len(s) > MaxLabelLen {
		return errorf(ErrBadLabel, "%s %s... is %d bytes long; at most %d are allowed", what, quote(truncateUTF8(s, 32)), len(s), MaxLabelLen)
	}
	if !utf8.ValidString(s) {
		return errorf(ErrBadLabel, "%s %s is not valid UTF-8", what, quote(s))
	}
	return nil
}

// truncateUTF8 returns at most n bytes of s, not cutting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
