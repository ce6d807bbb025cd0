package policy

import (
	"fmt"
	"strings"
)

// WindowEffect is what a deploy window (or an allowed writer) does to a
// rule's finding.
type WindowEffect int

const (
	// Expected: inside a window the change is an expected event, not an alert.
	Expected WindowEffect = iota
	// Lowered: inside a window the alert stays, at medium severity.
	Lowered
	// Unaffected: windows change nothing.
	Unaffected
)

func (e WindowEffect) String() string {
	return [...]string{"expected event", "alert lowered to medium", "none: always alerts"}[e]
}

// Technique is a MITRE ATT&CK technique or sub-technique.
type Technique struct {
	ID, Name, Reference string
}

// MITRE ATT&CK tactics: TA0003, that of every rule unless its entry
// says otherwise ([Rule.Tactic]), and TA0005.
var (
	Persistence    = Technique{"TA0003", "Persistence", "https://attack.mitre.org/tactics/TA0003/"}
	DefenseEvasion = Technique{"TA0005", "Defense Evasion", "https://attack.mitre.org/tactics/TA0005/"}
)

// MITRE ATT&CK techniques used by the rules.
var (
	ServerSoftwareComponent = Technique{"T1505", "Server Software Component", "https://attack.mitre.org/techniques/T1505/"}
	TransportAgent          = Technique{"T1505.002", "Transport Agent", "https://attack.mitre.org/techniques/T1505/002/"}
	WebShell                = Technique{"T1505.003", "Web Shell", "https://attack.mitre.org/techniques/T1505/003/"}
	IISComponents           = Technique{"T1505.004", "IIS Components", "https://attack.mitre.org/techniques/T1505/004/"}
	TerminalServicesDLL     = Technique{"T1505.005", "Terminal Services DLL", "https://attack.mitre.org/techniques/T1505/005/"}
	ImpairDefenses          = Technique{"T1562", "Impair Defenses", "https://attack.mitre.org/techniques/T1562/"}
	DisableOrModifyTools    = Technique{"T1562.001", "Disable or Modify Tools", "https://attack.mitre.org/techniques/T1562/001/"}
)

// Rule is one entry of the rule catalog. IDs are stable: a rule is never
// renumbered, retired ids are not reused.
type Rule struct {
	ID          string
	Name        string
	Description string
	// Triggers says which changes match, for the catalog.
	Triggers     string
	Severity     Severity
	Window       WindowEffect
	Tactic       *Technique // nil: Persistence
	Technique    Technique  // T1505 for changes of the server
	Subtechnique *Technique // nil when no sub-technique fits
	References   []string
	Tuning       string
	// Version increases when the rule's logic changes (ECS rule.version).
	Version int
}

// RiskScore is the rule's default ECS event.risk_score.
func (r Rule) RiskScore() float64 { return r.Severity.RiskScore() }

// TacticOf is the rule's MITRE ATT&CK tactic.
func (r Rule) TacticOf() Technique {
	if r.Tactic != nil {
		return *r.Tactic
	}
	return Persistence
}

// Rule ids.
const (
	RuleScriptInNoScriptZone = "webfim-001"
	RuleScriptAdded          = "webfim-002"
	RuleScriptModified       = "webfim-003"
	RuleIISModule            = "webfim-004"
	RuleTransportAgent       = "webfim-005"
	RuleServerModule         = "webfim-006"
	RuleHandlerMapping       = "webfim-007"
	RuleAutoPrepend          = "webfim-008"
	RuleNewExecutableExt     = "webfim-009"
	RuleUnparsableConfig     = "webfim-010"
	RuleConfigItemChanged    = "webfim-011"
	RuleConfigItemRemoved    = "webfim-012"
	RuleFileChanged          = "webfim-013"
	RuleFileRemoved          = "webfim-014"
	RuleRegistryIISBinary    = "webfim-015"
	RuleTerminalServicesDLL  = "webfim-016"
	RuleRegistryTransport    = "webfim-017"
	RuleIISComponent         = "webfim-018"
	RuleUnloadedModuleBinary = "webfim-019"
	RuleMonitoringGap        = "webfim-020"
	RuleTransientScript      = "webfim-021"
	RuleServerSpawn          = "webfim-022"
	RuleWebShellIndicators   = "webfim-025"
	RuleScriptContent        = "webfim-028"
	RuleRestrictOnlyConfig   = "webfim-029"
	RuleUntrustedBaseline    = "webfim-031"
)

var catalog = []Rule{
	{
		ID: RuleScriptInNoScriptZone, Name: "Script-type file in a no-script zone",
		Description: "A script-type file appeared or changed in a directory that should only hold uploads or static assets; this is the classic location of a web shell dropped through an upload form.",
		Triggers:    "A script-type file (by any of its extensions, so `s.php.jpg` too, or .htaccess, .user.ini, web.config) added, modified or moved into a path matching `no_script_zones`, or a file of any name whose first bytes are script code (a PHP open tag, `<%`, `<jsp:`, `<cfscript`, `#!`, ...) added or modified there. Zones match without regard to case on case-insensitive roots, and `ignore` globs do not apply in them. A .htaccess or .user.ini that only restricts is webfim-029 instead.",
		Severity:    Critical, Window: Unaffected, Technique: ServerSoftwareComponent, Subtechnique: &WebShell,
		References: []string{WebShell.Reference, "https://www.cisa.gov/news-events/alerts/2015/11/10/compromised-web-servers-and-web-shells-threat-awareness-and-guidance"},
		Tuning:     "Narrow `no_script_zones` (globally or per root) if an application legitimately keeps scripts under such a path, e.g. a plugin's `static/` directory with PHP helpers.",
		Version:    2,
	},
	{
		ID: RuleScriptAdded, Name: "Script-type file added outside a deploy window",
		Description: "A new script-type file appeared in a web root while no deploy window was open.",
		Triggers:    "A script-type file added (or moved to a new path) outside any deploy window.",
		Severity:    High, Window: Expected, Technique: ServerSoftwareComponent, Subtechnique: &WebShell,
		References: []string{WebShell.Reference},
		Tuning:     "Open a deploy window for releases (`webfim deploy start`, or `deploy_windows`), list the deploy tool in `allowed_writers`, or `ignore` generated caches (e.g. compiled templates).",
		Version:    1,
	},
	{
		ID: RuleScriptModified, Name: "Script-type file modified outside a deploy window",
		Description: "The content of an existing script-type file changed while no deploy window was open; attackers often inject code into existing pages to hide a web shell.",
		Triggers:    "Content change of a script-type file outside any deploy window.",
		Severity:    High, Window: Expected, Technique: ServerSoftwareComponent, Subtechnique: &WebShell,
		References: []string{WebShell.Reference},
		Tuning:     "Same as webfim-002; applications that rewrite their own PHP config files (e.g. a CMS installer) can be excluded with `ignore` for that one file.",
		Version:    1,
	},
	{
		ID: RuleIISModule, Name: "IIS module or ISAPI filter added or changed",
		Description: "A native or managed IIS module, ISAPI filter or ISAPI/CGI restriction was added, or its image changed; IIS modules see every request and are a known persistence mechanism (e.g. OwlProxy, IIS-Raid).",
		Triggers:    "Inventory item of kind global_module, module, http_module, module_provider, isapi_filter or isapi_cgi_restriction (IIS applicationHost.config or web.config) added or changed.",
		Severity:    Critical, Window: Lowered, Technique: ServerSoftwareComponent, Subtechnique: &IISComponents,
		References: []string{IISComponents.Reference, "https://learn.microsoft.com/en-us/iis/get-started/introduction-to-iis/iis-modules-overview"},
		Tuning:     "Cannot be disabled by a window; lower its severity in `rules` only if modules are managed by configuration management you trust.",
		Version:    1,
	},
	{
		ID: RuleTransportAgent, Name: "Exchange transport agent added or changed",
		Description: "A Microsoft Exchange transport agent was added, enabled or changed; transport agents process every mail and have been used for persistent mail theft (e.g. LightNeuron).",
		Triggers:    "Inventory item of kind transport_agent (agents.config, fetagents.config) added or changed.",
		Severity:    Critical, Window: Lowered, Technique: ServerSoftwareComponent, Subtechnique: &TransportAgent,
		References: []string{TransportAgent.Reference},
		Tuning:     "Expected only when installing Exchange updates or vetted mail-filter products; compare the agent's assembly path and digest with the vendor's.",
		Version:    1,
	},
	{
		ID: RuleServerModule, Name: "Web server module or extension added or changed",
		Description: "A module, shared library, PHP extension or Tomcat valve/listener loaded by the web server was added, or its image changed.",
		Triggers:    "Inventory item of kind load_module, load_file, extension, zend_extension, valve or listener (Apache, nginx, PHP, Tomcat) added or changed.",
		Severity:    Critical, Window: Lowered, Technique: ServerSoftwareComponent,
		References: []string{ServerSoftwareComponent.Reference},
		Tuning:     "Package upgrades change module images: run them inside a deploy window (the alert stays, at medium) and take a new baseline afterwards.",
		Version:    1,
	},
	{
		ID: RuleHandlerMapping, Name: "Handler mapping added or changed",
		Description: "A handler mapping (IIS handlers, Apache AddHandler/SetHandler, nginx FastCGI location, Tomcat JSP mapping) for a script extension was added or changed.",
		Triggers:    "Inventory item of kind handler, http_handler, script_handler or jsp_mapping added or changed whose extensions are all script-type (or that names none, such as an nginx proxy_pass location), or an IIS fastcgi_application.",
		Severity:    Critical, Window: Lowered, Technique: ServerSoftwareComponent,
		References: []string{ServerSoftwareComponent.Reference, IISComponents.Reference},
		Tuning:     "Mostly changes on server upgrades; review the handler's image or script processor.",
		Version:    1,
	},
	{
		ID: RuleAutoPrepend, Name: "PHP auto_prepend_file or auto_append_file set",
		Description: "PHP was configured to run a file before or after every script; a favourite way to hide a web shell or credential stealer in php.ini, an FPM pool, .user.ini or .htaccess.",
		Triggers:    "Inventory item of kind auto_prepend_file or auto_append_file added or changed.",
		Severity:    Critical, Window: Lowered, Technique: ServerSoftwareComponent, Subtechnique: &WebShell,
		References: []string{WebShell.Reference, "https://www.php.net/manual/en/ini.core.php#ini.auto-prepend-file"},
		Tuning:     "Some security plugins (e.g. WAFs for WordPress) use auto_prepend_file: verify the target file, then take a new baseline.",
		Version:    1,
	},
	{
		ID: RuleNewExecutableExt, Name: "Configuration makes a new extension executable",
		Description: "A server or per-directory configuration (.htaccess, web.config) maps a non-script extension such as .jpg to a script handler, or enables CGI execution, so an innocent-looking upload runs as code.",
		Triggers:    "Inventory item of kind handler, http_handler, script_handler or jsp_mapping that maps an extension that is not script-type (per `script_extensions`; when the pattern names no extension, per the parser), an Apache `Options +ExecCGI` (exec_cgi), or an IIS handlers accessPolicy allowing Script or Execute, added or changed.",
		Severity:    Critical, Window: Lowered, Technique: ServerSoftwareComponent, Subtechnique: &WebShell,
		References: []string{WebShell.Reference},
		Tuning:     "Add the extension to `script_extensions` if it is legitimately executable on this server.",
		Version:    1,
	},
	{
		ID: RuleUnparsableConfig, Name: "Server configuration cannot be parsed",
		Description: "A tracked server configuration no longer parses, so its inventory of modules and handlers is unknown; the server may still load it.",
		Triggers:    "Inventory item of kind unparsable (a configuration file, or a registry hive or key, that cannot be read) added or changed.",
		Severity:    High, Window: Lowered, Technique: ServerSoftwareComponent,
		References: []string{ServerSoftwareComponent.Reference},
		Tuning:     "Usually an editing mistake; fix the file. Inside a window the alert stays at medium because webfim cannot see what the file now loads.",
		Version:    1,
	},
	{
		ID: RuleConfigItemChanged, Name: "Server configuration item added or changed",
		Description: "Another server extension point changed: an include, a configSource or configuration redirection, a web root, a Tomcat context or WAR.",
		Triggers:    "Inventory item of any other kind (include, config_source, redirection, web_root, context, war, an access_policy without Script or Execute, a registry value that names no binary, ...) added or changed outside a deploy window.",
		Severity:    Medium, Window: Expected, Technique: ServerSoftwareComponent,
		References: []string{ServerSoftwareComponent.Reference},
		Tuning:     "Expected during server maintenance: use a deploy window.",
		Version:    1,
	},
	{
		ID: RuleConfigItemRemoved, Name: "Server configuration item removed",
		Description: "A module, handler or other extension point was removed from a server configuration.",
		Triggers:    "Inventory item of any kind removed outside a deploy window.",
		Severity:    Low, Window: Expected, Technique: ServerSoftwareComponent,
		References: []string{ServerSoftwareComponent.Reference},
		Tuning:     "Expected during server maintenance: use a deploy window.",
		Version:    1,
	},
	{
		ID: RuleFileChanged, Name: "File added or changed outside a deploy window",
		Description: "A file that is not script-type was added or changed, or any entry's metadata (mode, owner, symlink target) changed, outside a deploy window.",
		Triggers:    "Any other added, moved, content-changed or metadata-changed entry outside any deploy window.",
		Severity:    Low, Window: Expected, Technique: ServerSoftwareComponent,
		References: []string{ServerSoftwareComponent.Reference},
		Tuning:     "`ignore` caches, logs and session files; `exclude` directories that should not be walked at all.",
		Version:    1,
	},
	{
		ID: RuleFileRemoved, Name: "File removed outside a deploy window",
		Description: "An entry was removed from a web root outside a deploy window (attackers remove their tools; defacements replace pages).",
		Triggers:    "Any removed entry outside any deploy window.",
		Severity:    Low, Window: Expected, Technique: ServerSoftwareComponent,
		References: []string{ServerSoftwareComponent.Reference},
		Tuning:     "`ignore` paths that applications delete routinely (caches, sessions).",
		Version:    1,
	},
	{
		ID: RuleRegistryIISBinary, Name: "IIS or WAS binary registered in the registry",
		Description: "A DLL or executable was registered, or its registration or binary changed, under the registry keys of IIS: the W3SVC*, WAS*, IISADMIN, AppHostSvc, W3LOGSVC and WMSVC services or HKLM\\SOFTWARE\\Microsoft\\InetStp. Legacy ISAPI filters in W3SVC\\Parameters\\Filter DLLs, a service's ServiceDll or ImagePath and any value naming a binary are loaded by the web server's processes, yet none of them appear in applicationHost.config.",
		Triggers:    "Registry inventory item of an IIS key of kind filter_dll, service_dll or service_image, or a registry_value naming a .dll, .exe or .sys, added or changed (including the referenced binary's digest).",
		Severity:    Critical, Window: Lowered, Technique: ServerSoftwareComponent, Subtechnique: &IISComponents,
		References: []string{IISComponents.Reference, "https://learn.microsoft.com/en-us/iis/configuration/system.webserver/isapifilters/"},
		Tuning:     "IIS setup and Windows updates change these keys: install them inside a deploy window (the alert stays, at medium), compare the binary's digest with the vendor's, and take a new baseline.",
		Version:    1,
	},
	{
		ID: RuleTerminalServicesDLL, Name: "Terminal Services DLL registered or changed",
		Description: "The ServiceDll of the TermService service, or another binary registered under its key, was added or changed: svchost loads it into the Remote Desktop service as SYSTEM at every start, a persistence that survives reboots and patching.",
		Triggers:    "Registry inventory item of the TermService key of kind service_dll or service_image, or a registry_value naming a .dll, .exe or .sys, added or changed (including the referenced binary's digest).",
		Severity:    Critical, Window: Lowered, Technique: ServerSoftwareComponent, Subtechnique: &TerminalServicesDLL,
		References: []string{TerminalServicesDLL.Reference},
		Tuning:     "Only Windows updates replace termsrv.dll, in place; a ServiceDll outside %SystemRoot%\\System32 is never legitimate.",
		Version:    1,
	},
	{
		ID: RuleRegistryTransport, Name: "Exchange transport binary registered in the registry",
		Description: "A DLL or executable was registered, or its registration or binary changed, under the registry keys of the Exchange transport services (MSExchangeTransport*, MSExchangeFrontEndTransport*, MSExchangeDelivery*, MSExchangeSubmission*) or of the transport roles in HKLM\\SOFTWARE\\Microsoft\\ExchangeServer: code that runs in the processes handling every mail.",
		Triggers:    "Registry inventory item of an Exchange transport key of kind service_dll or service_image, or a registry_value naming a .dll, .exe or .sys, added or changed (including the referenced binary's digest).",
		Severity:    Critical, Window: Lowered, Technique: ServerSoftwareComponent, Subtechnique: &TransportAgent,
		References: []string{TransportAgent.Reference},
		Tuning:     "Exchange cumulative updates change these keys: install them inside a deploy window and take a new baseline.",
		Version:    1,
	},
	{
		ID: RuleIISComponent, Name: "IIS component installed or changed",
		Description: "A value of HKLM\\SOFTWARE\\Microsoft\\InetStp\\Components changed: an IIS feature such as ISAPI filters or extensions, CGI or WebDAV was installed, removed or turned back on, which changes what the server can load and run.",
		Triggers:    "Registry inventory item of kind iis_component added or changed.",
		Severity:    High, Window: Lowered, Technique: ServerSoftwareComponent, Subtechnique: &IISComponents,
		References: []string{IISComponents.Reference},
		Tuning:     "Install IIS features inside a deploy window (the alert stays, at medium) and take a new baseline.",
		Version:    1,
	},
	{
		ID: RuleUnloadedModuleBinary, Name: "Binary added or replaced in a module directory",
		Description: "A file appeared or changed in a directory the web server loads modules or PHP extensions from (the directory of a LoadModule, load_module or extension= image), and no configuration loads it yet: a module staged for a later LoadModule line, or an unused module replaced so that enabling it later loads the attacker's code.",
		Triggers:    "Inventory item of kind module_file (a file of a module directory that no item loads) added or changed.",
		Severity:    Medium, Window: Expected, Technique: ServerSoftwareComponent,
		References: []string{ServerSoftwareComponent.Reference},
		Tuning:     "Package upgrades replace the modules they ship: run them inside a deploy window and take a new baseline afterwards.",
		Version:    1,
	},
	{
		ID: RuleMonitoringGap, Name: "Monitoring gap",
		Description: "The watch daemon cannot see part of what it monitors: the active baseline or the database is gone, a web root is missing, a root is not in the baseline, a file system mounted inside a root is not walked, or inotify limits leave directories unwatched. Changes there are not reported until the gap is resolved; /healthz reports not ok meanwhile.",
		Triggers:    "A monitoring gap opened (webfim.gap.reason: baseline_lost, database_lost, root_missing, root_not_in_baseline, mount_not_crossed, watch_limit); its end is an event (monitoring-gap-resolved).",
		Severity:    High, Window: Unaffected, Tactic: &DefenseEvasion, Technique: ImpairDefenses, Subtechnique: &DisableOrModifyTools,
		References: []string{DisableOrModifyTools.Reference},
		Tuning:     "Resolve the cause named in the alert (restore the baseline or database, recreate the root, cover the mount point with --cross-device or exclude it, raise the inotify limits); do not disable the rule.",
		Version:    1,
	},
	{
		ID: RuleTransientScript, Name: "Script-type file created and deleted before it could be checked",
		Description: "A script-type file was created under a web root and deleted again within moments, before webfim could hash it: the upload-run-delete pattern of a one-shot web shell. What was seen of it (path, size, times, and the writing process when known) is reported.",
		Triggers:    "A script-type file seen by a file system notification that no longer exists when checked and is not in the baseline, outside any deploy window.",
		Severity:    High, Window: Expected, Technique: ServerSoftwareComponent, Subtechnique: &WebShell,
		References: []string{WebShell.Reference},
		Tuning:     "Build tools create and delete temporary scripts: run deploys inside a deploy window, list the tool in `allowed_writers`, or `ignore` its scratch directory.",
		Version:    1,
	},
	{
		ID: RuleServerSpawn, Name: "Server process spawned a shell or reconnaissance tool",
		Description: "A web, application or database server (apache2, nginx, php-fpm, Tomcat, node, gunicorn, postgres, mysqld, ...) started a shell, a reconnaissance tool (whoami, id, uname, ...), a network tool, an encoder, a scheduler or inline interpreter code, directly or a few generations down: how a web shell runs its commands, and how SQL injection into COPY ... TO PROGRAM or xp_cmdshell does. The first and strongest sign of a web shell in use, which no file change shows.",
		Triggers:    "On Linux with process attribution: the exec of a shell (sh, bash, dash, ...), reconnaissance tool (whoami, id, uname, hostname, ip, netstat, ps, cat of /etc/passwd, ...), network tool (curl, wget, nc, socat, ...), interpreter running inline code (python, perl, php -r, ...), encoder (base64, xxd) or scheduler (crontab, at) whose ancestor within `attribution.lineage.max_depth` generations (default 4) is a server process, unless the spawn matches `attribution.lineage.allow` (Apache's piped logs and PHP's mail() are allowed by default).",
		Severity:    High, Window: Unaffected, Technique: ServerSoftwareComponent, Subtechnique: &WebShell,
		References: []string{WebShell.Reference, "https://github.com/redcanaryco/atomic-red-team/blob/master/atomics/T1505.003/T1505.003.md"},
		Tuning:     "Allowlist the spawns an application makes by design (a PHP application calling convert through a shell, a CGI wrapper) in `attribution.lineage.allow`, with an anchored `command_line` so that an appended `; id` still alerts. Deploy windows do not apply.",
		Version:    1,
	},
	{
		ID: RuleWebShellIndicators, Name: "Web-shell indicators in a new or changed file",
		Description: "The content of a file that was added, moved or changed shows web-shell indicators (request input reaching an execution sink, decoded data evaluated, the markers of a known shell, a matching YARA rule): a web shell dropped or injected, inside a deploy window or not. The finding carries the indicators found, with their lines and excerpts.",
		Triggers:    "An added, moved or content-changed file whose new content was scanned for web-shell indicators (script-type files) and whose score reaches the medium threshold (docs/indicators.md), when the rule of its path and window says less: an expected event inside a deploy window, or a lower severity. A score at the high threshold is this rule's severity (high); at medium, medium at most. A rule of the path that says as much or more (webfim-001 in a no-script zone, critical) keeps the finding, its reason naming the indicators.",
		Severity:    High, Window: Unaffected, Technique: ServerSoftwareComponent, Subtechnique: &WebShell,
		References: []string{WebShell.Reference, "https://www.cisa.gov/sites/default/files/publications/web-shell-detection-and-mitigation.pdf"},
		Tuning:     "Tune the indicators, not the rule: lower the weight of an indicator that a legitimate application trips (`indicators.weights`), or raise `indicators.thresholds`; `webfim scan --all --format json DIR` scores a tree before and after. `ignore` globs still drop a path. Disabling this rule leaves findings at the severity of their path's rule.",
		Version:    1,
	},
	{
		ID: RuleScriptContent, Name: "Script code in a file that is not script-type",
		Description: "A file whose name does not make it a script (an image, a text file, a file without extension) starts with script code: the payload half of a chain that a handler mapping (.htaccess AddType/SetHandler, a web.config handler) or an include turns into a web shell, as with PHP saved as pic.png.",
		Triggers:    "A file that is not script-type by name added, moved or modified outside a deploy window, whose first bytes (at most 8 KiB, read in the hashing pass) are script code: a PHP open tag, `<%@` or `<%`, `<jsp:`, `<cfscript`/`<cf...`, an SSI directive, or `#!` at the start. In a no-script zone such a file is webfim-001. Medium, not high, because documentation and tooling also start with code (in Debian's WordPress 3 of 2,521 files do, in MediaWiki 36 of 23,501: README.md files with PHP samples, extensionless PHP and Node.js command-line scripts, lodash templates).",
		Severity:    Medium, Window: Expected, Technique: ServerSoftwareComponent, Subtechnique: &WebShell,
		References: []string{WebShell.Reference, "https://owasp.org/www-community/vulnerabilities/Unrestricted_File_Upload"},
		Tuning:     "Templates and documentation that begin with code (e.g. a `.tpl` or `.txt` with a PHP example) match; add their extension to `script_extensions` if the server runs them, or `ignore` them outside the no-script zones.",
		Version:    1,
	},
	{
		ID: RuleRestrictOnlyConfig, Name: "Per-directory configuration that only restricts",
		Description: "A .htaccess or .user.ini was added or changed whose every directive only takes rights away: access control (Require all denied, Deny from all), `php_flag engine off`, `Options -ExecCGI`, RemoveHandler/RemoveType, rewrite rules that refuse. Applications ship such files to protect their upload directories (MediaWiki's images/.htaccess), so they are not web-shell enablers even in a no-script zone.",
		Triggers:    "A .htaccess or .user.ini added, moved or modified whose content, read whole in the hashing pass, has only restricting directives (any handler, type, prepend or other directive makes it script-type, webfim-001/002/003, and its items are judged as a server configuration).",
		Severity:    Low, Window: Expected, Technique: ServerSoftwareComponent,
		References: []string{"https://httpd.apache.org/docs/2.4/howto/htaccess.html"},
		Tuning:     "Nothing to tune: a directive that grants anything moves the file back to the script rules.",
		Version:    1,
	},
	{
		ID: RuleUntrustedBaseline, Name: "Untrusted baseline",
		Description: "The watch daemon requires signed baselines (`require_signed`) and refuses the reference it should compare with: a baseline made active that no trusted key signed (a re-baseline that absorbs a web shell), an older signed baseline made active again (a replay), or the baseline it judges against, edited in the database since it was verified. Changes stay judged against the last verified baseline.",
		Triggers:    "Under `require_signed: true`, a baseline that becomes active (or is verified again at a full rescan or a reload) is not signed by a key of `trusted_keys`, differs from its signed digest, or is older than the newest signed baseline seen from its host.",
		Severity:    High, Window: Unaffected, Tactic: &DefenseEvasion, Technique: ImpairDefenses, Subtechnique: &DisableOrModifyTools,
		References: []string{DisableOrModifyTools.Reference},
		Tuning:     "Take baselines signed (`baseline create --sign-key`, `deploy finish --sign-key`) or attach the signature made elsewhere with `baseline attach-signature --activate`; `webfim baseline verify active` names what is wrong. See [trust.md](trust.md).",
		Version:    1,
	},
}

// Rules returns the rule catalog in id order.
func Rules() []Rule {
	out := make([]Rule, len(catalog))
	copy(out, catalog)
	return out
}

// RuleByID returns the catalog entry of a rule id.
func RuleByID(id string) (Rule, bool) {
	for _, r := range catalog {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

func ruleIDs() []string {
	ids := make([]string, len(catalog))
	for i, r := range catalog {
		ids[i] = r.ID
	}
	return ids
}

// CatalogMarkdown renders the rule catalog; docs/rules.md is this text.
func CatalogMarkdown() string {
	var b strings.Builder
	b.WriteString("# Rule catalog\n\n")
	b.WriteString("<!-- Generated from policy/rules.go by `go test ./policy -run TestRulesDoc -update`. Do not edit. -->\n\n")
	b.WriteString("Every change is judged by exactly one rule. Rule ids are stable. Rules map to the MITRE ATT&CK tactic ")
	fmt.Fprintf(&b, "[%s %s](%s) unless their entry names another. ", Persistence.ID, Persistence.Name, Persistence.Reference)
	b.WriteString("Severity and enablement can be overridden per rule in `webfim.yml` (`rules:`, see [policy.md](policy.md)). ")
	b.WriteString("The risk score (ECS `event.risk_score`) follows the severity: low 21, medium 47, high 73, critical 99. ")
	b.WriteString("\"In a deploy window\" also applies to changes made by a process listed in `allowed_writers`, when the writer is known; once `allowed_writers` is set, a window covers only their changes, and a script-type file written by a server process is at least high, window or not (see [policy.md](policy.md#allowed_writers)).\n\n")
	b.WriteString("| id | name | severity | risk | in a deploy window | MITRE ATT&CK |\n|---|---|---|---|---|---|\n")
	for _, r := range catalog {
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s | %g | %s | %s |\n", r.ID, r.ID, r.Name, r.Severity, r.RiskScore(), r.Window, r.mitre())
	}
	for _, r := range catalog {
		fmt.Fprintf(&b, "\n## %s\n\n**%s**\n\n%s\n\n", r.ID, r.Name, r.Description)
		fmt.Fprintf(&b, "- Triggers: %s\n", r.Triggers)
		fmt.Fprintf(&b, "- Default severity: %s (risk score %g)\n", r.Severity, r.RiskScore())
		fmt.Fprintf(&b, "- In a deploy window: %s\n", r.Window)
		tactic := r.TacticOf()
		fmt.Fprintf(&b, "- MITRE ATT&CK: [%s %s](%s), [%s %s](%s)", tactic.ID, tactic.Name, tactic.Reference, r.Technique.ID, r.Technique.Name, r.Technique.Reference)
		if s := r.Subtechnique; s != nil {
			fmt.Fprintf(&b, ", [%s %s](%s)", s.ID, s.Name, s.Reference)
		}
		b.WriteString("\n- References:")
		for _, ref := range r.References {
			fmt.Fprintf(&b, " <%s>", ref)
		}
		fmt.Fprintf(&b, "\n- Tuning: %s\n", r.Tuning)
	}
	return b.String()
}

func (r Rule) mitre() string {
	if r.Subtechnique != nil {
		return r.Subtechnique.ID + " " + r.Subtechnique.Name
	}
	return r.Technique.ID + " " + r.Technique.Name
}
