package baseline

// ChangeKind says how an entry differs between two states.
type ChangeKind string

// Change kinds. The strings are part of the JSON/NDJSON output schema.
const (
	Added           ChangeKind = "added"
	Removed         ChangeKind = "removed"
	ContentChanged  ChangeKind = "content_changed"
	MetadataChanged ChangeKind = "metadata_changed"
	Moved           ChangeKind = "moved"
	// Transient is never produced by a comparison of two states: the
	// watch daemon reports it for an entry it saw appear (New holds what
	// it saw) that was gone again before it could be checked, and that
	// neither state holds.
	Transient ChangeKind = "transient"
)

// Change is one difference between an old and a new state of a root.
type Change struct {
	Kind ChangeKind
	Root string
	Path string // the new path; for Removed the old one
	// From is the old path of a Moved entry.
	From string
	// Fields names what differs for ContentChanged, MetadataChanged and
	// Moved, in this order: "type", "content", "size", "mode", "uid",
	// "gid", "target", "mtime", "error" (see [Fields]).
	Fields []string
	Old    *Record // nil for Added
	New    *Record // nil for Removed
}
