// Package frontdoor is the single AWS API listener. It gives every request an
// id, verifies its SigV4 signature, routes it to a service by the credential
// scope's service name (as LocalStack does: s3, lambda, logs, cloudfront...),
// and records a log line and metrics for it. Unsigned requests go to s3, the
// only service that serves anonymous callers (subject to bucket policies).
//
// A Server is safe for concurrent use once Serve has been called; services
// must be registered with Handle before that.
package frontdoor

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice"
)

// Service is an AWS service behind the front door. WriteError renders an
// error in the service's own wire format; the front door uses it for
// authentication failures so that clients parse them as they expect.
type Service interface {
	http.Handler
	WriteError(w http.ResponseWriter, r *http.Request, err error)
}

// Authenticator verifies a request's signature and names its caller.
// *sigv4.Verifier implements it; Scope reads the credential scope without
// verifying, to pick the service whose error format an auth failure takes.
type Authenticator interface {
	Verify(r *http.Request) (sluice.Identity, error)
	Scope(r *http.Request) (service, region string, ok bool)
}

// Config configures the listener.
type Config struct {
	// Addr is the listen address (127.0.0.1:4566).
	Addr string
	// Region is used for requests that name none (anonymous ones).
	Region string
	// ReadHeaderTimeout bounds how long a client may take to send headers.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// after shutdown begins.
	ShutdownTimeout time.Duration
	// MaxHeaderBytes bounds request headers.
	MaxHeaderBytes int
}

// DefaultConfig returns the contract's defaults.
func DefaultConfig() Config {
	return Config{
		Addr:              "127.0.0.1:4566",
		Region:            sluice.DefaultRegion,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ShutdownTimeout:   30 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// Validate reports the first invalid setting, naming its key.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("addr %q: %w", c.Addr, err)
	}
	if c.Region == "" {
		return errors.New("region: must not be empty")
	}
	if c.ReadHeaderTimeout <= 0 || c.IdleTimeout <= 0 || c.ShutdownTimeout <= 0 {
		return errors.New("timeouts: must be positive")
	}
	if c.MaxHeaderBytes < 8<<10 {
		return fmt.Errorf("max header bytes %d: must be at least 8192", c.MaxHeaderBytes)
	}
	return nil
}

// Server is the front door.
type Server struct {
	cfg      Config
	auth     Authenticator
	log      *slog.Logger
	services map[string]Service
	// signed are Sluice's own endpoints (path prefix → handler), served to
	// verified callers whatever service their credential scope names.
	signed map[string]http.Handler
	// hosts are handlers chosen by the Host header before any SigV4
	// routing (HTTP APIs at <id>.execute-api.localhost); written only
	// before Serve.
	hosts   []hostRoute
	healthy atomic.Bool
	// observers holds the metric children of each service label, so that
	// a request costs no label lookup. Written only by New and Handle,
	// before Serve.
	observers map[string]*observer

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
	metrics  http.Handler
}

// New builds a Server. reg receives the front door's metrics and gather
// serves them at /metrics.
func New(cfg Config, auth Authenticator, log *slog.Logger, reg prometheus.Registerer, gather prometheus.Gatherer) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("frontdoor config: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		auth:     auth,
		log:      log,
		services: make(map[string]Service),
		signed:   make(map[string]http.Handler),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_api_requests_total",
			Help: "AWS API requests by service and HTTP status.",
		}, []string{"service", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sluice_api_request_duration_seconds",
			Help:    "AWS API request latency by service, until the handler returns.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"service"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_api_requests_in_flight",
			Help: "AWS API requests being served.",
		}),
		metrics: promhttp.HandlerFor(gather, promhttp.HandlerOpts{}),
	}
	for _, c := range []prometheus.Collector{s.requests, s.duration, s.inflight} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	s.observers = map[string]*observer{unknownService: s.newObserver(unknownService)}
	return s, nil
}

// Handle registers svc for the credential-scope service name.
func (s *Server) Handle(name string, svc Service) {
	s.services[name] = svc
	s.observers[name] = s.newObserver(name)
}

// unknownService labels the metrics of requests for services Sluice does
// not offer.
const unknownService = "unknown"

// minStatus and maxStatus bound the status codes an observer caches.
const (
	minStatus = 100
	maxStatus = 599
)

// observer is one service label's metric children: its duration
// histogram's, and its request counter's per status, made on first use.
type observer struct {
	service  string
	requests *prometheus.CounterVec
	duration prometheus.Observer
	byStatus [maxStatus - minStatus + 1]atomic.Pointer[prometheus.Counter]
}

func (s *Server) newObserver(service string) *observer {
	return &observer{service: service, requests: s.requests, duration: s.duration.WithLabelValues(service)}
}

// observe counts one request answered with status after elapsed.
func (o *observer) observe(status int, elapsed time.Duration) {
	o.duration.Observe(elapsed.Seconds())
	if status < minStatus || status > maxStatus {
		o.requests.WithLabelValues(o.service, strconv.Itoa(status)).Inc()
		return
	}
	slot := &o.byStatus[status-minStatus]
	c := slot.Load()
	if c == nil {
		// Racing first uses store the same child: a CounterVec keeps
		// one counter per label set.
		counter := o.requests.WithLabelValues(o.service, strconv.Itoa(status))
		c = &counter
		slot.Store(c)
	}
	(*c).Inc()
}

// HandleSigned serves requests whose path starts with prefix (which must
// start with "/_sluice/", a path no bucket can have) with h, once their
// signature is verified. Anonymous callers are refused with AccessDenied.
func (s *Server) HandleSigned(prefix string, h http.Handler) {
	if !strings.HasPrefix(prefix, "/_sluice/") {
		panic("frontdoor: signed endpoint outside /_sluice/: " + prefix)
	}
	s.signed[prefix] = h
}

// hostRoute is one HandleHost registration.
type hostRoute struct {
	match func(host string) bool
	h     http.Handler
}

// HandleHost serves every request whose Host header match accepts with h,
// before and instead of SigV4 routing: such hosts are public endpoints
// (API Gateway's execute-api) that authenticate, or not, on their own.
// It must be called before Serve.
func (s *Server) HandleHost(match func(host string) bool, h http.Handler) {
	s.hosts = append(s.hosts, hostRoute{match, h})
}

// Serve accepts connections on ln until ctx is done, then stops accepting,
// lets in-flight requests finish (up to ShutdownTimeout) and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	return serveUntil(ctx, hs, ln, s.cfg.ShutdownTimeout, &s.healthy)
}

// serveUntil runs hs on ln until ctx ends, then shuts it down gracefully.
func serveUntil(ctx context.Context, hs *http.Server, ln net.Listener, grace time.Duration, healthy *atomic.Bool) error {
	errc := make(chan error, 1)
	healthy.Store(true)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		healthy.Store(false)
		return err
	case <-ctx.Done():
	}
	healthy.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Go's server sends "100 Continue" only when a handler reads a non-empty
	// body. botocore waits for it even on empty bodies and, answered with the
	// final response alone, desynchronises its pooled connection: the next
	// request on it stalls until the read timeout. Answer the expectation.
	if r.ContentLength == 0 && r.ProtoAtLeast(1, 1) && strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		w.WriteHeader(http.StatusContinue)
	}
	for _, hr := range s.hosts {
		if hr.match(r.Host) {
			hr.h.ServeHTTP(w, r)
			return
		}
	}
	start := time.Now()
	id := newRequestID()
	hostID := newHostID()
	// Canonical keys, assigned directly: Set would canonicalize them anew
	// on every request.
	hdr := w.Header()
	hdr["X-Amz-Request-Id"] = []string{id}
	hdr["X-Amz-Id-2"] = []string{hostID}

	if s.serveInternal(w, r) {
		return
	}

	serviceName, region, signed := s.auth.Scope(r)
	if !signed {
		serviceName, region = unsignedService(r), s.cfg.Region
	}
	ri := sluice.RequestInfo{ID: id, HostID: hostID, SourceIP: sourceIP(r), Region: region}
	// withInfo is r as a service sees it when it answers before
	// verification succeeded; a verified request gets its context once,
	// with the identity, below. Copies of r share the body Verify installs.
	withInfo := func() *http.Request { return r.WithContext(sluice.WithRequestInfo(r.Context(), ri)) }

	rec := &statusRecorder{ResponseWriter: w}
	s.inflight.Inc()
	defer func() {
		s.inflight.Dec()
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		elapsed := time.Since(start)
		obs, ok := s.observers[serviceName]
		if !ok {
			obs = s.observers[unknownService]
		}
		obs.observe(status, elapsed)
		level := slog.LevelInfo
		if status >= 500 && status != http.StatusNotImplemented {
			level = slog.LevelError
		}
		ctx := r.Context()
		if !s.log.Enabled(ctx, level) {
			return // spare building the attributes
		}
		s.log.LogAttrs(ctx, level, "request",
			slog.String("request_id", id),
			slog.String("service", serviceName),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.Int64("bytes_out", rec.written),
			slog.Duration("duration", elapsed),
			slog.String("remote", ri.SourceIP),
		)
	}()

	svc, ok := s.services[serviceName]
	if !ok {
		writeUnknownService(rec, id, serviceName)
		return
	}
	identity, err := s.auth.Verify(r)
	if err != nil {
		svc.WriteError(rec, withInfo(), err)
		return
	}
	if identity.Service == "" {
		identity.Service = serviceName
	}
	if identity.Region == "" {
		// Anonymous and SigV2 requests name no region.
		identity.Region = region
	}
	var h http.Handler = svc
	if signed := s.signedHandler(r.URL.Path); signed != nil {
		if identity.Anonymous {
			svc.WriteError(rec, withInfo(), sluice.Errorf(sluice.ErrAccessDenied, "Access Denied"))
			return
		}
		h = signed
	}
	ri.Principal = identity.AccessKey
	r = r.WithContext(sluice.WithIdentity(sluice.WithRequestInfo(r.Context(), ri), identity))
	h.ServeHTTP(rec, r)
}

// signedHandler returns the handler of the signed endpoint path belongs to.
func (s *Server) signedHandler(path string) http.Handler {
	if !strings.HasPrefix(path, "/_sluice/") {
		return nil
	}
	for prefix, h := range s.signed {
		if strings.HasPrefix(path, prefix) {
			return h
		}
	}
	return nil
}

// rieInvokePath is the AWS Lambda runtime interface emulator's endpoint.
// The emulator takes unsigned requests; so does Sluice, for this path only.
const rieInvokePath = "/2015-03-31/functions/function/invocations"

// unsignedService names the service for a request without a credential
// scope: the RIE endpoint belongs to lambda, everything else to s3 (whose
// bucket policies decide about anonymous callers).
func unsignedService(r *http.Request) string {
	if r.Method == http.MethodPost && r.URL.Path == rieInvokePath {
		return "lambda"
	}
	return "s3"
}

// serveInternal answers Sluice's own unauthenticated endpoints. It claims
// only unsigned requests so that a signed request for a bucket named
// "metrics" still reaches S3.
func (s *Server) serveInternal(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	switch r.URL.Path {
	case "/_sluice/health":
		w.Header().Set("Content-Type", "application/json")
		if !s.healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, `{"status":"stopping"}`)
			return true
		}
		services := make([]string, 0, len(s.services))
		for name := range s.services {
			services = append(services, fmt.Sprintf("%q:\"running\"", name))
		}
		slices.Sort(services)
		fmt.Fprintf(w, "{\"status\":\"ok\",\"services\":{%s}}\n", strings.Join(services, ","))
		return true
	case "/_sluice/metrics":
		s.metrics.ServeHTTP(w, r)
		return true
	case "/metrics":
		if _, _, signed := s.auth.Scope(r); signed || r.URL.RawQuery != "" {
			return false
		}
		s.metrics.ServeHTTP(w, r)
		return true
	}
	return false
}

// writeUnknownService answers a request whose credential scope names a
// service Sluice does not offer, in the generic AWS query-protocol shape.
func writeUnknownService(w http.ResponseWriter, requestID, service string) {
	type errorBody struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	body := struct {
		XMLName   xml.Name  `xml:"ErrorResponse"`
		Error     errorBody `xml:"Error"`
		RequestID string    `xml:"RequestId"`
	}{
		Error: errorBody{
			Type:    "Sender",
			Code:    string(sluice.ErrUnknownService),
			Message: fmt.Sprintf("The service %q is not offered by Sluice; available services are routed by the SigV4 credential scope.", service),
		},
		RequestID: requestID,
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte(xml.Header))
	_ = xml.NewEncoder(w).Encode(body)
}

// Request ids must be unique, not secret: they come from math/rand/v2,
// whose per-thread generator costs a fraction of crypto/rand.

const upperHexDigits = "0123456789ABCDEF"

// newRequestID returns 16 upper-case hex digits, the shape of S3 request ids.
func newRequestID() string {
	var b [16]byte
	v := rand.Uint64()
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = upperHexDigits[v&15]
		v >>= 4
	}
	return string(b[:])
}

// newHostID returns 24 random bytes in base64, the shape of x-amz-id-2.
func newHostID() string {
	var b [24]byte
	binary.LittleEndian.PutUint64(b[0:], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	binary.LittleEndian.PutUint64(b[16:], rand.Uint64())
	var out [32]byte
	base64.StdEncoding.Encode(out[:], b[:])
	return string(out[:])
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// statusRecorder remembers the status and size of a response. It passes
// Flush through so that streaming handlers keep working.
type statusRecorder struct {
	http.ResponseWriter
	status  int
	written int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.written += int64(n)
	return n, err
}

// ReadFrom keeps the underlying writer's io.ReaderFrom reachable, so that a
// GET streaming an object file is served with sendfile.
func (r *statusRecorder) ReadFrom(src io.Reader) (int64, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := io.Copy(r.ResponseWriter, src)
	r.written += n
	return n, err
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
