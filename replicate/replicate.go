// Package replicate copies objects to other buckets and regions: the
// built-in function behind a bucket's TargetBucket tag and behind the S3
// replication configuration (Put/GetBucketReplication).
//
// A Replicator is the consumer "replicate" of the store's outbox. For every
// ObjectCreated or ObjectTagging event it streams a snapshot of the version
// the event wrote (the current object in a bucket without versioning) —
// bytes, system metadata, user metadata and tags — to each target, and for
// every ObjectRemoved event it deletes the target copy, as the well-known
// TargetBucket Lambda recipe does: a delete marker is mirrored as a delete
// without a version id (a marker in a versioned target), and a version
// deleted for good is not mirrored, as S3 replication never mirrors it
// (copy.go, mirrored). A target is a bucket of this Sluice or a bucket in a
// region served by another endpoint (Config.RegionEndpoints).
//
// Guarantees. An event is acknowledged only after every target copy is
// committed or dead-lettered, so a restart re-delivers (at least once).
// The replicator's records (state.go) live in the store when it can keep
// them (fsstore's UpdateState, in meta.db), else in replicate.db under
// Config.Dir; "replicate.db" below means either. They hold per (target,
// key) the sequencer and source ETag last applied: a replayed or older event is skipped, so a copy
// is never made twice and a newer write is never overwritten by an older
// one; an event whose source was overwritten since is skipped too, since the
// newer event follows it. A target that keeps failing is retried with
// backoff up to Config.MaxAttempts, then dead-lettered in replicate.db and
// the source object's replication status becomes FAILED. Each failed
// attempt is recorded in replicate.db before the wait for the next, so a
// restart resumes the budget and its backoff instead of starting afresh;
// the budget's record is cleared in the transaction that records the
// copy or its dead letter, and a dead letter already recorded is never
// retried or recorded again when its event is redelivered.
//
// Metrics (Config.Registerer): sluice_replicate_copies_total{result,target}
// with result copied, skipped (the target already held the write),
// superseded (a newer write exists), deleted or failed (dead-lettered) and
// target local or remote; sluice_replicate_retries_total{target};
// sluice_replicate_bytes_total{target}; sluice_replicate_copy_seconds{target},
// the source write's commit to the target write's; sluice_replicate_events_total;
// sluice_replicate_backlog, the events read and not yet done.
//
// Concurrency: Serve runs a pipeline (pipeline.go): one reader keeps up to
// Config.Window events in flight, Config.Workers workers each apply the
// events of the keys that hash to them in outbox order, and the cursor is
// acknowledged up to the highest seq below which every event is done.
// Copies to remote endpoints are bounded by Config.RemoteWorkers. A copy's
// state (applied record, replication status, dead letters) is written in one
// transaction after the copy, group-committed with the other workers'; in
// the store, that transaction and a local copy's own commit join the group
// commits of the writes they follow (fsstore's JoinCommits), so copying
// every write adds no fsync of its own. A local copy's or delete's applied
// record is checked and written in the write's own transaction instead
// (fsstore's WithGuard), and the TargetBucket copies of a bucket without
// rules are made in the source's transaction by Inline (inline.go), which
// the store calls from its writes and so must not block.
// Status and HandleS3Event are safe for concurrent use.
package replicate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
)

// Consumer is the replicator's cursor name in the store's outbox.
const Consumer = "replicate"

// TagName is the bucket tag naming the targets of its objects.
const TagName = "TargetBucket"

// Replication statuses as S3 reports them in x-amz-replication-status.
const (
	StatusPending   = "PENDING"
	StatusCompleted = "COMPLETED"
	StatusFailed    = "FAILED"
	StatusReplica   = "REPLICA"
)

// Config configures a Replicator.
type Config struct {
	// Dir holds replicate.db.
	Dir string
	// RegionEndpoints maps a region served elsewhere to its S3 endpoint URL;
	// user info in the URL (http://AK:SK@host:port) gives its credentials.
	RegionEndpoints map[string]string
	// AccessKey and SecretKey sign requests to endpoints without user info.
	AccessKey string
	SecretKey string
	// Workers is how many events are applied at once. Local copies are
	// cheap to run in parallel: the store group-commits concurrent PUTs.
	Workers int
	// RemoteWorkers bounds the requests in flight to remote endpoints.
	RemoteWorkers int
	// BatchSize is the most events read from the outbox at a time.
	BatchSize int
	// Window bounds the events read but not yet done; a slow copy holds
	// back acknowledgement, never reading, until the window is full.
	Window int
	// NoSync skips fsync on replicate.db commits (sluice serve --fsync=false),
	// when the records live there rather than in the store:
	// a process crash loses nothing, an OS crash may lose the newest
	// records, which at-least-once redelivery then repeats idempotently.
	NoSync bool
	// MaxAttempts is the retry budget of one copy to one target.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait between attempts.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// MultipartThreshold is the size from which a copy to a remote endpoint
	// is a multipart upload of PartSize parts.
	MultipartThreshold int64
	PartSize           int64
	// RequestTimeout bounds one request to a remote endpoint, body excluded.
	RequestTimeout time.Duration
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
}

// DefaultConfig returns the settings Sluice runs with unless told otherwise.
func DefaultConfig() Config {
	return Config{
		AccessKey:          sluice.DefaultAccessKey,
		SecretKey:          sluice.DefaultSecretKey,
		Workers:            16,
		RemoteWorkers:      4,
		BatchSize:          256,
		Window:             1024,
		MaxAttempts:        8,
		MinBackoff:         100 * time.Millisecond,
		MaxBackoff:         10 * time.Second,
		MultipartThreshold: 64 << 20,
		PartSize:           16 << 20,
		RequestTimeout:     30 * time.Second,
	}
}

// Validate reports the first invalid setting, naming its key.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("replicate: dir must be set")
	case c.Workers < 1:
		return fmt.Errorf("replicate: workers %d must be at least 1", c.Workers)
	case c.RemoteWorkers < 1:
		return fmt.Errorf("replicate: remote_workers %d must be at least 1", c.RemoteWorkers)
	case c.BatchSize < 1:
		return fmt.Errorf("replicate: batch_size %d must be at least 1", c.BatchSize)
	case c.Window < c.BatchSize:
		return fmt.Errorf("replicate: window %d must be at least batch_size %d", c.Window, c.BatchSize)
	case c.MaxAttempts < 1:
		return fmt.Errorf("replicate: max_attempts %d must be at least 1", c.MaxAttempts)
	case c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff:
		return fmt.Errorf("replicate: backoff %v..%v must be positive and ordered", c.MinBackoff, c.MaxBackoff)
	case c.PartSize < 5<<20:
		return fmt.Errorf("replicate: part_size %d must be at least 5 MiB", c.PartSize)
	case c.MultipartThreshold < c.PartSize:
		return fmt.Errorf("replicate: multipart_threshold %d must be at least part_size", c.MultipartThreshold)
	case c.AccessKey == "" || c.SecretKey == "":
		return errors.New("replicate: access_key and secret_key must be set")
	}
	for region, u := range c.RegionEndpoints {
		if _, err := parseEndpoint(u); err != nil {
			return fmt.Errorf("replicate: region_endpoints[%s]: %w", region, err)
		}
	}
	return nil
}

// ParseRegionEndpoints parses repeated --region-endpoint REGION=URL flags.
func ParseRegionEndpoints(specs []string) (map[string]string, error) {
	out := make(map[string]string, len(specs))
	for _, s := range specs {
		region, u, ok := strings.Cut(s, "=")
		region = strings.TrimSpace(region)
		if !ok || region == "" || !validRegion(region) {
			return nil, fmt.Errorf("region endpoint %q: want REGION=URL, e.g. eu-west-1=http://127.0.0.1:4600", s)
		}
		if _, dup := out[region]; dup {
			return nil, fmt.Errorf("region endpoint %q: region %s given twice", s, region)
		}
		if _, err := parseEndpoint(u); err != nil {
			return nil, fmt.Errorf("region endpoint %q: %w", s, err)
		}
		out[region] = u
	}
	return out, nil
}

func validRegion(r string) bool {
	if len(r) < 2 || len(r) > 32 {
		return false
	}
	for _, c := range r {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return r[0] != '-' && r[len(r)-1] != '-'
}

// endpoint is a parsed region endpoint URL.
type endpoint struct {
	base      string
	accessKey string
	secretKey string
}

func parseEndpoint(raw string) (endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return endpoint{}, fmt.Errorf("parse URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return endpoint{}, fmt.Errorf("URL %q must be http(s)://host[:port]", raw)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return endpoint{}, fmt.Errorf("URL %q must not have a path or query", raw)
	}
	var e endpoint
	if u.User != nil {
		e.accessKey = u.User.Username()
		e.secretKey, _ = u.User.Password()
		if e.accessKey == "" || e.secretKey == "" {
			return endpoint{}, fmt.Errorf("URL %q: user info must be ACCESS_KEY:SECRET_KEY", u.Redacted())
		}
	}
	e.base = u.Scheme + "://" + u.Host
	return e, nil
}

// Target is one destination of a copy.
type Target struct {
	Bucket string
	// Region is "" when the tag or rule named none.
	Region string
}

func (t Target) String() string {
	if t.Region == "" {
		return t.Bucket
	}
	return t.Bucket + "@" + t.Region
}

// ParseTargetBucketTag parses a TargetBucket tag value: targets separated by
// white space, each a bucket name optionally followed by @region. Duplicates
// are dropped; an invalid entry is an error naming it.
func ParseTargetBucketTag(v string) ([]Target, error) {
	var out []Target
	seen := map[Target]bool{}
	for _, f := range strings.Fields(v) {
		name, region, hasRegion := strings.Cut(f, "@")
		if !validBucketName(name) {
			return nil, fmt.Errorf("target %q: %q is not a bucket name", f, name)
		}
		if hasRegion && !validRegion(region) {
			return nil, fmt.Errorf("target %q: %q is not a region name", f, region)
		}
		t := Target{Bucket: name, Region: region}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// validBucketName applies S3's bucket naming rules loosely enough to accept
// every bucket Sluice can create.
func validBucketName(n string) bool {
	if len(n) < 3 || len(n) > 63 {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return n[0] != '-' && n[0] != '.' && n[len(n)-1] != '-' && n[len(n)-1] != '.'
}

// Replicator is the copy consumer. Build it with New, run it with Serve.
type Replicator struct {
	cfg    Config
	store  sluice.Store
	events sluice.EventLog
	log    *slog.Logger
	state  stateDB
	remote map[string]*s3.Client
	// remoteSlots bounds requests to remote endpoints.
	remoteSlots chan struct{}
	commits     groupCommit
	m           metrics
	// deadMax is the highest seq with a dead letter.
	deadMax atomic.Uint64

	mu sync.Mutex
	// hasRepl caches whether a bucket has targets at all, for Status.
	hasRepl map[string]cachedBool
	// parsed caches each bucket's settings by the documents they came from.
	parsed map[string]parsedSettings
	// retrying holds the events with retry budgets in replicate.db.
	retrying map[uint64]bool
}

type cachedBool struct {
	v  bool
	at time.Time
}

// New opens the replicator's records (in the store when it can keep them,
// else in replicate.db under cfg.Dir) and builds the endpoint clients.
func New(cfg Config, store sluice.Store, events sluice.EventLog, log *slog.Logger) (*Replicator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil || events == nil {
		return nil, errors.New("replicate: nil store or event log")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	state, err := openState(store, cfg.Dir, cfg.NoSync)
	if err != nil {
		return nil, fmt.Errorf("replicate: %w", err)
	}
	r := &Replicator{cfg: cfg, store: store, events: events, log: log, state: state,
		remote: map[string]*s3.Client{}, remoteSlots: make(chan struct{}, cfg.RemoteWorkers),
		hasRepl: map[string]cachedBool{}, parsed: map[string]parsedSettings{}, retrying: map[uint64]bool{}}
	if err := r.loadRetryState(); err != nil {
		state.close()
		return nil, fmt.Errorf("replicate: read records: %w", err)
	}
	r.m = newMetrics(cfg.Registerer)
	for region, raw := range cfg.RegionEndpoints {
		ep, _ := parseEndpoint(raw)
		r.remote[region] = r.newClient(region, ep)
	}
	return r, nil
}

// Close closes replicate.db, when the records live there. Serve must have
// returned.
func (r *Replicator) Close() error { return r.state.close() }

// Serve consumes the outbox until ctx ends. Transient read errors are
// retried; it returns nil when ctx is done.
func (r *Replicator) Serve(ctx context.Context) error {
	cursor, err := r.events.Cursor(ctx, Consumer)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("replicate: read cursor: %w", err)
	}
	r.run(ctx, r.events, cursor)
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
