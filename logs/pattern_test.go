package logs

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

func TestPatternMatch(t *testing.T) {
	msgs := map[string]string{
		"err":   "2025-01-01T00:00:00Z req-1 ERROR disk full on /dev/sda",
		"warn":  "WARN slow request: 1200 ms",
		"info":  "INFO Failed to connect, retrying",
		"json1": `{"level":"error","latency":250,"user":{"id":7,"tags":["a","b"]},"ok":false,"gone":null}` + "\n",
		"json2": `{"level":"info","latency":20.5,"user":{"id":8},"ok":true,"msg":"user-42 logged in"}`,
		"array": `[1,2,3]`,
	}
	tests := []struct {
		pattern string
		want    []string // names of the messages that match
	}{
		{"", []string{"array", "err", "info", "json1", "json2", "warn"}},
		{`""`, []string{"array", "err", "info", "json1", "json2", "warn"}},
		{"ERROR", []string{"err"}},
		{"error", []string{"json1"}}, // case-sensitive
		{"ERROR disk", []string{"err"}},
		{"ERROR memory", nil},
		{`"Failed to connect"`, []string{"info"}},
		{`"Failed to" retrying`, []string{"info"}},
		{"?ERROR ?WARN", []string{"err", "warn"}},
		{"?ERROR ?WARN -disk", []string{"warn"}},
		{"-INFO -WARN -ERROR", []string{"array", "json1", "json2"}},
		{`"say \"hi\""`, nil},
		{`%^WARN|^INFO%`, []string{"info", "warn"}},
		{`%\d{4} ms%`, []string{"warn"}},
		{`{ $.level = "error" }`, []string{"json1"}},
		{`{$.level="error"}`, []string{"json1"}},
		{`{ $.level = error }`, []string{"json1"}},
		{`{ $.level != "error" }`, []string{"json2"}},
		{`{ $.level = "err*" }`, []string{"json1"}},
		{`{ $.msg = "*logged*" }`, []string{"json2"}},
		{`{ $.latency > 100 }`, []string{"json1"}},
		{`{ $.latency <= 20.5 }`, []string{"json2"}},
		{`{ $.latency >= 250 && $.level = "error" }`, []string{"json1"}},
		{`{ $.latency < 10 || $.user.id = 8 }`, []string{"json2"}},
		{`{ ($.user.id = 7 || $.user.id = 8) && $.ok IS FALSE }`, []string{"json1"}},
		{`{ $.ok IS TRUE }`, []string{"json2"}},
		{`{ $.gone IS NULL }`, []string{"json1"}},
		{`{ $.msg NOT EXISTS }`, []string{"json1"}},
		{`{ $.msg EXISTS }`, []string{"json2"}},
		{`{ $.user.tags[1] = "b" }`, []string{"json1"}},
		{`{ $.user.tags[5] = "b" }`, nil},
		{`{ $.missing != "x" }`, nil},
		{`{ $.latency = 250 }`, []string{"json1"}},
		{`{ $.level = 250 }`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			p, err := CompilePattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, name := range []string{"array", "err", "info", "json1", "json2", "warn"} {
				if p.Match(msgs[name]) {
					got = append(got, name)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("%s matches %v, want %v", tt.pattern, got, tt.want)
			}
		})
	}
}

func TestPatternErrors(t *testing.T) {
	for _, bad := range []string{
		`"unterminated`,
		`[ip, user, status]`,
		`{ $.a = }`,
		`{ $.a }`,
		`{ a = 1 }`,
		`{ $.a = 1 `,
		`{ $.a > "x" }`,
		`{ ($.a = 1 }`,
		`{ $.a = 1 && }`,
		`{ $. = 1 }`,
		`{ $.a[x] = 1 }`,
		`{ $.a IS MAYBE }`,
		`{ $.a NOT THERE }`,
		`%[%`,
		`{ ` + strings.Repeat("(", 60) + `$.a = 1` + strings.Repeat(")", 60) + ` }`,
	} {
		if _, err := CompilePattern(bad); !sluice.IsCode(err, sluice.ErrInvalidParameter) {
			t.Errorf("CompilePattern(%q) = %v, want InvalidParameterException", bad, err)
		}
	}
}

func FuzzFilterPattern(f *testing.F) {
	for _, seed := range []string{
		"", "ERROR", `"a b" ?c -d`, `%a+b%`, `{ $.a = "x*" }`, `{ ($.a > 1 || $.b IS NULL) && $.c[0] NOT EXISTS }`,
		`{ $.a.b[2].c != 3.5e2 }`, `[a, b]`, `{`, `"`, `?`, `-`, `{ (((`, `{ $.a = "\"" }`,
	} {
		f.Add(seed, `{"a":"xy","b":null,"c":[1],"n":2}`)
	}
	f.Fuzz(func(t *testing.T, pattern, msg string) {
		p, err := CompilePattern(pattern)
		if err != nil {
			if !sluice.IsCode(err, sluice.ErrInvalidParameter) {
				t.Fatalf("CompilePattern(%q) error without InvalidParameter code: %v", pattern, err)
			}
			return
		}
		first := p.Match(msg)
		if p.Match(msg) != first {
			t.Fatalf("Match is not deterministic for %q on %q", pattern, msg)
		}
	})
}

// FuzzTarget sends arbitrary JSON bodies to every operation: the service
// must answer each with 200 or a well-formed AWS error, never panic.
func FuzzTarget(f *testing.F) {
	ops := []string{"CreateLogGroup", "DeleteLogGroup", "DescribeLogGroups", "CreateLogStream", "DeleteLogStream",
		"DescribeLogStreams", "PutLogEvents", "GetLogEvents", "FilterLogEvents", "PutRetentionPolicy", "DeleteRetentionPolicy", "Nope"}
	seeds := []string{
		`{}`, ``, `null`, `[]`, `{"logGroupName":"/g"}`, `{"logGroupName":"/g","logStreamName":"s"}`,
		`{"logGroupName":"/g","logStreamName":"s","logEvents":[{"timestamp":1,"message":"x"}]}`,
		`{"logGroupName":"/g","logStreamName":"s","nextToken":"f/00000000000000000000000000000000000000000000000000000001/s","limit":1}`,
		`{"logGroupName":"/g","filterPattern":"{ $.a = 1 }","nextToken":"e/1","limit":0}`,
		`{"logGroupName":"/g","retentionInDays":-1}`, `{"logGroupNamePrefix":"","limit":51,"nextToken":"@@"}`,
		`{"logGroupIdentifier":"arn:aws:logs:us-east-1:000000000000:log-group:/g:*","orderBy":"LastEventTime","descending":true}`,
		`{"logGroupName":"/g","startTime":-5,"endTime":9223372036854775807}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), s)
	}
	cfg := DefaultConfig()
	cfg.Dir = f.TempDir()
	cfg.NoSync = true
	st, err := Open(cfg, quietLog())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	if err := st.PutLogEvents(context.Background(), "/g", "s", []sluice.LogEvent{{Message: "seed"}}); err != nil {
		f.Fatal(err)
	}
	svc := NewService(st, quietLog())
	f.Fuzz(func(t *testing.T, op uint8, body string) {
		name := ops[int(op)%len(ops)]
		// Deleting the shared group would make later inputs less useful.
		if name == "DeleteLogGroup" || name == "DeleteLogStream" {
			body = strings.ReplaceAll(body, `"/g"`, `"/h"`)
		}
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "Logs_20140328."+name)
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		svc.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %q: 200 with invalid JSON %q", name, body, rec.Body.String())
			}
		case http.StatusBadRequest:
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
			if err := dec.Decode(&e); err != nil || e.Type == "" || e.Message == "" {
				t.Fatalf("%s %q: malformed error %q", name, body, rec.Body.String())
			}
		default:
			t.Fatalf("%s %q: status %d: %s", name, body, rec.Code, rec.Body.String())
		}
	})
}
