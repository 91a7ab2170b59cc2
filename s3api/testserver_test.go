package s3api

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
)

// testServer is a Server over a real fsstore behind an httptest listener on
// 127.0.0.1, with an aws-sdk-go-v2 client and a raw HTTP client.
//
// It stands in for the front door: a request carrying an Authorization
// header or a presigned X-Amz-Signature is the account (signatures are not
// checked here), anything else is anonymous.
type testServer struct {
	t      testing.TB
	URL    string
	Server *Server
	Store  sluice.Store
	Client *s3.Client
	HTTP   *http.Client
}

const testRequestID = "TESTREQUESTID"

func newTestServer(t testing.TB) *testServer {
	return newTestServerConfig(t, DefaultConfig())
}

func newTestServerConfig(t testing.TB, cfg Config) *testServer {
	t.Helper()
	st, err := fsstore.Open(testStoreConfig(t.TempDir()))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return serveTest(t, cfg, st)
}

// storeServer opens an fsstore with cfg, closed when tb ends, and a
// Server over it without a listener.
func storeServer(tb testing.TB, cfg fsstore.Config) (*Server, *fsstore.Store) {
	tb.Helper()
	st, err := fsstore.Open(cfg)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	srv, err := New(DefaultConfig(), st, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatalf("new server: %v", err)
	}
	return srv, st
}

// serveTest starts a Server over st behind the stand-in front door.
func serveTest(t testing.TB, cfg Config, st sluice.Store, opts ...Option) *testServer {
	t.Helper()
	srv, err := New(cfg, st, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	ts := httptest.NewUnstartedServer(frontDoor(srv))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	client := s3.New(s3.Options{
		Region:       sluice.DefaultRegion,
		BaseEndpoint: aws.String(ts.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:   ts.Client(),
	})
	return &testServer{t: t, URL: ts.URL, Server: srv, Store: st, Client: client, HTTP: ts.Client()}
}

// frontDoor injects what the real front door would: identity and request info.
func frontDoor(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := sluice.Identity{Anonymous: true}
		if r.Header.Get("Authorization") != "" || r.URL.Query().Has("X-Amz-Signature") {
			id = sluice.Identity{AccessKey: "test", Service: "s3", Region: sluice.DefaultRegion}
		}
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		ctx := sluice.WithIdentity(r.Context(), id)
		ctx = sluice.WithRequestInfo(ctx, sluice.RequestInfo{ID: testRequestID, HostID: "TESTHOSTID", SourceIP: host, Principal: id.AccessKey, Region: sluice.DefaultRegion})
		w.Header().Set("X-Amz-Request-Id", testRequestID)
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// mkBucket creates a bucket through the SDK.
func (ts *testServer) mkBucket(name string) string {
	ts.t.Helper()
	if _, err := ts.Client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		ts.t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// putObject writes an object through the SDK.
func (ts *testServer) putObject(bucket, key string, body []byte) *s3.PutObjectOutput {
	ts.t.Helper()
	out, err := ts.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		ts.t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return out
}

// rawReq describes a raw HTTP request. Signed requests carry a dummy
// Authorization header so that the stand-in front door treats them as the
// account.
type rawReq struct {
	method string
	path   string // escaped path and query
	host   string
	body   []byte
	header map[string]string
	anon   bool
}

type rawResp struct {
	status int
	header http.Header
	body   []byte
}

func (ts *testServer) do(rq rawReq) rawResp {
	ts.t.Helper()
	var body io.Reader = http.NoBody
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequest(rq.method, ts.URL, body)
	if err != nil {
		ts.t.Fatal(err)
	}
	req.URL.Opaque = ""
	path, query, _ := strings.Cut(rq.path, "?")
	req.URL.RawPath = path
	req.URL.Path, err = url.PathUnescape(path)
	if err != nil {
		ts.t.Fatalf("bad test path %q: %v", path, err)
	}
	req.URL.RawQuery = query
	if rq.host != "" {
		req.Host = rq.host
	}
	if !rq.anon {
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/aws4_request")
	}
	for k, v := range rq.header {
		req.Header.Set(k, v)
	}
	resp, err := ts.HTTP.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", rq.method, rq.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatalf("read %s %s: %v", rq.method, rq.path, err)
	}
	return rawResp{status: resp.StatusCode, header: resp.Header, body: b}
}

// s3Error is S3's error document as tests read it.
type s3Error struct {
	Code             string
	Message          string
	Resource         string
	RequestID        string `xml:"RequestId"`
	BucketName       string
	Key              string
	Condition        string
	ArgumentName     string
	ArgumentValue    string
	RangeRequested   string
	ActualObjectSize string
}

// wantError asserts resp is the S3 error code with status and a complete
// error document.
func wantError(t testing.TB, resp rawResp, status int, code string) s3Error {
	t.Helper()
	if resp.status != status {
		t.Fatalf("status = %d, want %d; body: %s", resp.status, status, resp.body)
	}
	if !bytes.HasPrefix(resp.body, []byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n<Error>")) {
		t.Fatalf("body is not an S3 error document: %q", resp.body)
	}
	var e s3Error
	if err := xml.Unmarshal(resp.body, &e); err != nil {
		t.Fatalf("error body is not XML: %v: %s", err, resp.body)
	}
	if e.Code != code {
		t.Fatalf("code = %q, want %q; body: %s", e.Code, code, resp.body)
	}
	if e.Message == "" || e.RequestID != testRequestID {
		t.Fatalf("error lacks message or request id: %s", resp.body)
	}
	if got := resp.header.Get("Content-Type"); got != "application/xml" {
		t.Fatalf("Content-Type = %q, want application/xml", got)
	}
	if got := resp.header.Get("X-Amz-Request-Id"); got != testRequestID {
		t.Fatalf("x-amz-request-id = %q, want it kept", got)
	}
	return e
}

func sortStrings(s []string) { slices.Sort(s) }

// testStoreConfig is the store `sluice serve` runs, inline small bodies
// included, without fsync to keep tests fast.
func testStoreConfig(dir string) fsstore.Config {
	cfg := fsstore.DefaultConfig()
	cfg.Dir = dir
	cfg.NoSync = true
	return cfg
}
