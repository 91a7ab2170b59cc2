package lambda

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/frontdoor"
	"github.com/sluicehq/sluice/sigv4"
)

// builtinEnv is a Service with built-ins registered, behind a real front
// door with SigV4, its function logs collected by sink.
type builtinEnv struct {
	t       *testing.T
	svc     *Service
	sink    *memSink
	url     string
	client  *lambdasdk.Client // us-east-1
	calls   atomic.Int64      // invocations of sluice-flaky
	echoCtx chan context.Context
}

func newBuiltinEnv(t *testing.T) *builtinEnv {
	t.Helper()
	dir := t.TempDir()
	e := &builtinEnv{t: t, sink: &memSink{}, echoCtx: make(chan context.Context, 16)}
	hcfg := DefaultHostConfig()
	hcfg.Dir = filepath.Join(dir, "host")
	host, err := NewHost(hcfg, e.sink, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	cfg := DefaultConfig()
	cfg.Dir = filepath.Join(dir, "lambda")
	cfg.AsyncBackoff = []time.Duration{5 * time.Millisecond}
	svc, err := New(cfg, nil, host, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	t.Cleanup(func() { svc.Close() })

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(svc.RegisterBuiltin("sluice-echo", "Returns its event.", func(ctx context.Context, payload []byte) ([]byte, error) {
		LogLine(ctx, "echoing "+string(payload))
		select {
		case e.echoCtx <- ctx:
		default:
		}
		return payload, nil
	}))
	must(svc.RegisterBuiltin("sluice-fail", "Always fails.", func(ctx context.Context, payload []byte) ([]byte, error) {
		return nil, fmt.Errorf("no luck with %s", payload)
	}))
	must(svc.RegisterBuiltin("sluice-flaky", "Fails twice, then succeeds.", func(ctx context.Context, payload []byte) ([]byte, error) {
		if n := e.calls.Add(1); n <= 2 {
			return nil, &flakyError{n}
		}
		return []byte(`"ok"`), nil
	}))

	acfg := sigv4.DefaultConfig()
	acfg.Credentials = map[string]string{"test": "test"}
	verifier, err := sigv4.New(acfg)
	must(err)
	reg := prometheus.NewRegistry()
	door, err := frontdoor.New(frontdoor.DefaultConfig(), testAuth{verifier}, testLogger(t), reg, reg)
	must(err)
	door.Handle("lambda", svc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	ctx, cancel := context.WithCancel(context.Background())
	doorDone := make(chan struct{})
	go func() { defer close(doorDone); door.Serve(ctx, ln) }()
	asyncDone := make(chan struct{})
	go func() { defer close(asyncDone); svc.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-doorDone; <-asyncDone })
	e.url = "http://" + ln.Addr().String()
	e.client = newClient(e.url, "test", "test")
	return e
}

type flakyError struct{ n int64 }

func (f *flakyError) Error() string { return fmt.Sprintf("attempt %d failed", f.n) }

// regionClient is a Lambda client whose requests are signed for region.
func (e *builtinEnv) regionClient(region string) *lambdasdk.Client {
	return lambdasdk.New(lambdasdk.Options{
		Region:           region,
		BaseEndpoint:     aws.String(e.url),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		RetryMaxAttempts: 1,
	})
}

func TestBuiltinVisibleInEveryRegion(t *testing.T) {
	e := newBuiltinEnv(t)
	ctx := context.Background()
	type view struct {
		Name, Arn, Runtime, Handler, Desc, Version, State, Pkg, LogGroup, Sha string
		Timeout                                                               int32
	}
	viewOf := func(c *types.FunctionConfiguration) view {
		return view{aws.ToString(c.FunctionName), aws.ToString(c.FunctionArn), string(c.Runtime), aws.ToString(c.Handler),
			aws.ToString(c.Description), aws.ToString(c.Version), string(c.State), string(c.PackageType),
			aws.ToString(c.LoggingConfig.LogGroup), aws.ToString(c.CodeSha256), aws.ToInt32(c.Timeout)}
	}
	sum := sha256.Sum256([]byte("sluice-echo"))
	sha := base64.StdEncoding.EncodeToString(sum[:])
	tests := []struct {
		name   string
		client *lambdasdk.Client
		fn     string
		want   view
	}{
		{"us-east-1 by name", e.client, "sluice-echo", view{"sluice-echo", "arn:aws:lambda:us-east-1:000000000000:function:sluice-echo",
			"provided.al2023", "builtin", "Returns its event.", "$LATEST", "Active", "Zip", "/aws/lambda/sluice-echo", sha, 900}},
		{"eu-west-1 by ARN, version 1", e.client, "arn:aws:lambda:eu-west-1:000000000000:function:sluice-echo:1", view{"sluice-echo",
			"arn:aws:lambda:eu-west-1:000000000000:function:sluice-echo:1",
			"provided.al2023", "builtin", "Returns its event.", "1", "Active", "Zip", "/aws/lambda/sluice-echo", sha, 900}},
		{"eu-west-1 client by name", e.regionClient("eu-west-1"), "sluice-echo", view{"sluice-echo", "arn:aws:lambda:eu-west-1:000000000000:function:sluice-echo",
			"provided.al2023", "builtin", "Returns its event.", "$LATEST", "Active", "Zip", "/aws/lambda/sluice-echo", sha, 900}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.client.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String(tc.fn)})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, viewOf(got.Configuration)); diff != "" {
				t.Errorf("GetFunction (-want +got):\n%s", diff)
			}
			cfg, err := tc.client.GetFunctionConfiguration(ctx, &lambdasdk.GetFunctionConfigurationInput{FunctionName: aws.String(tc.fn)})
			if err != nil {
				t.Fatal(err)
			}
			c := &types.FunctionConfiguration{FunctionName: cfg.FunctionName, FunctionArn: cfg.FunctionArn, Runtime: cfg.Runtime,
				Handler: cfg.Handler, Description: cfg.Description, Version: cfg.Version, State: cfg.State, PackageType: cfg.PackageType,
				LoggingConfig: cfg.LoggingConfig, CodeSha256: cfg.CodeSha256, Timeout: cfg.Timeout}
			if diff := cmp.Diff(tc.want, viewOf(c)); diff != "" {
				t.Errorf("GetFunctionConfiguration (-want +got):\n%s", diff)
			}
		})
	}

	for _, region := range []string{"us-east-1", "eu-west-1"} {
		list, err := e.regionClient(region).ListFunctions(ctx, &lambdasdk.ListFunctionsInput{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range list.Functions {
			names = append(names, aws.ToString(f.FunctionName)+" "+aws.ToString(f.FunctionArn))
		}
		want := []string{"sluice-echo", "sluice-fail", "sluice-flaky"}
		for i, n := range want {
			want[i] = n + " arn:aws:lambda:" + region + ":000000000000:function:" + n
		}
		if diff := cmp.Diff(want, names); diff != "" {
			t.Errorf("ListFunctions in %s (-want +got):\n%s", region, diff)
		}
	}
	vers, err := e.client.ListVersionsByFunction(ctx, &lambdasdk.ListVersionsByFunctionInput{FunctionName: aws.String("sluice-echo")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vers.Versions {
		got = append(got, aws.ToString(v.Version))
	}
	if diff := cmp.Diff([]string{"$LATEST", "1"}, got); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
}

func TestBuiltinInvokeSyncWithTail(t *testing.T) {
	e := newBuiltinEnv(t)
	ctx := context.Background()
	for _, fn := range []string{"sluice-echo", "arn:aws:lambda:eu-west-1:000000000000:function:sluice-echo:1"} {
		out, err := e.client.Invoke(ctx, &lambdasdk.InvokeInput{
			FunctionName: aws.String(fn),
			Payload:      []byte(`{"hello":"world"}`),
			LogType:      types.LogTypeTail,
		})
		if err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
		if string(out.Payload) != `{"hello":"world"}` || out.FunctionError != nil || out.StatusCode != 200 {
			t.Errorf("%s: payload %s, error %v, status %d", fn, out.Payload, out.FunctionError, out.StatusCode)
		}
		wantVersion := "$LATEST"
		if strings.HasSuffix(fn, ":1") {
			wantVersion = "1"
		}
		if aws.ToString(out.ExecutedVersion) != wantVersion {
			t.Errorf("%s: executed version %q", fn, aws.ToString(out.ExecutedVersion))
		}
		tail, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimRight(string(tail), "\n"), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "START RequestId: ") || !strings.HasSuffix(lines[0], " Version: "+wantVersion) ||
			lines[1] != `echoing {"hello":"world"}` || !strings.HasPrefix(lines[2], "END RequestId: ") ||
			!strings.HasPrefix(lines[3], "REPORT RequestId: ") || !strings.Contains(lines[3], "\tDuration: ") {
			t.Errorf("%s: tail %q", fn, lines)
		}
	}
	// The lines reach the function's log group through the host's sink.
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines := e.sink.lines("/aws/lambda/sluice-echo")
		if slices.Contains(lines, `echoing {"hello":"world"}`) && len(lines) == 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log group has %q", lines)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, s := range e.sink.streams("/aws/lambda/sluice-echo") {
		if !strings.Contains(s, "/[$LATEST]") && !strings.Contains(s, "/[1]") {
			t.Errorf("stream name %q", s)
		}
	}

	// A returned error is a function error with Lambda's error document.
	out, err := e.client.Invoke(ctx, &lambdasdk.InvokeInput{FunctionName: aws.String("sluice-fail"), Payload: []byte(`"x"`)})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]string
	if err := json.Unmarshal(out.Payload, &doc); err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.FunctionError) != "Unhandled" || doc["errorMessage"] != `no luck with "x"` || doc["errorType"] != "errorString" {
		t.Errorf("function error %q, payload %s", aws.ToString(out.FunctionError), out.Payload)
	}
}

func TestBuiltinInvokeAsyncRetries(t *testing.T) {
	e := newBuiltinEnv(t)
	ctx := context.Background()
	out, err := e.client.Invoke(ctx, &lambdasdk.InvokeInput{
		FunctionName:   aws.String("arn:aws:lambda:us-east-1:000000000000:function:sluice-flaky:1"),
		InvocationType: types.InvocationTypeEvent,
		Payload:        []byte(`{}`),
	})
	if err != nil || out.StatusCode != 202 {
		t.Fatalf("async invoke: %v, status %d", err, out.StatusCode)
	}
	// Two failures are retried (Lambda's default budget of 2), the third
	// attempt succeeds.
	deadline := time.Now().Add(10 * time.Second)
	for e.calls.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("flaky ran %d times", e.calls.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Through sluice.Invoker, as the notifier calls it.
	id, err := e.svc.InvokeAsync(ctx, &sluice.InvokeRequest{Function: "sluice-echo", Payload: []byte(`{"via":"invoker"}`)})
	if err != nil || id == "" {
		t.Fatalf("InvokeAsync: %q, %v", id, err)
	}
	select {
	case fctx := <-e.echoCtx:
		if _, ok := fctx.Deadline(); !ok {
			t.Error("a built-in's context has no deadline")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("async echo never ran")
	}
}

func TestBuiltinCannotBeModified(t *testing.T) {
	e := newBuiltinEnv(t)
	ctx := context.Background()
	name := aws.String("sluice-echo")
	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"UpdateFunctionConfiguration", func() error {
			_, err := e.client.UpdateFunctionConfiguration(ctx, &lambdasdk.UpdateFunctionConfigurationInput{FunctionName: name, Timeout: aws.Int32(3)})
			return err
		}, "InvalidParameterValueException"},
		{"UpdateFunctionCode", func() error {
			_, err := e.client.UpdateFunctionCode(ctx, &lambdasdk.UpdateFunctionCodeInput{FunctionName: name, ZipFile: pyZip(t)})
			return err
		}, "InvalidParameterValueException"},
		{"PublishVersion", func() error {
			_, err := e.client.PublishVersion(ctx, &lambdasdk.PublishVersionInput{FunctionName: name})
			return err
		}, "InvalidParameterValueException"},
		{"DeleteFunction", func() error {
			_, err := e.client.DeleteFunction(ctx, &lambdasdk.DeleteFunctionInput{FunctionName: name})
			return err
		}, "InvalidParameterValueException"},
		{"DeleteFunction version 1", func() error {
			_, err := e.client.DeleteFunction(ctx, &lambdasdk.DeleteFunctionInput{FunctionName: name, Qualifier: aws.String("1")})
			return err
		}, "InvalidParameterValueException"},
		{"TagResource", func() error {
			_, err := e.client.TagResource(ctx, &lambdasdk.TagResourceInput{Resource: aws.String("arn:aws:lambda:us-east-1:000000000000:function:sluice-echo"), Tags: map[string]string{"a": "b"}})
			return err
		}, "InvalidParameterValueException"},
		{"CreateFunction", func() error {
			_, err := e.client.CreateFunction(ctx, &lambdasdk.CreateFunctionInput{
				FunctionName: name, Runtime: types.RuntimePython312, Role: aws.String(testRole),
				Handler: aws.String("app.handler"), Code: &types.FunctionCode{ZipFile: pyZip(t)},
			})
			return err
		}, "ResourceConflictException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := apiError(t, tc.call(), tc.code)
			want := "sluice-echo is a built-in function of Sluice and cannot be modified."
			if tc.name == "UpdateFunctionConfiguration" {
				want = "sluice-echo is a built-in function of Sluice: only its Environment can be changed."
			}
			if tc.code == "InvalidParameterValueException" && msg != want {
				t.Errorf("message %q", msg)
			}
		})
	}
	// Still there, unchanged.
	cfg, err := e.client.GetFunctionConfiguration(ctx, &lambdasdk.GetFunctionConfigurationInput{FunctionName: name})
	if err != nil || aws.ToInt32(cfg.Timeout) != 900 || cfg.Runtime != "provided.al2023" {
		t.Errorf("after refused changes: %v, %+v", err, cfg)
	}
}

func TestBuiltinFunctionExists(t *testing.T) {
	e := newBuiltinEnv(t)
	ctx := context.Background()
	tests := []struct {
		name string
		want bool
	}{
		{"sluice-echo", true},
		{"sluice-echo:1", true},
		{"arn:aws:lambda:us-east-1:000000000000:function:sluice-echo:1", true},
		{"arn:aws:lambda:eu-west-1:000000000000:function:sluice-echo", true},
		{"arn:aws:lambda:eu-west-1:000000000000:function:sluice-echo:2", false},
		{"sluice-nope", false},
	}
	for _, tc := range tests {
		got, err := e.svc.FunctionExists(ctx, tc.name)
		if err != nil || got != tc.want {
			t.Errorf("FunctionExists(%s) = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestRegisterBuiltinValidates(t *testing.T) {
	e := newBuiltinEnv(t)
	noop := func(context.Context, []byte) ([]byte, error) { return nil, nil }
	tests := []struct {
		name, fn string
		body     BuiltinFunc
	}{
		{"no prefix", "resize", noop},
		{"bad characters", "sluice-a b", noop},
		{"too long", "sluice-" + strings.Repeat("x", 60), noop},
		{"nil function", "sluice-nil", nil},
		{"registered twice", "sluice-echo", noop},
	}
	for _, tc := range tests {
		if err := e.svc.RegisterBuiltin(tc.fn, "", tc.body); err == nil {
			t.Errorf("%s: RegisterBuiltin(%q) accepted", tc.name, tc.fn)
		}
	}
}

func TestBuiltinPanicIsFunctionError(t *testing.T) {
	e := newBuiltinEnv(t)
	if err := e.svc.RegisterBuiltin("sluice-panic", "", func(context.Context, []byte) ([]byte, error) {
		panic(errors.New("boom"))
	}); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.Invoke(context.Background(), &sluice.InvokeRequest{Function: "sluice-panic", Tail: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.FunctionError != "Unhandled" || !strings.Contains(string(res.Payload), `"errorType":"Runtime.Panic"`) ||
		!strings.Contains(string(res.LogTail), "panic: boom") {
		t.Errorf("result %+v", res)
	}
}

func TestBuiltinEnvironment(t *testing.T) {
	e := newBuiltinEnv(t)
	ctx := context.Background()
	vars := map[string]string{"DistributionId": "E2QWRUHAPOMQZL"}
	out, err := e.client.UpdateFunctionConfiguration(ctx, &lambdasdk.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("sluice-echo"),
		Environment:  &types.Environment{Variables: vars},
	})
	if err != nil {
		t.Fatalf("UpdateFunctionConfiguration(Environment): %v", err)
	}
	if diff := cmp.Diff(vars, out.Environment.Variables); diff != "" {
		t.Errorf("returned environment (-want +got):\n%s", diff)
	}
	if _, err := e.client.Invoke(ctx, &lambdasdk.InvokeInput{FunctionName: aws.String("sluice-echo:1"), Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(vars, BuiltinEnv(<-e.echoCtx)); diff != "" {
		t.Errorf("BuiltinEnv inside the invocation (-want +got):\n%s", diff)
	}
	got, err := e.client.GetFunctionConfiguration(ctx, &lambdasdk.GetFunctionConfigurationInput{FunctionName: aws.String("sluice-echo")})
	if err != nil {
		t.Fatal(err)
	}
	if got.Environment == nil || got.Environment.Variables["DistributionId"] != "E2QWRUHAPOMQZL" {
		t.Errorf("GetFunctionConfiguration environment = %+v", got.Environment)
	}
	other, err := e.regionClient("eu-west-1").GetFunctionConfiguration(ctx, &lambdasdk.GetFunctionConfigurationInput{FunctionName: aws.String("sluice-echo")})
	if err != nil {
		t.Fatal(err)
	}
	if other.Environment != nil && len(other.Environment.Variables) > 0 {
		t.Errorf("eu-west-1 copy of the built-in got the us-east-1 environment: %+v", other.Environment)
	}
	_, err = e.client.UpdateFunctionConfiguration(ctx, &lambdasdk.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("sluice-echo"),
		Timeout:      aws.Int32(10),
	})
	var apiErr interface{ ErrorCode() string }
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidParameterValueException" {
		t.Errorf("changing a built-in's timeout: err = %v, want InvalidParameterValueException", err)
	}
}
