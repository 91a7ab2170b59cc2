package notify

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// hookClient POSTs webhook deliveries to plain-http receivers that no
// proxy stands in front of, over kept-alive connections, without
// net/http's per-request machinery (a request value, a writer and a
// reader goroutine per connection and the hand-offs between them), which
// cost more CPU than the event itself. Everything else (https, proxies)
// goes through net/http.
//
// It speaks the small part of HTTP/1.1 a delivery needs: one request with
// a Content-Length body; a response whose status decides the outcome and
// whose body (Content-Length, chunked or up to the close) is read and
// dropped, 1xx responses skipped. Redirects are not followed, as the
// net/http path does not follow them either: a 3xx is a failed attempt.
//
// A connection that was reused and failed before any byte of a response
// came back is retried once on a new one: the receiver closed it while
// idle. The delivery may then arrive twice, which at-least-once allows.
//
// Several requests to a receiver that answers quickly may share one
// write: postPipelined sends them pipelined (RFC 9112 9.3.2).
//
// Concurrency: safe for concurrent use; a connection serves one request,
// or one pipeline, at a time.
type hookClient struct {
	timeout time.Duration
	dialer  net.Dialer
	maxIdle int

	mu   sync.Mutex
	idle map[string][]*hookConn // by host:port, most recent last
}

type hookConn struct {
	net.Conn
	br *bufio.Reader
	// idleSince is when the connection was last put back.
	idleSince time.Time
	// ctx is the context of the connection's last round trip; its end
	// cuts the connection's I/O short, through the AfterFunc stop
	// unregisters. Registered once per context, not per round trip: that
	// costs as much as a small request.
	ctx  context.Context
	stop func() bool
}

// watch makes the end of ctx cut c's I/O short. It reports false when c
// was cut by an earlier context, which ended: c cannot be trusted.
func (c *hookConn) watch(ctx context.Context) bool {
	if c.ctx == ctx {
		return true
	}
	if c.stop != nil && !c.stop() {
		return false
	}
	c.ctx, c.stop = ctx, context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	return true
}

// Close closes the connection and forgets its context.
func (c *hookConn) Close() error {
	if c.stop != nil {
		c.stop()
	}
	return c.Conn.Close()
}

// maxIdleTime is how long an idle connection may wait for its next
// request, as net/http's IdleConnTimeout in the other path.
const maxIdleTime = 90 * time.Second

// maxDrain bounds the response body read to keep a connection: a longer
// body closes the connection instead.
const maxDrain = 64 << 10

func newHookClient(timeout time.Duration, maxIdle int) *hookClient {
	return &hookClient{
		timeout: timeout,
		dialer:  net.Dialer{Timeout: min(timeout, 5*time.Second), KeepAlive: 30 * time.Second},
		maxIdle: maxIdle,
		idle:    map[string][]*hookConn{},
	}
}

// hookTarget is a webhook URL prepared for hookClient.
type hookTarget struct {
	hostPort string // dial address
	head     []byte // request line and Host header
}

// hookTargetOf prepares rawURL for hookClient, or reports false when it
// must go through net/http: not plain http, or a proxy is configured
// for it.
func hookTargetOf(rawURL string) (hookTarget, bool) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil {
		return hookTarget{}, false
	}
	if p, err := http.ProxyFromEnvironment(&http.Request{URL: u}); err != nil || p != nil {
		return hookTarget{}, false
	}
	hostPort := u.Host
	if u.Port() == "" {
		hostPort = net.JoinHostPort(u.Hostname(), "80")
	}
	path := u.RequestURI()
	var head []byte
	head = append(head, "POST "...)
	head = append(head, path...)
	head = append(head, " HTTP/1.1\r\nHost: "...)
	head = append(head, u.Host...)
	head = append(head, "\r\n"...)
	return hookTarget{hostPort: hostPort, head: head}, true
}

// request returns the whole request that carries body to t with the
// given header lines ("Name: value\r\n" each).
func (t hookTarget) request(headers, body []byte) []byte {
	req := make([]byte, 0, len(t.head)+len(headers)+64+len(body))
	req = append(req, t.head...)
	req = append(req, headers...)
	return appendBody(req, body)
}

// appendBody ends the request head in req with body's Content-Length and
// appends body.
func appendBody(req, body []byte) []byte {
	req = append(req, "Content-Length: "...)
	req = strconv.AppendInt(req, int64(len(body)), 10)
	req = append(req, "\r\n\r\n"...)
	return append(req, body...)
}

// post sends body to t with the given header lines ("Name: value\r\n"
// each) and returns the response status code.
func (h *hookClient) post(ctx context.Context, t hookTarget, headers, body []byte) (int, error) {
	return h.send(ctx, t, t.request(headers, body))
}

// send sends the request req to t and returns the response status code.
func (h *hookClient) send(ctx context.Context, t hookTarget, req []byte) (int, error) {
	var status [1]int
	_, err := h.pipeline(ctx, t, [][]byte{req}, status[:])
	return status[0], err
}

// postPipelined sends reqs to t pipelined on one connection: written at
// once, answered in order, which saves a write and a read per request
// over sending them one by one. It fills status and errs per request. A
// receiver that closes the connection after an answer (as one that does
// not keep connections alive must, RFC 9112 9.6) has not processed the
// requests after it: those are sent again one by one on new connections.
// cut reports that the receiver answered some of the pipeline but not all
// of it, so that the caller stops pipelining to it: it closed the
// connection, or it failed after answering (a receiver that mishandles
// pipelined requests may drop them and time out).
func (h *hookClient) postPipelined(ctx context.Context, t hookTarget, reqs [][]byte, status []int, errs []error) (cut bool) {
	answered, err := h.pipeline(ctx, t, reqs, status)
	for i := range answered {
		errs[i] = nil
	}
	if err != nil {
		// The connection failed: the receiver may have taken the
		// requests it did not answer, so they are failed attempts, to be
		// retried, never sent again at once.
		for i := answered; i < len(reqs); i++ {
			errs[i] = err
		}
		return answered > 0 && ctx.Err() == nil
	}
	for i := answered; i < len(reqs); i++ {
		cut = true
		status[i], errs[i] = h.send(ctx, t, reqs[i])
	}
	return cut
}

// pipeline writes reqs on a connection to t and reads their responses
// into status until one says the connection closes; it returns how many
// were answered. A reused connection that fails before any byte of a
// response came back is replaced by a new one once: the receiver closed
// it while idle. The requests may then arrive twice, which at-least-once
// allows.
func (h *hookClient) pipeline(ctx context.Context, t hookTarget, reqs [][]byte, status []int) (int, error) {
	c, reused := h.get(t.hostPort)
	for {
		if c == nil {
			var err error
			if c, err = h.dial(ctx, t.hostPort); err != nil {
				return 0, err
			}
		}
		answered, keep, began, err := h.roundTrip(ctx, c, reqs, status)
		if err == nil {
			if keep {
				h.put(t.hostPort, c)
			} else {
				c.Close()
			}
			return answered, nil
		}
		c.Close()
		if !reused || began || ctx.Err() != nil {
			return answered, err
		}
		c, reused = nil, false
	}
}

// roundTrip writes reqs on c in one go and reads their responses in
// order, until one says the connection closes. began reports whether any
// byte of a response arrived; keep whether c may serve another request.
func (h *hookClient) roundTrip(ctx context.Context, c *hookConn, reqs [][]byte, status []int) (answered int, keep, began bool, err error) {
	deadline := time.Now().Add(h.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if !c.watch(ctx) {
		return 0, false, false, errCut
	}
	if err := c.SetDeadline(deadline); err != nil {
		return 0, false, false, err
	}
	// Checked after setting the deadline: a context ending from here on
	// sets its past deadline after ours.
	if err := ctx.Err(); err != nil {
		return 0, false, false, err
	}
	var err2 error
	if len(reqs) == 1 {
		_, err2 = c.Write(reqs[0])
	} else {
		// One writev on the connection itself (hookConn does not pass
		// it on); WriteTo consumes the slice it writes, and the
		// caller's reqs may be sent again.
		bufs := append(net.Buffers(nil), reqs...)
		_, err2 = bufs.WriteTo(c.Conn)
	}
	if err2 != nil {
		return 0, false, false, ctxErr(ctx, err2)
	}
	written := time.Now()
	if _, err := c.br.Peek(1); err != nil {
		return 0, false, false, ctxErr(ctx, err)
	}
	first := time.Since(written)
	for answered < len(reqs) {
		if answered > 0 && c.br.Buffered() == 0 {
			// A receiver answers pipelined requests one after another,
			// and reading each answer as it comes costs a wake-up and a
			// read or two apiece. Letting the rest pile up for a while
			// (3/4 of what the first took, per answer: it also paid the
			// receiver's wake-up) reads them a few at a time.
			wait := min(first*time.Duration(len(reqs)-answered)*3/4, maxAnswerWait)
			if wait >= minAnswerWait && !sleep(ctx, wait) {
				return answered, false, true, ctx.Err()
			}
		}
		st, k, err := readResponse(c.br)
		if err != nil {
			return answered, false, true, ctxErr(ctx, err)
		}
		status[answered] = st
		answered++
		if !k {
			return answered, false, true, nil
		}
	}
	// A context that ended may still be setting a past deadline: then the
	// connection cannot be trusted with another request.
	return answered, ctx.Err() == nil, true, nil
}

// Bounds of the wait for more pipelined answers: below minAnswerWait a
// timer costs as much as the wake-ups it saves; maxAnswerWait bounds how
// long finished deliveries may wait to be settled.
const (
	minAnswerWait = 20 * time.Microsecond
	maxAnswerWait = time.Millisecond
)

// errCut is a reused connection's failure when the end of an earlier
// context cut its I/O short.
var errCut = errors.New("connection cut by an ended context")

// ctxErr prefers the context's error to the deadline error it caused.
func ctxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (h *hookClient) dial(ctx context.Context, hostPort string) (*hookConn, error) {
	c, err := h.dialer.DialContext(ctx, "tcp", hostPort)
	if err != nil {
		return nil, err
	}
	return &hookConn{Conn: c, br: bufio.NewReaderSize(c, 4096)}, nil
}

// get returns the most recently used idle connection to hostPort, closing
// those idle too long.
func (h *hookClient) get(hostPort string) (*hookConn, bool) {
	var stale []*hookConn
	defer func() {
		for _, c := range stale {
			c.Close()
		}
	}()
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := h.idle[hostPort]
	if len(cs) == 0 {
		return nil, false
	}
	c := cs[len(cs)-1]
	if time.Since(c.idleSince) > maxIdleTime {
		// The others went idle earlier still.
		stale = cs
		delete(h.idle, hostPort)
		return nil, false
	}
	cs[len(cs)-1] = nil
	h.idle[hostPort] = cs[:len(cs)-1]
	return c, true
}

func (h *hookClient) put(hostPort string, c *hookConn) {
	c.idleSince = time.Now()
	h.mu.Lock()
	if len(h.idle[hostPort]) < h.maxIdle {
		h.idle[hostPort] = append(h.idle[hostPort], c)
		c = nil
	}
	h.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// closeIdle closes every idle connection.
func (h *hookClient) closeIdle() {
	h.mu.Lock()
	idle := h.idle
	h.idle = map[string][]*hookConn{}
	h.mu.Unlock()
	for _, cs := range idle {
		for _, c := range cs {
			c.Close()
		}
	}
}

var (
	errResponse = errors.New("malformed HTTP response")
	errTooLong  = errors.New("HTTP response head too long")
)

// maxHeadBytes bounds a response's status line and headers.
const maxHeadBytes = 64 << 10

// readResponse reads one final response from br, skipping 1xx ones, and
// drops its body. keep reports whether the connection can carry another
// request: HTTP/1.1, no "Connection: close", a body read to its end.
func readResponse(br *bufio.Reader) (status int, keep bool, err error) {
	for {
		var h responseHead
		if h, err = readResponseHead(br); err != nil {
			return 0, false, err
		}
		if h.status >= 100 && h.status < 200 && h.status != http.StatusSwitchingProtocols {
			continue
		}
		keep = h.keepAlive
		switch {
		case h.status == http.StatusSwitchingProtocols:
			keep = false
		case h.status == http.StatusNoContent || h.status == http.StatusNotModified:
		case h.chunked:
			ok, err := drainChunked(br)
			if err != nil {
				return 0, false, err
			}
			keep = keep && ok
		case h.length >= 0:
			if h.length > maxDrain {
				keep = false
			} else if _, err := br.Discard(int(h.length)); err != nil {
				return 0, false, fmt.Errorf("read response body: %w", err)
			}
		default:
			// Delimited by the close: the status is all that matters.
			keep = false
		}
		return h.status, keep, nil
	}
}

type responseHead struct {
	status    int
	keepAlive bool
	chunked   bool
	length    int64 // -1: none given
}

// readResponseHead parses a status line and header block.
func readResponseHead(br *bufio.Reader) (responseHead, error) {
	h := responseHead{length: -1}
	line, err := readLine(br, maxHeadBytes)
	if err != nil {
		return h, err
	}
	total := len(line)
	proto, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(rest) < 3 || (len(rest) > 3 && rest[3] != ' ') {
		return h, errResponse
	}
	// proto points into br's buffer, which the header lines may refill.
	http10 := false
	switch string(proto) {
	case "HTTP/1.1":
		h.keepAlive = true
	case "HTTP/1.0":
		http10 = true
	default:
		return h, errResponse
	}
	code := rest[:3]
	for _, c := range code {
		if c < '0' || c > '9' {
			return h, errResponse
		}
	}
	h.status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	if h.status < 100 {
		return h, errResponse
	}
	for {
		line, err := readLine(br, maxHeadBytes-total)
		if err != nil {
			return h, err
		}
		total += len(line) + 2
		if len(line) == 0 {
			return h, nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !validHeader(name, value) {
			return h, errResponse
		}
		value = bytes.Trim(value, " \t")
		switch {
		case asciiEqualFold(name, "Content-Length"):
			n, err := strconv.ParseUint(string(value), 10, 63)
			if err != nil || (h.length >= 0 && int64(n) != h.length) {
				return h, errResponse
			}
			h.length = int64(n)
		case asciiEqualFold(name, "Transfer-Encoding"):
			if !asciiEqualFold(value, "chunked") {
				return h, errResponse
			}
			h.chunked = true
		case asciiEqualFold(name, "Connection"):
			for _, tok := range bytes.Split(value, []byte(",")) {
				tok = bytes.Trim(tok, " \t")
				if asciiEqualFold(tok, "close") {
					h.keepAlive = false
				}
				if asciiEqualFold(tok, "keep-alive") && !h.keepAlive && http10 {
					h.keepAlive = true
				}
			}
		}
	}
}

// drainChunked reads a chunked body to its end, or up to maxDrain bytes;
// ok reports whether it reached the end.
//
// It is as strict as net/http's chunked reader, so that a connection is
// never kept after a body net/http would refuse: chunk lines end in CRLF
// (a bare LF ends header lines only, RFC 9112 erratum 7633), each chunk's
// data is followed by exactly CRLF, and chunk headers may carry no more
// than 16 KiB of overhead beyond 16 bytes plus twice their data each.
func drainChunked(br *bufio.Reader) (ok bool, err error) {
	read := 0
	excess := 0
	for {
		line, err := readRawLine(br, 4096)
		if err != nil {
			return false, err
		}
		if i := bytes.IndexByte(line, '\r'); i < 0 || i != len(line)-2 {
			return false, errResponse // a bare LF, or a CR inside
		}
		line = line[:len(line)-2]
		if len(line) >= 4096 {
			return false, errTooLong
		}
		excess += len(line) + 2
		line = bytes.TrimRight(line, " \t")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, ok := chunkSize(line)
		if !ok {
			return false, errResponse
		}
		excess = max(excess-16-2*int(min(n, maxDrain)), 0)
		if excess > 16<<10 {
			return false, errResponse
		}
		if n == 0 {
			// No trailers, as net/http expects in the common case: the
			// body ends with CRLF here. A receiver that sends trailers
			// (rare) has its connection closed rather than having them
			// parsed as strictly as net/http does.
			end, err := br.Peek(2)
			if string(end) == "\r\n" {
				_, err = br.Discard(2)
				return err == nil, err
			}
			if len(end) < 2 {
				return false, io.ErrUnexpectedEOF
			}
			return false, nil
		}
		if n > maxDrain || read+int(n) > maxDrain {
			return false, nil
		}
		read += int(n)
		if _, err := br.Discard(int(n)); err != nil {
			return false, err
		}
		var crlf [2]byte
		if _, err := io.ReadFull(br, crlf[:]); err != nil || crlf != [2]byte{'\r', '\n'} {
			return false, errResponse
		}
	}
}

// chunkSize parses a chunk header's hexadecimal size, at most 16 digits.
func chunkSize(v []byte) (uint64, bool) {
	if len(v) == 0 || len(v) > 16 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		n = n<<4 | uint64(c)
	}
	return n, true
}

// readLine returns the next line without its CRLF (or bare LF), at most
// limit bytes long. The line is valid until the next read from br.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	line, err := readRawLine(br, limit)
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readRawLine is readLine keeping the line's end: its LF, and the CR
// before it if there is one.
func readRawLine(br *bufio.Reader, limit int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// Longer than the buffer: gather it.
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull && len(long) <= limit+2 {
			line, err = br.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if len(line) > limit+2 {
		return nil, errTooLong
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return line, nil
}

// validHeader applies net/http's rules: a name of token characters, a
// value without control characters other than tab.
func validHeader(name, value []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), c) >= 0 {
			return false
		}
	}
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
