package output

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// bulkItem is one action/source pair of a _bulk request.
type bulkItem struct {
	Index, Action, ID string
	Source            json.RawMessage
}

// fakeES speaks enough of the _bulk protocol: it parses the NDJSON
// action/source pairs, keeps created documents by _id (a second create of
// the same _id is a 409 version_conflict, as with data streams) and answers
// per item.
type fakeES struct {
	t       *testing.T
	noProof bool // omit X-Elastic-Product, like a server that is not Elasticsearch

	mu       sync.Mutex
	requests [][]bulkItem
	headers  []http.Header
	docs     map[string]json.RawMessage
	// requestStatus, if set, answers a whole request with a status (e.g. 429).
	requestStatus []int
	// itemStatus, if set, decides an item's status (0: normal handling).
	itemStatus func(req int, it bulkItem) (int, string)
}

func newFakeES(t *testing.T) *fakeES {
	return &fakeES{t: t, docs: map[string]json.RawMessage{}}
}

func (f *fakeES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !f.noProof {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
	}
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost && r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, "/_bulk") {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":"unexpected %s %s"}`, r.Method, r.URL.Path)
		return
	}
	defaultIndex := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/_bulk")
	var items []bulkItem
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 10<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var action map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil || len(action) != 1 {
			http.Error(w, `{"error":"bad action line"}`, http.StatusBadRequest)
			return
		}
		var it bulkItem
		for k, v := range action {
			it.Action, it.ID, it.Index = k, v.ID, v.Index
		}
		if it.Index == "" {
			it.Index = defaultIndex
		}
		if !sc.Scan() {
			http.Error(w, `{"error":"action without source"}`, http.StatusBadRequest)
			return
		}
		it.Source = append(json.RawMessage(nil), sc.Bytes()...)
		items = append(items, it)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	req := len(f.requests)
	f.requests = append(f.requests, items)
	f.headers = append(f.headers, r.Header.Clone())
	if req < len(f.requestStatus) && f.requestStatus[req] != 0 {
		w.WriteHeader(f.requestStatus[req])
		fmt.Fprintf(w, `{"error":{"type":"es_rejected_execution_exception"},"status":%d}`, f.requestStatus[req])
		return
	}
	type errBody struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	}
	type result struct {
		Index  string   `json:"_index"`
		ID     string   `json:"_id"`
		Status int      `json:"status"`
		Result string   `json:"result,omitempty"`
		Error  *errBody `json:"error,omitempty"`
	}
	var resp struct {
		Took   int                 `json:"took"`
		Errors bool                `json:"errors"`
		Items  []map[string]result `json:"items"`
	}
	for _, it := range items {
		res := result{Index: ".ds-" + it.Index + "-000001", ID: it.ID}
		status, errType := 0, ""
		if f.itemStatus != nil {
			status, errType = f.itemStatus(req, it)
		}
		switch {
		case status != 0:
			res.Status, res.Error = status, &errBody{Type: errType, Reason: "injected"}
		case it.Action != "create":
			res.Status, res.Error = 400, &errBody{Type: "illegal_argument_exception", Reason: "only write ops with an op_type of create are allowed in data streams"}
		case f.docs[it.ID] != nil:
			res.Status, res.Error = 409, &errBody{Type: "version_conflict_engine_exception", Reason: "document already exists"}
		default:
			f.docs[it.ID] = it.Source
			res.Status, res.Result = 201, "created"
		}
		if res.Error != nil {
			resp.Errors = true
		}
		resp.Items = append(resp.Items, map[string]result{it.Action: res})
	}
	json.NewEncoder(w).Encode(resp)
}

func (f *fakeES) snapshot() ([][]bulkItem, map[string]json.RawMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests), maps(f.docs)
}

func maps(m map[string]json.RawMessage) map[string]json.RawMessage {
	c := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func esOutput(t *testing.T, url string, mod func(*ESConfig)) *ESOutput {
	t.Helper()
	cfg := ESConfig{URLs: []string{url}, APIKey: "aWQ6a2V5", RetryBackoff: 5 * time.Millisecond, MaxRetries: 2, Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	o, err := Elasticsearch(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func idsOf(items []bulkItem) []string {
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return ids
}

func TestElasticsearchIndexesWithEventID(t *testing.T) {
	fake := newFakeES(t)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	o := esOutput(t, srv.URL, nil)
	docs := testDocs(0, 5)
	if err := o.Write(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	reqs, stored := fake.snapshot()
	if len(reqs) != 1 || len(reqs[0]) != 5 {
		t.Fatalf("requests %v, want one with 5 items", reqs)
	}
	for i, it := range reqs[0] {
		var src struct {
			Event struct{ ID string } `json:"event"`
		}
		if err := json.Unmarshal(it.Source, &src); err != nil {
			t.Fatal(err)
		}
		if it.ID != src.Event.ID || it.ID != docs[i].ID {
			t.Errorf("item %d: _id %q, event.id %q, want both %q", i, it.ID, src.Event.ID, docs[i].ID)
		}
		if it.Action != "create" || it.Index != DefaultDataStream {
			t.Errorf("item %d: %s into %q, want create into %s", i, it.Action, it.Index, DefaultDataStream)
		}
		if !bytes.Equal(stored[it.ID], docs[i].Body) {
			t.Errorf("stored %s, want %s", stored[it.ID], docs[i].Body)
		}
	}
	if h := fake.headers[0].Get("Authorization"); !strings.EqualFold(h, "ApiKey aWQ6a2V5") {
		t.Errorf("Authorization %q, want the API key", h)
	}
}

func TestElasticsearchBasicAuthAndDataStream(t *testing.T) {
	fake := newFakeES(t)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	o := esOutput(t, srv.URL, func(c *ESConfig) {
		c.APIKey, c.Username, c.Password, c.DataStream = "", "webfim", "s3cret", "logs-webfim.alert-prod"
	})
	if err := o.Write(context.Background(), testDocs(0, 1)); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth("webfim", "s3cret")
	if got, want := fake.headers[0].Get("Authorization"), req.Header.Get("Authorization"); got != want {
		t.Errorf("Authorization %q, want %q", got, want)
	}
	if fake.requests[0][0].Index != "logs-webfim.alert-prod" {
		t.Errorf("index %q", fake.requests[0][0].Index)
	}
}

// Credentials in a URL authenticate, and never appear in errors.
func TestElasticsearchCredentialsInURL(t *testing.T) {
	fake := newFakeES(t)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	withCreds := strings.Replace(srv.URL, "http://", "http://webfim:s3cret@", 1)
	o := esOutput(t, withCreds, func(c *ESConfig) { c.APIKey = "" })
	if err := o.Write(context.Background(), testDocs(0, 1)); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth("webfim", "s3cret")
	if got, want := fake.headers[0].Get("Authorization"), req.Header.Get("Authorization"); got != want {
		t.Errorf("Authorization %q, want %q", got, want)
	}

	// A node that is down: the error names it, without the password.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://webfim:s3cret@" + ln.Addr().String()
	ln.Close()
	err = esOutput(t, down, func(c *ESConfig) { c.APIKey, c.MaxRetries = "", 1 }).Write(context.Background(), testDocs(0, 1))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v: want a failure that does not show the password", err)
	}
}

func TestElasticsearchConflictIsSuccess(t *testing.T) {
	fake := newFakeES(t)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	o := esOutput(t, srv.URL, nil)
	docs := testDocs(0, 3)
	if err := o.Write(context.Background(), docs[:2]); err != nil {
		t.Fatal(err)
	}
	// A re-send after a crash: the first two already exist.
	if err := o.Write(context.Background(), docs); err != nil {
		t.Fatalf("re-send with 409 conflicts: %v, want success", err)
	}
	_, stored := fake.snapshot()
	if len(stored) != 3 {
		t.Errorf("%d documents stored, want 3", len(stored))
	}
}

func TestElasticsearchPartialFailure(t *testing.T) {
	fake := newFakeES(t)
	var broken atomic.Bool
	broken.Store(true)
	fake.itemStatus = func(_ int, it bulkItem) (int, string) {
		if it.ID == "id-00002" && broken.Load() {
			return 503, "unavailable_shards_exception" // a failure a retry can fix
		}
		return 0, ""
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	o := esOutput(t, srv.URL, nil)
	docs := testDocs(0, 4)
	err := o.Write(context.Background(), docs)
	var pe *PartialError
	if !errors.As(err, &pe) || !slices.Equal(pe.Failed, []int{2}) || len(pe.Rejected) != 0 {
		t.Fatalf("err = %v, want a PartialError naming index 2", err)
	}
	if !strings.Contains(err.Error(), "id-00002") || !strings.Contains(err.Error(), "unavailable_shards_exception") {
		t.Errorf("error %q does not name the document and the cause", err)
	}

	// Through the Deliverer: only the failed document is sent again.
	fake2 := newFakeES(t)
	fake2.itemStatus = fake.itemStatus
	srv2 := httptest.NewServer(fake2)
	defer srv2.Close()
	ob := &memOutbox{}
	ob.add(docs...)
	d, stop := startDeliverer(t, ob, fastOpts, esOutput(t, srv2.URL, nil))
	defer stop()
	waitFor(t, "a retry", func() bool { r, _ := fake2.snapshot(); return len(r) >= 2 })
	if ob.depth() != 1 {
		t.Errorf("outbox depth %d, want only the rejected document left", ob.depth())
	}
	broken.Store(false)
	waitFor(t, "outbox empty", func() bool { return ob.depth() == 0 })
	reqs, stored := fake2.snapshot()
	if !slices.Equal(idsOf(reqs[0]), docIDs(0, 4)) {
		t.Errorf("first request %v", idsOf(reqs[0]))
	}
	for i, r := range reqs[1:] {
		if !slices.Equal(idsOf(r), []string{"id-00002"}) {
			t.Errorf("retry %d sent %v, want only id-00002", i+1, idsOf(r))
		}
	}
	if len(stored) != 4 {
		t.Errorf("%d stored, want 4", len(stored))
	}
	if d.Errors() == 0 {
		t.Error("no delivery error counted for the partial failure")
	}
}

// memDeadLetter is a DeadLetter in memory that can be made to fail.
type memDeadLetter struct {
	mu      sync.Mutex
	down    bool
	kept    []RejectedDoc
	outputs []string
}

func (m *memDeadLetter) Keep(_ context.Context, output string, rejected []RejectedDoc) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errors.New("disk full")
	}
	m.kept = append(m.kept, rejected...)
	for range rejected {
		m.outputs = append(m.outputs, output)
	}
	return nil
}

func (m *memDeadLetter) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.kept)
}

// A document Elasticsearch rejects with 400 (it cannot map it) is not
// retried: it goes to the dead-letter file, is counted and reported, and
// the documents after it are delivered.
func TestElasticsearchRejectedDocumentGoesToDeadLetter(t *testing.T) {
	fake := newFakeES(t)
	fake.itemStatus = func(_ int, it bulkItem) (int, string) {
		if it.ID == "id-00002" {
			return 400, "document_parsing_exception"
		}
		return 0, ""
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	docs := testDocs(0, 5)

	// Write reports the document as rejected, not as failed.
	err := esOutput(t, srv.URL, nil).Write(context.Background(), docs)
	var pe *PartialError
	if !errors.As(err, &pe) || len(pe.Failed) != 0 || len(pe.Rejected) != 1 || pe.Rejected[0].Index != 2 {
		t.Fatalf("err = %#v, want a PartialError rejecting index 2 only", err)
	}
	if r := pe.Rejected[0].Reason.Error(); !strings.Contains(r, "id-00002") || !strings.Contains(r, "400 document_parsing_exception") {
		t.Errorf("reason %q does not name the document and the cause", r)
	}

	// Through the Deliverer and a dead-letter file.
	fake2 := newFakeES(t)
	fake2.itemStatus = fake.itemStatus
	srv2 := httptest.NewServer(fake2)
	defer srv2.Close()
	dlPath := filepath.Join(t.TempDir(), "webfim.deadletter.ndjson")
	dl, err := OpenDeadLetter(FileConfig{Path: dlPath})
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	ob := &memOutbox{}
	ob.add(docs...)
	var reported atomic.Int64
	opt := fastOpts
	opt.DeadLetter = dl
	opt.OnDeadLetter = func(output string, r RejectedDoc) {
		if output == "elasticsearch:"+DefaultDataStream && r.Doc.ID == "id-00002" && r.Reason != nil {
			reported.Add(1)
		}
	}
	out := esOutput(t, srv2.URL, nil)
	d, stop := startDeliverer(t, ob, opt, out)
	waitFor(t, "outbox empty", func() bool { return ob.depth() == 0 })
	time.Sleep(50 * time.Millisecond) // several backoff periods: a retry would show
	stop()
	reqs, stored := fake2.snapshot()
	if len(reqs) != 1 {
		t.Errorf("%d requests, want 1: the rejected document was sent again", len(reqs))
	}
	if len(stored) != 4 || stored["id-00002"] != nil {
		t.Errorf("stored %d documents (id-00002: %s), want the 4 others", len(stored), stored["id-00002"])
	}
	if d.Errors() != 0 {
		t.Errorf("%d failed writes, want none: a rejection for good is not a failure", d.Errors())
	}
	if d.DeadLettered() != 1 || reported.Load() != 1 {
		t.Errorf("DeadLettered() = %d, OnDeadLetter called %d times; want 1, 1", d.DeadLettered(), reported.Load())
	}
	lines := readLines(t, dlPath)
	if len(lines) != 1 {
		t.Fatalf("dead-letter file has %d lines, want 1:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	var rec struct {
		Time     time.Time       `json:"time"`
		Output   string          `json:"output"`
		Reason   string          `json:"reason"`
		EventID  string          `json:"event_id"`
		Document json.RawMessage `json:"document"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.EventID != "id-00002" || rec.Output != out.Name() || !strings.Contains(rec.Reason, "400 document_parsing_exception") ||
		time.Since(rec.Time) > time.Minute || !bytes.Equal(rec.Document, docs[2].Body) {
		t.Errorf("dead-letter record %+v (document %s), want id-00002 as sent", rec, rec.Document)
	}
	if fi, err := os.Stat(dlPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("dead-letter file: %v, mode %v; want 0600", err, fi.Mode())
	}
}

// A rejected document is never dropped: without a dead letter, or while
// the dead letter cannot keep it, it stays in the outbox and is retried.
func TestElasticsearchRejectedDocumentIsNeverLost(t *testing.T) {
	fake := newFakeES(t)
	fake.itemStatus = func(_ int, it bulkItem) (int, string) {
		if it.ID == "id-00001" {
			return 400, "mapper_parsing_exception"
		}
		return 0, ""
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	// No dead letter: retried.
	ob := &memOutbox{}
	ob.add(testDocs(0, 3)...)
	d, stop := startDeliverer(t, ob, fastOpts, esOutput(t, srv.URL, nil))
	waitFor(t, "a retry", func() bool { r, _ := fake.snapshot(); return len(r) >= 3 })
	stop()
	if ob.depth() != 1 || d.DeadLettered() != 0 {
		t.Fatalf("outbox depth %d, dead-lettered %d; want the rejected document kept in the outbox", ob.depth(), d.DeadLettered())
	}

	// A dead letter that fails (disk full): still retried, then kept once it works.
	dl := &memDeadLetter{down: true}
	var dlErrors atomic.Int64
	opt := fastOpts
	opt.DeadLetter = dl
	opt.OnError = func(name string, err error) {
		if name == "dead letter" && strings.Contains(err.Error(), "disk full") {
			dlErrors.Add(1)
		}
	}
	d, stop = startDeliverer(t, ob, opt, esOutput(t, srv.URL, nil))
	defer stop()
	waitFor(t, "dead-letter errors", func() bool { return dlErrors.Load() >= 2 })
	if ob.depth() != 1 || dl.count() != 0 {
		t.Fatalf("outbox depth %d, kept %d while the dead letter fails; want 1, 0", ob.depth(), dl.count())
	}
	dl.mu.Lock()
	dl.down = false
	dl.mu.Unlock()
	waitFor(t, "outbox empty", func() bool { return ob.depth() == 0 })
	if dl.count() != 1 || dl.kept[0].Doc.ID != "id-00001" || d.DeadLettered() != 1 {
		t.Errorf("kept %d (%v), dead-lettered %d; want id-00001 once", dl.count(), dl.kept, d.DeadLettered())
	}
}

func TestElasticsearch429(t *testing.T) {
	t.Run("whole request", func(t *testing.T) {
		fake := newFakeES(t)
		fake.requestStatus = []int{429, 429}
		srv := httptest.NewServer(fake)
		defer srv.Close()
		o := esOutput(t, srv.URL, nil)
		if err := o.Write(context.Background(), testDocs(0, 3)); err != nil {
			t.Fatalf("after two 429s: %v, want the client's retry to succeed", err)
		}
		reqs, stored := fake.snapshot()
		if len(reqs) != 3 || len(stored) != 3 {
			t.Errorf("%d requests, %d stored; want 3, 3", len(reqs), len(stored))
		}
	})
	t.Run("per item", func(t *testing.T) {
		fake := newFakeES(t)
		fake.itemStatus = func(req int, it bulkItem) (int, string) {
			if req < 2 && it.ID == "id-00001" {
				return 429, "es_rejected_execution_exception"
			}
			return 0, ""
		}
		srv := httptest.NewServer(fake)
		defer srv.Close()
		o := esOutput(t, srv.URL, nil)
		if err := o.Write(context.Background(), testDocs(0, 3)); err != nil {
			t.Fatalf("item rejected twice with 429: %v, want it retried within Write", err)
		}
		reqs, stored := fake.snapshot()
		if len(reqs) != 3 || !slices.Equal(idsOf(reqs[1]), []string{"id-00001"}) || !slices.Equal(idsOf(reqs[2]), []string{"id-00001"}) {
			t.Errorf("requests %v, want the throttled item alone in retries", reqs)
		}
		if len(stored) != 3 {
			t.Errorf("%d stored, want 3", len(stored))
		}
	})
	t.Run("per item persistent", func(t *testing.T) {
		fake := newFakeES(t)
		fake.itemStatus = func(req int, it bulkItem) (int, string) {
			if it.ID == "id-00000" {
				return 429, "es_rejected_execution_exception"
			}
			return 0, ""
		}
		srv := httptest.NewServer(fake)
		defer srv.Close()
		err := esOutput(t, srv.URL, nil).Write(context.Background(), testDocs(0, 2))
		var pe *PartialError
		if !errors.As(err, &pe) || !slices.Equal(pe.Failed, []int{0}) {
			t.Fatalf("err = %v, want PartialError [0]", err)
		}
	})
}

func TestElasticsearchProductCheck(t *testing.T) {
	fake := newFakeES(t)
	fake.noProof = true
	srv := httptest.NewServer(fake)
	defer srv.Close()
	err := esOutput(t, srv.URL, nil).Write(context.Background(), testDocs(0, 2))
	var pe *PartialError
	if !errors.As(err, &pe) || len(pe.Failed) != 2 || !strings.Contains(err.Error(), "not Elasticsearch") {
		t.Fatalf("err = %v, want both failed because the server is not Elasticsearch", err)
	}
}

func TestElasticsearchDownThenUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	ob := &memOutbox{}
	ob.add(testDocs(0, 30)...)
	var errs atomic.Int64
	opt := fastOpts
	opt.OnError = func(string, error) { errs.Add(1) }
	_, stop := startDeliverer(t, ob, opt, esOutput(t, "http://"+addr, nil))
	defer stop()
	waitFor(t, "failed attempts", func() bool { return errs.Load() >= 2 })
	if ob.depth() != 30 {
		t.Fatalf("outbox depth %d while Elasticsearch is down, want 30", ob.depth())
	}
	fake := newFakeES(t)
	srv := httptest.NewUnstartedServer(fake)
	srv.Listener.Close()
	if srv.Listener, err = net.Listen("tcp", addr); err != nil {
		t.Skipf("port %s was taken meanwhile: %v", addr, err)
	}
	srv.Start()
	defer srv.Close()
	waitFor(t, "outbox empty", func() bool { return ob.depth() == 0 })
	_, stored := fake.snapshot()
	for _, id := range docIDs(0, 30) {
		if stored[id] == nil {
			t.Errorf("%s never indexed", id)
		}
	}
}

func TestElasticsearchCAFile(t *testing.T) {
	fake := newFakeES(t)
	srv := httptest.NewUnstartedServer(fake)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the expected handshake failure
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	var pemBuf bytes.Buffer
	pemEncode(&pemBuf, srv.Certificate().Raw)
	if err := os.WriteFile(caFile, pemBuf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	o := esOutput(t, srv.URL, func(c *ESConfig) { c.CAFile = caFile })
	if err := o.Write(context.Background(), testDocs(0, 1)); err != nil {
		t.Fatalf("with the CA file: %v", err)
	}
	// Without it the server's certificate is not trusted.
	err := esOutput(t, srv.URL, nil).Write(context.Background(), testDocs(1, 1))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA file: %v, want a certificate error", err)
	}
}

func TestElasticsearchConfigErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	for _, c := range []ESConfig{
		{},
		{URLs: []string{"localhost:9200"}},
		{URLs: []string{"ftp://x"}},
		{URLs: []string{"http://x:9200"}, Password: "p"},
		{URLs: []string{"http://x:9200"}, DataStream: "Logs-Upper"},
		{URLs: []string{"http://x:9200"}, DataStream: "logs webfim"},
		{URLs: []string{"http://x:9200"}, CAFile: bad},
		{URLs: []string{"http://x:9200"}, CAFile: bad + ".missing"},
	} {
		if _, err := Elasticsearch(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: err = %v, want ErrInvalidConfig", c, err)
		}
	}
}

func pemEncode(w *bytes.Buffer, der []byte) {
	pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: der})
}
