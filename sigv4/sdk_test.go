package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"
	"github.com/sluicehq/sluice"
)

// captured is what the test server saw of one request.
type captured struct {
	id            sluice.Identity
	err           error
	body          []byte
	readErr       error
	header        http.Header
	trailer       http.Header
	contentLength int64
}

// captureServer verifies every request with v, reads the body fully and
// records the outcome, as a front door would.
type captureServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []captured
}

func newCaptureServer(t *testing.T, v *Verifier) *captureServer {
	return newCaptureServerTLS(t, v, false)
}

func newCaptureServerTLS(t *testing.T, v *Verifier, useTLS bool) *captureServer {
	t.Helper()
	cs := &captureServer{}
	cs.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := captured{header: r.Header.Clone()}
		c.id, c.err = v.Verify(r)
		if c.err == nil {
			c.body, c.readErr = io.ReadAll(r.Body)
			c.trailer = r.Trailer.Clone()
			c.contentLength = r.ContentLength
		}
		cs.mu.Lock()
		cs.seen = append(cs.seen, c)
		cs.mu.Unlock()
		switch {
		case c.err != nil:
			w.WriteHeader(http.StatusForbidden)
		case c.readErr != nil:
			w.WriteHeader(http.StatusBadRequest)
		default:
			w.Header().Set("ETag", `"d41d8cd98f00b204e9800998ecf8427e"`)
			w.WriteHeader(http.StatusOK)
		}
	}))
	if useTLS {
		cs.StartTLS()
	} else {
		cs.Start()
	}
	t.Cleanup(cs.Close)
	return cs
}

func (cs *captureServer) last(t *testing.T) captured {
	t.Helper()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.seen) == 0 {
		t.Fatal("server saw no request")
	}
	return cs.seen[len(cs.seen)-1]
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

var testCreds = aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}

// Requests signed by aws-sdk-go-v2's signer, an independent implementation,
// sent over a real connection.
func TestSDKSignerRoundTrip(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	v := newVerifier(t, "test", "test", now)
	cs := newCaptureServer(t, v)

	tests := []struct {
		name        string
		service     string
		method      string
		path        string // escaped, as the client sends it
		query       string
		header      map[string]string
		body        string
		payloadHash string // "" means sha256 of body
		sendHash    bool   // send x-amz-content-sha256 (S3 clients do)
		token       string
		s3Escaping  bool
	}{
		{name: "s3 get key with specials", service: "s3", method: "GET", path: "/bucket/photos/a%20b%2Bc%3Dd%26e/%C3%BC.jpg", sendHash: true, s3Escaping: true},
		{name: "s3 get key with dot segments", service: "s3", method: "GET", path: "/bucket/a//b/./c/../d", sendHash: true, s3Escaping: true},
		{name: "s3 list query", service: "s3", method: "GET", path: "/bucket", query: "list-type=2&prefix=a%20b%2B&delimiter=%2F&continuation-token=abc%2B%3D%3D&encoding-type=url", sendHash: true, s3Escaping: true},
		{name: "s3 put with metadata", service: "s3", method: "PUT", path: "/bucket/k", body: "hello world",
			header: map[string]string{"X-Amz-Meta-Note": "a   b  c", "Content-Type": "text/plain"}, sendHash: true, s3Escaping: true},
		{name: "s3 put unsigned payload", service: "s3", method: "PUT", path: "/bucket/k", body: "unsigned body", payloadHash: unsignedPayload, sendHash: true, s3Escaping: true},
		{name: "s3 session token", service: "s3", method: "GET", path: "/bucket/k", sendHash: true, token: "session-token", s3Escaping: true},
		{name: "s3 other region", service: "s3", method: "GET", path: "/bucket/k", sendHash: true, s3Escaping: true},
		{name: "lambda invoke by arn", service: "lambda", method: "POST",
			path: "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Afn/invocations", body: `{"k":"v"}`,
			header: map[string]string{"X-Amz-Invocation-Type": "RequestResponse", "X-Amz-Log-Type": "Tail"}},
		{name: "logs json target", service: "logs", method: "POST", path: "/", body: `{"logGroupName":"/aws/lambda/fn"}`,
			header: map[string]string{"X-Amz-Target": "Logs_20140328.FilterLogEvents", "Content-Type": "application/x-amz-json-1.1"}},
		{name: "cloudfront query", service: "cloudfront", method: "GET", path: "/2020-05-31/distribution/E123/invalidation", query: "MaxItems=10&Marker=a%20b"},
		{name: "lambda space in path", service: "lambda", method: "GET", path: "/2015-03-31/functions/my%20fn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := cs.URL + tt.path
			if tt.query != "" {
				u += "?" + tt.query
			}
			req, err := http.NewRequest(tt.method, u, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.body == "" {
				req.Body, req.ContentLength = http.NoBody, 0
			}
			for k, val := range tt.header {
				req.Header.Set(k, val)
			}
			hash := tt.payloadHash
			if hash == "" {
				hash = sha256Hex([]byte(tt.body))
			}
			if tt.sendHash {
				req.Header.Set("X-Amz-Content-Sha256", hash)
			}
			creds := testCreds
			creds.SessionToken = tt.token
			region := "us-east-1"
			if tt.name == "s3 other region" {
				region = "eu-west-1"
			}
			signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = tt.s3Escaping })
			if err := signer.SignHTTP(context.Background(), creds, req, hash, tt.service, region, now); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			c := cs.last(t)
			if c.err != nil {
				t.Fatalf("Verify: %v", describe(c.err))
			}
			if c.readErr != nil {
				t.Fatalf("read body: %v", c.readErr)
			}
			want := sluice.Identity{AccessKey: "test", Service: tt.service, Region: region}
			if diff := cmp.Diff(want, c.id); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
			if string(c.body) != tt.body {
				t.Errorf("body = %q, want %q", c.body, tt.body)
			}
		})
	}
}

// describe renders a SignatureDoesNotMatch with its canonical request, to
// make a failing round trip debuggable.
func describe(err error) string {
	var e *sluice.Error
	if asError(err, &e) && e.Fields["CanonicalRequest"] != "" {
		return err.Error() + "\ncanonical request:\n" + e.Fields["CanonicalRequest"]
	}
	return err.Error()
}

func TestSDKPresignRoundTrip(t *testing.T) {
	signTime := time.Now().UTC().Truncate(time.Second)
	tests := []struct {
		name     string
		method   string
		path     string
		expires  string
		body     string
		token    string
		now      time.Time
		wantCode sluice.Code
	}{
		{name: "get", method: "GET", path: "/bucket/photos/a%20b%2Bc.jpg", expires: "900", now: signTime},
		{name: "put body passes through", method: "PUT", path: "/bucket/upload.bin", expires: "3600", body: "uploaded through a presigned URL", now: signTime},
		{name: "session token", method: "GET", path: "/bucket/k", expires: "60", token: "tok", now: signTime},
		{name: "expired", method: "GET", path: "/bucket/k", expires: "60", now: signTime.Add(61 * time.Second), wantCode: sluice.ErrAccessDenied},
		{name: "week is allowed", method: "GET", path: "/bucket/k", expires: "604800", now: signTime.Add(6 * 24 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, "test", "test", tt.now)
			cs := newCaptureServer(t, v)
			req, err := http.NewRequest(tt.method, cs.URL+tt.path+"?X-Amz-Expires="+tt.expires, nil)
			if err != nil {
				t.Fatal(err)
			}
			creds := testCreds
			creds.SessionToken = tt.token
			signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
			signed, hdr, err := signer.PresignHTTP(context.Background(), creds, req, unsignedPayload, "s3", "us-east-1", signTime)
			if err != nil {
				t.Fatal(err)
			}
			out, err := http.NewRequest(tt.method, signed, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, vals := range hdr {
				if !strings.EqualFold(k, "Host") {
					out.Header[k] = vals
				}
			}
			resp, err := http.DefaultClient.Do(out)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			c := cs.last(t)
			if tt.wantCode != "" {
				checkErr(t, c.err, tt.wantCode, "", nil)
				return
			}
			if c.err != nil {
				t.Fatalf("Verify: %v", describe(c.err))
			}
			if string(c.body) != tt.body {
				t.Errorf("body = %q, want %q", c.body, tt.body)
			}
		})
	}
}

// The real S3 client, with its default checksum behaviour, path-style
// against the test server.
// Over plain HTTP the client signs a payload hash; over TLS it streams
// aws-chunked with a trailing checksum.
func TestS3ClientRoundTrip(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := "http"
		if useTLS {
			name = "https"
		}
		t.Run(name, func(t *testing.T) { testS3Client(t, useTLS) })
	}
}

func testS3Client(t *testing.T, useTLS bool) {
	v := newVerifier(t, "test", "test", time.Now())
	cs := newCaptureServerTLS(t, v, useTLS)
	client := s3.NewFromConfig(aws.Config{
		Region:      "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return testCreds, nil }),
		HTTPClient:  cs.Client(),
	}, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(cs.URL)
		o.UsePathStyle = true
		o.RetryMaxAttempts = 1
	})
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320000 bytes: several aws-chunked chunks

	t.Run("put seekable", func(t *testing.T) {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("dir/a b+c.txt"), Body: bytes.NewReader(big)}); err != nil {
			t.Fatalf("PutObject: %v", err)
		}
		checkUpload(t, cs.last(t), big)
	})
	t.Run("put unseekable", func(t *testing.T) {
		body := struct{ io.Reader }{bytes.NewReader(big)}
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("stream"), Body: body, ContentLength: aws.Int64(int64(len(big)))},
			s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)); err != nil {
			t.Fatalf("PutObject: %v", err)
		}
		checkUpload(t, cs.last(t), big)
	})
	t.Run("put empty", func(t *testing.T) {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("empty"), Body: bytes.NewReader(nil)}); err != nil {
			t.Fatalf("PutObject: %v", err)
		}
		checkUpload(t, cs.last(t), nil)
	})
	t.Run("put sha256 checksum", func(t *testing.T) {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("sum"), Body: bytes.NewReader(big),
			ChecksumAlgorithm: "SHA256"}); err != nil {
			t.Fatalf("PutObject: %v", err)
		}
		c := cs.last(t)
		checkUpload(t, c, big)
		if useTLS && c.header.Get("X-Amz-Content-Sha256") != streamingUnsignedTrailr {
			t.Errorf("payload mode %q, want the trailer form over TLS", c.header.Get("X-Amz-Content-Sha256"))
		}
		if useTLS && c.trailer.Get("X-Amz-Checksum-Sha256") == "" {
			t.Errorf("no sha256 trailer: %v", c.trailer)
		}
	})
	t.Run("get with special key", func(t *testing.T) {
		client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("ü/100%/x=y&z?.jpg"), Range: aws.String("bytes=0-9")})
		if c := cs.last(t); c.err != nil {
			t.Fatalf("Verify: %v", describe(c.err))
		}
	})
	t.Run("list with prefix", func(t *testing.T) {
		client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("b"), Prefix: aws.String("a b/ü+"), Delimiter: aws.String("/")})
		if c := cs.last(t); c.err != nil {
			t.Fatalf("Verify: %v", describe(c.err))
		}
	})
	t.Run("delete objects", func(t *testing.T) {
		client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("b"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("x")}, {Key: aws.String("y z")}}}})
		c := cs.last(t)
		if c.err != nil {
			t.Fatalf("Verify: %v", describe(c.err))
		}
		if !bytes.Contains(c.body, []byte("<Key>x</Key>")) {
			t.Errorf("body = %q, want the Delete XML", c.body)
		}
	})
	t.Run("presigned get", func(t *testing.T) {
		ps, err := s3.NewPresignClient(client).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("a b/ü.jpg")})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := cs.Client().Get(ps.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if c := cs.last(t); c.err != nil {
			t.Fatalf("Verify: %v", describe(c.err))
		}
	})
}

// checkUpload asserts a PutObject arrived whole, with aws-chunked framing
// removed and any trailing checksum published in the Trailer.
func checkUpload(t *testing.T, c captured, want []byte) {
	t.Helper()
	if c.err != nil {
		t.Fatalf("Verify: %v", describe(c.err))
	}
	if c.readErr != nil {
		t.Fatalf("read body: %v", c.readErr)
	}
	if !bytes.Equal(c.body, want) {
		t.Fatalf("body: got %d bytes, want %d", len(c.body), len(want))
	}
	mode := c.header.Get("X-Amz-Content-Sha256")
	t.Logf("payload mode %s, trailer %v", mode, c.trailer)
	if strings.HasPrefix(mode, "STREAMING-") {
		if c.contentLength != int64(len(want)) {
			t.Errorf("ContentLength = %d, want %d", c.contentLength, len(want))
		}
	}
	for _, name := range strings.Split(c.header.Get("X-Amz-Trailer"), ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if got := c.trailer.Get(name); got == "" {
			t.Errorf("trailer %s not filled: %v", name, c.trailer)
		}
	}
	if sum := c.trailer.Get("X-Amz-Checksum-Sha256"); sum != "" {
		s := sha256.Sum256(want)
		if got := base64.StdEncoding.EncodeToString(s[:]); sum != got {
			t.Errorf("sha256 trailer = %s, want %s", sum, got)
		}
	}
}

func TestContentLengthSeenByServer(t *testing.T) {
	// Go's server keeps Content-Length in r.Header for a request with a
	// body; the verifier also falls back to r.ContentLength when a caller
	// has removed it.
	r := serverRequest(t, "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc")
	if got := r.Header.Get("Content-Length"); got != "3" {
		t.Errorf("Content-Length header = %q", got)
	}
	if diff := cmp.Diff([]string{"3"}, headerValues(r, "content-length")); diff != "" {
		t.Error(diff)
	}
	r.Header.Del("Content-Length")
	if diff := cmp.Diff([]string{"3"}, headerValues(r, "content-length")); diff != "" {
		t.Error(diff)
	}
	r = serverRequest(t, "PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	if _, ok := r.Header["Transfer-Encoding"]; ok {
		t.Error("Transfer-Encoding left in r.Header")
	}
	if diff := cmp.Diff([]string{"chunked"}, headerValues(r, "transfer-encoding")); diff != "" {
		t.Error(diff)
	}
}
