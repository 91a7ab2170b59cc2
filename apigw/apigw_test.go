package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
)

const testAPIID = "a1b2c3d4e5"

func testConfig() Config {
	return DefaultConfig()
}

func newTestGateway(t testing.TB, cfg Config, inv sluice.Invoker, apis ...API) (*Gateway, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	g, err := New(cfg, inv, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range apis {
		if err := g.PutAPI(a); err != nil {
			t.Fatal(err)
		}
	}
	return g, reg
}

// newRequest builds a request to the test API's host; hdr is name, value pairs.
func newRequest(method, target, body string, hdr ...string) *http.Request {
	if !strings.HasPrefix(target, "http") {
		target = "http://" + testAPIID + ".execute-api.localhost:4566" + target
	}
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.RemoteAddr = "192.0.2.1:51234"
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

func do(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// echoRoute returns, as a JSON object without statusCode (so it becomes the
// body), what the function learnt about its route.
func echoRoute(_ context.Context, ev events.APIGatewayV2HTTPRequest) (any, error) {
	return map[string]any{"routeKey": ev.RouteKey, "pathParameters": ev.PathParameters}, nil
}

func wantMessage(t *testing.T, w *httptest.ResponseRecorder, status int, message string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d (body %q)", w.Code, status, w.Body.String())
	}
	if got, want := w.Body.String(), `{"message":"`+message+`"}`; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("content-type = %q, want application/json", ct)
	}
}

func TestRouteMatching(t *testing.T) {
	inv := newGoInvoker(map[string]goFunc{"echo": echoRoute})
	keys := []string{
		// The routes of AWS's route-selection example.
		"GET /pets/dog/1", "GET /pets/dog/{id}", "GET /pets/{proxy+}", "ANY /{proxy+}",
		// And more, to pin method-vs-ANY and variable-vs-greedy order.
		"POST /pets/dog/{id}", "ANY /pets/dog/{id}", "GET /", "GET /items/{id}/tags/{tag}",
		"GET /files/{path+}", "GET /a/{x}/c", "GET /a/b/{y}", "$default",
	}
	api := API{ID: testAPIID}
	for _, k := range keys {
		api.Routes = append(api.Routes, Route{Key: k, FunctionARN: "echo"})
	}
	g, _ := newTestGateway(t, testConfig(), inv, api)

	tests := []struct {
		name, method, path string
		wantKey            string
		wantParams         map[string]string
	}{
		{"exact route wins", "GET", "/pets/dog/1", "GET /pets/dog/1", nil},
		{"path variable beats greedy", "GET", "/pets/dog/2", "GET /pets/dog/{id}", map[string]string{"id": "2"}},
		{"greedy under /pets", "GET", "/pets/cat/1", "GET /pets/{proxy+}", map[string]string{"proxy": "cat/1"}},
		{"ANY greedy catches other paths", "GET", "/test", "ANY /{proxy+}", map[string]string{"proxy": "test"}},
		{"method beats ANY on the same path", "POST", "/pets/dog/3", "POST /pets/dog/{id}", map[string]string{"id": "3"}},
		{"ANY on the same path for other methods", "DELETE", "/pets/dog/3", "ANY /pets/dog/{id}", map[string]string{"id": "3"}},
		{"literal path beats greedy for another method", "PUT", "/pets/dog/1", "ANY /pets/dog/{id}", map[string]string{"id": "1"}},
		{"root route", "GET", "/", "GET /", nil},
		{"greedy never matches the root", "POST", "/", "$default", nil},
		{"two variables", "GET", "/items/42/tags/red", "GET /items/{id}/tags/{tag}", map[string]string{"id": "42", "tag": "red"}},
		{"greedy keeps slashes", "GET", "/files/a/b/c.txt", "GET /files/{path+}", map[string]string{"path": "a/b/c.txt"}},
		{"greedy trailing slash", "GET", "/files/a/", "GET /files/{path+}", map[string]string{"path": "a/"}},
		{"parameters are decoded", "GET", "/pets/dog/caf%C3%A9%20au%20lait", "GET /pets/dog/{id}", map[string]string{"id": "café au lait"}},
		{"an encoded slash stays in one parameter", "GET", "/pets/dog/a%2Fb", "GET /pets/dog/{id}", map[string]string{"id": "a/b"}},
		{"earliest literal decides", "GET", "/a/b/c", "GET /a/b/{y}", map[string]string{"y": "c"}},
		{"variable never matches an empty segment", "GET", "/items//tags/x", "ANY /{proxy+}", map[string]string{"proxy": "items//tags/x"}},
		{"HEAD needs its own route", "HEAD", "/pets/dog/1", "ANY /pets/dog/{id}", map[string]string{"id": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(g, newRequest(tt.method, tt.path, ""))
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			var got struct {
				RouteKey       string            `json:"routeKey"`
				PathParameters map[string]string `json:"pathParameters"`
			}
			if tt.method == "HEAD" {
				if err := json.Unmarshal(inv.lastEvent(), &got); err != nil {
					t.Fatal(err)
				}
			} else if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("%v: %s", err, w.Body)
			}
			if got.RouteKey != tt.wantKey {
				t.Errorf("routeKey = %q, want %q", got.RouteKey, tt.wantKey)
			}
			if diff := cmp.Diff(tt.wantParams, got.PathParameters); diff != "" {
				t.Errorf("pathParameters (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNoRouteIsNotFound(t *testing.T) {
	inv := newGoInvoker(map[string]goFunc{"echo": echoRoute})
	g, _ := newTestGateway(t, testConfig(), inv, API{ID: testAPIID, Routes: []Route{
		{Key: "GET /items/{id}", FunctionARN: "echo"},
		{Key: "GET /files/{p+}", FunctionARN: "echo"},
	}})
	for _, tc := range []struct{ method, path string }{
		{"GET", "/"}, {"POST", "/items/1"}, {"GET", "/items"}, {"GET", "/items/1/more"},
		{"GET", "/items/"}, {"GET", "/files"}, {"GET", "/files/"}, {"get", "/items/1"},
	} {
		w := do(g, newRequest(tc.method, tc.path, ""))
		wantMessage(t, w, http.StatusNotFound, "Not Found")
	}
	if inv.calls() != 0 {
		t.Errorf("function invoked %d times for unmatched requests", inv.calls())
	}
}

func TestEventFromRequest(t *testing.T) {
	inv := newGoInvoker(map[string]goFunc{"fn": func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (any, error) {
		return "ok", nil
	}})
	g, _ := newTestGateway(t, testConfig(), inv, API{ID: testAPIID, Routes: []Route{
		{Key: "POST /users/{id}/notes", FunctionARN: "fn"},
	}})
	r := newRequest("POST", "http://A1B2C3D4E5.Execute-Api.LOCALHOST:4566/users/u%201/notes?tag=a&tag=b&q=caf%C3%A9&empty&x=1%2B1",
		`{"note":"hi"}`,
		"Content-Type", "application/json",
		"Cookie", "session=abc; theme=dark",
		"Cookie", "lang=en",
		"X-Multi", "one", "X-Multi", "two",
		"User-Agent", "test-agent/1.0")
	w := do(g, r)
	if w.Code != http.StatusOK || w.Body.String() != `"ok"` {
		t.Fatalf("response %d %q", w.Code, w.Body)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(inv.lastEvent(), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Version != "2.0" || ev.RouteKey != "POST /users/{id}/notes" {
		t.Errorf("version %q routeKey %q", ev.Version, ev.RouteKey)
	}
	if ev.RawPath != "/users/u 1/notes" || ev.RawQueryString != "tag=a&tag=b&q=caf%C3%A9&empty&x=1%2B1" {
		t.Errorf("rawPath %q rawQueryString %q", ev.RawPath, ev.RawQueryString)
	}
	if diff := cmp.Diff([]string{"session=abc", "theme=dark", "lang=en"}, ev.Cookies); diff != "" {
		t.Errorf("cookies (-want +got):\n%s", diff)
	}
	wantQuery := map[string]string{"tag": "a,b", "q": "café", "empty": "", "x": "1+1"}
	if diff := cmp.Diff(wantQuery, ev.QueryStringParameters); diff != "" {
		t.Errorf("queryStringParameters (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"id": "u 1"}, ev.PathParameters); diff != "" {
		t.Errorf("pathParameters (-want +got):\n%s", diff)
	}
	for k, v := range map[string]string{"x-multi": "one,two", "content-type": "application/json", "user-agent": "test-agent/1.0",
		"content-length": "13", "x-forwarded-for": "192.0.2.1", "x-forwarded-proto": "http", "x-forwarded-port": "4566"} {
		if ev.Headers[k] != v {
			t.Errorf("headers[%q] = %q, want %q", k, ev.Headers[k], v)
		}
	}
	if _, ok := ev.Headers["cookie"]; ok {
		t.Error("the Cookie header must move to cookies")
	}
	if ev.Body != `{"note":"hi"}` || ev.IsBase64Encoded {
		t.Errorf("body %q base64 %v", ev.Body, ev.IsBase64Encoded)
	}
	c := ev.RequestContext
	want := events.APIGatewayV2HTTPRequestContext{
		RouteKey:     "POST /users/{id}/notes",
		AccountID:    sluice.AccountID,
		Stage:        "$default",
		RequestID:    w.Header().Get("Apigw-Requestid"),
		APIID:        testAPIID,
		DomainName:   testAPIID + ".execute-api.localhost",
		DomainPrefix: testAPIID,
		Time:         c.Time,
		TimeEpoch:    c.TimeEpoch,
		HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
			Method: "POST", Path: "/users/u 1/notes", Protocol: "HTTP/1.1", SourceIP: "192.0.2.1", UserAgent: "test-agent/1.0",
		},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("requestContext (-want +got):\n%s", diff)
	}
	if len(want.RequestID) != 16 {
		t.Errorf("apigw-requestid %q: want 16 characters like AWS's", want.RequestID)
	}
	parsed, err := time.Parse("02/Jan/2006:15:04:05 -0700", c.Time)
	if err != nil || parsed.Unix() != c.TimeEpoch/1000 {
		t.Errorf("time %q does not match timeEpoch %d (%v)", c.Time, c.TimeEpoch, err)
	}
}

// pngBytes encodes a small real PNG with every byte value likely present.
func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 16; x++ {
			img.Set(x, y, color.NRGBA{uint8(x * 16), uint8(y * 16), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestBinaryBodiesRoundTrip(t *testing.T) {
	// The function decodes the request body as a function must (base64 when
	// isBase64Encoded), checks it is a PNG and sends it back as binary.
	inv := newGoInvoker(map[string]goFunc{"img": func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (any, error) {
		body := []byte(ev.Body)
		if ev.IsBase64Encoded {
			var err error
			if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
				return nil, err
			}
		}
		if _, err := png.Decode(bytes.NewReader(body)); err != nil {
			return nil, fmt.Errorf("not a png: %w", err)
		}
		return events.APIGatewayV2HTTPResponse{
			StatusCode:      201,
			Headers:         map[string]string{"Content-Type": "image/png"},
			Body:            base64.StdEncoding.EncodeToString(body),
			IsBase64Encoded: true,
		}, nil
	}})
	g, _ := newTestGateway(t, testConfig(), inv, API{ID: testAPIID, Routes: []Route{{Key: "PUT /images/{name}", FunctionARN: "img"}}})
	img := pngBytes(t)
	w := do(g, newRequest("PUT", "/images/cat.png", string(img), "Content-Type", "image/png"))
	if w.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if !bytes.Equal(w.Body.Bytes(), img) {
		t.Errorf("round-tripped PNG differs: %d bytes, want %d", w.Body.Len(), len(img))
	}
	if ct := w.Header().Get("Content-Type"); ct != "image/png" {
		t.Errorf("content-type %q", ct)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(inv.lastEvent(), &ev); err != nil {
		t.Fatal(err)
	}
	if !ev.IsBase64Encoded {
		t.Error("a PNG body must reach the function base64-encoded")
	}
}

func TestBodyEncodingDecision(t *testing.T) {
	inv := newGoInvoker(map[string]goFunc{"fn": func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (any, error) {
		return map[string]any{"b64": ev.IsBase64Encoded, "body": ev.Body}, nil
	}})
	g, _ := newTestGateway(t, testConfig(), inv, API{ID: testAPIID, Routes: []Route{{Key: "$default", FunctionARN: "fn"}}})
	tests := []struct {
		name, contentType, body string
		wantBase64              bool
	}{
		{"json", "application/json", `{"a":1}`, false},
		{"vendor json", "application/vnd.api+json; charset=utf-8", `{}`, false},
		{"text", "text/plain", "héllo", false},
		{"xml", "application/xml", "<a/>", false},
		{"javascript", "application/javascript", "1;", false},
		{"svg is +xml", "image/svg+xml", "<svg/>", false},
		{"form", "application/x-www-form-urlencoded", "a=1", true},
		{"no content type", "", "hello", true},
		{"octet stream", "application/octet-stream", "hello", true},
		{"jpeg", "image/jpeg", "\xff\xd8\xff\xe0", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.contentType != "" {
				hdr = []string{"Content-Type", tt.contentType}
			}
			w := do(g, newRequest("POST", "/x", tt.body, hdr...))
			var got struct {
				B64  bool   `json:"b64"`
				Body string `json:"body"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("%v: %s", err, w.Body)
			}
			if got.B64 != tt.wantBase64 {
				t.Fatalf("isBase64Encoded = %v, want %v", got.B64, tt.wantBase64)
			}
			body := got.Body
			if got.B64 {
				b, err := base64.StdEncoding.DecodeString(body)
				if err != nil {
					t.Fatal(err)
				}
				body = string(b)
			}
			if body != tt.body {
				t.Errorf("body %q, want %q", body, tt.body)
			}
		})
	}
}

func TestResponseShapes(t *testing.T) {
	tests := []struct {
		name        string
		out         any
		wantStatus  int
		wantBody    string
		wantHeaders map[string][]string
	}{
		{
			name: "string output is a JSON body", out: "Hello from Lambda!",
			wantStatus: 200, wantBody: `"Hello from Lambda!"`,
			wantHeaders: map[string][]string{"Content-Type": {"application/json"}},
		},
		{
			name: "object without statusCode is the body", out: map[string]string{"message": "Hello from Lambda!"},
			wantStatus: 200, wantBody: `{"message":"Hello from Lambda!"}`,
			wantHeaders: map[string][]string{"Content-Type": {"application/json"}},
		},
		{name: "number", out: 42, wantStatus: 200, wantBody: `42`},
		{name: "array", out: []int{1, 2}, wantStatus: 200, wantBody: `[1,2]`},
		{name: "null", out: nil, wantStatus: 200, wantBody: `null`},
		{name: "raw JSON kept as it came", out: rawOutput(" {\"a\": 1}\n"), wantStatus: 200, wantBody: " {\"a\": 1}\n"},
		{
			name: "null statusCode means no statusCode", out: rawOutput(`{"statusCode":null,"body":"x"}`),
			wantStatus: 200, wantBody: `{"statusCode":null,"body":"x"}`,
		},
		{
			name: "full response",
			out: events.APIGatewayV2HTTPResponse{
				StatusCode: 418,
				Headers:    map[string]string{"Content-Type": "text/html", "X-Custom": "a,b"},
				Body:       "<p>teapot</p>",
				Cookies:    []string{"a=1; Path=/", "b=2; HttpOnly"},
			},
			wantStatus: 418, wantBody: "<p>teapot</p>",
			wantHeaders: map[string][]string{"Content-Type": {"text/html"}, "X-Custom": {"a,b"}, "Set-Cookie": {"a=1; Path=/", "b=2; HttpOnly"}},
		},
		{
			name: "statusCode without content-type", out: map[string]any{"statusCode": 200, "body": "plain"},
			wantStatus: 200, wantBody: "plain",
			wantHeaders: map[string][]string{"Content-Type": {"text/plain; charset=utf-8"}},
		},
		{name: "statusCode only", out: map[string]any{"statusCode": 204}, wantStatus: 204, wantBody: ""},
		{name: "integral float status", out: rawOutput(`{"statusCode":201.0}`), wantStatus: 201},
		{
			name: "base64 body", out: map[string]any{"statusCode": 200, "body": base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 255}), "isBase64Encoded": true},
			wantStatus: 200, wantBody: "\x00\x01\x02\xff",
		},
		{
			name: "number and boolean header values", out: map[string]any{"statusCode": 200, "headers": map[string]any{"X-N": 5, "X-B": true, "X-Null": nil}},
			wantStatus: 200, wantHeaders: map[string][]string{"X-N": {"5"}, "X-B": {"true"}},
		},
		{
			name: "unknown fields are ignored", out: map[string]any{"statusCode": 202, "body": "x", "multiValueHeaders": map[string][]string{"X-M": {"1"}}, "extra": 1},
			wantStatus: 202, wantBody: "x", wantHeaders: map[string][]string{"X-M": nil},
		},
		{
			name: "the gateway computes Content-Length", out: map[string]any{"statusCode": 200, "body": "abc", "headers": map[string]string{"Content-Length": "999"}},
			wantStatus: 200, wantBody: "abc", wantHeaders: map[string][]string{"Content-Length": {"3"}},
		},
		{name: "body of the wrong type", out: map[string]any{"statusCode": 200, "body": map[string]int{"a": 1}}, wantStatus: 502, wantBody: `{"message":"Internal Server Error"}`},
		{name: "statusCode as a string", out: map[string]any{"statusCode": "200"}, wantStatus: 502, wantBody: `{"message":"Internal Server Error"}`},
		{name: "statusCode out of range", out: map[string]any{"statusCode": 99}, wantStatus: 502},
		{name: "statusCode 600", out: map[string]any{"statusCode": 600}, wantStatus: 502},
		{name: "fractional statusCode", out: rawOutput(`{"statusCode":200.5}`), wantStatus: 502},
		{name: "invalid base64", out: map[string]any{"statusCode": 200, "body": "!!!", "isBase64Encoded": true}, wantStatus: 502},
		{name: "cookies not a list", out: map[string]any{"statusCode": 200, "cookies": "a=1"}, wantStatus: 502},
		{name: "headers not an object", out: map[string]any{"statusCode": 200, "headers": []string{"a"}}, wantStatus: 502},
		{name: "header value an object", out: map[string]any{"statusCode": 200, "headers": map[string]any{"X": map[string]int{}}}, wantStatus: 502},
		{name: "isBase64Encoded not a boolean", out: map[string]any{"statusCode": 200, "isBase64Encoded": "true"}, wantStatus: 502},
		{name: "output that is not JSON", out: rawOutput("hello"), wantStatus: 502, wantBody: `{"message":"Internal Server Error"}`},
		{name: "empty output", out: rawOutput(""), wantStatus: 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := newGoInvoker(map[string]goFunc{"fn": func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) { return tt.out, nil }})
			g, _ := newTestGateway(t, testConfig(), inv, API{ID: testAPIID, Routes: []Route{{Key: "GET /r", FunctionARN: "fn"}}})
			w := do(g, newRequest("GET", "/r", ""))
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantBody != "" || tt.wantStatus < 500 {
				if got := w.Body.String(); got != tt.wantBody {
					t.Errorf("body = %q, want %q", got, tt.wantBody)
				}
			}
			for name, want := range tt.wantHeaders {
				if diff := cmp.Diff(want, w.Header().Values(name)); diff != "" {
					t.Errorf("header %s (-want +got):\n%s", name, diff)
				}
			}
			if w.Header().Get("Apigw-Requestid") == "" {
				t.Error("apigw-requestid missing")
			}
		})
	}
}

func TestHeadResponseHasNoBody(t *testing.T) {
	inv := newGoInvoker(map[string]goFunc{"fn": func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) {
		return map[string]any{"statusCode": 200, "body": "hello"}, nil
	}})
	g, _ := newTestGateway(t, testConfig(), inv, API{ID: testAPIID, Routes: []Route{{Key: "ANY /r", FunctionARN: "fn"}}})
	srv := httptest.NewServer(g.Handler(""))
	defer srv.Close()
	resp, err := http.Head(srv.URL + "/r")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(b) != 0 || resp.ContentLength != 5 {
		t.Errorf("HEAD: status %d, body %q, content-length %d", resp.StatusCode, b, resp.ContentLength)
	}
}

func TestNoBodyStatusesOverTheWire(t *testing.T) {
	inv := newGoInvoker(map[string]goFunc{"fn": func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (any, error) {
		status := 204
		if ev.RawPath == "/304" {
			status = 304
		}
		return map[string]any{"statusCode": status, "body": "ignored", "headers": map[string]string{"ETag": `"x"`}}, nil
	}, "after": func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) { return "next", nil }})
	g, _ := newTestGateway(t, testConfig(), inv, API{ID: testAPIID, Routes: []Route{
		{Key: "GET /{s}", FunctionARN: "fn"}, {Key: "GET /after", FunctionARN: "after"},
	}})
	srv := httptest.NewServer(g.Handler(testAPIID))
	defer srv.Close()
	client := srv.Client()
	for _, path := range []string{"/204", "/304", "/after"} {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		switch path {
		case "/after":
			// Served on the same keep-alive connection: the earlier
			// responses did not promise a body they did not send.
			if resp.StatusCode != 200 || string(b) != `"next"` {
				t.Errorf("%s: %d %q", path, resp.StatusCode, b)
			}
		default:
			if strconv.Itoa(resp.StatusCode) != path[1:] || len(b) != 0 || resp.Header.Get("Etag") != `"x"` {
				t.Errorf("%s: %d %q etag %q", path, resp.StatusCode, b, resp.Header.Get("Etag"))
			}
		}
	}
}

func TestClientGoneMidInvocation(t *testing.T) {
	started := make(chan struct{})
	inv := newGoInvoker(map[string]goFunc{"wait": func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}})
	g, reg := newTestGateway(t, testConfig(), inv, API{ID: testAPIID, Routes: []Route{{Key: "GET /w", FunctionARN: "wait"}}})
	ctx, cancel := context.WithCancel(context.Background())
	r := newRequest("GET", "/w", "").WithContext(ctx)
	go func() {
		<-started
		cancel()
	}()
	w := do(g, r)
	if w.Body.Len() != 0 {
		t.Errorf("wrote %q to a client that left", w.Body)
	}
	if got := counterValue(t, reg, "sluice_apigw_requests_total", map[string]string{"api": testAPIID, "status": "499"}); got != 1 {
		t.Errorf("499 counter = %v, want 1", got)
	}
}

func TestIntegrationErrors(t *testing.T) {
	block := func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	inv := newGoInvoker(map[string]goFunc{
		"fail":  func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) { return nil, errors.New("boom") },
		"slow":  block,
		"quick": block,
		"deaf": func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) {
			// Ignores its context: the gateway must still answer on time.
			time.Sleep(time.Second)
			return "late", nil
		},
		"ok": func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) { return "ok", nil },
	})
	inv.errs["throttled"] = sluice.Errorf(sluice.ErrTooManyRequests, "Rate Exceeded.")
	inv.errs["huge"] = sluice.Errorf(sluice.ErrRequestTooLarge, "Request must be smaller than 6291456 bytes")
	cfg := testConfig()
	cfg.IntegrationTimeout = 200 * time.Millisecond
	g, reg := newTestGateway(t, cfg, inv, API{ID: testAPIID, Routes: []Route{
		{Key: "GET /fail", FunctionARN: "fail"},
		{Key: "GET /slow", FunctionARN: "slow"},
		{Key: "GET /quick", FunctionARN: "quick", TimeoutMillis: 50},
		{Key: "GET /deaf", FunctionARN: "deaf"},
		{Key: "GET /missing", FunctionARN: "no-such-function"},
		{Key: "GET /throttled", FunctionARN: "throttled"},
		{Key: "GET /huge", FunctionARN: "huge"},
	}})
	tests := []struct {
		path    string
		status  int
		message string
	}{
		{"/fail", 502, "Internal Server Error"},
		{"/missing", 500, "Internal Server Error"},
		{"/throttled", 500, "Internal Server Error"},
		{"/slow", 503, "Service Unavailable"},
		{"/quick", 503, "Service Unavailable"},
		{"/deaf", 503, "Service Unavailable"},
		{"/huge", 413, "Request Entity Too Large"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(tt.path, "/"), func(t *testing.T) {
			w := do(g, newRequest("GET", tt.path, ""))
			wantMessage(t, w, tt.status, tt.message)
			if w.Header().Get("Apigw-Requestid") == "" {
				t.Error("apigw-requestid missing on an error response")
			}
		})
	}
	if got := counterValue(t, reg, "sluice_apigw_requests_total", map[string]string{"api": testAPIID, "status": "503"}); got != 3 {
		t.Errorf("503 counter = %v, want 3", got)
	}
	if got := histogramCount(t, reg, "sluice_apigw_integration_seconds"); got != uint64(len(tests)) {
		t.Errorf("integration latency observations = %d, want %d", got, len(tests))
	}
}

func TestPayloadLimit(t *testing.T) {
	inv := newGoInvoker(map[string]goFunc{"fn": func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (any, error) {
		return map[string]any{"len": len(ev.Body)}, nil
	}})
	cfg := testConfig()
	cfg.MaxPayload = 1000
	g, _ := newTestGateway(t, cfg, inv, API{ID: testAPIID, Routes: []Route{{Key: "POST /up", FunctionARN: "fn"}}})

	if w := do(g, newRequest("POST", "/up", strings.Repeat("a", 1000), "Content-Type", "text/plain")); w.Code != 200 || w.Body.String() != `{"len":1000}` {
		t.Errorf("at the limit: %d %s", w.Code, w.Body)
	}
	wantMessage(t, do(g, newRequest("POST", "/up", strings.Repeat("a", 1001))), 413, "Request Entity Too Large")

	// Without a Content-Length the body is counted as it is read.
	r := newRequest("POST", "/up", "")
	r.Body = io.NopCloser(io.MultiReader(strings.NewReader(strings.Repeat("b", 600)), strings.NewReader(strings.Repeat("b", 600))))
	r.ContentLength = -1
	wantMessage(t, do(g, r), 413, "Request Entity Too Large")
	if inv.calls() != 1 {
		t.Errorf("function invoked %d times; oversized requests must not reach it", inv.calls())
	}
}

func TestPayloadLimitOverTheWire(t *testing.T) {
	inv := newGoInvoker(map[string]goFunc{"fn": func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (any, error) {
		return map[string]any{"b64": ev.IsBase64Encoded, "len": len(ev.Body)}, nil
	}})
	g, _ := newTestGateway(t, testConfig(), inv, API{ID: testAPIID, Routes: []Route{{Key: "POST /up", FunctionARN: "fn"}}})
	srv := httptest.NewServer(g)
	defer srv.Close()
	post := func(n int) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest("POST", srv.URL+"/up", bytes.NewReader(make([]byte, n)))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = testAPIID + ".execute-api.localhost"
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := post(MaxPayload + 1)
	if resp.StatusCode != 413 || string(body) != `{"message":"Request Entity Too Large"}` {
		t.Errorf("10 MB + 1: %d %s", resp.StatusCode, body)
	}
	resp, body = post(1 << 20)
	if resp.StatusCode != 200 || string(body) != fmt.Sprintf(`{"b64":true,"len":%d}`, base64.StdEncoding.EncodedLen(1<<20)) {
		t.Errorf("1 MiB: %d %s", resp.StatusCode, body)
	}
}

func TestCORS(t *testing.T) {
	inv := newGoInvoker(map[string]goFunc{"fn": func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "hi", Headers: map[string]string{
			"Access-Control-Allow-Origin": "https://evil.example", "Access-Control-Max-Age": "1", "X-Own": "kept",
		}}, nil
	}})
	cors := &CORSConfig{
		AllowOrigins:     []string{"https://app.example.com", "https://*.example.org"},
		AllowMethods:     []string{"GET", "post"},
		AllowHeaders:     []string{"Content-Type", "X-Api-Key"},
		ExposeHeaders:    []string{"X-Own"},
		AllowCredentials: true,
		MaxAge:           300,
	}
	g, _ := newTestGateway(t, testConfig(), inv,
		API{ID: testAPIID, CORS: cors, Routes: []Route{{Key: "ANY /items", FunctionARN: "fn"}}},
		API{ID: "open000000", CORS: &CORSConfig{AllowOrigins: []string{"*"}, AllowMethods: []string{"*"}, AllowHeaders: []string{"*"}}, Routes: []Route{{Key: "GET /items", FunctionARN: "fn"}}},
		API{ID: "nocors0000", Routes: []Route{{Key: "ANY /items", FunctionARN: "fn"}}},
	)
	allowed := map[string][]string{
		"Access-Control-Allow-Origin":      {"https://app.example.com"},
		"Access-Control-Allow-Methods":     {"GET,POST"},
		"Access-Control-Allow-Headers":     {"content-type,x-api-key"},
		"Access-Control-Max-Age":           {"300"},
		"Access-Control-Allow-Credentials": {"true"},
	}
	preflights := []struct {
		name    string
		host    string
		hdr     []string
		want    map[string][]string
		wantFor string
	}{
		{"allowed", testAPIID, []string{"Origin", "https://app.example.com", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type"}, allowed, ""},
		{"allowed subdomain wildcard", testAPIID, []string{"Origin", "https://a.b.example.org", "Access-Control-Request-Method", "GET"}, map[string][]string{
			"Access-Control-Allow-Origin": {"https://a.b.example.org"}, "Access-Control-Allow-Methods": {"GET,POST"},
			"Access-Control-Max-Age": {"300"}, "Access-Control-Allow-Credentials": {"true"},
		}, ""},
		{"origin not allowed", testAPIID, []string{"Origin", "https://evil.example", "Access-Control-Request-Method", "GET"}, nil, ""},
		{"wildcard needs a subdomain", testAPIID, []string{"Origin", "https://example.org", "Access-Control-Request-Method", "GET"}, nil, ""},
		{"method not allowed", testAPIID, []string{"Origin", "https://app.example.com", "Access-Control-Request-Method", "DELETE"}, nil, ""},
		{"header not allowed", testAPIID, []string{"Origin", "https://app.example.com", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "content-type, x-other"}, nil, ""},
		{"wildcards", "open000000", []string{"Origin", "https://any.example", "Access-Control-Request-Method", "PATCH", "Access-Control-Request-Headers", "X-Foo"},
			map[string][]string{"Access-Control-Allow-Origin": {"*"}, "Access-Control-Allow-Methods": {"*"}, "Access-Control-Allow-Headers": {"x-foo"}}, ""},
	}
	for _, tt := range preflights {
		t.Run("preflight "+tt.name, func(t *testing.T) {
			calls := inv.calls()
			w := do(g, newRequest("OPTIONS", "http://"+tt.host+".execute-api.localhost/items", "", tt.hdr...))
			if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
				t.Fatalf("status %d body %q, want 204 and no body", w.Code, w.Body)
			}
			if inv.calls() != calls {
				t.Error("a preflight request reached the function")
			}
			got := map[string][]string{}
			for name, v := range w.Header() {
				if strings.HasPrefix(name, "Access-Control-") {
					got[name] = v
				}
			}
			want := tt.want
			if want == nil {
				want = map[string][]string{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("CORS headers (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("actual request gets the configured headers only", func(t *testing.T) {
		w := do(g, newRequest("GET", "/items", "", "Origin", "https://app.example.com"))
		if w.Code != 200 || w.Body.String() != "hi" {
			t.Fatalf("%d %q", w.Code, w.Body)
		}
		for name, want := range map[string]string{
			"Access-Control-Allow-Origin": "https://app.example.com", "Access-Control-Expose-Headers": "x-own",
			"Access-Control-Allow-Credentials": "true", "Access-Control-Max-Age": "", "X-Own": "kept",
		} {
			if got := w.Header().Get(name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
	})
	t.Run("actual request from another origin gets none", func(t *testing.T) {
		w := do(g, newRequest("GET", "/items", "", "Origin", "https://evil.example"))
		if got := w.Header().Get("Access-Control-Allow-Origin"); got != "" || w.Code != 200 {
			t.Errorf("status %d, Access-Control-Allow-Origin %q", w.Code, got)
		}
	})
	t.Run("OPTIONS without CORS reaches the function", func(t *testing.T) {
		calls := inv.calls()
		w := do(g, newRequest("OPTIONS", "http://nocors0000.execute-api.localhost/items", "", "Origin", "https://x", "Access-Control-Request-Method", "GET"))
		if w.Code != 200 || inv.calls() != calls+1 {
			t.Errorf("status %d, calls %d -> %d", w.Code, calls, inv.calls())
		}
		if got := w.Header().Get("Access-Control-Allow-Origin"); got != "https://evil.example" {
			t.Errorf("without a CORS configuration the function's headers pass: got %q", got)
		}
	})
}

func TestStage(t *testing.T) {
	inv := newGoInvoker(map[string]goFunc{"echo": echoRoute})
	g, _ := newTestGateway(t, testConfig(), inv, API{ID: testAPIID, StageName: "prod", Routes: []Route{
		{Key: "GET /items/{id}", FunctionARN: "echo"},
		{Key: "GET /", FunctionARN: "echo"},
	}})
	w := do(g, newRequest("GET", "/prod/items/7?x=1", ""))
	if w.Code != 200 || w.Body.String() != `{"pathParameters":{"id":"7"},"routeKey":"GET /items/{id}"}` {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(inv.lastEvent(), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.RawPath != "/prod/items/7" || ev.RequestContext.HTTP.Path != "/prod/items/7" || ev.RequestContext.Stage != "prod" {
		t.Errorf("rawPath %q http.path %q stage %q: a named stage stays in the paths", ev.RawPath, ev.RequestContext.HTTP.Path, ev.RequestContext.Stage)
	}
	for _, p := range []string{"/prod", "/prod/"} {
		if w := do(g, newRequest("GET", p, "")); w.Code != 200 || !strings.Contains(w.Body.String(), `"GET /"`) {
			t.Errorf("%s: %d %s", p, w.Code, w.Body)
		}
	}
	for _, p := range []string{"/items/7", "/", "/production/items/7", "/Prod/items/7"} {
		wantMessage(t, do(g, newRequest("GET", p, "")), 404, "Not Found")
	}
}

func TestHostDispatchAndHandler(t *testing.T) {
	inv := newGoInvoker(map[string]goFunc{"one": func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (any, error) {
		return "one " + ev.RequestContext.DomainName, nil
	}, "two": func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (any, error) {
		return "two " + ev.RequestContext.DomainPrefix, nil
	}})
	g, _ := newTestGateway(t, testConfig(), inv,
		API{ID: "first00001", Routes: []Route{{Key: "$default", FunctionARN: "one"}}},
		API{ID: "second0002", Routes: []Route{{Key: "$default", FunctionARN: "two"}}},
		API{ID: "hidden0003", DisableExecuteAPIEndpoint: true, Routes: []Route{{Key: "$default", FunctionARN: "one"}}},
	)
	tests := []struct {
		name    string
		h       http.Handler
		host    string
		status  int
		body    string
		message string
	}{
		{"by host", g, "first00001.execute-api.localhost:4566", 200, `"one first00001.execute-api.localhost"`, ""},
		{"host is case-insensitive", g, "SECOND0002.EXECUTE-API.LocalHost", 200, `"two second0002"`, ""},
		{"unknown api", g, "zzzzzzzzzz.execute-api.localhost:4566", 404, "", "Not Found"},
		{"not an api host", g, "localhost:4566", 404, "", "Not Found"},
		{"disabled endpoint", g, "hidden0003.execute-api.localhost", 403, "", "Forbidden"},
		{"handler for one api ignores host", g.Handler("second0002"), "127.0.0.1:3000", 200, `"two second0002"`, ""},
		{"handler for the first api", g.Handler(""), "127.0.0.1:3000", 200, `"one first00001.execute-api.localhost"`, ""},
		{"handler serves a disabled endpoint", g.Handler("hidden0003"), "127.0.0.1:3000", 200, `"one hidden0003.execute-api.localhost"`, ""},
		{"handler for a missing api", g.Handler("nothere000"), "127.0.0.1:3000", 404, "", "Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest("GET", "http://"+tt.host+"/x", "")
			w := do(tt.h, r)
			if tt.message != "" {
				wantMessage(t, w, tt.status, tt.message)
				return
			}
			if w.Code != tt.status || w.Body.String() != tt.body {
				t.Errorf("%d %s, want %d %s", w.Code, w.Body, tt.status, tt.body)
			}
		})
	}
	g.RemoveAPI("first00001")
	if w := do(g.Handler(""), newRequest("GET", "http://127.0.0.1:3000/", "")); w.Body.String() != `"two second0002"` {
		t.Errorf("after removing the first API, Handler(\"\") serves %s", w.Body)
	}
}

func TestIsAPIHost(t *testing.T) {
	for host, want := range map[string]bool{
		"abc1234567.execute-api.localhost":       true,
		"abc1234567.execute-api.localhost:4566":  true,
		"ABC1234567.Execute-API.Localhost:80":    true,
		"execute-api.localhost":                  false,
		".execute-api.localhost":                 false,
		"a.b.execute-api.localhost":              false,
		"abc.execute-api.localhost.evil.example": false,
		"localhost:4566":                         false,
		"127.0.0.1:4566":                         false,
		"":                                       false,
	} {
		if got := IsAPIHost(host); got != want {
			t.Errorf("IsAPIHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestInvokeURL(t *testing.T) {
	for _, tt := range []struct{ id, stage, addr, want string }{
		{"abc1234567", "", "127.0.0.1:4566", "http://abc1234567.execute-api.localhost:4566/"},
		{"abc1234567", "$default", ":4566", "http://abc1234567.execute-api.localhost:4566/"},
		{"abc1234567", "prod", "127.0.0.1:80", "http://abc1234567.execute-api.localhost/prod/"},
	} {
		if got := InvokeURL(tt.id, tt.stage, tt.addr); got != tt.want {
			t.Errorf("InvokeURL(%q, %q, %q) = %q, want %q", tt.id, tt.stage, tt.addr, got, tt.want)
		}
	}
	if id := NewID(); !apiIDPattern.MatchString(id) {
		t.Errorf("NewID() = %q", id)
	}
}

func TestPutAPIValidation(t *testing.T) {
	ok := Route{Key: "GET /a", FunctionARN: "fn"}
	tests := []struct {
		name string
		api  API
		want string // substring of the error
	}{
		{"id too short", API{ID: "abc", Routes: []Route{ok}}, "10 lower-case"},
		{"id upper case", API{ID: "ABCDEFGHIJ", Routes: []Route{ok}}, "10 lower-case"},
		{"stage name", API{ID: testAPIID, StageName: "pr od", Routes: []Route{ok}}, "stage name"},
		{"bad route key", API{ID: testAPIID, Routes: []Route{{Key: "GET", FunctionARN: "fn"}}}, "METHOD /path"},
		{"lower-case method", API{ID: testAPIID, Routes: []Route{{Key: "get /a", FunctionARN: "fn"}}}, "method"},
		{"greedy not last", API{ID: testAPIID, Routes: []Route{{Key: "GET /{p+}/x", FunctionARN: "fn"}}}, "last segment"},
		{"duplicate key", API{ID: testAPIID, Routes: []Route{ok, ok}}, "conflicts"},
		{"same shape, other names", API{ID: testAPIID, Routes: []Route{{Key: "GET /i/{id}", FunctionARN: "fn"}, {Key: "GET /i/{name}", FunctionARN: "fn"}}}, "conflicts"},
		{"two $default", API{ID: testAPIID, Routes: []Route{{Key: "$default", FunctionARN: "fn"}, {Key: "$default", FunctionARN: "fn"}}}, "conflicts"},
		{"no function", API{ID: testAPIID, Routes: []Route{{Key: "GET /a"}}}, "no function"},
		{"payload 1.0", API{ID: testAPIID, Routes: []Route{{Key: "GET /a", FunctionARN: "fn", PayloadFormatVersion: "1.0"}}}, "1.0 is not supported"},
		{"payload 3.0", API{ID: testAPIID, Routes: []Route{{Key: "GET /a", FunctionARN: "fn", PayloadFormatVersion: "3.0"}}}, "must be 2.0"},
		{"timeout too short", API{ID: testAPIID, Routes: []Route{{Key: "GET /a", FunctionARN: "fn", TimeoutMillis: 49}}}, "TimeoutMillis"},
		{"timeout too long", API{ID: testAPIID, Routes: []Route{{Key: "GET /a", FunctionARN: "fn", TimeoutMillis: 30001}}}, "TimeoutMillis"},
		{"credentials with any origin", API{ID: testAPIID, CORS: &CORSConfig{AllowOrigins: []string{"*"}, AllowCredentials: true}}, "AllowCredentials"},
		{"cors max age", API{ID: testAPIID, CORS: &CORSConfig{MaxAge: 86401}}, "MaxAge"},
		{"cors method", API{ID: testAPIID, CORS: &CORSConfig{AllowMethods: []string{"FETCH"}}}, "AllowMethods"},
		{"too many routes", API{ID: testAPIID, Routes: manyRoutes(MaxRoutes + 1)}, "at most"},
	}
	g, _ := newTestGateway(t, testConfig(), newGoInvoker(nil), API{ID: testAPIID, Name: "before", Routes: []Route{ok}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := g.PutAPI(tt.api)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("PutAPI error = %v, want one containing %q", err, tt.want)
			}
			if !sluice.IsCode(err, ErrBadRequest) {
				t.Errorf("error code %q, want %q", sluice.ErrorCode(err), ErrBadRequest)
			}
			if apis := g.APIs(); len(apis) != 1 || apis[0].Name != "before" {
				t.Errorf("an invalid API changed the gateway: %+v", apis)
			}
		})
	}
	if err := g.PutAPI(API{ID: testAPIID, Routes: manyRoutes(MaxRoutes)}); err != nil {
		t.Errorf("%d routes: %v", MaxRoutes, err)
	}
}

func manyRoutes(n int) []Route {
	rs := make([]Route, n)
	for i := range rs {
		rs[i] = Route{Key: fmt.Sprintf("GET /r%d", i), FunctionARN: "fn"}
	}
	return rs
}

func TestAPIsListing(t *testing.T) {
	g, _ := newTestGateway(t, testConfig(), newGoInvoker(nil),
		API{ID: "bbbbbbbbbb", Name: "b", Routes: []Route{{Key: "$default", FunctionARN: "f"}}},
		API{ID: "aaaaaaaaaa", Name: "a", CORS: &CORSConfig{AllowOrigins: []string{"*"}}},
	)
	if err := g.PutAPI(API{ID: "bbbbbbbbbb", Name: "b2", StageName: "v1"}); err != nil {
		t.Fatal(err)
	}
	want := []API{
		{ID: "bbbbbbbbbb", Name: "b2", StageName: "v1", Routes: []Route{}},
		{ID: "aaaaaaaaaa", Name: "a", StageName: "$default", CORS: &CORSConfig{AllowOrigins: []string{"*"}}, Routes: []Route{}},
	}
	got := g.APIs()
	if diff := cmp.Diff(want, got, cmp.Transformer("nilRoutes", func(r []Route) []Route {
		if r == nil {
			return []Route{}
		}
		return r
	})); diff != "" {
		t.Errorf("APIs (-want +got):\n%s", diff)
	}
	got[1].CORS.AllowOrigins[0] = "mutated"
	got[1].CORS.MaxAge = 5
	if g.APIs()[1].CORS.MaxAge != 0 {
		t.Error("APIs returned the gateway's own CORS configuration")
	}
}

// TestReplaceWhileServing swaps an API's definition while requests run:
// every request is served wholly by one version.
func TestReplaceWhileServing(t *testing.T) {
	inv := newGoInvoker(map[string]goFunc{
		"v1": func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) { return "v1", nil },
		"v2": func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) { return "v2", nil },
	})
	version := func(fn string) API {
		return API{ID: testAPIID, Routes: []Route{{Key: "GET /v", FunctionARN: fn}}}
	}
	g, _ := newTestGateway(t, testConfig(), inv, version("v1"))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				w := do(g, newRequest("GET", "/v", ""))
				if b := w.Body.String(); w.Code != 200 || (b != `"v1"` && b != `"v2"`) {
					t.Errorf("mid-swap response %d %q", w.Code, b)
					return
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		fn := "v1"
		if i%2 == 0 {
			fn = "v2"
		}
		if err := g.PutAPI(version(fn)); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			g.RemoveAPI("otherapi00")
			_ = g.APIs()
		}
	}
	close(stop)
	wg.Wait()
	if w := do(g, newRequest("GET", "/v", "")); w.Body.String() != `"v1"` {
		t.Errorf("final version serves %s, want the last put (v1)", w.Body)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	for name, mutate := range map[string]func(*Config){
		"Region":             func(c *Config) { c.Region = "" },
		"AccountID":          func(c *Config) { c.AccountID = "123" },
		"MaxPayload":         func(c *Config) { c.MaxPayload = 0 },
		"IntegrationTimeout": func(c *Config) { c.IntegrationTimeout = -time.Second },
	} {
		c := DefaultConfig()
		mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: Validate() = %v, want an error naming it", name, err)
		}
		if _, err := New(c, newGoInvoker(nil), nil, nil); err == nil {
			t.Errorf("%s: New accepted an invalid config", name)
		}
	}
	if _, err := New(DefaultConfig(), nil, nil, nil); err == nil {
		t.Error("New accepted a nil Invoker")
	}
}

func TestRequestLogLine(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	inv := newGoInvoker(map[string]goFunc{"echo": echoRoute})
	g, err := New(testConfig(), inv, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.PutAPI(API{ID: testAPIID, Routes: []Route{{Key: "GET /items/{id}", FunctionARN: "echo"}}}); err != nil {
		t.Fatal(err)
	}
	w := do(g, newRequest("GET", "/items/1", ""))
	mu.Lock()
	defer mu.Unlock()
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	for k, want := range map[string]any{"msg": "http api request", "request_id": w.Header().Get("Apigw-Requestid"),
		"api": testAPIID, "route": "GET /items/{id}", "status": float64(200), "path": "/items/1"} {
		if line[k] != want {
			t.Errorf("log %s = %v, want %v", k, line[k], want)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}
