package baseline

import (
	"bytes"

	"webfim/indicators"
)

// contentScan is the web-shell indicator scan of the hashing pass
// ([Options.Indicators]): the bytes a hasher reads are handed to an
// [indicators.Scanner] as well, so a file is read once for both. A file
// that fits in the read buffer (every script but a few) is scanned in
// place once it has been hashed, and only if its content is new: unlike
// its previous record's, or without one. A larger file is fed as it is
// read (the scanner keeps a bounded prefix and tail) and scanned at the
// end under the same condition.
//
// The family comes from the name ([indicators.FamilyOf], every extension
// of a multi-extension name). Files without a script extension are not
// scanned here: deciding by content that a file is a script (sniffing) is
// the hashing pass's job for deploy review (issue 10), and its family is
// what [contentScan.begin] will take for such a file.
type contentScan struct {
	s   *indicators.Scanner // nil: no indicator scan
	fam indicators.Family
	on  bool // this file may be scanned
	fed bool // part of it was handed to the scanner (it did not fit in the buffer)
}

func newContentScan(e *indicators.Engine) contentScan {
	if e == nil {
		return contentScan{}
	}
	return contentScan{s: e.NewScanner()}
}

// begin starts a read of the file named name (the last path element).
func (c *contentScan) begin(name string) {
	c.on, c.fed = false, false
	if c.s != nil {
		c.fam = indicators.FamilyOf(name)
		c.on = c.fam != indicators.FamilyNone
	}
}

// sniffed turns the scan on for a file whose name gave no script family
// but whose first bytes look like fam's code (a PHP payload saved as
// pic.jpg): such content is what the engine is for. It must be called
// before the first feed.
func (c *contentScan) sniffed(fam indicators.Family) {
	if c.s != nil && !c.on && !c.fed && fam != indicators.FamilyNone {
		c.fam, c.on = fam, true
	}
}

// feed hands over a full read buffer, p, before it is reused.
func (c *contentScan) feed(p []byte) {
	if !c.on {
		return
	}
	if !c.fed {
		c.s.Reset(c.fam)
		c.fed = true
	}
	c.s.Write(p)
}

// result returns the verdict on the file, whose last unfed bytes are
// rest, if its content is new with respect to prev (nil: the file is
// new) given its digest b3; nil if the file is not scanned.
func (c *contentScan) result(rest []byte, prev *Record, b3 []byte) *indicators.Result {
	if !c.on {
		return nil
	}
	c.on = false
	if prev != nil && prev.Type == TypeFile && prev.Err == "" && !prev.Unstable && bytes.Equal(prev.BLAKE3, b3) {
		return nil // the same content: its indicators have not changed
	}
	if !c.fed {
		c.s.ResetSize(c.fam, int64(len(rest))) // the whole file, scanned in place
	}
	c.s.Write(rest)
	res := c.s.Result()
	if res.Family == indicators.FamilyNone {
		return nil
	}
	return &res
}
