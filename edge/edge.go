// Package edge is Sluice's CDN edge: it serves CloudFront-style
// distributions on the edge listener. It owns the table of distributions
// (chosen by Host), cache behaviours (path patterns, allowed methods, TTL
// rules, forwarded query strings and headers), cache keys, origin fetches
// (S3 origins read in-process from the store, custom origins over HTTP),
// compression, conditional and range requests, and the four Lambda@Edge hook
// points, whose functions run through sluice.Invoker or, for built-ins
// registered with RegisterNativeHook, in-process without JSON.
//
// Cached bytes live in a cdncache.Cache that the Edge creates and owns.
//
// The edge listener is served through a FastLane (fastlane.go): it answers
// plain hits of fresh cached 200s itself, without net/http, and hands every
// other connection to the http.Server that serves ServeHTTP.
//
// Concurrency: every method is safe for concurrent use. ServeHTTP reads the
// distribution table and the native hook table through atomic pointers to
// immutable snapshots, so requests never take a lock; PutDistribution,
// RemoveDistribution and RegisterNativeHook copy and swap under a mutex.
// Concurrent misses for one cache key are collapsed by cdncache.Fill.
package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/awsevent"
	"github.com/sluicehq/sluice/cdncache"
)

// Config configures an Edge.
type Config struct {
	// Region is the region of S3 origins whose domain names none
	// ("<bucket>.s3.amazonaws.com", "<bucket>.s3.localhost").
	Region string
	// Cache configures the cache the Edge creates.
	Cache cdncache.Config
	// HookTimeout bounds viewer-request and viewer-response functions
	// (Lambda@Edge: 5 s); OriginHookTimeout the origin-facing ones (30 s).
	HookTimeout       time.Duration
	OriginHookTimeout time.Duration
	// Objects are compressed when their size is within
	// [MinCompressBytes, MaxCompressBytes], CloudFront's 1,000..10,000,000.
	MinCompressBytes int64
	MaxCompressBytes int64
	// OriginTimeout bounds a custom origin's response headers (CloudFront's
	// origin response timeout, 30 s by default) unless the origin's own
	// OriginReadTimeout says otherwise.
	OriginTimeout time.Duration
	// ErrorCachingMinTTL is how long cacheable origin errors stay cached
	// when no CustomErrorResponse says otherwise (CloudFront: 10 s).
	ErrorCachingMinTTL time.Duration
}

// DefaultConfig returns CloudFront's limits and a default cache.
func DefaultConfig() Config {
	return Config{
		Region:             sluice.DefaultRegion,
		Cache:              cdncache.DefaultConfig(),
		HookTimeout:        5 * time.Second,
		OriginHookTimeout:  30 * time.Second,
		MinCompressBytes:   1000,
		MaxCompressBytes:   10_000_000,
		OriginTimeout:      30 * time.Second,
		ErrorCachingMinTTL: 10 * time.Second,
	}
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	switch {
	case c.Region == "":
		return errors.New("edge: Region: must not be empty")
	case c.HookTimeout <= 0:
		return errors.New("edge: HookTimeout: must be positive")
	case c.OriginHookTimeout <= 0:
		return errors.New("edge: OriginHookTimeout: must be positive")
	case c.OriginTimeout <= 0:
		return errors.New("edge: OriginTimeout: must be positive")
	case c.MinCompressBytes < 0 || c.MaxCompressBytes < c.MinCompressBytes:
		return fmt.Errorf("edge: MinCompressBytes/MaxCompressBytes: %d..%d is not a range", c.MinCompressBytes, c.MaxCompressBytes)
	case c.ErrorCachingMinTTL < 0:
		return errors.New("edge: ErrorCachingMinTTL: must not be negative")
	}
	return nil
}

// NativeHook is a built-in function run in-process at a hook point. cf is
// the event's cf object; body is the origin's body at origin-response (nil
// elsewhere). It returns the cf object to apply — cf.Request for request
// events, or cf.Response for a generated or modified response — and, for a
// response, its body (nil keeps the origin's). Native hooks skip JSON and
// base64 and are exempt from Lambda@Edge's body size limits, but their
// headers are validated like any function's.
type NativeHook func(ctx context.Context, cf *awsevent.CloudFrontCF, body []byte) (*awsevent.CloudFrontCF, []byte, error)

// Edge serves distributions. Create it with New.
type Edge struct {
	cfg    Config
	store  sluice.Store
	inv    sluice.Invoker
	log    *slog.Logger
	cache  *cdncache.Cache
	client *http.Client

	mu      sync.Mutex // serialises writers of table and natives
	table   atomic.Pointer[table]
	natives atomic.Pointer[map[string]NativeHook]

	m *metrics
}

// New returns an Edge reading S3 origins from store and running hook
// functions through inv (nil: only native hooks can run). Metrics are
// registered on reg when it is not nil.
func New(cfg Config, store sluice.Store, inv sluice.Invoker, log *slog.Logger, reg prometheus.Registerer) (*Edge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cache, err := cdncache.New(cfg.Cache, log)
	if err != nil {
		return nil, fmt.Errorf("edge: open cache: %w", err)
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       5 * time.Second, // CloudFront's default origin keep-alive timeout
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.OriginTimeout,
		// The edge negotiates encodings itself; the transport must not
		// add Accept-Encoding and silently decode.
		DisableCompression: true,
	}
	e := &Edge{
		cfg:   cfg,
		store: store,
		inv:   inv,
		log:   log,
		cache: cache,
		client: &http.Client{
			Transport: transport,
			// Redirects from an origin go to the viewer, as on CloudFront.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	e.table.Store(&table{byID: map[string]*distribution{}, byHost: map[string]*distribution{}})
	e.natives.Store(&map[string]NativeHook{})
	e.m = newMetrics(reg, cache)
	return e, nil
}

// RegisterNativeHook makes every function ARN naming functionName (any
// region, account and version) run h in-process instead of through the
// Invoker — e.g. "sluice-image-resize".
func (e *Edge) RegisterNativeHook(functionName string, h NativeHook) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := *e.natives.Load()
	m := make(map[string]NativeHook, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	if h == nil {
		delete(m, functionName)
	} else {
		m[functionName] = h
	}
	e.natives.Store(&m)
}

// PutDistribution adds or replaces a distribution. Replacing one whose
// origins, behaviours or default root object changed drops its cached
// objects, since they may no longer be what the new configuration serves.
func (e *Edge) PutDistribution(d sluice.Distribution) error {
	cd, err := compile(d, e.cfg.Region)
	if err != nil {
		return err
	}
	e.mu.Lock()
	old := e.table.Load()
	prev := old.byID[d.ID]
	e.table.Store(old.with(cd))
	e.mu.Unlock()
	if prev != nil && servingChanged(prev.d.Config, d.Config) {
		n := e.cache.InvalidateScope(d.ID)
		e.log.Debug("edge: distribution changed, cache dropped", "distribution", d.ID, "entries", n)
	}
	return nil
}

func servingChanged(a, b sluice.DistributionConfig) bool {
	return !reflect.DeepEqual(a.Origins, b.Origins) ||
		!reflect.DeepEqual(a.DefaultCacheBehavior, b.DefaultCacheBehavior) ||
		!reflect.DeepEqual(a.CacheBehaviors, b.CacheBehaviors) ||
		!reflect.DeepEqual(a.CustomErrorResponses, b.CustomErrorResponses) ||
		a.DefaultRootObject != b.DefaultRootObject
}

// RemoveDistribution stops serving a distribution and drops its cache.
func (e *Edge) RemoveDistribution(id string) {
	e.mu.Lock()
	old := e.table.Load()
	_, ok := old.byID[id]
	if ok {
		e.table.Store(old.without(id))
	}
	e.mu.Unlock()
	if ok {
		e.cache.InvalidateScope(id)
	}
}

// Invalidate drops cached copies of paths for a distribution, synchronously,
// with CloudFront's path rules: "/a/b.jpg" drops every variant (query
// string, encoding, format) of that path, "/a/*" every path starting with
// "/a/", "/*" everything. It returns how many entries were dropped. An
// unknown distribution still has its scope cleared: an invalidation racing a
// removal must not leave entries behind.
func (e *Edge) Invalidate(ctx context.Context, distributionID string, paths []string) (int, error) {
	if distributionID == "" {
		return 0, sluice.Errorf(sluice.ErrInvalidArgument, "invalidate: distribution id must not be empty")
	}
	total := 0
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if prefix == "/" {
				total += e.cache.InvalidateScope(distributionID)
				continue
			}
			total += e.cache.Invalidate(distributionID, unescapePath(prefix), true)
			continue
		}
		total += e.cache.Invalidate(distributionID, unescapePath(p), false)
	}
	e.m.invalidated.Add(float64(total))
	return total, nil
}

// unescapePath turns an escaped URI path into the decoded form cache keys
// use; a path that is not valid escaping is taken literally.
func unescapePath(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	if u, err := url.PathUnescape(p); err == nil {
		return u
	}
	return p
}

// Close releases the cache and idle origin connections.
func (e *Edge) Close() error {
	e.client.CloseIdleConnections()
	return e.cache.Close()
}
