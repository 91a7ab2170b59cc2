package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/sluicehq/sluice"
)

// Consumer is the name the Notifier reads the store's outbox under.
const Consumer = "notify"

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>" on webhook
// deliveries whose rule has a Secret.
const SignatureHeader = "X-Sluice-Signature"

// Config configures a Notifier.
type Config struct {
	// Dir holds notify.db, the pending deliveries and dead letters.
	Dir string
	// MaxAttempts is the retry budget per delivery, first attempt included.
	MaxAttempts int
	// MinBackoff is the wait after the first failed attempt; each further
	// failure doubles it, up to MaxBackoff, with jitter.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// WebhookTimeout bounds one webhook POST.
	WebhookTimeout time.Duration
	// Workers bounds deliveries in flight at once.
	Workers int
	// BatchSize is how many outbox events are read at a time.
	BatchSize int
	// ReadInterval is the least time between two outbox reads while
	// events keep coming; the first event after a quiet spell is read at
	// once. Under a steady stream of writes each read then takes the
	// events of a few group commits, not one, so their records go out in
	// deeper pipelines and fewer writes, for at most ReadInterval of
	// added delivery latency. 0 reads after every commit.
	ReadInterval time.Duration
	// PipelineMaxWait is how fast, per request, a plain-http webhook
	// receiver must have answered for one-record POSTs waiting together
	// to be pipelined to it, until it takes slowFactor times as long;
	// 0 never pipelines.
	PipelineMaxWait time.Duration
	// NoSync skips fsync of notify.db (throwaway stores, benchmarks).
	NoSync bool
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Functions checks Lambda destinations at configuration time. Nil uses
	// the invoker when it implements FunctionChecker.
	Functions FunctionChecker
}

// DefaultConfig returns the settings Sluice runs with: five attempts over
// about a minute.
func DefaultConfig() Config {
	return Config{
		MaxAttempts:     5,
		MinBackoff:      4 * time.Second,
		MaxBackoff:      30 * time.Second,
		WebhookTimeout:  10 * time.Second,
		Workers:         16,
		BatchSize:       256,
		ReadInterval:    3 * time.Millisecond,
		PipelineMaxWait: time.Millisecond,
	}
}

// Validate reports the first invalid setting, naming its key.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("notify: dir is required")
	case c.MaxAttempts < 1:
		return fmt.Errorf("notify: max_attempts %d must be at least 1", c.MaxAttempts)
	case c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff:
		return fmt.Errorf("notify: backoff %v..%v must be positive and ordered", c.MinBackoff, c.MaxBackoff)
	case c.WebhookTimeout <= 0:
		return fmt.Errorf("notify: webhook_timeout %v must be positive", c.WebhookTimeout)
	case c.Workers < 1:
		return fmt.Errorf("notify: workers %d must be at least 1", c.Workers)
	case c.BatchSize < 1:
		return fmt.Errorf("notify: batch_size %d must be at least 1", c.BatchSize)
	case c.ReadInterval < 0:
		return fmt.Errorf("notify: read_interval %v must not be negative", c.ReadInterval)
	case c.PipelineMaxWait < 0:
		return fmt.Errorf("notify: pipeline_max_wait %v must not be negative", c.PipelineMaxWait)
	}
	return nil
}

var (
	bucketPending = []byte("pending")
	bucketDead    = []byte("dead")
)

// Delivery is one record on its way to one target.
type Delivery struct {
	ID        string          `json:"Id"`
	Seq       uint64          `json:"Seq"`
	RuleID    string          `json:"RuleId"`
	Kind      string          `json:"Kind"`
	Target    string          `json:"Target"`
	Secret    string          `json:"Secret,omitempty"`
	Bucket    string          `json:"Bucket"`
	Key       string          `json:"Key"`
	EventName string          `json:"EventName"`
	EventTime time.Time       `json:"EventTime"`
	Payload   json.RawMessage `json:"Payload"`
	Attempts  int             `json:"Attempts"`
	Next      time.Time       `json:"NextAttempt"`
	LastError string          `json:"LastError,omitempty"`
}

// deliveryKey orders deliveries by outbox sequence, then rule position, so
// that re-reading an event after a crash rewrites the same entries.
func deliveryKey(seq uint64, rule int) []byte {
	k := binary.BigEndian.AppendUint64(nil, seq)
	return binary.BigEndian.AppendUint16(k, uint16(rule))
}

func deliveryID(k []byte) string { return hex.EncodeToString(k) }

// Notifier delivers the outbox's events to the targets of matching rules.
type Notifier struct {
	cfg     Config
	store   sluice.Store
	events  sluice.EventLog
	invoker sluice.Invoker
	log     *slog.Logger
	db      *bolt.DB
	client  *http.Client
	valid   Validator
	m       metrics

	transport *http.Transport
	// hooks carries POSTs to plain-http webhooks; targets caches, by URL,
	// whether a webhook can use it (and how).
	hooks     *hookClient
	targetsMu sync.Mutex
	targets   map[string]hookTargetEntry
	// jobs feeds the Workers goroutines that make every delivery attempt,
	// first attempts and retries alike; it exists only while Serve runs.
	jobs chan func()
	// batches queues the first attempts of webhook rules with a BatchSize.
	batches batchQueues
	// ops carries notify.db writes to the one goroutine that batches them;
	// it exists only while Serve runs.
	ops chan dbOp
	win window

	mu    sync.Mutex
	rules map[string]cachedRules
	// pending holds every delivery recorded in the pending bucket, by key;
	// an entry is in queue unless its retry is in flight.
	pending map[string]*retryItem
	queue   retryQueue
	wake    chan struct{}
	ackWake chan struct{}
}

type cachedRules struct {
	doc   []byte
	rules []Rule
}

// New opens the delivery database in cfg.Dir. invoker may be nil when no
// Lambda rule will ever be delivered (Lambda deliveries then fail).
func New(cfg Config, store sluice.Store, events sluice.EventLog, invoker sluice.Invoker, log *slog.Logger) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil || events == nil {
		return nil, errors.New("notify: nil store or event log")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("notify: create %s: %w", cfg.Dir, err)
	}
	db, err := bolt.Open(filepath.Join(cfg.Dir, "notify.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second, NoSync: cfg.NoSync})
	if err != nil {
		return nil, fmt.Errorf("notify: open notify.db: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketPending, bucketDead} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("notify: init notify.db: %w", err)
	}
	fc := cfg.Functions
	if fc == nil {
		fc, _ = invoker.(FunctionChecker)
	}
	tr := newTransport(cfg)
	n := &Notifier{
		cfg: cfg, store: store, events: events, invoker: invoker, log: log, db: db,
		client: &http.Client{Timeout: cfg.WebhookTimeout, Transport: tr,
			// A redirect is not the receiver taking the records: following
			// one would turn the POST into a GET without them.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		hooks:     newHookClient(cfg.WebhookTimeout, cfg.Workers),
		transport: tr,
		valid:     Validator{Functions: fc},
		m:         newMetrics(cfg.Registerer),
		rules:     map[string]cachedRules{},
		pending:   map[string]*retryItem{},
		wake:      make(chan struct{}, 1),
		ackWake:   make(chan struct{}, 1),
	}
	if err := n.loadPending(); err != nil {
		db.Close()
		return nil, fmt.Errorf("notify: load pending deliveries: %w", err)
	}
	return n, nil
}

// ValidateNotification checks and normalizes a configuration, as
// Validator.ValidateNotification does.
func (n *Notifier) ValidateNotification(ctx context.Context, bucket string, doc []byte) ([]byte, error) {
	return n.valid.ValidateNotification(ctx, bucket, doc)
}

// UpdateNotification implements s3api.NotificationValidator.
func (n *Notifier) UpdateNotification(ctx context.Context, bucket string, doc, current []byte, skipDestinations bool) ([]byte, error) {
	return n.valid.UpdateNotification(ctx, bucket, doc, current, skipDestinations)
}

// RedactNotification implements s3api.NotificationValidator.
func (n *Notifier) RedactNotification(doc []byte) ([]byte, error) { return Redact(doc) }

// Close closes the delivery database and idle webhook connections. Serve
// must have returned.
func (n *Notifier) Close() error {
	n.transport.CloseIdleConnections()
	n.hooks.closeIdle()
	return n.db.Close()
}

// backoff is the wait after the attempts-th failure: MinBackoff doubled per
// failure, capped, with up to 20% jitter so that a burst does not retry in
// lockstep.
func (n *Notifier) backoff(attempts int) time.Duration {
	b := n.cfg.MinBackoff
	for i := 1; i < attempts && b < n.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, n.cfg.MaxBackoff)
	return b - time.Duration(rand.Int64N(int64(b)/5+1))
}

// send makes one attempt at d.
func (n *Notifier) send(ctx context.Context, d *Delivery) error {
	switch d.Kind {
	case "lambda":
		if n.invoker == nil {
			return errors.New("no function host")
		}
		_, err := n.invoker.InvokeAsync(ctx, &sluice.InvokeRequest{Function: d.Target, Payload: d.Payload})
		return err
	case "webhook":
		return n.post(ctx, d)
	}
	return fmt.Errorf("unknown target kind %q", d.Kind)
}

func (n *Notifier) post(ctx context.Context, d *Delivery) error {
	return n.postBody(ctx, d.Target, d.Secret, d.ID, d.Payload)
}

// postBody POSTs an event message to a webhook; ids are the deliveries it
// carries, comma-separated.
func (n *Notifier) postBody(ctx context.Context, url, secret, ids string, body []byte) error {
	if t, ok := n.hookTarget(url); ok {
		status, err := n.hooks.post(ctx, t, hookHeaders(secret, ids, body), body)
		if err != nil {
			return err
		}
		return statusErr(status)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = http.Header{
		"Content-Type":      {"application/json"},
		"User-Agent":        {"sluice-notify"},
		"X-Sluice-Delivery": {ids},
	}
	if secret != "" {
		req.Header[SignatureHeader] = []string{Sign(secret, body)}
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return statusErr(resp.StatusCode)
}

// hookHeaders returns the header lines hookClient sends with body.
func hookHeaders(secret, ids string, body []byte) []byte {
	return appendHookHeaders(make([]byte, 0, 160+len(ids)), secret, ids, body)
}

func appendHookHeaders(h []byte, secret, ids string, body []byte) []byte {
	h = append(h, "Content-Type: application/json\r\nUser-Agent: sluice-notify\r\nX-Sluice-Delivery: "...)
	h = append(h, ids...)
	h = append(h, "\r\n"...)
	if secret != "" {
		h = append(h, SignatureHeader+": "...)
		h = appendSignature(h, secret, body)
		h = append(h, "\r\n"...)
	}
	return h
}

// hookRequest returns the whole request hookClient sends to t for a
// delivery of body.
func hookRequest(t hookTarget, secret, ids string, body []byte) []byte {
	req := make([]byte, 0, len(t.head)+len(ids)+len(body)+256)
	req = append(req, t.head...)
	req = appendHookHeaders(req, secret, ids, body)
	return appendBody(req, body)
}

// statusErr is the outcome of a webhook's answer: anything but a 2xx is a
// failed attempt.
func statusErr(status int) error {
	if status/100 != 2 {
		return fmt.Errorf("webhook answered %d %s", status, http.StatusText(status))
	}
	return nil
}

// maxTargets bounds the cache of webhook targets.
const maxTargets = 1024

// hookTargetEntry is a cached hookTargetOf result, with what the
// receiver's answers showed about pipelining to it.
type hookTargetEntry struct {
	t  hookTarget
	ok bool
	// fast: the receiver answered within PipelineMaxWait per request,
	// and has not been slow since, so one-record deliveries waiting
	// together are pipelined.
	fast bool
	// serial: the receiver cut a pipeline short (closed the connection
	// or failed in its middle); it gets one request at a time from then
	// on.
	serial bool
}

// Pipelining one-record deliveries to a webhook: at most maxPipeline
// requests share a write, and only to a receiver that answered within
// Config.PipelineMaxWait per request. A receiver answers pipelined
// requests one after the other, so one that becomes slow (slowFactor
// times that, per request) gets its requests on parallel connections
// again. The gap between the two keeps a fast receiver pipelined while
// the machine is busy, which slows every answer somewhat, and is when
// pipelining saves the most.
const (
	maxPipeline = 16
	slowFactor  = 10
)

// hookTarget returns how hookClient reaches url, or false when the POST
// must go through net/http.
func (n *Notifier) hookTarget(url string) (hookTarget, bool) {
	e := n.targetEntry(url)
	return e.t, e.ok
}

// pipelineDepth returns how many one-record deliveries to url may share a
// write now.
func (n *Notifier) pipelineDepth(url string) int {
	if e := n.targetEntry(url); e.ok && e.fast && !e.serial {
		return maxPipeline
	}
	return 1
}

// notePace records how fast url answered the last requests, per request.
func (n *Notifier) notePace(url string, perRequest time.Duration) {
	n.targetsMu.Lock()
	defer n.targetsMu.Unlock()
	if e, ok := n.targets[url]; ok {
		switch {
		case perRequest <= n.cfg.PipelineMaxWait:
			e.fast = n.cfg.PipelineMaxWait > 0
		case perRequest > slowFactor*n.cfg.PipelineMaxWait:
			e.fast = false
		}
		n.targets[url] = e
	}
}

// noteSerial records that url cut a pipeline short: it gets one request
// at a time from then on.
func (n *Notifier) noteSerial(url string) {
	n.targetsMu.Lock()
	defer n.targetsMu.Unlock()
	if e, ok := n.targets[url]; ok {
		e.serial = true
		n.targets[url] = e
	}
}

func (n *Notifier) targetEntry(url string) hookTargetEntry {
	n.targetsMu.Lock()
	defer n.targetsMu.Unlock()
	if e, ok := n.targets[url]; ok {
		return e
	}
	if n.targets == nil || len(n.targets) >= maxTargets {
		n.targets = map[string]hookTargetEntry{}
	}
	t, ok := hookTargetOf(url)
	e := hookTargetEntry{t: t, ok: ok}
	n.targets[url] = e
	return e
}

// Sign returns the X-Sluice-Signature value for body under secret.
func Sign(secret string, body []byte) string {
	return string(appendSignature(nil, secret, body))
}

// signer is an HMAC keyed with a secret, kept for the next signature
// under the same secret: keying costs as much as hashing a small body.
type signer struct {
	secret string
	mac    hash.Hash
}

var signers = sync.Pool{New: func() any { return new(signer) }}

// appendSignature appends the X-Sluice-Signature value for body under
// secret to dst.
func appendSignature(dst []byte, secret string, body []byte) []byte {
	s := signers.Get().(*signer)
	if s.mac == nil || s.secret != secret {
		s.secret, s.mac = secret, hmac.New(sha256.New, []byte(secret))
	} else {
		s.mac.Reset()
	}
	s.mac.Write(body)
	var sum [sha256.Size]byte
	dst = append(dst, "sha256="...)
	dst = hex.AppendEncode(dst, s.mac.Sum(sum[:0]))
	signers.Put(s)
	return dst
}

// Pending lists deliveries not yet done, oldest event first.
func (n *Notifier) Pending(ctx context.Context) ([]Delivery, error) {
	return n.list(bucketPending)
}

// DeadLetters lists deliveries that ran out of attempts, oldest event
// first. Secrets are left out.
func (n *Notifier) DeadLetters(ctx context.Context) ([]Delivery, error) {
	return n.list(bucketDead)
}

func (n *Notifier) list(bucket []byte) ([]Delivery, error) {
	out := []Delivery{}
	err := n.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(_, v []byte) error {
			var d Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			d.Secret = ""
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// Redrive moves the dead letter id (every dead letter when id is "") back
// to pending with a fresh retry budget, and returns how many moved. An
// unknown id is a ResourceNotFound error.
func (n *Notifier) Redrive(ctx context.Context, id string) (int, error) {
	var moved []string
	now := time.Now()
	err := n.db.Update(func(tx *bolt.Tx) error {
		moved = moved[:0]
		dead, pending := tx.Bucket(bucketDead), tx.Bucket(bucketPending)
		var keys [][]byte
		if id != "" {
			k, err := hex.DecodeString(id)
			if err != nil || dead.Get(k) == nil {
				return sluice.Errorf(sluice.ErrResourceNotFound, "No dead letter with id %q.", id)
			}
			keys = append(keys, k)
		} else {
			if err := dead.ForEach(func(k, _ []byte) error {
				keys = append(keys, bytes.Clone(k))
				return nil
			}); err != nil {
				return err
			}
		}
		for _, k := range keys {
			var d Delivery
			if err := json.Unmarshal(dead.Get(k), &d); err != nil {
				return err
			}
			d.Attempts, d.Next, d.LastError = 0, now, ""
			v, err := json.Marshal(&d)
			if err != nil {
				return err
			}
			if err := pending.Put(k, v); err != nil {
				return err
			}
			if err := dead.Delete(k); err != nil {
				return err
			}
			moved = append(moved, string(k))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n.mu.Lock()
	for _, k := range moved {
		n.scheduleLocked(k, now)
	}
	n.mu.Unlock()
	n.poke()
	return len(moved), nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// metrics are the Notifier's Prometheus series.
type metrics struct {
	events    prometheus.Counter
	delivered *prometheus.CounterVec
	retried   *prometheus.CounterVec
	dead      *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	// kinds holds the series of the target kinds, looked up once.
	kinds map[string]kindMetrics
	// pipelinedPosts and alonePosts count the POSTs of one-record
	// webhook rules by how they went out; pipelines counts the writes
	// that carried two or more.
	pipelinedPosts, alonePosts, pipelines prometheus.Counter
}

// kindMetrics are one target kind's series of a successful delivery.
type kindMetrics struct {
	delivered prometheus.Counter
	latency   prometheus.Observer
}

// targetKinds are the kinds of delivery target.
var targetKinds = []string{"lambda", "webhook"}

func (m metrics) kind(kind string) kindMetrics {
	if k, ok := m.kinds[kind]; ok {
		return k
	}
	return kindMetrics{m.delivered.WithLabelValues(kind), m.latency.WithLabelValues(kind)}
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_notify_events_total",
			Help: "Outbox events the notifier has read."}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_notify_delivered_total",
			Help: "Event records delivered, by target kind."}, []string{"kind"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_notify_retries_total",
			Help: "Failed delivery attempts that will be retried, by target kind."}, []string{"kind"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_notify_dead_letters_total",
			Help: "Deliveries that ran out of attempts, by target kind."}, []string{"kind"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_notify_delivery_seconds",
			Help:    "Time from the event's commit to its successful delivery, by target kind.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}, []string{"kind"}),
	}
	m.kinds = map[string]kindMetrics{}
	for _, k := range targetKinds {
		m.kinds[k] = kindMetrics{m.delivered.WithLabelValues(k), m.latency.WithLabelValues(k)}
	}
	posts := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_notify_webhook_posts_total",
		Help: "First-attempt POSTs of one-record webhook rules to plain-http receivers, by how they were sent: pipelined with others on one connection write, or alone."}, []string{"sent"})
	m.pipelinedPosts, m.alonePosts = posts.WithLabelValues("pipelined"), posts.WithLabelValues("alone")
	m.pipelines = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_notify_webhook_pipelines_total",
		Help: "Connection writes that carried two or more pipelined webhook POSTs."})
	if reg != nil {
		reg.MustRegister(m.events, m.delivered, m.retried, m.dead, m.latency, posts, m.pipelines)
	}
	return m
}

// Handler serves the dead-letter endpoints for the CLI; mount it behind
// SigV4 authentication:
//
//	GET  /_sluice/events/dead-letters              {"DeadLetters": [...]}
//	POST /_sluice/events/dead-letters/redrive[?id=] {"Redriven": N}
func (n *Notifier) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_sluice/events/dead-letters", func(w http.ResponseWriter, r *http.Request) {
		ds, err := n.DeadLetters(r.Context())
		if err != nil {
			writeJSONError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"DeadLetters": ds})
	})
	mux.HandleFunc("POST /_sluice/events/dead-letters/redrive", func(w http.ResponseWriter, r *http.Request) {
		moved, err := n.Redrive(r.Context(), r.URL.Query().Get("id"))
		if err != nil {
			writeJSONError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"Redriven": moved})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeJSONError(w http.ResponseWriter, err error) {
	var e *sluice.Error
	if errors.As(err, &e) && e.Code == sluice.ErrResourceNotFound {
		writeJSON(w, http.StatusNotFound, map[string]string{"__type": string(e.Code), "message": e.Message})
		return
	}
	writeJSON(w, http.StatusInternalServerError, map[string]string{"__type": string(sluice.ErrServiceException), "message": "internal error"})
}
