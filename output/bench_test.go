package output

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkFileFsync writes batches of 100 alert-sized documents under each
// fsync policy; compare the ns/op (per batch) between policies.
func BenchmarkFileFsync(b *testing.B) {
	docs := testDocs(0, 100)
	for _, policy := range []string{FsyncNever, FsyncInterval, FsyncBatch, FsyncAlways} {
		b.Run(policy, func(b *testing.B) {
			o, err := File(FileConfig{Path: filepath.Join(b.TempDir(), "a.ndjson"), Fsync: policy, MaxSize: 64 << 20})
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			b.ReportAllocs()
			for b.Loop() {
				if err := o.Write(context.Background(), docs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSyslogFormat measures building one RFC 5424 message.
func BenchmarkSyslogFormat(b *testing.B) {
	o, err := Syslog(SyslogConfig{Network: "udp", Address: "127.0.0.1:514", Hostname: "web1"})
	if err != nil {
		b.Fatal(err)
	}
	body := testDocs(0, 1)[0].Body
	b.ReportAllocs()
	for b.Loop() {
		o.format(body)
	}
}
