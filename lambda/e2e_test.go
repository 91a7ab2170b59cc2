package lambda

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/frontdoor"
	"github.com/sluicehq/sluice/fsstore"
	"github.com/sluicehq/sluice/sigv4"
)

// pyHandler is the test function: it echoes, fails, sleeps, prints and
// writes files under OUT_DIR so that asynchronous effects can be observed.
const pyHandler = `import json, os, time

def handler(event, context):
    out = os.environ.get("OUT_DIR", "")
    action = event.get("action", "echo")
    print("hello from", context.function_name, "version", context.function_version)
    if action == "write":
        with open(os.path.join(out, event["file"]), "a") as f:
            f.write(context.aws_request_id + "\n")
        return {"written": event["file"]}
    if action == "fail_unless":
        with open(os.path.join(out, event["file"] + ".attempts"), "a") as f:
            f.write(context.aws_request_id + "\n")
        if not os.path.exists(os.path.join(out, event["unless"])):
            raise RuntimeError("not yet: " + event["unless"] + " is missing")
        with open(os.path.join(out, event["file"]), "a") as f:
            f.write("done\n")
        return {"done": True}
    if action == "error":
        raise ValueError("boom")
    if action == "hold":
        open(os.path.join(out, event["started"]), "w").close()
        deadline = time.time() + 30
        while not os.path.exists(os.path.join(out, event["release"])) and time.time() < deadline:
            time.sleep(0.01)
        return {"held": True}
    return {"echo": event, "version": context.function_version, "greeting": os.environ.get("GREETING", ""),
            "client": (context.client_context.custom if context.client_context else None)}
`

// zipOf builds a zip of name → content; names ending in "*" are executable.
func zipOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		content := files[name]
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, "*") {
			name, mode = strings.TrimSuffix(name, "*"), 0o755
		}
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, content); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func pyZip(t testing.TB) []byte { return zipOf(t, map[string]string{"app.py": pyHandler}) }

const testRole = "arn:aws:iam::000000000000:role/lambda-role"

// testEnv is a Service behind a real front door with SigV4, a real Host and
// a real fsstore, as cmd/sluice wires them.
type testEnv struct {
	t      *testing.T
	dir    string
	out    string // OUT_DIR given to functions
	cfg    Config
	store  *fsstore.Store
	host   *Host
	svc    *Service
	cur    atomic.Pointer[Service] // what the front door serves
	url    string
	client *lambdasdk.Client

	stopDoor  context.CancelFunc
	doorDone  chan error
	stopAsync context.CancelFunc
	asyncDone chan struct{}
}

type envOption func(*Config)

func newEnv(t *testing.T, opts ...envOption) *testEnv {
	t.Helper()
	dir := t.TempDir()
	e := &testEnv{t: t, dir: dir, out: filepath.Join(dir, "out")}
	if err := os.MkdirAll(e.out, 0o755); err != nil {
		t.Fatal(err)
	}
	storeCfg := fsstore.DefaultConfig()
	storeCfg.Dir = filepath.Join(dir, "store")
	store, err := fsstore.Open(storeCfg)
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	t.Cleanup(func() { store.Close() })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.url = "http://" + ln.Addr().String()

	hcfg := DefaultHostConfig()
	hcfg.Dir = filepath.Join(dir, "host")
	hcfg.EndpointURL = e.url
	hcfg.IdleTimeout = time.Minute
	hcfg.Python = realPython()
	host, err := NewHost(hcfg, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	e.host = host
	t.Cleanup(func() { host.Close() })

	e.cfg = DefaultConfig()
	e.cfg.Dir = filepath.Join(dir, "lambda")
	e.cfg.AsyncBackoff = []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}
	for _, o := range opts {
		o(&e.cfg)
	}
	e.open()

	acfg := sigv4.DefaultConfig()
	acfg.Credentials = map[string]string{"test": "test"}
	verifier, err := sigv4.New(acfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	door, err := frontdoor.New(frontdoor.DefaultConfig(), testAuth{verifier}, testLogger(t), reg, reg)
	if err != nil {
		t.Fatal(err)
	}
	// The front door resolves the service per request, so the handler
	// indirection lets tests swap in a reopened Service.
	door.Handle("lambda", svcRef{e})
	ctx, cancel := context.WithCancel(context.Background())
	e.stopDoor, e.doorDone = cancel, make(chan error, 1)
	go func() { e.doorDone <- door.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-e.doorDone
	})
	e.client = newClient(e.url, "test", "test")
	return e
}

// open starts a Service on the env's directory (again, after close).
func (e *testEnv) open() {
	e.t.Helper()
	svc, err := New(e.cfg, e.store, e.host, testLogger(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc = svc
	e.cur.Store(svc)
	e.t.Cleanup(func() { svc.Close() })
}

// serveAsync runs the dispatcher until the test ends or stopAsyncQueue.
func (e *testEnv) serveAsync() {
	ctx, cancel := context.WithCancel(context.Background())
	e.stopAsync, e.asyncDone = cancel, make(chan struct{})
	svc := e.svc
	done := e.asyncDone
	go func() {
		svc.Serve(ctx)
		close(done)
	}()
	e.t.Cleanup(e.stopAsyncQueue)
}

func (e *testEnv) stopAsyncQueue() {
	if e.stopAsync != nil {
		e.stopAsync()
		<-e.asyncDone
		e.stopAsync = nil
	}
}

type svcRef struct{ e *testEnv }

func (s svcRef) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.e.cur.Load().ServeHTTP(w, r) }
func (s svcRef) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	s.e.cur.Load().WriteError(w, r, err)
}

type testAuth struct{ *sigv4.Verifier }

func (testAuth) Scope(r *http.Request) (string, string, bool) { return sigv4.Scope(r) }

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newClient(url, ak, sk string) *lambdasdk.Client {
	return lambdasdk.New(lambdasdk.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(ak, sk, ""),
		RetryMaxAttempts: 1,
	})
}

// createPy creates a Python function named name from pyZip.
func (e *testEnv) createPy(name string, mutate ...func(*lambdasdk.CreateFunctionInput)) *lambdasdk.CreateFunctionOutput {
	e.t.Helper()
	in := &lambdasdk.CreateFunctionInput{
		FunctionName: aws.String(name),
		Runtime:      types.RuntimePython312,
		Role:         aws.String(testRole),
		Handler:      aws.String("app.handler"),
		Code:         &types.FunctionCode{ZipFile: pyZip(e.t)},
		Environment:  &types.Environment{Variables: map[string]string{"OUT_DIR": e.out, "GREETING": "hi"}},
	}
	for _, m := range mutate {
		m(in)
	}
	out, err := e.client.CreateFunction(context.Background(), in)
	if err != nil {
		e.t.Fatalf("CreateFunction %s: %v", name, err)
	}
	return out
}

func (e *testEnv) invoke(name string, payload any, mutate ...func(*lambdasdk.InvokeInput)) (*lambdasdk.InvokeOutput, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		e.t.Fatal(err)
	}
	in := &lambdasdk.InvokeInput{FunctionName: aws.String(name), Payload: b}
	for _, m := range mutate {
		m(in)
	}
	return e.client.Invoke(context.Background(), in)
}

// apiError asserts err is an AWS API error with code and returns its message.
func apiError(t *testing.T, err error, code string) string {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want %s, got %v", code, err)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("want %s, got %s: %s", code, ae.ErrorCode(), ae.ErrorMessage())
	}
	return ae.ErrorMessage()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fileLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}

// realPython resolves python3 through version-manager shims (pyenv), which
// cost a shell script per function start.
var realPython = sync.OnceValue(func() string {
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
})

func requirePython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
}

func TestInvokeThroughSDK(t *testing.T) {
	t.Parallel()
	requirePython(t)
	e := newEnv(t)
	e.createPy("echo")
	ctx := context.Background()

	out, err := e.invoke("echo", map[string]any{"n": 1}, func(in *lambdasdk.InvokeInput) {
		in.LogType = types.LogTypeTail
		in.ClientContext = aws.String(base64.StdEncoding.EncodeToString([]byte(`{"custom":{"who":"test"}}`)))
	})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Payload, &got); err != nil {
		t.Fatalf("payload %q: %v", out.Payload, err)
	}
	want := map[string]any{"echo": map[string]any{"n": 1.0}, "version": "$LATEST", "greeting": "hi", "client": map[string]any{"who": "test"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
	if out.StatusCode != 200 || out.FunctionError != nil || aws.ToString(out.ExecutedVersion) != "$LATEST" {
		t.Errorf("status %d, function error %v, version %v", out.StatusCode, out.FunctionError, aws.ToString(out.ExecutedVersion))
	}
	logs, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if err != nil || !strings.Contains(string(logs), "hello from echo version $LATEST") {
		t.Errorf("log tail %q (%v) lacks the function's print", logs, err)
	}

	out, err = e.invoke("echo", map[string]any{"action": "error"})
	if err != nil {
		t.Fatal(err)
	}
	if out.StatusCode != 200 || aws.ToString(out.FunctionError) != "Unhandled" {
		t.Errorf("function error: status %d, X-Amz-Function-Error %q", out.StatusCode, aws.ToString(out.FunctionError))
	}
	var fe struct{ ErrorMessage, ErrorType string }
	if err := json.Unmarshal(out.Payload, &fe); err != nil || fe.ErrorType != "ValueError" || fe.ErrorMessage != "boom" {
		t.Errorf("error document %s: %+v %v", out.Payload, fe, err)
	}

	// Versions: invoke by qualifier runs the snapshot, not $LATEST.
	v1, err := e.client.PublishVersion(ctx, &lambdasdk.PublishVersionInput{FunctionName: aws.String("echo")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.UpdateFunctionConfiguration(ctx, &lambdasdk.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("echo"),
		Environment:  &types.Environment{Variables: map[string]string{"OUT_DIR": e.out, "GREETING": "changed"}},
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ qualifier, greeting, version string }{
		{aws.ToString(v1.Version), "hi", "1"},
		{"$LATEST", "changed", "$LATEST"},
		{"", "changed", "$LATEST"},
	} {
		out, err := e.invoke("echo", map[string]any{}, func(in *lambdasdk.InvokeInput) {
			if tc.qualifier != "" {
				in.Qualifier = aws.String(tc.qualifier)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out.Payload, &got); err != nil {
			t.Fatal(err)
		}
		if got["greeting"] != tc.greeting || aws.ToString(out.ExecutedVersion) != tc.version {
			t.Errorf("qualifier %q: greeting %v, executed %s; want %s, %s", tc.qualifier, got["greeting"], aws.ToString(out.ExecutedVersion), tc.greeting, tc.version)
		}
	}
	// A qualifier in the name works too; a missing version is not found.
	if out, err := e.invoke("echo:1", map[string]any{}); err != nil || aws.ToString(out.ExecutedVersion) != "1" {
		t.Errorf("echo:1: %v, %v", err, out)
	}
	_, err = e.invoke("echo", map[string]any{}, func(in *lambdasdk.InvokeInput) { in.Qualifier = aws.String("7") })
	if msg := apiError(t, err, "ResourceNotFoundException"); msg != "Function not found: arn:aws:lambda:us-east-1:000000000000:function:echo:7" {
		t.Errorf("message %q", msg)
	}

	out, err = e.invoke("echo", map[string]any{}, func(in *lambdasdk.InvokeInput) { in.InvocationType = types.InvocationTypeDryRun })
	if err != nil || out.StatusCode != 204 {
		t.Errorf("DryRun: %v, status %d", err, out.StatusCode)
	}

	_, err = e.client.Invoke(ctx, &lambdasdk.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte("{not json")})
	apiError(t, err, "InvalidRequestContentException")

	big := append(append([]byte(`"`), bytes.Repeat([]byte("a"), 7<<20)...), '"')
	_, err = e.client.Invoke(ctx, &lambdasdk.InvokeInput{FunctionName: aws.String("echo"), Payload: big})
	if msg := apiError(t, err, "RequestEntityTooLargeException"); msg != "Request must be smaller than 6291456 bytes for the InvokeFunction operation" {
		t.Errorf("message %q", msg)
	}
	_, err = e.client.Invoke(ctx, &lambdasdk.InvokeInput{FunctionName: aws.String("echo"), Payload: big[:2<<20], InvocationType: types.InvocationTypeEvent})
	apiError(t, err, "RequestEntityTooLargeException")

	_, err = e.invoke("nope", map[string]any{})
	if msg := apiError(t, err, "ResourceNotFoundException"); msg != "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope" {
		t.Errorf("message %q", msg)
	}

	// The Invoker interface other packages use, with a full ARN.
	res, err := e.svc.Invoke(ctx, &sluice.InvokeRequest{Function: "arn:aws:lambda:us-east-1:000000000000:function:echo", Payload: []byte(`{"via":"invoker"}`)})
	if err != nil || !strings.Contains(string(res.Payload), `"via": "invoker"`) || res.RequestID == "" {
		t.Errorf("Invoker.Invoke: %v %+v", err, res)
	}
}

func TestThrottling(t *testing.T) {
	t.Parallel()
	requirePython(t)
	e := newEnv(t)
	e.createPy("slow")
	ctx := context.Background()
	if _, err := e.client.PutFunctionConcurrency(ctx, &lambdasdk.PutFunctionConcurrencyInput{
		FunctionName: aws.String("slow"), ReservedConcurrentExecutions: aws.Int32(1),
	}); err != nil {
		t.Fatal(err)
	}
	// The first invocation holds the only slot until the test releases it.
	var wg sync.WaitGroup
	wg.Add(1)
	var held *lambdasdk.InvokeOutput
	var heldErr error
	go func() {
		defer wg.Done()
		held, heldErr = e.invoke("slow", map[string]any{"action": "hold", "started": "started", "release": "release"})
	}()
	waitFor(t, "the first invocation to start", func() bool {
		_, err := os.Stat(filepath.Join(e.out, "started"))
		return err == nil
	})
	_, err := e.invoke("slow", map[string]any{})
	apiError(t, err, "TooManyRequestsException")
	if err := os.WriteFile(filepath.Join(e.out, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if heldErr != nil || string(held.Payload) != `{"held": true}` {
		t.Fatalf("held invocation: %v %s", heldErr, held.Payload)
	}

	// Reserved concurrency 0 turns the function off.
	if _, err := e.client.PutFunctionConcurrency(ctx, &lambdasdk.PutFunctionConcurrencyInput{
		FunctionName: aws.String("slow"), ReservedConcurrentExecutions: aws.Int32(0),
	}); err != nil {
		t.Fatal(err)
	}
	_, err = e.invoke("slow", map[string]any{})
	var tmr *types.TooManyRequestsException
	if !errors.As(err, &tmr) || string(tmr.Reason) != "ReservedFunctionConcurrentInvocationLimitExceeded" {
		t.Errorf("reserved 0: %v", err)
	}
}

func TestHotReloadDirectory(t *testing.T) {
	t.Parallel()
	requirePython(t)
	e := newEnv(t)
	code := filepath.Join(e.dir, "src")
	if err := os.MkdirAll(code, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(v string) {
		src := "def handler(event, context):\n    return {'v': '" + v + "'}\n"
		if err := os.WriteFile(filepath.Join(code, "app.py"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("one")
	out := e.createPy("local", func(in *lambdasdk.CreateFunctionInput) {
		in.Code = &types.FunctionCode{S3Bucket: aws.String(HotReloadBucket), S3Key: aws.String(code)}
	})
	if aws.ToString(out.CodeSha256) != hotReloadSha256 {
		t.Errorf("CodeSha256 %q", aws.ToString(out.CodeSha256))
	}
	get := func() string {
		res, err := e.invoke("local", map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		return string(res.Payload)
	}
	if got := get(); got != `{"v": "one"}` {
		t.Fatalf("first invoke %s", got)
	}
	write("two-longer") // a different size, so even a coarse mtime sees the change
	if got := get(); got != `{"v": "two-longer"}` {
		t.Fatalf("after edit %s", got)
	}

	_, err := e.client.CreateFunction(context.Background(), &lambdasdk.CreateFunctionInput{
		FunctionName: aws.String("relative"), Runtime: types.RuntimePython312, Role: aws.String(testRole), Handler: aws.String("app.handler"),
		Code: &types.FunctionCode{S3Bucket: aws.String(HotReloadBucket), S3Key: aws.String("src")},
	})
	apiError(t, err, "InvalidParameterValueException")
}

func TestRIEEndpoint(t *testing.T) {
	t.Parallel()
	requirePython(t)
	e := newEnv(t)
	// The emulator endpoint is unsigned: call the service as the front door
	// will route it, with no identity in the context.
	post := func(path, body string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://sluice"+path, strings.NewReader(body))
		rec := newRecorder()
		e.svc.ServeHTTP(rec, req)
		return rec.result(), rec.body.String()
	}
	resp, body := post(riePath, `{}`)
	if resp.StatusCode != 404 || resp.Header.Get("X-Amzn-ErrorType") != "ResourceNotFoundException" {
		t.Errorf("no function: %d %s", resp.StatusCode, body)
	}
	e.createPy("only")
	resp, body = post(riePath, `{"rie":true}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"rie": true`) {
		t.Errorf("only function: %d %s", resp.StatusCode, body)
	}
	e.createPy("other")
	resp, body = post(riePath, `{}`)
	if resp.StatusCode != 404 || !strings.Contains(body, "there are 2") {
		t.Errorf("two functions: %d %s", resp.StatusCode, body)
	}
	e.createPy("function")
	resp, body = post(riePath, `{"named":1}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"named": 1`) {
		t.Errorf("function named function: %d %s", resp.StatusCode, body)
	}
	// Every other anonymous call is refused.
	resp, body = post("/2015-03-31/functions/only/invocations", `{}`)
	if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" {
		t.Errorf("anonymous invoke: %d %s", resp.StatusCode, body)
	}
}

// recorder is a minimal http.ResponseWriter for calling the service
// directly.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *recorder) result() *http.Response {
	return &http.Response{StatusCode: r.status, Header: r.header}
}

// TestAWSCLI drives the service with aws-cli, as users will.
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	requirePython(t)
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("aws-cli not installed")
	}
	e := newEnv(t)
	zipPath := filepath.Join(e.dir, "fn.zip")
	if err := os.WriteFile(zipPath, pyZip(t), 0o644); err != nil {
		t.Fatal(err)
	}
	aws := func(args ...string) (string, error) {
		cmd := exec.Command("aws", append([]string{"--endpoint-url", e.url, "--output", "json", "lambda"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_DEFAULT_REGION=us-east-1",
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return string(out), fmt.Errorf("aws %s: %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out), nil
	}
	out, err := aws("create-function", "--function-name", "cli", "--runtime", "python3.12", "--role", testRole,
		"--handler", "app.handler", "--zip-file", "fileb://"+zipPath, "--environment", "Variables={OUT_DIR="+e.out+"}")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct{ FunctionName, CodeSha256, State string }
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pyZip(t))
	if cfg.FunctionName != "cli" || cfg.State != "Active" || cfg.CodeSha256 != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Errorf("create-function printed %s", out)
	}

	resultPath := filepath.Join(e.dir, "result.json")
	out, err = aws("invoke", "--function-name", "cli", "--log-type", "Tail", "--payload", `{"cli":1}`, resultPath)
	if err != nil {
		t.Fatal(err)
	}
	var inv struct {
		StatusCode      int
		LogResult       string
		ExecutedVersion string
	}
	if err := json.Unmarshal([]byte(out), &inv); err != nil {
		t.Fatal(err)
	}
	tail, _ := base64.StdEncoding.DecodeString(inv.LogResult)
	if inv.StatusCode != 200 || inv.ExecutedVersion != "$LATEST" || !strings.Contains(string(tail), "hello from cli") {
		t.Errorf("invoke printed %s (log %q)", out, tail)
	}
	if b, _ := os.ReadFile(resultPath); !strings.Contains(string(b), `"cli": 1`) {
		t.Errorf("result file %s", b)
	}

	_, err = aws("get-function", "--function-name", "missing")
	if err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Errorf("get-function missing: %v", err)
	}
}
