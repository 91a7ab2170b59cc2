package notify

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// FuzzReadResponse checks readResponse against net/http's parser: a
// response it accepts has the status net/http reads, and when it keeps
// the connection it has consumed exactly the response, as net/http does.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloNEXT",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\nNEXT",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nbody until close",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nokNEXT",
		"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbusy",
		"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200\r\nContent-Length: +5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/2 200\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		status, keep, err := readResponse(br)
		if err != nil {
			return
		}
		theirs := bufio.NewReader(bytes.NewReader(data))
		var resp *http.Response
		for {
			var rerr error
			resp, rerr = http.ReadResponse(theirs, nil)
			if rerr != nil {
				if keep {
					t.Fatalf("kept a connection net/http refuses: %v", rerr)
				}
				return
			}
			if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
				break
			}
		}
		_, berr := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Fatalf("status %d, net/http reads %d", status, resp.StatusCode)
		}
		if !keep {
			return
		}
		if berr != nil || resp.Close {
			t.Fatalf("kept a connection net/http would not: body error %v, close %v", berr, resp.Close)
		}
		rest, _ := io.ReadAll(br)
		theirRest, _ := io.ReadAll(theirs)
		if !bytes.Equal(rest, theirRest) {
			t.Fatalf("left %q, net/http left %q", rest, theirRest)
		}
	})
}

// TestReadResponseKeepAliveAfterRefill: an HTTP/1.0 response asks to keep
// the connection in a header that comes after the buffer was refilled,
// which moves the status line's bytes.
func TestReadResponseKeepAliveAfterRefill(t *testing.T) {
	resp := "HTTP/1.0 200 OK\r\nX-Pad: " + strings.Repeat("p", 100) + "\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
	br := bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(resp)), 32)
	status, keep, err := readResponse(br)
	if err != nil || status != 200 || !keep {
		t.Fatalf("readResponse = %d, keep %v, %v; want 200, keep", status, keep, err)
	}
}

// cannedServer answers every request on a connection with the next of
// replies, then closes it; conns counts connections.
func cannedServer(t *testing.T, replies ...string) (addr string, conns *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for _, reply := range replies {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					if _, err := io.WriteString(c, reply); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), conns
}

func TestHookClientResponses(t *testing.T) {
	tests := []struct {
		name    string
		replies []string
		want    []int // status of each of len(want) POSTs
		conns   int32 // connections they took
	}{
		{"keep-alive reuses one connection",
			[]string{"HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"},
			[]int{204, 200, 200}, 1},
		{"1xx responses are skipped",
			[]string{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"},
			[]int{202}, 1},
		{"Connection: close takes a new connection",
			[]string{"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"},
			[]int{200, 200}, 2},
		{"a body up to the close takes a new connection",
			[]string{"HTTP/1.0 200 OK\r\n\r\nall of it"},
			[]int{200, 200}, 2},
		{"a redirect is an answer, not followed",
			[]string{"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n"},
			[]int{307}, 1},
		// The server closes after one reply without saying so: the
		// second POST finds the connection dead and retries on a new one.
		{"an idle connection the receiver closed is retried",
			[]string{"HTTP/1.1 204 No Content\r\n\r\n"},
			[]int{204, 204}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, conns := cannedServer(t, tc.replies...)
			h := newHookClient(5*time.Second, 4)
			defer h.closeIdle()
			target, ok := hookTargetOf("http://" + addr + "/hook?x=1")
			if !ok {
				t.Fatal("plain http target refused")
			}
			for i, want := range tc.want {
				if i > 0 && strings.Contains(tc.name, "closed") {
					// Let the server's close reach the idle connection.
					time.Sleep(20 * time.Millisecond)
				}
				got, err := h.post(t.Context(), target, []byte("X-Test: 1\r\n"), []byte(`{"Records":[]}`))
				if err != nil {
					t.Fatalf("POST %d: %v", i, err)
				}
				if got != want {
					t.Fatalf("POST %d: status %d, want %d", i, got, want)
				}
			}
			if got := conns.Load(); got != tc.conns {
				t.Fatalf("%d connections, want %d", got, tc.conns)
			}
		})
	}
}

// TestHookClientRequest checks what a receiver built on net/http reads:
// method, path and query, Host, every header and the body.
func TestHookClientRequest(t *testing.T) {
	var mu sync.Mutex
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, body = r, b
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	h := newHookClient(5*time.Second, 4)
	defer h.closeIdle()
	target, ok := hookTargetOf(srv.URL + "/in/hook?token=a%20b")
	if !ok {
		t.Fatal("plain http target refused")
	}
	status, err := h.post(t.Context(), target, []byte("Content-Type: application/json\r\nX-Sluice-Delivery: 01,02\r\n"), []byte(`{"Records":[1,2]}`))
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("POST: %d, %v", status, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got.Method != http.MethodPost || got.URL.Path != "/in/hook" || got.URL.Query().Get("token") != "a b" ||
		got.Host != strings.TrimPrefix(srv.URL, "http://") || got.ContentLength != int64(len(body)) ||
		got.Header.Get("Content-Type") != "application/json" || got.Header.Get("X-Sluice-Delivery") != "01,02" ||
		string(body) != `{"Records":[1,2]}` {
		t.Fatalf("receiver read %s %s host %q headers %v body %q", got.Method, got.URL, got.Host, got.Header, body)
	}
}

func TestHookClientTimeoutAndCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // never answers
		}
	}()
	target, _ := hookTargetOf("http://" + ln.Addr().String() + "/")
	h := newHookClient(100*time.Millisecond, 4)
	if _, err := h.post(t.Context(), target, nil, []byte("x")); err == nil {
		t.Fatal("a receiver that never answers: no error")
	}
	h = newHookClient(time.Minute, 4)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := h.post(ctx, target, nil, []byte("x")); err != context.Canceled {
		t.Fatalf("canceled POST: %v, want context.Canceled", err)
	}
}

// TestHookClientContexts: a connection watches the context of its round
// trips, registered once per context, and keeps serving it; a POST under
// that context after it ended fails at once, and POSTs under a new
// context go through on a new connection.
func TestHookClientContexts(t *testing.T) {
	ok := "HTTP/1.1 204 No Content\r\n\r\n"
	addr, conns := cannedServer(t, ok, ok, ok, ok)
	h := newHookClient(5*time.Second, 4)
	defer h.closeIdle()
	target, _ := hookTargetOf("http://" + addr + "/")
	first, cancel := context.WithCancel(t.Context())
	for range 2 {
		if _, err := h.post(first, target, nil, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if got := conns.Load(); got != 1 {
		t.Fatalf("%d connections for two POSTs, want 1", got)
	}
	cancel()
	if _, err := h.post(first, target, nil, []byte("x")); err != context.Canceled {
		t.Fatalf("POST under an ended context: %v, want context.Canceled", err)
	}
	for range 2 {
		if _, err := h.post(t.Context(), target, nil, []byte("x")); err != nil {
			t.Fatalf("POST under a new context after the first ended: %v", err)
		}
	}
	if got := conns.Load(); got != 2 {
		t.Fatalf("%d connections, want 2 (the cut one replaced once)", got)
	}
}

func TestHookTargetOf(t *testing.T) {
	t.Setenv("HTTP_PROXY", "")
	t.Setenv("NO_PROXY", "")
	for _, tc := range []struct {
		url  string
		ok   bool
		dial string
		head string
	}{
		{"http://127.0.0.1:9000/hook", true, "127.0.0.1:9000", "POST /hook HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n"},
		{"http://example.com", true, "example.com:80", "POST / HTTP/1.1\r\nHost: example.com\r\n"},
		{"http://[::1]:8080/a%2Fb?q=1", true, "[::1]:8080", "POST /a%2Fb?q=1 HTTP/1.1\r\nHost: [::1]:8080\r\n"},
		{"https://example.com/hook", false, "", ""},
		{"http://user:pw@example.com/hook", false, "", ""},
	} {
		got, ok := hookTargetOf(tc.url)
		if ok != tc.ok || ok && (got.hostPort != tc.dial || string(got.head) != tc.head) {
			t.Errorf("%s: %v %q %q, want %v %q %q", tc.url, ok, got.hostPort, got.head, tc.ok, tc.dial, tc.head)
		}
	}
}

// TestHookClientDropsStaleConnections: a connection idle longer than
// maxIdleTime is closed, not reused.
func TestHookClientDropsStaleConnections(t *testing.T) {
	addr, conns := cannedServer(t, "HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n")
	h := newHookClient(5*time.Second, 4)
	defer h.closeIdle()
	target, _ := hookTargetOf("http://" + addr + "/")
	if _, err := h.post(t.Context(), target, nil, []byte("x")); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	for _, c := range h.idle[target.hostPort] {
		c.idleSince = time.Now().Add(-2 * maxIdleTime)
	}
	h.mu.Unlock()
	if _, err := h.post(t.Context(), target, nil, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if got := conns.Load(); got != 2 {
		t.Fatalf("%d connections, want 2 (the stale one dropped)", got)
	}
}

// TestHookClientPipelined: requests sent pipelined reach a net/http
// receiver in order on one connection, each with its own answer.
func TestHookClientPipelined(t *testing.T) {
	var (
		mu     sync.Mutex
		bodies []string
		conns  atomic.Int32
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if r.Header.Get("X-Fail") != "" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	h := newHookClient(5*time.Second, 4)
	defer h.closeIdle()
	target, _ := hookTargetOf(srv.URL + "/")
	var reqs [][]byte
	var want []string
	for i := range 10 {
		hdr := "X-N: " + string(rune('0'+i)) + "\r\n"
		if i == 3 {
			hdr += "X-Fail: 1\r\n"
		}
		body := strings.Repeat(string(rune('a'+i)), 100*i+1)
		reqs = append(reqs, target.request([]byte(hdr), []byte(body)))
		want = append(want, body)
	}
	status, errs := make([]int, len(reqs)), make([]error, len(reqs))
	if cut := h.postPipelined(t.Context(), target, reqs, status, errs); cut {
		t.Error("net/http receiver cut the pipeline")
	}
	for i := range reqs {
		wantStatus := http.StatusAccepted
		if i == 3 {
			wantStatus = http.StatusInternalServerError
		}
		if errs[i] != nil || status[i] != wantStatus {
			t.Errorf("request %d: %d, %v; want %d", i, status[i], errs[i], wantStatus)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if d := cmp.Diff(want, bodies); d != "" {
		t.Errorf("bodies the receiver read (-want +got):\n%s", d)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// oneShotServer reads one request per connection, records its body, and
// then, when answer is set, answers it with "Connection: close"; either
// way it closes the connection, dropping any request pipelined after it.
func oneShotServer(t *testing.T, answer bool) (addr string, bodies func() []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var (
		mu  sync.Mutex
		got []string
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				b, _ := io.ReadAll(req.Body)
				mu.Lock()
				got = append(got, string(b))
				mu.Unlock()
				if answer {
					io.WriteString(c, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
				}
			}()
		}
	}()
	return ln.Addr().String(), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// TestHookClientPipelineCut: a receiver that closes each connection after
// one answer gets the rest of a pipeline one by one, each exactly once.
func TestHookClientPipelineCut(t *testing.T) {
	addr, bodies := oneShotServer(t, true)
	h := newHookClient(5*time.Second, 4)
	defer h.closeIdle()
	target, _ := hookTargetOf("http://" + addr + "/")
	want := []string{"r0", "r1", "r2", "r3"}
	var reqs [][]byte
	for _, b := range want {
		reqs = append(reqs, target.request(nil, []byte(b)))
	}
	status, errs := make([]int, len(reqs)), make([]error, len(reqs))
	if cut := h.postPipelined(t.Context(), target, reqs, status, errs); !cut {
		t.Error("cut = false, want true")
	}
	for i := range reqs {
		if errs[i] != nil || status[i] != http.StatusNoContent {
			t.Errorf("request %d: %d, %v", i, status[i], errs[i])
		}
	}
	if d := cmp.Diff(want, bodies()); d != "" {
		t.Errorf("requests the receiver took (-want +got):\n%s", d)
	}
}

// TestHookClientPipelineBroken: when the connection fails in the middle
// of a pipeline, the requests it did not answer are failed attempts, not
// sent again at once: the receiver may have taken them.
func TestHookClientPipelineBroken(t *testing.T) {
	addr, bodies := oneShotServer(t, false)
	h := newHookClient(5*time.Second, 4)
	defer h.closeIdle()
	target, _ := hookTargetOf("http://" + addr + "/")
	reqs := [][]byte{target.request(nil, []byte("r0")), target.request(nil, []byte("r1"))}
	status, errs := make([]int, len(reqs)), make([]error, len(reqs))
	h.postPipelined(t.Context(), target, reqs, status, errs)
	if errs[0] == nil || errs[1] == nil {
		t.Fatalf("errors %v, want both failed", errs)
	}
	if got := bodies(); len(got) != 1 || got[0] != "r0" {
		t.Fatalf("receiver took %q, want just r0", got)
	}
}

// TestHookClientPipelineCanceled: a receiver that answers the first of a
// pipeline and then stalls holds the rest only until the context ends;
// the answered request counts, the others fail with the context's error.
func TestHookClientPipelineCanceled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	stall := make(chan struct{})
	defer close(stall)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
		<-stall
	}()
	h := newHookClient(time.Minute, 4)
	defer h.closeIdle()
	target, _ := hookTargetOf("http://" + ln.Addr().String() + "/")
	reqs := [][]byte{target.request(nil, []byte("r0")), target.request(nil, []byte("r1")), target.request(nil, []byte("r2"))}
	status, errs := make([]int, len(reqs)), make([]error, len(reqs))
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	h.postPipelined(ctx, target, reqs, status, errs)
	if errs[0] != nil || status[0] != http.StatusNoContent {
		t.Errorf("first request: %d, %v; want 204", status[0], errs[0])
	}
	for i := 1; i < len(reqs); i++ {
		if errs[i] != context.Canceled {
			t.Errorf("request %d: %v, want context.Canceled", i, errs[i])
		}
	}
}

// TestSign checks signatures against RFC 4231's HMAC-SHA256 vectors,
// with the secrets taking turns so that a kept HMAC is rekeyed.
func TestSign(t *testing.T) {
	vectors := []struct{ key, data, want string }{
		{"Jefe", "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{strings.Repeat("\xaa", 131), "Test Using Larger Than Block-Size Key - Hash Key First",
			"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
	}
	for range 3 {
		for _, v := range vectors {
			if got := Sign(v.key, []byte(v.data)); got != "sha256="+v.want {
				t.Errorf("Sign(%q): %s, want sha256=%s", v.key, got, v.want)
			}
		}
	}
}
