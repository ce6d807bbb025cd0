package watch

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"webfim/alert"
	"webfim/baseline"
)

// Sighting is what the tree saw of an entry when its events came in: an
// upload that is run and deletes itself (upload -> run -> self-delete)
// is gone before its debounce period ends, and this is then all that is
// known of it.
type Sighting struct {
	First, Last time.Time
	// Rec is the last lstat of the entry (Root and Path set); Type is 0
	// when it was gone already at its first event.
	Rec baseline.Record
	// Existed: a create or write event showed the entry. MovedAway: its
	// last event was a rename away (the new name is an entry of its own,
	// not a vanished one).
	Existed, MovedAway bool
}

// sight describes the entry root/rel from its lstat (fi nil: gone
// already).
func sight(root, rel string, fi fs.FileInfo, now time.Time) *Sighting {
	s := &Sighting{First: now, Last: now, Rec: baseline.Record{Root: root, Path: rel}, Existed: true}
	if fi == nil {
		return s
	}
	r := &s.Rec
	switch m := fi.Mode(); {
	case m.IsRegular():
		r.Type = baseline.TypeFile
	case m&fs.ModeSymlink != 0:
		r.Type = baseline.TypeSymlink
	case m.IsDir():
		r.Type = baseline.TypeDir
	default:
		r.Type = baseline.TypeOther
	}
	r.Mode, r.Size, r.Mtime = fi.Mode(), fi.Size(), fi.ModTime().UnixNano()
	r.Ctime, r.UID, r.GID, _ = statTimes(fi)
	return s
}

// mergeSightings keeps the first time of a and the last sighting of
// either.
func mergeSightings(a, b *Sighting) *Sighting {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	out := *b
	out.First = a.First
	if b.First.Before(a.First) {
		out.First = b.First
	}
	if b.Rec.Type == 0 { // gone at b: the last lstat is a's
		out.Rec = a.Rec
	}
	out.Existed = a.Existed || b.Existed
	return &out
}

// transient reports an entry seen by its events and gone before it could
// be checked, which the baseline does not know (checkPath found nothing
// to report): a baseline.Transient change with what was seen of it. The
// policy drops what is not script-type (editors' and caches' temporary
// files) and alerts on scripts (webfim-021, high).
func (c *checker) transient(root, rel string, s *Sighting) {
	if s == nil || !s.Existed || s.MovedAway {
		return
	}
	if _, err := os.Lstat(filepath.Join(root, filepath.FromSlash(rel))); !errors.Is(err, fs.ErrNotExist) {
		return // still there (checked, nothing to say) or not knowable
	}
	if ex := c.cfg.Target.Exclude; ex != nil && ex(root, rel, false) {
		return
	}
	rec := s.Rec
	if rec.Type == baseline.TypeDir {
		return // a directory's entries have sightings of their own
	}
	if rec.Type == 0 {
		rec.Type = baseline.TypeFile // known only by name: judged by it
	}
	if rec.Ctime == 0 {
		rec.Ctime = s.First.UnixNano() // tells this appearance from the next
	}
	ch := baseline.Change{Kind: baseline.Transient, Root: root, Path: rel, New: &rec}
	now := time.Now()
	procs := c.processesOf(ch) // who wrote it, if attribution saw that
	ctx := c.context(s.First)
	ctx.Writer = procs.Writer(ch.Kind)
	c.add(alert.Finding{File: &ch, Verdict: c.judge.EvaluateFile(ch, ctx),
		Seen: &alert.Seen{First: s.First, Last: s.Last}, Processes: procs}, now)
}
