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
	"github.com/sluicehq/sluice/awsevent"
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
		MaxAttempts:    5,
		MinBackoff:     4 * time.Second,
		MaxBackoff:     30 * time.Second,
		WebhookTimeout: 10 * time.Second,
		Workers:        16,
		BatchSize:      256,
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

	mu       sync.Mutex
	rules    map[string]cachedRules
	inflight map[string]bool
	wake     chan struct{}
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
	n := &Notifier{
		cfg: cfg, store: store, events: events, invoker: invoker, log: log, db: db,
		client:   &http.Client{Timeout: cfg.WebhookTimeout},
		valid:    Validator{Functions: fc},
		m:        newMetrics(cfg.Registerer),
		rules:    map[string]cachedRules{},
		inflight: map[string]bool{},
		wake:     make(chan struct{}, 1),
	}
	return n, nil
}

// ValidateNotification implements s3api.NotificationValidator.
func (n *Notifier) ValidateNotification(ctx context.Context, bucket string, doc []byte) ([]byte, error) {
	return n.valid.ValidateNotification(ctx, bucket, doc)
}

// Close closes the delivery database. Serve must have returned.
func (n *Notifier) Close() error { return n.db.Close() }

// Serve reads the outbox and delivers until ctx ends; it returns nil then.
func (n *Notifier) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.deliverLoop(ctx)
	}()
	err := n.consume(ctx)
	cancel()
	<-done
	return err
}

func (n *Notifier) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// consume moves outbox events into pending deliveries.
func (n *Notifier) consume(ctx context.Context) error {
	cursor, err := n.events.Cursor(ctx, Consumer)
	if err != nil {
		return fmt.Errorf("notify: read cursor: %w", err)
	}
	for ctx.Err() == nil {
		evs, err := n.events.ReadEvents(ctx, cursor, n.cfg.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			n.log.Error("notify: read outbox", "err", err)
			if !sleep(ctx, time.Second) {
				return nil
			}
			continue
		}
		if len(evs) == 0 {
			continue
		}
		if err := n.enqueue(ctx, evs); err != nil {
			n.log.Error("notify: queue deliveries", "err", err)
			if !sleep(ctx, time.Second) {
				return nil
			}
			continue
		}
		last := evs[len(evs)-1].Seq
		if err := n.events.AckEvents(ctx, Consumer, last); err != nil {
			n.log.Error("notify: ack outbox", "seq", last, "err", err)
		}
		cursor = last
		n.poke()
	}
	return nil
}

// enqueue durably records a delivery for every rule each event matches.
func (n *Notifier) enqueue(ctx context.Context, evs []sluice.Event) error {
	var ds []*Delivery
	for _, e := range evs {
		n.m.events.Inc()
		rules, err := n.bucketRules(ctx, e.Bucket)
		if err != nil {
			return err
		}
		for i, r := range rules {
			if !r.Matches(e.Name, e.Key) {
				continue
			}
			payload, err := json.Marshal(awsevent.NewS3Event(e, awsevent.S3Rule{ConfigurationID: r.ID}))
			if err != nil {
				return fmt.Errorf("encode record: %w", err)
			}
			k := deliveryKey(e.Seq, i)
			ds = append(ds, &Delivery{
				ID: deliveryID(k), Seq: e.Seq, RuleID: r.ID, Kind: r.Kind, Target: r.Target, Secret: r.Secret,
				Bucket: e.Bucket, Key: e.Key, EventName: e.Name, EventTime: e.Time, Payload: payload,
			})
		}
	}
	if len(ds) == 0 {
		return nil
	}
	return n.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPending)
		for _, d := range ds {
			k, _ := hex.DecodeString(d.ID)
			v, err := json.Marshal(d)
			if err != nil {
				return err
			}
			if err := b.Put(k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// bucketRules returns the rules of bucket's current configuration, parsed
// again only when the stored document changed.
func (n *Notifier) bucketRules(ctx context.Context, bucket string) ([]Rule, error) {
	doc, err := n.store.BucketConfig(ctx, bucket, sluice.ConfigNotification)
	if sluice.IsCode(err, sluice.ErrNoSuchBucket) {
		doc, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read notification configuration of %q: %w", bucket, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.rules[bucket]; ok && bytes.Equal(c.doc, doc) {
		return c.rules, nil
	}
	var rules []Rule
	if doc != nil {
		cfg, err := Parse(doc)
		if err != nil {
			// Only validated documents are stored; a broken one is logged
			// and matches nothing rather than stalling every bucket.
			n.log.Error("notify: stored configuration does not parse", "bucket", bucket, "err", err)
		} else {
			rules = cfg.Rules()
		}
	}
	if doc == nil {
		delete(n.rules, bucket)
	} else {
		n.rules[bucket] = cachedRules{doc: doc, rules: rules}
	}
	return rules, nil
}

// deliverLoop starts due deliveries and sleeps until the next is due.
func (n *Notifier) deliverLoop(ctx context.Context) {
	sem := make(chan struct{}, n.cfg.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		due, next, err := n.due(time.Now(), n.cfg.Workers*4)
		if err != nil {
			n.log.Error("notify: scan pending deliveries", "err", err)
			next = time.Now().Add(time.Second)
		}
		for _, d := range due {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func(d *Delivery) {
				defer wg.Done()
				defer func() { <-sem }()
				n.attempt(ctx, d)
				n.poke()
			}(d)
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		if len(due) > 0 {
			// More may be due than one scan took; look again at once.
			wait = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-n.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// due returns up to limit pending deliveries whose time has come and that
// are not in flight, marking them in flight, and the earliest time of the
// rest.
func (n *Notifier) due(now time.Time, limit int) ([]*Delivery, time.Time, error) {
	var out []*Delivery
	var next time.Time
	n.mu.Lock()
	defer n.mu.Unlock()
	err := n.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPending).ForEach(func(k, v []byte) error {
			id := deliveryID(k)
			if n.inflight[id] {
				return nil
			}
			var d Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				n.log.Error("notify: undecodable delivery", "id", id, "err", err)
				return nil
			}
			if d.Next.After(now) || len(out) >= limit {
				if next.IsZero() || d.Next.Before(next) {
					next = d.Next
				}
				return nil
			}
			n.inflight[id] = true
			out = append(out, &d)
			return nil
		})
	})
	return out, next, err
}

// attempt makes one delivery attempt and records its outcome.
func (n *Notifier) attempt(ctx context.Context, d *Delivery) {
	defer func() {
		n.mu.Lock()
		delete(n.inflight, d.ID)
		n.mu.Unlock()
	}()
	err := n.send(ctx, d)
	if ctx.Err() != nil {
		// Shutting down: the delivery stays pending as it was.
		return
	}
	k, _ := hex.DecodeString(d.ID)
	if err == nil {
		n.m.delivered.WithLabelValues(d.Kind).Inc()
		n.m.latency.WithLabelValues(d.Kind).Observe(time.Since(d.EventTime).Seconds())
		if err := n.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketPending).Delete(k) }); err != nil {
			n.log.Error("notify: forget delivered", "id", d.ID, "err", err)
		}
		return
	}
	d.Attempts++
	d.LastError = err.Error()
	dead := d.Attempts >= n.cfg.MaxAttempts
	if dead {
		n.m.dead.WithLabelValues(d.Kind).Inc()
		n.log.Warn("notify: delivery dead-lettered", "id", d.ID, "target", d.Target, "attempts", d.Attempts, "err", err)
	} else {
		n.m.retried.WithLabelValues(d.Kind).Inc()
		d.Next = time.Now().Add(n.backoff(d.Attempts))
		n.log.Debug("notify: delivery failed, will retry", "id", d.ID, "target", d.Target, "attempts", d.Attempts, "next", d.Next, "err", err)
	}
	v, jerr := json.Marshal(d)
	if jerr != nil {
		n.log.Error("notify: encode delivery", "id", d.ID, "err", jerr)
		return
	}
	err = n.db.Update(func(tx *bolt.Tx) error {
		if dead {
			if err := tx.Bucket(bucketPending).Delete(k); err != nil {
				return err
			}
			return tx.Bucket(bucketDead).Put(k, v)
		}
		return tx.Bucket(bucketPending).Put(k, v)
	})
	if err != nil {
		n.log.Error("notify: record delivery attempt", "id", d.ID, "err", err)
	}
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Target, bytes.NewReader(d.Payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sluice-notify")
	req.Header.Set("X-Sluice-Delivery", d.ID)
	if d.Secret != "" {
		req.Header.Set(SignatureHeader, Sign(d.Secret, d.Payload))
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// Sign returns the X-Sluice-Signature value for body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
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
	moved := 0
	err := n.db.Update(func(tx *bolt.Tx) error {
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
		now := time.Now()
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
			moved++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n.poke()
	return moved, nil
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
	if reg != nil {
		reg.MustRegister(m.events, m.delivered, m.retried, m.dead, m.latency)
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
