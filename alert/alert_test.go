package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"webfim/baseline"
	"webfim/indicators"
	"webfim/policy"
	"webfim/serverconf"
)

var detected = time.Date(2026, 11, 26, 10, 30, 0, 123000000, time.UTC)

func testEnv() Env {
	return Env{
		Host: HostInfo{Name: "web01", Hostname: "web01.example.org", ID: "4c2f0c5e8a3b4f0e9d7a6b5c4d3e2f1a", Arch: "x86_64",
			OS: OSInfo{Type: "linux", Family: "debian", Name: "Debian GNU/Linux", Version: "12", Platform: "debian", Kernel: "6.1.0-18-amd64"}},
		AgentVersion:  "0.1.0",
		BaselineID:    7,
		BaselineLabel: "v2.3.0",
		Now:           detected,
		RootNames:     map[string]string{"/var/www/html": "wordpress"},
		Owner:         func(uid uint32) string { return map[uint32]string{0: "root", 33: "www-data"}[uid] },
		Group:         func(gid uint32) string { return map[uint32]string{0: "root", 33: "www-data"}[gid] },
	}
}

func rep(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func rec(rel string, b3 byte, script bool) *baseline.Record {
	r := &baseline.Record{Root: "/var/www/html", Path: rel, Type: baseline.TypeFile, Mode: 0o644, Size: 1234,
		UID: 33, GID: 33, Mtime: 1795000000000000000, Ctime: 1795000000500000000, Inode: 393218, Dev: 2049, BLAKE3: rep(b3, 32)}
	if script {
		r.SHA256 = rep(b3+1, 32)
	}
	return r
}

func fileChange(kind baseline.ChangeKind, rel string, script bool) baseline.Change {
	c := baseline.Change{Kind: kind, Root: "/var/www/html", Path: rel}
	switch kind {
	case baseline.Added:
		c.New = rec(rel, 0xab, script)
	case baseline.Removed:
		c.Old = rec(rel, 0xab, script)
	case baseline.MetadataChanged:
		c.Old, c.New = rec(rel, 0xab, script), rec(rel, 0xab, script)
		c.New.Mode, c.New.UID = 0o666, 0
		c.Fields = []string{"mode", "uid"}
	default:
		c.Old, c.New = rec(rel, 0x11, script), rec(rel, 0xab, script)
		c.Fields = []string{"content", "size", "mtime"}
	}
	return c
}

// sniffed sets what the hashing pass found in the first bytes of c's new
// content.
func sniffed(c baseline.Change, fam indicators.Family, restricts bool) baseline.Change {
	c.New.Sniffed, c.New.ContentFamily, c.New.RestrictsOnly = true, fam, restricts
	return c
}

// timestomp makes c an in-place edit whose mtime was put back ("touch -r").
func timestomp(c baseline.Change) baseline.Change {
	c.New.Mtime, c.New.Size = c.Old.Mtime, c.Old.Size
	c.New.Ctime = c.Old.Ctime + 86400e9
	c.Fields = []string{"content"}
	return c
}

func item(server, kind, name, image string) *serverconf.Item {
	return &serverconf.Item{Server: server, Kind: kind, Name: name, Image: image, Scope: "server",
		Source: "/etc/apache2/apache2.conf", Line: 42, Attrs: map[string]string{"preCondition": "bitness64"},
		ImageBLAKE3: strings.Repeat("cd", 32)}
}

var jenkins = &policy.Window{Label: "v2.3.1", By: "jenkins", Start: detected.Add(-10 * time.Minute), End: detected.Add(20 * time.Minute)}

type scenario struct {
	name   string
	rule   string // the rule the policy must pick
	file   *baseline.Change
	item   *serverconf.Change
	gap    *Gap
	seen   *Seen
	spawn  *Spawn
	window *policy.Window
	// untrusted, if set, is why the watch daemon refuses baseline 9
	// "watch-initial" (require_signed).
	untrusted string
}

func scenarios() []scenario {
	fc := func(c baseline.Change) *baseline.Change { return &c }
	iis := func(kind, name, image string) *serverconf.Item {
		it := item("iis", kind, name, image)
		it.Source = `/mnt/evidence/Windows/System32/inetsrv/config/applicationHost.config`
		return it
	}
	exchange := func(enabled bool) *serverconf.Item {
		it := item("exchange", "transport_agent", "Contoso Agent", `C:\agents\contoso.dll`)
		it.Source = "/mnt/evidence/Program Files/Microsoft/Exchange Server/V15/TransportRoles/Shared/agents.config"
		it.Attrs = map[string]string{"enabled": fmt.Sprint(enabled), "baseType": "Microsoft.Exchange.Data.Transport.Smtp.SmtpReceiveAgentFactory"}
		return it
	}
	registry := func(kind, product, key, name, image string, attrs map[string]string) *serverconf.Item {
		attrs["product"] = product
		it := &serverconf.Item{Server: "registry", Kind: kind, Name: name, Scope: `HKLM\SYSTEM\CurrentControlSet\Services\` + key,
			Type: "REG_EXPAND_SZ", Image: image, Source: "/mnt/evidence/Windows/System32/config/SYSTEM", Attrs: attrs}
		if image != "" {
			it.ImageBLAKE3 = strings.Repeat("e7", 32)
		}
		return it
	}
	return []scenario{
		{name: "webfim-001", rule: policy.RuleScriptInNoScriptZone, file: fc(fileChange(baseline.Added, "wp-content/uploads/2026/11/cache.php", true)), window: jenkins},
		{name: "webfim-002", rule: policy.RuleScriptAdded, file: fc(fileChange(baseline.Added, "wp-includes/class-wp-cache.php", true))},
		{name: "webfim-003", rule: policy.RuleScriptModified, file: fc(fileChange(baseline.ContentChanged, "index.php", true))},
		{name: "webfim-004", rule: policy.RuleIISModule, item: &serverconf.Change{Kind: serverconf.ItemAdded,
			New: iis("global_module", "DefaultDocumentModule_Atomic", `C:\Windows\system32\inetsrv\defdoc.dll`), Note: "image already used by module DefaultDocumentModule"}},
		{name: "webfim-005", rule: policy.RuleTransportAgent, item: &serverconf.Change{Kind: serverconf.ItemChanged, Fields: []string{"attrs.enabled"},
			Old: exchange(false), New: exchange(true)}},
		{name: "webfim-006", rule: policy.RuleServerModule, item: &serverconf.Change{Kind: serverconf.ItemAdded,
			New: item("apache", "load_module", "backdoor_module", "/usr/lib/apache2/modules/mod_backdoor.so")}},
		{name: "webfim-007", rule: policy.RuleHandlerMapping, item: &serverconf.Change{Kind: serverconf.ItemChanged, Fields: []string{"image"},
			Old: iis("handler", "*.aspx", `C:\Windows\Microsoft.NET\Framework64\v4.0.30319\aspnet_isapi.dll`), New: iis("handler", "*.aspx", `C:\inetpub\temp\h.dll`)}},
		{name: "webfim-008", rule: policy.RuleAutoPrepend, item: &serverconf.Change{Kind: serverconf.ItemAdded,
			New: item("php", "auto_prepend_file", "auto_prepend_file", "/var/tmp/.x.php")}, window: jenkins},
		{name: "webfim-009", rule: policy.RuleNewExecutableExt, item: &serverconf.Change{Kind: serverconf.ItemAdded,
			New: item("htaccess", "script_handler", ".jpg", "application/x-httpd-php")}},
		{name: "webfim-010", rule: policy.RuleUnparsableConfig, item: &serverconf.Change{Kind: serverconf.ItemAdded,
			New: item("nginx", "unparsable", "nginx.conf:12:1: unexpected end of file, expecting \"}\"", "")}},
		{name: "webfim-011", rule: policy.RuleConfigItemChanged, item: &serverconf.Change{Kind: serverconf.ItemAdded,
			New: item("apache", "include", "/etc/apache2/conf-enabled/zz.conf", "")}},
		{name: "webfim-012", rule: policy.RuleConfigItemRemoved, item: &serverconf.Change{Kind: serverconf.ItemRemoved,
			Old: item("apache", "load_module", "status_module", "/usr/lib/apache2/modules/mod_status.so")}},
		{name: "webfim-013", rule: policy.RuleFileChanged, file: fc(fileChange(baseline.MetadataChanged, "wp-content/themes/x/style.css", false))},
		{name: "webfim-014", rule: policy.RuleFileRemoved, file: fc(fileChange(baseline.Removed, "wp-login.php", true))},
		{name: "webfim-015", rule: policy.RuleRegistryIISBinary, item: &serverconf.Change{Kind: serverconf.ItemAdded,
			New: registry("filter_dll", "iis", `W3SVC\Parameters`, `C:\Windows\Temp\iisfilt.dll`, `C:\Windows\Temp\iisfilt.dll`, map[string]string{"value": "Filter DLLs"})}},
		{name: "webfim-016", rule: policy.RuleTerminalServicesDLL, item: &serverconf.Change{Kind: serverconf.ItemChanged, Fields: []string{"image", "image_blake3", "attrs.data"},
			Old: registry("service_dll", "termservice", `TermService\Parameters`, "ServiceDll", `C:\Windows\System32\termsrv.dll`, map[string]string{"data": `%SystemRoot%\System32\termsrv.dll`}),
			New: registry("service_dll", "termservice", `TermService\Parameters`, "ServiceDll", `C:\Windows\Temp\termsrv32.dll`, map[string]string{"data": `%SystemRoot%\Temp\termsrv32.dll`})}},
		{name: "webfim-017", rule: policy.RuleRegistryTransport, item: &serverconf.Change{Kind: serverconf.ItemAdded,
			New: registry("registry_value", "exchange", `MSExchangeTransport\Agents\Contoso`, "AssemblyPath", `C:\ProgramData\Contoso\Contoso.Agent.dll`, map[string]string{"data": `C:\ProgramData\Contoso\Contoso.Agent.dll`})}, window: jenkins},
		{name: "webfim-018", rule: policy.RuleIISComponent, item: &serverconf.Change{Kind: serverconf.ItemAdded,
			New: &serverconf.Item{Server: "registry", Kind: "iis_component", Name: "ISAPIFilter", Scope: `HKLM\SOFTWARE\Microsoft\InetStp\Components`,
				Type: "REG_DWORD", Source: "/mnt/evidence/Windows/System32/config/SOFTWARE", Attrs: map[string]string{"product": "iis", "data": "1"}}}},
		{name: "webfim-019", rule: policy.RuleUnloadedModuleBinary, item: &serverconf.Change{Kind: serverconf.ItemAdded,
			New: &serverconf.Item{Server: "apache", Kind: "module_file", Name: "mod_evil.so", Image: "/usr/lib/apache2/modules/mod_evil.so",
				Scope: "/usr/lib/apache2/modules", Source: "/usr/lib/apache2/modules/mod_evil.so", ImageBLAKE3: strings.Repeat("5a", 32)}}},
		{name: "webfim-020", rule: policy.RuleMonitoringGap, gap: &Gap{Reason: GapRootMissing, Path: "/var/www/html", Root: "/var/www/html",
			Detail: "the web root does not exist any more (deleted or renamed); its files are not reported one by one"}, window: jenkins},
		{name: "webfim-021", rule: policy.RuleTransientScript, file: fc(baseline.Change{Kind: baseline.Transient, Root: "/var/www/html", Path: "wp-content/uploads/x.php",
			New: &baseline.Record{Root: "/var/www/html", Path: "wp-content/uploads/x.php", Type: baseline.TypeFile, Mode: 0o644, Size: 31,
				UID: 33, GID: 33, Mtime: 1795000000000000000, Ctime: 1795000000200000000, Inode: 393219, Dev: 2049}}),
			seen: &Seen{First: detected.Add(-450 * time.Millisecond), Last: detected.Add(-250 * time.Millisecond)}},
		{name: "webfim-022", rule: policy.RuleServerSpawn, spawn: webShellSpawn(), window: jenkins},
		{name: "webfim-031", rule: policy.RuleUntrustedBaseline, untrusted: "it is not signed"},
		{name: "webfim-028", rule: policy.RuleScriptContent, file: fc(sniffed(fileChange(baseline.Added, "wp-content/themes/x/pic.png", false), indicators.FamilyPHP, false))},
		{name: "webfim-029", rule: policy.RuleRestrictOnlyConfig, file: fc(sniffed(fileChange(baseline.Added, "images/.htaccess", true), indicators.FamilyNone, true))},
		{name: "timestomp", rule: policy.RuleScriptModified, file: fc(timestomp(fileChange(baseline.ContentChanged, "wp-includes/load.php", true)))},
		{name: "expected-in-window", rule: policy.RuleScriptModified, file: fc(fileChange(baseline.ContentChanged, "wp-admin/about.php", true)), window: jenkins},
		// Web-shell indicators found by the engine in real content.
		{name: "webfim-025", rule: policy.RuleWebShellIndicators, file: fc(scannedChange(baseline.Added, "wp-includes/class-wp-cache.php", true,
			"<?php\n/* cache */\nif (isset($_REQUEST['cmd'])) { echo '<pre>' . shell_exec($_REQUEST['cmd']) . '</pre>'; }\n")), window: jenkins},
		{name: "webfim-001-indicators", rule: policy.RuleScriptInNoScriptZone, file: fc(scannedChange(baseline.Added, "wp-content/uploads/2026/11/x.php", true,
			"<?php $f = $_GET['f']; $f($_GET['a']); ?>\n")), window: jenkins},
		{name: "webfim-003-indicators-low", rule: policy.RuleScriptModified, file: fc(scannedChange(baseline.ContentChanged, "wp-admin/includes/update.php", true,
			"<?php\nfunction wp_unzip() { exec('unzip -o ' . escapeshellarg(WP_UPDATE_FILE), $out); return $out; }\n"))},
	}
}

// scannedChange is a change whose new content, data, was scanned by the
// indicator engine with the default settings, as the hashing pass does.
func scannedChange(kind baseline.ChangeKind, rel string, script bool, data string) baseline.Change {
	c := fileChange(kind, rel, script)
	e, err := indicators.New(indicators.Settings{})
	if err != nil {
		panic(err)
	}
	res := e.Scan(rel, []byte(data))
	c.New.Indicators = &res
	c.New.Size = int64(len(data))
	return c
}

func build(t *testing.T, s scenario, env Env) (Document, policy.Verdict) {
	t.Helper()
	p := policy.Default()
	ctx := policy.Context{Now: env.Now, Window: s.window}
	if s.untrusted != "" {
		v := p.EvaluateBaseline(s.untrusted)
		return BaselineUntrusted(9, "watch-initial", v, env), v
	}
	if s.gap != nil {
		v := p.EvaluateGap(s.gap.Reason, s.gap.Path, s.gap.Detail, ctx)
		d, _ := Finding{Gap: s.gap, Verdict: v}.Document(env)
		return d, v
	}
	if s.file != nil {
		v := p.EvaluateFile(*s.file, ctx)
		d, _ := Finding{File: s.file, Verdict: v, Seen: s.seen}.Document(env)
		return d, v
	}
	if s.spawn != nil {
		v := p.EvaluateSpawn(s.spawn.Summary(), ctx)
		return FromSpawn(*s.spawn, v, env), v
	}
	v := p.EvaluateItem(*s.item, ctx)
	return FromItemChange(*s.item, v, env), v
}

func golden(t *testing.T, name string, d Document) {
	t.Helper()
	line, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, line, "", "  "); err != nil {
		t.Fatal(err)
	}
	got := append(buf.Bytes(), '\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./alert -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-golden +got); if intended, go test ./alert -update:\n%s", path, diff)
	}
}

// Every rule has a golden document, and every document is valid ECS.
func TestGoldenDocuments(t *testing.T) {
	s := loadECS(t)
	covered := map[string]bool{}
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			d, v := build(t, sc, testEnv())
			if v.RuleID != sc.rule || v.Drop {
				t.Fatalf("policy chose %s (drop=%v), scenario is for %s: %s", v.RuleID, v.Drop, sc.rule, v.Reason)
			}
			covered[v.RuleID] = true
			body, err := d.Encode()
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range validateECS(s, body) {
				t.Error(e)
			}
			golden(t, sc.name, d)
		})
	}
	for _, r := range policy.Rules() {
		if !covered[r.ID] {
			t.Errorf("rule %s has no golden document", r.ID)
		}
	}
}

func TestOperationalDocuments(t *testing.T) {
	s := loadECS(t)
	env := testEnv()
	docs := map[string]Document{
		"op-rescan-after-overflow": RescanAfterOverflow([]string{"/var/www/html"}, env),
		"op-watch-limit-reached":   WatchLimitReached("/var/www/html", errors.New("no space left on device"), time.Hour, env),
		"op-catch-up-started":      CatchUpStarted([]string{"/var/www/html", "/srv/legacy"}, env),
		"op-watch-restored":        WatchRestored("/var/www/html", env),
		"op-outbox-dropped":        OutboxDropped(12, env),
		"op-monitoring-gap-resolved": GapResolved(Gap{Reason: GapRootMissing, Path: "/var/www/html", Root: "/var/www/html",
			Detail: "the web root does not exist any more"}, env),
	}
	for name, d := range docs {
		t.Run(name, func(t *testing.T) {
			if d.Kind() != "event" {
				t.Errorf("event.kind = %q", d.Kind())
			}
			body, _ := json.Marshal(d)
			for _, e := range validateECS(s, body) {
				t.Error(e)
			}
			golden(t, name, d)
		})
	}
	if !strings.Contains(docs["op-watch-limit-reached"]["message"].(string), "fs.inotify.max_user_watches") {
		t.Error("watch limit message does not name fs.inotify.max_user_watches")
	}
	later := env
	later.Now = later.Now.Add(time.Minute)
	if RescanAfterOverflow([]string{"/var/www/html"}, later).ID() == docs["op-rescan-after-overflow"].ID() {
		t.Error("two overflows at different times share an event.id")
	}
}

// The same finding has the same id whenever it is seen; a different
// finding has another.
func TestEventIDDeterministic(t *testing.T) {
	env := testEnv()
	later := env
	later.Now = env.Now.Add(48 * time.Hour)
	later.BaselineID = 8
	ids := map[string]string{}
	for _, sc := range scenarios() {
		if sc.untrusted != "" {
			// A refusal is an occurrence, with its time in its id, as
			// the daemon's notices (TestBaselineUntrusted).
			continue
		}
		d1, _ := build(t, sc, env)
		d2, _ := build(t, sc, later)
		if d1.ID() == "" || d1.ID() != d2.ID() {
			t.Errorf("%s: ids %q and %q differ for the same finding", sc.name, d1.ID(), d2.ID())
		}
		if other, dup := ids[d1.ID()]; dup {
			t.Errorf("%s and %s share event.id %s", sc.name, other, d1.ID())
		}
		ids[d1.ID()] = sc.name
	}
	// New content at the same path is a new finding.
	c := fileChange(baseline.ContentChanged, "index.php", true)
	v := policy.Default().EvaluateFile(c, policy.Context{})
	a := FromFileChange(c, v, env).ID()
	c.New.BLAKE3 = rep(0xcd, 32)
	if FromFileChange(c, v, env).ID() == a {
		t.Error("different content, same event.id")
	}
	// Times, inode, device, owner and mode do not make an added or
	// changed file a new finding (a chown -R, a touch, a restore of the
	// same bytes); content and path do.
	for _, kind := range []baseline.ChangeKind{baseline.Added, baseline.ContentChanged, baseline.Moved, baseline.Removed} {
		c := fileChange(kind, "wp-content/uploads/x.php", true)
		if kind == baseline.Moved {
			c.From = "x.php"
		}
		v := policy.Default().EvaluateFile(c, policy.Context{})
		id := FindingID(Finding{File: &c, Verdict: v})
		if id != FromFileChange(c, v, env).ID() {
			t.Errorf("%s: FindingID and event.id differ", kind)
		}
		r := c.New
		if r == nil {
			r = c.Old
		}
		same := *r
		same.Ctime, same.Mtime, same.Inode, same.Dev, same.UID, same.GID, same.Mode = 1, 2, 3, 4, 5, 6, 0o600
		c2 := c
		if c.New != nil {
			c2.New = &same
		} else {
			c2.Old = &same
		}
		if got := FindingID(Finding{File: &c2, Verdict: v}); got != id {
			t.Errorf("%s: ctime/mtime/inode/owner/mode changed the finding id", kind)
		}
		other := same
		other.BLAKE3 = rep(0x77, 32)
		if c.New != nil {
			c2.New = &other
		} else {
			c2.Old = &other
		}
		if FindingID(Finding{File: &c2, Verdict: v}) == id {
			t.Errorf("%s: other content, same finding id", kind)
		}
		c2 = c
		c2.Path = "wp-content/uploads/y.php"
		if FindingID(Finding{File: &c2, Verdict: v}) == id {
			t.Errorf("%s: other path, same finding id", kind)
		}
	}
	// A metadata change is about the metadata: a new mode is a new finding.
	mc := fileChange(baseline.MetadataChanged, "index.php", true)
	mv := policy.Default().EvaluateFile(mc, policy.Context{})
	mid := FindingID(Finding{File: &mc, Verdict: mv})
	mc.New.Ctime++
	if FindingID(Finding{File: &mc, Verdict: mv}) != mid {
		t.Error("metadata change: ctime changed the finding id")
	}
	mc.New.Mode |= fs.ModeSetuid
	if FindingID(Finding{File: &mc, Verdict: mv}) == mid {
		t.Error("metadata change: setuid added, same finding id")
	}
	if FindingID(Finding{}) != "" {
		t.Error("a finding without a change has an id")
	}
	// A line shift in the config file is the same finding.
	sc := scenarios()[5]
	d1, _ := build(t, sc, env)
	moved := *sc.item
	n := *moved.New
	n.Line += 10
	moved.New = &n
	sc.item = &moved
	d2, _ := build(t, sc, env)
	if d1.ID() != d2.ID() {
		t.Error("a line shift changed the event.id")
	}
}

func TestFileFields(t *testing.T) {
	env := testEnv()
	c := fileChange(baseline.Added, "a/shell.PHP", true)
	c.New.Mode = 0o755 | 1<<23 // setuid
	v := policy.Default().EvaluateFile(c, policy.Context{})
	d := FromFileChange(c, v, env)
	want := map[string]any{
		"file.path": "/var/www/html/a/shell.PHP", "file.name": "shell.PHP", "file.extension": "PHP", "file.directory": "/var/www/html/a",
		"file.mode": "4755", "file.uid": "33", "file.owner": "www-data", "file.inode": "393218", "file.type": "file",
		"file.mtime": "2026-11-18T11:06:40Z", "file.hash.sha256": strings.Repeat("ac", 32), "file.hash.blake3": strings.Repeat("ab", 32),
		"event.kind": "alert", "event.severity": 3, "event.risk_score": 73.0, "rule.id": "webfim-002",
		"webfim.root.name": "wordpress", "webfim.baseline.id": uint64(7),
	}
	for k, w := range want {
		if !cmp.Equal(d[k], w) {
			t.Errorf("%s = %#v, want %#v", k, d[k], w)
		}
	}
	if _, ok := d["webfim.file.path_escaped"]; ok {
		t.Error("a valid UTF-8 path got an escaped form")
	}
}

// A file name that is not valid UTF-8 keeps a readable file.path and an
// exact, reversible form of every path field, in the bytes that are
// written.
func TestInvalidUTF8Paths(t *testing.T) {
	env := testEnv()
	env.RootNames = nil
	root := "/srv/\xe9t\xe9"
	c := fileChange(baseline.Moved, "bad\xffname.php", true)
	c.Root, c.From = root, "old\xfe.php"
	c.New.Type, c.New.Target = baseline.TypeSymlink, "../\x80target"
	v := policy.Default().EvaluateFile(c, policy.Context{})
	body, err := FromFileChange(c, v, env).Encode()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		File struct {
			Path       string `json:"path"`
			TargetPath string `json:"target_path"`
		} `json:"file"`
		Webfim struct {
			File struct {
				PathEscaped       string `json:"path_escaped"`
				TargetPathEscaped string `json:"target_path_escaped"`
			} `json:"file"`
			Previous struct {
				PathEscaped string `json:"path_escaped"`
			} `json:"previous"`
			Root struct {
				PathEscaped string `json:"path_escaped"`
			} `json:"root"`
		} `json:"webfim"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if want := "/srv/\ufffdt\ufffd/bad\ufffdname.php"; doc.File.Path != want {
		t.Errorf("file.path = %q, want the readable %q", doc.File.Path, want)
	}
	for _, f := range []struct{ name, escaped, want string }{
		{"webfim.file.path_escaped", doc.Webfim.File.PathEscaped, root + "/bad\xffname.php"},
		{"webfim.file.target_path_escaped", doc.Webfim.File.TargetPathEscaped, "../\x80target"},
		{"webfim.previous.path_escaped", doc.Webfim.Previous.PathEscaped, root + "/old\xfe.php"},
		{"webfim.root.path_escaped", doc.Webfim.Root.PathEscaped, root},
	} {
		got, err := strconv.Unquote(f.escaped)
		if err != nil || got != f.want {
			t.Errorf("%s = %s: unquotes to %q (%v), want %q", f.name, f.escaped, got, err, f.want)
		}
	}
	// Server configuration items: the configuration file's path.
	it := item("apache", "include", "x", "")
	it.Source = "/etc/apache2/conf-enabled/\xff.conf"
	d := FromItemChange(serverconf.Change{Kind: serverconf.ItemAdded, New: it}, v, env)
	if got, _ := strconv.Unquote(d["webfim.file.path_escaped"].(string)); got != it.Source {
		t.Errorf("item: webfim.file.path_escaped unquotes to %q", got)
	}
	if got, _ := strconv.Unquote(d["webfim.item.source_escaped"].(string)); got != it.Source {
		t.Errorf("item: webfim.item.source_escaped unquotes to %q", got)
	}
}

func TestMarshalConflict(t *testing.T) {
	d := Document{"a.b": 1, "a.b.c": 2}
	if _, err := json.Marshal(d); err == nil {
		t.Error("conflicting fields marshalled")
	}
}

func TestCurrentHost(t *testing.T) {
	h := CurrentHost()
	if h.Name == "" || h.OS.Type == "" {
		t.Errorf("CurrentHost() = %+v", h)
	}
	if _, err := os.Stat("/etc/machine-id"); err == nil && h.ID == "" {
		t.Error("machine-id readable but host.id empty")
	}
}

func TestDefaultEnv(t *testing.T) {
	env := DefaultEnv("1.2.3")
	if env.AgentVersion != "1.2.3" || env.Owner == nil || env.Group == nil || env.Now.IsZero() {
		t.Fatalf("DefaultEnv = %+v", env)
	}
	if got := env.Owner(uint32(os.Getuid())); got == "" && os.Getuid() == 0 {
		t.Error("root's name not resolved")
	}
	if got := env.Owner(4000000000); got != "" {
		t.Errorf("unknown uid resolved to %q", got)
	}
}

// Encode is the one byte form of a document: json.Marshal gives the same
// bytes but for its HTML escaping, and the JSON holds the nested form.
func TestEncodeOneByteForm(t *testing.T) {
	for _, sc := range scenarios() {
		d, _ := build(t, sc, testEnv())
		d["webfim.test.odd"] = "tab\there, bad \xff, <html> & \u2028"
		got, err := d.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.ContainsRune(got, '\n') {
			t.Errorf("%s: Encode wrote a newline", sc.name)
		}
		marshalled, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var escaped bytes.Buffer
		json.HTMLEscape(&escaped, got)
		if !bytes.Equal(escaped.Bytes(), marshalled) {
			t.Errorf("%s: json.Marshal and Encode differ beyond HTML escaping:\n%s\n%s", sc.name, marshalled, got)
		}
		var nested map[string]any
		if err := json.Unmarshal(got, &nested); err != nil {
			t.Fatal(err)
		}
		if got := nested["webfim"].(map[string]any)["test"].(map[string]any)["odd"]; got != "tab\there, bad \ufffd, <html> & \u2028" {
			t.Errorf("%s: webfim.test.odd = %q", sc.name, got)
		}
		if got := nested["event"].(map[string]any)["id"]; got != d.ID() {
			t.Errorf("%s: event.id %v, want %s", sc.name, got, d.ID())
		}
	}
}

// The audit event of a finding accepted at deploy finish: valid ECS, an
// event (not an alert) naming the finding, who and why, with an id of its
// own that a retry reproduces.
func TestFindingAccepted(t *testing.T) {
	s := loadECS(t)
	env := testEnv()
	env.BaselineID = 7
	c := fileChange(baseline.Added, "wp-content/uploads/helper.php", true)
	f := Finding{File: &c, Verdict: policy.Default().EvaluateFile(c, policy.Context{})}
	d := FindingAccepted(f, "ci", "vetted upload helper, ticket 42", env)
	body, _ := json.Marshal(d)
	for _, e := range validateECS(s, body) {
		t.Error(e)
	}
	golden(t, "audit-finding-accepted", d)
	if d.Kind() != "event" || d["event.action"] != "finding-accepted" || d["webfim.review.finding_id"] != FindingID(f) || d["user.name"] != "ci" {
		t.Errorf("audit document: kind %v action %v finding %v user %v", d.Kind(), d["event.action"], d["webfim.review.finding_id"], d["user.name"])
	}
	if d.ID() == FindingID(f) || d.ID() != FindingAccepted(f, "ci", "other words", env).ID() {
		t.Errorf("event.id %s: want one of its own, the same on a retry", d.ID())
	}
	env.BaselineID = 8
	if d.ID() == FindingAccepted(f, "ci", "vetted upload helper, ticket 42", env).ID() {
		t.Error("acceptances into two baselines share an event.id")
	}
}
