package lambda

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/frontdoor"
	"github.com/sluicehq/sluice/fsstore"
	"github.com/sluicehq/sluice/s3api"
	"github.com/sluicehq/sluice/sigv4"
)

func needInterpreter(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed", name)
	}
}

func pySpec(t *testing.T, name, handler string) *FunctionSpec {
	needInterpreter(t, "python3")
	return &FunctionSpec{
		Name: name, Version: "$LATEST", Region: "us-east-1",
		ARN:     "arn:aws:lambda:us-east-1:000000000000:function:" + name,
		Runtime: "python3.13", Handler: handler,
		CodeDir: filepath.Join(testdataDir(t), "python"),
		Timeout: 5 * time.Second, MemoryMB: 128,
	}
}

func nodeSpec(t *testing.T, name, handler string) *FunctionSpec {
	needInterpreter(t, "node")
	return &FunctionSpec{
		Name: name, Version: "$LATEST", Region: "us-east-1",
		ARN:     "arn:aws:lambda:us-east-1:000000000000:function:" + name,
		Runtime: "nodejs22.x", Handler: handler,
		CodeDir: filepath.Join(testdataDir(t), "node"),
		Timeout: 5 * time.Second, MemoryMB: 128,
	}
}

// errorCase is one invocation expected to fail with an error document.
type errorCase struct {
	name      string
	spec      *FunctionSpec
	payload   string
	wantType  string
	wantMsg   string
	wantTail  []string
	wantTrace bool
}

func runErrorCases(t *testing.T, h *Host, cases []errorCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := invoke(t, h, tt.spec, tt.payload, InvokeOptions{Tail: true})
			if res.FunctionError != "Unhandled" {
				t.Fatalf("FunctionError %q, payload %s", res.FunctionError, res.Payload)
			}
			doc := decode(t, res.Payload)
			if doc["errorType"] != tt.wantType || doc["errorMessage"] != tt.wantMsg && !strings.Contains(doc["errorMessage"].(string), tt.wantMsg) {
				t.Errorf("error document %s\nwant type %s, message %q", res.Payload, tt.wantType, tt.wantMsg)
			}
			if tt.wantTrace {
				trace, _ := doc["stackTrace"].([]any)
				if trace == nil {
					trace, _ = doc["trace"].([]any)
				}
				if len(trace) == 0 {
					t.Errorf("no stack trace in %s", res.Payload)
				}
			}
			for _, w := range tt.wantTail {
				if !strings.Contains(string(res.LogTail), w) {
					t.Errorf("tail lacks %q:\n%s", w, res.LogTail)
				}
			}
		})
	}
}

func TestPythonRuntime(t *testing.T) {
	t.Parallel()
	h, sink := newTestHost(t, nil)
	spec := pySpec(t, "py", "app.handler")
	spec.Env = map[string]string{"AWS_EXECUTION_ENV": "mine"}
	cc := base64.StdEncoding.EncodeToString([]byte(`{"custom":{"user":"u1"},"client":null,"env":null}`))
	res := invoke(t, h, spec, `{"n":1,"stdout":["to stdout"],"stderr":["to stderr"]}`, InvokeOptions{RequestID: "py-1", Tail: true, ClientContext: cc})
	if res.FunctionError != "" {
		t.Fatalf("%s: %s\n%s", res.FunctionError, res.Payload, res.LogTail)
	}
	got := decode(t, res.Payload)
	want := map[string]any{
		"aws_request_id":       "py-1",
		"function_name":        "py",
		"function_version":     "$LATEST",
		"invoked_function_arn": spec.ARN,
		"memory_limit_in_mb":   "128",
		"log_group_name":       "/aws/lambda/py",
		"client_context":       map[string]any{"user": "u1"},
		"identity":             []any{nil, nil},
		"cwd":                  spec.CodeDir,
		"env": map[string]any{
			"AWS_EXECUTION_ENV": "AWS_Lambda_python3.13", "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
			"_HANDLER": "app.handler", "TZ": ":UTC", "LAMBDA_TASK_ROOT": spec.CodeDir,
		},
	}
	for k, v := range want {
		if d := cmp.Diff(v, got[k]); d != "" {
			t.Errorf("%s (-want +got):\n%s", k, d)
		}
	}
	if r := got["remaining"].(float64); r < 3000 || r > 5000 {
		t.Errorf("get_remaining_time_in_millis() = %v", r)
	}
	tail := string(res.LogTail)
	for _, w := range []string{"app module loaded", "START RequestId: py-1", "to stdout", "to stderr", "END RequestId: py-1", "Init Duration"} {
		if !strings.Contains(tail, w) {
			t.Errorf("tail lacks %q:\n%s", w, tail)
		}
	}
	if strings.Index(tail, "app module loaded") > strings.Index(tail, "START RequestId") {
		t.Errorf("init output after START:\n%s", tail)
	}

	res = invoke(t, h, spec, `{"action":"log"}`, InvokeOptions{RequestID: "py-2", Tail: true})
	if !strings.Contains(string(res.LogTail), "[WARNING]\t") || !strings.Contains(string(res.LogTail), "\tpy-2\twarned here") {
		t.Errorf("logging output not in Lambda's format:\n%s", res.LogTail)
	}

	nested := pySpec(t, "py-nested", "pkg/sub/nested.handler")
	for _, handler := range []string{"pkg/sub/nested.handler", "pkg.sub.nested.handler"} {
		nested.Handler = handler
		res := invoke(t, h, nested, `{}`, InvokeOptions{})
		if d := cmp.Diff(map[string]any{"nested": true, "module": "pkg.sub.nested"}, decode(t, res.Payload)); d != "" {
			t.Errorf("handler %s: %s", handler, d)
		}
	}

	timeout := pySpec(t, "py-timeout", "app.handler")
	timeout.Timeout = 300 * time.Millisecond
	runErrorCases(t, h, []errorCase{
		{name: "raise", spec: spec, payload: `{"action":"error"}`, wantType: "ValueError", wantMsg: "boom", wantTrace: true,
			wantTail: []string{"[ERROR] ValueError: boom", "Traceback (most recent call last):", `raise ValueError("boom")`}},
		{name: "timeout", spec: timeout, payload: `{"action":"sleep","seconds":5}`, wantType: "Sandbox.Timedout",
			wantMsg: "Task timed out after 0.30 seconds", wantTail: []string{"Status: timeout"}},
		{name: "crash", spec: spec, payload: `{"action":"crash"}`, wantType: "Runtime.ExitError", wantMsg: "Runtime exited with error: exit status 1"},
		{name: "oversize", spec: spec, payload: `{"action":"big","size":7000000}`, wantType: "Function.ResponseSizeTooLarge",
			wantMsg: "Response payload size exceeded maximum allowed payload size (6291556 bytes)."},
		{name: "import error", spec: pySpec(t, "py-noimport", "nope.handler"), payload: `{}`, wantType: "Runtime.ImportModuleError",
			wantMsg: "Unable to import module 'nope': No module named 'nope'", wantTail: []string{"[ERROR] Runtime.ImportModuleError", "INIT_REPORT"}},
		{name: "handler not found", spec: pySpec(t, "py-nohandler", "app.nope"), payload: `{}`, wantType: "Runtime.HandlerNotFound",
			wantMsg: "Handler 'nope' missing on module 'app'"},
		{name: "syntax error", spec: pySpec(t, "py-syntax", "broken.handler"), payload: `{}`, wantType: "Runtime.UserCodeSyntaxError",
			wantMsg: "Syntax error in module 'broken'"},
		{name: "raises on import", spec: pySpec(t, "py-raises", "raises_on_import.handler"), payload: `{}`, wantType: "RuntimeError",
			wantMsg: "cannot start"},
		{name: "malformed handler", spec: pySpec(t, "py-malformed", "nodot"), payload: `{}`, wantType: "Runtime.MalformedHandlerName",
			wantMsg: "Bad handler 'nodot'"},
	})
	sink.waitLine(t, "/aws/lambda/py", "REPORT RequestId: py-2")
}

func TestNodeRuntime(t *testing.T) {
	t.Parallel()
	h, _ := newTestHost(t, nil)
	spec := nodeSpec(t, "node", "index.handler")
	res := invoke(t, h, spec, `{"n":1,"stdout":["raw stdout"],"stderr":["raw stderr"]}`, InvokeOptions{RequestID: "js-1", Tail: true})
	if res.FunctionError != "" {
		t.Fatalf("%s: %s\n%s", res.FunctionError, res.Payload, res.LogTail)
	}
	got := decode(t, res.Payload)
	want := map[string]any{
		"event":              map[string]any{"n": float64(1), "stdout": []any{"raw stdout"}, "stderr": []any{"raw stderr"}},
		"awsRequestId":       "js-1",
		"functionName":       "node",
		"functionVersion":    "$LATEST",
		"invokedFunctionArn": spec.ARN,
		"memoryLimitInMB":    "128",
		"logGroupName":       "/aws/lambda/node",
		"clientContext":      nil,
		"env":                map[string]any{"AWS_EXECUTION_ENV": "AWS_Lambda_nodejs22.x", "_HANDLER": "index.handler", "TZ": ":UTC"},
	}
	for k, v := range want {
		if d := cmp.Diff(v, got[k]); d != "" {
			t.Errorf("%s (-want +got):\n%s", k, d)
		}
	}
	if r := got["remaining"].(float64); r < 3000 || r > 5000 {
		t.Errorf("getRemainingTimeInMillis() = %v", r)
	}
	tail := string(res.LogTail)
	for _, w := range []string{"\tundefined\tINFO\tindex module loaded", "raw stdout", "raw stderr", "END RequestId: js-1"} {
		if !strings.Contains(tail, w) {
			t.Errorf("tail lacks %q:\n%s", w, tail)
		}
	}
	res = invoke(t, h, spec, `{"action":"log"}`, InvokeOptions{RequestID: "js-2", Tail: true})
	if !strings.Contains(string(res.LogTail), "\tjs-2\tINFO\thello console") {
		t.Errorf("console.log not in Lambda's format:\n%s", res.LogTail)
	}

	okCases := []struct {
		handler string
		payload string
		want    any
		tail    string
	}{
		{"src/app.handler", `{}`, map[string]any{"nested": true}, ""},
		{"esm/app.handler", `{"a":1}`, map[string]any{"esm": true, "got": map[string]any{"a": float64(1)}}, ""},
		{"esm/app.deep.inner.handler", `{}`, "deeply nested", ""},
		{"modpkg/index.handler", `{}`, map[string]any{"typeModule": true, "fn": "node-ok"}, ""},
		{"callback.handler", `{}`, map[string]any{"style": "callback", "requestId": "cb"}, "timer fired after callback"},
		{"callback.legacy", `{}`, map[string]any{"style": "succeed"}, ""},
		{"callback.handler", `{"noWait":true}`, map[string]any{"style": "callback", "requestId": "cb"}, "-timer fired after callback"},
	}
	for _, tt := range okCases {
		t.Run(tt.handler+tt.payload, func(t *testing.T) {
			s := nodeSpec(t, "node-ok", tt.handler)
			res := invoke(t, h, s, tt.payload, InvokeOptions{RequestID: "cb", Tail: true})
			if res.FunctionError != "" {
				t.Fatalf("%s: %s\n%s", res.FunctionError, res.Payload, res.LogTail)
			}
			var got any
			if err := json.Unmarshal(res.Payload, &got); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("result (-want +got):\n%s", d)
			}
			if no, ok := strings.CutPrefix(tt.tail, "-"); ok {
				// callbackWaitsForEmptyEventLoop = false: the answer does not wait.
				if strings.Contains(string(res.LogTail), no) {
					t.Errorf("tail has %q:\n%s", no, res.LogTail)
				}
			} else if tt.tail != "" {
				// callbackWaitsForEmptyEventLoop: the answer waits for the timer.
				if i, j := strings.Index(string(res.LogTail), tt.tail), strings.Index(string(res.LogTail), "END RequestId"); i < 0 || i > j {
					t.Errorf("tail lacks %q before END:\n%s", tt.tail, res.LogTail)
				}
			}
		})
	}

	timeout := nodeSpec(t, "node-timeout", "index.handler")
	timeout.Timeout = 300 * time.Millisecond
	runErrorCases(t, h, []errorCase{
		{name: "throw", spec: spec, payload: `{"action":"error"}`, wantType: "TypeError", wantMsg: "boom", wantTrace: true,
			wantTail: []string{"\tERROR\tInvoke Error \t{\"errorType\":\"TypeError\""}},
		{name: "callback error", spec: nodeSpec(t, "node-cb", "callback.handler"), payload: `{"fail":true}`, wantType: "RangeError", wantMsg: "callback failure"},
		{name: "timeout", spec: timeout, payload: `{"action":"sleep","ms":5000}`, wantType: "Sandbox.Timedout", wantMsg: "Task timed out after 0.30 seconds"},
		{name: "crash", spec: spec, payload: `{"action":"crash"}`, wantType: "Runtime.ExitError", wantMsg: "Runtime exited with error: exit status 1"},
		{name: "uncaught", spec: spec, payload: `{"action":"throwLater"}`, wantType: "Error", wantMsg: "later"},
		{name: "oversize", spec: spec, payload: `{"action":"big","size":7000000}`, wantType: "Function.ResponseSizeTooLarge",
			wantMsg: "Response payload size exceeded maximum allowed payload size (6291556 bytes)."},
		{name: "import error", spec: nodeSpec(t, "node-noimport", "nope.handler"), payload: `{}`, wantType: "Runtime.ImportModuleError",
			wantMsg: "Error: Cannot find module 'nope'"},
		{name: "handler not found", spec: nodeSpec(t, "node-nohandler", "index.nope"), payload: `{}`, wantType: "Runtime.HandlerNotFound",
			wantMsg: "index.nope is undefined or not exported"},
		{name: "not a function", spec: nodeSpec(t, "node-notfn", "index.notAFunction"), payload: `{}`, wantType: "Runtime.HandlerNotFound",
			wantMsg: "index.notAFunction is not a function"},
		{name: "syntax error", spec: nodeSpec(t, "node-syntax", "broken.handler"), payload: `{}`, wantType: "Runtime.UserCodeSyntaxError",
			wantMsg: "SyntaxError"},
		{name: "malformed handler", spec: nodeSpec(t, "node-malformed", "index"), payload: `{}`, wantType: "Runtime.MalformedHandlerName",
			wantMsg: "Bad handler"},
	})
}

// TestPythonCallsS3 runs a boto3 function against a real Sluice S3 endpoint
// reached through AWS_ENDPOINT_URL and checks the object it wrote.
func TestPythonCallsS3(t *testing.T) {
	t.Parallel()
	needInterpreter(t, "python3")
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("boto3 is not installed")
	}
	store, endpoint := startS3ForHost(t)
	if err := store.CreateBucket(context.Background(), sluice.Bucket{Name: "fn-out", Region: "us-east-1", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	h, _ := newTestHost(t, func(c *HostConfig) { c.EndpointURL = endpoint })
	spec := pySpec(t, "py-s3", "app.handler")
	spec.Timeout = 30 * time.Second
	res := invoke(t, h, spec, `{"action":"s3","bucket":"fn-out","key":"from/lambda.txt","body":"written by a function"}`, InvokeOptions{Tail: true})
	if res.FunctionError != "" {
		t.Fatalf("%s: %s\n%s", res.FunctionError, res.Payload, res.LogTail)
	}
	obj, err := store.OpenObject(context.Background(), "fn-out", "from/lambda.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	rc, err := obj.Reader(0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	body, _ := io.ReadAll(rc)
	if string(body) != "written by a function" {
		t.Errorf("object body %q", body)
	}
}

func startS3ForHost(t *testing.T) (*fsstore.Store, string) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	cfg := fsstore.DefaultConfig()
	cfg.Dir = t.TempDir()
	cfg.Logger = log
	store, err := fsstore.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s3, err := s3api.New(s3api.DefaultConfig(), store, log)
	if err != nil {
		t.Fatal(err)
	}
	authCfg := sigv4.DefaultConfig()
	authCfg.Credentials = map[string]string{sluice.DefaultAccessKey: sluice.DefaultSecretKey}
	verifier, err := sigv4.New(authCfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	door, err := frontdoor.New(frontdoor.DefaultConfig(), hostTestAuth{verifier}, log, reg, reg)
	if err != nil {
		t.Fatal(err)
	}
	door.Handle("s3", s3)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { door.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return store, "http://" + ln.Addr().String()
}

type hostTestAuth struct{ *sigv4.Verifier }

func (hostTestAuth) Scope(r *http.Request) (string, string, bool) { return sigv4.Scope(r) }

func TestDeclaredVersionNotedOnce(t *testing.T) {
	t.Parallel()
	needInterpreter(t, "python3")
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf}, nil))
	cfg := DefaultHostConfig()
	cfg.Dir = t.TempDir()
	h, err := NewHost(cfg, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	spec := pySpec(t, "py-note", "app.handler")
	spec.Runtime = "python3.99"
	for range 2 {
		invoke(t, h, spec, `{}`, InvokeOptions{})
		h.Recycle("py-note")
	}
	h.Close()
	if n := strings.Count(buf.String(), "runtime=python3.99"); n != 1 {
		t.Errorf("%d notes about python3.99, want 1:\n%s", n, buf.String())
	}
}

// lockedWriter lets concurrent loggers share a strings.Builder.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// FuzzLineSplitter checks that the log capture keeps every byte a function
// prints, cuts long lines at the limit and finds every drain marker, however
// the stream is chunked.
func FuzzLineSplitter(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), []byte{3, 0, 7}, uint8(8))
	f.Add([]byte("partial line without newline"), []byte{1, 1, 1}, uint8(4))
	f.Add([]byte("\n\n\r\nx"), []byte{0}, uint8(1))
	f.Add([]byte(strings.Repeat("a", 300)+"\nb"), []byte{50, 120, 200}, uint8(16))
	marker := []byte("\x00\x1bsluice-drain-0123456789ab\n")
	f.Fuzz(func(t *testing.T, data []byte, cuts []byte, maxLen uint8) {
		data = bytes.ReplaceAll(data, marker, nil)
		limit := int(maxLen%64) + 1
		// Markers arrive whole (a pipe write under PIPE_BUF is atomic), at
		// chunk boundaries.
		var chunks [][]byte
		rest := data
		markers := 0
		for _, c := range cuts {
			n := min(int(c), len(rest))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
			chunks = append(chunks, marker)
			markers++
		}
		chunks = append(chunks, rest)

		sp := lineSplitter{marker: marker, max: limit}
		var pieces [][]byte
		seen := 0
		emit := func(b []byte) { pieces = append(pieces, append([]byte(nil), b...)) }
		for _, c := range chunks {
			sp.feed(c, emit, func() { seen++ })
		}
		sp.flush(emit)

		if seen != markers {
			t.Fatalf("saw %d markers, sent %d", seen, markers)
		}
		var joined []byte
		for _, p := range pieces {
			if len(p) > limit {
				t.Fatalf("piece of %d bytes over the %d limit", len(p), limit)
			}
			joined = append(joined, p...)
		}
		if want := bytes.ReplaceAll(data, []byte("\n"), nil); !bytes.Equal(joined, want) {
			t.Fatalf("captured %q, printed %q", joined, want)
		}
		longest := 0
		for _, l := range bytes.Split(data, []byte("\n")) {
			longest = max(longest, len(l))
		}
		if longest <= limit {
			want := bytes.Split(data, []byte("\n"))
			if len(want) > 0 && len(want[len(want)-1]) == 0 {
				want = want[:len(want)-1]
			}
			if len(want) != len(pieces) {
				t.Fatalf("%d lines, want %d: %q", len(pieces), len(want), pieces)
			}
			for i := range want {
				if !bytes.Equal(want[i], pieces[i]) {
					t.Fatalf("line %d = %q, want %q", i, pieces[i], want[i])
				}
			}
		}
	})
}

// FuzzRuntimeAPI sends arbitrary requests to an instance's Runtime API: it
// answers only with the documented statuses and accepts a result only for
// the invocation in flight, once.
func FuzzRuntimeAPI(f *testing.F) {
	f.Add("POST", "/2018-06-01/runtime/invocation/req-1/response", "", []byte(`{"ok":true}`))
	f.Add("POST", "/2018-06-01/runtime/invocation/req-1/error", "Runtime.Custom", []byte(`not json`))
	f.Add("POST", "/2018-06-01/runtime/invocation/other/response", "", []byte(`{}`))
	f.Add("POST", "/2018-06-01/runtime/init/error", "Runtime.ImportModuleError", []byte(`{"errorMessage":"x"}`))
	f.Add("GET", "/2018-06-01/runtime/invocation/next", "", []byte(nil))
	f.Add("PUT", "/2018-06-01/runtime/invocation/req-1/response", "", []byte(nil))
	f.Add("POST", "/2018-06-01/runtime/invocation//response", "", []byte(nil))
	f.Add("GET", "/", "", []byte(nil))
	f.Fuzz(func(t *testing.T, method, path, errType string, body []byte) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?#%") || len(path) > 512 {
			return
		}
		sink := &logFlusher{wake: make(chan struct{}, 1)}
		lp := &logPipe{flusher: sink, seenCh: make(chan struct{}, 1), eof: make(chan struct{})}
		in := &instance{
			out: lp, invq: make(chan *invocation), readyCh: make(chan struct{}),
			initErrCh: make(chan struct{}), stopping: make(chan struct{}), exited: make(chan struct{}),
		}
		close(in.stopping) // a /next would otherwise wait for an invocation
		inv := &invocation{id: "req-1", done: make(chan struct{})}
		in.cur = inv
		req := httptest.NewRequest(http.MethodGet, "/", bytes.NewReader(body))
		req.Method = method
		req.URL.Path = path
		if errType != "" {
			req.Header.Set("Lambda-Runtime-Function-Error-Type", errType)
		}
		rec := httptest.NewRecorder()
		in.ServeHTTP(rec, req)
		switch rec.Code {
		case 202, 400, 403, 404, 405, 413, 500:
		default:
			t.Fatalf("%s %s: status %d", method, path, rec.Code)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: body %q is not JSON", method, path, rec.Body.Bytes())
		}
		answered := false
		select {
		case <-inv.done:
			answered = true
		default:
		}
		isResult := method == "POST" && (path == runtimePrefix+"invocation/req-1/response" || path == runtimePrefix+"invocation/req-1/error")
		if answered != isResult || answered && in.cur != nil {
			t.Fatalf("%s %s: answered=%v, cur=%v", method, path, answered, in.cur)
		}
		if answered && inv.isError && !json.Valid(inv.result) {
			t.Fatalf("error document %q is not JSON", inv.result)
		}
		if answered && !inv.isError && !inv.tooLarge && !bytes.Equal(inv.result, body) {
			t.Fatalf("response %q, runtime sent %q", inv.result, body)
		}
		if answered {
			// A second answer for the same invocation is refused.
			rec := httptest.NewRecorder()
			in.ServeHTTP(rec, httptest.NewRequest("POST", path, bytes.NewReader(body)))
			if rec.Code != 400 && rec.Code != 403 {
				t.Fatalf("second answer: status %d", rec.Code)
			}
		}
	})
}

func TestParseRuntime(t *testing.T) {
	tests := []struct {
		name    string
		kind    runtimeKind
		version string
		wantErr bool
	}{
		{"provided.al2023", runtimeProvided, "", false},
		{"provided.al2", runtimeProvided, "", false},
		{"go1.x", runtimeGo, "", false},
		{"python3.13", runtimePython, "3.13", false},
		{"python3.x", 0, "", true},
		{"nodejs22.x", runtimeNode, "22", false},
		{"nodejs.x", 0, "", true},
		{"java21", 0, "", true},
		{"", 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, err := parseRuntime(tt.name)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				if !sluice.IsCode(err, sluice.ErrInvalidParameterValue) {
					t.Errorf("error code %v", sluice.ErrorCode(err))
				}
				return
			}
			if rt.kind != tt.kind || rt.version != tt.version {
				t.Errorf("got kind %d version %q", rt.kind, rt.version)
			}
		})
	}
}

func TestParseVmHWM(t *testing.T) {
	status := "Name:\tbootstrap\nVmPeak:\t  1000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t  1024 kB\n"
	if got := parseVmHWM([]byte(status)); got != 2048<<10 {
		t.Errorf("parseVmHWM = %d", got)
	}
	for _, bad := range []string{"", "VmHWM:", "VmHWM: x kB\n", "VmHWM: 99999999999999999999 kB"} {
		if got := parseVmHWM([]byte(bad)); got != 0 {
			t.Errorf("parseVmHWM(%q) = %d", bad, got)
		}
	}
	if got := treePeakRSS(os.Getpid()); got < 1<<20 {
		t.Errorf("this process's peak RSS %d is implausible", got)
	}
}
