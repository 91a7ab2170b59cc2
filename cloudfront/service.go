// Package cloudfront is the CloudFront control API (REST-XML, API version
// 2020-05-31) that aws-cli and the AWS SDKs speak: distributions, origin
// access controls and identities, tags and invalidations. It owns the stored
// copy of every distribution (cloudfront.db under Config.DataDir) and pushes
// each change to the edge at once, so every distribution is Deployed as soon
// as the call returns.
//
// Invalidations arrive three ways and are recorded alike: the
// CreateInvalidation API, RunAutoInvalidate (an outbox consumer that drops
// cached copies of objects overwritten or deleted behind a distribution) and
// InvalidateBuiltin (the body of the built-in function
// sluice-cdn-invalidate). The number of paths invalidated per distribution
// per calendar month is kept, as the figure CloudFront bills by.
//
// Concurrency: a Service is safe for concurrent use. One mutex guards the
// in-memory view; every change is written to bbolt under it before the view
// changes. Edge.Invalidate runs outside the mutex.
package cloudfront

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/sluicehq/sluice"
)

// Edge is the caching edge the API controls. *edge.Edge implements it.
type Edge interface {
	PutDistribution(sluice.Distribution) error
	RemoveDistribution(id string)
	// Invalidate drops the cached copies of paths (a trailing '*' is a
	// prefix) and returns once that is durable.
	Invalidate(ctx context.Context, distributionID string, paths []string) (int, error)
}

// Functions checks that a Lambda@Edge association names a published
// function version. Optional: nil skips the check.
type Functions interface {
	CheckFunctionVersion(ctx context.Context, arn string) error
}

// Config configures the service.
type Config struct {
	// DataDir holds cloudfront.db.
	DataDir string
	// Region names the region used in Lambda ARNs of built-ins; the API
	// itself is global, as CloudFront's is.
	Region string
	// NoSync skips fsync on cloudfront.db commits (sluice serve --fsync=false).
	NoSync bool
	// AutoWindow bounds how long automatic invalidation gathers a burst of
	// events into one invalidation; AutoQuiet ends the gathering earlier
	// when no event arrived for that long (a lone overwrite waits only
	// AutoQuiet).
	AutoWindow time.Duration
	AutoQuiet  time.Duration
	// AutoMaxPaths ends a gathering window early once this many events
	// were gathered.
	AutoMaxPaths int
	// CollapseThreshold: when more than this many paths of one automatic
	// invalidation share a directory, they become one "dir/*" path.
	// 0 disables collapsing.
	CollapseThreshold int
	// RetryMax bounds the backoff between attempts when the edge fails.
	RetryMax time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		DataDir:           "sluice-data",
		Region:            sluice.DefaultRegion,
		AutoWindow:        100 * time.Millisecond,
		AutoQuiet:         10 * time.Millisecond,
		AutoMaxPaths:      1000,
		CollapseThreshold: 100,
		RetryMax:          5 * time.Second,
	}
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	switch {
	case c.DataDir == "":
		return errors.New("cloudfront: DataDir must be set")
	case c.AutoWindow <= 0 || c.AutoWindow > 10*time.Second:
		return fmt.Errorf("cloudfront: AutoWindow %v must be in (0, 10s]", c.AutoWindow)
	case c.AutoQuiet <= 0 || c.AutoQuiet > c.AutoWindow:
		return fmt.Errorf("cloudfront: AutoQuiet %v must be in (0, AutoWindow]", c.AutoQuiet)
	case c.AutoMaxPaths < 1 || c.AutoMaxPaths > maxInProgressFiles:
		return fmt.Errorf("cloudfront: AutoMaxPaths %d must be in [1, %d]", c.AutoMaxPaths, maxInProgressFiles)
	case c.CollapseThreshold < 0:
		return fmt.Errorf("cloudfront: CollapseThreshold %d must not be negative", c.CollapseThreshold)
	case c.RetryMax <= 0:
		return fmt.Errorf("cloudfront: RetryMax %v must be positive", c.RetryMax)
	}
	return nil
}

// distRecord is a distribution as stored.
type distRecord struct {
	Dist sluice.Distribution `json:"dist"`
	// Config is the DistributionConfig document as the client sent it.
	Config  *node     `json:"config"`
	Created time.Time `json:"created"`
	Seq     uint64    `json:"seq"`
}

// Service is the CloudFront control API.
type Service struct {
	cfg  Config
	edge Edge
	fns  Functions
	log  *slog.Logger
	db   *bolt.DB

	mu       sync.Mutex
	dists    map[string]*distRecord
	aliases  map[string]string // lower-case alias -> distribution id
	oacs     map[string]*oacRecord
	oais     map[string]*oaiRecord
	progress map[string]*inProgress // distribution id -> invalidations running

	paths *prometheus.CounterVec

	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup
}

// New opens cloudfront.db, pushes every stored distribution to edge (in
// creation order) and finishes invalidations a crash interrupted.
func New(cfg Config, edge Edge, fns Functions, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if edge == nil {
		return nil, errors.New("cloudfront: an Edge is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("cloudfront: create data dir: %w", err)
	}
	db, err := bolt.Open(filepath.Join(cfg.DataDir, "cloudfront.db"), 0o600,
		&bolt.Options{Timeout: 5 * time.Second, NoSync: cfg.NoSync})
	if err != nil {
		return nil, fmt.Errorf("cloudfront: open cloudfront.db: %w", err)
	}
	s := &Service{
		cfg: cfg, edge: edge, fns: fns, log: log, db: db,
		dists:    map[string]*distRecord{},
		aliases:  map[string]string{},
		oacs:     map[string]*oacRecord{},
		oais:     map[string]*oaiRecord{},
		progress: map[string]*inProgress{},
		paths: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_cdn_invalidation_paths_total",
			Help: "Invalidation paths submitted, by distribution (a wildcard path counts as one, as CloudFront bills).",
		}, []string{"distribution"}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if reg != nil {
		if err := reg.Register(s.paths); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				db.Close()
				return nil, fmt.Errorf("cloudfront: register metrics: %w", err)
			}
			s.paths = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	pending, err := s.load()
	if err != nil {
		db.Close()
		return nil, err
	}
	for _, rec := range s.sortedDists() {
		if err := edge.PutDistribution(rec.Dist); err != nil {
			log.Error("cloudfront: push stored distribution to the edge", "distribution", rec.Dist.ID, "err", err)
		}
	}
	for _, inv := range pending {
		s.reserve(inv.DistributionID, inv.Paths)
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.finishWithRetry(s.ctx, inv)
		}()
	}
	return s, nil
}

// Close stops background retries and closes cloudfront.db.
func (s *Service) Close() error {
	s.cancel()
	s.bg.Wait()
	return s.db.Close()
}

// sortedDists returns the distributions in creation order. Callers hold mu
// or run before the Service is shared.
func (s *Service) sortedDists() []*distRecord {
	out := make([]*distRecord, 0, len(s.dists))
	for _, d := range s.dists {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *distRecord) int { return cmpUint(a.Seq, b.Seq) })
	return out
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Distributions returns a copy of every distribution, in creation order.
func (s *Service) Distributions() []sluice.Distribution {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sluice.Distribution
	for _, d := range s.sortedDists() {
		out = append(out, d.Dist)
	}
	return out
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newID returns prefix and 13 random upper-case letters and digits, the
// shape of CloudFront's ids.
func newID(prefix string) string {
	out := make([]byte, 0, len(prefix)+13)
	out = append(out, prefix...)
	var b [32]byte
	for len(out) < len(prefix)+13 {
		rand.Read(b[:])
		for _, c := range b {
			// Bytes from 252 up would favour the first symbols.
			if c < 252 && len(out) < len(prefix)+13 {
				out = append(out, idAlphabet[int(c)%len(idAlphabet)])
			}
		}
	}
	return string(out)
}

// newETag returns a fresh version tag.
func newETag() string { return newID("E") }

func distributionARN(id string) string {
	return "arn:aws:cloudfront::" + sluice.AccountID + ":distribution/" + id
}

func domainOf(id string) string { return strings.ToLower(id) + ".localhost" }

// autoInvalidate reads the DistributionAutoInvalidateTag.
func autoInvalidate(tags []sluice.Tag) bool {
	for _, t := range tags {
		if t.Key == sluice.DistributionAutoInvalidateTag {
			return !strings.EqualFold(strings.TrimSpace(t.Value), "false")
		}
	}
	return true
}
