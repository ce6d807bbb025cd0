package policy

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"webfim/baseline"
	"webfim/indicators"
	"webfim/serverconf"
)

// Action is what happened to a path, as [Policy.Explain] takes it.
type Action string

// Actions.
const (
	ActionAdded   Action = "added"
	ActionChanged Action = "changed"
	ActionRemoved Action = "removed"
)

// Context is what is known about the moment and origin of a change.
type Context struct {
	// Now is when the change was seen.
	Now time.Time
	// Window is the deploy window in effect at Now (see [Policy.WindowAt]),
	// or nil.
	Window *Window
	// Writer is the process that made the change, when known (process
	// attribution); nil otherwise.
	Writer *Writer
}

// Verdict is the policy's decision about one change.
type Verdict struct {
	RuleID   string
	RuleName string
	// Severity is the rule's (possibly overridden, possibly lowered by a
	// window) severity; Info for expected events.
	Severity  Severity
	RiskScore float64
	// Alert is true for findings; false for expected events.
	Alert bool
	// Drop is true when the change is not reported at all: its path is
	// ignored or its rule is disabled.
	Drop   bool
	Reason string
	// Window is the deploy window that made the change expected or lowered
	// its severity, if any.
	Window *Window
}

// Kind is the ECS event.kind of the verdict: "alert" or "event".
func (v Verdict) Kind() string {
	if v.Alert {
		return "alert"
	}
	return "event"
}

// RootFor returns the configured root of an absolute root path, or nil.
func (p *Policy) RootFor(root string) *Root {
	root = filepath.Clean(root)
	for i := range p.Roots {
		if p.Roots[i].Path == root {
			return &p.Roots[i]
		}
	}
	return nil
}

// ScriptExtensionsFor returns the script extensions in effect for a root.
func (p *Policy) ScriptExtensionsFor(root string) []string {
	if r := p.RootFor(root); r != nil && r.ScriptExtensions != nil {
		return r.ScriptExtensions
	}
	return p.ScriptExtensions
}

// match reports the first glob matching rel (relative, slash-separated)
// or, for globs starting with "/", the absolute path root/rel.
func match(globs []string, root, rel string) (string, bool) {
	abs := filepath.ToSlash(filepath.Join(root, filepath.FromSlash(rel)))
	for _, g := range globs {
		subject := rel
		if strings.HasPrefix(g, "/") {
			subject = abs
		}
		if ok, _ := doublestar.Match(g, subject); ok {
			return g, true
		}
	}
	return "", false
}

// Ignored reports whether changes of root/rel are never reported.
func (p *Policy) Ignored(root, rel string) bool {
	_, ok := p.ignoredBy(root, rel)
	return ok
}

func (p *Policy) ignoredBy(root, rel string) (string, bool) {
	if g, ok := match(p.Ignore, root, rel); ok {
		return g, true
	}
	if r := p.RootFor(root); r != nil {
		return match(r.Ignore, root, rel)
	}
	return "", false
}

// Excluded reports whether root/rel is not walked nor watched at all; its
// signature fits baseline.Options.Exclude.
func (p *Policy) Excluded(root, rel string, isDir bool) bool {
	r := p.RootFor(root)
	if r == nil || rel == "" {
		return false
	}
	_, ok := match(r.Exclude, root, rel)
	return ok
}

// NoScriptZone returns the no-script-zone glob matching root/rel, if any.
func (p *Policy) NoScriptZone(root, rel string) (string, bool) {
	zones := p.NoScriptZones
	if r := p.RootFor(root); r != nil && r.NoScriptZones != nil {
		zones = r.NoScriptZones
	}
	return match(zones, root, rel)
}

// EvaluateFile judges a change of a file system entry. Its writer, when
// known, decides whether a deploy window covers it and raises a script
// written by a server process (see [Policy.judgeWriter]).
func (p *Policy) EvaluateFile(c baseline.Change, ctx Context) Verdict {
	if g, ok := p.ignoredBy(c.Root, c.Path); ok {
		return Verdict{Drop: true, Reason: fmt.Sprintf("path matches ignore glob %q", g)}
	}
	rec := c.New
	if rec == nil {
		rec = c.Old
	}
	script := rec != nil && rec.Type != baseline.TypeDir && baseline.IsScript(c.Path, p.ScriptExtensionsFor(c.Root))
	what := "file"
	if rec != nil && rec.Type != baseline.TypeFile {
		what = rec.Type.String()
	}
	if script {
		what = "script-type " + what
	}
	var id, event string
	switch c.Kind {
	case baseline.Transient:
		if !script {
			// Editors, caches and uploads in progress create and delete
			// files all the time; only a script vanishing is a finding.
			return Verdict{Drop: true, Reason: what + " created and deleted before it could be checked"}
		}
		id, event = RuleTransientScript, what+" created and deleted before it could be checked"
	case baseline.Removed:
		id, event = RuleFileRemoved, what+" removed"
	case baseline.Added, baseline.Moved:
		event = what + " added"
		if c.Kind == baseline.Moved {
			event = what + " moved from " + c.From
		}
		id = RuleFileChanged
		if script {
			id = RuleScriptAdded
		}
	case baseline.ContentChanged:
		id, event = RuleFileChanged, what+" modified"
		if script {
			id = RuleScriptModified
		}
	default: // metadata_changed and kinds added later
		id, event = RuleFileChanged, what+" changed ("+strings.Join(c.Fields, ", ")+")"
	}
	if script && c.Kind != baseline.Removed && c.Kind != baseline.Transient {
		if g, ok := p.NoScriptZone(c.Root, c.Path); ok {
			id = RuleScriptInNoScriptZone
			event += fmt.Sprintf(" in no-script zone %q", g)
		}
	}
	ctx, uncovered := p.writerWindow(ctx)
	return p.withIndicators(c, p.judgeWriter(p.decide(id, event, ctx), event, script && c.Kind != baseline.Removed, ctx, uncovered))
}

// Inventory item kinds (see serverconf.Item.Kind) by rule.
var (
	// iisModuleKinds are IIS components when found in applicationHost.config or web.config.
	iisModuleKinds = []string{"global_module", "module", "isapi_filter", "isapi_cgi_restriction", "http_module", "module_provider"}
	// moduleKinds are code loaded into the server process.
	moduleKinds = []string{"global_module", "module", "load_module", "load_file", "extension", "zend_extension", "valve", "listener"}
	// handlerKinds map a path pattern or extension to a handler.
	handlerKinds = []string{"handler", "http_handler", "script_handler", "jsp_mapping"}
)

// mapsNonScript reports whether a handler item maps an extension that is
// not script-type under the policy (so that adding an extension to
// script_extensions accepts it); when no extension can be read from the
// pattern, the parser's own judgement (attribute non_script_extension)
// decides.
func (p *Policy) mapsNonScript(it *serverconf.Item) bool {
	pattern := it.Name
	if path := it.Attrs["path"]; path != "" {
		pattern = path // IIS handlers are named; the path is the pattern
	}
	exts := mappedExtensions(pattern)
	if len(exts) == 0 {
		return it.Attrs["non_script_extension"] == "true"
	}
	for _, ext := range exts {
		if !baseline.IsScript("x."+ext, p.ScriptExtensions) {
			return true
		}
	}
	return false
}

// EvaluateItem judges a change of a server configuration inventory item.
func (p *Policy) EvaluateItem(c serverconf.Change, ctx Context) Verdict {
	it := c.New
	if it == nil {
		it = c.Old
	}
	if it == nil {
		return Verdict{Drop: true, Reason: "empty inventory change"}
	}
	var id string
	switch {
	case c.Kind == serverconf.ItemRemoved:
		id = RuleConfigItemRemoved
	case it.Kind == "unparsable":
		id = RuleUnparsableConfig
	case it.Server == "registry":
		id = registryRule(it)
	case it.Kind == "auto_prepend_file" || it.Kind == "auto_append_file":
		id = RuleAutoPrepend
	case it.Kind == "transport_agent":
		id = RuleTransportAgent
	case slices.Contains(iisModuleKinds, it.Kind) && (it.Server == "iis" || it.Server == "webconfig"):
		id = RuleIISModule
	case slices.Contains(moduleKinds, it.Kind):
		id = RuleServerModule
	case it.Kind == "module_file":
		id = RuleUnloadedModuleBinary
	case it.Kind == "exec_cgi":
		id = RuleNewExecutableExt
	case it.Kind == "access_policy":
		id = RuleConfigItemChanged
		if ap := strings.ToLower(it.Attrs["accessPolicy"]); strings.Contains(ap, "script") || strings.Contains(ap, "execute") {
			id = RuleNewExecutableExt
		}
	case it.Kind == "fastcgi_application":
		id = RuleHandlerMapping
	case slices.Contains(handlerKinds, it.Kind):
		id = RuleHandlerMapping
		if p.mapsNonScript(it) {
			id = RuleNewExecutableExt
		}
	default:
		id = RuleConfigItemChanged
	}
	where := "in"
	if c.Kind == serverconf.ItemRemoved {
		where = "from"
	}
	name := strconv.Quote(it.Name)
	if it.Server == "registry" {
		name = registryName(it) // the key path says what the value is
	}
	event := fmt.Sprintf("%s %s %s %s %s %s", it.Server, strings.ReplaceAll(it.Kind, "_", " "), name, c.Kind, where, it.Source)
	if c.Kind == serverconf.ItemChanged && len(c.Fields) > 0 {
		event += " (" + strings.Join(c.Fields, ", ") + ")"
	}
	if it.Image != "" && c.Kind != serverconf.ItemRemoved {
		event += ", image " + it.Image
	}
	v := p.decide(id, event, ctx)
	if c.Note != "" {
		v.Reason += "; " + c.Note
	}
	return v
}

// EvaluateGap judges a monitoring gap of the watch daemon: what it can
// no longer see (the reason, e.g. "root_missing") and where (a path, or
// "" for the whole database). Windows do not apply to it.
func (p *Policy) EvaluateGap(reason, where, detail string, ctx Context) Verdict {
	event := "monitoring gap (" + reason + ")"
	if where != "" {
		event += " at " + where
	}
	if detail != "" {
		event += ": " + detail
	}
	v := p.decide(RuleMonitoringGap, event, Context{Now: ctx.Now})
	v.Reason = event // not "outside any deploy window": windows are irrelevant
	return v
}

// mappedExtensions extracts the extensions a handler pattern maps:
// "*.jpg", ".jpg", "jpg" (AddHandler php-script jpg), "\.jpg$",
// "~ \.(php|jpg)$" and "*.jpg|*.png" all work.
func mappedExtensions(pattern string) []string {
	s := strings.ToLower(pattern)
	isExtChar := func(r byte) bool { return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' }
	word := func(s string) string {
		n := 0
		for n < len(s) && isExtChar(s[n]) {
			n++
		}
		return s[:n]
	}
	if !strings.Contains(s, ".") {
		if w := word(s); w != "" && w == s {
			return []string{s}
		}
		return nil
	}
	var exts []string
	for i := 0; i < len(s); i++ {
		if s[i] != '.' {
			continue
		}
		rest := s[i+1:]
		if strings.HasPrefix(rest, "(") {
			group, _, _ := strings.Cut(rest[1:], ")")
			for _, alt := range strings.Split(strings.TrimPrefix(group, "?:"), "|") {
				if w := word(alt); w != "" {
					exts = append(exts, w)
				}
			}
			continue
		}
		if w := word(rest); w != "" {
			exts = append(exts, w)
		}
	}
	return exts
}

// decide applies overrides, windows and allowed writers to a rule match.
func (p *Policy) decide(id, event string, ctx Context) Verdict {
	r, _ := RuleByID(id)
	v, enabled := p.ruleVerdict(r, event)
	if !enabled {
		return v
	}
	var why string
	switch {
	case ctx.Window != nil:
		why = "inside deploy window " + ctx.Window.String()
		v.Window = ctx.Window
	case p.allowedWriter(ctx.Writer):
		why = "written by allowed writer " + ctx.Writer.String()
	}
	switch {
	case why == "":
		v.Reason = event + " outside any deploy window"
	case r.Window == Unaffected:
		v.Reason = event + "; " + why + ", which does not apply to this rule"
		v.Window = nil
	case r.Window == Lowered:
		v.Severity = min(v.Severity, Medium)
		v.RiskScore = v.Severity.RiskScore()
		v.Reason = event + "; " + why + ": severity lowered to " + v.Severity.String()
	default:
		v.Alert, v.Severity, v.RiskScore = false, Info, 0
		v.Reason = event + "; expected: " + why
	}
	return v
}

// ruleVerdict is r's alert with the policy's overrides (rules:), or, if
// the policy disables r, a dropped verdict saying so.
func (p *Policy) ruleVerdict(r Rule, event string) (v Verdict, enabled bool) {
	v = Verdict{RuleID: r.ID, RuleName: r.Name, Severity: r.Severity, Alert: true}
	if s, ok := p.Rules[r.ID]; ok {
		if !s.Enabled {
			return Verdict{RuleID: r.ID, RuleName: r.Name, Drop: true, Reason: event + "; rule " + r.ID + " is disabled in the policy"}, false
		}
		if s.Severity != 0 {
			v.Severity = s.Severity
		}
	}
	v.RiskScore = v.Severity.RiskScore()
	return v, true
}

// Explain judges a hypothetical change of a regular file root/rel in
// context ctx (see [Policy.ContextAt]), for "webfim policy explain".
func (p *Policy) Explain(root, rel string, a Action, ctx Context) (Verdict, error) {
	return p.ExplainContent(root, rel, a, nil, ctx)
}

// ExplainContent is [Policy.Explain] of a file whose new content has the
// indicators res (nil: not scanned).
func (p *Policy) ExplainContent(root, rel string, a Action, res *indicators.Result, ctx Context) (Verdict, error) {
	c := baseline.Change{Root: root, Path: rel}
	rec := &baseline.Record{Root: root, Path: rel, Type: baseline.TypeFile, Indicators: res}
	switch a {
	case ActionAdded:
		c.Kind, c.New = baseline.Added, rec
	case ActionChanged:
		c.Kind, c.Old, c.New, c.Fields = baseline.ContentChanged, rec, rec, []string{"content"}
	case ActionRemoved:
		c.Kind, c.Old = baseline.Removed, rec
	default:
		return Verdict{}, fmt.Errorf("unknown action %q (want added, changed or removed)", a)
	}
	return p.EvaluateFile(c, ctx), nil
}

// ContextAt is the Context of a change seen at now: the deploy window in
// effect (config windows and the database's ad-hoc windows) and the
// writer, if known (nil otherwise).
func (p *Policy) ContextAt(now time.Time, adhoc []Window, writer *Writer) Context {
	return Context{Now: now, Window: p.WindowAt(now, adhoc), Writer: writer}
}

// RootNames maps each configured root path to its name (for alert.Env).
func (p *Policy) RootNames() map[string]string {
	m := map[string]string{}
	for _, r := range p.Roots {
		if r.Name != "" {
			m[r.Path] = r.Name
		}
	}
	return m
}
