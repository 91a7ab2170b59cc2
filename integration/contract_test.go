//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestHealthAndMetrics(t *testing.T) {
	s := sharedSluice(t)
	resp := do(t, mustRequest(t, http.MethodGet, s.URL+"/_sluice/health", nil))
	if resp.Status != http.StatusOK {
		t.Errorf("health: %d %s", resp.Status, resp.Body)
	}
	// Drive one S3 request so request metrics have something to count.
	if _, err := s3Client(s).ListBuckets(context.Background(), &s3.ListBucketsInput{}); err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	resp = do(t, mustRequest(t, http.MethodGet, s.URL+"/metrics", nil))
	body := string(resp.Body)
	if resp.Status != http.StatusOK || !strings.Contains(body, "# TYPE ") || !strings.Contains(body, "# HELP ") {
		t.Errorf("/metrics: %d, want Prometheus text; got:\n%s", resp.Status, tail(body, 2000))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") && !strings.Contains(ct, "openmetrics") {
		t.Errorf("/metrics Content-Type = %q", ct)
	}
	if !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics lacks the Go runtime collector (go_goroutines)")
	}
	for _, m := range []string{"sluice_outbox_events_total ", `sluice_outbox_pending_events{consumer="notify"} `, `sluice_outbox_pending_events{consumer="replicate"} `} {
		if !strings.Contains(body, "\n"+m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

func runSluice(t testing.TB, timeout time.Duration, env []string, args ...string) cliResult {
	t.Helper()
	requireBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res := runCmd(t, ctx, append(cleanEnv(), env...), t.TempDir(), sluiceBin, args...)
	if ctx.Err() != nil {
		t.Fatalf("sluice %q did not exit within %v", args, timeout)
	}
	return res
}

func TestVersionAndHelp(t *testing.T) {
	r := runSluice(t, 20*time.Second, nil, "version")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) == "" {
		t.Errorf("sluice version: %s", r)
	}
	r = runSluice(t, 20*time.Second, nil, "serve", "--help")
	out := r.Stdout + r.Stderr
	if r.Code != 0 {
		t.Errorf("sluice serve --help exit %d, want 0\n%s", r.Code, r)
	}
	for _, flag := range []string{"addr", "edge-addr", "data"} {
		if !strings.Contains(out, flag) {
			t.Errorf("sluice serve --help does not mention %q:\n%s", flag, out)
		}
	}
	r = runSluice(t, 20*time.Second, nil, "no-such-command")
	if r.Code == 0 {
		t.Errorf("unknown subcommand exits 0:\n%s", r)
	}
}

func TestDefaultCredentialsRefusedOnPublicAddress(t *testing.T) {
	// Hold the port on loopback: had sluice tried to listen on 0.0.0.0 with
	// this port it would fail with "address already in use" instead of
	// refusing up front, and nothing is ever reachable from outside.
	hold, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	port := hold.Addr().(*net.TCPAddr).Port
	edge, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")
	r := runSluice(t, 20*time.Second, nil, "serve", "--addr", fmt.Sprintf("0.0.0.0:%d", port),
		"--edge-addr", fmt.Sprintf("127.0.0.1:%d", edge[0]), "--data", data)
	out := strings.ToLower(r.Stdout + r.Stderr)
	if r.Code == 0 {
		t.Fatalf("serve on 0.0.0.0 with default credentials exited 0:\n%s", r)
	}
	if !strings.Contains(out, "credential") && !strings.Contains(out, "secret") && !strings.Contains(out, "access key") {
		t.Errorf("refusal does not say that the credentials are the problem:\n%s", r)
	}
	if strings.Contains(out, "address already in use") {
		t.Errorf("sluice tried to listen before checking credentials:\n%s", r)
	}
}

func TestGracefulShutdownFinishesUpload(t *testing.T) {
	s := startSluice(t)
	c := s3Client(s)
	bucket := createBucket(t, c, "graceful")

	body := randomBytes(48 << 20)
	gate := newGatedReader(body, 16<<20)
	req := signedRequest(t, s, http.MethodPut, s.URL+"/"+bucket+"/in-flight.bin", gate,
		signSpec{PayloadHash: "UNSIGNED-PAYLOAD", ContentLength: int64(len(body))})
	type result struct {
		resp rawResponse
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := httpClient().Do(req)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, err = b.ReadFrom(resp.Body)
		got <- result{resp: rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b.Bytes()}, err: err}
	}()
	select {
	case <-gate.reached:
	case r := <-got:
		t.Fatalf("upload ended before reaching the gate: %+v", r)
	case <-time.After(time.Minute):
		t.Fatal("upload never reached the gate")
	}

	stopped := make(chan error, 1)
	go func() { stopped <- s.signal(syscall.SIGTERM, stopDeadline+30*time.Second) }()
	// Once the listener is closed the server is shutting down; then let the
	// body finish.
	noKeepAlive := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if err := poll(10*time.Second, func() error {
		resp, err := noKeepAlive.Get(s.URL + "/_sluice/health")
		if err != nil {
			return nil
		}
		resp.Body.Close()
		return fmt.Errorf("still accepting connections")
	}); err != nil {
		t.Logf("server still accepts connections after SIGTERM; releasing the body anyway")
	}
	close(gate.release)

	r := <-got
	if r.err != nil || r.resp.Status != http.StatusOK {
		t.Errorf("in-flight upload across SIGTERM: err %v status %d %s", r.err, r.resp.Status, r.resp.Body)
	} else if etag := r.resp.Header.Get("ETag"); etag != `"`+md5hex(body)+`"` {
		t.Errorf("in-flight upload ETag = %s, want %s", etag, md5hex(body))
	}
	if err := <-stopped; err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", err)
	}

	s.restart(t)
	c = s3Client(s)
	if b, _ := getBody(t, c, bucket, "in-flight.bin"); !bytes.Equal(b, body) {
		t.Errorf("object uploaded across shutdown: %d bytes after restart, want %d", len(b), len(body))
	}
}

func TestSIGINTExitsCleanly(t *testing.T) {
	s := startSluice(t)
	c := s3Client(s)
	bucket := createBucket(t, c, "sigint")
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}
	if err := s.signal(os.Interrupt, stopDeadline); err != nil {
		t.Fatalf("exit after SIGINT: %v, want status 0", err)
	}
	// A clean stop leaves a store that opens and serves what it had.
	s.restart(t)
	if b, _ := getBody(t, s3Client(s), bucket, "k"); string(b) != "v" {
		t.Errorf("after SIGINT and restart: %q", b)
	}
}

func TestUnknownServiceInCredentialScope(t *testing.T) {
	s := sharedSluice(t)
	req := signedRequest(t, s, http.MethodPost, s.URL+"/", strings.NewReader("Action=ListQueues&Version=2012-11-05"), signSpec{Service: "sqs"})
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp := do(t, req)
	if resp.Status < 400 {
		t.Fatalf("request signed for sqs: status %d, want an error\n%s", resp.Status, resp.Body)
	}
	code := resp.errorCode().Code
	if code == "" {
		// JSON-protocol services answer {"__type": ...}; accept either shape.
		var j struct {
			Type string `json:"__type"`
			Code string `json:"code"`
		}
		_ = json.Unmarshal(resp.Body, &j)
		code = j.Type + j.Code
	}
	if code == "" {
		var any struct {
			XMLName xml.Name
			Error   struct{ Code string }
		}
		_ = xml.Unmarshal(resp.Body, &any)
		code = any.Error.Code
	}
	if code == "" {
		t.Errorf("request signed for sqs: %d with no AWS error code in the body:\n%s", resp.Status, resp.Body)
	}
	if resp.Header.Get("X-Amz-Request-Id") == "" && resp.Header.Get("X-Amzn-Requestid") == "" {
		t.Errorf("error for an unknown service carries no request id header")
	}
}

func TestAnonymousAndBadAuthOnWire(t *testing.T) {
	s := sharedSluice(t)
	c := s3Client(s)
	bucket := createBucket(t, c, "wire-auth")
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{
		{"anonymous GET", mustRequest(t, http.MethodGet, s.URL+"/"+bucket+"/k", nil), 403, "AccessDenied"},
		{"wrong secret", signedRequest(t, s, http.MethodGet, s.URL+"/"+bucket+"/k", nil, signSpec{AccessKey: "test", SecretKey: "nope"}), 403, "SignatureDoesNotMatch"},
		{"unknown key", signedRequest(t, s, http.MethodGet, s.URL+"/"+bucket+"/k", nil, signSpec{AccessKey: "AKIDUNKNOWN", SecretKey: "x"}), 403, "InvalidAccessKeyId"},
		{"clock 20 minutes behind", signedRequest(t, s, http.MethodGet, s.URL+"/"+bucket+"/k", nil, signSpec{Time: time.Now().Add(-20 * time.Minute)}), 403, "RequestTimeTooSkewed"},
		{"clock 20 minutes ahead", signedRequest(t, s, http.MethodGet, s.URL+"/"+bucket+"/k", nil, signSpec{Time: time.Now().Add(20 * time.Minute)}), 403, "RequestTimeTooSkewed"},
		{"body does not match signed hash", func() *http.Request {
			// Same length, different bytes: only the payload hash can catch it.
			r := signedRequest(t, s, http.MethodPut, s.URL+"/"+bucket+"/k2", strings.NewReader("signed body"), signSpec{})
			r.Body = io.NopCloser(strings.NewReader("signed bodx"))
			return r
		}(), 400, "XAmzContentSHA256Mismatch"},
		{"malformed authorization", func() *http.Request {
			r := mustRequest(t, http.MethodGet, s.URL+"/"+bucket+"/k", nil)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 garbage")
			return r
		}(), 400, "AuthorizationHeaderMalformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := do(t, tc.req)
			if e := resp.errorCode(); resp.Status != tc.status || e.Code != tc.code {
				t.Errorf("got %d %q, want %d %q\n%s", resp.Status, e.Code, tc.status, tc.code, resp.Body)
			}
		})
	}
	// The body that failed its hash was not stored.
	_, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("k2")})
	wantAPIError(t, "HEAD after a refused PUT", err, "NotFound", 404)
}

func TestWireDetails(t *testing.T) {
	s := sharedSluice(t)
	c := s3Client(s, noRetries())
	ctx := context.Background()
	bucket := createBucket(t, c, "wire")

	t.Run("head-bucket names the region", func(t *testing.T) {
		out, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.BucketRegion) != "us-east-1" {
			t.Errorf("HeadBucket x-amz-bucket-region = %q, want us-east-1", aws.ToString(out.BucketRegion))
		}
	})

	t.Run("list and head agree on LastModified", func(t *testing.T) {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("lm"), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("lm")})
		if err != nil {
			t.Fatal(err)
		}
		list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("lm")})
		if err != nil || len(list.Contents) != 1 {
			t.Fatalf("list: %v %+v", err, list)
		}
		// HTTP dates have second precision; the listing may carry milliseconds.
		if h, l := aws.ToTime(head.LastModified), aws.ToTime(list.Contents[0].LastModified).Truncate(time.Second); !h.Equal(l) {
			t.Errorf("HEAD Last-Modified %v, listing %v", h, l)
		}
		if aws.ToString(head.ETag) != aws.ToString(list.Contents[0].ETag) {
			t.Errorf("HEAD ETag %s, listing %s", aws.ToString(head.ETag), aws.ToString(list.Contents[0].ETag))
		}
		// If-Modified-Since equal to Last-Modified: not modified.
		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("lm"), IfModifiedSince: head.LastModified})
		if _, status := apiCode(err); status != http.StatusNotModified {
			t.Errorf("GET If-Modified-Since = Last-Modified: %v, want 304", err)
		}
	})

	t.Run("PUT without Content-Length", func(t *testing.T) {
		// A chunked body with no length: S3 answers 411 MissingContentLength.
		body := io.MultiReader(strings.NewReader("no "), strings.NewReader("length"))
		req := signedRequest(t, s, http.MethodPut, s.URL+"/"+bucket+"/chunked", body, signSpec{PayloadHash: "UNSIGNED-PAYLOAD"})
		resp := do(t, req)
		if e := resp.errorCode(); resp.Status != http.StatusLengthRequired || e.Code != "MissingContentLength" {
			t.Errorf("chunked PUT: %d %q, want 411 MissingContentLength\n%s", resp.Status, e.Code, resp.Body)
		}
	})

	t.Run("bucket with and without trailing slash", func(t *testing.T) {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("slash"), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/" + bucket, "/" + bucket + "/"} {
			resp := do(t, signedRequest(t, s, http.MethodGet, s.URL+path+"?list-type=2", nil, signSpec{}))
			var res struct {
				Name     string
				KeyCount int
			}
			_ = xml.Unmarshal(resp.Body, &res)
			if resp.Status != http.StatusOK || res.Name != bucket || res.KeyCount < 1 {
				t.Errorf("GET %s?list-type=2: %d %+v\n%s", path, resp.Status, res, resp.Body)
			}
		}
	})
}
