// Package lineage detects a web, application or database server that
// spawns a shell or a reconnaissance tool: the first and strongest signal
// of a web shell in use (MITRE ATT&CK T1505.003), the one Elastic, Falco,
// Sigma and Tracee rules key on.
//
// It is a set of pure functions over [proc.Process] snapshots. [IsServer]
// decides which processes are servers; plugged into
// [proc.TableOptions.IsServer] it gives every process the inherited
// "below a server" mark ([proc.Process.Server]), so that [Rules.Check]
// can tell, for each exec, whether a shell or tool ([ToolOf]) runs within
// [Rules.MaxDepth] generations of a server, even when the processes in
// between have exited. Known-good children are allowlisted ([Allow]), as
// Falco does.
package lineage

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"webfim/proc"
)

// DefaultMaxDepth is how many generations below a server a tool is still
// attributed to it: apache2 -> sh -> bash -> id is depth 3.
const DefaultMaxDepth = 4

// ServerKind is a family of servers.
type ServerKind string

// Server kinds.
const (
	KindWebServer ServerKind = "web server"
	KindAppServer ServerKind = "application server"
	KindDatabase  ServerKind = "database"
)

// servers maps program names to their kind. Prefix entries end in '*'.
var servers = map[string]ServerKind{
	"apache2": KindWebServer, "httpd": KindWebServer, "nginx": KindWebServer,
	"lighttpd": KindWebServer, "caddy": KindWebServer,
	"php-fpm*": KindAppServer, "php-cgi*": KindAppServer, "node": KindAppServer,
	"nodejs": KindAppServer, "uwsgi": KindAppServer, "gunicorn": KindAppServer,
	"postgres": KindDatabase, "postmaster": KindDatabase, "mysqld": KindDatabase,
	"mariadbd": KindDatabase,
}

// javaServerMarkers are the arguments that make a java process an
// application server.
var javaServerMarkers = []string{"catalina", "tomcat", "jetty"}

// ServerOf tells whether p is a web, application or database server, and
// which kind. It looks at the executable's base name, the comm and
// argv[0] (servers rename their workers: "php-fpm: pool www",
// "postgres: www db [local] COPY"), the script of an interpreter
// (gunicorn runs as python3), and a java process's arguments.
func ServerOf(p *proc.Process) (ServerKind, bool) {
	if p == nil {
		return "", false
	}
	for _, n := range names(p) {
		if k, ok := servers[n]; ok {
			return k, true
		}
		for pat, k := range servers {
			if strings.HasSuffix(pat, "*") && strings.HasPrefix(n, pat[:len(pat)-1]) {
				return k, true
			}
		}
		if n == "java" {
			cl := strings.ToLower(p.CommandLine())
			for _, m := range javaServerMarkers {
				if strings.Contains(cl, m) {
					return KindAppServer, true
				}
			}
		}
	}
	return "", false
}

// IsServer is [ServerOf] as the predicate [proc.TableOptions.IsServer]
// wants.
func IsServer(p *proc.Process) bool {
	_, ok := ServerOf(p)
	return ok
}

// Names are the names a process goes by: executable base name, comm,
// argv[0]'s base name up to a ':' (retitled workers), and for interpreters
// the script's base name. Allowlist globs match them, and so do the
// policy's allowed_writers.
func Names(p *proc.Process) []string {
	if p == nil {
		return nil
	}
	return names(p)
}

func names(p *proc.Process) []string {
	var out []string
	add := func(n string) {
		if n != "" && n != "." && n != "/" {
			out = append(out, n)
		}
	}
	if p.Executable != "" {
		add(path.Base(p.Executable))
	}
	add(p.Comm)
	if len(p.Args) > 0 {
		a0 := p.Args[0]
		if i := strings.IndexByte(a0, ':'); i > 0 {
			a0 = a0[:i]
		}
		if f := strings.Fields(a0); len(f) > 0 {
			add(path.Base(f[0]))
		}
		if len(p.Args) > 1 && isInterpreter(out) {
			add(path.Base(p.Args[1]))
		}
	}
	return out
}

func isInterpreter(names []string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, "python") || n == "perl" || n == "ruby" {
			return true
		}
	}
	return false
}

// ToolKind is a family of spawned programs.
type ToolKind string

// Tool kinds.
const (
	KindShell       ToolKind = "shell"
	KindRecon       ToolKind = "reconnaissance"
	KindNetwork     ToolKind = "network tool"
	KindInterpreter ToolKind = "interpreter"
	KindEncoding    ToolKind = "encoding"
	KindPersistence ToolKind = "persistence"
)

var tools = map[string]ToolKind{
	"sh": KindShell, "bash": KindShell, "dash": KindShell, "zsh": KindShell,
	"ash": KindShell, "ksh": KindShell, "mksh": KindShell, "csh": KindShell,
	"tcsh": KindShell, "fish": KindShell, "busybox": KindShell,

	"whoami": KindRecon, "id": KindRecon, "uname": KindRecon, "hostname": KindRecon,
	"ifconfig": KindRecon, "ip": KindRecon, "netstat": KindRecon, "ss": KindRecon,
	"route": KindRecon, "arp": KindRecon, "ps": KindRecon, "w": KindRecon,
	"who": KindRecon, "last": KindRecon, "pwd": KindRecon, "groups": KindRecon,
	"getent": KindRecon, "lsof": KindRecon, "iptables": KindRecon, "nft": KindRecon,
	"lsb_release": KindRecon, "uptime": KindRecon,

	"curl": KindNetwork, "wget": KindNetwork, "nc": KindNetwork, "ncat": KindNetwork,
	"netcat": KindNetwork, "nc.openbsd": KindNetwork, "nc.traditional": KindNetwork,
	"socat": KindNetwork, "telnet": KindNetwork, "nmap": KindNetwork,

	"perl": KindInterpreter, "ruby": KindInterpreter, "lua": KindInterpreter,

	"base64": KindEncoding, "xxd": KindEncoding,

	"crontab": KindPersistence, "at": KindPersistence,
}

// sensitiveFiles are the files whose reading by cat (or head, tail, less)
// is reconnaissance.
var sensitiveFiles = []string{"/etc/passwd", "/etc/shadow", "/etc/group", "/etc/hosts", "/etc/issue", "/etc/os-release", "/proc/version"}

// ToolOf tells whether p is a shell or a reconnaissance tool, and which
// kind. cat and the like count only on sensitive files, php only with -r
// (inline code), python in every version.
func ToolOf(p *proc.Process) (ToolKind, bool) {
	if p == nil {
		return "", false
	}
	ns := names(p)
	// A retitled process (sh's argv[0] is often "sh") counts by what it
	// runs: the executable first.
	for _, n := range ns {
		if k, ok := tools[n]; ok {
			return k, true
		}
		switch {
		case strings.HasPrefix(n, "python"):
			return KindInterpreter, true
		case n == "php" || strings.HasPrefix(n, "php") && isVersion(n[3:]):
			if hasArg(p, "-r") {
				return KindInterpreter, true
			}
		case n == "cat" || n == "head" || n == "tail" || n == "less" || n == "more":
			for _, a := range argsAfter0(p) {
				for _, f := range sensitiveFiles {
					if a == f {
						return KindRecon, true
					}
				}
			}
		}
	}
	return "", false
}

func isVersion(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

func argsAfter0(p *proc.Process) []string {
	if len(p.Args) < 2 {
		return nil
	}
	return p.Args[1:]
}

func hasArg(p *proc.Process, a string) bool {
	for _, x := range argsAfter0(p) {
		if x == a {
			return true
		}
	}
	return false
}

// Allow is an allowlist entry: a spawn that matches every non-empty field
// is known good. Globs use path.Match syntax; a glob without '/' matches
// a base name, one with '/' a full path.
type Allow struct {
	// Server matches the server ancestor's names (executable base name,
	// comm, argv[0]), e.g. "apache2" or "php-fpm*".
	Server string `yaml:"server,omitempty"`
	// Parent matches the direct parent's names or executable path.
	Parent string `yaml:"parent,omitempty"`
	// Executable matches the spawned program's names or executable path,
	// e.g. "convert" or "/usr/bin/convert".
	Executable string `yaml:"executable,omitempty"`
	// CommandLine is a regular expression (RE2) on the spawned program's
	// command line (arguments joined by spaces); anchor it (^...$) to
	// stop an attacker appending "; id".
	CommandLine string `yaml:"command_line,omitempty"`
	// Reason says why it is allowed (documentation only).
	Reason string `yaml:"reason,omitempty"`

	cmdline *regexp.Regexp
}

// DefaultAllow are the spawns that stock servers make themselves: Apache's
// piped logs (a root shell running rotatelogs or cronolog) and PHP's
// mail() (sh -c "/usr/sbin/sendmail -t -i").
var DefaultAllow = []Allow{
	{Server: "apache2", Executable: "sh", CommandLine: `^(/bin/|/usr/bin/)?sh -c (exec )?/usr/(s)?bin/(rotatelogs|cronolog) [^;&|` + "`" + `$()<>]*$`, Reason: "Apache piped logs"},
	{Server: "httpd", Executable: "sh", CommandLine: `^(/bin/|/usr/bin/)?sh -c (exec )?/usr/(s)?bin/(rotatelogs|cronolog) [^;&|` + "`" + `$()<>]*$`, Reason: "Apache piped logs"},
	{Executable: "sh", CommandLine: `^(/bin/|/usr/bin/)?sh -c /usr/sbin/sendmail -t -i *$`, Reason: "PHP mail()"},
}

// ErrInvalidAllow is wrapped by [NewRules] and [Allow.Validate] for an
// unusable entry.
var ErrInvalidAllow = errors.New("invalid lineage allowlist entry")

// AllowError is an unusable allowlist entry: Field is its bad key
// ("server", "parent", "executable", "command_line"), or "" when the
// entry as a whole is wrong.
type AllowError struct {
	Field string
	Err   error
}

func (e *AllowError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error()
}

func (e *AllowError) Unwrap() []error { return []error{ErrInvalidAllow, e.Err} }

// Validate checks an entry: at least one field set, valid globs, a valid
// regular expression. Errors are *[AllowError] values.
func (a Allow) Validate() error {
	_, err := a.compile()
	return err
}

// compile validates the entry and compiles its regular expression.
func (a Allow) compile() (Allow, error) {
	if a.Server == "" && a.Parent == "" && a.Executable == "" && a.CommandLine == "" {
		return a, &AllowError{Err: errors.New("no server, parent, executable or command_line: it would allow everything")}
	}
	for _, g := range []struct{ name, v string }{{"server", a.Server}, {"parent", a.Parent}, {"executable", a.Executable}} {
		if _, err := path.Match(g.v, ""); err != nil {
			return a, &AllowError{Field: g.name, Err: fmt.Errorf("bad glob %q: %v", g.v, err)}
		}
	}
	if a.CommandLine != "" {
		re, err := regexp.Compile(a.CommandLine)
		if err != nil {
			return a, &AllowError{Field: "command_line", Err: fmt.Errorf("bad regular expression: %v", err)}
		}
		a.cmdline = re
	}
	return a, nil
}

// Rules are a compiled detection configuration.
type Rules struct {
	// MaxDepth is the number of generations a tool may be below its
	// server.
	MaxDepth int
	allow    []Allow
}

// NewRules compiles the allowlist (DefaultAllow is not included: pass it
// along to keep it). maxDepth <= 0 means DefaultMaxDepth.
func NewRules(maxDepth int, allow []Allow) (*Rules, error) {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	r := &Rules{MaxDepth: maxDepth}
	for i, a := range allow {
		c, err := a.compile()
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		r.allow = append(r.allow, c)
	}
	return r, nil
}

// Finding is a server spawning a shell or tool.
type Finding struct {
	Process *proc.Process // the shell or tool
	Tool    ToolKind
	Parent  *proc.Process // its direct parent, nil if unknown
	Server  *proc.Process // the server ancestor
	Kind    ServerKind
	Depth   int // generations between Server and Process (1: a direct child)
	// Chain is the known lineage from the server down to the process,
	// inclusive; processes the table no longer knew are left out.
	Chain []*proc.Process
}

// String renders the lineage: "apache2(812) -> sh(9001) -> whoami(9002)".
func (f Finding) String() string {
	var parts []string
	for _, p := range f.Chain {
		parts = append(parts, fmt.Sprintf("%s(%d)", p.Name(), p.PID))
	}
	return strings.Join(parts, " -> ")
}

// Check decides whether the exec of p is a server spawning a shell or
// tool. ancestors are p's ancestors nearest first, as far as they are
// known ([proc.Table.Ancestors]); the server is the nearest server among
// them within MaxDepth, else p's inherited mark. Allowlisted spawns and
// servers spawning servers are not findings.
func (r *Rules) Check(p *proc.Process, ancestors []*proc.Process) (Finding, bool) {
	tool, ok := ToolOf(p)
	if !ok {
		return Finding{}, false
	}
	f := Finding{Process: p, Tool: tool}
	if len(ancestors) > 0 {
		f.Parent = ancestors[0]
	}
	for i, a := range ancestors {
		if i >= r.MaxDepth {
			break
		}
		if k, ok := ServerOf(a); ok {
			f.Server, f.Kind, f.Depth = a, k, i+1
			break
		}
	}
	if f.Server == nil && p.Server != nil && p.ServerDepth <= r.MaxDepth {
		f.Server, f.Depth = p.Server, p.ServerDepth
		f.Kind, _ = ServerOf(p.Server)
	}
	if f.Server == nil {
		return Finding{}, false
	}
	if _, ok := ServerOf(p); ok {
		return Finding{}, false // a server (re)starting its own workers
	}
	if r.allowed(f) {
		return Finding{}, false
	}
	f.Chain = []*proc.Process{f.Server}
	for i := min(f.Depth, len(ancestors)) - 2; i >= 0; i-- {
		if i < len(ancestors) && ancestors[i].Key() != f.Server.Key() {
			f.Chain = append(f.Chain, ancestors[i])
		}
	}
	f.Chain = append(f.Chain, p)
	return f, true
}

// Hook returns a [proc.Options.OnExec] hook that checks every exec
// against the rules, with the ancestors the table knows, and passes the
// findings to emit (which must not block: hand them to a channel).
func (r *Rules) Hook(emit func(Finding)) func(*proc.Table, *proc.Process) {
	return func(t *proc.Table, p *proc.Process) {
		if _, ok := ToolOf(p); !ok {
			return
		}
		if f, ok := r.Check(p, t.Ancestors(p, r.MaxDepth)); ok {
			emit(f)
		}
	}
}

func (r *Rules) allowed(f Finding) bool {
	for _, a := range r.allow {
		if a.Server != "" && !matches(a.Server, f.Server) {
			continue
		}
		if a.Parent != "" && !matches(a.Parent, f.Parent) {
			continue
		}
		if a.Executable != "" && !matches(a.Executable, f.Process) {
			continue
		}
		if a.cmdline != nil && !a.cmdline.MatchString(f.Process.CommandLine()) {
			continue
		}
		return true
	}
	return false
}

// matches applies a glob to a process: its executable path when the glob
// has a '/', else its names.
func matches(glob string, p *proc.Process) bool {
	if p == nil {
		return false
	}
	if strings.Contains(glob, "/") {
		ok, _ := path.Match(glob, p.Executable)
		return ok
	}
	for _, n := range names(p) {
		if ok, _ := path.Match(glob, n); ok {
			return true
		}
	}
	return false
}
