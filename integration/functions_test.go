//go:build integration

package integration

// End-to-end tests of the function host (issue 3): real handlers (a Go
// bootstrap built with aws-lambda-go at test time, Python, CommonJS and ESM
// Node) run as real processes under `sluice serve`, driven through aws-cli,
// boto3 (py/functions_boto3.py), the sluice CLI and the RIE endpoint.

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// testRole is any syntactically valid role; Sluice hands functions its
	// own credentials whatever the role.
	testRole = "arn:aws:iam::000000000000:role/integration"
	// fnTimeout is the Timeout of most test functions, in seconds; the
	// timeout mode sleeps beyond it.
	fnTimeout = 2
	// fnMemory is their MemorySize, distinct from the default 128 so that
	// the context's memory limit is seen to come from the configuration.
	fnMemory = 256
)

// fnCode holds the zip files of the test handlers.
type fnCode struct {
	Go, Python, Node string
}

var (
	fnCodeOnce sync.Once
	fnCodeVal  fnCode
	fnCodeErr  error
)

// functionCode builds the Go handler (once per run) and zips the three
// handler packages into the suite's work directory.
func functionCode(t testing.TB) fnCode {
	t.Helper()
	fnCodeOnce.Do(func() {
		dir := filepath.Join(workDir, "functions")
		if fnCodeErr = os.MkdirAll(filepath.Join(dir, "go"), 0o755); fnCodeErr != nil {
			return
		}
		bootstrap := filepath.Join(dir, "go", "bootstrap")
		cmd := exec.Command("go", "build", "-o", bootstrap, "./integration/testdata/functions/goecho")
		cmd.Dir = moduleRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fnCodeErr = fmt.Errorf("go build goecho: %v\n%s", err, out)
			return
		}
		src := filepath.Join(moduleRoot, "integration", "testdata", "functions")
		fnCodeVal = fnCode{
			Go:     filepath.Join(dir, "go.zip"),
			Python: filepath.Join(dir, "python.zip"),
			Node:   filepath.Join(dir, "node.zip"),
		}
		for _, z := range []struct {
			dst   string
			files map[string]string
		}{
			{fnCodeVal.Go, map[string]string{"bootstrap": bootstrap}},
			{fnCodeVal.Python, map[string]string{"app.py": filepath.Join(src, "python", "app.py")}},
			{fnCodeVal.Node, map[string]string{
				"index.js": filepath.Join(src, "node", "index.js"),
				"app.mjs":  filepath.Join(src, "node", "app.mjs"),
			}},
		} {
			if fnCodeErr = writeZip(z.dst, z.files); fnCodeErr != nil {
				return
			}
		}
	})
	if fnCodeErr != nil {
		t.Fatalf("function code: %v", fnCodeErr)
	}
	return fnCodeVal
}

// writeZip writes a zip at dst holding files (name in the archive → source
// path), keeping each file's mode so that executables stay executable.
func writeZip(dst string, files map[string]string) error {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, src := range files {
		fi, err := os.Stat(src)
		if err != nil {
			return err
		}
		hdr, err := zip.FileInfoHeader(fi)
		if err != nil {
			return err
		}
		hdr.Name, hdr.Method = name, zip.Deflate
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(dst, buf.Bytes(), 0o644)
}

// zipSource writes a zip holding one file with the given content and
// returns its path.
func zipSource(t testing.TB, name, content string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, name)
	if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "code.zip")
	if err := writeZip(dst, map[string]string{name: src}); err != nil {
		t.Fatal(err)
	}
	return dst
}

// zipDigest returns the base64 SHA-256 and the size of a file, as Lambda
// reports a package in CodeSha256 and CodeSize.
func zipDigest(t testing.TB, path string) (string, int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:]), len(b)
}

// fnName returns a unique function name.
func fnName(prefix string) string { return prefix + "-" + randSuffix(8) }

// createFunction creates a function from a zip with aws-cli and returns
// the FunctionConfiguration it printed.
func createFunction(t testing.TB, s *sluiceServer, name, runtime, handler, zipPath string, extra ...string) map[string]any {
	t.Helper()
	args := append([]string{"lambda", "create-function", "--function-name", name, "--runtime", runtime,
		"--handler", handler, "--role", testRole, "--zip-file", "fileb://" + zipPath,
		"--timeout", strconv.Itoa(fnTimeout), "--memory-size", strconv.Itoa(fnMemory)}, extra...)
	var cfg map[string]any
	if err := json.Unmarshal([]byte(awsOK(t, s, args...)), &cfg); err != nil {
		t.Fatalf("create-function %s: output is not JSON: %v", name, err)
	}
	return cfg
}

// invocation is one `aws lambda invoke` run.
type invocation struct {
	StatusCode      int
	FunctionError   string
	LogResult       string
	ExecutedVersion string
	Payload         []byte // the outfile
	Log             string // LogResult decoded
}

// result unmarshals the payload into a map, failing t if it is not a JSON object.
func (inv invocation) result(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(inv.Payload, &m); err != nil {
		t.Fatalf("payload is not a JSON object: %v\n%s", err, tail(string(inv.Payload), 2048))
	}
	return m
}

// invokeCLI runs `aws lambda invoke --log-type Tail` and fails t unless
// aws-cli exits 0 (a function error still exits 0).
func invokeCLI(t testing.TB, s *sluiceServer, name, payload string, extra ...string) invocation {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.json")
	args := append([]string{"lambda", "invoke", "--function-name", name, "--payload", payload, "--log-type", "Tail"}, extra...)
	stdout := awsOK(t, s, append(args, out)...)
	var inv invocation
	if err := json.Unmarshal([]byte(stdout), &inv); err != nil {
		t.Fatalf("invoke %s: output is not JSON: %v\n%s", name, err, stdout)
	}
	var err error
	if inv.Payload, err = os.ReadFile(out); err != nil {
		t.Fatalf("invoke %s: outfile: %v", name, err)
	}
	logb, err := base64.StdEncoding.DecodeString(inv.LogResult)
	if err != nil {
		t.Fatalf("invoke %s: LogResult is not base64: %v", name, err)
	}
	inv.Log = string(logb)
	return inv
}

var (
	maxMemoryRE = regexp.MustCompile(`Max Memory Used: (\d+) MB`)
	logStreamRE = regexp.MustCompile(`^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-zA-Z]+$`)
)

// checkLogTail asserts that log (an invocation's decoded log tail) has the
// START, END and REPORT lines of requestID, a measured memory figure, and
// each of lines.
func checkLogTail(t testing.TB, log, requestID string, lines ...string) {
	t.Helper()
	for _, want := range []string{"START RequestId: " + requestID, "END RequestId: " + requestID, "REPORT RequestId: " + requestID} {
		if !strings.Contains(log, want) {
			t.Errorf("log tail lacks %q:\n%s", want, log)
		}
	}
	if m := maxMemoryRE.FindStringSubmatch(log); m == nil {
		t.Errorf("log tail has no \"Max Memory Used: N MB\":\n%s", log)
	} else if n, _ := strconv.Atoi(m[1]); n <= 0 {
		t.Errorf("Max Memory Used is %d MB, want a measured figure > 0:\n%s", n, log)
	}
	for _, want := range lines {
		if !strings.Contains(log, want) {
			t.Errorf("log tail lacks the function's line %q:\n%s", want, log)
		}
	}
}

// checkEcho asserts the context fields an echo returned.
func checkEcho(t testing.TB, s *sluiceServer, name string, res map[string]any, marker string) string {
	t.Helper()
	str := func(k string) string { v, _ := res[k].(string); return v }
	num := func(k string) float64 { v, _ := res[k].(float64); return v }
	if got := str("function_name"); got != name {
		t.Errorf("function_name = %q, want %q", got, name)
	}
	if got := num("memory_limit"); got != fnMemory {
		t.Errorf("memory limit = %v, want %d", res["memory_limit"], fnMemory)
	}
	if got := str("version"); got != "$LATEST" {
		t.Errorf("function version = %q, want $LATEST", got)
	}
	if got := num("remaining_ms"); got <= 0 || got > fnTimeout*1000 {
		t.Errorf("remaining time = %v ms, want within (0, %d]", res["remaining_ms"], fnTimeout*1000)
	}
	if got, want := str("log_group"), "/aws/lambda/"+name; got != want {
		t.Errorf("log group = %q, want %q", got, want)
	}
	if got := str("log_stream"); !logStreamRE.MatchString(got) {
		t.Errorf("log stream = %q, want YYYY/MM/DD/[$LATEST]id", got)
	}
	if got, want := str("invoked_arn"), "arn:aws:lambda:"+s.Region+":"; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, ":function:"+name) {
		t.Errorf("invoked function ARN = %q, want arn:aws:lambda:%s:ACCOUNT:function:%s", got, s.Region, name)
	}
	ev, _ := res["event"].(map[string]any)
	if got, _ := ev["print"].(string); got != marker {
		t.Errorf("echoed event = %v, want print=%q", res["event"], marker)
	}
	id := str("request_id")
	if id == "" {
		t.Errorf("empty request id in %v", res)
	}
	return id
}

// functionErrorDoc is the payload of a failed invocation.
type functionErrorDoc struct {
	ErrorType    string `json:"errorType"`
	ErrorMessage string `json:"errorMessage"`
}

func checkFunctionError(t testing.TB, inv invocation, wantType, wantMessage string) {
	t.Helper()
	if inv.StatusCode != 200 || inv.FunctionError != "Unhandled" {
		t.Errorf("StatusCode %d FunctionError %q, want 200 Unhandled", inv.StatusCode, inv.FunctionError)
	}
	var doc functionErrorDoc
	if err := json.Unmarshal(inv.Payload, &doc); err != nil {
		t.Fatalf("error payload is not JSON: %v\n%s", err, inv.Payload)
	}
	if doc.ErrorType != wantType || !strings.Contains(doc.ErrorMessage, wantMessage) {
		t.Errorf("error payload = %+v, want errorType %q and a message containing %q", doc, wantType, wantMessage)
	}
}

// fnRuntime is one handler under test.
type fnRuntime struct {
	key, runtime, handler string
	zip                   func(fnCode) string
	errType, errMessage   string // what the error mode returns
	full                  bool   // has the sleep, crash and oversize modes
}

var fnRuntimes = []fnRuntime{
	{"go", "provided.al2023", "bootstrap", func(c fnCode) string { return c.Go }, "handlerError", "boom ", true},
	{"py", "python3.12", "app.handler", func(c fnCode) string { return c.Python }, "ValueError", "boom ", true},
	{"node", "nodejs20.x", "index.handler", func(c fnCode) string { return c.Node }, "TypeError", "boom ", true},
	{"esm", "nodejs22.x", "app.handler", func(c fnCode) string { return c.Node }, "SyntaxError", "boom ", false},
	{"nodecb", "nodejs18.x", "index.callback", func(c fnCode) string { return c.Node }, "RangeError", "callback boom", false},
}

// TestFunctionsAWSCLI drives every handler through aws-cli: create, invoke
// with the log tail, each failure mode, the function lifecycle and the
// CloudWatch Logs API.
func TestFunctionsAWSCLI(t *testing.T) {
	t.Parallel()
	s := startSluice(t)
	code := functionCode(t)

	// The subtests mostly wait (on aws-cli, cold starts and the timeout
	// mode), so they run side by side in goroutines rather than as parallel
	// tests, which would queue behind -parallel (GOMAXPROCS) slots.
	concurrently, wait := sideBySide(t)
	defer wait()

	for _, rt := range fnRuntimes {
		concurrently("runtime_"+rt.key, func(t *testing.T) {
			name := fnName("cli-" + rt.key)
			cfg := createFunction(t, s, name, rt.runtime, rt.handler, rt.zip(code))
			for k, want := range map[string]any{"FunctionName": name, "Runtime": rt.runtime, "Handler": rt.handler,
				"Timeout": float64(fnTimeout), "MemorySize": float64(fnMemory)} {
				if cfg[k] != want {
					t.Errorf("create-function %s = %v, want %v", k, cfg[k], want)
				}
			}
			if sum, size := zipDigest(t, rt.zip(code)); cfg["CodeSha256"] != sum || cfg["CodeSize"] != float64(size) {
				t.Errorf("create-function CodeSha256 %v CodeSize %v, want %s and %d (the zip's)", cfg["CodeSha256"], cfg["CodeSize"], sum, size)
			}

			marker := "marker-" + randSuffix(8)
			inv := invokeCLI(t, s, name, `{"mode":"echo","print":"`+marker+`"}`)
			if inv.StatusCode != 200 || inv.FunctionError != "" || inv.ExecutedVersion != "$LATEST" {
				t.Fatalf("echo: %+v\npayload: %s\nlog:\n%s", inv, inv.Payload, inv.Log)
			}
			id := checkEcho(t, s, name, inv.result(t), marker)
			checkLogTail(t, inv.Log, id, "stdout "+marker, "stderr "+marker)

			inv = invokeCLI(t, s, name, `{"mode":"error","print":"`+marker+`"}`)
			checkFunctionError(t, inv, rt.errType, rt.errMessage)
			if !strings.Contains(inv.Log, "stdout "+marker) {
				t.Errorf("failed invocation's log tail lacks its printed line:\n%s", inv.Log)
			}
			if !rt.full {
				return
			}

			inv = invokeCLI(t, s, name, `{"mode":"sleep","seconds":30}`)
			checkFunctionError(t, inv, "Sandbox.Timedout", fmt.Sprintf("Task timed out after %d.00 seconds", fnTimeout))
			if !strings.Contains(inv.Log, fmt.Sprintf("Task timed out after %d.00 seconds", fnTimeout)) {
				t.Errorf("timed-out invocation's log tail lacks the timeout line:\n%s", inv.Log)
			}

			inv = invokeCLI(t, s, name, `{"mode":"crash"}`)
			checkFunctionError(t, inv, "Runtime.ExitError", "exit status 1")

			inv = invokeCLI(t, s, name, `{"mode":"oversize"}`)
			checkFunctionError(t, inv, "Function.ResponseSizeTooLarge", "size")

			// Every failure above cost an instance or none; the function still works.
			inv = invokeCLI(t, s, name, `{"mode":"echo","print":"after-`+marker+`"}`)
			if inv.FunctionError != "" {
				t.Fatalf("echo after failures: %+v\n%s", inv, inv.Payload)
			}
			checkEcho(t, s, name, inv.result(t), "after-"+marker)
		})
	}

	concurrently("lifecycle", func(t *testing.T) {
		name := fnName("life")
		createFunction(t, s, name, "python3.12", "app.handler", code.Python)

		var got struct {
			Configuration map[string]any
			Code          map[string]any
		}
		if err := json.Unmarshal([]byte(awsOK(t, s, "lambda", "get-function", "--function-name", name)), &got); err != nil {
			t.Fatal(err)
		}
		if got.Configuration["FunctionName"] != name || got.Configuration["Handler"] != "app.handler" {
			t.Errorf("get-function Configuration = %v", got.Configuration)
		}
		if loc, _ := got.Code["Location"].(string); loc == "" {
			t.Errorf("get-function Code = %v, want a Location", got.Code)
		}

		var list struct{ Functions []map[string]any }
		if err := json.Unmarshal([]byte(awsOK(t, s, "lambda", "list-functions")), &list); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, f := range list.Functions {
			found = found || f["FunctionName"] == name
		}
		if !found {
			t.Errorf("list-functions lacks %s: %v", name, list.Functions)
		}

		v2 := zipSource(t, "app.py", "def handler(event, context):\n    return {'code': 'v2'}\n")
		awsOK(t, s, "lambda", "update-function-code", "--function-name", name, "--zip-file", "fileb://"+v2)
		if res := invokeCLI(t, s, name, `{}`).result(t); res["code"] != "v2" {
			t.Errorf("after update-function-code: %v, want code v2", res)
		}
		var pub map[string]any
		if err := json.Unmarshal([]byte(awsOK(t, s, "lambda", "publish-version", "--function-name", name)), &pub); err != nil {
			t.Fatal(err)
		}
		if pub["Version"] != "1" {
			t.Fatalf("publish-version Version = %v, want 1", pub["Version"])
		}
		v3 := zipSource(t, "app.py", "def handler(event, context):\n    return {'code': 'v3'}\n")
		awsOK(t, s, "lambda", "update-function-code", "--function-name", name, "--zip-file", "fileb://"+v3)

		inv := invokeCLI(t, s, name, `{}`, "--qualifier", "1")
		if inv.ExecutedVersion != "1" || inv.result(t)["code"] != "v2" {
			t.Errorf("invoke --qualifier 1: ExecutedVersion %q payload %s, want 1 and v2 (the published code)", inv.ExecutedVersion, inv.Payload)
		}
		inv = invokeCLI(t, s, name, `{}`)
		if inv.ExecutedVersion != "$LATEST" || inv.result(t)["code"] != "v3" {
			t.Errorf("invoke $LATEST: ExecutedVersion %q payload %s, want $LATEST and v3", inv.ExecutedVersion, inv.Payload)
		}

		awsOK(t, s, "lambda", "delete-function", "--function-name", name)
		for _, args := range [][]string{
			{"lambda", "invoke", "--function-name", name, "--payload", "{}", filepath.Join(t.TempDir(), "out.json")},
			{"lambda", "get-function", "--function-name", name},
			{"lambda", "delete-function", "--function-name", name},
		} {
			r := awsCLI(t, s, args...)
			// aws-cli v1 exits 255 on a service error.
			if r.Code != 255 || !strings.Contains(r.Stderr, "ResourceNotFoundException") || !strings.Contains(r.Stderr, "Function not found") {
				t.Errorf("aws %s after delete: %s\nwant exit 255 with ResourceNotFoundException ... Function not found", args[1], r)
			}
		}
	})

	concurrently("logs", func(t *testing.T) {
		name := fnName("logs")
		createFunction(t, s, name, "python3.12", "app.handler", code.Python)
		markers := []string{"first-" + randSuffix(6), "second-" + randSuffix(6)}
		for _, m := range markers {
			invokeCLI(t, s, name, `{"print":"`+m+`"}`)
		}
		group := "/aws/lambda/" + name

		var streams struct {
			LogStreams []struct{ LogStreamName string }
		}
		if err := json.Unmarshal([]byte(awsOK(t, s, "logs", "describe-log-streams", "--log-group-name", group)), &streams); err != nil {
			t.Fatal(err)
		}
		if len(streams.LogStreams) == 0 {
			t.Fatalf("describe-log-streams %s: no streams", group)
		}
		var all strings.Builder
		for _, st := range streams.LogStreams {
			if !logStreamRE.MatchString(st.LogStreamName) {
				t.Errorf("stream name %q, want YYYY/MM/DD/[$LATEST]id", st.LogStreamName)
			}
			var ev struct{ Events []struct{ Message string } }
			out := awsOK(t, s, "logs", "get-log-events", "--log-group-name", group, "--log-stream-name", st.LogStreamName, "--start-from-head")
			if err := json.Unmarshal([]byte(out), &ev); err != nil {
				t.Fatal(err)
			}
			for _, e := range ev.Events {
				all.WriteString(e.Message)
				if !strings.HasSuffix(e.Message, "\n") {
					all.WriteByte('\n')
				}
			}
		}
		for _, m := range markers {
			for _, want := range []string{"stdout " + m, "stderr " + m} {
				if !strings.Contains(all.String(), want) {
					t.Errorf("get-log-events lacks %q:\n%s", want, all.String())
				}
			}
		}
		if n := strings.Count(all.String(), "REPORT RequestId: "); n != len(markers) {
			t.Errorf("get-log-events has %d REPORT lines, want %d:\n%s", n, len(markers), all.String())
		}

		var filtered struct {
			Events []struct{ Message, LogStreamName string }
		}
		out := awsOK(t, s, "logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", markers[1])
		if err := json.Unmarshal([]byte(out), &filtered); err != nil {
			t.Fatal(err)
		}
		if len(filtered.Events) != 2 {
			t.Errorf("filter-log-events %q: %d events, want 2 (its stdout and stderr lines): %+v", markers[1], len(filtered.Events), filtered.Events)
		}
		for _, e := range filtered.Events {
			if !strings.Contains(e.Message, markers[1]) || strings.Contains(e.Message, markers[0]) {
				t.Errorf("filter-log-events %q returned %q", markers[1], e.Message)
			}
		}
	})
}

// TestFunctionsBoto3 runs py/functions_boto3.py: log tail, Event
// invocations, 50 parallel invokes, payload limit and throttling.
func TestFunctionsBoto3(t *testing.T) {
	t.Parallel()
	s := startSluice(t)
	code := functionCode(t)
	r := runPython(t, s, "functions_boto3.py", "GO_ZIP="+code.Go, "PY_ZIP="+code.Python, "NODE_ZIP="+code.Node, "GATE_DIR="+t.TempDir())
	if r.Code != 0 {
		t.Errorf("python3 py/functions_boto3.py: %s", r)
	}
}

// sluiceCmd runs the sluice CLI against s with stdin.
func sluiceCmd(t testing.TB, s *sluiceServer, stdin []byte, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sluiceBin, args...)
	cmd.Env = append(clientEnv(t, s), "SLUICE_ENDPOINT="+s.URL)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{Stdout: stdout.String(), Stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("sluice %q: %v", args, err)
	}
	return res
}

// lockedBuffer is a bytes.Buffer safe for a process writing while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestFunctionsSluiceCLI drives `sluice invoke`, `sluice generate-event`
// and `sluice logs` (with --follow) against a running server.
func TestFunctionsSluiceCLI(t *testing.T) {
	t.Parallel()
	s := startSluice(t)
	code := functionCode(t)
	name := fnName("cli-py")
	createFunction(t, s, name, "python3.12", "app.handler", code.Python)
	goName := fnName("cli-go")
	createFunction(t, s, goName, "provided.al2023", "bootstrap", code.Go)

	marker := "sluice-cli-" + randSuffix(6)
	r := sluiceCmd(t, s, nil, "invoke", name, "--payload", `{"print":"`+marker+`"}`, "--tail")
	if r.Code != 0 {
		t.Fatalf("sluice invoke: %s", r)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatalf("sluice invoke printed no JSON result: %v\n%s", err, r)
	}
	id := checkEcho(t, s, name, res, marker)
	checkLogTail(t, r.Stderr, id, "stdout "+marker, "stderr "+marker)

	r = sluiceCmd(t, s, nil, "invoke", goName, "--payload", `{"mode":"error","print":"x"}`)
	if r.Code != 1 || !strings.Contains(r.Stderr, "handlerError") || !strings.Contains(r.Stderr, "boom x") {
		t.Errorf("sluice invoke of a failing function: %s\nwant exit 1 naming handlerError: boom x", r)
	}
	if !strings.Contains(r.Stdout, "errorMessage") {
		t.Errorf("sluice invoke of a failing function printed no error document: %s", r)
	}

	r = sluiceCmd(t, s, nil, "invoke", "no-such-"+randSuffix(6), "--payload", `{}`)
	if r.Code != 1 || !strings.Contains(r.Stderr, "ResourceNotFoundException") {
		t.Errorf("sluice invoke of a missing function: %s\nwant exit 1 with ResourceNotFoundException", r)
	}

	gen := sluiceCmd(t, s, nil, "generate-event", "s3", "put", "--bucket", "b", "--key", "k")
	if gen.Code != 0 {
		t.Fatalf("sluice generate-event: %s", gen)
	}
	r = sluiceCmd(t, s, []byte(gen.Stdout), "invoke", goName, "--event", "-")
	if r.Code != 0 {
		t.Fatalf("sluice invoke --event -: %s", r)
	}
	var echoed struct {
		Event struct {
			Records []struct {
				EventSource string `json:"eventSource"`
				EventName   string `json:"eventName"`
				S3          struct {
					Bucket struct{ Name string } `json:"bucket"`
					Object struct{ Key string }  `json:"object"`
				} `json:"s3"`
			}
		} `json:"event"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &echoed); err != nil {
		t.Fatalf("echo of the generated event: %v\n%s", err, r.Stdout)
	}
	if recs := echoed.Event.Records; len(recs) != 1 || recs[0].EventSource != "aws:s3" || recs[0].EventName != "ObjectCreated:Put" ||
		recs[0].S3.Bucket.Name != "b" || recs[0].S3.Object.Key != "k" {
		t.Errorf("the function received %+v, want one aws:s3 ObjectCreated:Put record for b/k", echoed.Event.Records)
	}

	r = sluiceCmd(t, s, nil, "logs", name)
	if r.Code != 0 || !strings.Contains(r.Stdout, "stdout "+marker) || !strings.Contains(r.Stdout, "START RequestId: "+id) {
		t.Errorf("sluice logs %s: %s\nwant its START line and %q", name, r, "stdout "+marker)
	}

	// --follow sees an invocation made after it started.
	follow := exec.Command(sluiceBin, "logs", name, "--follow", "--interval", "100ms")
	follow.Env = append(clientEnv(t, s), "SLUICE_ENDPOINT="+s.URL)
	var fout, ferr lockedBuffer
	follow.Stdout, follow.Stderr = &fout, &ferr
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- follow.Wait() }()
	t.Cleanup(func() {
		_ = follow.Process.Kill()
		<-exited
	})
	// The earlier lines show first, so the follower is polling by then.
	if err := poll(20*time.Second, func() error {
		if !strings.Contains(fout.String(), "stdout "+marker) {
			return fmt.Errorf("no earlier line yet")
		}
		return nil
	}); err != nil {
		t.Fatalf("sluice logs --follow: %v\nstdout:\n%s\nstderr:\n%s", err, fout.String(), ferr.String())
	}
	live := "live-" + randSuffix(6)
	if r := sluiceCmd(t, s, nil, "invoke", name, "--payload", `{"print":"`+live+`"}`); r.Code != 0 {
		t.Fatalf("sluice invoke: %s", r)
	}
	if err := poll(20*time.Second, func() error {
		if !strings.Contains(fout.String(), "stdout "+live) {
			return fmt.Errorf("line not followed")
		}
		return nil
	}); err != nil {
		t.Errorf("sluice logs --follow never printed %q: %v\nstdout:\n%s\nstderr:\n%s", "stdout "+live, err, fout.String(), ferr.String())
	}
	_ = follow.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Errorf("sluice logs --follow after SIGINT: %v, want exit 0\nstderr:\n%s", err, ferr.String())
		}
	case <-time.After(20 * time.Second):
		t.Errorf("sluice logs --follow did not exit on SIGINT")
	}
	if n := strings.Count(fout.String(), "stdout "+live); n != 1 {
		t.Errorf("sluice logs --follow printed %q %d times, want once:\n%s", "stdout "+live, n, fout.String())
	}
}

// TestFunctionsRIEAndHotReload serves one function from a local directory:
// the unsigned RIE endpoint invokes it (it is the only function), and an
// edit of its handler file changes what the next invocation runs.
func TestFunctionsRIEAndHotReload(t *testing.T) {
	t.Parallel()
	s := startSluice(t)
	src := t.TempDir()
	handler := filepath.Join(src, "app.py")
	write := func(body string) {
		if err := os.WriteFile(handler, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("def handler(event, context):\n    print('version one')\n    return {'version': 1, 'event': event, 'name': context.function_name}\n")
	name := fnName("hot")
	awsOK(t, s, "lambda", "create-function", "--function-name", name, "--runtime", "python3.12",
		"--handler", "app.handler", "--role", testRole, "--code", "S3Bucket=hot-reload,S3Key="+src)

	// The RIE endpoint, unsigned, as people curl the emulator.
	resp, err := httpClient().Post(s.URL+"/2015-03-31/functions/function/invocations", "application/json", strings.NewReader(`{"hello":"rie"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var rie struct {
		Version int
		Event   map[string]any
		Name    string
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &rie) != nil || rie.Version != 1 || rie.Name != name || rie.Event["hello"] != "rie" {
		t.Errorf("RIE invoke: %d %s, want 200 with version 1, name %s and the event", resp.StatusCode, body, name)
	}

	inv := invokeCLI(t, s, name, `{}`)
	if res := inv.result(t); res["version"] != float64(1) || !strings.Contains(inv.Log, "version one") {
		t.Fatalf("first invoke: %s\n%s", inv.Payload, inv.Log)
	}
	write("def handler(event, context):\n    print('version two, edited')\n    return {'version': 2}\n")
	inv = invokeCLI(t, s, name, `{}`)
	if res := inv.result(t); res["version"] != float64(2) || !strings.Contains(inv.Log, "version two, edited") {
		t.Errorf("invoke after editing %s: %s\nlog:\n%s\nwant version 2", handler, inv.Payload, inv.Log)
	}
}
