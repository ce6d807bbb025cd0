package output

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseFlag(t *testing.T) {
	host, _ := os.Hostname()
	tests := []struct {
		flag string
		want Config
	}{
		{"stdout", Config{Type: TypeStdout}},
		{"file:/var/log/webfim/a.ndjson", Config{Type: TypeFile, FileConfig: FileConfig{Path: "/var/log/webfim/a.ndjson", MaxSize: DefaultMaxSize, MaxFiles: DefaultMaxFiles, Fsync: FsyncBatch}}},
		{"syslog:unixgram:///dev/log", Config{Type: TypeSyslog, SyslogConfig: SyslogConfig{Network: SyslogUnixgram, Address: "/dev/log",
			Facility: DefaultSyslogFacility, AppName: DefaultSyslogAppName, Hostname: host, Timeout: DefaultSyslogTimeout}}},
		{"elasticsearch:https://es:9200", Config{Type: TypeElasticsearch, ESConfig: ESConfig{URLs: []string{"https://es:9200"}, DataStream: DefaultDataStream,
			Timeout: DefaultESTimeout, MaxRetries: 3, RetryBackoff: 500e6}}},
	}
	for _, tt := range tests {
		got, err := ParseFlag(tt.flag)
		if err != nil {
			t.Errorf("%s: %v", tt.flag, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.flag, diff)
		}
	}
	for _, bad := range []string{"", "stdout:x", "file", "syslog:/dev/log", "syslog:tls://h:1", "elasticsearch:es:9200", "kafka:x",
		"elasticsearch:ftp://elastic:s3cret@es"} {
		_, err := ParseFlag(bad)
		if err == nil {
			t.Errorf("%q: accepted", bad)
			continue
		}
		if !strings.Contains(err.Error(), "--output") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: error %q does not name the flag, or shows the password", bad, err)
		}
	}
}

func TestRedacted(t *testing.T) {
	c := Config{Type: TypeElasticsearch, ESConfig: ESConfig{
		URLs:   []string{"https://elastic:s3cret@es1:9200/", "https://es2:9200", "https://token@es3:9200", "http://u:p%40ss@es4"},
		APIKey: "k3y", Username: "u", Password: "pw",
	}}
	r := c.Redacted()
	want := []string{"https://elastic:xxxxx@es1:9200/", "https://es2:9200", "https://token@es3:9200", "http://u:xxxxx@es4"}
	if diff := cmp.Diff(want, r.URLs); diff != "" {
		t.Errorf("URLs (-want +got):\n%s", diff)
	}
	if r.APIKey != "<redacted>" || r.Password != "<redacted>" || r.Username != "u" {
		t.Errorf("redacted %+v", r.ESConfig)
	}
	if c.URLs[0] != "https://elastic:s3cret@es1:9200/" || c.APIKey != "k3y" {
		t.Error("Redacted changed the original")
	}
	if (Config{Type: TypeStdout}).Redacted().URLs != nil {
		t.Error("redacting created URLs")
	}
}

// Build opens all outputs or none: on an error, those already opened are
// closed again (a file output's interval syncer would otherwise leak).
func TestBuildAllOrNone(t *testing.T) {
	dir := t.TempDir()
	good := Config{Type: TypeFile, FileConfig: FileConfig{Path: filepath.Join(dir, "a.ndjson")}}
	notADir := filepath.Join(dir, "a.ndjson", "b.ndjson") // a.ndjson is a file
	openFiles := func() int {
		fds, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			return -1 // not Linux: not counted
		}
		return len(fds)
	}
	before := openFiles()
	outs, err := Build([]Config{good, {Type: TypeFile, FileConfig: FileConfig{Path: notADir}}}, io.Discard)
	if err == nil || outs != nil || !strings.HasPrefix(err.Error(), "outputs[1]: ") {
		t.Fatalf("Build = %v, %v; want an error naming outputs[1]", outs, err)
	}
	if after := openFiles(); after != before {
		t.Errorf("%d files open before a failed Build, %d after: the first output was not closed", before, after)
	}
	outs, err = Build([]Config{good, {Type: TypeSyslog, SyslogConfig: SyslogConfig{Facility: "local9"}}}, io.Discard)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != "facility" || outs != nil {
		t.Fatalf("Build = %v, %v; want the facility error", outs, err)
	}
	if _, err := Build(nil, io.Discard); err == nil {
		t.Error("Build of no outputs succeeded")
	}
	outs, err = Build([]Config{good, {Type: TypeStdout}}, io.Discard)
	if err != nil || len(outs) != 2 || outs[0].Name() != "file:"+good.Path || outs[1].Name() != "stdout" {
		t.Fatalf("Build = %v, %v", outs, err)
	}
	for _, o := range outs {
		o.Close()
	}
}
