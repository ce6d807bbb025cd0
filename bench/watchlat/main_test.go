package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPercentileNearestRank(t *testing.T) {
	var v []time.Duration
	for i := 1; i <= 1000; i++ {
		v = append(v, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 500 * time.Millisecond}, {99, 990 * time.Millisecond}, {100, 1000 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(v, tc.p); got != tc.want {
			t.Errorf("percentile(1..1000 ms, %v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("percentile of one value = %v, want 7", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of nothing = %v, want 0", got)
	}
}

func TestIsLogMsg(t *testing.T) {
	for _, tc := range []struct {
		line, msg string
		want      bool
	}{
		{`time=2026-11-26T19:14:38.760Z level=INFO msg=watching roots=1 dirs=1 configs=0`, "watching", true},
		{`{"time":"x","level":"INFO","msg":"watching","dirs":3}`, "watching", true},
		{`time=x level=INFO msg="rescan done" roots=1 reason=startup`, "rescan done", true},
		{`time=x level=INFO msg=watching-later roots=1`, "watching", false},
		{`time=x level=INFO msg=finding path=watching`, "watching", false},
	} {
		if got := isLogMsg(tc.line, tc.msg); got != tc.want {
			t.Errorf("isLogMsg(%q, %q) = %v, want %v", tc.line, tc.msg, got, tc.want)
		}
	}
}

func TestCompare(t *testing.T) {
	diff := `{"type":"header","schema":"webfim.diff/v1"}
{"type":"file","kind":"added","root":"/r","path":"d"}
{"type":"file","kind":"added","root":"/r","path":"d/a.php"}
{"type":"file","kind":"added","root":"/r","path":"d/lost.html"}
{"type":"file","kind":"added","root":"/r","path":"d/bad\\xff","path_base64":"ZC9iYWT/"}
{"type":"file","kind":"metadata_changed","root":"/r","path":""}
{"type":"file","kind":"added","root":"/r","path":"elsewhere"}
{"type":"summary","added":5}
`
	alerts := `{"event":{"action":"catch-up-started","kind":"event"}}
{"event":{"action":"file-added"},"file":{"path":"/r/d"},"webfim":{"change":{"kind":"added"}}}
{"event":{"action":"file-added"},"file":{"path":"/r/d/a.php"},"webfim":{"change":{"kind":"added"}}}
{"event":{"action":"file-changed"},"file":{"path":"/r/d/a.php"},"webfim":{"change":{"kind":"content_changed"}}}
{"event":{"action":"file-added"},"file":{"path":"/r/d/extra"},"webfim":{"change":{"kind":"added"}}}
{"event":{"action":"file-added"},"file":{"path":"/r/elsewhere"},"webfim":{"change":{"kind":"added"}}}
`
	r, err := compare([]byte(alerts), []byte(diff), "/r/d")
	if err != nil {
		t.Fatal(err)
	}
	got := struct {
		Expected, Lost, Extra, Dups []string
		Other, Total                int
	}{Lost: r.lost, Extra: r.extra, Dups: r.dups, Other: r.otherDiff, Total: r.total}
	for p := range r.expected {
		got.Expected = append(got.Expected, p)
	}
	want := got
	want.Lost = []string{"/r/d/bad\xff", "/r/d/lost.html"}
	want.Extra = []string{"/r/d/extra"}
	want.Dups = []string{"/r/d/a.php"}
	want.Other = 0 // the root's change is outside /r/d
	want.Total = 4
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("compare (-want +got):\n%s", diff)
	}
	if len(r.expected) != 4 || !r.expected["/r/d/bad\xff"] {
		t.Errorf("expected set = %v, want 4 entries including the base64 path", r.expected)
	}

	if _, err := compare([]byte(alerts), []byte("{not json\n"), ""); err == nil {
		t.Error("compare accepted a diff that is not NDJSON")
	}
}
