package main

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/notify"
)

// receiver is the webhook target: a minimal HTTP/1.1 server on a loopback
// port that records, per object key, when its first event record arrived.
//
// It is not net/http on purpose. It shares the machine's two cores with
// the server it measures, and net/http, a full JSON decode and a fresh
// HMAC key per request cost it 70–90 µs of CPU per record: more than
// Sluice's delivery path, so the PUT/s ratio measured the receiver. This
// one reads keep-alive and pipelined requests from a buffer, answers a
// pipeline's requests in one write, checks every signature with an HMAC
// keyed once per connection, and finds the records' buckets and keys in
// a body json.Valid accepted, without decoding it.
type receiver struct {
	secret string
	ln     net.Listener

	connMu sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool

	mu       sync.Mutex
	arrived  map[string]time.Time // bucket/key -> first arrival
	records  int                  // every record received, duplicates included
	dups     int
	badSig   int
	badBody  int
	lastSeen time.Time
	// posts and perBucket count, by bucket of the first record, the POSTs
	// and the records they carried; most is the largest POST by records.
	posts, perBucket, most map[string]int
}

// Receiver limits: a request head line and the body.
const (
	maxHeadLine = 8 << 10
	maxHookBody = 1 << 20
)

func newReceiver(secret string) *receiver {
	return &receiver{secret: secret, arrived: map[string]time.Time{}, conns: map[net.Conn]struct{}{},
		posts: map[string]int{}, perBucket: map[string]int{}, most: map[string]int{}}
}

func startReceiver(secret string) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("webhook receiver: %w", err)
	}
	r := newReceiver(secret)
	r.ln = ln
	go r.serve()
	return r, nil
}

func (r *receiver) url() string { return "http://" + r.ln.Addr().String() + "/hook" }

// close stops accepting and closes every connection.
func (r *receiver) close() {
	_ = r.ln.Close()
	r.connMu.Lock()
	defer r.connMu.Unlock()
	r.closed = true
	for c := range r.conns {
		_ = c.Close()
	}
}

func (r *receiver) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.connMu.Lock()
		if r.closed {
			r.connMu.Unlock()
			_ = c.Close()
			return
		}
		r.conns[c] = struct{}{}
		r.connMu.Unlock()
		go func() {
			r.serveConn(c, c)
			r.connMu.Lock()
			delete(r.conns, c)
			r.connMu.Unlock()
			_ = c.Close()
		}()
	}
}

// hookRequest is what the receiver reads of one request.
type hookRequest struct {
	method, sig string
	length      int
	close       bool
}

// errHead is a request the receiver cannot frame: it answers 400 and
// closes the connection.
var errHead = errors.New("malformed request head")

// readHead reads a request line and header block, keeping only what the
// receiver checks.
func readHead(br *bufio.Reader) (hookRequest, error) {
	var h hookRequest
	line, err := readLine(br)
	if err != nil {
		return h, err
	}
	method, rest, ok := strings.Cut(string(line), " ")
	if !ok {
		return h, errHead
	}
	_, proto, ok := strings.Cut(rest, " ")
	if !ok || (proto != "HTTP/1.1" && proto != "HTTP/1.0") {
		return h, errHead
	}
	h.method, h.close, h.length = method, proto == "HTTP/1.0", -1
	for {
		line, err := readLine(br)
		if err != nil {
			return h, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return h, errHead
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 || h.length >= 0 {
				return h, errHead
			}
			h.length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return h, errHead // Sluice always sends a Content-Length.
		case bytes.EqualFold(name, []byte("Connection")):
			h.close = bytes.EqualFold(value, []byte("close"))
		case bytes.EqualFold(name, []byte(notify.SignatureHeader)):
			h.sig = string(value)
		}
	}
	if h.length < 0 {
		h.length = 0
	}
	return h, nil
}

// readLine returns one CRLF-terminated line without its terminator; the
// slice is valid until the next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, errHead
	}
	if err != nil {
		return nil, err
	}
	line, ok := bytes.CutSuffix(line, []byte("\r\n"))
	if !ok {
		return nil, errHead
	}
	return line, nil
}

// serveConn answers the requests read from rd on w until the client
// closes or a request cannot be framed. Answers are written when no
// further request is already buffered, so a pipeline is answered in one
// write.
func (r *receiver) serveConn(rd io.Reader, w io.Writer) {
	br := bufio.NewReaderSize(rd, 64<<10)
	bw := bufio.NewWriterSize(w, 4<<10)
	var mac hash.Hash
	if r.secret != "" {
		mac = hmac.New(sha256.New, []byte(r.secret))
	}
	var body []byte
	for {
		h, err := readHead(br)
		if err != nil {
			if errors.Is(err, errHead) {
				r.count(func() { r.badBody++ })
				_, _ = bw.WriteString("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			}
			_ = bw.Flush()
			return
		}
		if h.length > maxHookBody {
			r.count(func() { r.badBody++ })
			_, _ = bw.WriteString("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			_ = bw.Flush()
			return
		}
		body = slices.Grow(body[:0], h.length)[:h.length]
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		status := r.handle(h.method, h.sig, body, mac)
		bw.WriteString("HTTP/1.1 ")
		bw.WriteString(strconv.Itoa(status))
		bw.WriteString(" ")
		bw.WriteString(http.StatusText(status))
		if h.close {
			bw.WriteString("\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			_ = bw.Flush()
			return
		}
		bw.WriteString("\r\nContent-Length: 0\r\n\r\n")
		if br.Buffered() == 0 {
			if bw.Flush() != nil {
				return
			}
		}
	}
}

// handle takes one delivery and returns the status to answer; mac is the
// connection's HMAC under the secret (nil without one). The arrival time
// is taken once the whole body is read: that is when a real receiver
// could act on the event.
func (r *receiver) handle(method, sig string, body []byte, mac hash.Hash) int {
	now := time.Now()
	if method != http.MethodPost {
		r.count(func() { r.badBody++ })
		return http.StatusMethodNotAllowed
	}
	if mac != nil && !validSignature(mac, body, sig) {
		r.count(func() { r.badSig++ })
		return http.StatusForbidden
	}
	keys, err := parseRecords(body)
	if err != nil {
		r.count(func() { r.badBody++ })
		return http.StatusBadRequest
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, _, ok := strings.Cut(keys[0], "/"); ok {
		r.posts[b]++
		r.perBucket[b] += len(keys)
		r.most[b] = max(r.most[b], len(keys))
	}
	for _, k := range keys {
		r.records++
		if _, ok := r.arrived[k]; ok {
			r.dups++
			continue
		}
		r.arrived[k] = now
	}
	r.lastSeen = now
	return http.StatusNoContent
}

func (r *receiver) count(f func()) {
	r.mu.Lock()
	f()
	r.mu.Unlock()
}

// validSignature checks X-Sluice-Signature: "sha256=" and the hex
// HMAC-SHA256 of the body under the rule's secret, which mac is keyed
// with.
func validSignature(mac hash.Hash, body []byte, header string) bool {
	hexSum, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return false
	}
	mac.Reset()
	mac.Write(body)
	var sum [sha256.Size]byte
	return hmac.Equal(got, mac.Sum(sum[:0]))
}

// Markers of an S3 event record as Sluice renders it. In a body that
// json.Valid accepts they cannot occur inside a string, where a quote is
// escaped.
var (
	markRecord = []byte(`"s3":{`)
	markBucket = []byte(`"bucket":{"name":"`)
	markKey    = []byte(`"object":{"key":"`)
)

// parseRecords returns "bucket/key" of every record in an S3 event
// message, the key decoded as S3 encodes it (a space is '+').
func parseRecords(b []byte) ([]string, error) {
	if !json.Valid(b) {
		return nil, errors.New("event message is not JSON")
	}
	var out []string
	for rest := b; ; {
		i := bytes.Index(rest, markRecord)
		if i < 0 {
			break
		}
		rest = rest[i+len(markRecord):]
		rec := rest
		if j := bytes.Index(rec, markRecord); j >= 0 {
			rec = rec[:j]
		}
		bucket, ok1 := stringAfter(rec, markBucket)
		key, ok2 := stringAfter(rec, markKey)
		if !ok1 || !ok2 || bucket == "" || key == "" {
			return nil, errors.New("record without bucket or key")
		}
		k, err := url.QueryUnescape(key)
		if err != nil {
			return nil, fmt.Errorf("record key %q: %w", key, err)
		}
		out = append(out, bucket+"/"+k)
	}
	if len(out) == 0 {
		return nil, errors.New("event message without records")
	}
	return out, nil
}

// stringAfter returns the JSON string value that follows mark in b. Bucket
// names and encoded keys need no JSON escapes; one that has them is
// refused.
func stringAfter(b, mark []byte) (string, bool) {
	i := bytes.Index(b, mark)
	if i < 0 {
		return "", false
	}
	v := b[i+len(mark):]
	j := bytes.IndexByte(v, '"')
	if j < 0 || bytes.IndexByte(v[:j], '\\') >= 0 {
		return "", false
	}
	return string(v[:j]), true
}

// arrivals returns the first arrival of each of keys that has arrived.
func (r *receiver) arrivals(keys []string) map[string]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]time.Time, len(keys))
	for _, k := range keys {
		if t, ok := r.arrived[k]; ok {
			out[k] = t
		}
	}
	return out
}

// missing counts keys whose event has not arrived yet.
func (r *receiver) missing(keys []string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, k := range keys {
		if _, ok := r.arrived[k]; !ok {
			n++
		}
	}
	return n
}

// batching returns, for bucket, the POSTs received, the records they
// carried and the most records one carried.
func (r *receiver) batching(bucket string) (posts, records, most int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.posts[bucket], r.perBucket[bucket], r.most[bucket]
}

// stats returns the counters that must stay zero, and duplicates.
func (r *receiver) stats() (records, dups, badSig, badBody int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.records, r.dups, r.badSig, r.badBody
}
