package apigw

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestParseRouteKey(t *testing.T) {
	tests := []struct {
		key     string
		want    string // canonical form; "" when invalid
		wantErr string
	}{
		{key: "$default", want: "$default"},
		{key: "GET /", want: "GET /"},
		{key: "ANY /{proxy+}", want: "ANY /{proxy+}"},
		{key: "GET /items/{id}", want: "GET /items/{id}"},
		{key: "DELETE /a/{b}/c/{d.e-f_g}", want: "DELETE /a/{b}/c/{d.e-f_g}"},
		{key: "PATCH /v1/users:batch", want: "PATCH /v1/users:batch"},
		{key: "GET", wantErr: "METHOD /path"},
		{key: "", wantErr: "METHOD /path"},
		{key: "$DEFAULT", wantErr: "METHOD /path"},
		{key: "GET items", wantErr: "must start"},
		{key: "FETCH /a", wantErr: "method"},
		{key: "GET  /a", wantErr: "must start"},
		{key: "GET /a/", wantErr: "empty path segment"},
		{key: "GET //a", wantErr: "empty path segment"},
		{key: "GET /{p+}/more", wantErr: "last segment"},
		{key: "GET /{}", wantErr: "variable name"},
		{key: "GET /{+}", wantErr: "variable name"},
		{key: "GET /{a b}", wantErr: "variable name"},
		{key: "GET /{a}/{a}", wantErr: "appears twice"},
		{key: "GET /x{a}", wantErr: "invalid path segment"},
		{key: "GET /a?b", wantErr: "invalid path segment"},
		{key: "GET /a b", wantErr: "invalid path segment"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			k, err := parseRouteKey(tt.key)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.String() != tt.want {
				t.Errorf("String() = %q, want %q", k.String(), tt.want)
			}
		})
	}
}

// FuzzParseRouteKey checks that every accepted key renders back to itself
// and matches a request path built from it, with the values it was built
// from as parameters.
func FuzzParseRouteKey(f *testing.F) {
	for _, s := range []string{"$default", "GET /", "ANY /{proxy+}", "GET /items/{id}", "POST /a/{b}/c/{rest+}",
		"GET /a%2Fb/{x}", "GET /é/{ü}", "PUT /{a}/{b}/{c}", "GET /{p+}/x", "GET /a//b", "HEAD /.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		k, err := parseRouteKey(key)
		if err != nil {
			return
		}
		if k.String() != key {
			t.Fatalf("parse(%q).String() = %q", key, k.String())
		}
		again, err := parseRouteKey(k.String())
		if err != nil || again.shape() != k.shape() {
			t.Fatalf("reparse of %q: %v, shape %q vs %q", key, err, again.shape(), k.shape())
		}
		if k.def {
			return
		}
		var raw []string
		want := map[string]string{}
		for i, s := range k.segs {
			switch s.kind {
			case segLiteral:
				raw = append(raw, url.PathEscape(s.text))
			case segParam:
				v := "v" + string(rune('a'+i%26))
				raw = append(raw, v)
				want[s.text] = v
			case segGreedy:
				raw = append(raw, "g", "h%20i")
				want[s.text] = "g/h i"
			}
		}
		params, ok := k.matchPath(raw)
		if !ok {
			t.Fatalf("%q does not match its own path /%s", key, strings.Join(raw, "/"))
		}
		if len(params) != len(want) {
			t.Fatalf("%q: params %v, want %v", key, params, want)
		}
		for name, v := range want {
			if params[name] != v {
				t.Fatalf("%q: param %s = %q, want %q", key, name, params[name], v)
			}
		}
	})
}

// FuzzMatch routes arbitrary request paths through a set of overlapping
// routes: a match must always be one of them, with parameters for exactly
// the route's variables.
func FuzzMatch(f *testing.F) {
	api, err := compile(API{ID: testAPIID, Routes: []Route{
		{Key: "GET /pets/dog/1", FunctionARN: "f"}, {Key: "GET /pets/dog/{id}", FunctionARN: "f"},
		{Key: "GET /pets/{proxy+}", FunctionARN: "f"}, {Key: "ANY /{proxy+}", FunctionARN: "f"},
		{Key: "POST /a/{b}/c", FunctionARN: "f"}, {Key: "GET /", FunctionARN: "f"},
	}})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"/", "/pets/dog/1", "/pets/dog/%zz", "//", "/a/b/c", "/pets/", "/pets/a%2F/b", ""} {
		f.Add("GET", s)
		f.Add("POST", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		r, params, ok := api.router.match(method, path)
		if !ok {
			if method == "GET" && (path == "/" || path == "") {
				t.Fatalf("GET %q: no route, want GET /", path)
			}
			return
		}
		if r.key.method != method && r.key.method != methodAny {
			t.Fatalf("%s %q matched %q", method, path, r.Key)
		}
		vars := 0
		for _, s := range r.key.segs {
			if s.kind != segLiteral {
				vars++
				if _, ok := params[s.text]; !ok {
					t.Fatalf("%s %q -> %q: no value for {%s}", method, path, r.Key, s.text)
				}
			}
		}
		if len(params) != vars {
			t.Fatalf("%s %q -> %q: params %v", method, path, r.Key, params)
		}
	})
}

// FuzzInterpretResponse feeds arbitrary function output to the response
// rules: never a panic, and every accepted output is a sendable response.
func FuzzInterpretResponse(f *testing.F) {
	for _, s := range []string{
		`"Hello from Lambda!"`, `{"message":"hi"}`, `42`, `null`, `[1,2]`, `{"statusCode":200}`,
		`{"statusCode":404,"headers":{"Content-Type":"text/html","X":1},"body":"<p>no</p>","cookies":["a=1"]}`,
		`{"statusCode":200,"body":"AAEC","isBase64Encoded":true}`, `{"statusCode":"200"}`, `{"statusCode":1e3}`,
		`{"statusCode":200,"headers":{"bad name":"x","ok":"a\r\nb"}}`, `{"statusCode":null}`, `not json`, ``, ` {} `,
		`{"statusCode":200,"body":null,"headers":null,"cookies":null}`, `{"statusCode":-0}`, `{"statusCode":2e2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		resp, err := interpretResponse(out)
		if err != nil {
			return
		}
		if resp.status < 200 || resp.status > 599 {
			t.Fatalf("status %d", resp.status)
		}
		if resp.header.Get("Content-Type") == "" {
			t.Fatal("no content type")
		}
		for name := range resp.header {
			if !validHeaderName(name) {
				t.Fatalf("invalid header name %q", name)
			}
		}
		var fields map[string]json.RawMessage
		structured := json.Unmarshal(bytes.TrimSpace(out), &fields) == nil && !isNull(fields["statusCode"])
		if !structured && !bytes.Equal(resp.body, out) {
			t.Fatalf("output without statusCode changed: %q -> %q", out, resp.body)
		}
	})
}

// BenchmarkEchoRoute serves a POST to a route whose Go function returns the
// request body, the gateway's own cost per request.
func BenchmarkEchoRoute(b *testing.B) {
	inv := newGoInvoker(map[string]goFunc{"echo": func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (any, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: ev.Body, Headers: map[string]string{"Content-Type": "application/json"}}, nil
	}})
	inv.record = false
	g, _ := newTestGateway(b, testConfig(), inv, API{ID: testAPIID, Routes: []Route{
		{Key: "GET /health", FunctionARN: "echo"}, {Key: "POST /echo/{id}", FunctionARN: "echo"}, {Key: "ANY /{proxy+}", FunctionARN: "echo"},
	}})
	body := `{"message":"hello","n":[1,2,3,4,5,6,7,8,9,10],"text":"` + strings.Repeat("x", 64) + `"}`
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := do(g, newRequest("POST", "/echo/42?x=1", body, "Content-Type", "application/json", "User-Agent", "bench"))
			if w.Code != 200 || w.Body.Len() != len(body) {
				b.Fatalf("%d %q", w.Code, w.Body)
			}
		}
	})
}
