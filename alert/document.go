package alert

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"webfim/baseline"
	"webfim/indicators"
	"webfim/policy"
	"webfim/serverconf"
)

// ECSVersion is the ECS version the documents conform to.
const ECSVersion = "9.4.0"

// Dataset is event.dataset of every document.
const Dataset = "webfim.alert"

// Env is what a document says about where and when it was produced.
type Env struct {
	Host          HostInfo
	AgentVersion  string
	BaselineID    uint64
	BaselineLabel string
	// Now is when the change was detected: @timestamp and event.created.
	Now time.Time
	// RootNames maps absolute root paths to their configured names.
	RootNames map[string]string
	// Owner and Group resolve ids to names (file.owner, file.group); nil
	// leaves the names out. See [OwnerNames].
	Owner func(uid uint32) string
	Group func(gid uint32) string
}

// Document is one ECS document: flat dotted field names ("file.hash.sha256")
// to values. It marshals to nested JSON objects, as ECS documents are
// written.
type Document map[string]any

// ID returns event.id.
func (d Document) ID() string {
	s, _ := d["event.id"].(string)
	return s
}

// Kind returns event.kind: "alert" or "event".
func (d Document) Kind() string {
	s, _ := d["event.kind"].(string)
	return s
}

// Encode returns the document as one line of JSON without a newline:
// dotted names expanded into nested objects, keys in order, "&", "<" and
// ">" written as themselves, invalid UTF-8 replaced by U+FFFD (the exact
// bytes of such a path are in its *_escaped field, see [FromFileChange]).
// It is the one byte form of a document: every output writes it.
func (d Document) Encode() ([]byte, error) {
	root := make(map[string]any, 16)
	for k, v := range d {
		parts := strings.Split(k, ".")
		m := root
		for i, p := range parts[:len(parts)-1] {
			switch x := m[p].(type) {
			case nil:
				child := make(map[string]any, 4)
				m[p] = child
				m = child
			case map[string]any:
				m = x
			default:
				return nil, fmt.Errorf("alert: field %q is both a value and an object", strings.Join(parts[:i+1], "."))
			}
		}
		leaf := parts[len(parts)-1]
		if _, ok := m[leaf].(map[string]any); ok {
			return nil, fmt.Errorf("alert: field %q is both a value and an object", k)
		}
		m[leaf] = v
	}
	var b bytes.Buffer
	b.Grow(2048)
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("alert: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// MarshalJSON makes json.Marshal write a document nested, as [Document.Encode]
// does (json.Marshal then also escapes "&", "<" and ">"); documents that are
// stored or sent are written by Encode.
func (d Document) MarshalJSON() ([]byte, error) { return d.Encode() }

// set stores non-empty values only, so documents carry no empty fields.
func (d Document) set(key string, v any) {
	switch x := v.(type) {
	case nil:
		return
	case string:
		if x == "" {
			return
		}
	case []string:
		if len(x) == 0 {
			return
		}
	case map[string]string:
		if len(x) == 0 {
			return
		}
	}
	d[key] = v
}

// derived are the string fields computed from another field: their exact
// bytes are in that field's escaped form.
var derived = map[string]bool{"file.name": true, "threat.indicator.name": true, "file.directory": true, "file.extension": true, "message": true, "event.reason": true}

// escapeInvalid keeps the exact bytes of string fields that are not valid
// UTF-8 (a file name on Linux is any bytes but "/" and NUL). JSON cannot
// carry them: the field itself stays readable, with U+FFFD for each bad
// byte, and a sibling under webfim.* holds the value as a Go-quoted string
// ("\xff" for the byte 0xff), which strconv.Unquote (or any reader of Go
// escapes) turns back into the exact bytes: file.path gets
// webfim.file.path_escaped, webfim.previous.path
// webfim.previous.path_escaped, and so on.
func escapeInvalid(d Document) {
	for k, v := range d {
		s, ok := v.(string)
		if !ok || derived[k] || utf8.ValidString(s) {
			continue
		}
		d["webfim."+strings.TrimPrefix(k, "webfim.")+"_escaped"] = strconv.Quote(s)
	}
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// digest derives event.id from the parts that identify a finding.
func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// base fills the fields common to all documents.
func base(env Env) Document {
	d := Document{
		"@timestamp":    timestamp(env.Now),
		"ecs.version":   ECSVersion,
		"event.created": timestamp(env.Now),
		"event.dataset": Dataset,
		"event.module":  "webfim",
		"agent.type":    "webfim",
		"agent.name":    "webfim",
	}
	d.set("agent.version", env.AgentVersion)
	h := env.Host
	d.set("host.name", h.Name)
	d.set("host.hostname", h.Hostname)
	d.set("host.id", h.ID)
	d.set("host.architecture", h.Arch)
	d.set("host.os.type", h.OS.Type)
	d.set("host.os.family", h.OS.Family)
	d.set("host.os.name", h.OS.Name)
	d.set("host.os.version", h.OS.Version)
	d.set("host.os.platform", h.OS.Platform)
	d.set("host.os.kernel", h.OS.Kernel)
	if env.BaselineID != 0 {
		d["webfim.baseline.id"] = env.BaselineID
	}
	d.set("webfim.baseline.label", env.BaselineLabel)
	return d
}

// verdictFields fills event.kind/severity/risk/reason, rule.* and threat.*.
func verdictFields(d Document, v policy.Verdict) {
	d["event.kind"] = v.Kind()
	d["event.severity"] = int(v.Severity)
	d["event.risk_score"] = v.RiskScore
	d["event.risk_score_norm"] = v.RiskScore // already on the 0-100 scale
	d.set("event.reason", v.Reason)
	if w := v.Window; w != nil {
		d.set("webfim.window.label", w.Label)
		d.set("webfim.window.by", w.By)
		if !w.Start.IsZero() {
			d["webfim.window.start"] = timestamp(w.Start)
		}
		if !w.End.IsZero() {
			d["webfim.window.end"] = timestamp(w.End)
		}
		d["webfim.window.recurring"] = w.Recurring
	}
	r, ok := policy.RuleByID(v.RuleID)
	if !ok {
		return
	}
	d["rule.id"] = r.ID
	d["rule.name"] = r.Name
	d["rule.description"] = r.Description
	d["rule.reference"] = r.References[0]
	d["rule.ruleset"] = "webfim"
	d["rule.version"] = strconv.Itoa(r.Version)
	d["rule.author"] = []string{"webfim"}
	d["rule.category"] = r.Technique.Name
	d["threat.framework"] = "MITRE ATT&CK"
	tactic := r.TacticOf()
	d["threat.tactic.id"] = []string{tactic.ID}
	d["threat.tactic.name"] = []string{tactic.Name}
	d["threat.tactic.reference"] = []string{tactic.Reference}
	d["threat.technique.id"] = []string{r.Technique.ID}
	d["threat.technique.name"] = []string{r.Technique.Name}
	d["threat.technique.reference"] = []string{r.Technique.Reference}
	if s := r.Subtechnique; s != nil {
		d["threat.technique.subtechnique.id"] = []string{s.ID}
		d["threat.technique.subtechnique.name"] = []string{s.Name}
		d["threat.technique.subtechnique.reference"] = []string{s.Reference}
	}
}

var eventTypes = map[baseline.ChangeKind]string{
	baseline.Added:           "creation",
	baseline.Removed:         "deletion",
	baseline.ContentChanged:  "change",
	baseline.MetadataChanged: "change",
	baseline.Moved:           "change",
}

// eventTypesOf is event.type of a file change.
func eventTypesOf(k baseline.ChangeKind) []string {
	if k == baseline.Transient {
		return []string{"creation", "deletion"}
	}
	if t := eventTypes[k]; t != "" {
		return []string{t}
	}
	return []string{"change"}
}

// seenFields says when the watch daemon saw a transient entry, and who
// wrote it when that is known.
func seenFields(d Document, s *Seen) {
	if !s.First.IsZero() {
		d["event.start"] = timestamp(s.First)
	}
	if !s.Last.IsZero() {
		d["event.end"] = timestamp(s.Last)
	}
	d.set("process.name", s.Writer)
}

// absPath joins a root and a slash-separated relative path.
func absPath(root, rel string) string {
	if rel == "" {
		return root
	}
	return filepath.Join(root, filepath.FromSlash(rel))
}

// fileMode renders permissions and the setuid/setgid/sticky bits as the
// octal string ECS file.mode expects ("0644", "4755").
func fileMode(m uint32, setuid, setgid, sticky bool) string {
	if setuid {
		m |= 0o4000
	}
	if setgid {
		m |= 0o2000
	}
	if sticky {
		m |= 0o1000
	}
	return fmt.Sprintf("%04o", m)
}

func recordMode(r *baseline.Record) string {
	return fileMode(uint32(r.Mode.Perm()), r.Mode&fs.ModeSetuid != 0, r.Mode&fs.ModeSetgid != 0, r.Mode&fs.ModeSticky != 0)
}

// recordFields writes the ECS-shaped fields of a record under prefix
// ("file." or "webfim.previous.").
func recordFields(d Document, prefix string, r *baseline.Record, abs string, env Env) {
	d.set(prefix+"path", abs)
	if prefix == "file." {
		base := filepath.Base(abs)
		d.set("file.name", base)
		d.set("file.directory", filepath.Dir(abs))
		if ext := strings.TrimPrefix(path.Ext(base), "."); ext != "" && r.Type == baseline.TypeFile {
			d["file.extension"] = ext
		}
	}
	d[prefix+"type"] = r.Type.String()
	if r.Type == baseline.TypeFile {
		d[prefix+"size"] = r.Size
	}
	d[prefix+"mode"] = recordMode(r)
	d[prefix+"uid"] = strconv.FormatUint(uint64(r.UID), 10)
	d[prefix+"gid"] = strconv.FormatUint(uint64(r.GID), 10)
	if env.Owner != nil {
		d.set(prefix+"owner", env.Owner(r.UID))
	}
	if env.Group != nil {
		d.set(prefix+"group", env.Group(r.GID))
	}
	if r.Inode != 0 {
		d[prefix+"inode"] = strconv.FormatUint(r.Inode, 10)
	}
	if r.Mtime != 0 {
		d[prefix+"mtime"] = timestamp(time.Unix(0, r.Mtime))
	}
	if r.Ctime != 0 {
		d[prefix+"ctime"] = timestamp(time.Unix(0, r.Ctime))
	}
	d.set(prefix+"target_path", r.Target)
	if len(r.SHA256) > 0 {
		d[prefix+"hash.sha256"] = hex.EncodeToString(r.SHA256)
	}
	if len(r.BLAKE3) > 0 {
		d[prefix+"hash.blake3"] = hex.EncodeToString(r.BLAKE3)
	}
	errKey, unstableKey := "webfim.file.error", "webfim.file.unstable"
	if prefix != "file." {
		errKey, unstableKey = prefix+"error", prefix+"unstable"
	}
	d.set(errKey, r.Err)
	if r.Unstable {
		d[unstableKey] = true
	}
}

func relatedHashes(recs ...*baseline.Record) []string {
	var out []string
	for _, r := range recs {
		if r == nil {
			continue
		}
		for _, h := range [][]byte{r.SHA256, r.BLAKE3} {
			if s := hex.EncodeToString(h); s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

func kindAction(kind string) string { return strings.ReplaceAll(kind, "_", "-") }

// message is the one readable sentence of a document; subject is empty
// when the reason already names it.
func message(v policy.Verdict, subject string) string {
	if subject != "" {
		subject += ": "
	}
	if v.Alert {
		sev := v.Severity.String()
		return fmt.Sprintf("%s%s alert %s (%s): %s%s", strings.ToUpper(sev[:1]), sev[1:], v.RuleID, v.RuleName, subject, v.Reason)
	}
	return fmt.Sprintf("Expected change (%s): %s%s", v.RuleID, subject, v.Reason)
}

// FromFileChange builds the document of a change of a file system entry.
func FromFileChange(c baseline.Change, v policy.Verdict, env Env) Document {
	d := base(env)
	verdictFields(d, v)
	rec := c.New
	if rec == nil {
		rec = c.Old
	}
	if rec == nil {
		rec = &baseline.Record{}
	}
	abs := absPath(c.Root, c.Path)
	d["event.category"] = []string{"file"}
	d["event.type"] = eventTypesOf(c.Kind)
	d["event.action"] = "file-" + kindAction(string(c.Kind))
	recordFields(d, "file.", rec, abs, env)
	if c.Old != nil && c.New != nil {
		prevPath := abs
		if c.From != "" {
			prevPath = absPath(c.Root, c.From)
		}
		recordFields(d, "webfim.previous.", c.Old, prevPath, env)
	}
	d["webfim.change.kind"] = string(c.Kind)
	d.set("webfim.change.fields", c.Fields)
	d.set("webfim.root.path", c.Root)
	d.set("webfim.root.name", env.RootNames[c.Root])
	d.set("related.hash", relatedHashes(c.New, c.Old))
	indicatorFields(d, c, abs)
	contentFields(d, c, v)
	d["message"] = message(v, abs)

	d["event.id"] = FindingID(Finding{File: &c, Verdict: v})
	escapeInvalid(d)
	return d
}

// contentFields says what the policy concluded from the content and the
// timestamps of a file: the script family sniffed from its first bytes
// when its name does not make it a script, and a forged mtime.
func contentFields(d Document, c baseline.Change, v policy.Verdict) {
	if n := c.New; n != nil && n.Sniffed && n.ContentFamily != indicators.FamilyNone && c.Kind != baseline.Removed {
		d["webfim.file.content_family"] = n.ContentFamily.String()
	}
	if v.Timestomped {
		d["webfim.file.timestomped"] = true
	}
}

func itemFields(d Document, prefix string, it *serverconf.Item) {
	d.set(prefix+"server", it.Server)
	d.set(prefix+"kind", it.Kind)
	d.set(prefix+"name", it.Name)
	d.set(prefix+"image", it.Image)
	d.set(prefix+"type", it.Type)
	d.set(prefix+"scope", it.Scope)
	d.set(prefix+"source", it.Source)
	if it.Line > 0 {
		d[prefix+"line"] = it.Line
	}
	d.set(prefix+"attrs", it.Attrs)
	d.set(prefix+"image_blake3", it.ImageBLAKE3)
}

// FromItemChange builds the document of a server configuration inventory
// change.
func FromItemChange(c serverconf.Change, v policy.Verdict, env Env) Document {
	d := base(env)
	verdictFields(d, v)
	it := c.New
	if it == nil {
		it = c.Old
	}
	if it == nil {
		it = &serverconf.Item{}
	}
	typ := map[serverconf.ChangeKind]string{serverconf.ItemAdded: "creation", serverconf.ItemRemoved: "deletion"}[c.Kind]
	if typ == "" {
		typ = "change"
	}
	d["event.category"] = []string{"configuration", "file"}
	d["event.type"] = []string{typ}
	d["event.action"] = kindAction(it.Kind) + "-" + string(c.Kind)
	if it.Source != "" && !serverconf.IsLiveRegistry(it.Source) {
		d["file.path"] = it.Source
		d["file.name"] = filepath.Base(it.Source)
		d["file.directory"] = filepath.Dir(it.Source)
		if ext := strings.TrimPrefix(path.Ext(it.Source), "."); ext != "" {
			d["file.extension"] = ext
		}
		d["file.type"] = "file"
	}
	if it.Server == "registry" {
		registryFields(d, it)
	}
	if c.New != nil {
		itemFields(d, "webfim.item.", c.New)
	}
	if c.Old != nil {
		itemFields(d, "webfim.previous_item.", c.Old)
	}
	d["webfim.change.kind"] = string(c.Kind)
	d.set("webfim.change.fields", c.Fields)
	d.set("webfim.change.note", c.Note)
	var hashes []string
	for _, x := range []*serverconf.Item{c.New, c.Old} {
		if x != nil && x.ImageBLAKE3 != "" && !slices.Contains(hashes, x.ImageBLAKE3) {
			hashes = append(hashes, x.ImageBLAKE3)
		}
	}
	d.set("related.hash", hashes)
	d["message"] = message(v, "")

	d["event.id"] = FindingID(Finding{Item: &c, Verdict: v})
	escapeInvalid(d)
	return d
}

// FindingAccepted is the audit event of a finding that a user accepted
// into a new baseline (deploy finish --accept): the finding's document,
// as an event of kind "event" with action "finding-accepted", saying who
// accepted it, why, and into which baseline (env.BaselineID). Its
// event.id derives from the finding's and the baseline's, so that a
// retry enqueues the same document.
func FindingAccepted(f Finding, by, reason string, env Env) Document {
	var d Document
	if f.File != nil {
		d = FromFileChange(*f.File, f.Verdict, env)
	} else {
		d = FromItemChange(*f.Item, f.Verdict, env)
	}
	id := d.ID()
	d["event.kind"] = "event"
	d["event.category"] = []string{"configuration"}
	d["event.type"] = []string{"change"}
	d["event.action"] = "finding-accepted"
	d["event.outcome"] = "success"
	d["webfim.review.finding_id"] = id
	d.set("webfim.review.reason", reason)
	d.set("user.name", by)
	d["event.id"] = digest("accepted", id, strconv.FormatUint(env.BaselineID, 10))
	d["message"] = fmt.Sprintf("Finding %s (%s, %s) accepted into baseline %d by %s: %s; it was: %s",
		id, f.Verdict.RuleID, f.Verdict.Severity, env.BaselineID, by, reason, d["message"])
	escapeInvalid(d)
	return d
}

// operational builds an event.kind "event" document about the daemon itself.
func operational(env Env, action, msg string, severity int, roots []string) Document {
	d := base(env)
	d["event.kind"] = "event"
	d["event.category"] = []string{"file"}
	d["event.type"] = []string{"info"}
	d["event.action"] = action
	d["event.severity"] = severity
	d["message"] = msg
	d.set("webfim.roots", roots)
	d["event.id"] = digest(action, strings.Join(roots, "\x00"), timestamp(env.Now))
	return d
}

// RescanAfterOverflow says the kernel event queue overflowed, so events
// may have been lost, and the roots are being rescanned.
func RescanAfterOverflow(roots []string, env Env) Document {
	d := operational(env, "rescan-after-overflow",
		fmt.Sprintf("File event queue overflowed; rescanning %s to catch missed changes", strings.Join(roots, ", ")), 2, roots)
	d["event.reason"] = "file system event queue overflow"
	return d
}

// WatchLimitReached says a root could not be watched completely because
// the inotify watch limit (or open files limit) was reached; the root falls
// back to periodic rescans.
func WatchLimitReached(root string, cause error, fallback time.Duration, env Env) Document {
	msg := fmt.Sprintf("Cannot watch all directories of %s: %v; raise fs.inotify.max_user_watches (sysctl). Falling back to rescans every %s", root, cause, fallback)
	d := operational(env, "watch-limit-reached", msg, 3, []string{root})
	d["event.outcome"] = "failure"
	d["event.reason"] = "inotify watch limit reached (fs.inotify.max_user_watches)"
	if cause != nil {
		d["error.message"] = cause.Error()
	}
	return d
}

// WatchRestored says a root that could not be watched completely (see
// [WatchLimitReached]) is watched in full again, after the limit was
// raised; it is rescanned once.
func WatchRestored(root string, env Env) Document {
	d := operational(env, "watch-restored",
		fmt.Sprintf("All directories of %s are watched again (the inotify limit was raised); rescanning it once", root), 0, []string{root})
	d["event.outcome"] = "success"
	return d
}

// CatchUpStarted says the daemon is diffing the roots against the active
// baseline to report what changed while it was not running.
func CatchUpStarted(roots []string, env Env) Document {
	return operational(env, "catch-up-started",
		fmt.Sprintf("Catch-up scan started: reporting changes made to %s while webfim was not watching", strings.Join(roots, ", ")), 0, roots)
}

// OutboxDropped says undelivered documents were dropped because the
// outbox was full.
func OutboxDropped(dropped int, env Env) Document {
	d := operational(env, "outbox-dropped",
		fmt.Sprintf("Outbox full: dropped the %d oldest undelivered alert document(s)", dropped), 3, nil)
	d["event.outcome"] = "failure"
	d["webfim.outbox.dropped"] = dropped
	return d
}
