package apigw

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/awsevent"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// seqReader yields 0, 1, 2, ... so generated ids are reproducible.
type seqReader struct{ n byte }

func (s *seqReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = s.n
		s.n++
	}
	return len(p), nil
}

// capture returns a gateway whose only function records its event.
func captureGateway(t *testing.T, now time.Time, api API) (*Gateway, *goInvoker) {
	t.Helper()
	inv := newGoInvoker(map[string]goFunc{"capture": func(context.Context, events.APIGatewayV2HTTPRequest) (any, error) {
		return map[string]int{"statusCode": 204}, nil
	}})
	for i := range api.Routes {
		api.Routes[i].FunctionARN = "capture"
	}
	g, _ := newTestGateway(t, testConfig(), inv, api)
	g.now = func() time.Time { return now }
	g.rand = &seqReader{}
	return g, inv
}

// TestEventMatchesAWSExample sends the request AWS's documentation example
// describes and compares the event, field by field, with AWS's example
// payload (testdata/aws-httpapi-example.json).
func TestEventMatchesAWSExample(t *testing.T) {
	exampleRaw, err := os.ReadFile(filepath.Join("testdata", "aws-httpapi-example.json"))
	if err != nil {
		t.Fatal(err)
	}
	var example map[string]any
	if err := json.Unmarshal(exampleRaw, &example); err != nil {
		t.Fatal(err)
	}
	exTime, err := time.Parse(awsevent.HTTPAPITimeLayout, field(example, "requestContext", "time").(string))
	if err != nil {
		t.Fatal(err)
	}
	g, inv := captureGateway(t, exTime, API{ID: testAPIID, Routes: []Route{{Key: "$default"}}})
	r := newRequest("POST", "/my/path?parameter1=value1&parameter1=value2&parameter2=value", "Hello from Lambda",
		"Header1", "value1", "Header2", "value1", "Header2", "value2",
		"Cookie", "cookie1; cookie2", "User-Agent", "agent", "Content-Type", "text/plain")
	if w := do(g, r); w.Code != 204 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(inv.lastEvent(), &got); err != nil {
		t.Fatal(err)
	}

	same := [][]string{
		{"version"}, {"routeKey"}, {"rawPath"}, {"rawQueryString"}, {"cookies"},
		{"headers", "header1"}, {"headers", "header2"}, {"queryStringParameters"},
		{"requestContext", "http", "method"}, {"requestContext", "http", "path"},
		{"requestContext", "http", "protocol"}, {"requestContext", "http", "sourceIp"},
		{"requestContext", "http", "userAgent"}, {"requestContext", "routeKey"},
		{"requestContext", "stage"}, {"requestContext", "time"}, {"body"}, {"isBase64Encoded"},
	}
	for _, path := range same {
		if diff := cmp.Diff(field(example, path...), field(got, path...)); diff != "" {
			t.Errorf("%v (-aws +sluice):\n%s", path, diff)
		}
	}
	// Ours, not the example's: the account, the API and the request.
	for path, want := range map[string]any{
		"accountId": "000000000000", "apiId": testAPIID, "domainName": testAPIID + ".execute-api.localhost",
		"domainPrefix": testAPIID, "timeEpoch": float64(exTime.UnixMilli()),
	} {
		if got := field(got, "requestContext", path); got != want {
			t.Errorf("requestContext.%s = %v, want %v", path, got, want)
		}
	}
	// Every field we send is one AWS sends, with the same JSON type;
	// pathParameters and stageVariables are absent when empty, as on AWS.
	sameKeys(t, "", example, got, map[string]bool{"pathParameters": true, "stageVariables": true})
}

func sameKeys(t *testing.T, where string, aws, ours map[string]any, optional map[string]bool) {
	t.Helper()
	for k, v := range ours {
		av, ok := aws[k]
		if !ok {
			t.Errorf("%s%s: a field AWS does not send", where, k)
			continue
		}
		if am, ok := av.(map[string]any); ok && k != "headers" && k != "queryStringParameters" {
			om, ok := v.(map[string]any)
			if !ok {
				t.Errorf("%s%s: %T, AWS sends an object", where, k, v)
				continue
			}
			sameKeys(t, where+k+".", am, om, nil)
		}
		if jsonType(av) != jsonType(v) {
			t.Errorf("%s%s: %s, AWS sends %s", where, k, jsonType(v), jsonType(av))
		}
	}
	for k := range aws {
		if _, ok := ours[k]; !ok && !optional[k] {
			t.Errorf("%s%s: missing", where, k)
		}
	}
}

func jsonType(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	}
	return "null"
}

func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

// TestEventGolden pins the whole event for a request to a greedy route in a
// named stage (go test -run Golden -update rewrites it).
func TestEventGolden(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)
	g, inv := captureGateway(t, now, API{ID: testAPIID, StageName: "prod", Routes: []Route{{Key: "GET /files/{path+}"}}})
	r := newRequest("GET", "/prod/files/cat%20pictures/2026/01.png?size=small&size=large&raw", "",
		"Accept", "image/webp,*/*", "Cookie", "session=s1", "User-Agent", "curl/8.5.0", "X-Forwarded-For", "198.51.100.7")
	if w := do(g, r); w.Code != 204 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, inv.lastEvent(), "", "  "); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", "event-stage-greedy.json")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("event differs from %s (-want +got):\n%s", path, diff)
	}
	var ev map[string]any
	_ = json.Unmarshal(buf.Bytes(), &ev)
	keys := make([]string, 0, len(ev))
	for k := range ev {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if diff := cmp.Diff([]string{"cookies", "headers", "isBase64Encoded", "pathParameters", "queryStringParameters",
		"rawPath", "rawQueryString", "requestContext", "routeKey", "version"}, keys); diff != "" {
		t.Errorf("top-level fields (-want +got):\n%s", diff)
	}
}
