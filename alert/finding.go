package alert

import (
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"webfim/baseline"
	"webfim/policy"
	"webfim/serverconf"
)

// Finding is one change judged by the policy: a file change or a server
// configuration item change, and its verdict; or a server spawning a
// shell or tool. It becomes one document ([Finding.Document]) whose
// event.id is its [FindingID].
type Finding struct {
	File    *baseline.Change   // a file change, or
	Item    *serverconf.Change // a server configuration item change, or
	Spawn   *Spawn             // a server spawning a shell or tool, or
	Gap     *Gap               // a monitoring gap of the watch daemon
	Verdict policy.Verdict
	// Processes are the processes behind a file change, when process
	// attribution knows them; written as process.* fields, not part of
	// the finding id.
	Processes *FileProcesses
	// Seen says when the watch daemon saw a transient entry (a
	// baseline.Transient change) and, if known, which process wrote it.
	Seen *Seen
}

// Seen is what the watch daemon knows of an entry it saw only briefly.
type Seen struct {
	First, Last time.Time
	// Writer is the name of the process that wrote it, when known.
	Writer string
}

// Document builds the finding's ECS document ([FromFileChange] with its
// processes, [FromItemChange] or [FromSpawn]); ok is false for a finding
// without a change.
func (f Finding) Document(env Env) (d Document, ok bool) {
	switch {
	case f.File != nil:
		d := FromFileChange(*f.File, f.Verdict, env)
		fileProcessFields(d, f.File.Kind, f.Processes)
		if s := f.Seen; s != nil {
			seenFields(d, s)
		}
		return d, true
	case f.Item != nil:
		return FromItemChange(*f.Item, f.Verdict, env), true
	case f.Spawn != nil:
		return FromSpawn(*f.Spawn, f.Verdict, env), true
	case f.Gap != nil:
		return FromGap(*f.Gap, f.Verdict, env), true
	}
	return nil, false
}

// FindingID identifies a finding: what changed, where, and into what,
// under which rule. "webfim diff --format ecs", the watch daemon's live
// checks and its rescans give the same finding the same id, at any time
// and after any restart, and it is the document's event.id (so
// Elasticsearch, which uses event.id as _id, stores a finding once) and
// the key of the daemon's dedupe table.
//
// It is the hex SHA-256 of the length-prefixed concatenation of:
//
//   - files: "file", rule id, change kind, root, path, old path of a move,
//     and the entry's type and content: the BLAKE3 digest (the SHA-256 one
//     when only that is known), the target of a symlink, the size of a
//     file whose content could not be read; for a metadata change also the
//     new mode, uid and gid, which are what such a finding is about. A
//     removal is identified by the old entry. Times, inode and device are
//     left out: a chown -R, a touch or a restore of the same bytes does not
//     make a finding new; new content, a new path or a new rule does.
//   - a transient entry (baseline.Transient, watch only): as a file, plus
//     its change time, since each appearance is a finding of its own;
//   - gaps: "gap", rule id, reason and path: one finding per gap;
//   - items: "item", rule id, change kind, configuration file, item
//     identity (server, kind, scope, name) and the new item's attributes as
//     canonical JSON without the line number (an edit elsewhere in the file
//     moves the line but is not a new finding).
//   - spawns: "spawn", rule id, the host's boot id, the process's pid and
//     start time: each exec is its own finding.
//
// The processes behind a file change are not part of it: diff, which
// does not know them, gives the same id. A finding without a change has
// the empty id.
func FindingID(f Finding) string {
	rule := f.Verdict.RuleID
	switch {
	case f.File != nil:
		c := f.File
		r, state := c.New, "new"
		if r == nil {
			r, state = c.Old, "old"
		}
		if r == nil {
			return ""
		}
		parts := []string{"file", rule, string(c.Kind), c.Root, c.Path, c.From, state, r.Type.String(), contentOf(r)}
		switch c.Kind {
		case baseline.MetadataChanged:
			parts = append(parts, strconv.FormatUint(uint64(r.Mode), 8),
				strconv.FormatUint(uint64(r.UID), 10), strconv.FormatUint(uint64(r.GID), 10))
		case baseline.Transient:
			// Each appearance is its own finding, and only the watch
			// daemon sees one: its change time tells them apart.
			parts = append(parts, strconv.FormatInt(r.Ctime, 10))
		}
		return digest(parts...)
	case f.Item != nil:
		c := f.Item
		it := c.New
		if it == nil {
			it = c.Old
		}
		if it == nil {
			return ""
		}
		var state []byte
		if c.New != nil {
			n := *c.New
			n.Line = 0
			state, _ = json.Marshal(n) // map keys are sorted: canonical
		}
		return digest("item", rule, string(c.Kind), it.Source, it.Identity(), string(state))
	case f.Spawn != nil:
		return spawnID(rule, f.Spawn)
	case f.Gap != nil:
		return digest("gap", rule, f.Gap.Reason, f.Gap.Path)
	}
	return ""
}

// contentOf is what a record holds, for [FindingID].
func contentOf(r *baseline.Record) string {
	switch {
	case len(r.BLAKE3) > 0:
		return "blake3:" + hex.EncodeToString(r.BLAKE3)
	case len(r.SHA256) > 0:
		return "sha256:" + hex.EncodeToString(r.SHA256)
	case r.Type == baseline.TypeSymlink:
		return "target:" + r.Target
	case r.Type == baseline.TypeFile:
		return "unread:" + strconv.FormatInt(r.Size, 10)
	}
	return ""
}
