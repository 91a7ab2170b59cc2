package awsevent

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func edgeViewerRequest() *http.Request {
	r := httptest.NewRequest("GET", "/images/cat.jpg?d=100x100", nil)
	r.Host = "d111111abcdef8.cloudfront.net"
	r.RemoteAddr = "203.0.113.178:40000"
	r.Header.Set("User-Agent", "curl/7.66.0")
	r.Header.Set("Accept", "*/*")
	return r
}

func customOrigin() *CloudFrontOrigin {
	return &CloudFrontOrigin{Custom: &CloudFrontCustomOrigin{
		DomainName: "example.org", KeepaliveTimeout: 5, Path: "", Port: 443, Protocol: "https",
		ReadTimeout: 30, SSLProtocols: []string{"TLSv1", "TLSv1.1", "TLSv1.2"},
	}}
}

// originHeaders are the headers CloudFront sends to an origin in AWS's example.
func originRequest(t *testing.T) CloudFrontRequest {
	t.Helper()
	req := NewCloudFrontRequest(edgeViewerRequest(), "")
	req.Headers = CloudFrontHeaders{}
	req.Headers.Set("X-Forwarded-For", "203.0.113.178")
	req.Headers.Set("User-Agent", "Amazon CloudFront")
	req.Headers.Set("Via", "2.0 2afae0d44e2540f472c0635ab62c232b.cloudfront.net (CloudFront)")
	req.Headers.Set("Host", "example.org")
	req.Headers.Set("Cache-Control", "no-cache")
	req.Origin = customOrigin()
	return req
}

func originResponse() CloudFrontResponse {
	h := http.Header{}
	h.Set("Content-Type", "image/jpeg")
	h.Set("Content-Length", "9593")
	h.Set("Date", "Mon, 13 Jan 2020 20:12:38 GMT")
	h.Set("Server", "ExampleCustomOriginServer")
	return NewCloudFrontResponse(200, h)
}

func TestCloudFrontEventsGolden(t *testing.T) {
	cfg := func(eventType string) CloudFrontConfig {
		return NewCloudFrontConfig("EDFDVBD6EXAMPLE", "d111111abcdef8.cloudfront.net", eventType, &seqReader{})
	}
	tests := []struct {
		name, golden, example string
		ev                    func(t *testing.T) CloudFrontEvent
	}{
		{"viewer-request", "cloudfront-viewer-request.json", "aws-cloudfront-viewer-request-example.json", func(t *testing.T) CloudFrontEvent {
			req := NewCloudFrontRequest(edgeViewerRequest(), "")
			req.Origin = customOrigin() // must be dropped: viewers never see the origin
			return NewCloudFrontRequestEvent(cfg(EdgeViewerRequest), req)
		}},
		{"origin-request", "cloudfront-origin-request.json", "aws-cloudfront-origin-request-example.json", func(t *testing.T) CloudFrontEvent {
			return NewCloudFrontRequestEvent(cfg(EdgeOriginRequest), originRequest(t))
		}},
		{"origin-response", "cloudfront-origin-response.json", "aws-cloudfront-origin-response-example.json", func(t *testing.T) CloudFrontEvent {
			return NewCloudFrontResponseEvent(cfg(EdgeOriginResponse), originRequest(t), originResponse())
		}},
		{"viewer-response", "cloudfront-viewer-response.json", "aws-cloudfront-viewer-response-example.json", func(t *testing.T) CloudFrontEvent {
			req := NewCloudFrontRequest(edgeViewerRequest(), "")
			req.Origin = customOrigin()
			req.Body = NewCloudFrontBody([]byte("x"), EdgeViewerRequest)
			return NewCloudFrontResponseEvent(cfg(EdgeViewerResponse), req, originResponse())
		}},
		{"origin-request with body and s3 origin", "cloudfront-origin-request-body.json", "", func(t *testing.T) CloudFrontEvent {
			r := httptest.NewRequest("POST", "/form", strings.NewReader("a=1"))
			r.Host = "d111111abcdef8.cloudfront.net"
			req := NewCloudFrontRequest(r, "198.51.100.9")
			req.Body = NewCloudFrontBody([]byte("a=1"), EdgeOriginRequest)
			req.Origin = &CloudFrontOrigin{S3: &CloudFrontS3Origin{
				AuthMethod: "origin-access-identity", DomainName: "photos.s3.localhost", Region: "us-east-1",
			}}
			return NewCloudFrontRequestEvent(cfg(EdgeOriginRequest), req)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := golden(t, tt.golden, tt.ev(t))
			if tt.example != "" {
				sameShape(t, tt.example, got)
			}
			var back CloudFrontEvent
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.ev(t), back, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("decode of our own event differs (-built +decoded):\n%s", diff)
			}
		})
	}
}

func TestCloudFrontRequestFields(t *testing.T) {
	r := httptest.NewRequest("GET", "/a%20b/%E2%9C%93.jpg?d=1x1&w=2", nil)
	r.Host = "edge.localhost:4567"
	r.RemoteAddr = "[2001:db8::1]:5555"
	r.Header.Add("Accept-Encoding", "gzip")
	r.Header.Add("X-Dup", "1")
	r.Header.Add("X-Dup", "2")
	req := NewCloudFrontRequest(r, "")
	if req.URI != "/a%20b/%E2%9C%93.jpg" || req.QueryString != "d=1x1&w=2" || req.ClientIP != "2001:db8::1" {
		t.Errorf("uri %q querystring %q clientIp %q", req.URI, req.QueryString, req.ClientIP)
	}
	want := CloudFrontHeaders{
		"host":            {{Key: "Host", Value: "edge.localhost:4567"}},
		"accept-encoding": {{Key: "Accept-Encoding", Value: "gzip"}},
		"x-dup":           {{Key: "X-Dup", Value: "1"}, {Key: "X-Dup", Value: "2"}},
	}
	if diff := cmp.Diff(want, req.Headers); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	back := req.Headers.HTTPHeader()
	if diff := cmp.Diff([]string{"1", "2"}, back.Values("X-Dup")); diff != "" {
		t.Errorf("HTTPHeader (-want +got):\n%s", diff)
	}
	if req.Headers.Get("ACCEPT-ENCODING") != "gzip" {
		t.Error("Get is not case-insensitive")
	}
}

func TestCloudFrontBodyTruncation(t *testing.T) {
	tests := []struct {
		name      string
		size      int
		eventType string
		truncated bool
		keep      int
	}{
		{"viewer under limit", MaxViewerRequestBody, EdgeViewerRequest, false, MaxViewerRequestBody},
		{"viewer over limit", MaxViewerRequestBody + 1, EdgeViewerRequest, true, MaxViewerRequestBody},
		{"origin allows more", MaxViewerRequestBody + 1, EdgeOriginRequest, false, MaxViewerRequestBody + 1},
		{"origin over limit", MaxOriginRequestBody + 10, EdgeOriginRequest, true, MaxOriginRequestBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewCloudFrontBody([]byte(strings.Repeat("z", tt.size)), tt.eventType)
			if b.InputTruncated != tt.truncated || b.Action != "read-only" || b.Encoding != "base64" {
				t.Fatalf("body %+v", *b)
			}
			data, err := b.Decode()
			if err != nil || len(data) != tt.keep {
				t.Fatalf("decoded %d bytes, %v; want %d", len(data), err, tt.keep)
			}
		})
	}
}

// Functions return what they were given, edited; what they return must decode.
func TestCloudFrontDecodesFunctionResult(t *testing.T) {
	in := `{"status":"302","statusDescription":"Found","headers":{"location":[{"value":"https://example.com/"}]},"body":"moved","bodyEncoding":"text"}`
	var resp CloudFrontResponse
	if err := json.Unmarshal([]byte(in), &resp); err != nil {
		t.Fatal(err)
	}
	if got := resp.Headers.HTTPHeader().Get("Location"); got != "https://example.com/" {
		t.Errorf("Location = %q", got)
	}
	if resp.Status != "302" || resp.Body != "moved" {
		t.Errorf("%+v", resp)
	}
}

func FuzzCloudFrontEvent(f *testing.F) {
	f.Add("/a.jpg", "d=1x1", "Accept", "*/*", []byte("body"))
	f.Add("/%zz", "&&", "X-\x00", "\xff", []byte{})
	f.Fuzz(func(t *testing.T, path, query, hname, hvalue string, body []byte) {
		r, err := http.NewRequest("GET", "http://d.example/", nil)
		if err != nil {
			t.Skip()
		}
		r.URL.Path, r.URL.RawQuery = path, query
		r.Header[hname] = []string{hvalue}
		req := NewCloudFrontRequest(r, "192.0.2.1")
		req.Body = NewCloudFrontBody(body, EdgeOriginRequest)
		ev := NewCloudFrontRequestEvent(NewCloudFrontConfig("E1", "d.example", EdgeOriginRequest, nil), req)
		b, err := Marshal(ev)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var back CloudFrontEvent
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		data, err := back.Records[0].CF.Request.Body.Decode()
		if err != nil || string(data) != string(body) {
			t.Fatalf("body %q came back as %q, %v", body, data, err)
		}
	})
}
