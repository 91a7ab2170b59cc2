//go:build integration

package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// localhostDialer resolves every *.localhost name to 127.0.0.1, as browsers
// and systemd-resolved do, so virtual-hosted-style requests reach the server
// whatever /etc/hosts says.
func localhostDialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err == nil && (host == "localhost" || strings.HasSuffix(host, ".localhost")) {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		return d.DialContext(ctx, network, addr)
	}
}

// httpClient is a plain client with the localhost dialer and no proxy.
func httpClient() *http.Client {
	return &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         localhostDialer(),
			MaxIdleConnsPerHost: 32,
		},
	}
}

type clientOption func(*s3.Options)

// virtualHosted switches the client to bucket.localhost:PORT addressing.
func virtualHosted(s *sluiceServer) clientOption {
	return func(o *s3.Options) {
		_, port, _ := net.SplitHostPort(s.Addr)
		o.BaseEndpoint = aws.String("http://localhost:" + port)
		o.UsePathStyle = false
	}
}

// withKeys overrides the client's credentials.
func withKeys(ak, sk string) clientOption {
	return func(o *s3.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider(ak, sk, "")
	}
}

// noRetries makes error assertions see the first response.
func noRetries() clientOption {
	return func(o *s3.Options) { o.RetryMaxAttempts = 1 }
}

// s3Client returns an aws-sdk-go-v2 S3 client for s (path-style by default).
func s3Client(s *sluiceServer, opts ...clientOption) *s3.Client {
	o := s3.Options{
		Region:       s.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		BaseEndpoint: aws.String(s.URL),
		UsePathStyle: true,
		HTTPClient:   httpClient(),
	}
	for _, f := range opts {
		f(&o)
	}
	return s3.New(o)
}

// apiCode returns the AWS error code and HTTP status carried by err.
func apiCode(err error) (string, int) {
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	status := 0
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

// wantAPIError fails t unless err is an AWS error with code and status.
func wantAPIError(t testing.TB, what string, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got success, want %s (%d)", what, code, status)
		return
	}
	gotCode, gotStatus := apiCode(err)
	if gotCode != code || gotStatus != status {
		t.Errorf("%s: got %q (%d), want %q (%d); error: %v", what, gotCode, gotStatus, code, status, err)
	}
}

// s3Error is the XML body of an S3 error response.
type s3Error struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource"`
	RequestID string   `xml:"RequestId"`
}

// rawResponse is a fully read HTTP response.
type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// errorCode parses the S3 XML error in the body ("" if there is none).
func (r rawResponse) errorCode() s3Error {
	var e s3Error
	_ = xml.Unmarshal(r.Body, &e)
	return e
}

// do sends req with the plain client and reads the whole response.
func do(t testing.TB, req *http.Request) rawResponse {
	t.Helper()
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// signedRequest builds a SigV4-signed request for service in region, with
// the given body; payloadHash "" means the SHA-256 of body, and the literal
// "UNSIGNED-PAYLOAD" is accepted for streaming bodies.
type signSpec struct {
	Service, Region string
	AccessKey       string
	SecretKey       string
	PayloadHash     string
	Time            time.Time
	// ContentLength, when positive, is set on a streaming body's request.
	ContentLength int64
}

func signedRequest(t testing.TB, s *sluiceServer, method, url string, body io.Reader, spec signSpec) *http.Request {
	t.Helper()
	if spec.Service == "" {
		spec.Service = "s3"
	}
	if spec.Region == "" {
		spec.Region = s.Region
	}
	if spec.AccessKey == "" {
		spec.AccessKey, spec.SecretKey = s.AccessKey, s.SecretKey
	}
	if spec.Time.IsZero() {
		spec.Time = time.Now()
	}
	var reader io.Reader = body
	if spec.PayloadHash == "" {
		var b []byte
		if body != nil {
			var err error
			if b, err = io.ReadAll(body); err != nil {
				t.Fatal(err)
			}
		}
		sum := sha256.Sum256(b)
		spec.PayloadHash = hex.EncodeToString(sum[:])
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, reader)
	if err != nil {
		t.Fatal(err)
	}
	if spec.ContentLength > 0 {
		req.ContentLength = spec.ContentLength
	}
	req.Header.Set("X-Amz-Content-Sha256", spec.PayloadHash)
	creds := aws.Credentials{AccessKeyID: spec.AccessKey, SecretAccessKey: spec.SecretKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, spec.PayloadHash, spec.Service, spec.Region, spec.Time); err != nil {
		t.Fatal(err)
	}
	return req
}
