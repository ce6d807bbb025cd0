package trust

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
)

// Mismatch is one difference between a signed statement and the
// statement of the baseline as it is now.
type Mismatch struct {
	// Field is the metadata field ("label", "created", "counts.files",
	// "configs", ...), "inventory", or "root" for the records of Root.
	Field string
	Root  string
	// Signed and Current say what each side holds, for people.
	Signed, Current string
}

func (m Mismatch) String() string { return m.Describe("signed") }

// Describe says what differs, calling the reference side ref ("signed",
// "recorded").
func (m Mismatch) Describe(ref string) string {
	switch m.Field {
	case "root":
		return fmt.Sprintf("root %s: %s %s, %s now", Quote(m.Root), m.Signed, ref, m.Current)
	case "inventory":
		return fmt.Sprintf("server configuration inventory: %s %s, %s now", m.Signed, ref, m.Current)
	}
	return fmt.Sprintf("metadata field %s: %s %s, now %s", m.Field, ref, m.Signed, m.Current)
}

// Compare lists the differences between a signed statement and the
// current one, metadata fields first, then the inventory, then the roots
// in order. The sequence is not compared: it is not a property of the
// content (an imported baseline keeps the one it was signed with).
func Compare(signed, current *Statement) []Mismatch {
	var out []Mismatch
	field := func(name, s, c string) {
		if s != c {
			out = append(out, Mismatch{Field: name, Signed: s, Current: c})
		}
	}
	field("created", signed.Created.UTC().Format(timeLayout), current.Created.UTC().Format(timeLayout))
	field("host", Quote(signed.Host), Quote(current.Host))
	field("label", Quote(signed.Label), Quote(current.Label))
	field("version", Quote(signed.Version), Quote(current.Version))
	field("sysroot", Quote(signed.Sysroot), Quote(current.Sysroot))
	field("full", strconv.FormatBool(signed.Full), strconv.FormatBool(current.Full))
	field("hash-all-sha256", strconv.FormatBool(signed.HashAllSHA256), strconv.FormatBool(current.HashAllSHA256))
	sc, cc := signed.Counts.fields(), current.Counts.fields()
	for i := range sc {
		field("counts."+sc[i].name, strconv.FormatInt(sc[i].value, 10), strconv.FormatInt(cc[i].value, 10))
	}
	if !slices.Equal(signed.Configs, current.Configs) {
		field("configs", quoteList(signed.Configs), quoteList(current.Configs))
	}
	// A version 1 statement signed no review: there is nothing to compare.
	if !signed.V1 && !reflect.DeepEqual(signed.Review, current.Review) {
		field("review", reviewText(signed.Review), reviewText(current.Review))
	}
	if signed.Inventory != current.Inventory {
		out = append(out, Mismatch{Field: "inventory", Signed: headText(signed.Inventory), Current: headText(current.Inventory)})
	}
	i, j := 0, 0
	for i < len(signed.Roots) || j < len(current.Roots) {
		switch {
		case j >= len(current.Roots) || (i < len(signed.Roots) && signed.Roots[i].Path < current.Roots[j].Path):
			out = append(out, Mismatch{Field: "root", Root: signed.Roots[i].Path, Signed: headText(signed.Roots[i].TreeHead), Current: "no such root"})
			i++
		case i >= len(signed.Roots) || current.Roots[j].Path < signed.Roots[i].Path:
			out = append(out, Mismatch{Field: "root", Root: current.Roots[j].Path, Signed: "no such root", Current: headText(current.Roots[j].TreeHead)})
			j++
		default:
			if signed.Roots[i].TreeHead != current.Roots[j].TreeHead {
				out = append(out, Mismatch{Field: "root", Root: signed.Roots[i].Path, Signed: headText(signed.Roots[i].TreeHead), Current: headText(current.Roots[j].TreeHead)})
			}
			i++
			j++
		}
	}
	return out
}

func headText(h TreeHead) string {
	return fmt.Sprintf("%d entries with Merkle root %s…", h.Leaves, h.Root.String()[:16])
}

func quoteList(l []string) string {
	b := []byte{'['}
	for i, s := range l {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = AppendQuoted(b, s)
	}
	return string(append(b, ']'))
}

// reviewText says what a review holds, for people: who, why, and the
// findings accepted and held (ids shortened).
func reviewText(rv *Review) string {
	if rv == nil {
		return "none"
	}
	list := func(fs []ReviewedFinding) string {
		b := []byte{'['}
		for i, f := range fs {
			if i > 0 {
				b = append(b, ", "...)
			}
			id := f.ID
			if len(id) > 12 {
				id = id[:12] + "…"
			}
			b = append(b, id...)
			b = append(b, ' ')
			b = AppendQuoted(b, f.Subject)
		}
		return string(append(b, ']'))
	}
	return fmt.Sprintf("by %s (%s) accepted %s held %s", Quote(rv.By), Quote(rv.Reason), list(rv.Accepted), list(rv.Held))
}
