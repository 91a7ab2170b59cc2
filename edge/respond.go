package edge

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/awsevent"
	"github.com/sluicehq/sluice/cdncache"
)

// serveEntry sends a cached (or just fetched) response: Vary, the
// viewer-response function, the edge headers, then conditional and range
// handling for 200s.
//
// ref locates en's body in the cache's disk tier when en was read from the
// cache (the zero BodyRef otherwise): a large body is then sent from its file.
//
// The response header is built in place in x.w.Header(), sharing the
// entry's value slices: they are only ever replaced, never appended to in
// place (see addVary), since concurrent hits share them.
func (x *exchange) serveEntry(en *cdncache.Entry, ref cdncache.BodyRef, result string) {
	if en.Status >= 400 && x.customErrorPage(en.Status) {
		return
	}
	h := x.w.Header()
	for k, v := range en.Header {
		h[k] = v
	}
	if x.b.cb.Compress {
		if ct := en.Header["Content-Type"]; len(ct) > 0 && compressibleType(ct[0]) {
			addVary(h, "Accept-Encoding")
		}
	}
	if x.fmtKeyed {
		addVary(h, "Accept")
	}
	if result == resultHit || result == resultRefreshHit {
		now := x.start
		if x.hookRan {
			now = time.Now()
		}
		h["Age"] = []string{strconv.FormatInt(max(int64(now.Sub(en.Stored)/time.Second), 0), 10)}
	}
	if !x.viewerResponse(x.pageStatus(en.Status), h) {
		return
	}
	x.send(en.Status, en.Body, ref, result)
}

// send writes the status, the header built in x.w.Header() and a body
// held in memory and, with a non-zero ref, also in a file of the disk tier.
func (x *exchange) send(status int, body []byte, ref cdncache.BodyRef, result string) {
	wh := x.w.Header()
	delete(wh, "Content-Length")
	if x.pageCode != 0 {
		// A custom error page: its status replaces the page's own, and a
		// precondition or range of the viewer's was about another object.
		if status >= 200 && status < 300 {
			// CloudFront says Error even when ResponseCode is 200.
			status, result = x.pageStatus(status), resultError
			delete(wh, "Accept-Ranges")
		}
		x.sendWhole(status, body, result)
		return
	}
	x.stamp(wh, result)
	if status == http.StatusOK && (x.r.Method == http.MethodGet || x.r.Method == http.MethodHead) && !x.conditional() {
		// The common case, a plain GET: one write of the whole body, none
		// of ServeContent's per-request parsing and copy buffer.
		if _, ok := wh["Content-Type"]; !ok {
			wh["Content-Type"] = nil
		}
		wh["Accept-Ranges"] = []string{"bytes"}
		wh["Content-Length"] = []string{strconv.Itoa(len(body))}
		x.w.WriteHeader(status)
		if x.r.Method == http.MethodGet {
			x.writeBody(body, ref)
		}
		return
	}
	if status == http.StatusOK && (x.r.Method == http.MethodGet || x.r.Method == http.MethodHead) {
		if _, ok := wh["Content-Type"]; !ok {
			// ServeContent would sniff a type the origin never claimed.
			wh["Content-Type"] = nil
		}
		var modtime time.Time
		if t, err := http.ParseTime(wh.Get("Last-Modified")); err == nil {
			modtime = t
		}
		http.ServeContent(x.w, x.conditionalRequest(int64(len(body))), "", modtime, bytes.NewReader(body))
		return
	}
	x.sendWhole(status, body, result)
}

// sendWhole writes status, the header built in x.w.Header() and body, with
// no conditional or range handling.
func (x *exchange) sendWhole(status int, body []byte, result string) {
	wh := x.w.Header()
	x.stamp(wh, result)
	wh.Set("Content-Length", strconv.Itoa(len(body)))
	if !bodyAllowed(status) {
		wh.Del("Content-Length")
	}
	x.w.WriteHeader(status)
	if x.r.Method != http.MethodHead && bodyAllowed(status) {
		x.w.Write(body)
	}
}

// minFileBody is the smallest body sent from its file rather than from
// memory: below it, the descriptor's lseek and the extra read of net/http's
// first 512 bytes cost more than copying the body does.
const minFileBody = 32 << 10

// writeBody writes a whole 200 body: from its file with sendfile(2) when
// it is large and has one (the kernel copies it from the page cache, the
// way nginx serves static files), else from memory.
func (x *exchange) writeBody(body []byte, ref cdncache.BodyRef) {
	if len(body) < minFileBody || ref.Size() != int64(len(body)) {
		x.w.Write(body)
		return
	}
	bf, err := ref.Open()
	if err != nil {
		// Invalidated or evicted since the lookup: memory still has it.
		x.w.Write(body)
		return
	}
	if f, ok := x.sw.ResponseWriter.(http.Flusher); ok {
		// With the header already out, net/http hands the whole body to
		// sendfile instead of first reading and writing its first 512
		// bytes itself (it sniffs them for a Content-Type otherwise).
		f.Flush()
	}
	n, err := io.Copy(x.w, bf.Reader())
	bf.Close()
	if err == nil && n < int64(len(body)) {
		// The file came up short (it changed under us): the promised
		// Content-Length is met from memory.
		x.w.Write(body[n:])
	}
}

// conditional reports whether the request (as the viewer-request function
// left it) carries a precondition or a range: only those need ServeContent.
func (x *exchange) conditional() bool {
	for _, name := range conditionalHeaders {
		if x.reqBuilt && len(x.req.Headers[name[1]]) > 0 || !x.reqBuilt && len(x.r.Header[name[0]]) > 0 {
			return true
		}
	}
	return false
}

// conditionalHeaders are the request headers ServeContent acts on, as
// canonical and lower-case names.
var conditionalHeaders = [][2]string{
	{"Range", "range"}, {"If-None-Match", "if-none-match"}, {"If-Modified-Since", "if-modified-since"},
	{"If-Match", "if-match"}, {"If-Unmodified-Since", "if-unmodified-since"}, {"If-Range", "if-range"},
}

// conditionalRequest is the viewer's request with the headers as the
// viewer-request function left them, and with a Range CloudFront would not
// honour (descending, overlapping or invalid ranges) removed: CloudFront
// answers those with the whole object.
func (x *exchange) conditionalRequest(size int64) *http.Request {
	r := new(http.Request)
	*r = *x.r
	r.Header = x.request().Headers.HTTPHeader()
	if rg := r.Header.Get("Range"); rg != "" && !rangesValid(rg, size) {
		r.Header.Del("Range")
	}
	return r
}

// rangesValid checks a Range header the way CloudFront requires: every
// spec valid, in ascending order, none overlapping.
func rangesValid(h string, size int64) bool {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return false
	}
	last := int64(-1)
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		a, b, ok := strings.Cut(part, "-")
		if !ok {
			return false
		}
		var start, end int64
		switch {
		case a == "":
			n, err := strconv.ParseInt(b, 10, 64)
			if err != nil || n <= 0 {
				return false
			}
			start, end = max(size-n, 0), size-1
		default:
			s, err := strconv.ParseInt(a, 10, 64)
			if err != nil || s < 0 {
				return false
			}
			start, end = s, size-1
			if b != "" {
				e, err := strconv.ParseInt(b, 10, 64)
				if err != nil || e < s {
					return false
				}
				end = min(e, size-1)
			}
		}
		if start <= last {
			return false
		}
		last = max(end, start)
	}
	return true
}

// addVary adds name to Vary unless it is there. The existing values may be
// shared with a cached entry: they are copied, never appended to in place.
func addVary(h http.Header, name string) {
	vs := h["Vary"]
	for _, v := range vs {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); strings.EqualFold(f, name) || f == "*" {
				return
			}
		}
	}
	h["Vary"] = append(vs[:len(vs):len(vs)], name)
}

// viewerResponse runs the viewer-response function on h in place; false
// means it failed and the error page was sent. CloudFront skips it for
// responses of status 400 and above.
func (x *exchange) viewerResponse(status int, h http.Header) bool {
	hk := x.b.hooks[awsevent.EdgeViewerResponse]
	if hk == nil || status >= 400 {
		return true
	}
	eh := h.Clone()
	eh.Set("Via", "1.1 "+x.d.domain+" (sluice)")
	cfg := x.cfg
	cfg.EventType = awsevent.EdgeViewerResponse
	ev := awsevent.NewCloudFrontResponseEvent(cfg, *x.request(), awsevent.NewCloudFrontResponse(status, eh))
	ev.Records[0].CF.Response.Headers = exposedHeaders(ev.Records[0].CF.Response.Headers)
	res, err := x.e.runHook(x.r.Context(), hk, ev, nil)
	if err != nil {
		x.fail(err)
		return false
	}
	for k := range h {
		delete(h, k)
	}
	for k, v := range res.response.Headers.HTTPHeader() {
		h[k] = v
	}
	return true
}

// passThrough serves a request without the cache: methods that are not
// cached, behaviours forwarding every header, and objects too large to
// cache, which are streamed.
func (x *exchange) passThrough() {
	ctx := x.r.Context()
	method := x.req.Method
	resp, oreq, generated, err := x.originRound(ctx, method, nil, nil, x.e.entryLimit())
	if err != nil {
		x.fail(err)
		return
	}
	defer resp.close()
	if !generated {
		if h := x.b.hooks[awsevent.EdgeOriginResponse]; h != nil {
			if err := x.originResponseHook(ctx, h, oreq, resp); err != nil {
				x.fail(err)
				return
			}
		}
	}
	h := cleanHeader(resp.header)
	if resp.stream == nil {
		if method == http.MethodHead || method == http.MethodGet {
			x.serveEntry(&cdncache.Entry{Status: resp.status, Header: h, Body: resp.body, Stored: time.Now()}, cdncache.BodyRef{}, resultMiss)
			return
		}
		if resp.status >= 400 && x.customErrorPage(resp.status) {
			return
		}
		if !x.viewerResponse(resp.status, h) {
			return
		}
		wh := x.w.Header()
		for k, v := range h {
			wh[k] = v
		}
		wh.Set("Content-Length", strconv.Itoa(len(resp.body)))
		x.stamp(wh, resultMiss)
		x.w.WriteHeader(resp.status)
		x.w.Write(resp.body)
		return
	}
	if resp.status >= 400 && x.customErrorPage(resp.status) {
		return
	}
	if x.fmtKeyed {
		addVary(h, "Accept")
	}
	if !x.viewerResponse(resp.status, h) {
		return
	}
	wh := x.w.Header()
	for k, v := range h {
		wh[k] = v
	}
	if resp.size >= 0 {
		wh.Set("Content-Length", strconv.FormatInt(resp.size, 10))
	}
	x.stamp(wh, resultMiss)
	x.w.WriteHeader(resp.status)
	if x.r.Method != http.MethodHead && bodyAllowed(resp.status) {
		if _, err := io.Copy(x.w, resp.stream); err != nil {
			x.errDetail = err
		}
	}
}
