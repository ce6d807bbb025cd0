package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"webfim/output"
	"webfim/policy"
)

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, yml, want string
	}{
		{"unknown top-level key", "roots: []\nrootz: []\n", "webfim.yml:2: rootz: unknown key (known keys: allowed_writers, attribution, configs, cross_device, deploy_windows,"},
		{"unknown nested key", "roots:\n  - path: /srv/www\n    exlude: [a]\n", "webfim.yml:3: roots[0].exlude: unknown key"},
		{"wrong type list", "ignore: cache\n", `webfim.yml:1: ignore: want a list, got "cache"`},
		{"wrong type mapping", "watch: 5\n", `webfim.yml:1: watch: want a mapping, got "5"`},
		{"wrong type bool", "rules:\n  webfim-002:\n    enabled: yes please\n", `webfim.yml:3: rules.webfim-002.enabled: want true or false, got "yes please"`},
		{"wrong type int", "outbox:\n  max_entries: lots\n", `webfim.yml:2: outbox.max_entries: want an integer, got "lots"`},
		{"bad duration", "watch:\n  debounce: soon\n", `webfim.yml:2: watch.debounce: want a duration such as "500ms" or "1h", got "soon"`},
		{"negative duration", "watch:\n  rescan_interval: -1h\n", "webfim.yml:2: watch.rescan_interval: negative duration"},
		{"bad size", "watch:\n  rescan_rate_limit: 5 parsecs\n", "webfim.yml:2: watch.rescan_rate_limit: want a size"},
		{"large file threshold too small", "large_file_threshold: 1MiB\n", "webfim.yml:1: large_file_threshold: 1MiB is below 2MiB"},
		{"large file threshold negative", "large_file_threshold: -5\n", "webfim.yml:1: large_file_threshold: want a size"},
		{"bad severity", "rules:\n  webfim-013:\n    severity: apocalyptic\n", `webfim.yml:3: rules.webfim-013.severity: unknown severity "apocalyptic"`},
		{"unknown rule", "rules:\n  webfim-999:\n    enabled: false\n", "webfim.yml:2: rules.webfim-999: unknown rule id"},
		{"relative root", "roots:\n  - path: www\n", `webfim.yml:2: roots[0].path: root path "www" is not absolute`},
		{"missing root path", "roots:\n  - name: x\n", "webfim.yml:2: roots[0].path: missing"},
		{"nested roots", "roots:\n  - path: /srv/www\n  - path: /srv/www/blog\n", `webfim.yml:3: roots[1].path: root "/srv/www/blog" is inside root "/srv/www"`},
		{"duplicate roots", "roots:\n  - path: /srv/www\n  - path: /srv/www/\n", "roots[1].path: root \"/srv/www\" is listed twice"},
		{"bad glob", "ignore: ['[a-']\n", `webfim.yml:1: ignore[0]: bad glob "[a-"`},
		{"bad root glob", "roots:\n  - path: /srv\n    no_script_zones: ['x/[']\n", `roots[0].no_script_zones[0]: bad glob`},
		{"bad extension", "script_extensions: [php, 'a/b']\n", `webfim.yml:1: script_extensions[1]: bad extension "a/b"`},
		{"relative config", "configs: [etc/apache2/apache2.conf]\n", "webfim.yml:1: configs[0]: config path"},
		{"empty writer", "allowed_writers: ['']\n", "allowed_writers[0]: empty process name"},
		{"bad writer glob", "allowed_writers: [rsync, 'php-fpm[']\n", `webfim.yml:1: allowed_writers[1]: bad glob "php-fpm["`},
		{"trust as a string", "trust_unknown_writers: maybe\n", `webfim.yml:1: trust_unknown_writers: want true or false, got "maybe"`},
		{"unknown source", "attribution:\n  process_sources: [ebpf, audit]\n", `webfim.yml:2: attribution.process_sources[1]: unknown process source "audit" (want ebpf, connector or poll)`},
		{"source twice", "attribution:\n  process_sources:\n    - ebpf\n    - ebpf\n", `webfim.yml:4: attribution.process_sources[1]: "ebpf" is listed twice`},
		{"no source", "attribution:\n  process_sources: []\n", "webfim.yml:2: attribution.process_sources: no exec source"},
		{"relative btf", "attribution:\n  kernel_btf: vmlinux\n", `webfim.yml:2: attribution.kernel_btf: BTF file "vmlinux" is not absolute`},
		{"depth zero", "attribution:\n  lineage:\n    max_depth: 0\n", "webfim.yml:3: attribution.lineage.max_depth: want 1 to 16 generations, got 0"},
		{"allow everything", "attribution:\n  lineage:\n    allow:\n      - reason: all of it\n", "webfim.yml:4: attribution.lineage.allow[0]: no server, parent, executable or command_line: it would allow everything"},
		{"allow bad regexp", "attribution:\n  lineage:\n    allow:\n      - server: php-fpm*\n        command_line: '^convert ('\n", "webfim.yml:5: attribution.lineage.allow[0].command_line: bad regular expression"},
		{"allow bad glob", "attribution:\n  lineage:\n    allow:\n      - {executable: convert}\n      - {server: 'apache[2'}\n", `webfim.yml:5: attribution.lineage.allow[1].server: bad glob "apache[2"`},
		{"allow unknown key", "attribution:\n  lineage:\n    allow:\n      - exe: convert\n", "webfim.yml:4: attribution.lineage.allow[0].exe: unknown key (known keys: command_line, executable, parent, reason, server)"},
		{"output without type", "outputs:\n  - path: /x\n", "webfim.yml:2: outputs[0].type: missing"},
		{"unknown output", "outputs:\n  - type: kafka\n", `webfim.yml:2: outputs[0].type: unknown output type "kafka"`},
		{"field of other output", "outputs:\n  - type: syslog\n    path: /x\n", "webfim.yml:3: outputs[0].path: not a setting of a syslog output"},
		{"file output without path", "outputs:\n  - type: file\n", "outputs[0].path: missing"},
		{"bad fsync", "outputs:\n  - type: file\n    path: /x\n    fsync: sometimes\n", `webfim.yml:4: outputs[0].fsync: unknown fsync policy "sometimes"`},
		{"bad network", "outputs:\n  - type: syslog\n    network: sctp\n", `outputs[0].network: unknown network "sctp"`},
		{"bad facility", "outputs:\n  - type: syslog\n    facility: local9\n", `outputs[0].facility: unknown facility "local9"`},
		{"es without urls", "outputs:\n  - type: elasticsearch\n", "outputs[0].urls: missing"},
		{"es bad url", "outputs:\n  - type: elasticsearch\n    urls: [localhost:9200]\n", `webfim.yml:3: outputs[0].urls[0]: want an http:// or https:// URL`},
		{"es two auths", "outputs:\n  - type: elasticsearch\n    urls: [https://es:9200]\n    api_key: k\n    username: u\n", "outputs[0].api_key: give either api_key or username/password"},
		{"es bad data stream", "outputs:\n  - type: elasticsearch\n    urls: [https://es:9200]\n    data_stream: Alerts\n", "outputs[0].data_stream: bad data stream name"},
		{"no outputs", "outputs: []\n", "webfim.yml:1: outputs: no output"},
		{"outbox zero", "outbox:\n  max_entries: 0\n", "outbox.max_entries: want a positive number"},
		{"syntax error", "roots: [\n", "webfim.yml:"},
		{"duplicate key", "ignore: []\nignore: []\n", "webfim.yml:2: ignore: duplicate key (first at line 1)"},
		{"duplicate map key", "rules:\n  webfim-001: {}\n  webfim-001: {}\n", "webfim.yml:3: rules.webfim-001: duplicate key (first at line 2)"},
		{"two documents", "ignore: []\n---\nignore: []\n", "more than one YAML document"},
		{"not a mapping", "- a\n- b\n", "webfim.yml:1: want a mapping, got a list"},
		{"unknown indicator key", "indicators:\n  threshold: {low: 1}\n", "webfim.yml:2: indicators.threshold: unknown key (known keys: enabled, max_bytes, tail_bytes, thresholds, weights, yara)"},
		{"unknown indicator", "indicators:\n  weights:\n    php.exec: 0\n    php.nope: 5\n", `webfim.yml:4: indicators.weights.php.nope: unknown indicator "php.nope"`},
		{"indicator weight range", "indicators:\n  weights:\n    any.long-line: -3\n", "webfim.yml:3: indicators.weights.any.long-line: weight -3 out of range"},
		{"indicator weight type", "indicators:\n  weights: {php.exec: lots}\n", `webfim.yml:2: indicators.weights.php.exec: want an integer, got "lots"`},
		{"thresholds order", "indicators:\n  thresholds:\n    medium: 80\n    high: 70\n", "webfim.yml:2: indicators.thresholds: must be positive and low <= medium <= high"},
		{"max_bytes range", "indicators:\n  enabled: true\n  max_bytes: 100\n", "webfim.yml:3: indicators.max_bytes: 100 out of range"},
		{"tail_bytes range", "indicators:\n  tail_bytes: -5\n", "webfim.yml:2: indicators.tail_bytes: -5 out of range"},
		{"yara relative", "indicators:\n  yara:\n    rules: [/etc/a.yar, rules/b.yar]\n", `webfim.yml:3: indicators.yara.rules[1]: rule file "rules/b.yar" is not an absolute path`},
		{"yara timeout", "indicators:\n  yara:\n    timeout: soon\n", `webfim.yml:3: indicators.yara.timeout: want a duration`},
		{"yara unknown key", "indicators:\n  yara:\n    rule: [/a.yar]\n", "webfim.yml:3: indicators.yara.rule: unknown key (known keys: rules, timeout, weight)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("webfim.yml", []byte(tt.yml))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\nwant it to contain %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "webfim.yml")
	os.WriteFile(path, []byte("roots:\n  - path: /srv/www\n    name: www\n\n    nmae: typo\n"), 0o600)
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":5: roots[0].nmae: unknown key") {
		t.Errorf("Load error = %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big.yml")
	os.WriteFile(big, []byte("# "+strings.Repeat("x", MaxFileSize)+"\n"), 0o600)
	if _, err := Load(big); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v", err)
	}
}

func TestDefaultsAndOverrides(t *testing.T) {
	p := mustParse(t, `
roots:
  - path: /srv/www
    no_script_zones: ['cdn/**']
  - path: /srv/blog
    script_extensions: [php]
    ignore: ['wp-content/cache/**']
rules:
  webfim-013:
    enabled: false
  webfim-002:
    severity: critical
watch:
  debounce: 1s
outputs:
  - type: file
    path: /var/log/webfim/alerts.ndjson
  - type: syslog
    network: unix
  - type: elasticsearch
    urls: [https://es.example:9200]
    api_key: secret
`)
	if got := p.Watch.Debounce; got != time.Second {
		t.Errorf("debounce = %v", got)
	}
	if got := p.LargeFileThreshold; got != 1<<30 {
		t.Errorf("large_file_threshold default = %v, want 1GiB", got)
	}
	if got := p.Watch.RescanInterval; got != time.Hour {
		t.Errorf("rescan_interval default lost: %v", got)
	}
	if r := p.Rules["webfim-002"]; !r.Enabled || r.Severity != policy.Critical {
		t.Errorf("webfim-002 = %+v, want enabled critical (enabled kept from the default)", r)
	}
	if r := p.Rules["webfim-014"]; !r.Enabled || r.Severity != policy.Low {
		t.Errorf("webfim-014 = %+v, want the default", r)
	}
	host, _ := os.Hostname()
	want := []output.Config{
		{Type: "file", FileConfig: output.FileConfig{Path: "/var/log/webfim/alerts.ndjson", MaxSize: 100 << 20, MaxFiles: 5, Fsync: "batch"}},
		{Type: "syslog", SyslogConfig: output.SyslogConfig{Network: "unix", Address: "/dev/log", Facility: "local0", AppName: "webfim",
			Hostname: host, Timeout: output.DefaultSyslogTimeout}},
		{Type: "elasticsearch", ESConfig: output.ESConfig{URLs: []string{"https://es.example:9200"}, APIKey: "secret", DataStream: "logs-webfim.alert-default",
			Timeout: output.DefaultESTimeout, MaxRetries: 3, RetryBackoff: 500 * time.Millisecond}},
	}
	if diff := cmp.Diff(want, p.Outputs); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
	if got := p.RootFor("/srv/www").NoScriptZones; !cmp.Equal(got, []string{"cdn/**"}) {
		t.Errorf("root no_script_zones = %v", got)
	}
	if got := p.RootFor("/srv/blog").NoScriptZones; !cmp.Equal(got, policy.DefaultNoScriptZones) {
		t.Errorf("inherited no_script_zones = %v", got)
	}
	if !p.Ignored("/srv/blog", "wp-content/cache/x.php") || p.Ignored("/srv/www", "wp-content/cache/x.php") {
		t.Error("per-root ignore applies to the wrong root")
	}
	out, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "secret") || !strings.Contains(string(out), "<redacted>") {
		t.Errorf("secrets not redacted:\n%s", out)
	}
}

// The printed effective policy is itself a valid config with the same meaning.
func TestMarshalRoundTrip(t *testing.T) {
	for _, yml := range []string{"", `
roots:
  - path: /srv/www
    name: www
    exclude: ['cache/**']
deploy_windows:
  - name: nightly
    weekdays: [mon, fri]
    start: "22:00"
    end: "02:00"
    timezone: America/New_York
  - name: once
    start: 2026-12-01T20:00:00Z
    end: 2026-12-01T21:00:00Z
watch:
  rescan_rate_limit: 10MB
allowed_writers: [rsync, /opt/deploy/bin/*]
trust_unknown_writers: false
attribution:
  process_sources: [connector, poll]
  lineage:
    max_depth: 3
    builtin_allow: false
    allow:
      - server: php-fpm*
        executable: sh
        command_line: '^sh -c convert [a-z0-9/._-]+ [a-z0-9/._-]+$'
        reason: thumbnails
outputs:
  - type: file
    path: /x.ndjson
    max_size: 1GiB
`} {
		p := mustParse(t, yml)
		out, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		q, err := Parse("printed.yml", out)
		if err != nil {
			t.Fatalf("printed policy does not load: %v\n%s", err, out)
		}
		out2, _ := q.Marshal()
		if diff := cmp.Diff(string(out), string(out2)); diff != "" {
			t.Errorf("round trip differs:\n%s", diff)
		}
	}
}

// The indicators section: defaults filled in and shown, overrides kept,
// the engine built from it, or none when disabled; ErrorAt places a
// problem found later at its key.
func TestIndicatorSettings(t *testing.T) {
	c := mustParse(t, "indicators:\n  weights: {php.exec: 0}\n  tail_bytes: -1\n  yara:\n    rules: [/etc/webfim/x.yar]\n")
	want := defaultIndicators()
	want.Weights = map[string]int{"php.exec": 0}
	want.TailBytes = -1
	want.YARA.Rules = []string{"/etc/webfim/x.yar"}
	if diff := cmp.Diff(want, c.Indicators); diff != "" {
		t.Errorf("indicators (-want +got):\n%s", diff)
	}
	e, err := c.Indicators.Engine()
	if err != nil || e == nil || e.Weight("php.exec") != 0 || e.Weight("php.request-exec") != 85 {
		t.Fatalf("engine %v, %v: want php.exec off and the rest at the defaults", e, err)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"indicators:", "enabled: true", "thresholds:", "medium: 40", "tail_bytes: -1", "timeout: 1m0s", "rules: [/etc/webfim/x.yar]"} {
		if !strings.Contains(string(out), s) {
			t.Errorf("effective config lacks %q:\n%s", s, out)
		}
	}
	if err := c.ErrorAt("indicators.yara.rules[0]", errors.New("x.yar:3: syntax error")); err.Error() != "webfim.yml:5: indicators.yara.rules[0]: x.yar:3: syntax error" || !errors.Is(err, ErrInvalid) {
		t.Errorf("ErrorAt: %v", err)
	}
	off := mustParse(t, "indicators: {enabled: false}\n")
	if e, err := off.Indicators.Engine(); e != nil || err != nil {
		t.Errorf("disabled indicators: engine %v, %v", e, err)
	}
	if e, err := Default().Indicators.Engine(); e == nil || err != nil {
		t.Errorf("default indicators: engine %v, %v", e, err)
	}
}

func TestExampleConfigLoads(t *testing.T) {
	p, err := Load(filepath.Join("..", "webfim.example.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Roots) == 0 || len(p.DeployWindows) == 0 || len(p.Outputs) == 0 {
		t.Errorf("example is too thin: %d roots, %d windows, %d outputs", len(p.Roots), len(p.DeployWindows), len(p.Outputs))
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "roots:\n  - path: /srv\n", "deploy_windows:\n  - {name: a, start: '22:00', end: '02:00', timezone: Europe/Berlin}\n",
		"outputs:\n  - type: file\n    path: /x\n", "a: &x [*x]\n", "rules: {webfim-001: {enabled: false}}",
		"indicators:\n  weights: {php.exec: 0, php.nope: 1}\n", "indicators:\n  yara: {rules: [a.yar], timeout: 1s}\n  thresholds: {high: 5}\n"} {
		f.Add([]byte(s))
	}
	if ex, err := os.ReadFile(filepath.Join("..", "webfim.example.yml")); err == nil {
		f.Add(ex)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yml", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if _, err := p.Marshal(); err != nil {
			t.Fatalf("Marshal: %v", err)
		}
	})
}

func TestAliasBomb(t *testing.T) {
	// 1000 roots sharing one exclude list of 2000 globs: 2,000,000 values.
	var b strings.Builder
	b.WriteString("ignore: &g [")
	for i := 0; i < 2000; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "g%d", i)
	}
	b.WriteString("]\nroots:\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "  - {path: /srv/r%d, exclude: *g}\n", i)
	}
	_, err := Parse("webfim.yml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "too many values") {
		t.Errorf("err = %v", err)
	}
}

// A policy built in code (as "webfim init" does) with roots that inherit
// the global lists must still inherit them once printed and loaded.
func TestMarshalBuiltPolicyKeepsInheritance(t *testing.T) {
	p := Default()
	p.Roots = append(p.Roots, policy.Root{Path: "/srv/www"}, policy.Root{Path: "/srv/cdn", NoScriptZones: []string{}})
	out, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Parse("init.yml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := q.RootFor("/srv/www").NoScriptZones; !cmp.Equal(got, policy.DefaultNoScriptZones) {
		t.Errorf("inherited zones lost: %v\n%s", got, out)
	}
	if got := q.RootFor("/srv/cdn").NoScriptZones; got == nil || len(got) != 0 {
		t.Errorf("empty override lost: %#v\n%s", got, out)
	}
	if _, ok := q.NoScriptZone("/srv/www", "uploads/x.php"); !ok {
		t.Error("no-script zone not in effect after round trip")
	}
}

func mustParse(t *testing.T, yml string) *Config {
	t.Helper()
	c, err := Parse("webfim.yml", []byte(yml))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestWindowValidation(t *testing.T) {
	tests := []struct {
		start, end, extra, want string
	}{
		{"25:00", "02:00", "", `webfim.yml:4: deploy_windows[0].start: want "HH:MM" (recurring) or an RFC 3339 time`},
		{"22:00", "2:0", "", `webfim.yml:5: deploy_windows[0].end: want a time of day "HH:MM"`},
		{"22:00", "22:00", "", "end equals start"},
		{"22:00", "23:00", "    timezone: Europe/Berln\n", `webfim.yml:6: deploy_windows[0].timezone: unknown time zone "Europe/Berln"`},
		{"22:00", "23:00", "    weekdays: [mon, funday]\n", `webfim.yml:6: deploy_windows[0].weekdays[1]: unknown weekday "funday"`},
		{"2026-12-01T20:00:00Z", "2026-12-01T19:00:00Z", "", "deploy_windows[0].end: end 2026-12-01T19:00:00Z is not after start"},
		{"2026-12-01T20:00:00Z", "21:00", "", "deploy_windows[0].end: want an RFC 3339 time"},
		{"2026-12-01T20:00:00Z", "2026-12-01T21:00:00Z", "    timezone: UTC\n", "deploy_windows[0].timezone: a one-off window takes no timezone"},
	}
	for _, tt := range tests {
		yml := fmt.Sprintf("\ndeploy_windows:\n  - name: w\n    start: %q\n    end: %q\n%s", tt.start, tt.end, tt.extra)
		_, err := Parse("webfim.yml", []byte(yml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s-%s %q: err = %v, want %q", tt.start, tt.end, tt.extra, err, tt.want)
		}
	}
}

// configs: may name the live registry (Windows), written by webfim init.
func TestConfigsLiveRegistry(t *testing.T) {
	p, err := Parse("webfim.yml", []byte("configs:\n  - 'HKLM\\SYSTEM'\n  - 'HKEY_LOCAL_MACHINE\\software'\n  - /mnt/evidence/Windows/System32/config/SYSTEM\n"))
	if err != nil || len(p.Configs) != 3 {
		t.Fatalf("%v %+v", err, p)
	}
	for _, bad := range []string{"HKLM\\SAM", "SYSTEM", "HKCU\\SOFTWARE"} {
		if _, err := Parse("webfim.yml", []byte("configs:\n  - '"+bad+"'\n")); err == nil || !strings.Contains(err.Error(), "is not absolute") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
