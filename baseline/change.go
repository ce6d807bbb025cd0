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
