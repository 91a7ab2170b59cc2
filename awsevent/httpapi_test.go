package awsevent

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
)

var apiTime = time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)

func apiRoute() HTTPRoute {
	return HTTPRoute{
		APIID:     "a1b2c3d4e5",
		RouteKey:  "POST /my/{param}",
		RequestID: "JKJaXmPLvHcESHA=",
		Time:      apiTime,
		Rand:      &seqReader{},
	}
}

func newAPIRequest(method, target, body string, header map[string][]string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Host = "a1b2c3d4e5.execute-api.localhost:4566"
	r.RemoteAddr = "192.0.2.1:51234"
	for k, vs := range header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	return r
}

func TestHTTPAPIRequestGolden(t *testing.T) {
	tests := []struct {
		name    string
		golden  string
		example string
		req     *http.Request
		body    string
		route   func(*HTTPRoute)
	}{
		{
			name:    "every field like the AWS example",
			golden:  "httpapi-post-json.json",
			example: "aws-httpapi-example.json",
			req: newAPIRequest("POST", "/my/path?parameter1=value1&parameter1=value2&parameter2=value", "", map[string][]string{
				"Content-Type": {"application/json"},
				"Cookie":       {"cookie1=a; cookie2=b"},
				"Header2":      {"value1", "value2"},
				"User-Agent":   {"agent"},
			}),
			body: `{"hello":"from lambda"}`,
			route: func(r *HTTPRoute) {
				r.PathParameters = map[string]string{"param": "path"}
				r.StageVariables = map[string]string{"stageVariable1": "value1"}
			},
		},
		{
			name:   "GET without body, query or cookies",
			golden: "httpapi-get.json",
			req:    newAPIRequest("GET", "/", "", map[string][]string{"User-Agent": {"curl/8.5.0"}, "Accept": {"*/*"}}),
			route:  func(r *HTTPRoute) { r.RouteKey = DefaultRoute },
		},
		{
			name:   "binary body is base64",
			golden: "httpapi-post-png.json",
			req:    newAPIRequest("PUT", "/upload/cat%20one.png", "", map[string][]string{"Content-Type": {"image/png"}}),
			body:   "\x89PNG\r\n\x1a\n\x00\x00",
			route: func(r *HTTPRoute) {
				r.RouteKey, r.Stage = "PUT /upload/{name+}", "prod"
				r.PathParameters = map[string]string{"name": "cat one.png"}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			route := apiRoute()
			tt.route(&route)
			got := golden(t, tt.golden, NewHTTPAPIRequest(tt.req, []byte(tt.body), route))
			if tt.example != "" {
				sameShape(t, tt.example, got)
			}
		})
	}
}

func TestHTTPAPIRequestFields(t *testing.T) {
	r := newAPIRequest("GET", "/a%20b/c?x=1&x=2&y=%C3%BC&flag", "", map[string][]string{
		"X-Multi":         {"one", "two"},
		"Cookie":          {"a=1; b=2", "c=3"},
		"X-Forwarded-For": {"198.51.100.7"},
	})
	ev := NewHTTPAPIRequest(r, nil, apiRoute())
	if ev.RawPath != "/a b/c" || ev.RequestContext.HTTP.Path != "/a b/c" {
		t.Errorf("rawPath %q, http.path %q: HTTP APIs deliver the decoded path", ev.RawPath, ev.RequestContext.HTTP.Path)
	}
	if ev.RawQueryString != "x=1&x=2&y=%C3%BC&flag" {
		t.Errorf("rawQueryString = %q", ev.RawQueryString)
	}
	wantQuery := map[string]string{"x": "1,2", "y": "ü", "flag": ""}
	if diff := cmp.Diff(wantQuery, ev.QueryStringParameters); diff != "" {
		t.Errorf("queryStringParameters (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a=1", "b=2", "c=3"}, ev.Cookies); diff != "" {
		t.Errorf("cookies (-want +got):\n%s", diff)
	}
	if _, ok := ev.Headers["cookie"]; ok {
		t.Error("cookie header kept; payload 2.0 moves it to cookies")
	}
	wantHeaders := map[string]string{
		"x-multi":           "one,two",
		"host":              "a1b2c3d4e5.execute-api.localhost:4566",
		"content-length":    "0",
		"x-forwarded-for":   "198.51.100.7, 192.0.2.1",
		"x-forwarded-proto": "http",
		"x-forwarded-port":  "4566",
	}
	for k, v := range wantHeaders {
		if ev.Headers[k] != v {
			t.Errorf("header %s = %q, want %q", k, ev.Headers[k], v)
		}
	}
	if !strings.HasPrefix(ev.Headers["x-amzn-trace-id"], "Root=1-") {
		t.Errorf("x-amzn-trace-id = %q", ev.Headers["x-amzn-trace-id"])
	}
	c := ev.RequestContext
	if c.DomainName != "a1b2c3d4e5.execute-api.localhost" || c.DomainPrefix != "a1b2c3d4e5" {
		t.Errorf("domain %q prefix %q", c.DomainName, c.DomainPrefix)
	}
	if c.Time != "02/Jan/2026:03:04:05 +0000" || c.TimeEpoch != apiTime.UnixMilli() {
		t.Errorf("time %q epoch %d", c.Time, c.TimeEpoch)
	}
	if c.AccountID != "000000000000" || c.Stage != "$default" || c.HTTP.SourceIP != "192.0.2.1" {
		t.Errorf("context %+v", c)
	}
}

func TestHTTPAPIBodyEncoding(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		encoding    string
		body        string
		wantBase64  bool
	}{
		{"json", "application/json", "", `{"a":1}`, false},
		{"json with charset", "application/json; charset=utf-8", "", `{"a":1}`, false},
		{"vendor json", "application/vnd.api+json", "", `{}`, false},
		{"plain text", "text/plain", "", "héllo", false},
		{"xml", "application/xml", "", "<a/>", false},
		{"form is base64 on AWS", "application/x-www-form-urlencoded", "", "a=1&b=2", true},
		{"no content type", "", "", "hello", true},
		{"octet stream", "application/octet-stream", "", "hello", true},
		{"image", "image/jpeg", "", "\xff\xd8\xff", true},
		{"gzip encoded json", "application/json", "gzip", "\x1f\x8b", true},
		{"identity encoding", "text/plain", "identity", "x", false},
		{"text that is not UTF-8", "text/plain", "", "\xff\xfe", true},
		{"malformed content type", "text/", "", "x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string][]string{}
			if tt.contentType != "" {
				h["Content-Type"] = []string{tt.contentType}
			}
			if tt.encoding != "" {
				h["Content-Encoding"] = []string{tt.encoding}
			}
			ev := NewHTTPAPIRequest(newAPIRequest("POST", "/", "", h), []byte(tt.body), apiRoute())
			if ev.IsBase64Encoded != tt.wantBase64 {
				t.Fatalf("isBase64Encoded = %v, want %v", ev.IsBase64Encoded, tt.wantBase64)
			}
			got := ev.Body
			if tt.wantBase64 {
				b, err := base64.StdEncoding.DecodeString(got)
				if err != nil {
					t.Fatal(err)
				}
				got = string(b)
			}
			if got != tt.body {
				t.Errorf("body = %q, want %q", got, tt.body)
			}
		})
	}
}

func TestHTTPAPIRequestOmitsEmptyAuthentication(t *testing.T) {
	ev := NewHTTPAPIRequest(newAPIRequest("GET", "/", "", nil), nil, apiRoute())
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "authentication") {
		t.Errorf("authentication emitted without mTLS: %s", b)
	}
	ev.RequestContext.Authentication.ClientCert.SerialNumber = "1"
	b, _ = json.Marshal(ev)
	if !strings.Contains(string(b), `"serialNumber":"1"`) {
		t.Errorf("authentication dropped when set: %s", b)
	}
	var back events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(events.APIGatewayV2HTTPRequest(ev), back); diff != "" {
		t.Errorf("round trip through events type (-want +got):\n%s", diff)
	}
}

func FuzzHTTPAPIRequest(f *testing.F) {
	f.Add("/", "a=1&a=2", "text/plain", "a=1; b", []byte("body"))
	f.Add("/x%2Fy", "%zz=%", "", ";;", []byte{0xff})
	f.Add("/p", "&&=&", "application/json; charset=\"", "", []byte(`{}`))
	f.Fuzz(func(t *testing.T, path, query, contentType, cookie string, body []byte) {
		r, err := http.NewRequest("POST", "http://h.example:8080/", nil)
		if err != nil {
			t.Skip()
		}
		r.URL.Path, r.URL.RawQuery = path, query
		r.Header.Set("Content-Type", contentType)
		r.Header.Set("Cookie", cookie)
		ev := NewHTTPAPIRequest(r, body, apiRoute())
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var back events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		got := []byte(back.Body)
		if back.IsBase64Encoded {
			if got, err = base64.StdEncoding.DecodeString(back.Body); err != nil {
				t.Fatal(err)
			}
		}
		if string(got) != string(body) {
			t.Fatalf("body %q came back as %q", body, got)
		}
	})
}
