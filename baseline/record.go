package baseline

import (
	"bytes"
	"io/fs"
	"strings"

	"webfim/indicators"
)

// Type is the kind of a file system entry.
type Type uint8

// Entry types. Values are part of the on-disk encoding: never renumber.
const (
	TypeFile    Type = 1
	TypeDir     Type = 2
	TypeSymlink Type = 3
	TypeOther   Type = 4 // FIFO, socket, device: recorded, never opened
)

func (t Type) String() string {
	switch t {
	case TypeFile:
		return "file"
	case TypeDir:
		return "dir"
	case TypeSymlink:
		return "symlink"
	case TypeOther:
		return "other"
	}
	return "unknown"
}

// Record is what a baseline knows of one entry under a root.
type Record struct {
	// Root is the absolute path of the web root the entry belongs to.
	// It is not part of the encoded record: the store keys records by root.
	Root string
	// Path is the slash-separated path relative to Root, as raw bytes:
	// it may hold invalid UTF-8 and newlines.
	Path   string
	Type   Type
	Mode   fs.FileMode
	Size   int64
	UID    uint32
	GID    uint32
	Mtime  int64 // ns since the Unix epoch
	Ctime  int64 // ns since the Unix epoch; on Windows the change time is not available and is 0
	Inode  uint64
	Dev    uint64
	Target string // symlink target, raw bytes

	BLAKE3 []byte // 32 bytes for regular files that were read, else nil
	SHA256 []byte // 32 bytes for script-type files (or all files with --hash-all-sha256), else nil

	// Err says why the content could not be read (permission denied,
	// vanished during the walk); the metadata fields hold what stat saw.
	Err string
	// Unstable is set when the file changed while it was hashed, twice.
	Unstable bool

	// Indicators are the web-shell indicators found in the content of a
	// file read with [Options.Indicators] whose content was new; nil when
	// it was not scanned (not a script, content unchanged, or no scan).
	// Like Root, it is not part of the encoded record: it is a property
	// of the content, judged when the content appears.
	Indicators *indicators.Result
	// Sampled is set when the file was larger than the large-file
	// threshold: BLAKE3 is then the digest of its size and a bounded head
	// and tail ([SampleSize] bytes each), not of its whole content, and
	// there is no SHA256 (see docs/baseline.md, "Large and sparse files").
	Sampled bool
	// Sniffed is set when the first bytes of the content were examined
	// while it was hashed (in the same read): then ContentFamily is the
	// script family they look like ([indicators.Sniff]; FamilyNone: not
	// a script by content), and RestrictsOnly says, for a per-directory
	// server configuration (.htaccess, .user.ini), that its directives
	// only restrict ([serverconf.RestrictsOnly]). Records of entries that
	// were not read, and of webfim versions before sniffing, have it
	// unset: their content is unknown, not harmless.
	Sniffed       bool
	ContentFamily indicators.Family
	RestrictsOnly bool
	// Linked describes, for a symlink whose target is a regular file
	// outside every root, that file as it was read; BLAKE3, SHA256 and
	// the sniffing fields are then those of its content, so that a change
	// of the target is a content change of the link. Nil otherwise.
	Linked *LinkedFile
}

// LinkedFile is the stat of the file a symlink points to outside the
// roots: what the incremental rule compares to reuse its digests.
type LinkedFile struct {
	Size         int64
	Mtime, Ctime int64 // ns since the Unix epoch
	Inode, Dev   uint64
}

// Key returns the sort and lookup key of a relative path: its components
// joined by NUL. Because NUL sorts before every other byte, the keys of a
// depth-first walk that visits names in byte order come out sorted
// ("a", "a/b", "a.b"), which lets [Compare] merge two states in one pass.
func Key(path string) []byte {
	return AppendKey(make([]byte, 0, len(path)), path)
}

// AppendKey appends [Key] of path to b.
func AppendKey(b []byte, path string) []byte {
	n := len(b)
	b = append(b, path...)
	for i := n; i < len(b); i++ {
		if b[i] == '/' {
			b[i] = 0
		}
	}
	return b
}

// PathOfKey is the inverse of [Key].
func PathOfKey(key []byte) string {
	// One allocation (the result), where a conversion plus a replacement
	// would cost two: this runs once per record read from a store.
	var sb strings.Builder
	sb.Grow(len(key))
	for {
		i := bytes.IndexByte(key, 0)
		if i < 0 {
			sb.Write(key)
			return sb.String()
		}
		sb.Write(key[:i])
		sb.WriteByte('/')
		key = key[i+1:]
	}
}
