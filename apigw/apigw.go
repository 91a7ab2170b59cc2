// Package apigw serves Amazon API Gateway HTTP APIs (v2) in front of
// functions: it selects a route as API Gateway does, builds the payload
// format 2.0 event, invokes the route's function synchronously through a
// sluice.Invoker and turns the output into the HTTP response by API
// Gateway's rules, with its CORS handling, limits and error responses.
//
// APIs are chosen by Host (<apiId>.execute-api.localhost, any port) or
// served one per listener through Handler. A Gateway is safe for
// concurrent use: PutAPI and RemoveAPI swap an immutable snapshot that
// requests read without locks, so an API is replaced atomically and a
// request in flight finishes on the definition it started with.
package apigw

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/awsevent"
)

// ErrBadRequest is the code of an invalid API definition, as the API
// Gateway v2 control API names it.
const ErrBadRequest sluice.Code = "BadRequestException"

// HostSuffix is the domain under which every API has its own host name.
const HostSuffix = ".execute-api.localhost"

// HTTP API limits.
const (
	// MaxPayload is the largest request body an HTTP API accepts.
	MaxPayload = 10 << 20
	// MaxIntegrationTimeout is the longest an HTTP API waits for an integration.
	MaxIntegrationTimeout = 30 * time.Second
	// MinRouteTimeoutMillis is the shortest integration timeout a route may set.
	MinRouteTimeoutMillis = 50
	// MaxRoutes is the number of routes an API may have.
	MaxRoutes = 300
	// PayloadFormat2 is the only payload format version served.
	PayloadFormat2 = "2.0"
)

// Config configures a Gateway.
type Config struct {
	// Region is the region functions are invoked in.
	Region string
	// AccountID is requestContext.accountId.
	AccountID string
	// MaxPayload bounds request bodies (10 MB, as on AWS).
	MaxPayload int64
	// IntegrationTimeout bounds every invocation (30 s, as on AWS); a
	// route's TimeoutMillis can only shorten it.
	IntegrationTimeout time.Duration
}

// DefaultConfig returns AWS's limits in the default region.
func DefaultConfig() Config {
	return Config{
		Region:             sluice.DefaultRegion,
		AccountID:          sluice.AccountID,
		MaxPayload:         MaxPayload,
		IntegrationTimeout: MaxIntegrationTimeout,
	}
}

var accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Region == "" {
		return errors.New("apigw: Region must be set")
	}
	if !accountIDPattern.MatchString(c.AccountID) {
		return fmt.Errorf("apigw: AccountID must be 12 digits, got %q", c.AccountID)
	}
	if c.MaxPayload <= 0 {
		return fmt.Errorf("apigw: MaxPayload must be positive, got %d", c.MaxPayload)
	}
	if c.IntegrationTimeout <= 0 {
		return fmt.Errorf("apigw: IntegrationTimeout must be positive, got %s", c.IntegrationTimeout)
	}
	return nil
}

// API is one HTTP API with its single stage.
type API struct {
	// ID is the API id: 10 lower-case letters and digits, as AWS makes them
	// (NewID makes one).
	ID   string
	Name string
	// StageName is "$default" (served at the root; the default) or a name
	// whose path prefix /<name>/ every request must carry.
	StageName string
	CORS      *CORSConfig
	Routes    []Route
	// DisableExecuteAPIEndpoint refuses requests that reach the API by its
	// execute-api host name (403); Handler still serves it.
	DisableExecuteAPIEndpoint bool
}

// Route sends the requests that match Key to a function.
type Route struct {
	// Key is "METHOD /path" ("GET /items/{id}", "ANY /{proxy+}") or "$default".
	Key string
	// FunctionARN is the function to invoke: a name, partial or full ARN,
	// with a qualifier if wanted.
	FunctionARN string
	// PayloadFormatVersion must be "2.0" ("" means "2.0").
	PayloadFormatVersion string
	// TimeoutMillis shortens the integration timeout (50-30000; 0 = 30 s).
	TimeoutMillis int
}

var (
	apiIDPattern     = regexp.MustCompile(`^[a-z0-9]{10}$`)
	stageNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
)

// NewID returns a random API id in AWS's form.
func NewID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// IsAPIHost reports whether host (a Host header, port allowed) names an
// HTTP API: <apiId>.execute-api.localhost, in any case.
func IsAPIHost(host string) bool {
	_, ok := apiIDFromHost(host)
	return ok
}

func apiIDFromHost(host string) (string, bool) {
	h := strings.ToLower(hostOnly(host))
	id, ok := strings.CutSuffix(h, HostSuffix)
	if !ok || id == "" {
		return "", false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return "", false
		}
	}
	return id, true
}

// InvokeURL is the base URL of an API's stage when its host is served on
// hostport (":4566" or "127.0.0.1:4566"; only the port is used).
func InvokeURL(apiID, stage, hostport string) string {
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		port = strings.TrimPrefix(hostport, ":")
	}
	u := "http://" + apiID + HostSuffix
	if port != "" && port != "80" {
		u += ":" + port
	}
	if stage == "" || stage == awsevent.DefaultStage {
		return u + "/"
	}
	return u + "/" + stage + "/"
}

// liveAPI is an API ready to serve.
type liveAPI struct {
	def    API
	stage  string
	router router
}

type snapshot struct {
	byID  map[string]*liveAPI
	order []string // PutAPI order of first appearance
}

var _ http.Handler = (*Gateway)(nil)

// Gateway serves HTTP APIs.
type Gateway struct {
	cfg Config
	inv sluice.Invoker
	log *slog.Logger

	mu   sync.Mutex // serialises writers of apis
	apis atomic.Pointer[snapshot]

	requests    *prometheus.CounterVec
	integration *prometheus.HistogramVec

	// now and rand are replaced by tests for reproducible events.
	now  func() time.Time
	rand io.Reader
}

// New returns a Gateway with no APIs.
func New(cfg Config, inv sluice.Invoker, log *slog.Logger, reg prometheus.Registerer) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if inv == nil {
		return nil, errors.New("apigw: an Invoker is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{
		cfg: cfg,
		inv: inv,
		log: log,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_apigw_requests_total",
			Help: "HTTP API requests by API and response status.",
		}, []string{"api", "status"}),
		integration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sluice_apigw_integration_seconds",
			Help:    "HTTP API integration latency: the function invocation, by API.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"api"}),
		now: time.Now,
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{g.requests, g.integration} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register apigw metrics: %w", err)
			}
		}
	}
	g.apis.Store(&snapshot{byID: map[string]*liveAPI{}})
	return g, nil
}

// compile validates api as API Gateway validates an API, its stage and
// routes, and prepares it to serve.
func compile(api API) (*liveAPI, error) {
	if !apiIDPattern.MatchString(api.ID) {
		return nil, badRequest("API id %q must be 10 lower-case letters and digits", api.ID)
	}
	stage := api.StageName
	if stage == "" {
		stage = awsevent.DefaultStage
	}
	if stage != awsevent.DefaultStage && !stageNamePattern.MatchString(stage) {
		return nil, badRequest("API %s: stage name %q must be \"$default\" or 1-128 letters, digits, '-' and '_'", api.ID, stage)
	}
	if api.CORS != nil {
		if err := api.CORS.validate(); err != nil {
			return nil, fmt.Errorf("API %s: %w", api.ID, err)
		}
	}
	if len(api.Routes) > MaxRoutes {
		return nil, badRequest("API %s has %d routes; an HTTP API may have at most %d", api.ID, len(api.Routes), MaxRoutes)
	}
	live := &liveAPI{stage: stage}
	shapes := map[string]string{}
	for _, r := range api.Routes {
		key, err := parseRouteKey(r.Key)
		if err != nil {
			return nil, fmt.Errorf("API %s: %w", api.ID, err)
		}
		if prev, dup := shapes[key.shape()]; dup {
			return nil, badRequest("API %s: route %q conflicts with route %q", api.ID, r.Key, prev)
		}
		shapes[key.shape()] = r.Key
		if r.FunctionARN == "" {
			return nil, badRequest("API %s: route %q has no function", api.ID, r.Key)
		}
		switch r.PayloadFormatVersion {
		case "", PayloadFormat2:
		case "1.0":
			return nil, badRequest("API %s: route %q: payload format version 1.0 is not supported; use 2.0 (PayloadFormatVersion: \"2.0\", the SAM default for HttpApi events)", api.ID, r.Key)
		default:
			return nil, badRequest("API %s: route %q: payload format version %q must be 2.0", api.ID, r.Key, r.PayloadFormatVersion)
		}
		if r.TimeoutMillis != 0 && (r.TimeoutMillis < MinRouteTimeoutMillis || r.TimeoutMillis > int(MaxIntegrationTimeout/time.Millisecond)) {
			return nil, badRequest("API %s: route %q: TimeoutMillis must be between %d and %d, got %d", api.ID, r.Key, MinRouteTimeoutMillis, MaxIntegrationTimeout/time.Millisecond, r.TimeoutMillis)
		}
		cr := &compiledRoute{Route: r, key: key, timeout: r.TimeoutMillis}
		if key.def {
			live.router.def = cr
		} else {
			live.router.routes = append(live.router.routes, cr)
		}
	}
	live.def = api
	live.def.StageName = stage
	live.def.Routes = slices.Clone(api.Routes)
	if api.CORS != nil {
		c := *api.CORS
		live.def.CORS = &c
	}
	return live, nil
}

// PutAPI adds api or replaces the API with its id, atomically: requests see
// either the old definition or the new one. Nothing changes when api is
// invalid; the error is a *sluice.Error with code BadRequestException.
func (g *Gateway) PutAPI(api API) error {
	live, err := compile(api)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.apis.Load()
	next := &snapshot{byID: make(map[string]*liveAPI, len(old.byID)+1), order: old.order}
	for id, a := range old.byID {
		next.byID[id] = a
	}
	if _, ok := old.byID[api.ID]; !ok {
		next.order = append(slices.Clone(old.order), api.ID)
	}
	next.byID[api.ID] = live
	g.apis.Store(next)
	return nil
}

// RemoveAPI removes the API with id, if there is one.
func (g *Gateway) RemoveAPI(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.apis.Load()
	if _, ok := old.byID[id]; !ok {
		return
	}
	next := &snapshot{byID: make(map[string]*liveAPI, len(old.byID)), order: make([]string, 0, len(old.order))}
	for k, a := range old.byID {
		if k != id {
			next.byID[k] = a
		}
	}
	for _, k := range old.order {
		if k != id {
			next.order = append(next.order, k)
		}
	}
	g.apis.Store(next)
}

// APIs returns the APIs in the order they were first put.
func (g *Gateway) APIs() []API {
	s := g.apis.Load()
	out := make([]API, 0, len(s.order))
	for _, id := range s.order {
		a := s.byID[id].def
		a.Routes = slices.Clone(a.Routes)
		if a.CORS != nil {
			c := *a.CORS
			a.CORS = &c
		}
		out = append(out, a)
	}
	return out
}

// ServeHTTP serves the API its Host names; any other host gets API
// Gateway's 404.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := apiIDFromHost(r.Host)
	api := g.apis.Load().byID[id]
	if !ok || api == nil {
		g.writeMessage(w, "", http.StatusNotFound, "Not Found")
		return
	}
	if api.def.DisableExecuteAPIEndpoint {
		g.writeMessage(w, id, http.StatusForbidden, "Forbidden")
		return
	}
	g.serve(w, r, api, "")
}

// Handler serves the API with apiID whatever the request's Host, for a
// listener of its own (--api-addr). An empty apiID serves the first API put
// (at request time, so the listener follows template reloads).
func (g *Gateway) Handler(apiID string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := g.apis.Load()
		id := apiID
		if id == "" && len(s.order) > 0 {
			id = s.order[0]
		}
		api := s.byID[id]
		if api == nil {
			g.writeMessage(w, "", http.StatusNotFound, "Not Found")
			return
		}
		domain := ""
		if hid, ok := apiIDFromHost(r.Host); !ok || hid != id {
			// requestContext.domainName/domainPrefix name the API as on AWS
			// even when it is reached on a plain address.
			domain = id + HostSuffix
		}
		g.serve(w, r, api, domain)
	})
}

// serve handles one request to api. domain overrides the Host-derived
// requestContext.domainName when not empty.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, api *liveAPI, domain string) {
	start := g.now()
	requestID := g.requestID()
	apiID := api.def.ID
	w.Header().Set("Apigw-Requestid", requestID)

	escaped := r.URL.EscapedPath()
	if api.stage != awsevent.DefaultStage {
		rest, ok := strings.CutPrefix(escaped, "/"+api.stage)
		if !ok || (rest != "" && rest[0] != '/') {
			g.reject(w, r, apiID, requestID, start, http.StatusNotFound, "Not Found", "no stage matches the path")
			return
		}
		escaped = rest
	}
	if r.ContentLength > g.cfg.MaxPayload {
		g.reject(w, r, apiID, requestID, start, http.StatusRequestEntityTooLarge, "Request Entity Too Large", "request body over the payload limit")
		return
	}
	if api.def.CORS != nil && isPreflight(r) {
		api.def.CORS.preflight(w.Header(), r)
		g.finish(r, apiID, requestID, "", http.StatusNoContent, start, 0, "")
		w.WriteHeader(http.StatusNoContent)
		g.requests.WithLabelValues(apiID, "204").Inc()
		return
	}
	route, params, ok := api.router.match(r.Method, escaped)
	if !ok {
		g.reject(w, r, apiID, requestID, start, http.StatusNotFound, "Not Found", "no route matches")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, g.cfg.MaxPayload+1))
	if err != nil {
		g.log.Debug("http api request body", "request_id", requestID, "api", apiID, "err", err)
		g.reject(w, r, apiID, requestID, start, http.StatusBadRequest, "Bad Request", "request body unreadable")
		return
	}
	if int64(len(body)) > g.cfg.MaxPayload {
		g.reject(w, r, apiID, requestID, start, http.StatusRequestEntityTooLarge, "Request Entity Too Large", "request body over the payload limit")
		return
	}

	ev := awsevent.NewHTTPAPIRequest(r, body, awsevent.HTTPRoute{
		APIID:          apiID,
		RouteKey:       route.Key,
		Stage:          api.stage,
		PathParameters: params,
		AccountID:      g.cfg.AccountID,
		DomainName:     strings.ToLower(domainOr(domain, r.Host)),
		RequestID:      requestID,
		Time:           start,
		Rand:           g.rand,
	})
	payload, err := ev.MarshalJSON()
	if err != nil {
		g.log.Error("http api event", "request_id", requestID, "api", apiID, "err", err)
		g.reject(w, r, apiID, requestID, start, http.StatusInternalServerError, "Internal Server Error", "event encoding failed")
		return
	}

	timeout := g.cfg.IntegrationTimeout
	if rt := time.Duration(route.timeout) * time.Millisecond; rt > 0 && rt < timeout {
		timeout = rt
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	ctx = sluice.WithRequestInfo(ctx, sluice.RequestInfo{
		ID:       requestID,
		SourceIP: ev.RequestContext.HTTP.SourceIP,
		Region:   g.cfg.Region,
	})
	invStart := time.Now()
	res, err := g.invoke(ctx, &sluice.InvokeRequest{Function: route.FunctionARN, Payload: payload})
	integration := time.Since(invStart)
	g.integration.WithLabelValues(apiID).Observe(integration.Seconds())

	switch {
	case r.Context().Err() != nil:
		// The client went away; nobody reads an answer. 499 is nginx's
		// convention for that in metrics and logs.
		g.finish(r, apiID, requestID, route.Key, 499, start, integration, "client closed the request")
		g.requests.WithLabelValues(apiID, "499").Inc()
		return
	case ctx.Err() == context.DeadlineExceeded:
		g.reject(w, r, apiID, requestID, start, http.StatusServiceUnavailable, "Service Unavailable",
			fmt.Sprintf("integration timed out after %s", timeout), "route", route.Key)
		return
	case err != nil:
		if sluice.IsCode(err, sluice.ErrRequestTooLarge) || sluice.IsCode(err, "RequestEntityTooLargeException") {
			g.reject(w, r, apiID, requestID, start, http.StatusRequestEntityTooLarge, "Request Entity Too Large",
				"the event is over the function's payload limit", "route", route.Key, "err", err)
			return
		}
		g.reject(w, r, apiID, requestID, start, http.StatusInternalServerError, "Internal Server Error",
			"invocation failed", "route", route.Key, "function", route.FunctionARN, "err", err)
		return
	case res.FunctionError != "":
		// Lambda's guide for API Gateway: a function that runs but fails,
		// or answers in the wrong format, is a 502; a Lambda API that
		// refuses the invocation (above) is a 500. The body is the same.
		g.reject(w, r, apiID, requestID, start, http.StatusBadGateway, "Internal Server Error",
			"the function returned an error", "route", route.Key, "function", route.FunctionARN,
			"function_error", res.FunctionError, "error", truncate(res.Payload, 512))
		return
	}
	resp, err := interpretResponse(res.Payload)
	if err != nil {
		g.reject(w, r, apiID, requestID, start, http.StatusBadGateway, "Internal Server Error",
			"the function's response does not match the format API Gateway expects", "route", route.Key, "err", err)
		return
	}
	g.writeResponse(w, r, api, resp)
	g.finish(r, apiID, requestID, route.Key, resp.status, start, integration, "")
	g.requests.WithLabelValues(apiID, strconv.Itoa(resp.status)).Inc()
}

// invoke runs the function, giving up when ctx ends even if the Invoker
// does not notice, so the integration timeout always holds.
func (g *Gateway) invoke(ctx context.Context, req *sluice.InvokeRequest) (*sluice.InvokeResult, error) {
	type result struct {
		res *sluice.InvokeResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := g.inv.Invoke(ctx, req)
		if err == nil && res == nil {
			err = errors.New("invoker returned no result")
		}
		done <- result{res, err}
	}()
	select {
	case r := <-done:
		return r.res, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// responseHeadersDropped are headers the gateway computes itself.
var responseHeadersDropped = []string{"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "Trailer", "Apigw-Requestid"}

func (g *Gateway) writeResponse(w http.ResponseWriter, r *http.Request, api *liveAPI, resp *response) {
	for _, name := range responseHeadersDropped {
		resp.header.Del(name)
	}
	if api.def.CORS != nil {
		api.def.CORS.apply(resp.header, r)
	}
	h := w.Header()
	for name, values := range resp.header {
		h[name] = values
	}
	for _, c := range resp.cookies {
		h.Add("Set-Cookie", c)
	}
	if resp.status == http.StatusNoContent || resp.status == http.StatusNotModified {
		// These statuses carry no body whatever the function returned.
		h.Del("Content-Length")
		w.WriteHeader(resp.status)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	w.WriteHeader(resp.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(resp.body)
	}
}

// reject answers with one of API Gateway's own error responses and records
// the request; logArgs say why, for the log only.
func (g *Gateway) reject(w http.ResponseWriter, r *http.Request, apiID, requestID string, start time.Time, status int, message, why string, logArgs ...any) {
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelWarn
	}
	args := append([]any{"request_id", requestID, "api", apiID, "method", r.Method, "path", r.URL.Path, "status", status, "reason", why}, logArgs...)
	g.log.Log(r.Context(), level, "http api request refused", args...)
	g.writeMessage(w, apiID, status, message)
}

// finish writes the per-request debug line.
func (g *Gateway) finish(r *http.Request, apiID, requestID, route string, status int, start time.Time, integration time.Duration, note string) {
	if !g.log.Enabled(r.Context(), slog.LevelDebug) {
		return
	}
	args := []any{"request_id", requestID, "api", apiID, "method", r.Method, "path", r.URL.Path,
		"route", route, "status", status, "integration_ms", integration.Milliseconds(),
		"duration_ms", g.now().Sub(start).Milliseconds()}
	if note != "" {
		args = append(args, "note", note)
	}
	g.log.Debug("http api request", args...)
}

// writeMessage writes API Gateway's JSON error body: {"message":"..."}.
func (g *Gateway) writeMessage(w http.ResponseWriter, apiID string, status int, message string) {
	body := `{"message":"` + message + `"}`
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
	if status != 499 {
		g.requests.WithLabelValues(apiIDLabel(apiID), strconv.Itoa(status)).Inc()
	}
}

func apiIDLabel(id string) string {
	if id == "" {
		return "unknown"
	}
	return id
}

// requestID makes an apigw-requestid: 16 base64 characters like AWS's.
func (g *Gateway) requestID() string {
	b := make([]byte, 11)
	src := g.rand
	if src == nil {
		src = rand.Reader
	}
	_, _ = io.ReadFull(src, b)
	return base64.StdEncoding.EncodeToString(b)
}

func domainOr(domain, host string) string {
	if domain != "" {
		return domain
	}
	return hostOnly(host)
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}
