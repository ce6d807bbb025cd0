package alert

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"webfim/baseline"
	"webfim/policy"
	"webfim/proc"
)

const testBootID = "5b0c7e8e-1d2f-4a57-9a0e-3c4b5d6e7f80"

var procStarted = time.Date(2026, 11, 26, 10, 29, 58, 0, time.UTC)

// The processes of an Apache + mod_php server running a web shell: the
// parent (root), a worker that dropped privileges without exec, the
// shell of system() and the tool it runs.
func apacheProcesses() (parent, worker, shell, tool *proc.Process) {
	parent = &proc.Process{PID: 812, Start: 9000, Started: procStarted.Add(-time.Hour), PPID: 1,
		Executable: "/usr/sbin/apache2", Args: []string{"/usr/sbin/apache2", "-k", "start"}, Comm: "apache2",
		UID: 0, EUID: 0, User: "root", EffectiveUser: "root", Origin: proc.OriginProcfs}
	worker = &proc.Process{PID: 6065, Start: 41000, Started: procStarted.Add(-time.Minute), PPID: 812, ParentStart: 9000,
		Executable: "/usr/sbin/apache2", Args: []string{"/usr/sbin/apache2", "-k", "start"}, Comm: "apache2",
		UID: 33, EUID: 33, User: "www-data", EffectiveUser: "www-data", Origin: proc.OriginFork, Server: parent, ServerDepth: 1}
	shell = &proc.Process{PID: 6080, Start: 47000, Started: procStarted, PPID: 6065, ParentStart: 41000,
		Executable: "/usr/bin/dash", Args: []string{"sh", "-c", "whoami"}, Comm: "sh",
		UID: 33, EUID: 33, User: "www-data", EffectiveUser: "www-data", Origin: proc.OriginExec, Server: worker, ServerDepth: 1}
	tool = &proc.Process{PID: 6081, Start: 47001, Started: procStarted.Add(10 * time.Millisecond), PPID: 6080, ParentStart: 47000,
		Executable: "/usr/bin/whoami", Args: []string{"whoami"}, Comm: "whoami",
		UID: 33, EUID: 33, User: "www-data", EffectiveUser: "www-data", Origin: proc.OriginExec, Server: worker, ServerDepth: 2}
	return
}

// webShellSpawn is apache2 -> sh -> whoami, as package attribution
// reports it.
func webShellSpawn() *Spawn {
	_, worker, shell, tool := apacheProcesses()
	return &Spawn{Process: tool, Parent: shell, Server: worker, ServerKind: "web server", Depth: 2, Tool: "reconnaissance",
		Chain: []*proc.Process{worker, shell, tool}, LineageID: "2f1d0c4b7a9e8d6c5b4a39281706f5e4", BootID: testBootID}
}

// uploadProcesses: the apache2 worker created and wrote the uploaded
// shell (move_uploaded_file renames it into place).
func uploadProcesses() *FileProcesses {
	parent, worker, _, _ := apacheProcesses()
	a := &Actor{PID: worker.PID, Process: worker, Parent: parent, Op: "rename", Server: worker, ServerKind: "web server"}
	return &FileProcesses{Created: a, Written: a, BootID: testBootID}
}

func TestSpawnSummary(t *testing.T) {
	s := webShellSpawn()
	want := `"apache2" (web server) spawned "whoami" (reconnaissance) as www-data: apache2(6065) -> dash(6080) -> whoami(6081)`
	if got := s.Summary(); got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	s.Files = []string{"/var/www/html/uploads/x.sh"}
	if got := s.Summary(); !strings.HasSuffix(got, ", running /var/www/html/uploads/x.sh from a web root") {
		t.Errorf("Summary with files = %q", got)
	}
}

// A server spawn is a process start: the tool in process.*, its parent in
// process.parent.*, the server in webfim.lineage.server.*, valid ECS, and
// an id per exec.
func TestSpawnDocument(t *testing.T) {
	s := loadECS(t)
	sp := webShellSpawn()
	v := policy.Default().EvaluateSpawn(sp.Summary(), policy.Context{Now: detected, Window: jenkins})
	d := FromSpawn(*sp, v, testEnv())
	body, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range validateECS(s, body) {
		t.Error(e)
	}
	for key, want := range map[string]any{
		"event.kind": "alert", "event.action": "process-spawned-by-server", "rule.id": policy.RuleServerSpawn,
		"process.name": "whoami", "process.pid": 6081, "process.executable": "/usr/bin/whoami",
		"process.parent.name": "dash", "process.parent.command_line": "sh -c whoami",
		"user.name": "www-data", "user.id": "33",
		"webfim.lineage.server.name": "apache2", "webfim.lineage.server.pid": 6065,
		"webfim.lineage.chain": "apache2(6065) -> dash(6080) -> whoami(6081)", "webfim.lineage.depth": 2,
		"threat.technique.subtechnique.id": []string{"T1505.003"},
	} {
		if got := d[key]; !equalJSON(got, want) {
			t.Errorf("%s = %#v, want %#v", key, got, want)
		}
	}
	if !slices.Equal(d["event.category"].([]string), []string{"process"}) || !slices.Equal(d["event.type"].([]string), []string{"start"}) {
		t.Errorf("category %v type %v", d["event.category"], d["event.type"])
	}
	if d["process.entity_id"] == d["process.parent.entity_id"] || d["process.entity_id"] == "" {
		t.Errorf("entity ids %v and %v", d["process.entity_id"], d["process.parent.entity_id"])
	}
	if v.Window != nil || !v.Alert {
		t.Errorf("a spawn inside a deploy window: %+v", v)
	}
	// Each exec is its own finding; the same exec seen twice is one.
	again := FromSpawn(*webShellSpawn(), v, testEnv())
	if again.ID() != d.ID() {
		t.Error("the same exec has two ids")
	}
	other := webShellSpawn()
	other.Process.Start++
	if FromSpawn(*other, v, testEnv()).ID() == d.ID() {
		t.Error("a reused pid has the id of its predecessor")
	}
}

// A file finding with its writer: process.* is the last writer, user.*
// its user, the creator under webfim.creator.*, and none of it changes
// the finding id (diff knows no writers).
func TestFileDocumentWithProcesses(t *testing.T) {
	s := loadECS(t)
	env := testEnv()
	c := fileChange(baseline.Added, "wp-content/uploads/2026/11/shell.php", true)
	fp := uploadProcesses()
	ctx := policy.Context{Now: detected, Window: jenkins, Writer: fp.Writer(c.Kind)}
	p := policy.Default()
	p.AllowedWriters = []string{"rsync"}
	v := p.EvaluateFile(c, ctx)
	if !v.Alert || v.Window != nil || !strings.Contains(v.Reason, `written by "apache2" (pid 6065, www-data)`) {
		t.Errorf("verdict: %+v", v)
	}
	f := Finding{File: &c, Verdict: v, Processes: fp}
	d, ok := f.Document(env)
	if !ok {
		t.Fatal("no document")
	}
	body, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range validateECS(s, body) {
		t.Error(e)
	}
	for key, want := range map[string]any{
		"process.name": "apache2", "process.pid": 6065, "process.parent.pid": 812, "user.name": "www-data",
		"webfim.process.op": "rename", "webfim.process.origin": "fork", "webfim.process.server.name": "apache2",
		"webfim.creator.pid": 6065,
	} {
		if got := d[key]; !equalJSON(got, want) {
			t.Errorf("%s = %#v, want %#v", key, got, want)
		}
	}
	if id := FindingID(Finding{File: &c, Verdict: v}); d.ID() != id {
		t.Errorf("the writer changed the finding id: %s, without it %s", d.ID(), id)
	}
	golden(t, "webfim-001-writer", d)

	// A removal names the remover, not the former writer.
	rm := fileChange(baseline.Removed, "wp-login.php", true)
	_, worker, shell, _ := apacheProcesses()
	fp = &FileProcesses{Written: &Actor{PID: 1, Process: worker, Op: "write"}, Removed: &Actor{PID: 6080, Process: shell, Op: "delete"}, BootID: testBootID}
	d, _ = Finding{File: &rm, Verdict: policy.Default().EvaluateFile(rm, policy.Context{}), Processes: fp}.Document(env)
	if d["process.pid"] != 6080 || d["webfim.process.op"] != "delete" || d["webfim.creator.pid"] != nil {
		t.Errorf("removal: process.pid %v op %v creator %v", d["process.pid"], d["webfim.process.op"], d["webfim.creator.pid"])
	}

	// A writer the exec sources never saw: its pid, flagged unresolved,
	// nothing guessed.
	fp = &FileProcesses{Written: &Actor{PID: 7001, Op: "write"}, BootID: testBootID}
	d, _ = Finding{File: &c, Verdict: v, Processes: fp}.Document(env)
	if d["process.pid"] != 7001 || d["webfim.process.unresolved"] != true || d["process.name"] != nil || d["user.name"] != nil {
		t.Errorf("unresolved writer: %v", d)
	}
	if fp.Writer(c.Kind) != nil {
		t.Error("an unresolved writer is known to the policy")
	}

	// What could not be read is left out and listed.
	short := *worker
	short.Missing = proc.FieldExecutable | proc.FieldArgs
	short.Executable, short.Args = "", nil
	fp = &FileProcesses{Written: &Actor{PID: short.PID, Process: &short, Op: "write"}, BootID: testBootID}
	d, _ = Finding{File: &c, Verdict: v, Processes: fp}.Document(env)
	if d["process.executable"] != nil || d["process.args"] != nil || d["process.name"] != "apache2" ||
		!equalJSON(d["webfim.process.missing"], []string{"executable", "args"}) {
		t.Errorf("missing fields: executable %v args %v name %v missing %v", d["process.executable"], d["process.args"], d["process.name"], d["webfim.process.missing"])
	}
}

func TestAttributionDegradedDocument(t *testing.T) {
	s := loadECS(t)
	env := testEnv()
	docs := map[string]Document{
		"op-attribution-degraded-writer": AttributionDegraded(MechanismWriter, "fanotify_init: operation not permitted: needs CAP_SYS_ADMIN",
			"processes: connector; writers: unavailable", env),
		"op-attribution-degraded-process": AttributionDegraded(MechanismProcess, "ebpf: no BTF: open /sys/kernel/btf/vmlinux: no such file or directory; using the process connector",
			"processes: connector (degraded); writers: fanotify on 1 of 1 roots", env),
	}
	for name, d := range docs {
		t.Run(name, func(t *testing.T) {
			if d.Kind() != "event" || d["event.action"] != "attribution-degraded" || d["event.outcome"] != "failure" {
				t.Errorf("kind %v action %v outcome %v", d.Kind(), d["event.action"], d["event.outcome"])
			}
			if !strings.Contains(d["message"].(string), d["event.reason"].(string)) {
				t.Errorf("message %q does not give the reason", d["message"])
			}
			body, _ := json.Marshal(d)
			for _, e := range validateECS(s, body) {
				t.Error(e)
			}
			golden(t, name, d)
		})
	}
}

// equalJSON compares values as they are encoded.
func equalJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
