package edge

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/awsevent"
	"github.com/sluicehq/sluice/cdncache"
	"github.com/sluicehq/sluice/imageopts"
)

// Connection states, for closing idle connections on shutdown.
const (
	stateActive int32 = iota
	stateIdle         // waiting for a request, nothing of it read
	stateClosed
)

// idleSlack is how stale an idle deadline may be before it is set again:
// resetting it after every request would cost a timer update per request,
// so the idle timeout holds to within this much.
const idleSlack = time.Second

// laneInlineBody is the largest body copied behind the head into one
// write; larger ones go out with writev or sendfile.
const laneInlineBody = 16 << 10

// rstAvoidanceDelay is how long a closing connection waits for the client
// to read its last response before the close, as net/http does.
const rstAvoidanceDelay = 500 * time.Millisecond

// laneConn is one connection the fast lane serves.
type laneConn struct {
	l   *FastLane
	nc  net.Conn
	tcp *net.TCPConn // nil for other kinds of connection
	raw syscall.RawConn
	// more is the function raw.Write runs to write pending with MSG_MORE,
	// made once per connection; moreErr is its error.
	more    func(fd uintptr) bool
	pending []byte
	moreErr error
	state   atomic.Int32

	buf  []byte // read buffer; buf[r:w] is read and not yet consumed
	r, w int
	out  []byte // the response head being built
	kvs  []laneKV
	iov  net.Buffers
	iovs [2][]byte
	id   [56]byte // the request id, base64 of 40 random bytes

	idleUntil time.Time // the deadline of the last idle wait; zero when a head deadline was set since
	headStart time.Time // when the current head's second read began
	last      time.Time // when the last request was taken up
}

// laneKV is one response header field.
type laneKV struct {
	key    string
	values []string
}

func (c *laneConn) serve() {
	c.buf = make([]byte, 4<<10)
	for {
		if c.r == c.w {
			c.r, c.w = 0, 0
		}
		n := headEnd(c.buf[c.r:c.w])
		if n < 0 {
			ok, handOff := c.fill()
			if handOff {
				c.handOff()
				return
			}
			if !ok {
				c.close()
				return
			}
			continue
		}
		served, keep := c.serveOne(c.buf[c.r : c.r+n])
		if !served {
			c.handOff()
			return
		}
		c.r += n
		c.headStart = time.Time{}
		if !keep {
			c.closeGracefully()
			return
		}
		if c.l.closing.Load() {
			c.close()
			return
		}
	}
}

func (c *laneConn) close() {
	c.l.forget(c)
	c.nc.Close()
}

// closeGracefully closes after a response that said so: it half-closes,
// then gives the client a moment to read before the close, so that a
// request it pipelined does not turn the close into a reset that could
// destroy the response.
func (c *laneConn) closeGracefully() {
	c.l.forget(c)
	if c.tcp != nil {
		c.tcp.CloseWrite()
		c.tcp.SetReadDeadline(time.Now().Add(rstAvoidanceDelay))
		io.Copy(io.Discard, c.tcp)
	}
	c.nc.Close()
}

func (c *laneConn) handOff() {
	c.l.forget(c)
	c.l.handOff(c.nc, c.buf[c.r:c.w])
}

// fill reads more of a request head. ok false means the connection is
// done (closed, timed out, shut down); handOff that the head is too large
// for the fast lane.
func (c *laneConn) fill() (ok, handOff bool) {
	if c.w == len(c.buf) {
		switch {
		case c.r > 0:
			c.w = copy(c.buf, c.buf[c.r:c.w])
			c.r = 0
		case len(c.buf) < c.l.cfg.MaxHeadBytes:
			nb := make([]byte, min(2*len(c.buf), c.l.cfg.MaxHeadBytes))
			c.w = copy(nb, c.buf[c.r:c.w])
			c.r, c.buf = 0, nb
		default:
			return false, true
		}
	}
	idle := c.r == c.w
	if idle {
		c.state.Store(stateIdle)
		if c.l.closing.Load() && c.state.CompareAndSwap(stateIdle, stateClosed) {
			return false, false
		}
		now := c.last
		if now.IsZero() {
			now = time.Now()
		}
		if until := now.Add(c.l.cfg.IdleTimeout); c.idleUntil.IsZero() || until.Sub(c.idleUntil) > idleSlack {
			c.idleUntil = until
			c.nc.SetReadDeadline(until)
		}
	} else if c.headStart.IsZero() {
		// A head in pieces: from now on it has ReadHeaderTimeout, so that
		// a client trickling bytes cannot hold the connection.
		c.headStart = time.Now()
		c.idleUntil = time.Time{}
		c.nc.SetReadDeadline(c.headStart.Add(c.l.cfg.ReadHeaderTimeout))
	}
	n, err := c.nc.Read(c.buf[c.w:])
	if idle && !c.state.CompareAndSwap(stateIdle, stateActive) {
		return false, false
	}
	c.w += n
	if err != nil {
		if n > 0 && c.w-c.r > 0 {
			// Bytes with an error (rare): let net/http make sense of them.
			return false, true
		}
		return false, false
	}
	return true, false
}

// laneHit is a cached response the fast lane may send.
type laneHit struct {
	d        *distribution
	b        *behavior
	en       *cdncache.Entry
	ref      cdncache.BodyRef
	fmtKeyed bool
	// found are the cache lookups made, counted in the cache's
	// statistics only when the lane answers: after a hand-off, ServeHTTP
	// looks the same keys up again and counts them.
	found [2]cdncache.Found
	peeks int
}

// lookupHit finds what ServeHTTP would answer rq with when that is a
// fresh cached 200 that no function touches; ok is false otherwise. It
// follows ServeHTTP and serveCached step for step.
func (e *Edge) lookupHit(rq *laneRequest, now time.Time) (h laneHit, ok bool) {
	d, matched := e.table.Load().lookup(rq.host)
	if d == nil || matched && !d.d.Config.Enabled {
		return h, false
	}
	uri := rq.path
	if uri == "/" && d.d.Config.DefaultRootObject != "" {
		uri = (&url.URL{Path: "/" + strings.TrimPrefix(d.d.Config.DefaultRootObject, "/")}).EscapedPath()
	}
	path := unescapePath(uri)
	b := d.behaviorFor(path)
	method := http.MethodGet
	if rq.head {
		method = http.MethodHead
	}
	if !slices.Contains(b.allowed, method) || !slices.Contains(b.cached, method) || b.allHeaders || len(b.headers) > 0 ||
		b.hooks[awsevent.EdgeViewerRequest] != nil || b.hooks[awsevent.EdgeViewerResponse] != nil {
		return h, false
	}
	h.d, h.b = d, b
	var variant string
	if b.cb.QueryString {
		q := keyQuery(rq.query, b.queryKeys)
		var format string
		if vs, ok := q["format"]; ok && slices.Contains(vs, "auto") {
			h.fmtKeyed = true
			format = imageopts.Negotiate(rq.accept)
		}
		variant = "q=" + canonicalQuery(q)
		if h.fmtKeyed {
			variant += "|fmt=" + format
		}
	}
	var enc string
	if b.cb.Compress {
		enc = acceptedEncoding(rq.acceptEncoding)
	}
	if enc != "" {
		k := cdncache.Key{Scope: d.id, Path: path, Variant: variant + "|enc=" + enc}
		ce, ref, f := e.cache.Peek(k)
		h.found[h.peeks], h.peeks = f, h.peeks+1
		if f != cdncache.NotFound && now.Before(ce.Expires) {
			h.en, h.ref = ce, ref
			return h, laneServable(ce)
		}
	}
	ie, ref, f := e.cache.Peek(cdncache.Key{Scope: d.id, Path: path, Variant: variant})
	h.found[h.peeks], h.peeks = f, h.peeks+1
	if f == cdncache.NotFound || !now.Before(ie.Expires) {
		return h, false
	}
	if enc != "" {
		x := exchange{e: e}
		if x.compressible(ie) {
			// The encoded variant is missing or stale: ServeHTTP makes it.
			return h, false
		}
	}
	h.en, h.ref = ie, ref
	return h, laneServable(ie)
}

// laneServable reports whether a cached entry is one the fast lane sends:
// a 200 without header fields that change how net/http frames it.
func laneServable(en *cdncache.Entry) bool {
	if en.Status != http.StatusOK {
		return false
	}
	for _, k := range []string{"Connection", "Transfer-Encoding", "Trailer", "Date"} {
		if _, ok := en.Header[k]; ok {
			return false
		}
	}
	return true
}

// serveOne answers the request whose head is head, when it is a plain
// cache hit; served false means nothing was written and the connection
// goes to net/http. keep false means the connection closes.
func (c *laneConn) serveOne(head []byte) (served, keep bool) {
	rq, ok := parseHead(string(head))
	if !ok {
		return false, false
	}
	for _, p := range c.l.cfg.Reserved {
		// Unescaped, as a handler in front of the edge sees r.URL.Path.
		if strings.HasPrefix(unescapePath(rq.path), p) {
			return false, false
		}
	}
	start := time.Now()
	e := c.l.e
	h, ok := e.lookupHit(&rq, start)
	if !ok {
		return false, false
	}
	c.last = start
	keep = !rq.close && (!rq.http10 || rq.keepAlive)
	out := c.appendHead(c.out[:0], &rq, &h, start, keep)
	c.out = out
	c.l.served.Add(1) // before the answer, so that a client that has it sees the count
	for _, f := range h.found[:h.peeks] {
		e.cache.CountPeek(f)
	}
	var sent int64
	var err error
	if rq.head {
		_, err = c.nc.Write(out)
	} else {
		sent, err = c.writeWithBody(out, h.en.Body, h.ref)
	}
	e.m.countRequest(resultHit)
	if e.log.Enabled(context.Background(), slog.LevelDebug) {
		method := http.MethodGet
		if rq.head {
			method = http.MethodHead
		}
		e.log.Debug("edge: request", "request_id", string(c.id[:]), "method", method, "host", rq.host, "uri", rq.target,
			"status", http.StatusOK, "result", resultHit, "bytes", sent, "dur", time.Since(start), "distribution", h.d.id)
	}
	if err != nil {
		return true, false
	}
	return true, keep
}

// appendHead appends the status line and header ServeHTTP sends for h, in
// net/http's order: the handler's fields sorted, then Date and Connection.
func (c *laneConn) appendHead(out []byte, rq *laneRequest, h *laneHit, now time.Time, keep bool) []byte {
	en := h.en
	if rq.http10 {
		out = append(out, "HTTP/1.0 200 OK\r\n"...)
	} else {
		out = append(out, "HTTP/1.1 200 OK\r\n"...)
	}
	c.newRequestID()
	kvs := c.kvs[:0]
	for k, vs := range en.Header {
		switch k {
		case "Content-Length", "Age", "X-Cache", "Via", "X-Amz-Cf-Pop", "X-Amz-Cf-Id", "Accept-Ranges", "Vary":
			continue
		}
		kvs = append(kvs, laneKV{k, vs})
	}
	vary := en.Header["Vary"]
	if h.b.cb.Compress {
		if ct := en.Header["Content-Type"]; len(ct) > 0 && compressibleType(ct[0]) {
			vary = withVary(vary, "Accept-Encoding")
		}
	}
	if h.fmtKeyed {
		vary = withVary(vary, "Accept")
	}
	if len(vary) > 0 {
		kvs = append(kvs, laneKV{"Vary", vary})
	}
	kvs = append(kvs,
		laneKV{"Age", nil}, laneKV{"X-Cache", xCacheValues[resultHit]}, laneKV{"Via", h.d.via},
		laneKV{"X-Amz-Cf-Pop", popValue}, laneKV{"X-Amz-Cf-Id", nil},
		laneKV{"Accept-Ranges", acceptRangesValue}, laneKV{"Content-Length", nil})
	// Insertion sort: a dozen fields, no closure calls.
	for i := 1; i < len(kvs); i++ {
		for j := i; j > 0 && kvs[j].key < kvs[j-1].key; j-- {
			kvs[j], kvs[j-1] = kvs[j-1], kvs[j]
		}
	}
	c.kvs = kvs
	for _, kv := range kvs {
		switch kv.key {
		case "Age":
			out = append(out, "Age: "...)
			out = strconv.AppendInt(out, max(int64(now.Sub(en.Stored)/time.Second), 0), 10)
			out = append(out, "\r\n"...)
			continue
		case "X-Amz-Cf-Id":
			out = append(out, "X-Amz-Cf-Id: "...)
			out = append(out, c.id[:]...)
			out = append(out, "\r\n"...)
			continue
		case "Content-Length":
			out = append(out, "Content-Length: "...)
			out = strconv.AppendInt(out, int64(len(en.Body)), 10)
			out = append(out, "\r\n"...)
			continue
		}
		if kv.key == "" || !validFieldName(kv.key) {
			// net/http drops what it cannot write.
			continue
		}
		for _, v := range kv.values {
			if hasLineBreak(v) {
				v = strings.Map(func(r rune) rune {
					if r == '\r' || r == '\n' {
						return ' '
					}
					return r
				}, v)
			}
			out = append(out, kv.key...)
			out = append(out, ": "...)
			out = append(out, trimOWS(v)...)
			out = append(out, "\r\n"...)
		}
	}
	out = append(out, "Date: "...)
	out = c.l.appendDate(out, now)
	out = append(out, "\r\n"...)
	switch {
	case rq.http10 && keep:
		out = append(out, "Connection: keep-alive\r\n"...)
	case !rq.http10 && !keep:
		out = append(out, "Connection: close\r\n"...)
	}
	return append(out, "\r\n"...)
}

var acceptRangesValue = []string{"bytes"}

func hasLineBreak(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] == '\r' || v[i] == '\n' {
			return true
		}
	}
	return false
}

// withVary is vs with name added unless it is there (or "*" is). vs may
// be shared with a cached entry: it is copied, never appended to in place.
func withVary(vs []string, name string) []string {
	for _, v := range vs {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); strings.EqualFold(f, name) || f == "*" {
				return vs
			}
		}
	}
	return append(vs[:len(vs):len(vs)], name)
}

// newRequestID makes c.id a new X-Amz-Cf-Id, as newRequestID does but
// without allocating.
func (c *laneConn) newRequestID() {
	var raw [40]byte
	for i := 0; i < len(raw); i += 8 {
		binary.LittleEndian.PutUint64(raw[i:], rand.Uint64())
	}
	base64.URLEncoding.Encode(c.id[:], raw[:])
}

// writeWithBody writes head and a 200's body: from the cache's file with
// sendfile(2) when writeBody would, the head riding in the same packets;
// else from memory in one write (small bodies) or one writev. It returns
// the body bytes sent.
func (c *laneConn) writeWithBody(head, body []byte, ref cdncache.BodyRef) (int64, error) {
	if len(body) >= minFileBody && ref.Size() == int64(len(body)) && c.tcp != nil {
		if bf, err := ref.Open(); err == nil {
			err := c.writeMore(head)
			var n int64
			if err == nil {
				n, err = c.tcp.ReadFrom(bf.Reader())
			}
			bf.Close()
			if err == nil && n < int64(len(body)) {
				// The file came up short (it changed under us): the
				// promised Content-Length is met from memory.
				var m int
				m, err = c.nc.Write(body[n:])
				n += int64(m)
			}
			return n, err
		}
	}
	if len(body) <= laneInlineBody {
		c.out = append(head, body...)
		_, err := c.nc.Write(c.out)
		return int64(len(body)), err
	}
	c.iovs = [2][]byte{head, body}
	c.iov = c.iovs[:]
	n, err := c.iov.WriteTo(c.nc)
	c.iovs = [2][]byte{}
	return max(n-int64(len(head)), 0), err
}
