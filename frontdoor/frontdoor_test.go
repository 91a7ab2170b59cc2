package frontdoor

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sigv4"
)

// echoService answers with the identity and request info the front door
// attached, so tests can see exactly what a real service would receive.
type echoService struct {
	name string
	// block, when set, holds requests until it is closed.
	block chan struct{}
}

func (e *echoService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e.block != nil {
		<-e.block
	}
	id := sluice.IdentityFrom(r.Context())
	ri := sluice.RequestInfoFrom(r.Context())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"service":   e.name,
		"identity":  id,
		"requestId": ri.ID,
		"principal": ri.Principal,
		"sourceIp":  ri.SourceIP,
	})
}

func (e *echoService) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("X-Error-Service", e.name)
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprint(w, sluice.ErrorCode(err))
}

type adapter struct{ *sigv4.Verifier }

func (adapter) Scope(r *http.Request) (string, string, bool) { return sigv4.Scope(r) }

type testDoor struct {
	url    string
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error

	stopOnce sync.Once
	stopErr  error
}

// stop shuts the door down and returns what Serve returned; it may be
// called more than once.
func (td *testDoor) stop() error {
	td.stopOnce.Do(func() {
		td.cancel()
		td.stopErr = <-td.done
	})
	return td.stopErr
}

func startDoor(t *testing.T, services map[string]Service) *testDoor {
	t.Helper()
	cfg := sigv4.DefaultConfig()
	cfg.Credentials = map[string]string{"test": "test"}
	verifier, err := sigv4.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	dcfg := DefaultConfig()
	dcfg.ShutdownTimeout = 5 * time.Second
	door, err := New(dcfg, adapter{verifier}, slog.New(slog.NewTextHandler(io.Discard, nil)), reg, reg)
	if err != nil {
		t.Fatal(err)
	}
	for name, svc := range services {
		door.Handle(name, svc)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	td := &testDoor{url: "http://" + ln.Addr().String(), reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { td.done <- door.Serve(ctx, ln) }()
	t.Cleanup(func() { td.stop() })
	return td
}

func signed(t *testing.T, method, url, service, secret string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	const emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	req.Header.Set("X-Amz-Content-Sha256", emptySHA)
	creds := aws.Credentials{AccessKeyID: "test", SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, emptySHA, service, "eu-west-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestRouting(t *testing.T) {
	td := startDoor(t, map[string]Service{
		"s3":     &echoService{name: "s3"},
		"lambda": &echoService{name: "lambda"},
	})
	tests := []struct {
		name        string
		req         func() *http.Request
		wantStatus  int
		wantService string
		wantAnon    bool
		wantErrSvc  string
		wantBody    string
	}{
		{
			name:        "signed s3 goes to s3 with identity",
			req:         func() *http.Request { return signed(t, "GET", td.url+"/bucket/key", "s3", "test") },
			wantStatus:  200,
			wantService: "s3",
		},
		{
			name:        "signed lambda goes to lambda",
			req:         func() *http.Request { return signed(t, "GET", td.url+"/2015-03-31/functions", "lambda", "test") },
			wantStatus:  200,
			wantService: "lambda",
		},
		{
			name: "unsigned goes to s3 as anonymous",
			req: func() *http.Request {
				r, _ := http.NewRequest("GET", td.url+"/bucket/key", nil)
				return r
			},
			wantStatus:  200,
			wantService: "s3",
			wantAnon:    true,
		},
		{
			name: "unsigned RIE invoke goes to lambda as anonymous",
			req: func() *http.Request {
				r, _ := http.NewRequest("POST", td.url+"/2015-03-31/functions/function/invocations", strings.NewReader("{}"))
				return r
			},
			wantStatus:  200,
			wantService: "lambda",
			wantAnon:    true,
		},
		{
			name: "unsigned GET of the RIE path stays with s3",
			req: func() *http.Request {
				r, _ := http.NewRequest("GET", td.url+"/2015-03-31/functions/function/invocations", nil)
				return r
			},
			wantStatus:  200,
			wantService: "s3",
			wantAnon:    true,
		},
		{
			name:       "bad signature is rendered by the addressed service",
			req:        func() *http.Request { return signed(t, "GET", td.url+"/2015-03-31/functions", "lambda", "wrong") },
			wantStatus: 403,
			wantErrSvc: "lambda",
			wantBody:   string(sluice.ErrSignatureDoesNotMatch),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, tt.req())
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if id := resp.Header.Get("x-amz-request-id"); len(id) != 16 || strings.ToUpper(id) != id {
				t.Errorf("x-amz-request-id = %q, want 16 upper-case hex digits", id)
			}
			if resp.Header.Get("x-amz-id-2") == "" {
				t.Error("x-amz-id-2 missing")
			}
			if tt.wantErrSvc != "" {
				if got := resp.Header.Get("X-Error-Service"); got != tt.wantErrSvc {
					t.Errorf("error rendered by %q, want %q", got, tt.wantErrSvc)
				}
				if body != tt.wantBody {
					t.Errorf("body = %q, want %q", body, tt.wantBody)
				}
				return
			}
			var got struct {
				Service   string
				Identity  sluice.Identity
				RequestID string
				Principal string
				SourceIP  string
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if got.Service != tt.wantService {
				t.Errorf("service = %q, want %q", got.Service, tt.wantService)
			}
			if got.Identity.Anonymous != tt.wantAnon {
				t.Errorf("anonymous = %v, want %v", got.Identity.Anonymous, tt.wantAnon)
			}
			if got.RequestID != resp.Header.Get("x-amz-request-id") {
				t.Errorf("request id in context %q differs from header %q", got.RequestID, resp.Header.Get("x-amz-request-id"))
			}
			if got.SourceIP != "127.0.0.1" {
				t.Errorf("source ip = %q", got.SourceIP)
			}
			if !tt.wantAnon {
				want := sluice.Identity{AccessKey: "test", Service: tt.wantService, Region: "eu-west-1"}
				if diff := cmp.Diff(want, got.Identity); diff != "" {
					t.Errorf("identity (-want +got):\n%s", diff)
				}
				if got.Principal != "test" {
					t.Errorf("principal = %q, want test", got.Principal)
				}
			}
		})
	}
}

func TestUnknownService(t *testing.T) {
	td := startDoor(t, map[string]Service{"s3": &echoService{name: "s3"}})
	resp, body := do(t, signed(t, "POST", td.url+"/", "sqs", "test"))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status = %d, want 400", resp.StatusCode)
	}
	var e struct {
		Error struct {
			Code    string
			Message string
		}
		RequestID string `xml:"RequestId"`
	}
	if err := xml.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("body is not XML: %v\n%s", err, body)
	}
	if e.Error.Code != "UnknownService" || !strings.Contains(e.Error.Message, `"sqs"`) {
		t.Errorf("error = %+v", e.Error)
	}
	if e.RequestID != resp.Header.Get("x-amz-request-id") {
		t.Errorf("RequestId %q differs from header", e.RequestID)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	td := startDoor(t, map[string]Service{"s3": &echoService{name: "s3"}})
	// One request so that the request counter has a sample.
	do(t, signed(t, "GET", td.url+"/b", "s3", "test"))

	resp, body := do(t, mustGet(t, td.url+"/_sluice/health"))
	if resp.StatusCode != 200 || !strings.Contains(body, `"status":"ok"`) || !strings.Contains(body, `"s3":"running"`) {
		t.Fatalf("health = %d %s", resp.StatusCode, body)
	}
	for _, path := range []string{"/metrics", "/_sluice/metrics"} {
		resp, body = do(t, mustGet(t, td.url+path))
		if resp.StatusCode != 200 {
			t.Fatalf("%s status %d", path, resp.StatusCode)
		}
		for _, want := range []string{`sluice_api_requests_total{service="s3",status="200"} 1`, "sluice_api_request_duration_seconds_bucket"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %q", path, want)
			}
		}
	}
	// A signed request for /metrics is an S3 request for the bucket "metrics".
	resp, body = do(t, signed(t, "GET", td.url+"/metrics", "s3", "test"))
	if resp.StatusCode != 200 || !strings.Contains(body, `"service":"s3"`) {
		t.Errorf("signed /metrics = %d %s, want it routed to s3", resp.StatusCode, body)
	}
}

func TestGracefulShutdown(t *testing.T) {
	block := make(chan struct{})
	svc := &echoService{name: "s3", block: block}
	td := startDoor(t, map[string]Service{"s3": svc})

	var wg sync.WaitGroup
	wg.Add(1)
	var status int
	var reqErr error
	go func() {
		defer wg.Done()
		resp, err := http.DefaultClient.Do(signed(t, "GET", td.url+"/b/slow", "s3", "test"))
		if err != nil {
			reqErr = err
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status = resp.StatusCode
	}()
	// Wait until the request is in flight before shutting down.
	deadline := time.Now().Add(5 * time.Second)
	for testutilGauge(t, td.reg, "sluice_api_requests_in_flight") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("request never became in flight")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The in-flight request still completes after shutdown has begun.
	time.AfterFunc(100*time.Millisecond, func() { close(block) })
	if err := td.stop(); err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	wg.Wait()
	if reqErr != nil || status != 200 {
		t.Fatalf("in-flight request: status %d, err %v", status, reqErr)
	}
}

func testutilGauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}

func mustGet(t *testing.T, url string) *http.Request {
	t.Helper()
	r, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"bad addr", func(c *Config) { c.Addr = "4566" }, "addr"},
		{"empty region", func(c *Config) { c.Region = "" }, "region"},
		{"zero timeout", func(c *Config) { c.ShutdownTimeout = 0 }, "timeouts"},
		{"tiny headers", func(c *Config) { c.MaxHeaderBytes = 10 }, "max header bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestStatusRecorderKeepsReaderFrom(t *testing.T) {
	under := httptest.NewRecorder()
	rec := &statusRecorder{ResponseWriter: under}
	var w http.ResponseWriter = rec
	if _, ok := w.(io.ReaderFrom); !ok {
		t.Fatal("statusRecorder hides io.ReaderFrom; sendfile would be lost")
	}
	n, err := io.Copy(w, strings.NewReader("hello"))
	if err != nil || n != 5 {
		t.Fatalf("copy = %d, %v", n, err)
	}
	if rec.status != http.StatusOK || rec.written != 5 || under.Body.String() != "hello" {
		t.Errorf("status %d, written %d, body %q", rec.status, rec.written, under.Body.String())
	}
}

// An empty PUT with "Expect: 100-continue" gets the interim response before
// the final one, as botocore needs to keep its connection in sync.
func TestEmptyBodyExpectContinue(t *testing.T) {
	td := startDoor(t, map[string]Service{"s3": &echoService{name: "s3"}})
	conn, err := net.Dial("tcp", strings.TrimPrefix(td.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	for i := 0; i < 2; i++ {
		fmt.Fprintf(conn, "PUT /b/empty%d HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n", i)
		br := bufio.NewReader(conn)
		status, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(status, "HTTP/1.1 100") {
			t.Fatalf("request %d: first status line %q, want 100 Continue", i, status)
		}
		if blank, _ := br.ReadString('\n'); blank != "\r\n" {
			t.Fatalf("interim response not terminated: %q", blank)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: final status %d", i, resp.StatusCode)
		}
		if br.Buffered() != 0 {
			t.Fatalf("request %d: %d stray bytes after the response", i, br.Buffered())
		}
	}
}

func TestSignedEndpoints(t *testing.T) {
	cfg := sigv4.DefaultConfig()
	cfg.Credentials = map[string]string{"test": "test"}
	verifier, err := sigv4.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	door, err := New(DefaultConfig(), adapter{verifier}, slog.New(slog.DiscardHandler), reg, reg)
	if err != nil {
		t.Fatal(err)
	}
	door.Handle("s3", &echoService{name: "s3"})
	door.HandleSigned("/_sluice/events/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "internal %s as %s", r.URL.Path, sluice.IdentityFrom(r.Context()).AccessKey)
	}))
	srv := httptest.NewServer(door)
	defer srv.Close()

	resp, body := do(t, signed(t, "GET", srv.URL+"/_sluice/events/dead-letters", "s3", "test"))
	if resp.StatusCode != 200 || body != "internal /_sluice/events/dead-letters as test" {
		t.Errorf("signed: %d %q", resp.StatusCode, body)
	}
	resp, body = do(t, mustGet(t, srv.URL+"/_sluice/events/dead-letters"))
	if resp.StatusCode != http.StatusForbidden || body != string(sluice.ErrAccessDenied) {
		t.Errorf("anonymous: %d %q, want 403 AccessDenied", resp.StatusCode, body)
	}
	resp, body = do(t, signed(t, "GET", srv.URL+"/_sluice/events/x", "s3", "wrong"))
	if resp.StatusCode != http.StatusForbidden || body != string(sluice.ErrSignatureDoesNotMatch) {
		t.Errorf("bad signature: %d %q", resp.StatusCode, body)
	}
	resp, body = do(t, signed(t, "GET", srv.URL+"/_sluice/other", "s3", "test"))
	if !strings.Contains(body, `"service":"s3"`) {
		t.Errorf("unregistered /_sluice path should reach the service: %d %q", resp.StatusCode, body)
	}
}

func TestHostRoutes(t *testing.T) {
	cfg := sigv4.DefaultConfig()
	cfg.Credentials = map[string]string{"test": "test"}
	verifier, err := sigv4.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	door, err := New(DefaultConfig(), adapter{verifier}, slog.New(slog.DiscardHandler), reg, reg)
	if err != nil {
		t.Fatal(err)
	}
	door.Handle("s3", &echoService{name: "s3"})
	door.HandleHost(func(host string) bool { return strings.HasSuffix(host, ".execute-api.localhost") },
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "api %s %s", r.Host, r.URL.Path) }))
	srv := httptest.NewServer(door)
	defer srv.Close()

	req := mustGet(t, srv.URL+"/items/1")
	req.Host = "abc123.execute-api.localhost"
	resp, body := do(t, req)
	if resp.StatusCode != 200 || body != "api abc123.execute-api.localhost /items/1" {
		t.Errorf("unsigned request to an API host: %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Amz-Request-Id") != "" {
		t.Errorf("a host route got the front door's S3 request id header")
	}
	// Other hosts still go through SigV4 routing.
	resp, body = do(t, signed(t, "GET", srv.URL+"/bucket", "s3", "test"))
	if !strings.Contains(body, `"service":"s3"`) {
		t.Errorf("signed S3 request: %d %q", resp.StatusCode, body)
	}
}
