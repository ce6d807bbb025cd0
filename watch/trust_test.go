package watch

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"webfim/baseline"
	"webfim/policy"
	"webfim/scan"
	"webfim/trust"
)

// fakeVerifier trusts the baselines it was told to, as signed with the
// given sequence; it refuses the others as unsigned.
type fakeVerifier struct {
	mu      sync.Mutex
	trusted map[uint64]uint64 // id -> signed sequence
	calls   int
}

func (v *fakeVerifier) trust(id, sequence uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.trusted[id] = sequence
}

func (v *fakeVerifier) distrust(id uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.trusted, id)
}

func (v *fakeVerifier) Verify(_ context.Context, b scan.Baseline, _ bool) (Verified, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls++
	seq, ok := v.trusted[b.ID]
	if !ok {
		return Verified{}, &trust.UntrustedError{Reasons: []string{"it is not signed"}}
	}
	return Verified{Statement: &trust.Statement{Host: "web01", Sequence: seq, Created: time.Unix(int64(seq), 0)}, Signer: "test key"}, nil
}

func (s *findingSink) noticesOf(kind string) []Notice {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Notice
	for _, n := range s.notices {
		if n.Kind == kind {
			out = append(out, n)
		}
	}
	return out
}

// require_signed: the daemon does not start on an untrusted baseline nor
// creates an unsigned one; while it runs, an untrusted baseline made
// active is reported once and changes stay judged against the last
// verified one; a replay of an older signed baseline is refused by the
// daemon's own memory; the baseline judged against is verified again.
func TestDaemonRequireSigned(t *testing.T) {
	root := tempRoot(t)
	writeFile(t, filepath.Join(root, "index.php"), "<?php")
	db := openDB(t)
	cfg := testConfig(root)
	v := &fakeVerifier{trusted: map[uint64]uint64{}}
	cfg.Verifier = v
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	// No baseline: none is created.
	d, err := New(cfg, Deps{Store: storeOf(db), Judge: policy.Default(), Sink: &findingSink{}, Logger: quiet,
		CreateBaseline: func(context.Context, Config) (scan.Baseline, error) {
			t.Error("an unsigned baseline was created")
			return scan.Baseline{}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "require_signed") {
		t.Fatalf("Run without a baseline: %v", err)
	}
	// An untrusted active baseline: the daemon refuses to start.
	first := makeBaseline(t, db, testConfig(root))
	d, _ = New(cfg, Deps{Store: storeOf(db), Judge: policy.Default(), Sink: &findingSink{}, Logger: quiet})
	if err := d.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "refusing to start") || !strings.Contains(err.Error(), "it is not signed") {
		t.Fatalf("Run on an unsigned baseline: %v", err)
	}

	v.trust(first.ID, 1)
	td := startDaemon(t, db, cfg, Deps{})
	// A new unsigned baseline made active while the daemon runs.
	second := makeBaseline(t, db, testConfig(root))
	n := td.sink.waitNotice(t, NoticeBaselineUntrusted)
	if n.Baseline.ID != second.ID || n.Judged.ID != first.ID || n.Message != "it is not signed" ||
		n.Verdict.RuleID != policy.RuleUntrustedBaseline || n.Verdict.Severity != policy.High || n.Verdict.Reason != n.Message {
		t.Errorf("notice %+v", n)
	}
	writeFile(t, filepath.Join(root, "new.php"), "<?php")
	f := td.sink.waitFor(t, "new.php", fileFinding(baseline.Added, "new.php"))
	if f.Baseline.ID != first.ID {
		t.Errorf("finding judged against baseline %d, want the verified %d", f.Baseline.ID, first.ID)
	}
	// Polled again and again, it is reported once.
	calls := func() int { v.mu.Lock(); defer v.mu.Unlock(); return v.calls }
	c0 := calls()
	waitUntil(waitDeadline, func() bool { return calls() >= c0+3 })
	if got := len(td.sink.noticesOf(NoticeBaselineUntrusted)); got != 1 {
		t.Errorf("%d untrusted-baseline notices, want 1", got)
	}
	// Signed later (attach-signature): taken.
	v.trust(second.ID, 2)
	if !waitUntil(waitDeadline, func() bool { return td.Health().Baseline == second.ID }) {
		t.Fatalf("daemon on baseline %d, want the now signed %d", td.Health().Baseline, second.ID)
	}

	// The older signed baseline made active again: a replay, refused by
	// what the daemon has seen even if the database forgot it.
	if err := db.Activate(first.ID); err != nil {
		t.Fatal(err)
	}
	if !waitUntil(waitDeadline, func() bool { return len(td.sink.noticesOf(NoticeBaselineUntrusted)) == 2 }) {
		t.Fatal("replay not reported")
	}
	n = td.sink.noticesOf(NoticeBaselineUntrusted)[1]
	if n.Baseline.ID != first.ID || n.Judged.ID != second.ID || !strings.Contains(n.Message, "older than the newest signed baseline seen") || !strings.Contains(n.Message, memoryMark) {
		t.Errorf("replay notice %+v", n)
	}
	if td.Health().Baseline != second.ID {
		t.Errorf("daemon on baseline %d after the replay, want %d", td.Health().Baseline, second.ID)
	}

	// The baseline judged against, altered in place: found at the next
	// full verification, and by a reload (SIGHUP), which is refused.
	if err := db.Activate(second.ID); err != nil {
		t.Fatal(err)
	}
	v.distrust(second.ID)
	td.reverify(context.Background(), v)
	notices := td.sink.noticesOf(NoticeBaselineUntrusted)
	if len(notices) != 3 || notices[2].Baseline.ID != second.ID || notices[2].Judged.ID != second.ID {
		t.Errorf("re-verification notices %+v", notices)
	}
	td.mu.Lock()
	delete(td.refused, second.ID) // as if reported long ago: the reload reports it again
	td.mu.Unlock()
	if err := td.Reload(context.Background(), cfg, policy.Default()); err == nil || !strings.Contains(err.Error(), "require_signed") || !strings.Contains(err.Error(), "it is not signed") {
		t.Errorf("Reload on an altered baseline: %v", err)
	}
	notices = td.sink.noticesOf(NoticeBaselineUntrusted)
	if len(notices) != 4 || notices[3].Baseline.ID != second.ID {
		t.Errorf("reload notices %+v", notices)
	}
	td.stop(t)
}
