package policy

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Writer is the process that made a change, as process attribution
// learned it (Linux; see docs/attribution.md). A nil *Writer in a
// [Context] means the writer is unknown: attribution is unavailable, or
// the process could not be learned.
type Writer struct {
	// Name is the program's name: the executable's base name, else the
	// kernel's comm.
	Name string
	// Names are all the names the process goes by (executable base name,
	// comm, argv[0]'s base name); allowed_writers entries match any of
	// them. Empty: Name alone.
	Names []string
	// Executable is the absolute path of the program, when known.
	Executable string
	PID        int32
	// User is the name of its effective user, else the uid.
	User string
	// Server is the web, application or database server the writer is or
	// runs below (e.g. "apache2", "php-fpm8.2", "mysqld"); empty when it
	// is neither.
	Server string
}

// String describes the writer for reasons: `apache2 (pid 812, www-data)`.
func (w *Writer) String() string {
	if w == nil {
		return "an unknown process"
	}
	var attrs []string
	if w.PID > 0 {
		attrs = append(attrs, "pid "+strconv.Itoa(int(w.PID)))
	}
	if w.User != "" {
		attrs = append(attrs, w.User)
	}
	name := strconv.Quote(w.Name)
	if len(attrs) == 0 {
		return name
	}
	return name + " (" + strings.Join(attrs, ", ") + ")"
}

func (w *Writer) names() []string {
	if len(w.Names) > 0 {
		return w.Names
	}
	return []string{w.Name}
}

// allowedWriter reports whether w matches an entry of allowed_writers:
// a glob with a '/' matches the executable path, any other glob one of
// the process's names.
func (p *Policy) allowedWriter(w *Writer) bool {
	if w == nil {
		return false
	}
	for _, g := range p.AllowedWriters {
		if strings.Contains(g, "/") {
			if ok, _ := path.Match(g, w.Executable); ok && w.Executable != "" {
				return true
			}
			continue
		}
		if slices.ContainsFunc(w.names(), func(n string) bool { ok, _ := path.Match(g, n); return ok && n != "" }) {
			return true
		}
	}
	return false
}

// checkWriters validates allowed_writers: names or globs, never empty.
func checkWriters(writers []string) error {
	for i, w := range writers {
		key := fmt.Sprintf("allowed_writers[%d]", i)
		if strings.TrimSpace(w) == "" {
			return fieldErrorf(key, "empty process name")
		}
		if _, err := path.Match(w, ""); err != nil {
			return fieldErrorf(key, "bad glob %q: %v", w, err)
		}
	}
	return nil
}

// writerWindow decides whether the deploy window of ctx covers a change,
// given its writer. Once allowed_writers lists processes, a window covers
// only their changes, and those of an unknown writer when
// trust_unknown_writers is set (the default, so that windows work as
// before where attribution is unavailable). It returns ctx without its
// window when the window does not cover the change, and why.
func (p *Policy) writerWindow(ctx Context) (Context, string) {
	if ctx.Window == nil || len(p.AllowedWriters) == 0 {
		return ctx, ""
	}
	w := ctx.Writer
	switch {
	case w == nil && p.TrustUnknownWriters:
		return ctx, ""
	case w == nil:
		why := "inside deploy window " + ctx.Window.String() + ", but the writer is unknown and trust_unknown_writers is off"
		ctx.Window = nil
		return ctx, why
	case p.allowedWriter(w):
		return ctx, ""
	}
	why := "inside deploy window " + ctx.Window.String() + ", but written by " + w.String() + ", which is not in allowed_writers"
	ctx.Window = nil
	return ctx, why
}

// judgeWriter completes a file verdict with what the writer says: why a
// window did not apply (uncovered, from [Policy.writerWindow]), and the
// floor for a script-type file written by a server process: a web, app
// or database server that writes a script into a web root is how web
// shells arrive (an upload form, SELECT ... INTO OUTFILE), so it is at
// least high, in a deploy window or not, allowed writer or not.
func (p *Policy) judgeWriter(v Verdict, event string, script bool, ctx Context, uncovered string) Verdict {
	if v.Drop {
		return v
	}
	if uncovered != "" {
		v.Reason = event + "; " + uncovered
	}
	w := ctx.Writer
	if !script || w == nil || w.Server == "" {
		return v
	}
	by := "written by " + w.String() + ", a process of server " + strconv.Quote(w.Server)
	if v.Alert && v.Severity >= High {
		if uncovered != "" { // it already names the writer
			v.Reason += ", a process of server " + strconv.Quote(w.Server)
		} else {
			v.Reason += "; " + by
		}
		return v
	}
	was := ""
	switch {
	case !v.Alert && v.Window != nil:
		was = ", even inside deploy window " + v.Window.String()
	case !v.Alert:
		was = ", even from an allowed writer"
	}
	v.Alert, v.Severity, v.Window = true, max(v.Severity, High), nil
	v.RiskScore = v.Severity.RiskScore()
	v.Reason = event + "; " + by + ": at least high" + was
	return v
}
