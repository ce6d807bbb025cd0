package config

import (
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"webfim/output"
)

// TestOutputConfigsOneDefinition: "policy check" (Parse), the outputs
// (output.Build) and --output (output.ParseFlag) accept and reject exactly
// the same output configurations, and reject them for the same reason.
// Build also opens files and reads CA files, which no static check can
// promise; every file here is creatable, and no case has a ca_file.
func TestOutputConfigsOneDefinition(t *testing.T) {
	dir := t.TempDir()
	file := filepath.ToSlash(filepath.Join(dir, "alerts.ndjson"))
	tests := []struct {
		name, yml string
		flag      string // the same output as an --output value, if it has one
		reject    string // "" accepts; else the key the error names
	}{
		{"stdout", "type: stdout", "stdout", ""},
		{"stdout with a file setting", "type: stdout\npath: " + file, "", "path"},
		{"no type", "path: " + file, "", "type"},
		{"unknown type", "type: kafka", "kafka:x", "type"},
		{"file", "type: file\npath: " + file, "file:" + file, ""},
		{"file without path", "type: file", "file:", "path"},
		{"file all settings", "type: file\npath: " + file + "\nmax_size: 1GiB\nmax_files: 9\nfsync: interval\nfsync_interval: 2s", "", ""},
		{"file fsync interval", "type: file\npath: " + file + "\nfsync: interval", "", ""},
		{"file bad fsync", "type: file\npath: " + file + "\nfsync: sometimes", "", "fsync"},
		{"file negative max_files", "type: file\npath: " + file + "\nmax_files: -1", "", "max_files"},
		{"file with a syslog setting", "type: file\npath: " + file + "\nfacility: local0", "", "facility"},
		{"syslog defaults", "type: syslog", "", ""},
		{"syslog udp", "type: syslog\nnetwork: udp\naddress: 127.0.0.1:514", "syslog:udp://127.0.0.1:514", ""},
		{"syslog tcp", "type: syslog\nnetwork: tcp\naddress: siem.example.org:6514", "syslog:tcp://siem.example.org:6514", ""},
		{"syslog unix", "type: syslog\nnetwork: unix\naddress: /dev/log", "syslog:unix:///dev/log", ""},
		{"syslog unixgram", "type: syslog\nnetwork: unixgram\naddress: /run/systemd/journal/syslog", "syslog:unixgram:///run/systemd/journal/syslog", ""},
		{"syslog unix relative path", "type: syslog\nnetwork: unix\naddress: dev/log", "syslog:unix://dev/log", "address"},
		{"syslog bad network", "type: syslog\nnetwork: sctp", "syslog:sctp://h:1", "network"},
		{"syslog udp without port", "type: syslog\nnetwork: udp\naddress: siem", "syslog:udp://siem", "address"},
		{"syslog facility security", "type: syslog\nfacility: security", "", ""},
		{"syslog facility number", "type: syslog\nfacility: 23", "", ""},
		{"syslog facility 24", "type: syslog\nfacility: 24", "", "facility"},
		{"syslog facility local9", "type: syslog\nfacility: local9", "", "facility"},
		{"syslog with an es setting", "type: syslog\nurls: [http://es:9200]", "", "urls"},
		{"es", "type: elasticsearch\nurls: [https://es1:9200, http://es2:9200]", "elasticsearch:https://es1:9200", ""},
		{"es credentials in url", "type: elasticsearch\nurls: ['https://u:p@es1:9200']", "elasticsearch:https://u:p@es1:9200", ""},
		{"es api key", "type: elasticsearch\nurls: [https://es1:9200]\napi_key: k", "", ""},
		{"es basic auth", "type: elasticsearch\nurls: [https://es1:9200]\nusername: u\npassword: p", "", ""},
		{"es without urls", "type: elasticsearch", "elasticsearch:", "urls"},
		{"es url without scheme", "type: elasticsearch\nurls: [localhost:9200]", "elasticsearch:localhost:9200", "urls[0]"},
		{"es url without host", "type: elasticsearch\nurls: ['https://']", "elasticsearch:https://", "urls[0]"},
		{"es two auths", "type: elasticsearch\nurls: [https://es1:9200]\napi_key: k\nusername: u", "", "api_key"},
		{"es password without user", "type: elasticsearch\nurls: [https://es1:9200]\npassword: p", "", "password"},
		{"es upper-case data stream", "type: elasticsearch\nurls: [https://es1:9200]\ndata_stream: Logs-x-y", "", "data_stream"},
		{"es data stream of two parts", "type: elasticsearch\nurls: [https://es1:9200]\ndata_stream: logs-webfim", "", "data_stream"},
		{"es data stream", "type: elasticsearch\nurls: [https://es1:9200]\ndata_stream: logs-webfim.alert-prod", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// policy check: the config file.
			yml := "outputs:\n  - " + strings.ReplaceAll(tt.yml, "\n", "\n    ") + "\n"
			_, checkErr := Parse("webfim.yml", []byte(yml))
			// the outputs: the same entry decoded alone, then built.
			var oc output.Config
			dec := yaml.NewDecoder(strings.NewReader(tt.yml))
			dec.KnownFields(true)
			buildErr := dec.Decode(&oc)
			if buildErr == nil {
				var outs []output.Output
				outs, buildErr = output.Build([]output.Config{oc}, io.Discard)
				for _, o := range outs {
					o.Close()
				}
			}
			if tt.reject == "" {
				if checkErr != nil || buildErr != nil {
					t.Fatalf("want accepted; policy check: %v; build: %v", checkErr, buildErr)
				}
			} else {
				wantKey := "outputs[0]." + tt.reject + ": "
				if checkErr == nil || !strings.Contains(checkErr.Error(), wantKey) {
					t.Errorf("policy check: %v, want an error at %q", checkErr, wantKey)
				}
				var fe *output.FieldError
				if !errors.As(buildErr, &fe) || fe.Key != tt.reject {
					t.Errorf("build: %v, want a FieldError at %q", buildErr, tt.reject)
				} else if !strings.HasSuffix(checkErr.Error(), wantKey+fe.Err.Error()) {
					t.Errorf("different reasons:\npolicy check: %v\nbuild:        %v", checkErr, buildErr)
				}
				if !errors.Is(buildErr, output.ErrInvalidConfig) || !errors.Is(checkErr, ErrInvalid) {
					t.Errorf("sentinels: build %v, check %v", buildErr, checkErr)
				}
			}
			if tt.flag == "" {
				return
			}
			_, flagErr := output.ParseFlag(tt.flag)
			if (flagErr == nil) != (tt.reject == "") {
				t.Errorf("--output %s: %v, want rejected=%v", tt.flag, flagErr, tt.reject != "")
			}
		})
	}
}
