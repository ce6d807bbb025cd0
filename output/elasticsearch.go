package output

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"
)

// Elasticsearch defaults.
const (
	DefaultDataStream = "logs-webfim.alert-default"
	DefaultESTimeout  = 30 * time.Second
	// esItemRetries is how often documents rejected with 429 inside a
	// successful _bulk response are re-sent within one Write.
	esItemRetries = 3
)

// ESConfig configures an [Elasticsearch] output; the yaml keys are those
// of a "type: elasticsearch" output in the config file.
type ESConfig struct {
	// URLs of Elasticsearch nodes, e.g. https://es1:9200.
	URLs []string `yaml:"urls,omitempty"`
	// APIKey is the base64 "id:api_key" credential; give it or
	// Username/Password, not both.
	APIKey string `yaml:"api_key,omitempty"`
	// Username and Password for basic authentication.
	Username string `yaml:"username,omitempty"`
	Password string `yaml:"password,omitempty"`
	// CAFile is a PEM file of CA certificates to trust instead of the
	// system pool.
	CAFile string `yaml:"ca_file,omitempty"`
	// DataStream is the target; empty means DefaultDataStream.
	DataStream string `yaml:"data_stream,omitempty"`
	// Timeout bounds waiting for a response header; 0 means DefaultESTimeout.
	Timeout time.Duration `yaml:"-"`
	// MaxRetries is how often the client retries a request failing with
	// 429, 502, 503 or 504 or a network error; 0 means 3.
	MaxRetries int `yaml:"-"`
	// RetryBackoff is the first delay between retries (doubled each time,
	// at most 10s); 0 means 500ms.
	RetryBackoff time.Duration `yaml:"-"`
}

// Validate checks the configuration and fills in defaults. Errors are
// *[FieldError] values; they never show a password embedded in a URL.
func (c *ESConfig) Validate() error {
	if len(c.URLs) == 0 {
		return fieldErrorf("urls", "missing: an elasticsearch output needs at least one URL")
	}
	for i, u := range c.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fieldErrorf(fmt.Sprintf("urls[%d]", i), "want an http:// or https:// URL such as https://es1:9200, got %q", redactURL(u))
		}
	}
	if c.APIKey != "" && c.Username != "" {
		return fieldErrorf("api_key", "give either api_key or username/password, not both")
	}
	if c.Password != "" && c.Username == "" {
		return fieldErrorf("password", "password without username")
	}
	if c.DataStream == "" {
		c.DataStream = DefaultDataStream
	}
	if ds := c.DataStream; strings.ToLower(ds) != ds || strings.ContainsAny(ds, ` "*\<|,>/?#:`) ||
		strings.HasPrefix(ds, "_") || strings.HasPrefix(ds, "-") || strings.HasPrefix(ds, "+") || len(strings.Split(ds, "-")) < 3 {
		return fieldErrorf("data_stream", "bad data stream name %q (want type-dataset-namespace in lower case, e.g. %s)", ds, DefaultDataStream)
	}
	if c.Timeout < 0 || c.MaxRetries < 0 || c.RetryBackoff < 0 {
		return fieldErrorf("timeout", "timeout, max retries and retry backoff must not be negative")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultESTimeout
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 3
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = 500 * time.Millisecond
	}
	return nil
}

// ESOutput indexes documents into a data stream with the _bulk API.
type ESOutput struct {
	cfg       ESConfig
	client    *elasticsearch.Client
	transport *http.Transport
}

// Elasticsearch returns an output indexing into cfg.DataStream. Documents
// are sent with the "create" action (required by data streams) and
// _id = Doc.ID, so a document sent twice is indexed once: the second create
// fails with 409 version_conflict, which counts as delivered.
func Elasticsearch(cfg ESConfig) (*ESOutput, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = cfg.Timeout
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, &FieldError{Key: "ca_file", Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fieldErrorf("ca_file", "%s: no PEM certificate found", cfg.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	backoff := cfg.RetryBackoff
	client, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses:     cfg.URLs,
		APIKey:        cfg.APIKey,
		Username:      cfg.Username,
		Password:      cfg.Password,
		Transport:     tr,
		RetryOnStatus: []int{429, 502, 503, 504},
		MaxRetries:    cfg.MaxRetries,
		RetryBackoff: func(attempt int) time.Duration {
			return expBackoff(backoff, 10*time.Second, attempt-1)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: elasticsearch: %v", ErrInvalidConfig, err)
	}
	return &ESOutput{cfg: cfg, client: client, transport: tr}, nil
}

// Name returns "elasticsearch:" and the data stream.
func (e *ESOutput) Name() string { return "elasticsearch:" + e.cfg.DataStream }

// Write bulk-indexes docs. Documents rejected with 429 are re-sent up to
// three times with backoff. Documents rejected with 400 (a mapping or
// parsing error: the document's own fault, which no retry can fix) are
// reported as [Rejection] values; other failed documents as Failed, in a
// *PartialError, at once.
func (e *ESOutput) Write(ctx context.Context, docs []Doc) error {
	if len(docs) == 0 {
		return nil
	}
	todo := rangeFrom(0, len(docs))
	var permanent []int
	var rejected []Rejection
	var lastErr error
	for attempt := 0; ; attempt++ {
		r, err := e.bulk(ctx, docs, todo)
		permanent = append(permanent, r.failed...)
		rejected = append(rejected, r.rejected...)
		if err != nil {
			lastErr = err
		}
		if len(r.throttled) == 0 || attempt >= esItemRetries || ctx.Err() != nil {
			failed := append(permanent, r.throttled...)
			if len(failed) == 0 && len(rejected) == 0 {
				return nil
			}
			slices.Sort(failed)
			slices.SortFunc(rejected, func(a, b Rejection) int { return a.Index - b.Index })
			return &PartialError{Failed: failed, Rejected: rejected, Err: lastErr}
		}
		select {
		case <-ctx.Done():
		case <-time.After(expBackoff(e.cfg.RetryBackoff, 10*time.Second, attempt)):
		}
		todo = r.throttled
	}
}

// bulkResult sorts the documents of one _bulk request that were not
// indexed.
type bulkResult struct {
	failed    []int // retry later (no answer, a network or server error)
	throttled []int // 429: retry soon
	rejected  []Rejection
}

// Item outcomes of a _bulk request.
const (
	itemOK = iota + 1
	itemFailed
	itemThrottled
	itemRejected
)

// bulk sends docs[idx...] in one _bulk request and sorts the documents
// that were not indexed; it returns the first error.
func (e *ESOutput) bulk(ctx context.Context, docs []Doc, idx []int) (res bulkResult, firstErr error) {
	var (
		mu     sync.Mutex
		sealed bool
		state  = make(map[int]int, len(idx))
		reason = map[int]error{}
	)
	record := func(i, s int, err error) {
		mu.Lock()
		defer mu.Unlock()
		if sealed {
			return
		}
		state[i] = s
		if s == itemRejected {
			reason[i] = err
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client:        e.client,
		Index:         e.cfg.DataStream,
		NumWorkers:    1,
		FlushInterval: time.Hour, // flushed by Close
	})
	if err != nil {
		return bulkResult{failed: idx}, fmt.Errorf("%s: %w", e.Name(), err)
	}
	for _, i := range idx {
		err := bi.Add(ctx, esutil.BulkIndexerItem{
			Action:     "create",
			DocumentID: docs[i].ID,
			Body:       bytes.NewReader(oneLine(docs[i].Body)),
			OnSuccess: func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) {
				record(i, itemOK, nil)
			},
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
				switch {
				case err != nil:
					record(i, itemFailed, fmt.Errorf("%s: %w", e.Name(), err))
				case res.Status == http.StatusConflict:
					record(i, itemOK, nil) // already indexed by an earlier attempt
				case res.Status == http.StatusTooManyRequests:
					record(i, itemThrottled, fmt.Errorf("%s: document %q: 429 %s: %s", e.Name(), docs[i].ID, res.Error.Type, res.Error.Reason))
				case res.Status == http.StatusBadRequest:
					record(i, itemRejected, fmt.Errorf("%s: document %q rejected: 400 %s: %s", e.Name(), docs[i].ID, res.Error.Type, res.Error.Reason))
				default:
					record(i, itemFailed, fmt.Errorf("%s: document %q: %d %s: %s", e.Name(), docs[i].ID, res.Status, res.Error.Type, res.Error.Reason))
				}
			},
		})
		if err != nil {
			record(i, itemFailed, fmt.Errorf("%s: %w", e.Name(), err))
		}
	}
	cerr := bi.Close(ctx)
	mu.Lock()
	defer mu.Unlock()
	sealed = true
	noAnswer := 0
	for _, i := range idx {
		switch state[i] {
		case itemOK:
		case itemThrottled:
			res.throttled = append(res.throttled, i)
		case itemRejected:
			res.rejected = append(res.rejected, Rejection{Index: i, Reason: reason[i]})
		case itemFailed:
			res.failed = append(res.failed, i)
		default:
			res.failed = append(res.failed, i)
			noAnswer++
		}
	}
	if firstErr == nil && cerr != nil {
		firstErr = fmt.Errorf("%s: %w", e.Name(), cerr)
	}
	if firstErr == nil && noAnswer > 0 {
		firstErr = fmt.Errorf("%s: no response for %d document(s)", e.Name(), noAnswer)
	}
	return res, firstErr
}

// Close releases idle connections.
func (e *ESOutput) Close() error {
	e.transport.CloseIdleConnections()
	return nil
}

// expBackoff returns base*2^attempt, at most max.
func expBackoff(base, max time.Duration, attempt int) time.Duration {
	d := base
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}
