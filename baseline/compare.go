package baseline

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"slices"
	"strings"
)

// Summary counts the changes [Compare] emitted, by kind.
type Summary struct{ Added, Removed, ContentChanged, MetadataChanged, Moved int }

// Total is the number of changes.
func (s Summary) Total() int {
	return s.Added + s.Removed + s.ContentChanged + s.MetadataChanged + s.Moved
}

// ErrUnordered is wrapped when a State passed to [Compare], [Merge] or
// [MergeWalk] is not sorted.
var ErrUnordered = errors.New("state not in Root, Key order")

// Compare merges two states of the same roots and calls emit for every
// difference. Entries present on both sides are compared as they stream by
// and their changes emitted at once, in (Root, Key) order. Entries present
// on one side only are buffered until the end, where a removed and an added
// entry of the same root become one Moved change if they have the same
// (device, inode) and type, or else the same BLAKE3 of non-empty regular
// file content; each removed entry pairs at most once, in path order, so
// the result is deterministic. The moves, then the remaining removed and
// added entries, are then emitted in (Root, Key) order of their Path.
// Memory is thus proportional to the number of added and removed entries,
// not to the size of the trees.
//
// What counts as a change (see [Fields]): content (BLAKE3, known on both
// sides), size of regular files, mode, uid, gid, type, symlink target,
// mtime of non-directories, and the read error text. A directory's mtime
// and size follow its children and are not reported; ctime and inode alone
// are not reported either (chmod and back, or a restore of identical
// content, are not changes of the tree).
//
// An error from either state or from emit ends Compare with that error.
//
// old is read ahead on a goroutine of its own (a stored state has no
// callbacks, and decoding it then runs beside the walk); new is ranged
// over on the calling goroutine, so the callbacks of a live walk run there.
// Compare is [ComparePairs] of [Merge]; to compare a state with a live
// walk, [ComparePairs] of [MergeWalk] reads the old state only once.
func Compare(old, new State, emit func(Change) error) (Summary, error) {
	return ComparePairs(Merge(old, new), emit)
}

// ComparePairs calls emit for every difference of a merge of two states
// in (Root, Key) order, from [Merge] or [MergeWalk], as [Compare]
// describes. An error from pairs or from emit ends it with that error.
func ComparePairs(pairs iter.Seq2[Pair, error], emit func(Change) error) (Summary, error) {
	var sum Summary
	var removed, added []Record
	for p, err := range pairs {
		if err != nil {
			return sum, err
		}
		switch {
		case !p.HasNew:
			removed = append(removed, p.Old)
			continue
		case !p.HasOld:
			added = append(added, p.New)
			continue
		}
		fields := Fields(&p.Old, &p.New)
		if len(fields) == 0 {
			continue
		}
		ch := changed(&p, fields)
		if ch.Kind == ContentChanged {
			sum.ContentChanged++
		} else {
			sum.MetadataChanged++
		}
		if err := emit(ch); err != nil {
			return sum, err
		}
	}
	for _, ch := range pairMoves(removed, added) {
		switch ch.Kind {
		case Moved:
			sum.Moved++
		case Added:
			sum.Added++
		case Removed:
			sum.Removed++
		}
		if err := emit(ch); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// changed is the change of an entry on both sides whose fields differ.
// Its records are copied only here: most entries do not change.
func changed(p *Pair, fields []string) Change {
	o, n := p.Old, p.New
	ch := Change{Kind: MetadataChanged, Root: n.Root, Path: n.Path, Fields: fields, Old: &o, New: &n}
	if slices.Contains(fields, "content") || (o.Type == TypeFile && n.Type == TypeFile &&
		slices.Contains(fields, "size") && digestsKnown(&o, &n)) {
		ch.Kind = ContentChanged
	}
	return ch
}

// Merge joins two states of the same roots by (Root, Key): it yields
// every entry as a [Pair] of its old and new records, in order. A state
// out of order ends it with [ErrUnordered], an error of either state
// with that error (both say which state).
//
// old is read ahead on a goroutine of its own, so it must not call back
// into the caller (a stored state); new is ranged over on the goroutine
// ranging over Merge.
func Merge(old, new State) iter.Seq2[Pair, error] {
	return func(yield func(Pair, error) bool) {
		oldNext, oldStop := pullAhead(old)
		defer oldStop()
		oldSide := side{name: "old", next: oldNext}
		if err := oldSide.advance(); err != nil {
			yield(Pair{}, err)
			return
		}
		// new is ranged over (no coroutine switch per record); each of its
		// records is merged with the old entries up to it.
		var prev Record
		seen := false
		for rec, err := range new {
			if err != nil {
				yield(Pair{}, fmt.Errorf("new state: %w", err))
				return
			}
			if seen && compareRecords(&prev, &rec) >= 0 {
				yield(Pair{}, fmt.Errorf("new state: %w: %q %q comes after %q %q", ErrUnordered, rec.Root, rec.Path, prev.Root, prev.Path))
				return
			}
			prev, seen = rec, true
			for {
				c := 1
				if oldSide.ok {
					c = compareRecords(&oldSide.rec, &rec)
				}
				if c > 0 {
					if !yield(Pair{New: rec, HasNew: true}, nil) {
						return
					}
					break
				}
				p := Pair{Old: oldSide.rec, HasOld: true}
				if c == 0 {
					p.New, p.HasNew = rec, true
				}
				if !yield(p, nil) {
					return
				}
				if err := oldSide.advance(); err != nil {
					yield(Pair{}, err)
					return
				}
				if c == 0 {
					break
				}
			}
		}
		for oldSide.ok {
			if !yield(Pair{Old: oldSide.rec, HasOld: true}, nil) {
				return
			}
			if err := oldSide.advance(); err != nil {
				yield(Pair{}, err)
				return
			}
		}
	}
}

// side is one input of the merge, with an order check.
type side struct {
	name string
	next func() (Record, error, bool)
	rec  Record
	ok   bool
	seen bool
}

func (s *side) advance() error {
	prev, hadPrev := s.rec, s.seen
	rec, err, ok := s.next()
	if ok && err != nil {
		s.ok = false
		return fmt.Errorf("%s state: %w", s.name, err)
	}
	s.rec, s.ok = rec, ok
	if ok {
		if hadPrev && compareRecords(&prev, &rec) >= 0 {
			s.ok = false
			return fmt.Errorf("%s state: %w: %q %q comes after %q %q", s.name, ErrUnordered, rec.Root, rec.Path, prev.Root, prev.Path)
		}
		s.seen = true
	}
	return nil
}

func compareRecords(a, b *Record) int {
	if c := strings.Compare(a.Root, b.Root); c != 0 {
		return c
	}
	return ComparePaths(a.Path, b.Path)
}

// digestsKnown reports whether the content digests of o and n can be
// compared: both read, and of the same kind (a sampled digest of a large
// file says nothing about a full one: after a change of the large-file
// threshold, only the size is compared until the next baseline).
func digestsKnown(o, n *Record) bool {
	return o.BLAKE3 != nil && n.BLAKE3 != nil && o.Err == "" && n.Err == "" && o.Sampled == n.Sampled
}

// Fields lists what differs between two records of the same path, in a
// fixed order: "type", "content", "size", "mode", "uid", "gid", "target",
// "mtime", "error". The content of a symlink is that of its target outside
// the roots, when it was read (Linked). See [Compare] for what is deliberately left out.
func Fields(o, n *Record) []string {
	var f []string
	if o.Type != n.Type {
		f = append(f, "type")
	}
	bothFiles := o.Type == TypeFile && n.Type == TypeFile
	// A symlink to a file outside the roots carries its target's digest
	// (see [LinkedFile]): a new content there is a content change of the
	// link, even when the link itself is untouched.
	bothLinked := o.Type == TypeSymlink && n.Type == TypeSymlink && o.Linked != nil && n.Linked != nil
	if (bothFiles || bothLinked) && digestsKnown(o, n) && !bytes.Equal(o.BLAKE3, n.BLAKE3) {
		f = append(f, "content")
	}
	if bothFiles && o.Size != n.Size {
		f = append(f, "size")
	}
	if o.Mode&^fs.ModeType != n.Mode&^fs.ModeType {
		f = append(f, "mode")
	}
	if o.UID != n.UID {
		f = append(f, "uid")
	}
	if o.GID != n.GID {
		f = append(f, "gid")
	}
	if o.Target != n.Target {
		f = append(f, "target")
	}
	if o.Type != TypeDir && n.Type != TypeDir && o.Mtime != n.Mtime {
		f = append(f, "mtime")
	}
	if o.Err != n.Err {
		f = append(f, "error")
	}
	return f
}

type inodeKey struct {
	root       string
	dev, inode uint64
	typ        Type
}

type digestKey struct {
	root   string
	blake3 string
}

// pairMoves turns removed/added pairs into Moved changes (first by device
// and inode, then by content) and returns all changes sorted by Root, Key.
func pairMoves(removed, added []Record) []Change {
	paired := make([]bool, len(removed))
	pairOf := make([]int, len(added))
	for i := range pairOf {
		pairOf[i] = -1
	}
	byInode := map[inodeKey][]int{}
	for i := range removed {
		r := &removed[i]
		if r.Inode != 0 {
			k := inodeKey{r.Root, r.Dev, r.Inode, r.Type}
			byInode[k] = append(byInode[k], i)
		}
	}
	for j := range added {
		a := &added[j]
		if a.Inode == 0 {
			continue
		}
		k := inodeKey{a.Root, a.Dev, a.Inode, a.Type}
		if i, ok := takeFirst(byInode, k, paired); ok {
			pairOf[j] = i
		}
	}
	movable := func(r *Record) bool {
		return r.Type == TypeFile && r.Size > 0 && r.Err == "" && len(r.BLAKE3) > 0
	}
	byDigest := map[digestKey][]int{}
	for i := range removed {
		if r := &removed[i]; !paired[i] && movable(r) {
			k := digestKey{r.Root, string(r.BLAKE3)}
			byDigest[k] = append(byDigest[k], i)
		}
	}
	for j := range added {
		if a := &added[j]; pairOf[j] < 0 && movable(a) {
			if i, ok := takeFirst(byDigest, digestKey{a.Root, string(a.BLAKE3)}, paired); ok {
				pairOf[j] = i
			}
		}
	}
	changes := make([]Change, 0, len(removed)+len(added))
	for j := range added {
		n := &added[j]
		if i := pairOf[j]; i >= 0 {
			o := &removed[i]
			changes = append(changes, Change{Kind: Moved, Root: n.Root, Path: n.Path, From: o.Path, Fields: Fields(o, n), Old: o, New: n})
		} else {
			changes = append(changes, Change{Kind: Added, Root: n.Root, Path: n.Path, New: n})
		}
	}
	for i := range removed {
		if !paired[i] {
			o := &removed[i]
			changes = append(changes, Change{Kind: Removed, Root: o.Root, Path: o.Path, Old: o})
		}
	}
	slices.SortStableFunc(changes, func(a, b Change) int {
		if c := strings.Compare(a.Root, b.Root); c != 0 {
			return c
		}
		return ComparePaths(a.Path, b.Path)
	})
	return changes
}

// takeFirst returns the first not yet paired index under k and marks it.
func takeFirst[K comparable](m map[K][]int, k K, paired []bool) (int, bool) {
	list := m[k]
	for len(list) > 0 {
		i := list[0]
		list = list[1:]
		if !paired[i] {
			m[k] = list
			paired[i] = true
			return i, true
		}
	}
	delete(m, k)
	return 0, false
}
