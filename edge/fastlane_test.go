package edge

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicehq/sluice"
)

// rawResponse is a response as it was on the wire.
type rawResponse struct {
	status string      // the status line
	fields [][2]string // header fields in order
	body   []byte
}

func (r rawResponse) get(name string) string {
	for _, f := range r.fields {
		if f[0] == name {
			return f[1]
		}
	}
	return ""
}

// readRaw reads one response from br; head says it has no body.
func readRaw(t testing.TB, br *bufio.Reader, head bool) rawResponse {
	t.Helper()
	var r rawResponse
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("read status line: %v", err)
	}
	r.status = strings.TrimSuffix(line, "\r\n")
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read header: %v", err)
		}
		line = strings.TrimSuffix(line, "\r\n")
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, ": ")
		r.fields = append(r.fields, [2]string{k, v})
	}
	if !head {
		n, err := strconv.Atoi(r.get("Content-Length"))
		if err != nil {
			t.Fatalf("Content-Length %q", r.get("Content-Length"))
		}
		r.body = make([]byte, n)
		if _, err := io.ReadFull(br, r.body); err != nil {
			t.Fatalf("read body: %v", err)
		}
	}
	return r
}

// rawConn dials addr with a deadline for the whole test step.
func rawConn(t testing.TB, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func exchangeRaw(t testing.TB, addr, req string, head bool) rawResponse {
	t.Helper()
	c, br := rawConn(t, addr)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	return readRaw(t, br, head)
}

func addrOf(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "http://") }

// laneFixture is an edge with a disk tier, objects cached under a few
// behaviours, served both by net/http alone and through the fast lane.
type laneFixture struct {
	h            *harness
	plain        *httptest.Server
	host         string
	big, text    []byte
	octet, small []byte
}

func newLaneFixture(t *testing.T) *laneFixture {
	dir := t.TempDir()
	h := newHarness(t, nil, func(c *Config) { c.Cache.Dir = dir })
	f := &laneFixture{h: h, plain: httptest.NewServer(h.edge)}
	t.Cleanup(f.plain.Close)
	h.bucket("b")
	rng := rand.New(rand.NewPCG(3, 4))
	f.big = make([]byte, 100<<10)
	for i := range f.big {
		f.big[i] = byte(rng.Uint32())
	}
	f.text = bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog\n"), 200)
	f.small = []byte("small body")
	h.put("b", "big.bin", f.big, sluice.ObjectMeta{ContentType: "application/octet-stream"})
	h.put("b", "page.txt", f.text, sluice.ObjectMeta{ContentType: "text/plain", CacheControl: "max-age=600"})
	h.put("b", "small.txt", f.small, sluice.ObjectMeta{ContentType: "text/plain", User: map[string]string{"color": "blue"}})
	h.put("b", "index.html", []byte("<p>root</p>"), sluice.ObjectMeta{ContentType: "text/html"})
	h.put("b", "notype", []byte("raw"), sluice.ObjectMeta{})
	d := s3Dist("ELANE00000001", "b")
	d.Config.DefaultRootObject = "index.html"
	d.Config.DefaultCacheBehavior.Compress = true
	d.Config.DefaultCacheBehavior.QueryString = true
	d.Config.DefaultCacheBehavior.QueryStringCacheKeys = []string{"v"}
	h.dist(d)
	f.host = hostOf(d.ID)
	return f
}

// TestFastLaneMatchesServeHTTP sends the same requests to net/http alone
// and through the fast lane, and compares the answers: status line, every
// header field and its value in order (but Date, Age and X-Amz-Cf-Id,
// which differ per request), and the body. Each request is checked to have
// been answered by the fast lane.
func TestFastLaneMatchesServeHTTP(t *testing.T) {
	f := newLaneFixture(t)
	targets := []string{"/big.bin", "/page.txt", "/small.txt", "/", "/notype", "/small.txt?v=2&utm=x"}
	variants := []struct {
		name, method, proto, extra string
	}{
		{"get", "GET", "HTTP/1.1", ""},
		{"head", "HEAD", "HTTP/1.1", ""},
		{"gzip", "GET", "HTTP/1.1", "Accept-Encoding: gzip\r\n"},
		{"br head", "HEAD", "HTTP/1.1", "Accept-Encoding: br;q=1, gzip\r\n"},
		{"close", "GET", "HTTP/1.1", "Connection: close\r\n"},
		{"http/1.0", "GET", "HTTP/1.0", ""},
		{"http/1.0 keep-alive", "GET", "HTTP/1.0", "Connection: keep-alive\r\n"},
		{"http/1.0 head", "HEAD", "HTTP/1.0", ""},
	}
	for _, target := range targets {
		for _, v := range variants {
			req := fmt.Sprintf("%s %s %s\r\nHost: %s\r\nUser-Agent: lane-test\r\n%s\r\n", v.method, target, v.proto, f.host, v.extra)
			head := v.method == "HEAD"
			// Twice through net/http: the first may fill the cache.
			exchangeRaw(t, addrOf(f.plain), req, head)
			want := exchangeRaw(t, addrOf(f.plain), req, head)
			before := f.h.lane.Stats().Served
			got := exchangeRaw(t, addrOf(f.h.srv), req, head)
			if f.h.lane.Stats().Served != before+1 {
				t.Errorf("%s %s: not answered by the fast lane", target, v.name)
			}
			if got.get("X-Cache") != "Hit from sluice" {
				t.Errorf("%s %s: X-Cache %q", target, v.name, got.get("X-Cache"))
			}
			for _, r := range []*rawResponse{&want, &got} {
				for i, fl := range r.fields {
					switch fl[0] {
					case "Date", "Age", "X-Amz-Cf-Id":
						if fl[1] == "" || fl[0] == "X-Amz-Cf-Id" && len(fl[1]) != 56 {
							t.Errorf("%s %s: %s %q", target, v.name, fl[0], fl[1])
						}
						r.fields[i][1] = "(varies)"
					}
				}
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(rawResponse{})); diff != "" {
				t.Errorf("%s %s: fast lane differs from net/http (-net/http +lane)\n%s", target, v.name, diff)
			}
		}
	}
}

// TestFastLaneConnections covers keep-alive, pipelining, a hand-off in the
// middle of a pipeline, closing, and a head that arrives in pieces.
func TestFastLaneConnections(t *testing.T) {
	f := newLaneFixture(t)
	get := func(target string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: " + f.host + "\r\n\r\n"
	}
	exchangeRaw(t, addrOf(f.plain), get("/small.txt"), false)
	exchangeRaw(t, addrOf(f.plain), get("/big.bin"), false)

	t.Run("keep-alive and pipelining", func(t *testing.T) {
		c, br := rawConn(t, addrOf(f.h.srv))
		before := f.h.lane.Stats()
		for i := range 3 {
			io.WriteString(c, get("/small.txt"))
			if r := readRaw(t, br, false); string(r.body) != string(f.small) || r.get("X-Cache") != "Hit from sluice" {
				t.Fatalf("request %d: %q %q", i, r.get("X-Cache"), r.body)
			}
		}
		// Three in one write, then a miss that goes to net/http with
		// the hit pipelined behind it.
		io.WriteString(c, get("/big.bin")+"HEAD /small.txt HTTP/1.1\r\nHost: "+f.host+"\r\n\r\n"+get("/small.txt")+
			get("/index.html?v=new")+get("/small.txt"))
		if r := readRaw(t, br, false); !bytes.Equal(r.body, f.big) {
			t.Fatalf("pipelined big: %d bytes", len(r.body))
		}
		if r := readRaw(t, br, true); r.get("Content-Length") != strconv.Itoa(len(f.small)) || r.get("X-Cache") != "Hit from sluice" {
			t.Fatalf("pipelined head: %v", r.fields)
		}
		readRaw(t, br, false)
		if r := readRaw(t, br, false); string(r.body) != "<p>root</p>" || r.get("X-Cache") != "Miss from sluice" {
			t.Fatalf("handed-off miss: %q %q", r.get("X-Cache"), r.body)
		}
		if r := readRaw(t, br, false); string(r.body) != string(f.small) || r.get("X-Cache") != "Hit from sluice" {
			t.Fatalf("after the hand-off: %q %q", r.get("X-Cache"), r.body)
		}
		after := f.h.lane.Stats()
		if after.Served-before.Served != 6 || after.HandedOff-before.HandedOff != 1 {
			t.Fatalf("served %d, handed off %d; want 6 and 1", after.Served-before.Served, after.HandedOff-before.HandedOff)
		}
	})

	t.Run("close", func(t *testing.T) {
		for _, tc := range []struct{ name, req, connection string }{
			{"http/1.1 close", "GET /small.txt HTTP/1.1\r\nHost: " + f.host + "\r\nConnection: close\r\n\r\n", "close"},
			{"http/1.0", "GET /small.txt HTTP/1.0\r\nHost: " + f.host + "\r\n\r\n", ""},
		} {
			c, br := rawConn(t, addrOf(f.h.srv))
			io.WriteString(c, tc.req)
			if r := readRaw(t, br, false); r.get("Connection") != tc.connection || string(r.body) != string(f.small) {
				t.Fatalf("%s: Connection %q, body %q", tc.name, r.get("Connection"), r.body)
			}
			if n, err := br.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("%s: connection still open: %d, %v", tc.name, n, err)
			}
		}
	})

	t.Run("http/1.0 keep-alive", func(t *testing.T) {
		c, br := rawConn(t, addrOf(f.h.srv))
		for range 2 {
			io.WriteString(c, "GET /small.txt HTTP/1.0\r\nConnection: keep-alive\r\nHost: "+f.host+"\r\n\r\n")
			if r := readRaw(t, br, false); r.status != "HTTP/1.0 200 OK" || r.get("Connection") != "keep-alive" {
				t.Fatalf("%q Connection %q", r.status, r.get("Connection"))
			}
		}
	})

	t.Run("head in pieces", func(t *testing.T) {
		c, br := rawConn(t, addrOf(f.h.srv))
		req := get("/small.txt")
		before := f.h.lane.Stats().Served
		for _, piece := range []string{req[:3], req[3:20], req[20:]} {
			io.WriteString(c, piece)
			time.Sleep(5 * time.Millisecond) // lets each piece arrive on its own
		}
		if r := readRaw(t, br, false); string(r.body) != string(f.small) || f.h.lane.Stats().Served != before+1 {
			t.Fatalf("%q %q", r.get("X-Cache"), r.body)
		}
	})

	t.Run("head larger than the lane reads", func(t *testing.T) {
		before := f.h.lane.Stats()
		req := "GET /small.txt HTTP/1.1\r\nHost: " + f.host + "\r\nX-Pad: " + strings.Repeat("p", 20<<10) + "\r\n\r\n"
		if r := exchangeRaw(t, addrOf(f.h.srv), req, false); string(r.body) != string(f.small) || r.get("X-Cache") != "Hit from sluice" {
			t.Fatalf("%q %q", r.get("X-Cache"), r.body)
		}
		if after := f.h.lane.Stats(); after.HandedOff != before.HandedOff+1 || after.Served != before.Served {
			t.Fatalf("stats %+v -> %+v: want a hand-off", before, after)
		}
	})

	t.Run("reserved path", func(t *testing.T) {
		mux := http.NewServeMux()
		mux.HandleFunc("/_sluice/health", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
		mux.Handle("/", f.h.edge)
		srv, _ := serveWithLane(t, f.h.edge, mux, DefaultFastLaneConfig())
		// An object under the reserved prefix is cached, but the fast
		// lane leaves the prefix to the handler, escaped or not.
		f.h.put("b", "_sluice/health", []byte("object"), sluice.ObjectMeta{})
		exchangeRaw(t, addrOf(f.plain), "GET /_sluice/health HTTP/1.1\r\nHost: "+f.host+"\r\n\r\n", false)
		for _, target := range []string{"/_sluice/health", "/%5Fsluice/health"} {
			if r := exchangeRaw(t, addrOf(srv), "GET "+target+" HTTP/1.1\r\nHost: "+f.host+"\r\n\r\n", false); string(r.body) != "ok" {
				t.Fatalf("%s: %q", target, r.body)
			}
		}
	})
}

// TestFastLaneTimeouts: a head trickling in is cut at ReadHeaderTimeout,
// an idle keep-alive connection at IdleTimeout.
func TestFastLaneTimeouts(t *testing.T) {
	f := newLaneFixture(t)
	cfg := DefaultFastLaneConfig()
	cfg.ReadHeaderTimeout, cfg.IdleTimeout = 100*time.Millisecond, 200*time.Millisecond
	srv, _ := serveWithLane(t, f.h.edge, f.h.edge, cfg)
	exchangeRaw(t, addrOf(f.plain), "GET /small.txt HTTP/1.1\r\nHost: "+f.host+"\r\n\r\n", false)

	// The test's own deadline is 10 s: a read that ends sooner, without
	// data, is the server closing.
	closed := func(br *bufio.Reader) {
		t.Helper()
		n, err := br.Read(make([]byte, 1))
		if n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("connection not closed by the server: %d, %v", n, err)
		}
	}

	c, br := rawConn(t, addrOf(srv))
	io.WriteString(c, "GET /small.txt HTTP/1.1\r\n")
	time.Sleep(10 * time.Millisecond)
	io.WriteString(c, "Host: ")
	closed(br)

	c, br = rawConn(t, addrOf(srv))
	io.WriteString(c, "GET /small.txt HTTP/1.1\r\nHost: "+f.host+"\r\n\r\n")
	readRaw(t, br, false)
	closed(br)
}

// TestFastLaneShutdown: Close closes idle connections at once; a
// connection with a head half read is closed when Wait's context ends.
func TestFastLaneShutdown(t *testing.T) {
	f := newLaneFixture(t)
	srv := httptest.NewUnstartedServer(f.h.edge)
	lane, err := f.h.edge.FastLane(DefaultFastLaneConfig(), srv.Listener)
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = lane
	srv.Start()
	defer srv.Close()
	exchangeRaw(t, addrOf(f.plain), "GET /small.txt HTTP/1.1\r\nHost: "+f.host+"\r\n\r\n", false)

	idle, idleBR := rawConn(t, addrOf(srv))
	io.WriteString(idle, "GET /small.txt HTTP/1.1\r\nHost: "+f.host+"\r\n\r\n")
	readRaw(t, idleBR, false)
	busy, busyBR := rawConn(t, addrOf(srv))
	io.WriteString(busy, "GET /small.txt HTTP/1.1\r\n")
	deadline := time.Now().Add(5 * time.Second)
	// The idle connection must be waiting and the half-read head read:
	// until then that connection is idle too, and Close would rightly
	// close it.
	for laneConnState(lane, idle) != stateIdle || laneConnState(lane, busy) != stateActive {
		if time.Now().After(deadline) {
			t.Fatalf("idle connection in state %d, busy one in %d", laneConnState(lane, idle), laneConnState(lane, busy))
		}
		time.Sleep(time.Millisecond)
	}

	lane.Close()
	if n, err := idleBR.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle connection not closed: %d, %v", n, err)
	}
	if _, err := net.DialTimeout("tcp", addrOf(srv), time.Second); err == nil {
		t.Fatal("the listener still accepts after Close")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := lane.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with a half-read head: %v", err)
	}
	if n, err := busyBR.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("busy connection not closed after Wait: %d, %v", n, err)
	}
	if err := lane.Wait(context.Background()); err != nil {
		t.Fatalf("Wait after everything closed: %v", err)
	}
}

// TestFastLaneCountsLookupsOnce checks the cache statistics: a request the
// lane answers counts its lookup, one it hands off is counted by ServeHTTP
// alone.
func TestFastLaneCountsLookupsOnce(t *testing.T) {
	f := newLaneFixture(t)
	get := "GET /index.html?v=counted HTTP/1.1\r\nHost: " + f.host + "\r\n\r\n"
	before := f.h.edge.cache.Stats()
	if r := exchangeRaw(t, addrOf(f.h.srv), get, false); r.get("X-Cache") != "Miss from sluice" {
		t.Fatalf("first request: X-Cache %q", r.get("X-Cache"))
	}
	mid := f.h.edge.cache.Stats()
	if d := mid.Misses - before.Misses; d != 1 || mid.Hits != before.Hits {
		t.Errorf("a handed-off miss counted %d misses and %d hits, want 1 and 0", d, mid.Hits-before.Hits)
	}
	if r := exchangeRaw(t, addrOf(f.h.srv), get, false); r.get("X-Cache") != "Hit from sluice" {
		t.Fatalf("second request: X-Cache %q", r.get("X-Cache"))
	}
	after := f.h.edge.cache.Stats()
	if after.Hits-mid.Hits != 1 || after.Misses != mid.Misses {
		t.Errorf("a lane hit counted %d hits and %d misses, want 1 and 0", after.Hits-mid.Hits, after.Misses-mid.Misses)
	}
}

// laneConnState is the state of the lane's connection from client c, or
// -1 when the lane has none.
func laneConnState(l *FastLane, c net.Conn) int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	for lc := range l.conns {
		if lc.nc.RemoteAddr().String() == c.LocalAddr().String() {
			return lc.state.Load()
		}
	}
	return -1
}
