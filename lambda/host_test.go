package lambda

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
)

// goHandlerDir holds the aws-lambda-go test handler, built once per test run.
var (
	goHandlerOnce sync.Once
	goHandlerDir  string
	goHandlerErr  error
)

func goHandler(t testing.TB) string {
	t.Helper()
	goHandlerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-gohandler-")
		if err != nil {
			goHandlerErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "bootstrap"), "./testdata/gohandler")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			goHandlerErr = fmt.Errorf("build go handler: %v\n%s", err, out)
			return
		}
		goHandlerDir = dir
	})
	if goHandlerErr != nil {
		t.Fatal(goHandlerErr)
	}
	return goHandlerDir
}

func TestMain(m *testing.M) {
	if os.Getenv(zombieParentEnv) != "" {
		runZombieParent()
		return
	}
	code := m.Run()
	if goHandlerDir != "" {
		os.RemoveAll(goHandlerDir)
	}
	os.Exit(code)
}

// memSink collects function logs in memory.
type memSink struct {
	mu     sync.Mutex
	events map[string][]sluice.LogEvent // group + " " + stream
}

func (s *memSink) PutLogEvents(_ context.Context, group, stream string, events []sluice.LogEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.events == nil {
		s.events = make(map[string][]sluice.LogEvent)
	}
	s.events[group+" "+stream] = append(s.events[group+" "+stream], events...)
	return nil
}

// lines returns every message logged under group, in stream order.
func (s *memSink) lines(group string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k, evs := range s.events {
		if strings.HasPrefix(k, group+" ") {
			for _, e := range evs {
				out = append(out, e.Message)
			}
		}
	}
	return out
}

func (s *memSink) streams(group string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.events {
		if g, stream, _ := strings.Cut(k, " "); g == group {
			out = append(out, stream)
		}
	}
	return out
}

// waitLine polls until a line under group contains substr.
func (s *memSink) waitLine(t *testing.T, group, substr string) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines := s.lines(group)
		for _, l := range lines {
			if strings.Contains(l, substr) {
				return lines
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line under %s contains %q; have:\n%s", group, substr, strings.Join(lines, "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newTestHost(t testing.TB, mod func(*HostConfig)) (*Host, *memSink) {
	t.Helper()
	cfg := DefaultHostConfig()
	cfg.Dir = t.TempDir()
	cfg.EndpointURL = "http://127.0.0.1:1"
	if mod != nil {
		mod(&cfg)
	}
	sink := &memSink{}
	h, err := NewHost(cfg, sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, sink
}

func goSpec(t testing.TB, name string) *FunctionSpec {
	return &FunctionSpec{
		Name:     name,
		Version:  "$LATEST",
		ARN:      "arn:aws:lambda:us-east-1:000000000000:function:" + name,
		Region:   "us-east-1",
		Runtime:  "provided.al2023",
		Handler:  "bootstrap",
		CodeDir:  goHandler(t),
		Timeout:  5 * time.Second,
		MemoryMB: 256,
		Env:      map[string]string{"GREETING": "hello", "AWS_REGION": "eu-west-9"},
	}
}

func invoke(t testing.TB, h *Host, spec *FunctionSpec, payload string, opts InvokeOptions) *sluice.InvokeResult {
	t.Helper()
	res, err := h.Invoke(context.Background(), spec, []byte(payload), opts)
	if err != nil {
		t.Fatalf("invoke %s: %v", spec.Name, err)
	}
	return res
}

func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return m
}

var reportRE = regexp.MustCompile(`^REPORT RequestId: (\S+)\tDuration: (\d+\.\d\d) ms\tBilled Duration: (\d+) ms\tMemory Size: (\d+) MB\tMax Memory Used: (\d+) MB\t(Init Duration: (\d+\.\d\d) ms\t)?(Status: .*)?$`)

func TestGoEcho(t *testing.T) {
	t.Parallel()
	h, sink := newTestHost(t, nil)
	spec := goSpec(t, "echo")
	cc := base64.StdEncoding.EncodeToString([]byte(`{"custom":{"k":"v"}}`))
	res := invoke(t, h, spec, `{"hello":"world"}`, InvokeOptions{RequestID: "req-1", ClientContext: cc, Tail: true})
	if res.FunctionError != "" {
		t.Fatalf("function error %s: %s", res.FunctionError, res.Payload)
	}
	got := decode(t, res.Payload)
	env := got["env"].(map[string]any)
	want := map[string]any{
		"event":         map[string]any{"hello": "world"},
		"requestId":     "req-1",
		"arn":           spec.ARN,
		"functionName":  "echo",
		"version":       "$LATEST",
		"memory":        float64(256),
		"logGroup":      "/aws/lambda/echo",
		"clientContext": map[string]any{"k": "v"},
	}
	for k, v := range want {
		if diff := cmp.Diff(v, got[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	if ms := got["remainingMs"].(float64); ms < 3000 || ms > 5000 {
		t.Errorf("remaining time %vms, want about 5000", ms)
	}
	stream := got["logStream"].(string)
	if !regexp.MustCompile(`^\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}$`).MatchString(stream) {
		t.Errorf("log stream %q", stream)
	}
	wantEnv := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        "echo",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/echo",
		"AWS_LAMBDA_LOG_STREAM_NAME":      stream,
		"AWS_REGION":                      "us-east-1", // the user's value cannot override it
		"AWS_DEFAULT_REGION":              "us-east-1",
		"AWS_ENDPOINT_URL":                "http://127.0.0.1:1",
		"AWS_ACCESS_KEY_ID":               "test",
		"AWS_SECRET_ACCESS_KEY":           "test",
		"LAMBDA_TASK_ROOT":                spec.CodeDir,
		"_HANDLER":                        "bootstrap",
		"TZ":                              ":UTC",
		"GREETING":                        "hello",
	}
	for k, v := range wantEnv {
		if env[k] != v {
			t.Errorf("env %s = %v, want %q", k, env[k], v)
		}
	}
	if !strings.HasPrefix(env["AWS_LAMBDA_RUNTIME_API"].(string), "127.0.0.1:") {
		t.Errorf("AWS_LAMBDA_RUNTIME_API = %v", env["AWS_LAMBDA_RUNTIME_API"])
	}
	if _, ok := env["AWS_EXECUTION_ENV"]; ok {
		t.Errorf("provided runtime has AWS_EXECUTION_ENV")
	}
	// Nothing of the test process's own environment leaks in.
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := env[k]; ok && k != "PATH" && k != "LANG" && k != "TZ" && k != "HOME" && k != "TMPDIR" && k != "LD_LIBRARY_PATH" {
			t.Errorf("host variable %s leaked into the function", k)
		}
	}

	tail := string(res.LogTail)
	lines := strings.Split(strings.TrimSuffix(tail, "\n"), "\n")
	if len(lines) != 3 || lines[0] != "START RequestId: req-1 Version: $LATEST" || lines[1] != "END RequestId: req-1" {
		t.Fatalf("tail:\n%s", tail)
	}
	m := reportRE.FindStringSubmatch(lines[2])
	if m == nil {
		t.Fatalf("REPORT line %q", lines[2])
	}
	if m[1] != "req-1" || m[4] != "256" || m[6] == "" {
		t.Errorf("REPORT line %q: want request id, memory size and an init duration", lines[2])
	}
	if used, _ := strconv.Atoi(m[5]); used < 1 || used > 256 {
		t.Errorf("Max Memory Used %d MB is implausible", used)
	}

	// The second call is warm: same process, no Init Duration.
	res2 := invoke(t, h, spec, `{}`, InvokeOptions{Tail: true})
	if pid1, pid2 := got["pid"], decode(t, res2.Payload)["pid"]; pid1 != pid2 {
		t.Errorf("warm invoke ran in pid %v, first in %v", pid2, pid1)
	}
	if m := reportRE.FindStringSubmatch(lastLine(res2.LogTail)); m == nil || m[6] != "" {
		t.Errorf("warm REPORT %q", lastLine(res2.LogTail))
	}
	sink.waitLine(t, "/aws/lambda/echo", "REPORT RequestId: "+res2.RequestID)
	if s := sink.streams("/aws/lambda/echo"); len(s) != 1 || s[0] != stream {
		t.Errorf("streams %v, want [%s]", s, stream)
	}
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	return lines[len(lines)-1]
}

func TestGoFunctionErrors(t *testing.T) {
	t.Parallel()
	h, _ := newTestHost(t, nil)
	spec := goSpec(t, "errs")

	tests := []struct {
		name      string
		payload   string
		wantType  string
		wantMsg   string
		wantTail  []string
		wantFresh bool // the instance is gone afterwards
		anyFresh  bool // the runtime decides (aws-lambda-go exits when its answer is refused)
	}{
		{name: "error", payload: `{"action":"error"}`, wantType: "errorString", wantMsg: "boom"},
		{name: "timeout", payload: `{"action":"sleep","sleepMs":3000,"stdout":["going to sleep"]}`, wantType: "Sandbox.Timedout",
			wantMsg: "Error: Task timed out after 0.30 seconds", wantTail: []string{"going to sleep", "Task timed out after 0.30 seconds", "Status: timeout"}, wantFresh: true},
		{name: "crash", payload: `{"action":"crash","stderr":["about to crash"]}`, wantType: "Runtime.ExitError",
			wantMsg: "Error: Runtime exited with error: exit status 1", wantTail: []string{"about to crash", "Runtime.ExitError"}, wantFresh: true},
		{name: "oversize", payload: `{"action":"big","size":7340032}`, wantType: "Function.ResponseSizeTooLarge",
			wantMsg: "Response payload size exceeded maximum allowed payload size (6291556 bytes).", anyFresh: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := decode(t, invoke(t, h, spec, `{}`, InvokeOptions{}).Payload)["pid"]
			run := *spec
			if tt.name == "timeout" {
				run.Timeout = 300 * time.Millisecond
			}
			res := invoke(t, h, &run, tt.payload, InvokeOptions{Tail: true})
			if res.FunctionError != "Unhandled" {
				t.Fatalf("FunctionError %q, payload %s", res.FunctionError, res.Payload)
			}
			doc := decode(t, res.Payload)
			if doc["errorType"] != tt.wantType || !strings.Contains(doc["errorMessage"].(string), tt.wantMsg) {
				t.Errorf("error document %s, want type %s and message containing %q", res.Payload, tt.wantType, tt.wantMsg)
			}
			for _, w := range tt.wantTail {
				if !strings.Contains(string(res.LogTail), w) {
					t.Errorf("tail lacks %q:\n%s", w, res.LogTail)
				}
			}
			after := decode(t, invoke(t, h, spec, `{}`, InvokeOptions{}).Payload)["pid"]
			if fresh := before != after; fresh != tt.wantFresh && !tt.anyFresh {
				t.Errorf("fresh instance after %s = %v, want %v", tt.name, fresh, tt.wantFresh)
			}
		})
	}
}

func TestOutputBeforeResponseIsInTail(t *testing.T) {
	t.Parallel()
	h, sink := newTestHost(t, nil)
	spec := goSpec(t, "printer")
	var stdout, stderr []string
	for i := range 50 {
		stdout = append(stdout, fmt.Sprintf("out line %d", i))
		stderr = append(stderr, fmt.Sprintf("err line %d", i))
	}
	ev, _ := json.Marshal(map[string]any{"action": "echo-raw", "stdout": stdout, "stderr": stderr})
	for i := range 20 {
		res := invoke(t, h, spec, string(ev), InvokeOptions{Tail: true, RequestID: fmt.Sprintf("r%d", i)})
		tail := string(res.LogTail)
		for _, w := range []string{"out line 49", "err line 49", "END RequestId: r" + strconv.Itoa(i)} {
			if !strings.Contains(tail, w) {
				t.Fatalf("invoke %d: tail lacks %q:\n%s", i, w, tail)
			}
		}
		if strings.Contains(tail, "RequestId: r"+strconv.Itoa(i-1)+"\n") {
			t.Fatalf("invoke %d: tail holds the previous invocation:\n%s", i, tail)
		}
		if len(res.LogTail) > sluice.MaxLogTail {
			t.Fatalf("tail is %d bytes", len(res.LogTail))
		}
	}
	lines := sink.waitLine(t, "/aws/lambda/printer", "REPORT RequestId: r19")
	// Every invocation's lines sit between its START and END.
	owner := ""
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "START RequestId: "):
			owner = strings.Fields(l)[2]
		case strings.HasPrefix(l, "END RequestId: "):
			owner = ""
		case strings.HasPrefix(l, "out line") || strings.HasPrefix(l, "err line"):
			if owner == "" {
				t.Fatalf("line %q outside any invocation", l)
			}
		}
	}
}

func TestConcurrencyLimit(t *testing.T) {
	h, _ := newTestHost(t, nil)
	spec := goSpec(t, "limited")
	spec.Concurrency = 5
	payload := `{"action":"sleep","sleepMs":20}`

	t.Run("queue", func(t *testing.T) {
		var wg sync.WaitGroup
		var failed atomic.Int32
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := h.Invoke(context.Background(), spec, []byte(payload), InvokeOptions{Queue: true})
				if err != nil || res.FunctionError != "" {
					failed.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := failed.Load(); n != 0 {
			t.Fatalf("%d of 50 queued invocations failed", n)
		}
		p := h.pool("limited")
		p.mu.Lock()
		live := p.live
		p.mu.Unlock()
		if live > 5 {
			t.Errorf("%d instances for concurrency 5", live)
		}
	})
	t.Run("throttle", func(t *testing.T) {
		var wg sync.WaitGroup
		var throttled, ok atomic.Int32
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := h.Invoke(context.Background(), spec, []byte(`{"action":"sleep","sleepMs":200}`), InvokeOptions{})
				switch {
				case err == nil:
					ok.Add(1)
				case sluice.IsCode(err, sluice.ErrTooManyRequests):
					throttled.Add(1)
					var se *sluice.Error
					if errorsAs(err, &se); se.Message != "Rate Exceeded." || se.Fields["Reason"] != "ReservedFunctionConcurrentInvocationLimitExceeded" {
						t.Errorf("throttle error %+v", se)
					}
				default:
					t.Errorf("invoke: %v", err)
				}
			}()
		}
		wg.Wait()
		if throttled.Load() == 0 || ok.Load() == 0 {
			t.Fatalf("%d throttled, %d ran: want some of each", throttled.Load(), ok.Load())
		}
	})
}

// TestWarmInstancesAreReused keeps four callers busy for many rounds: the
// warm instances serve them all, none is stopped and restarted.
func TestWarmInstancesAreReused(t *testing.T) {
	h, _ := newTestHost(t, nil)
	spec := goSpec(t, "warm-pool")
	spec.Concurrency = 4
	const callers, rounds = 4, 25
	pids := map[float64]bool{}
	var mu sync.Mutex
	for range rounds {
		var wg sync.WaitGroup
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := h.Invoke(context.Background(), spec, []byte(`{}`), InvokeOptions{Queue: true})
				if err != nil || res.FunctionError != "" {
					t.Errorf("invoke: %v %s", err, res.Payload)
					return
				}
				mu.Lock()
				pids[decode(t, res.Payload)["pid"].(float64)] = true
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	if len(pids) > callers {
		t.Errorf("%d distinct instance processes served %d callers over %d rounds; warm instances were thrown away", len(pids), callers, rounds)
	}
}

func errorsAs(err error, target **sluice.Error) bool {
	e, ok := err.(*sluice.Error)
	if ok {
		*target = e
	}
	return ok
}

func TestIdleInstancesStop(t *testing.T) {
	t.Parallel()
	h, _ := newTestHost(t, func(c *HostConfig) { c.IdleTimeout = 100 * time.Millisecond })
	spec := goSpec(t, "idle")
	pid := int(decode(t, invoke(t, h, spec, `{}`, InvokeOptions{}).Payload)["pid"].(float64))
	waitGone(t, pid)
	p := h.pool("idle")
	p.mu.Lock()
	live, idle := p.live, len(p.idle)
	p.mu.Unlock()
	if live != 0 || idle != 0 {
		t.Errorf("live %d idle %d after the idle timeout", live, idle)
	}
}

// waitGone polls until process pid no longer exists (or is a zombie nobody reaped).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
			return
		}
		if time.Now().After(deadline) {
			stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
			t.Fatalf("process %d still exists: %s", pid, stat)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRecycleAndCodeChange(t *testing.T) {
	t.Parallel()
	h, _ := newTestHost(t, nil)
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(goHandler(t), "bootstrap"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := goSpec(t, "watched")
	spec.CodeDir = dir
	spec.WatchCode = true
	pid := func() any { return decode(t, invoke(t, h, spec, `{}`, InvokeOptions{}).Payload)["pid"] }

	first := pid()
	if again := pid(); again != first {
		t.Fatalf("unchanged code started a new instance")
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"v":2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	second := pid()
	for second == first && time.Now().Before(deadline) {
		time.Sleep(fingerprintTTL / 2)
		second = pid()
	}
	if second == first {
		t.Fatal("changed code kept the old instance")
	}
	waitGone(t, int(first.(float64)))

	h.Recycle("watched")
	waitGone(t, int(second.(float64)))
	if third := pid(); third == second {
		t.Fatal("recycled instance was reused")
	}

	spec.CodeRevision = "rev-2"
	fourth := pid()
	spec.CodeRevision = "rev-3"
	if fifth := pid(); fifth == fourth {
		t.Fatal("a new code revision reused a warm instance")
	}
}

func TestInitFailures(t *testing.T) {
	t.Parallel()
	h, _ := newTestHost(t, nil)
	empty := t.TempDir()
	script := t.TempDir()
	os.WriteFile(filepath.Join(script, "bootstrap"), []byte("#!/bin/sh\necho starting up\nexit 3\n"), 0o755)
	tests := []struct {
		name, dir, wantType, wantMsg string
	}{
		{"missing bootstrap", empty, "Runtime.InvalidEntrypoint", "Couldn't find valid bootstrap(s): [" + filepath.Join(empty, "bootstrap") + "]"},
		{"exits during init", script, "Runtime.ExitError", "Error: Runtime exited with error: exit status 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := goSpec(t, "init-"+strings.ReplaceAll(tt.name, " ", "-"))
			spec.CodeDir = tt.dir
			res := invoke(t, h, spec, `{}`, InvokeOptions{Tail: true, RequestID: "init-req"})
			doc := decode(t, res.Payload)
			if res.FunctionError != "Unhandled" || doc["errorType"] != tt.wantType || !strings.Contains(doc["errorMessage"].(string), tt.wantMsg) {
				t.Fatalf("result %s %s, want %s %q", res.FunctionError, res.Payload, tt.wantType, tt.wantMsg)
			}
			if !strings.Contains(string(res.LogTail), "INIT_REPORT Init Duration") {
				t.Errorf("tail:\n%s", res.LogTail)
			}
		})
	}
}

func TestCloseStopsEverything(t *testing.T) {
	cfg := DefaultHostConfig()
	cfg.Dir = t.TempDir()
	h, err := NewHost(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := goSpec(t, "closing")
	var pids []int
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := h.Invoke(context.Background(), spec, []byte(`{"action":"sleep","sleepMs":100}`), InvokeOptions{Queue: true})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			pids = append(pids, int(decode(t, invoke(t, h, spec, `{}`, InvokeOptions{Queue: true}).Payload)["pid"].(float64)))
			mu.Unlock()
			_ = res
		}()
	}
	wg.Wait()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			t.Errorf("process %d outlived Close", pid)
		}
	}
	if _, err := h.Invoke(context.Background(), spec, nil, InvokeOptions{}); !sluice.IsCode(err, sluice.ErrServiceException) {
		t.Errorf("invoke after Close: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(cfg.Dir, "instances"))
	if len(entries) != 0 {
		t.Errorf("%d instance directories left after Close", len(entries))
	}
}

func BenchmarkWarmInvoke(b *testing.B) {
	h, _ := newTestHost(b, nil)
	spec := goSpec(b, "bench")
	spec.Concurrency = 16
	payload := []byte(`{"action":"echo-raw","n":1}`)
	ctx := context.Background()
	if _, err := h.Invoke(ctx, spec, payload, InvokeOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		lat := make([]time.Duration, 0, 1<<16)
		for b.Loop() {
			start := time.Now()
			if _, err := h.Invoke(ctx, spec, payload, InvokeOptions{}); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	})
	b.Run("parallel16", func(b *testing.B) {
		b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := h.Invoke(ctx, spec, payload, InvokeOptions{Queue: true}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// The no-zombie test re-executes the test binary as a stand-in for sluice:
// it starts instances, the test SIGKILLs it, and no function process may
// survive.
const (
	zombieParentEnv = "SLUICE_TEST_ZOMBIE_PARENT"
	zombieMarkerEnv = "SLUICE_TEST_ZOMBIE_MARKER"
	zombieCodeEnv   = "SLUICE_TEST_ZOMBIE_CODE"
)

func runZombieParent() {
	marker := os.Getenv(zombieMarkerEnv)
	cfg := DefaultHostConfig()
	cfg.Dir = os.Getenv(zombieParentEnv)
	h, err := NewHost(cfg, nil, nil)
	if err != nil {
		fmt.Println("host:", err)
		os.Exit(2)
	}
	spec := &FunctionSpec{
		Name: "zombie", Version: "$LATEST", Runtime: "provided.al2023", Handler: "bootstrap",
		CodeDir: os.Getenv(zombieCodeEnv), Timeout: time.Minute, MemoryMB: 128,
		Env: map[string]string{zombieMarkerEnv: marker},
	}
	for range 3 {
		go h.Invoke(context.Background(), spec, []byte(`{"action":"sleep","sleepMs":60000}`), InvokeOptions{Queue: true})
	}
	if pyDir := os.Getenv("SLUICE_TEST_ZOMBIE_PY"); pyDir != "" {
		py := &FunctionSpec{
			Name: "zombie-py", Version: "$LATEST", Runtime: "python3.11", Handler: "app.handler",
			CodeDir: pyDir, Timeout: time.Minute, MemoryMB: 128,
			Env: map[string]string{zombieMarkerEnv: marker},
		}
		go h.Invoke(context.Background(), py, []byte(`{"action":"sleep","seconds":60}`), InvokeOptions{})
	}
	select {}
}

// markedProcesses lists live processes whose environment holds marker.
func markedProcesses(marker string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	needle := []byte(zombieMarkerEnv + "=" + marker + "\x00")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !strings.Contains(string(env), string(needle)) {
			continue
		}
		out = append(out, pid)
	}
	return out
}

func TestNoOrphansWhenHostIsKilled(t *testing.T) {
	t.Parallel()
	marker := randomHex(8)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		zombieParentEnv+"="+t.TempDir(),
		zombieMarkerEnv+"="+marker,
		zombieCodeEnv+"="+goHandler(t),
		"SLUICE_TEST_ZOMBIE_PY="+filepath.Join(testdataDir(t), "python"),
	)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for len(markedProcesses(marker)) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("instances did not start: %v", markedProcesses(marker))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	deadline = time.Now().Add(5 * time.Second)
	for {
		left := markedProcesses(marker)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("function processes %v outlived the killed host", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testdataDir(t testing.TB) string {
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCancelAndCloseDuringInvocation(t *testing.T) {
	t.Parallel()
	cfg := DefaultHostConfig()
	cfg.Dir = t.TempDir()
	h, err := NewHost(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	spec := goSpec(t, "cancelled")
	spec.Timeout = time.Minute
	pid := int(decode(t, invoke(t, h, spec, `{}`, InvokeOptions{}).Payload)["pid"].(float64))

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := h.Invoke(ctx, spec, []byte(`{"action":"sleep","sleepMs":60000}`), InvokeOptions{}); err != context.DeadlineExceeded {
		t.Fatalf("invoke with an expiring context: %v", err)
	}
	waitGone(t, pid)

	// Close ends a running invocation instead of waiting a minute for it.
	done := make(chan *sluice.InvokeResult, 1)
	go func() {
		res, _ := h.Invoke(context.Background(), spec, []byte(`{"action":"sleep","sleepMs":60000}`), InvokeOptions{})
		done <- res
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := h.pool("cancelled")
		p.mu.Lock()
		n := len(p.all)
		p.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no instance started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Close took %s", d)
	}
	if res := <-done; res != nil && res.FunctionError != "Unhandled" {
		t.Errorf("invocation cut by Close: %+v", res)
	}
}

// TestMaxMemoryUsedIsMeasured checks REPORT's Max Memory Used against memory
// the function really touched, both when the caller waits for the tail and
// when the log flusher fills the figure in.
func TestMaxMemoryUsedIsMeasured(t *testing.T) {
	t.Parallel()
	h, sink := newTestHost(t, nil)
	spec := goSpec(t, "memory")
	res := invoke(t, h, spec, `{"action":"alloc","size":41943040}`, InvokeOptions{Tail: true, RequestID: "m1"})
	m := reportRE.FindStringSubmatch(lastLine(res.LogTail))
	if m == nil {
		t.Fatalf("REPORT line %q", lastLine(res.LogTail))
	}
	if used, _ := strconv.Atoi(m[5]); used < 40 || used > 400 {
		t.Errorf("Max Memory Used %d MB after touching 40 MB", used)
	}
	invoke(t, h, spec, `{"action":"alloc","size":83886080}`, InvokeOptions{RequestID: "m2"})
	for _, l := range sink.waitLine(t, "/aws/lambda/memory", "REPORT RequestId: m2") {
		if m := reportRE.FindStringSubmatch(l); m != nil && m[1] == "m2" {
			if used, _ := strconv.Atoi(m[5]); used < 80 || used > 800 {
				t.Errorf("Max Memory Used %d MB after touching 80 MB", used)
			}
		}
	}
}

// An init longer than Lambda's init phase goes on inside the invocation,
// within the function's timeout, as Lambda retries it there; only an init
// that outlasts both fails.
func TestSlowInitWithinTimeout(t *testing.T) {
	// The script is written before the test runs in parallel: a file still
	// open for writing when another test forks cannot be executed
	// (ETXTBSY).
	slow := t.TempDir()
	script := "#!/bin/sh\nsleep 0.6\nexec " + filepath.Join(goHandler(t), "bootstrap") + "\n"
	if err := os.WriteFile(filepath.Join(slow, "bootstrap"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Parallel()
	h, _ := newTestHost(t, func(c *HostConfig) { c.InitTimeout = 200 * time.Millisecond })

	spec := goSpec(t, "slow-init")
	spec.CodeDir = slow
	res := invoke(t, h, spec, `{"mode":"echo"}`, InvokeOptions{RequestID: "slow-ok"})
	if res.FunctionError != "" {
		t.Fatalf("an init of 0.6 s with a 5 s timeout failed: %s", res.Payload)
	}

	short := goSpec(t, "slow-init-short")
	short.CodeDir = slow
	short.Timeout = 200 * time.Millisecond
	res = invoke(t, h, short, `{}`, InvokeOptions{RequestID: "slow-fail"})
	if doc := decode(t, res.Payload); res.FunctionError != "Unhandled" || doc["errorType"] != "Sandbox.Timedout" {
		t.Fatalf("an init longer than the init phase plus the timeout: %s %s, want Sandbox.Timedout", res.FunctionError, res.Payload)
	}
}
