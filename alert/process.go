package alert

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"webfim/baseline"
	"webfim/policy"
	"webfim/proc"
)

// Process attribution (Linux, package attribution) adds to a file
// finding the processes that created and last wrote the file, and makes
// findings of its own: a server spawning a shell or a reconnaissance
// tool ([Spawn]). The processes are written as ECS process.* fields; they
// are not part of a finding's id, so "webfim diff" (which knows no
// writers) and the daemon agree on it.

// Actor is a process that acted on a file, as attribution learned it.
type Actor struct {
	// PID is the process as the kernel reported it, always set; Process
	// is what was learned of it, nil when nothing could be (it exited
	// before any exec source saw it).
	PID     int32
	Process *proc.Process
	// Parent is its parent's snapshot, nil when unknown.
	Parent *proc.Process
	// Op is what it did: create, write, rename or delete.
	Op string
	// Server is the web, application or database server the process is or
	// runs below (nil when neither) and ServerKind its kind ("web server").
	Server     *proc.Process
	ServerKind string
}

// FileProcesses are the processes behind a file change.
type FileProcesses struct {
	// Created made the name appear (create, or rename into place),
	// Written last wrote the content, Removed deleted it or renamed it
	// away; nil when unknown.
	Created, Written, Removed *Actor
	// LineageID links the file to a server-spawn finding ([Spawn]) whose
	// process chain wrote it, or ran it; empty when none.
	LineageID string
	// BootID is the host's boot id: with pid and start time it makes
	// process.entity_id.
	BootID string
}

// Actor returns the process a change of kind is about: the remover of a
// removed entry, else the last writer, else the creator. Nil when
// unknown.
func (fp *FileProcesses) Actor(kind baseline.ChangeKind) *Actor {
	if fp == nil {
		return nil
	}
	if kind == baseline.Removed {
		return fp.Removed
	}
	if fp.Written != nil {
		return fp.Written
	}
	return fp.Created
}

// Writer is the policy's view of the process a change of kind is about;
// nil when it is unknown (the policy then applies trust_unknown_writers).
func (fp *FileProcesses) Writer(kind baseline.ChangeKind) *policy.Writer {
	a := fp.Actor(kind)
	if a == nil || a.Process == nil {
		return nil
	}
	p := a.Process
	w := &policy.Writer{Name: p.Name(), Names: processNames(p), PID: p.PID, User: userOf(p.EffectiveUser, p.EUID, p)}
	if p.Missing&proc.FieldExecutable == 0 {
		w.Executable = p.Executable
	}
	if a.Server != nil {
		w.Server = a.Server.Name()
	}
	return w
}

// processNames are the names allowed_writers match: the executable's
// base name, the comm and argv[0]'s base name, once each.
func processNames(p *proc.Process) []string {
	var out []string
	add := func(n string) {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	add(p.Name())
	add(p.Comm)
	if len(p.Args) > 0 {
		a0 := p.Args[0]
		if i := strings.LastIndexByte(a0, '/'); i >= 0 {
			a0 = a0[i+1:]
		}
		add(a0)
	}
	return out
}

func userOf(name string, uid uint32, p *proc.Process) string {
	switch {
	case p.Missing&proc.FieldUser != 0:
		return ""
	case name != "":
		return name
	}
	return strconv.FormatUint(uint64(uid), 10)
}

// Spawn is a server process that spawned a shell or a reconnaissance
// tool (package lineage found it): the process, its known lineage, and
// the server ancestor.
type Spawn struct {
	Process *proc.Process // the shell or tool
	Parent  *proc.Process // its direct parent; nil when unknown
	// Server is the server ancestor, ServerKind its kind ("web server",
	// "application server", "database") and Depth the generations between
	// them (1: a direct child).
	Server     *proc.Process
	ServerKind string
	Depth      int
	// Tool is what kind of program it is: shell, reconnaissance, network
	// tool, interpreter, encoding, persistence.
	Tool string
	// Chain is the known lineage from the server down to the process.
	Chain []*proc.Process
	// LineageID is shared by every spawn below the same process the
	// server started, and by the files their processes wrote or ran.
	LineageID string
	// Files are the files under the watched roots the process runs: its
	// executable, or the script it was given.
	Files  []string
	BootID string
}

// ChainString renders the lineage: "apache2(812) -> dash(9001) -> whoami(9002)".
func (s Spawn) ChainString() string {
	parts := make([]string, len(s.Chain))
	for i, p := range s.Chain {
		parts[i] = p.Name() + "(" + strconv.Itoa(int(p.PID)) + ")"
	}
	return strings.Join(parts, " -> ")
}

// Summary is the sentence the policy judges and the reason starts with:
// `"apache2" (web server) spawned "whoami" (reconnaissance) as www-data:
// apache2(812) -> dash(9001) -> whoami(9002)`.
func (s Spawn) Summary() string {
	var b strings.Builder
	if s.Server != nil {
		fmt.Fprintf(&b, "%q (%s) spawned ", s.Server.Name(), s.ServerKind)
	}
	if p := s.Process; p != nil {
		fmt.Fprintf(&b, "%q (%s)", p.Name(), s.Tool)
		if u := userOf(p.EffectiveUser, p.EUID, p); u != "" {
			b.WriteString(" as " + u)
		}
	}
	if len(s.Chain) > 0 {
		b.WriteString(": " + s.ChainString())
	}
	if len(s.Files) > 0 {
		b.WriteString(", running " + strings.Join(s.Files, ", ") + " from a web root")
	}
	return b.String()
}

// entityID is ECS process.entity_id: unique on the host across pid reuse
// and reboots (boot id, pid, start time).
func entityID(bootID string, p *proc.Process) string {
	if bootID == "" {
		return ""
	}
	return digest("process", bootID, strconv.Itoa(int(p.PID)), strconv.FormatUint(p.Start, 10))[:32]
}

// processFields writes the ECS process fields of p under prefix
// ("process.", "process.parent.", or a webfim.* prefix): what is missing
// from the snapshot is left out, never guessed.
func processFields(d Document, prefix string, p *proc.Process, bootID string) {
	d[prefix+"pid"] = int(p.PID)
	d.set(prefix+"entity_id", entityID(bootID, p))
	d.set(prefix+"name", p.Name())
	if p.Missing&proc.FieldExecutable == 0 {
		d.set(prefix+"executable", p.Executable)
	}
	if p.Missing&proc.FieldArgs == 0 && len(p.Args) > 0 {
		d[prefix+"args"] = slices.Clone(p.Args)
		d[prefix+"args_count"] = len(p.Args)
		d[prefix+"command_line"] = p.CommandLine()
	}
	if !p.Started.IsZero() && p.Start > 0 {
		d[prefix+"start"] = timestamp(p.Started)
	}
	if p.Missing&proc.FieldUser == 0 {
		d[prefix+"user.id"] = strconv.FormatUint(uint64(p.EUID), 10)
		d.set(prefix+"user.name", p.EffectiveUser)
		d[prefix+"real_user.id"] = strconv.FormatUint(uint64(p.UID), 10)
		d.set(prefix+"real_user.name", p.User)
	}
}

// detailFields writes what ECS has no field for: how the snapshot was
// learned, what is missing from it, whether its arguments were cut.
func detailFields(d Document, prefix string, p *proc.Process) {
	d[prefix+"origin"] = p.Origin.String()
	if p.Missing != 0 {
		d[prefix+"missing"] = strings.Split(p.Missing.String(), ",")
	}
	if p.ArgsTruncated {
		d[prefix+"args_truncated"] = true
	}
}

// userFields writes user.* (the real user, as Auditbeat does) and
// user.effective.* when the effective user differs, and adds both to
// related.user.
func userFields(d Document, p *proc.Process) {
	if p == nil || p.Missing&proc.FieldUser != 0 {
		return
	}
	d["user.id"] = strconv.FormatUint(uint64(p.UID), 10)
	d.set("user.name", p.User)
	if p.EUID != p.UID {
		d["user.effective.id"] = strconv.FormatUint(uint64(p.EUID), 10)
		d.set("user.effective.name", p.EffectiveUser)
	}
	addRelatedUser(d, p.User, p.EffectiveUser)
}

func addRelatedUser(d Document, names ...string) {
	users, _ := d["related.user"].([]string)
	for _, n := range names {
		if n != "" && !slices.Contains(users, n) {
			users = append(users, n)
		}
	}
	d.set("related.user", users)
}

// actorFields writes an actor under prefix: the ECS process fields, its
// parent's, and webfim's details under detail.
func actorFields(d Document, prefix, detail string, a *Actor, bootID string) {
	if a.Process == nil {
		d[prefix+"pid"] = int(a.PID)
		d[detail+"unresolved"] = true
	} else {
		processFields(d, prefix, a.Process, bootID)
		detailFields(d, detail, a.Process)
	}
	if a.Parent != nil {
		processFields(d, prefix+"parent.", a.Parent, bootID)
	}
	d.set(detail+"op", a.Op)
	if a.Server != nil {
		d[detail+"server.pid"] = int(a.Server.PID)
		d.set(detail+"server.name", a.Server.Name())
		d.set(detail+"server.kind", a.ServerKind)
	}
}

// fileProcessFields adds the processes behind a file change to its
// document: process.* and user.* are the process the change is about
// (the last writer; for a removal the remover), webfim.process.* its
// details, webfim.creator.* the process that created the file.
func fileProcessFields(d Document, kind baseline.ChangeKind, fp *FileProcesses) {
	if fp == nil {
		return
	}
	if a := fp.Actor(kind); a != nil {
		actorFields(d, "process.", "webfim.process.", a, fp.BootID)
		userFields(d, a.Process)
	}
	if c := fp.Created; c != nil && kind != baseline.Removed {
		actorFields(d, "webfim.creator.", "webfim.creator.", c, fp.BootID)
		if c.Process != nil {
			addRelatedUser(d, c.Process.User, c.Process.EffectiveUser)
		}
	}
	d.set("webfim.lineage.id", fp.LineageID)
	escapeInvalid(d)
}

// FromSpawn builds the document of a server spawning a shell or tool:
// event.category process, event.type start, the spawned program in
// process.*, its parent in process.parent.*, the server ancestor in
// webfim.lineage.server.*.
func FromSpawn(s Spawn, v policy.Verdict, env Env) Document {
	d := base(env)
	verdictFields(d, v)
	d["event.category"] = []string{"process"}
	d["event.type"] = []string{"start"}
	d["event.action"] = "process-spawned-by-server"
	if p := s.Process; p != nil {
		processFields(d, "process.", p, s.BootID)
		detailFields(d, "webfim.process.", p)
		userFields(d, p)
	}
	if s.Parent != nil {
		processFields(d, "process.parent.", s.Parent, s.BootID)
	}
	if s.Server != nil {
		processFields(d, "webfim.lineage.server.", s.Server, s.BootID)
		d.set("webfim.lineage.server.kind", s.ServerKind)
		addRelatedUser(d, s.Server.User, s.Server.EffectiveUser)
	}
	d.set("webfim.lineage.id", s.LineageID)
	d.set("webfim.lineage.chain", s.ChainString())
	d["webfim.lineage.depth"] = s.Depth
	d.set("webfim.lineage.tool", s.Tool)
	d.set("webfim.lineage.files", s.Files)
	d["message"] = message(v, "")
	d["event.id"] = FindingID(Finding{Spawn: &s, Verdict: v})
	escapeInvalid(d)
	return d
}

// spawnID is the finding id of a spawn: the process (boot, pid, start)
// and the rule.
func spawnID(rule string, s *Spawn) string {
	if s.Process == nil {
		return ""
	}
	return digest("spawn", rule, s.BootID, strconv.Itoa(int(s.Process.PID)), strconv.FormatUint(s.Process.Start, 10))
}

// Attribution mechanisms, as AttributionDegraded names them.
const (
	MechanismProcess = "process" // the exec source feeding the process table
	MechanismWriter  = "writer"  // fanotify writer attribution
)

// AttributionDegraded says process attribution does not work fully: an
// exec source or writer attribution could not start, and why (reason is
// the exact error, e.g. "fanotify_init: permission denied: needs
// CAP_SYS_ADMIN"); status is what runs instead.
func AttributionDegraded(mechanism, reason, status string, env Env) Document {
	var msg, lost string
	category := "process"
	switch mechanism {
	case MechanismWriter:
		category = "file"
		msg = "Writer attribution degraded: " + reason
		lost = "file findings of the roots concerned carry no creating or writing process"
	default:
		msg = "Process attribution degraded: " + reason
		lost = "short-lived processes may be missed or incomplete in process fields and server-spawn alerts"
	}
	d := operational(env, "attribution-degraded", msg+" ("+lost+")", 2, nil)
	d["event.category"] = []string{category}
	d["event.outcome"] = "failure"
	d["event.reason"] = reason
	d["error.message"] = reason
	d["webfim.attribution.mechanism"] = mechanism
	d.set("webfim.attribution.status", status)
	d["event.id"] = digest("attribution-degraded", mechanism, reason, timestamp(env.Now))
	return d
}
