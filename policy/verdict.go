package policy

import (
	"fmt"
	"path"
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
	// Timestomped is set for a content change whose mtime was kept or set
	// back while its ctime moved (see [Policy.EvaluateFile]).
	Timestomped bool
}

// DefaultReviewSeverity is the severity from which a finding must be
// reviewed before a new baseline trusts it (see [Verdict.NeedsReview]).
const DefaultReviewSeverity = High

// NeedsReview reports whether a new baseline (deploy finish) may absorb
// the change of this verdict only when a user accepts it: an alert at or
// above min, a script in a no-script zone, and every finding of a rule
// that a deploy window cannot excuse (modules, handlers, prepends,
// executable extensions, unparsable configurations, registry binaries),
// whatever its severity inside the window.
func (v Verdict) NeedsReview(min Severity) bool {
	if !v.Alert || v.Drop {
		return false
	}
	r, _ := RuleByID(v.RuleID)
	return v.Severity >= min || v.RuleID == RuleScriptInNoScriptZone || r.Window == Lowered
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
	if i, ok := matchIndex(globs, root, rel); ok {
		return globs[i], true
	}
	return "", false
}

// matchIndex is [match] returning the index of the glob.
func matchIndex(globs []string, root, rel string) (int, bool) {
	abs := filepath.ToSlash(filepath.Join(root, filepath.FromSlash(rel)))
	for i, g := range globs {
		subject := rel
		if strings.HasPrefix(g, "/") {
			subject = abs
		}
		if ok, _ := doublestar.Match(g, subject); ok {
			return i, true
		}
	}
	return 0, false
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
// Matching follows the root's case sensitivity ([Policy.CaseInsensitive]):
// on a case-insensitive root "Uploads/s.php" is in "**/uploads/**", as
// the web server would serve it from there.
func (p *Policy) NoScriptZone(root, rel string) (string, bool) {
	zones := p.NoScriptZones
	if r := p.RootFor(root); r != nil && r.NoScriptZones != nil {
		zones = r.NoScriptZones
	}
	if p.CaseInsensitive(root) {
		lowered := make([]string, len(zones))
		for i, z := range zones {
			lowered[i] = strings.ToLower(z)
		}
		if i, ok := matchIndex(lowered, strings.ToLower(root), strings.ToLower(rel)); ok {
			return zones[i], true
		}
		return "", false
	}
	return match(zones, root, rel)
}

// CaseInsensitive reports whether paths under root are looked up without
// regard to case: as the root declares (case_insensitive), else for
// Windows paths ("C:\inetpub") and on Windows and macOS, whose usual file
// systems ignore case.
func (p *Policy) CaseInsensitive(root string) bool {
	if r := p.RootFor(root); r != nil && r.CaseInsensitive != nil {
		return *r.CaseInsensitive
	}
	return platformCaseInsensitive || windowsPath(root)
}

// windowsPath reports whether p looks like a Windows path: a drive letter
// and a colon, or a UNC prefix.
func windowsPath(p string) bool {
	return len(p) >= 2 && p[1] == ':' && (p[0]|0x20 >= 'a' && p[0]|0x20 <= 'z') || strings.HasPrefix(p, `\\`)
}

// What a file is, for [Policy.EvaluateFile].
type fileClass struct {
	script    bool              // script-type by name (every extension counts)
	content   indicators.Family // script content sniffed in a file that is not script-type by name
	restricts bool              // a .htaccess or .user.ini whose directives only restrict
}

func (p *Policy) classify(c baseline.Change, rec *baseline.Record) fileClass {
	var fc fileClass
	if rec == nil || rec.Type == baseline.TypeDir {
		return fc
	}
	fc.script = baseline.IsScript(c.Path, p.ScriptExtensionsFor(c.Root))
	if c.Kind == baseline.Removed || !rec.Sniffed {
		return fc // content unknown: judged by name alone
	}
	if !fc.script {
		fc.content = rec.ContentFamily
	}
	if _, perDir := serverconf.ForFile(path.Base(c.Path)); perDir && rec.RestrictsOnly {
		fc.restricts = true
	}
	return fc
}

// EvaluateFile judges a change of a file system entry.
//
// No-script zones are absolute: an ignore glob does not hide a script (by
// name or by content) in a zone. A file that is not script-type by name
// but whose first bytes are script code (a PHP open tag, <%@, <jsp:,
// #!...; see [indicators.Sniff]) is judged as a script: in a zone by
// webfim-001, elsewhere by webfim-028. A .htaccess or .user.ini that only
// restricts is webfim-029 (low). A content change whose mtime did not
// move forward while the ctime did is a forged timestamp: the verdict
// says so (Timestomped) and, as an alert, is raised one level.
func (p *Policy) EvaluateFile(c baseline.Change, ctx Context) Verdict {
	rec := c.New
	if rec == nil {
		rec = c.Old
	}
	fc := p.classify(c, rec)
	zone, inZone := "", false
	if c.Kind != baseline.Removed {
		zone, inZone = p.NoScriptZone(c.Root, c.Path)
	}
	zoneThreat := inZone && ((fc.script && !fc.restricts) || fc.content != indicators.FamilyNone)
	if g, ok := p.ignoredBy(c.Root, c.Path); ok && !zoneThreat {
		return Verdict{Drop: true, Reason: fmt.Sprintf("path matches ignore glob %q", g)}
	}
	what := "file"
	if rec != nil && rec.Type != baseline.TypeFile {
		what = rec.Type.String()
	}
	contentChange := c.Kind == baseline.Added || c.Kind == baseline.Moved || c.Kind == baseline.ContentChanged
	switch {
	case fc.restricts && contentChange:
		what = "per-directory configuration that only restricts"
	case fc.script:
		what = "script-type " + what
	case fc.content != indicators.FamilyNone && c.Kind != baseline.MetadataChanged:
		what += " with " + fc.content.String() + " content"
	}
	var id, event string
	switch c.Kind {
	case baseline.Transient:
		// By its last extension: a name that vanished at once with a
		// script extension inside (an editor's .index.php.swp) is the
		// editor's, not a run of a dropped script.
		if !fc.script || !baseline.IsScript(lastExtension(c.Path), p.ScriptExtensionsFor(c.Root)) {
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
		if fc.script {
			id = RuleScriptAdded
		}
	case baseline.ContentChanged:
		id, event = RuleFileChanged, what+" modified"
		if fc.script {
			id = RuleScriptModified
		}
	default: // metadata_changed and kinds added later
		id, event = RuleFileChanged, what+" changed ("+strings.Join(c.Fields, ", ")+")"
	}
	switch {
	case c.Kind == baseline.Removed, c.Kind == baseline.Transient:
	case fc.restricts && contentChange:
		id = RuleRestrictOnlyConfig
	case fc.script && inZone, fc.content != indicators.FamilyNone && inZone && contentChange:
		id = RuleScriptInNoScriptZone
		event += fmt.Sprintf(" in no-script zone %q", zone)
	case fc.content != indicators.FamilyNone && contentChange:
		id = RuleScriptContent
	}
	if zoneThreat {
		if g, ok := p.ignoredBy(c.Root, c.Path); ok {
			event += fmt.Sprintf(" (ignore glob %q does not apply in a no-script zone)", g)
		}
	}
	ctx, uncovered := p.writerWindow(ctx)
	scriptLike := (fc.script || fc.content != indicators.FamilyNone) && c.Kind != baseline.Removed
	v := p.withIndicators(c, p.judgeWriter(p.decide(id, event, ctx), event, scriptLike, ctx, uncovered))
	if timestomped(c) && !v.Drop {
		v.Timestomped = true
		how := "restored to its previous value"
		if c.New.Mtime < c.Old.Mtime {
			how = "set back"
		}
		note := fmt.Sprintf("; the content changed but the mtime was %s (%s) while the ctime moved: a forged timestamp (timestomping)",
			how, time.Unix(0, c.New.Mtime).UTC().Format(time.RFC3339Nano))
		if v.Alert && v.Severity < Critical {
			v.Severity++
			v.RiskScore = v.Severity.RiskScore()
			note += ", severity raised to " + v.Severity.String()
		}
		v.Reason += note
	}
	return v
}

// lastExtension is the name of path reduced to its last extension
// ("x.php" for "a/.index.php.swp" is "x.swp"), for a judgement by the
// last extension alone; a name without one stays as it is.
func lastExtension(p string) string {
	name := path.Base(p)
	if _, perDir := serverconf.ForFile(name); perDir {
		return name // web.config, .htaccess, .user.ini
	}
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		return "x" + name[i:]
	}
	return name
}

// timestomped reports whether a content change kept or moved back the
// mtime while the ctime, which a user cannot set, moved: the signature of
// "touch -r" or a timestamp-restoring tool after an in-place edit.
func timestomped(c baseline.Change) bool {
	if c.Kind != baseline.ContentChanged || c.Old == nil || c.New == nil || c.Old.Type != baseline.TypeFile || c.New.Type != baseline.TypeFile {
		return false
	}
	o, n := c.Old, c.New
	return o.Ctime != 0 && n.Ctime != 0 && n.Ctime != o.Ctime && n.Mtime <= o.Mtime
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
