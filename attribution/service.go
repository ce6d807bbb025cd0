package attribution

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"webfim/alert"
	"webfim/lineage"
	"webfim/proc"
	"webfim/writer"
)

// Options configure a [Service].
type Options struct {
	// Sources are the exec sources to try, best first (nil:
	// proc.DefaultSources).
	Sources []proc.Source
	// KernelBTF is a BTF file to use instead of the running kernel's.
	KernelBTF string
	// Rules are the lineage rules (nil: the default allowlist and depth).
	Rules *lineage.Rules
	// SpawnQueue is how many spawns wait for the daemon at most (default
	// 1024); beyond it they are counted in [Service.SpawnsDropped].
	SpawnQueue int
	// MaxLinks bounds the processes and files remembered as belonging to
	// a spawn's chain (default 8192).
	MaxLinks int
}

// Service is process attribution for the daemon; see the package
// documentation. Safe for concurrent use.
type Service struct {
	mon     *proc.Monitor
	rules   atomic.Pointer[lineage.Rules]
	roots   atomic.Pointer[[]root]
	spawns  chan alert.Spawn
	dropped atomic.Uint64
	links   *links
	bootID  string

	// mu guards the tracker: Watch replaces it, File uses it.
	mu      sync.RWMutex
	tracker *writer.Tracker
	watched []string
}

// root is a watched root as configured and with its symbolic links
// resolved (the paths the kernel reports).
type root struct{ given, real string }

// Start starts the process monitor with the lineage rules on every exec.
// Writer attribution starts with the first [Service.Watch]. It fails only
// on invalid options or an unreadable /proc; a mechanism the system
// refuses is reported by [Service.Status].
func Start(ctx context.Context, opt Options) (*Service, error) {
	if opt.SpawnQueue <= 0 {
		opt.SpawnQueue = 1024
	}
	if opt.MaxLinks <= 0 {
		opt.MaxLinks = 8192
	}
	s := &Service{spawns: make(chan alert.Spawn, opt.SpawnQueue), links: newLinks(opt.MaxLinks), bootID: bootID()}
	rules := opt.Rules
	if rules == nil {
		var err error
		if rules, err = lineage.NewRules(0, lineage.DefaultAllow); err != nil {
			return nil, err
		}
	}
	s.rules.Store(rules)
	s.roots.Store(&[]root{})
	mon, err := proc.Start(ctx, proc.Options{
		Sources:   opt.Sources,
		KernelBTF: opt.KernelBTF,
		Table:     proc.TableOptions{IsServer: lineage.IsServer},
		OnExec:    s.onExec,
	})
	if err != nil {
		return nil, err
	}
	s.mon = mon
	return s, nil
}

// SetRules replaces the lineage rules (a reloaded allowlist).
func (s *Service) SetRules(r *lineage.Rules) { s.rules.Store(r) }

// Watch attributes the changes under roots from now on (a new set of
// roots replaces the former; the same set keeps the running tracker and
// what it learned) and returns the status.
func (s *Service) Watch(roots []string) Status {
	roots = slices.Sorted(slices.Values(roots))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tracker == nil || !slices.Equal(roots, s.watched) {
		if s.tracker != nil {
			s.tracker.Close()
		}
		s.tracker = writer.New(roots, s.mon, writer.Options{})
		s.watched = roots
		rs := make([]root, len(roots))
		for i, r := range roots {
			rs[i] = root{given: filepath.Clean(r), real: filepath.Clean(r)}
			if real, err := filepath.EvalSymlinks(r); err == nil {
				rs[i].real = real
			}
		}
		s.roots.Store(&rs)
	}
	return Status{Process: s.mon.Status(), Writer: s.tracker.Status(), Watching: true}
}

// Status says which mechanisms work; Writer is empty until Watch.
func (s *Service) Status() Status {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Status{Process: s.mon.Status()}
	if s.tracker != nil {
		st.Writer, st.Watching = s.tracker.Status(), true
	}
	return st
}

// Spawns delivers the server spawns, as they are exec'd.
func (s *Service) Spawns() <-chan alert.Spawn { return s.spawns }

// SpawnsDropped counts the spawns dropped because the daemon did not
// read them fast enough.
func (s *Service) SpawnsDropped() uint64 { return s.dropped.Load() }

// Close stops writer attribution and the process monitor.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.tracker != nil {
		s.tracker.Close()
		s.tracker = nil
	}
	s.mu.Unlock()
	return s.mon.Close()
}

// File returns the processes behind the last change of root/rel (root as
// given to Watch, rel slash-separated), or nil when nothing is known.
// Every file event queued before the call is read first, after the exec
// source is drained.
func (s *Service) File(root, rel string) *alert.FileProcesses {
	s.mu.RLock()
	tr := s.tracker
	var rec writer.Record
	var ok bool
	if tr != nil {
		rec, ok = tr.Lookup(root, rel)
	}
	s.mu.RUnlock()
	fp := &alert.FileProcesses{BootID: s.bootID}
	if ok {
		fp.Created, fp.Written, fp.Removed = s.actor(rec.Created), s.actor(rec.Written), s.actor(rec.Removed)
	}
	for _, a := range []*alert.Actor{fp.Written, fp.Created, fp.Removed} {
		if fp.LineageID == "" && a != nil && a.Process != nil {
			fp.LineageID = s.lineageOf(a.Process)
		}
	}
	if fp.LineageID == "" {
		fp.LineageID = s.links.path(filepath.Join(root, filepath.FromSlash(rel)))
	}
	if fp.Created == nil && fp.Written == nil && fp.Removed == nil && fp.LineageID == "" {
		return nil
	}
	return fp
}

// actor completes an access with the process's parent and server.
func (s *Service) actor(a *writer.Access) *alert.Actor {
	if a == nil {
		return nil
	}
	act := &alert.Actor{PID: a.PID, Process: a.Process, Op: a.Op.String()}
	p := a.Process
	if p == nil {
		return act
	}
	act.Parent = s.parent(p)
	if kind, ok := lineage.ServerOf(p); ok {
		act.Server, act.ServerKind = p, string(kind)
	} else if p.Server != nil && p.ServerDepth <= s.rules.Load().MaxDepth {
		kind, _ := lineage.ServerOf(p.Server)
		act.Server, act.ServerKind = p.Server, string(kind)
	}
	return act
}

// parent finds p's parent in the table, else in /proc (a parent that
// started after p is not its parent but a reused pid).
func (s *Service) parent(p *proc.Process) *proc.Process {
	if q := s.mon.Table().Parent(p); q != nil {
		return q
	}
	if p.PPID <= 0 || p.Missing&proc.FieldParent != 0 {
		return nil
	}
	if q := s.mon.Resolve(p.PPID); q != nil && q.Start <= p.Start && (p.ParentStart == 0 || q.Start == p.ParentStart) {
		return q
	}
	return nil
}

// lineageOf returns the lineage id of the spawn whose chain p belongs
// to: p itself, or one of its ancestors below the server.
func (s *Service) lineageOf(p *proc.Process) string {
	if p.Server == nil {
		if _, ok := lineage.ServerOf(p); ok {
			return "" // the server itself is no spawn
		}
	}
	keys := []proc.Key{p.Key()}
	for _, a := range s.mon.Table().Ancestors(p, s.rules.Load().MaxDepth) {
		if p.Server != nil && a.Key() == p.Server.Key() {
			break
		}
		keys = append(keys, a.Key())
	}
	return s.links.process(keys...)
}

// onExec checks every exec against the lineage rules, on the exec
// source's goroutine: it must not block.
func (s *Service) onExec(t *proc.Table, p *proc.Process) {
	if _, ok := lineage.ToolOf(p); !ok {
		return
	}
	rules := s.rules.Load()
	f, ok := rules.Check(p, t.Ancestors(p, rules.MaxDepth))
	if !ok {
		return
	}
	entry := f.Process
	if len(f.Chain) > 1 {
		entry = f.Chain[1]
	}
	sp := alert.Spawn{
		Process: f.Process, Parent: f.Parent, Server: f.Server, ServerKind: string(f.Kind),
		Depth: f.Depth, Tool: string(f.Tool), Chain: f.Chain, BootID: s.bootID,
		LineageID: lineageID(s.bootID, f.Server, entry),
		Files:     s.ranFiles(p),
	}
	below := f.Chain
	if len(below) > 0 && below[0] == f.Server {
		below = below[1:]
	}
	s.links.add(sp.LineageID, below, sp.Files)
	select {
	case s.spawns <- sp:
	default:
		s.dropped.Add(1)
	}
}

// lineageID identifies the chain of processes below one process a server
// started: every spawn below it shares the id.
func lineageID(bootID string, server, entry *proc.Process) string {
	h := sha256.New()
	for _, part := range []string{"lineage", bootID, server.Key().String(), entry.Key().String()} {
		h.Write([]byte(strconv.Itoa(len(part)) + ":" + part))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// maxRanFiles bounds the files of one spawn.
const maxRanFiles = 8

// ranFiles are the files under the watched roots that p runs: its
// executable, or an argument naming a file (a script given to a shell or
// an interpreter). Relative arguments are taken from the process's
// working directory, when it can still be read. Paths are given under
// the roots as configured.
func (s *Service) ranFiles(p *proc.Process) []string {
	roots := *s.roots.Load()
	if len(roots) == 0 {
		return nil
	}
	var cands []string
	if p.Missing&proc.FieldExecutable == 0 && p.Executable != "" {
		cands = append(cands, p.Executable)
	}
	cwd := ""
	for i, a := range p.Args {
		if i == 0 || a == "" || strings.HasPrefix(a, "-") || strings.ContainsAny(a, " \t\n;|&$`") {
			continue
		}
		if !filepath.IsAbs(a) {
			if cwd == "" {
				if cwd, _ = os.Readlink("/proc/" + strconv.Itoa(int(p.PID)) + "/cwd"); cwd == "" {
					continue
				}
			}
			a = filepath.Join(cwd, a)
		}
		cands = append(cands, filepath.Clean(a))
	}
	var out []string
	for _, c := range cands {
		for _, r := range roots {
			rel, ok := under(c, r.given)
			if !ok {
				rel, ok = under(c, r.real)
			}
			if ok {
				if f := filepath.Join(r.given, rel); !slices.Contains(out, f) && len(out) < maxRanFiles {
					out = append(out, f)
				}
				break
			}
		}
	}
	return out
}

func under(path, dir string) (string, bool) {
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return rel, true
}

// bootID is the host's boot id (Linux), empty elsewhere.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
