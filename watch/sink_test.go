package watch

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"webfim/alert"
	"webfim/baseline"
	"webfim/policy"
	"webfim/scan"
	"webfim/serverconf"
)

func TestOutboxSink(t *testing.T) {
	db := openDB(t)
	notified := 0
	sink := &OutboxSink{Outbox: testOutbox{db}, MaxEntries: 3, Notify: func() { notified++ },
		Env:    func() alert.Env { return alert.Env{AgentVersion: "test"} },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rec := &baseline.Record{Root: "/srv/www", Path: "shell.php", Type: baseline.TypeFile, Size: 5, BLAKE3: make([]byte, 32)}
	ch := baseline.Change{Kind: baseline.Added, Root: "/srv/www", Path: "shell.php", New: rec}
	v := policy.Default().EvaluateFile(ch, policy.Context{Now: time.Now()})
	f := newFinding(alert.Finding{File: &ch, Verdict: v}, time.Now(), scan.Baseline{ID: 4, Label: "l"})
	f.EventID, f.Reminder = f.ID+"-123", true
	if err := sink.Emit(context.Background(), []Finding{f}); err != nil {
		t.Fatal(err)
	}
	pending, err := db.Pending(0)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending %v, %v", pending, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(pending[0].Doc, &doc); err != nil {
		t.Fatal(err)
	}
	event := doc["event"].(map[string]any)
	if pending[0].ID != f.ID+"-123" || event["id"] != f.ID+"-123" {
		t.Errorf("outbox id %q, event.id %v: want the finding's EventID", pending[0].ID, event["id"])
	}
	if doc["webfim"].(map[string]any)["reminder"] != true {
		t.Error("reminder not marked")
	}
	if notified != 1 {
		t.Errorf("deliverer notified %d times", notified)
	}

	// Over the bound: the oldest are dropped, and a document says so.
	item := serverconf.Item{Server: "nginx", Kind: "load_module", Name: "evil.so", Source: "/etc/nginx/nginx.conf"}
	ich := serverconf.Change{Kind: serverconf.ItemAdded, New: &item}
	iv := policy.Default().EvaluateItem(ich, policy.Context{Now: time.Now()})
	var many []Finding
	for i := range 4 {
		f := newFinding(alert.Finding{Item: &ich, Verdict: iv}, time.Now(), scan.Baseline{})
		f.EventID = "item" + string(rune('a'+i))
		many = append(many, f)
	}
	if err := sink.Emit(context.Background(), many); err != nil {
		t.Fatal(err)
	}
	depth, dropped, err := db.OutboxStats()
	if err != nil || depth != 3 || dropped < 2 {
		t.Errorf("depth %d dropped %d (%v): want bounded at 3 with drops counted", depth, dropped, err)
	}
	pending, _ = db.Pending(0)
	last := pending[len(pending)-1]
	if err := json.Unmarshal(last.Doc, &doc); err != nil || doc["event"].(map[string]any)["action"] != "outbox-dropped" {
		t.Errorf("last outbox document is not the drop report: %s", last.Doc)
	}

	if err := sink.Notice(context.Background(), Notice{Kind: NoticeOverflow, Roots: []string{"/srv/www"}, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	pending, _ = db.Pending(0)
	found := false
	for _, e := range pending {
		if err := json.Unmarshal(e.Doc, &doc); err == nil && doc["event"].(map[string]any)["action"] == "rescan-after-overflow" {
			found = true
		}
	}
	if !found {
		t.Errorf("no overflow notice document in the outbox")
	}
}

func TestDaemonConfigAtomicReplace(t *testing.T) {
	root := tempRoot(t)
	etc := tempRoot(t)
	conf := filepath.Join(etc, "nginx.conf")
	writeFile(t, conf, "events {}\nhttp { server { root /var/www; } }\n")
	db := openDB(t)
	cfg := testConfig(root)
	cfg.Target.Configs = []serverconf.Config{{Path: conf}}
	makeBaseline(t, db, cfg)
	td := startDaemon(t, db, cfg, Deps{})

	tmp := filepath.Join(etc, ".nginx.conf.swp")
	writeFile(t, tmp, "load_module /tmp/ngx_http_evil_module.so;\nevents {}\nhttp { server { root /var/www; } }\n")
	if err := os.Rename(tmp, conf); err != nil {
		t.Fatal(err)
	}
	f := td.sink.waitFor(t, "load_module added", func(f Finding) bool {
		return f.Item != nil && f.Item.Kind == serverconf.ItemAdded && f.Item.New.Kind == "load_module"
	})
	if !f.Verdict.Alert {
		t.Errorf("planted nginx module not an alert: %+v", f.Verdict)
	}
}

// A .htaccess planted under a root is a file finding and, parsed, an
// inventory finding (a handler that runs .jpg files as PHP).
func TestDaemonHtaccessUnderRoot(t *testing.T) {
	root := tempRoot(t)
	writeFile(t, filepath.Join(root, "uploads", "cat.jpg"), "jpg")
	db := openDB(t)
	cfg := testConfig(root)
	makeBaseline(t, db, cfg)
	td := startDaemon(t, db, cfg, Deps{})
	writeFile(t, filepath.Join(root, "uploads", ".htaccess"), "AddHandler application/x-httpd-php .jpg\n")
	td.sink.waitFor(t, ".htaccess added", fileFinding(baseline.Added, "uploads/.htaccess"))
	f := td.sink.waitFor(t, "handler item", func(f Finding) bool {
		return f.Item != nil && f.Item.Kind == serverconf.ItemAdded && f.Item.New.Server == "htaccess"
	})
	if f.Item.New.Source != filepath.Join(root, "uploads", ".htaccess") {
		t.Errorf("item source %q", f.Item.New.Source)
	}
}
