package s3api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
	"github.com/sluicehq/sluice"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mut     func(*Config)
		wantErr string
	}{
		{"default", func(*Config) {}, ""},
		{"bad region", func(c *Config) { c.Region = "mars" }, "region"},
		{"empty base domain", func(c *Config) { c.BaseDomains = []string{""} }, "base_domains"},
		{"base domain with port", func(c *Config) { c.BaseDomains = []string{"localhost:4566"} }, "base_domains"},
		{"put size too big", func(c *Config) { c.MaxPutSize = sluice.MaxPutSize + 1 }, "max_put_size"},
		{"put size negative", func(c *Config) { c.MaxPutSize = -1 }, "max_put_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mut(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error naming %q", err, tt.wantErr)
			}
		})
	}
}

func TestResolveAddressing(t *testing.T) {
	srv, err := New(DefaultConfig(), nopStore{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		host       string
		target     string
		wantBucket string
		wantKey    string
	}{
		{"path style", "127.0.0.1:4566", "/bkt/a/b.txt", "bkt", "a/b.txt"},
		{"path style bucket only", "127.0.0.1:4566", "/bkt", "bkt", ""},
		{"path style bucket slash", "127.0.0.1:4566", "/bkt/", "bkt", ""},
		{"service", "127.0.0.1:4566", "/", "", ""},
		{"base domain is path style", "localhost:4566", "/bkt/k", "bkt", "k"},
		{"s3 base domain is path style", "s3.localhost:4566", "/bkt/k", "bkt", "k"},
		{"ipv6 is path style", "[::1]:4566", "/bkt/k", "bkt", "k"},
		{"unknown host is path style", "sluice:4566", "/bkt/k", "bkt", "k"},
		{"virtual host", "bkt.localhost:4566", "/k", "bkt", "k"},
		{"virtual host s3 longest match", "bkt.s3.localhost:4566", "/k", "bkt", "k"},
		{"virtual host dotted bucket", "my.bkt.localhost", "/dir/k", "my.bkt", "dir/k"},
		{"virtual host upper case host", "BKT.LOCALHOST:4566", "/k", "bkt", "k"},
		{"virtual host amazonaws", "bkt.s3.amazonaws.com", "/k", "bkt", "k"},
		{"virtual host localstack", "bkt.localhost.localstack.cloud:4566", "/k", "bkt", "k"},
		{"virtual host root", "bkt.localhost:4566", "/", "bkt", ""},
		{"double slash kept", "127.0.0.1", "/bkt/a//b", "bkt", "a//b"},
		{"dot dot kept", "127.0.0.1", "/bkt/../x", "bkt", "../x"},
		{"trailing slash kept", "127.0.0.1", "/bkt/dir/", "bkt", "dir/"},
		{"escaped slash", "127.0.0.1", "/bkt/a%2Fb", "bkt", "a/b"},
		{"escaped percent once", "127.0.0.1", "/bkt/100%2525", "bkt", "100%25"},
		{"plus is literal", "127.0.0.1", "/bkt/a+b", "bkt", "a+b"},
		{"space", "127.0.0.1", "/bkt/a%20b", "bkt", "a b"},
		{"emoji", "127.0.0.1", "/bkt/%F0%9F%98%80.png", "bkt", "\U0001F600.png"},
		{"virtual host key with leading slash", "bkt.localhost", "//k", "bkt", "/k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://x"+tt.target, nil)
			r.Host = tt.host
			b, k, err := srv.resolve(r)
			if err != nil {
				t.Fatalf("resolve: %v", err)
			}
			if diff := cmp.Diff([]string{tt.wantBucket, tt.wantKey}, []string{b, k}); diff != "" {
				t.Fatalf("bucket, key (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVirtualHostedRequests(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("vhost")
	ts.mkBucket("my.dotted")
	for _, tt := range []struct{ name, host, bucket string }{
		{"localhost", "vhost.localhost:4566", "vhost"},
		{"s3.localhost", "vhost.s3.localhost:4566", "vhost"},
		{"dotted bucket", "my.dotted.localhost", "my.dotted"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			put := ts.do(rawReq{method: "PUT", path: "/dir/obj.txt", host: tt.host, body: []byte("via " + tt.host)})
			if put.status != 200 {
				t.Fatalf("put: %d %s", put.status, put.body)
			}
			get := ts.do(rawReq{method: "GET", path: "/" + tt.bucket + "/dir/obj.txt"})
			if get.status != 200 || string(get.body) != "via "+tt.host {
				t.Fatalf("path-style get = %d %q", get.status, get.body)
			}
			list := ts.do(rawReq{method: "GET", path: "/?list-type=2", host: tt.host})
			if list.status != 200 || !bytes.Contains(list.body, []byte("<Name>"+tt.bucket+"</Name>")) {
				t.Fatalf("virtual-hosted list = %d %s", list.status, list.body)
			}
		})
	}
}

func TestOddKeysRoundTrip(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("odd")
	keys := []string{
		"../x", "a//b", "%", "100%25", "with space", "plus+sign", "emoji-\U0001F600", "dir/", "/leading",
		"a/../b", "./dot", "q?mark", "hash#tag", "amp&er=sand", "semi;colon", "tab\tkey", "ünïcödé/ключ", "trailing//",
		strings.Repeat("k", sluice.MaxKeyLength),
	}
	ctx := context.Background()
	for _, k := range keys {
		ts.putObject("odd", k, []byte("body of "+k))
	}
	for _, k := range keys {
		out, err := ts.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("odd"), Key: aws.String(k)})
		if err != nil {
			t.Fatalf("get %q: %v", k, err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(b) != "body of "+k {
			t.Fatalf("get %q = %q", k, b)
		}
	}
	var got []string
	p := s3.NewListObjectsV2Paginator(ts.Client, &s3.ListObjectsV2Input{Bucket: aws.String("odd"), MaxKeys: aws.Int32(5)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			got = append(got, aws.ToString(o.Key))
		}
	}
	want := append([]string(nil), keys...)
	sortStrings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("listed keys (-want +got):\n%s", diff)
	}
}

func TestKeyTooLong(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("long")
	resp := ts.do(rawReq{method: "PUT", path: "/long/" + strings.Repeat("k", sluice.MaxKeyLength+1), body: []byte("x")})
	wantError(t, resp, 400, "KeyTooLongError")
}

func TestNotImplementedSubresources(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("nib")
	ts.putObject("nib", "k", []byte("x"))
	tests := []struct {
		method, path, op string
	}{
		{"GET", "/nib?lifecycle", "GetBucketLifecycleConfiguration"},
		{"PUT", "/nib?lifecycle", "PutBucketLifecycleConfiguration"},
		{"DELETE", "/nib?lifecycle", "DeleteBucketLifecycle"},
		{"GET", "/nib?cors", "GetBucketCors"},
		{"PUT", "/nib?website", "PutBucketWebsite"},
		{"GET", "/nib?encryption", "GetBucketEncryption"},
		{"GET", "/nib?object-lock", "GetObjectLockConfiguration"},
		{"GET", "/nib?logging", "GetBucketLogging"},
		{"GET", "/nib?accelerate", "GetBucketAccelerateConfiguration"},
		{"GET", "/nib?requestPayment", "GetBucketRequestPayment"},
		{"GET", "/nib?inventory", "ListBucketInventoryConfigurations"},
		{"GET", "/nib?inventory&id=x", "GetBucketInventoryConfiguration"},
		{"GET", "/nib?analytics", "ListBucketAnalyticsConfigurations"},
		{"GET", "/nib?metrics&id=m", "GetBucketMetricsConfiguration"},
		{"GET", "/nib?intelligent-tiering", "ListBucketIntelligentTieringConfigurations"},
		{"GET", "/nib?ownershipControls", "GetBucketOwnershipControls"},
		{"GET", "/nib?publicAccessBlock", "GetPublicAccessBlock"},
		{"GET", "/nib/k?retention", "GetObjectRetention"},
		{"PUT", "/nib/k?legal-hold", "PutObjectLegalHold"},
		{"POST", "/nib/k?restore", "RestoreObject"},
		{"POST", "/nib/k?select&select-type=2", "SelectObjectContent"},
		{"GET", "/nib/k?torrent", "GetObjectTorrent"},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			e := wantError(t, ts.do(rawReq{method: tt.method, path: tt.path}), 501, "NotImplemented")
			if want := tt.op + " is not implemented by Sluice"; e.Message != want {
				t.Fatalf("message = %q, want %q", e.Message, want)
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("mna")
	tests := []struct{ name, method, path string }{
		{"patch object", "PATCH", "/mna/k"},
		{"post object without subresource", "POST", "/mna/k"},
		{"put service", "PUT", "/"},
		{"delete service", "DELETE", "/"},
		{"post location", "POST", "/mna?location"},
		{"put uploads", "PUT", "/mna?uploads"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, ts.do(rawReq{method: tt.method, path: tt.path}), 405, "MethodNotAllowed")
		})
	}
}

func TestWriteErrorShape(t *testing.T) {
	srv, err := New(DefaultConfig(), nopStore{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		method     string
		err        error
		wantStatus int
		wantBody   string
	}{
		{
			name: "no such key with fields", method: "GET",
			err:        sluice.Errorf(sluice.ErrNoSuchKey, "The specified key does not exist.").With("Key", "a<b"),
			wantStatus: 404,
			wantBody:   `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a&lt;b</Key><Resource>/b/a&lt;b</Resource><RequestId>RID</RequestId><HostId>HID</HostId></Error>`,
		},
		{
			name: "internal error hides text", method: "GET",
			err:        errors.New("disk on fire at /var/secret"),
			wantStatus: 500,
			wantBody:   `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><Resource>/b/a&lt;b</Resource><RequestId>RID</RequestId><HostId>HID</HostId></Error>`,
		},
		{
			name: "wrapped domain error keeps code", method: "GET",
			err:        errorsJoin(sluice.Errorf(sluice.ErrSlowDown, "Please reduce your request rate.")),
			wantStatus: 503,
			wantBody:   `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><Resource>/b/a&lt;b</Resource><RequestId>RID</RequestId><HostId>HID</HostId></Error>`,
		},
		{name: "head has no body", method: "HEAD", err: sluice.Errorf(sluice.ErrNoSuchKey, "x"), wantStatus: 404},
		{name: "not modified has no body", method: "GET", err: sluice.Errorf(sluice.ErrNotModified, "x"), wantStatus: 304},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/b/a%3Cb", nil)
			r = r.WithContext(sluice.WithRequestInfo(r.Context(), sluice.RequestInfo{ID: "RID", HostID: "HID"}))
			w := httptest.NewRecorder()
			w.Header().Set("X-Amz-Request-Id", "RID")
			srv.WriteError(w, r, tt.err)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			if diff := cmp.Diff(tt.wantBody, w.Body.String()); diff != "" {
				t.Fatalf("body (-want +got):\n%s", diff)
			}
			if w.Header().Get("X-Amz-Request-Id") != "RID" {
				t.Fatal("x-amz-request-id header removed")
			}
		})
	}
}

func errorsJoin(err error) error { return errors.Join(errors.New("context"), err) }

func TestStatusTable(t *testing.T) {
	want := map[sluice.Code]int{
		sluice.ErrAccessDenied: 403, sluice.ErrNoSuchBucket: 404, sluice.ErrNoSuchKey: 404, sluice.ErrNoSuchUpload: 404,
		sluice.ErrBucketNotEmpty: 409, sluice.ErrBucketAlreadyOwnedByYou: 409, sluice.ErrBucketAlreadyExists: 409,
		sluice.ErrInvalidBucketName: 400, sluice.ErrKeyTooLong: 400, sluice.ErrEntityTooLarge: 400, sluice.ErrEntityTooSmall: 400,
		sluice.ErrInvalidPart: 400, sluice.ErrInvalidPartOrder: 400, sluice.ErrMalformedXML: 400, sluice.ErrInvalidArgument: 400,
		sluice.ErrInvalidRange: 416, sluice.ErrPreconditionFailed: 412, sluice.ErrNotModified: 304, sluice.ErrMethodNotAllowed: 405,
		sluice.ErrNotImplemented: 501, sluice.ErrSignatureDoesNotMatch: 403, sluice.ErrInvalidAccessKeyID: 403,
		sluice.ErrAuthorizationHeaderMalformed: 400, sluice.ErrRequestTimeTooSkewed: 403, sluice.ErrMissingContentLength: 411,
		sluice.ErrInternal: 500, sluice.ErrSlowDown: 503, sluice.ErrServiceUnavailable: 503, sluice.ErrNoSuchBucketPolicy: 404,
		sluice.ErrNoSuchTagSet: 404, sluice.ErrMalformedPolicy: 400, sluice.ErrContentSHA256Mismatch: 400, sluice.ErrBadDigest: 400,
		sluice.ErrInvalidDigest: 400, sluice.ErrMetadataTooLarge: 400, sluice.ErrConditionalConflict: 409,
		sluice.ErrInvalidPartNumber: 416, sluice.ErrMaxMessageLengthExceeds: 400, sluice.ErrIncompleteBody: 400,
	}
	got := map[sluice.Code]int{}
	for c := range want {
		got[c] = Status(c)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("status table (-want +got):\n%s", diff)
	}
}

func TestPanicBecomesInternalError(t *testing.T) {
	srv, err := New(DefaultConfig(), panicStore{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/bkt/key", nil)
	r = r.WithContext(sluice.WithIdentity(r.Context(), sluice.Identity{AccessKey: "test"}))
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	if w.Code != 500 || !strings.Contains(w.Body.String(), "<Code>InternalError</Code>") {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
}

// nopStore is a sluice.Store that holds nothing; only for tests that never
// reach the store or want it to fail.
type nopStore struct{ sluice.Store }

func (nopStore) BucketConfig(context.Context, string, string) ([]byte, error) { return nil, nil }

// panicStore panics on every object read, to exercise the recovery path.
type panicStore struct{ nopStore }

func (panicStore) OpenObject(context.Context, string, string) (sluice.Object, error) {
	panic("boom")
}

var _ http.Handler = (*Server)(nil)
