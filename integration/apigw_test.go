//go:build integration

package integration

// HTTP API rules end to end (issue 6): a real Python function behind routes
// of a template's HTTP API, reached on --api-addr, checked against what API
// Gateway does: binary bodies base64 both ways, a bare JSON value as a 200
// JSON response, path parameters with a greedy {proxy+}, a failing function
// as 502 {"message":"Internal Server Error"}, a body over 10 MB as 413.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const apiTemplate = `AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      Runtime: python3.12
      Timeout: 10
      Events:
        Echo:
          Type: HttpApi
          Properties:
            Path: /echo
            Method: POST
        Files:
          Type: HttpApi
          Properties:
            Path: /files/{proxy+}
            Method: GET
        Boom:
          Type: HttpApi
          Properties:
            Path: /boom
            Method: GET
        Bare:
          Type: HttpApi
          Properties:
            Path: /bare
            Method: GET
`

const apiHandler = `import base64, json

def handler(event, context):
    route = event["routeKey"]
    if route == "GET /boom":
        raise RuntimeError("boom")
    if route == "GET /bare":
        return {"answer": 42}
    if route == "GET /files/{proxy+}":
        return {"statusCode": 200, "headers": {"content-type": "application/json"},
                "body": json.dumps({"proxy": event["pathParameters"]["proxy"], "q": event.get("rawQueryString", "")})}
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    return {"statusCode": 201, "isBase64Encoded": True,
            "headers": {"content-type": "application/octet-stream", "x-was-base64": str(event.get("isBase64Encoded"))},
            "body": base64.b64encode(raw[::-1]).decode()}
`

func TestHTTPAPIRules(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "fn"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fn", "app.py"), []byte(apiHandler), 0o644); err != nil {
		t.Fatal(err)
	}
	tpl := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(tpl, []byte(apiTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	apiAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	s := startSluice(t, withArgs("-t", tpl, "--api-addr", apiAddr))
	base := "http://" + apiAddr
	cl := &http.Client{Timeout: 60 * time.Second}
	do := func(method, path, ctype string, body []byte) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	// --api-addr is bound once the template is applied: wait for the route.
	if err := poll(60*time.Second, func() error {
		resp, err := cl.Get(base + "/bare")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return errStatus(resp.StatusCode)
		}
		return nil
	}); err != nil {
		t.Fatalf("route never ready: %v\n%s", err, tail(s.log(), 4096))
	}

	resp, body := do("GET", "/bare", "", nil)
	if resp.Header.Get("Content-Type") != "application/json" || !jsonEqual(body, `{"answer": 42}`) {
		t.Errorf("bare JSON value: %s %q %s, want 200 application/json with the value", resp.Status, resp.Header.Get("Content-Type"), body)
	}

	bin := []byte{0x89, 'P', 'N', 'G', 0, 1, 2, 0xff, 0xfe}
	resp, body = do("POST", "/echo", "application/octet-stream", bin)
	want := make([]byte, len(bin))
	for i := range bin {
		want[len(bin)-1-i] = bin[i]
	}
	if resp.StatusCode != 201 || !bytes.Equal(body, want) || resp.Header.Get("X-Was-Base64") != "True" {
		t.Errorf("binary body: %s %x (x-was-base64 %q), want 201 %x with the request base64-encoded", resp.Status, body, resp.Header.Get("X-Was-Base64"), want)
	}
	resp, body = do("POST", "/echo", "application/json", []byte(`{"a":1}`))
	if resp.Header.Get("X-Was-Base64") != "False" || string(body) != `}1:"a"{` {
		t.Errorf("JSON body: x-was-base64 %q, body %q; JSON must reach the function as text", resp.Header.Get("X-Was-Base64"), body)
	}

	resp, body = do("GET", "/files/a/b/c.txt?x=1&y=2", "", nil)
	var files struct{ Proxy, Q string }
	if err := json.Unmarshal(body, &files); err != nil || files.Proxy != "a/b/c.txt" || files.Q != "x=1&y=2" {
		t.Errorf("greedy path: %s %s, want proxy a/b/c.txt and the raw query", resp.Status, body)
	}

	resp, body = do("GET", "/boom", "", nil)
	if resp.StatusCode != http.StatusBadGateway || string(body) != `{"message":"Internal Server Error"}` {
		t.Errorf("failing function: %s %s, want 502 {\"message\":\"Internal Server Error\"}", resp.Status, body)
	}
	resp, body = do("GET", "/nowhere", "", nil)
	if resp.StatusCode != http.StatusNotFound || string(body) != `{"message":"Not Found"}` {
		t.Errorf("no route: %s %s", resp.Status, body)
	}
	resp, body = do("POST", "/echo", "application/octet-stream", make([]byte, 10<<20+1))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "Request Entity Too Large") {
		t.Errorf("body over 10 MB: %s %s, want 413", resp.Status, body)
	}
}

type errStatus int

func (e errStatus) Error() string { return "status " + strconv.Itoa(int(e)) }

func jsonEqual(a []byte, b string) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal([]byte(b), &y) == nil && jsonString(x) == jsonString(y)
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
