package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/awsevent"
	"github.com/sluicehq/sluice/cdncache"
	"github.com/sluicehq/sluice/imageopts"
)

// X-Cache results.
const (
	resultHit        = "Hit"
	resultMiss       = "Miss"
	resultRefreshHit = "RefreshHit"
	resultError      = "Error"
	resultGenerated  = "LambdaGeneratedResponse"
)

// exchange is one viewer request in flight.
type exchange struct {
	e     *Edge
	w     *statusWriter
	sw    statusWriter // w points here: one allocation less per request
	r     *http.Request
	start time.Time
	cfg   awsevent.CloudFrontConfig

	d *distribution
	b *behavior
	// req is the viewer request as functions see and change it. Its
	// Headers and ClientIP are built on first use (see request): a hit
	// without functions reads the few headers it needs from r.
	req      awsevent.CloudFrontRequest
	reqBuilt bool
	hookRan  bool // a viewer-request function ran: time has passed since start
	// body is the viewer's request body: peeked holds what was read for
	// IncludeBody, rest what follows; a function may replace both.
	peeked   []byte
	rest     io.Reader
	replaced bool

	path      string // decoded URI path: the cache key's Path
	enc       string // normalised encoding the viewer accepts ("br", "gzip", "")
	fmtKeyed  bool   // the cache key holds format=auto
	format    string // imageopts.Negotiate(Accept) when fmtKeyed
	result    string
	errDetail error
	// pageCode is set on the exchange that fetches a custom error page
	// (see errorpages.go): the ResponseCode the page goes out with.
	pageCode int
}

// statusWriter remembers the status for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom keeps net/http's ReadFrom reachable through the wrapper: given
// a file, it sends with sendfile(2).
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, r)
	}
	w.bytes += n
	return n, err
}

// writerOnly hides a writer's ReadFrom from io.Copy, which would call it
// again.
type writerOnly struct{ io.Writer }

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

const noDistributionText = `No distribution is configured on this Sluice edge.

Create one in front of a bucket with the AWS CLI, for example:

  aws --endpoint-url http://127.0.0.1:4566 cloudfront create-distribution \
      --origin-domain-name my-bucket.s3.localhost

then request http://<distribution id>.localhost:4567/<key> (or any path here:
the first enabled distribution answers requests whose Host names none).
`

// ServeHTTP serves a viewer request: distribution by Host, behaviour by
// path, viewer-request function, cache, origin with its functions,
// compression, viewer-response function.
func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := &exchange{e: e, r: r, start: time.Now()}
	x.sw.ResponseWriter = w
	x.w = &x.sw
	x.cfg = awsevent.CloudFrontConfig{RequestID: newRequestID()}
	defer x.finish()

	d, matched := e.table.Load().lookup(r.Host)
	if d == nil {
		x.plain(http.StatusNotFound, resultError, noDistributionText)
		return
	}
	x.d = d
	x.cfg.DistributionID, x.cfg.DistributionDomainName = d.id, d.domain
	if matched && !d.d.Config.Enabled {
		x.errorPage(http.StatusForbidden, resultError, "Bad request.", "The distribution is disabled.")
		return
	}
	x.req = awsevent.CloudFrontRequest{Method: r.Method, QueryString: r.URL.RawQuery, URI: r.URL.EscapedPath()}
	if x.req.URI == "" {
		x.req.URI = "/"
	}
	if x.req.URI == "/" && d.d.Config.DefaultRootObject != "" {
		x.req.URI = (&url.URL{Path: "/" + strings.TrimPrefix(d.d.Config.DefaultRootObject, "/")}).EscapedPath()
	}
	x.b = d.behaviorFor(unescapePath(x.req.URI))
	if !slices.Contains(x.b.allowed, r.Method) {
		x.errorPage(http.StatusForbidden, resultError, "Bad request.", "This distribution is not configured to allow the HTTP request method that was used for this request.")
		return
	}
	x.rest = r.Body
	if h := x.b.hooks[awsevent.EdgeViewerRequest]; h != nil {
		x.hookRan = true
		if !x.viewerRequestHook(h) {
			return
		}
	}
	x.path = unescapePath(x.req.URI)
	cacheable := slices.Contains(x.b.cached, r.Method) && (r.Method == http.MethodGet || r.Method == http.MethodHead) && !x.b.allHeaders
	if cacheable {
		x.serveCached()
		return
	}
	x.passThrough()
}

// request completes x.req with the viewer's headers (without those
// functions may not see) and client IP, once, and returns it.
func (x *exchange) request() *awsevent.CloudFrontRequest {
	if !x.reqBuilt {
		x.reqBuilt = true
		full := awsevent.NewCloudFrontRequest(x.r, "")
		x.req.ClientIP = full.ClientIP
		x.req.Headers = exposedHeaders(full.Headers)
		x.req.Headers.Set("Host", x.r.Host)
	}
	return &x.req
}

// header returns the first value of a request header as functions left
// it. canon is a canonical name that functions may see.
func (x *exchange) header(canon string) string {
	if x.reqBuilt {
		return x.req.Headers.Get(canon)
	}
	if vs := x.r.Header[canon]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// finish writes the request's log line.
func (x *exchange) finish() {
	if x.result != "" {
		x.e.m.countRequest(x.result)
	}
	// The attributes cost more than serving a hit: build them only for a
	// line that will be written.
	if x.errDetail == nil && !x.e.log.Enabled(x.r.Context(), slog.LevelDebug) {
		return
	}
	attrs := []any{
		"request_id", x.cfg.RequestID, "method", x.r.Method, "host", x.r.Host, "uri", x.r.URL.RequestURI(),
		"status", x.w.status, "result", x.result, "bytes", x.w.bytes, "dur", time.Since(x.start),
	}
	if x.d != nil {
		attrs = append(attrs, "distribution", x.d.id)
	}
	if x.errDetail != nil {
		x.e.log.Warn("edge: request failed", append(attrs, "err", x.errDetail)...)
		return
	}
	x.e.log.Debug("edge: request", attrs...)
}

// stamp sets the headers every edge response carries.
// The value slices are shared by every response: each has len == cap, so
// an append anywhere copies instead of writing into them.
func (x *exchange) stamp(h http.Header, result string) {
	x.result = result
	if v, ok := xCacheValues[result]; ok {
		h["X-Cache"] = v
	} else {
		h["X-Cache"] = []string{result + " from sluice"}
	}
	if x.d != nil {
		h["Via"] = x.d.via
	}
	h["X-Amz-Cf-Pop"] = popValue
	h["X-Amz-Cf-Id"] = []string{x.cfg.RequestID}
}

var (
	popValue     = []string{"LOCAL"}
	xCacheValues = map[string][]string{
		resultHit: {resultHit + " from sluice"}, resultMiss: {resultMiss + " from sluice"},
		resultRefreshHit: {resultRefreshHit + " from sluice"}, resultError: {resultError + " from sluice"},
		resultGenerated: {resultGenerated + " from sluice"},
	}
)

func (x *exchange) plain(status int, result, text string) {
	h := x.w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(text)))
	x.stamp(h, result)
	x.w.WriteHeader(status)
	if x.r.Method != http.MethodHead {
		io.WriteString(x.w, text)
	}
}

// errorPage answers as CloudFront does when it cannot satisfy a request:
// a small HTML page naming the problem and the request id.
func (x *exchange) errorPage(status int, result, title, detail string) {
	body := fmt.Sprintf("<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\" \"http://www.w3.org/TR/html4/loose.dtd\">\n"+
		"<HTML><HEAD><META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=iso-8859-1\">\n<TITLE>ERROR: The request could not be satisfied</TITLE>\n</HEAD><BODY>\n"+
		"<H1>%d ERROR</H1>\n<H2>The request could not be satisfied.</H2>\n<HR noshade size=\"1px\">\n%s\n<BR clear=\"all\">\n%s\n<BR clear=\"all\">\n"+
		"<HR noshade size=\"1px\">\n<PRE>\nGenerated by sluice\nRequest ID: %s\n</PRE>\n</BODY></HTML>\n",
		status, html.EscapeString(title), html.EscapeString(detail), html.EscapeString(x.cfg.RequestID))
	h := x.w.Header()
	for k := range h {
		delete(h, k)
	}
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Server", "sluice")
	x.stamp(h, result)
	x.w.WriteHeader(status)
	if x.r.Method != http.MethodHead {
		io.WriteString(x.w, body)
	}
}

// fail answers with the error page an error calls for.
func (x *exchange) fail(err error) {
	x.errDetail = err
	var hf *hookFailure
	var oe *errOrigin
	switch {
	case errors.As(err, &hf):
		x.errorPage(hf.status, hf.kind, "The Lambda function associated with the CloudFront distribution is invalid or doesn't have the required permissions.", hf.detail)
	case errors.As(err, &oe):
		if x.customErrorPage(oe.status) {
			return
		}
		if oe.status == http.StatusGatewayTimeout {
			x.errorPage(oe.status, resultError, "Gateway Timeout.", "The origin did not respond in time.")
			return
		}
		x.errorPage(oe.status, resultError, "Bad gateway.", "The edge could not connect to the origin.")
	default:
		x.errorPage(http.StatusBadGateway, resultError, "Bad gateway.", "The edge could not get a response from the origin.")
	}
}

// viewerRequestHook runs the viewer-request function; false means a
// response was written and the request is done.
func (x *exchange) viewerRequestHook(h *hook) bool {
	ev := *x.request()
	ev.Body = nil
	if h.includeBody {
		x.peekBody(awsevent.MaxViewerRequestBody)
		ev.Body = awsevent.NewCloudFrontBody(x.peeked, awsevent.EdgeViewerRequest)
	}
	cfg := x.cfg
	cfg.EventType = awsevent.EdgeViewerRequest
	res, err := x.e.runHook(x.r.Context(), h, awsevent.NewCloudFrontRequestEvent(cfg, ev), nil)
	if err != nil {
		x.fail(err)
		return false
	}
	if res.response != nil {
		x.writeGenerated(res)
		return false
	}
	x.applyRequest(res)
	return true
}

// peekBody reads up to limit+1 bytes of the viewer's body for a function,
// keeping them for the origin.
func (x *exchange) peekBody(limit int) {
	if x.peeked != nil || x.rest == nil || x.replaced {
		return
	}
	buf, _ := io.ReadAll(io.LimitReader(x.rest, int64(limit)+1))
	x.peeked = buf
	x.rest = io.MultiReader(bytes.NewReader(buf), x.rest)
}

// applyRequest takes a request a function returned. Method and client IP are
// read-only and keep their values.
func (x *exchange) applyRequest(res *hookResult) {
	nr := res.request
	x.req.URI, x.req.QueryString, x.req.Headers = nr.URI, nr.QueryString, nr.Headers
	if res.reqBodySet {
		x.rest, x.peeked, x.replaced = bytes.NewReader(res.reqBody), res.reqBody, true
	}
}

// writeGenerated sends a response a viewer-request function generated; it
// is neither cached nor shown to the viewer-response function.
func (x *exchange) writeGenerated(res *hookResult) {
	h := x.w.Header()
	for k, v := range res.response.Headers.HTTPHeader() {
		h[k] = v
	}
	h.Set("Content-Length", strconv.Itoa(len(res.body)))
	x.stamp(h, resultGenerated)
	x.w.WriteHeader(res.status)
	if x.r.Method != http.MethodHead && bodyAllowed(res.status) {
		x.w.Write(res.body)
	}
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified && status >= 200
}

// baseVariant is the cache key's Variant without the encoding: the
// canonical whitelisted query, the forwarded headers and the negotiated
// image format. It also decides x.fmtKeyed and x.format.
func (x *exchange) baseVariant() string {
	var sb strings.Builder
	if x.b.cb.QueryString {
		q := keyQuery(x.req.QueryString, x.b.queryKeys)
		if vs, ok := q["format"]; ok && slices.Contains(vs, "auto") {
			x.fmtKeyed = true
			x.format = imageopts.Negotiate(x.header("Accept"))
		}
		sb.WriteString("q=")
		sb.WriteString(canonicalQuery(q))
	}
	if len(x.b.headers) > 0 {
		x.request()
	}
	for _, name := range x.b.headers {
		sb.WriteString("|h=")
		sb.WriteString(url.QueryEscape(name))
		sb.WriteByte(':')
		vs := headerValues(x.req.Headers[strings.ToLower(name)])
		sb.WriteString(url.QueryEscape(strings.Join(vs, "\n")))
	}
	if x.fmtKeyed {
		sb.WriteString("|fmt=")
		sb.WriteString(x.format)
	}
	return sb.String()
}

// keyQuery parses a query string and keeps the parameters in keys (all of
// them when keys is nil). Unparseable pairs are kept as they are, so they
// still tell variants apart.
func keyQuery(raw string, keys map[string]bool) url.Values {
	q := url.Values{}
	for _, pair := range strings.Split(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		if keys == nil || keys[k] {
			q[k] = append(q[k], v)
		}
	}
	return q
}

func canonicalQuery(q url.Values) string {
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, k := range names {
		vs := slices.Clone(q[k])
		sort.Strings(vs)
		for _, v := range vs {
			if sb.Len() > 0 {
				sb.WriteByte('&')
			}
			sb.WriteString(url.QueryEscape(k))
			sb.WriteByte('=')
			sb.WriteString(url.QueryEscape(v))
		}
	}
	return sb.String()
}

// forwardedQuery is the query string the origin gets: none unless the
// behaviour forwards query strings, and with format=auto replaced by the
// negotiated format (or removed) when the format is part of the cache key.
func (x *exchange) forwardedQuery() string {
	if !x.b.cb.QueryString {
		return ""
	}
	if !x.fmtKeyed {
		return x.req.QueryString
	}
	var out []string
	for _, pair := range strings.Split(x.req.QueryString, "&") {
		k, v, _ := strings.Cut(pair, "=")
		if k == "format" && v == "auto" {
			if x.format == "" {
				continue
			}
			pair = "format=" + url.QueryEscape(x.format)
		}
		out = append(out, pair)
	}
	return strings.Join(out, "&")
}

// acceptedEncoding normalises Accept-Encoding as CloudFront does: br when
// accepted, else gzip, else identity.
func acceptedEncoding(ae string) string {
	var br, gz bool
	for _, part := range strings.Split(ae, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if q := qvalue(params); q <= 0 {
			continue
		}
		switch name {
		case "br":
			br = true
		case "gzip", "x-gzip":
			gz = true
		case "*":
			br, gz = true, true
		}
	}
	switch {
	case br:
		return "br"
	case gz:
		return "gzip"
	}
	return ""
}

func qvalue(params string) float64 {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0
			}
			return f
		}
	}
	return 1
}

// entryLimit is the largest body the edge holds in memory to cache.
func (e *Edge) entryLimit() int64 {
	if n := e.cfg.Cache.MaxEntryBytes; n > 0 {
		return n
	}
	return cdncache.DefaultConfig().MaxEntryBytes
}

// errTooBig says a response is too large to cache; it is streamed instead.
var errTooBig = errors.New("response too large to cache")

// serveCached serves a GET or HEAD through the cache.
func (x *exchange) serveCached() {
	e := x.e
	base := x.baseVariant()
	idKey := cdncache.Key{Scope: x.d.id, Path: x.path, Variant: base}
	if x.b.cb.Compress {
		x.enc = acceptedEncoding(x.header("Accept-Encoding"))
	}
	now := x.start
	if x.hookRan {
		now = time.Now()
	}
	var encKey cdncache.Key
	var staleEnc *cdncache.Entry
	if x.enc != "" {
		encKey = cdncache.Key{Scope: x.d.id, Path: x.path, Variant: base + "|enc=" + x.enc}
		if ce, ref, ok := e.cache.Lookup(encKey); ok {
			if now.Before(ce.Expires) {
				x.serveEntry(ce, ref, resultHit)
				return
			}
			staleEnc = ce
		}
	}
	ie, ref, ok := e.cache.Lookup(idKey)
	result := resultHit
	if !ok || !now.Before(ie.Expires) {
		ref = cdncache.BodyRef{}
		var stale *cdncache.Entry
		if ok {
			stale = ie
		}
		var err error
		ie, result, err = x.fillIdentity(idKey, stale)
		if errors.Is(err, errTooBig) {
			x.passThrough()
			return
		}
		if err != nil {
			x.fail(err)
			return
		}
	}
	if x.enc != "" && x.compressible(ie) {
		ce, err := x.compressed(encKey, idKey, ie, staleEnc)
		if err == nil {
			x.serveEntry(ce, cdncache.BodyRef{}, result)
			return
		}
		e.log.Warn("edge: compress", "distribution", x.d.id, "path", x.path, "err", err)
	}
	x.serveEntry(ie, ref, result)
}

// fillIdentity fetches (or revalidates stale) through the cache, collapsed
// with concurrent misses of the same key.
func (x *exchange) fillIdentity(k cdncache.Key, stale *cdncache.Entry) (*cdncache.Entry, string, error) {
	led, refreshed, served, filled := false, false, false, false
	en, shared, err := x.e.cache.Fill(x.r.Context(), k, func(ctx context.Context) (*cdncache.Entry, bool, error) {
		led = true
		// A fill that ended between our lookup and this one's start has
		// stored what we are about to fetch: serve that.
		if ce, _, f := x.e.cache.Peek(k); f != cdncache.NotFound && time.Now().Before(ce.Expires) {
			filled = true
			return ce, false, nil
		}
		en, store, how, err := x.fetchEntry(ctx, stale)
		refreshed = how == fetchRefreshed
		served = how == fetchStale
		return en, store, err
	})
	if err != nil {
		return nil, "", err
	}
	switch {
	case led && filled:
		return en, resultHit, nil
	case led && refreshed:
		return en, resultRefreshHit, nil
	case led && served:
		return en, resultHit, nil
	case !led && shared && stale != nil && en.ETag != "" && en.ETag == stale.ETag && len(en.Body) == len(stale.Body):
		return en, resultRefreshHit, nil
	}
	return en, resultMiss, nil
}

type fetchHow int

const (
	fetchNew       fetchHow = iota
	fetchRefreshed          // the origin said 304: the stale entry lives on
	fetchStale              // the origin failed with 5xx: the stale entry is served
)

// fetchEntry is a cache fill: origin-request function, origin (conditional
// when stale is set), origin-response function, TTL.
func (x *exchange) fetchEntry(ctx context.Context, stale *cdncache.Entry) (*cdncache.Entry, bool, fetchHow, error) {
	var cond http.Header
	if stale != nil {
		cond = http.Header{}
		if stale.ETag != "" {
			cond.Set("If-None-Match", stale.ETag)
		}
		if !stale.LastModified.IsZero() {
			cond.Set("If-Modified-Since", stale.LastModified.UTC().Format(http.TimeFormat))
		}
	}
	limit := x.e.entryLimit()
	resp, oreq, generated, err := x.originRound(ctx, http.MethodGet, cond, nil, limit)
	if err != nil {
		var oe *errOrigin
		if stale != nil && errors.As(err, &oe) {
			return x.keepStale(stale), true, fetchStale, nil
		}
		return nil, false, fetchNew, err
	}
	if resp.stream != nil {
		resp.close()
		return nil, false, fetchNew, errTooBig
	}
	now := time.Now()
	pol := x.ttlPolicy()
	if stale != nil && resp.status == http.StatusNotModified {
		h := stale.Header.Clone()
		for _, k := range []string{"Cache-Control", "Expires", "Date", "ETag", "Last-Modified"} {
			if vs := resp.header.Values(k); len(vs) > 0 {
				h[k] = vs
			}
		}
		ttl, store := pol.ttl(stale.Status, h, now)
		ne := *stale
		ne.Header, ne.Stored, ne.Expires = h, now, now.Add(ttl)
		return &ne, store, fetchRefreshed, nil
	}
	if stale != nil && resp.status >= 500 && !generated {
		return x.keepStale(stale), true, fetchStale, nil
	}
	validatorETag, validatorLM := resp.header.Get("ETag"), resp.header.Get("Last-Modified")
	if !generated {
		if h := x.b.hooks[awsevent.EdgeOriginResponse]; h != nil {
			if err := x.originResponseHook(ctx, h, oreq, resp); err != nil {
				return nil, false, fetchNew, err
			}
		}
	}
	if resp.stream != nil {
		resp.close()
		return nil, false, fetchNew, errTooBig
	}
	ttl, store := pol.ttl(resp.status, resp.header, now)
	en := &cdncache.Entry{
		Status:  resp.status,
		Header:  cleanHeader(resp.header),
		Body:    resp.body,
		Stored:  now,
		Expires: now.Add(ttl),
		ETag:    validatorETag,
	}
	if t, err := http.ParseTime(validatorLM); err == nil {
		en.LastModified = t
	}
	if ttl == 0 && en.ETag == "" && en.LastModified.IsZero() {
		// Nothing to revalidate with: storing it would only cost a write.
		store = false
	}
	return en, store, fetchNew, nil
}

// keepStale serves an expired entry again while the origin fails, for the
// error caching minimum TTL, as CloudFront does.
func (x *exchange) keepStale(stale *cdncache.Entry) *cdncache.Entry {
	ne := *stale
	ne.Expires = time.Now().Add(x.errorTTL(http.StatusBadGateway))
	return &ne
}

func (x *exchange) errorTTL(status int) time.Duration {
	if v, ok := x.d.errorTTL[status]; ok {
		return time.Duration(v) * time.Second
	}
	return x.e.cfg.ErrorCachingMinTTL
}

func (x *exchange) ttlPolicy() ttlPolicy {
	return ttlPolicy{
		minTTL: x.b.cb.MinTTL, defaultTTL: x.b.cb.DefaultTTL, maxTTL: x.b.cb.MaxTTL,
		errorTTL: x.d.errorTTL, defaultErrorTTL: int64(x.e.cfg.ErrorCachingMinTTL / time.Second),
	}
}

// cleanHeader is what a cached response keeps of an origin's headers.
func cleanHeader(h http.Header) http.Header {
	out := h.Clone()
	stripHopByHop(out)
	out.Del("Content-Length")
	out.Del("Date")
	return out
}

// forwardedHeaders are the request headers the origin gets.
func (x *exchange) forwardedHeaders(o *origin) awsevent.CloudFrontHeaders {
	x.request()
	out := awsevent.CloudFrontHeaders{}
	if x.b.allHeaders {
		for name, vs := range x.req.Headers {
			out[name] = slices.Clone(vs)
		}
	} else {
		for _, name := range x.b.headers {
			if vs := x.req.Headers[strings.ToLower(name)]; len(vs) > 0 {
				out[strings.ToLower(name)] = slices.Clone(vs)
			}
		}
		if x.r.Method != http.MethodGet && x.r.Method != http.MethodHead {
			// Requests with bodies need their framing and credentials.
			for _, name := range []string{"Content-Type", "Authorization"} {
				if vs := x.req.Headers[strings.ToLower(name)]; len(vs) > 0 {
					out[strings.ToLower(name)] = slices.Clone(vs)
				}
			}
		}
	}
	if _, ok := out["host"]; !ok {
		out.Set("Host", originHostHeader(o))
	}
	xff := clientIP(x.r.RemoteAddr)
	if prior := x.req.Headers.Get("X-Forwarded-For"); prior != "" {
		xff = prior + ", " + xff
	}
	out.Set("X-Forwarded-For", xff)
	out.Set("Via", "1.1 "+x.d.domain+" (sluice)")
	if _, ok := out["user-agent"]; !ok {
		out.Set("User-Agent", "Amazon CloudFront")
	}
	return out
}

func originHostHeader(o *origin) string {
	if o.s3 {
		return o.o.DomainName
	}
	host := o.o.DomainName
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return host
}

func clientIP(remoteAddr string) string {
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return h
	}
	return remoteAddr
}

// originEvent is cf.request.origin for an origin.
func originEvent(o *origin, region string) *awsevent.CloudFrontOrigin {
	ch := awsevent.CloudFrontHeaders{}
	for _, h := range o.o.CustomHeaders {
		ch.Add(h.Name, h.Value)
	}
	if o.s3 {
		auth := "none"
		if o.o.S3 != nil && o.o.S3.OriginAccessIdentity != "" {
			auth = "origin-access-identity"
		}
		return &awsevent.CloudFrontOrigin{S3: &awsevent.CloudFrontS3Origin{
			AuthMethod: auth, CustomHeaders: ch, DomainName: o.o.DomainName, Path: o.o.OriginPath, Region: o.region,
		}}
	}
	host, portStr, _ := net.SplitHostPort(o.host)
	port, _ := strconv.Atoi(portStr)
	c := o.o.Custom
	readTimeout, keepalive := c.OriginReadTimeout, c.OriginKeepaliveTimeout
	if readTimeout == 0 {
		readTimeout = 30
	}
	if keepalive == 0 {
		keepalive = 5
	}
	return &awsevent.CloudFrontOrigin{Custom: &awsevent.CloudFrontCustomOrigin{
		CustomHeaders: ch, DomainName: host, KeepaliveTimeout: keepalive, Path: o.o.OriginPath,
		Port: port, Protocol: o.scheme, ReadTimeout: readTimeout, SSLProtocols: []string{"TLSv1.2"},
	}}
}

// originFromEvent compiles the origin a function chose.
func originFromEvent(ev *awsevent.CloudFrontOrigin, region string) (*origin, string) {
	if s := ev.S3; s != nil {
		bucket, r, _ := parseS3Domain(s.DomainName)
		if r == "" {
			r = region
		}
		o := &origin{s3: true, bucket: bucket, region: r, o: originFromHeaders(s.DomainName, s.CustomHeaders)}
		return o, s.Path
	}
	c := ev.Custom
	o := &origin{scheme: c.Protocol, host: net.JoinHostPort(c.DomainName, strconv.Itoa(c.Port)),
		o: originFromHeaders(c.DomainName, c.CustomHeaders)}
	o.o.Custom = &sluice.CustomOriginConfig{OriginReadTimeout: c.ReadTimeout}
	return o, c.Path
}

// originFromHeaders is the sluice.Origin behind an origin a function named.
func originFromHeaders(domain string, h awsevent.CloudFrontHeaders) sluice.Origin {
	o := sluice.Origin{DomainName: domain}
	for name, vs := range h {
		for _, v := range vs {
			if v.Key != "" {
				name = v.Key
			}
			o.CustomHeaders = append(o.CustomHeaders, sluice.OriginHeader{Name: name, Value: v.Value})
		}
	}
	return o
}

// originRound runs the origin-request function and asks the origin. A
// response the function generated comes back with generated set.
func (x *exchange) originRound(ctx context.Context, method string, cond http.Header, body io.Reader, limit int64) (*originResponse, *awsevent.CloudFrontRequest, bool, error) {
	o := x.b.origin
	oreq := awsevent.CloudFrontRequest{
		ClientIP:    clientIP(x.r.RemoteAddr),
		Headers:     x.forwardedHeaders(o),
		Method:      method,
		QueryString: x.forwardedQuery(),
		URI:         x.req.URI,
		Origin:      originEvent(o, x.e.cfg.Region),
	}
	for k, vs := range cond {
		for _, v := range vs {
			oreq.Headers.Add(k, v)
		}
	}
	originPath := o.o.OriginPath
	if h := x.b.hooks[awsevent.EdgeOriginRequest]; h != nil {
		ev := oreq
		if h.includeBody {
			x.peekBody(awsevent.MaxOriginRequestBody)
			ev.Body = awsevent.NewCloudFrontBody(x.peeked, awsevent.EdgeOriginRequest)
		}
		cfg := x.cfg
		cfg.EventType = awsevent.EdgeOriginRequest
		res, err := x.e.runHook(ctx, h, awsevent.NewCloudFrontRequestEvent(cfg, ev), nil)
		if err != nil {
			return nil, nil, false, err
		}
		if res.response != nil {
			gh := res.response.Headers.HTTPHeader()
			return &originResponse{status: res.status, header: gh, body: res.body, size: int64(len(res.body))}, &oreq, true, nil
		}
		nr := res.request
		oreq.URI, oreq.QueryString, oreq.Headers = nr.URI, nr.QueryString, nr.Headers
		if nr.Origin != nil {
			oreq.Origin = nr.Origin
			o, originPath = originFromEvent(nr.Origin, x.e.cfg.Region)
		}
		if res.reqBodySet {
			body = bytes.NewReader(res.reqBody)
			x.replaced = true
		}
	}
	if body == nil && method != http.MethodGet && method != http.MethodHead {
		body = x.rest
	}
	hdr := oreq.Headers.HTTPHeader()
	if o.s3 {
		hdr.Del("Authorization")
	}
	hdr.Set("X-Amz-Cf-Id", x.cfg.RequestID)
	resp, err := x.e.fetch(ctx, &originRequest{
		origin: o, originPath: originPath, method: method, uri: oreq.URI, query: oreq.QueryString,
		header: hdr, body: body,
	}, limit)
	if err != nil {
		return nil, nil, false, err
	}
	return resp, &oreq, false, nil
}

// originResponseHook runs the origin-response function on resp, in place.
func (x *exchange) originResponseHook(ctx context.Context, h *hook, oreq *awsevent.CloudFrontRequest, resp *originResponse) error {
	if resp.stream != nil && x.e.native(h.name) != nil {
		resp.close()
		return &hookFailure{status: http.StatusBadGateway, kind: "LambdaValidationError",
			detail: fmt.Sprintf("the origin's body exceeds %d bytes, more than the built-in function %s reads", x.e.entryLimit(), h.name)}
	}
	eh := resp.header.Clone()
	if resp.size >= 0 {
		eh.Set("Content-Length", strconv.FormatInt(resp.size, 10))
	}
	cfg := x.cfg
	cfg.EventType = awsevent.EdgeOriginResponse
	ev := awsevent.NewCloudFrontResponseEvent(cfg, *oreq, awsevent.NewCloudFrontResponse(resp.status, eh))
	res, err := x.e.runHook(ctx, h, ev, resp.body)
	if err != nil {
		resp.close()
		return err
	}
	resp.status = res.status
	resp.header = res.response.Headers.HTTPHeader()
	resp.header.Del("Content-Length")
	if res.bodySet {
		resp.close()
		resp.stream, resp.body, resp.size = nil, res.body, int64(len(res.body))
	}
	return nil
}
