//go:build integration

package integration

// Durability of the function host: no function process outlives a SIGKILLed
// sluice, queued asynchronous events run after a kill and restart, logs
// survive a restart, and dead letters can be listed and re-driven.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// lambdaRequest builds a request to s signed with SigV4 for service
// "lambda", headers included.
func lambdaRequest(t testing.TB, s *sluiceServer, method, path string, body []byte, header map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "lambda", s.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

// lambdaAPI sends a signed Lambda API request and reads the whole response.
func lambdaAPI(t testing.TB, s *sluiceServer, method, path string, body []byte, header map[string]string) rawResponse {
	t.Helper()
	return do(t, lambdaRequest(t, s, method, path, body, header))
}

// createFunctionAPI creates a function with a direct CreateFunction call.
func createFunctionAPI(t testing.TB, s *sluiceServer, name, runtime, handler, zipPath string, timeout int) {
	t.Helper()
	zipBytes, err := os.ReadFile(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{
		"FunctionName": name, "Runtime": runtime, "Handler": handler, "Role": testRole,
		"Timeout": timeout, "MemorySize": fnMemory,
		"Code": map[string]string{"ZipFile": base64.StdEncoding.EncodeToString(zipBytes)},
	})
	if r := lambdaAPI(t, s, http.MethodPost, "/2015-03-31/functions", body, nil); r.Status != http.StatusCreated {
		t.Fatalf("CreateFunction %s: %d %s", name, r.Status, r.Body)
	}
}

// invokeAPI invokes name with a signed Invoke call of the given type.
func invokeAPI(t testing.TB, s *sluiceServer, name, invocationType string, payload any) rawResponse {
	t.Helper()
	body, _ := json.Marshal(payload)
	return lambdaAPI(t, s, http.MethodPost, "/2015-03-31/functions/"+name+"/invocations", body,
		map[string]string{"X-Amz-Invocation-Type": invocationType})
}

// fnProcess is a live process that belongs to a test's functions.
type fnProcess struct {
	PID, PPID int
	Cmdline   string
	Why       string
}

// functionProcesses lists the live processes whose environment names one
// of the functions or mentions dataDir (every function instance runs with
// its code and scratch space there).
func functionProcesses(dataDir string, names []string) []fnProcess {
	entries, _ := os.ReadDir("/proc")
	var found []fnProcess
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || len(env) == 0 {
			continue
		}
		why := ""
		for _, kv := range bytes.Split(env, []byte{0}) {
			v := string(kv)
			if name, ok := strings.CutPrefix(v, "AWS_LAMBDA_FUNCTION_NAME="); ok {
				for _, n := range names {
					if name == n {
						why = v
					}
				}
			} else if strings.Contains(v, dataDir) && why == "" {
				why = v
			}
		}
		if why == "" {
			continue
		}
		ppid := 0
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
			if i := bytes.LastIndexByte(stat, ')'); i > 0 {
				fields := strings.Fields(string(stat[i+1:]))
				// A zombie's parent may still reap it; only live processes count.
				if len(fields) > 1 && fields[0] == "Z" {
					continue
				}
				if len(fields) > 1 {
					ppid, _ = strconv.Atoi(fields[1])
				}
			}
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		found = append(found, fnProcess{PID: pid, PPID: ppid, Cmdline: strings.TrimSpace(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))), Why: why})
	}
	return found
}

// TestFunctionsNoOrphansAfterKill warms instances of every runtime, holds
// one invocation (which has started a child process) in flight, SIGKILLs
// sluice and expects every function process to be gone.
func TestFunctionsNoOrphansAfterKill(t *testing.T) {
	t.Parallel()
	s := startSluice(t)
	code := functionCode(t)
	gate := t.TempDir()

	fns := map[string]fnRuntime{}
	var names []string
	for _, rt := range fnRuntimes[:3] { // go, python, CommonJS node
		name := fnName("orphan-" + rt.key)
		createFunctionAPI(t, s, name, rt.runtime, rt.handler, rt.zip(code), 60)
		fns[name] = rt
		names = append(names, name)
	}
	for _, name := range names {
		if r := invokeAPI(t, s, name, "RequestResponse", map[string]string{"print": "warm"}); r.Status != 200 || r.Header.Get("X-Amz-Function-Error") != "" {
			t.Fatalf("warm %s: %d %s", name, r.Status, r.Body)
		}
	}
	slow := fnName("orphan-inflight")
	createFunctionAPI(t, s, slow, "python3.12", "app.handler", code.Python, 600)
	names = append(names, slow)
	entered := filepath.Join(gate, "entered")
	inflight := make(chan error, 1)
	go func() {
		body, _ := json.Marshal(map[string]any{"mode": "gate", "spawn": true, "entered": entered, "release": filepath.Join(gate, "never")})
		req := lambdaRequest(t, s, http.MethodPost, "/2015-03-31/functions/"+slow+"/invocations", body, nil)
		resp, err := httpClient().Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("the in-flight invocation answered %d", resp.StatusCode)
		}
		inflight <- err
	}()
	if err := poll(30*time.Second, func() error {
		if _, err := os.Stat(entered); err != nil {
			return errors.New("the long invocation has not started")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// The scan must see what it is meant to catch before it can vouch for its absence.
	before := functionProcesses(s.DataDir, names)
	for _, name := range names {
		n := 0
		for _, p := range before {
			if p.Why == "AWS_LAMBDA_FUNCTION_NAME="+name {
				n++
			}
		}
		want := 1
		if name == slow {
			want = 2 // the runtime and the `sleep` it started
		}
		if n < want {
			t.Fatalf("before the kill, %d processes of %s found, want at least %d: %+v", n, name, want, before)
		}
	}

	s.mu.Lock()
	sluicePID := s.cmd.Process.Pid
	s.mu.Unlock()
	parent := map[int]int{}
	for _, p := range before {
		parent[p.PID] = p.PPID
	}

	s.kill(t)
	var left []fnProcess
	err := poll(5*time.Second, func() error {
		if left = functionProcesses(s.DataDir, names); len(left) > 0 {
			return fmt.Errorf("%d left", len(left))
		}
		return nil
	})
	if err != nil {
		for _, p := range left {
			what := "a function instance"
			if parent[p.PID] != sluicePID {
				what = fmt.Sprintf("a process a function started (child of pid %d)", parent[p.PID])
			}
			t.Errorf("orphan after SIGKILL of sluice, %s: pid %d %q (%s)", what, p.PID, p.Cmdline, p.Why)
			// These are the test's own functions' processes; do not leave them behind.
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
	select {
	case err := <-inflight:
		if err == nil {
			t.Errorf("the in-flight invocation did not fail when sluice died")
		}
	case <-time.After(10 * time.Second):
		t.Errorf("the in-flight invocation's call did not end when sluice died")
	}
}

// s3Object returns the body of bucket/key, or nil if it does not exist yet.
func s3Object(ctx context.Context, c *s3.Client, bucket, key string) ([]byte, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		if code, _ := apiCode(err); code == "NoSuchKey" {
			return nil, nil
		}
		return nil, err
	}
	defer out.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(out.Body)
	return buf.Bytes(), err
}

// waitObjects polls until every key exists in bucket.
func waitObjects(t testing.TB, s *sluiceServer, bucket string, keys []string, d time.Duration) {
	t.Helper()
	c := s3Client(s)
	ctx := context.Background()
	var missing []string
	err := poll(d, func() error {
		missing = missing[:0]
		for _, k := range keys {
			b, err := s3Object(ctx, c, bucket, k)
			if err != nil {
				return err
			}
			if b == nil {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d of %d objects missing", len(missing), len(keys))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v: %v", bucket, err, missing)
	}
}

// TestFunctionsAsyncSurvivesKill queues Event invocations, SIGKILLs sluice
// while they run (their effect held back by a gate file the test creates
// only after the kill), restarts it on the same data and expects every
// event's effect: each event ran (again) after the restart, at least once.
func TestFunctionsAsyncSurvivesKill(t *testing.T) {
	t.Parallel()
	s := startSluice(t)
	code := functionCode(t)
	bucket := bucketName("async-kill")
	if _, err := s3Client(s).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	name := fnName("async-kill")
	createFunctionAPI(t, s, name, "python3.12", "app.handler", code.Python, 30)

	gate := t.TempDir()
	entered := filepath.Join(gate, "entered")
	if err := os.Mkdir(entered, 0o755); err != nil {
		t.Fatal(err)
	}
	release := filepath.Join(gate, "release")
	var keys []string
	for i := range 5 {
		key := fmt.Sprintf("event-%d-%s", i, randSuffix(6))
		keys = append(keys, key)
		r := invokeAPI(t, s, name, "Event", map[string]any{"mode": "s3put", "seconds": 2, "bucket": bucket, "key": key,
			"entered_dir": entered, "release": release})
		if r.Status != http.StatusAccepted {
			t.Fatalf("Event invoke %d: %d %s, want 202", i, r.Status, r.Body)
		}
	}
	// Kill with events running, not merely queued.
	if err := poll(30*time.Second, func() error {
		if des, _ := os.ReadDir(entered); len(des) == 0 {
			return errors.New("no event has started")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.kill(t)
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s.restart(t)
	waitObjects(t, s, bucket, keys, 60*time.Second)
}

// TestFunctionsLogsSurviveRestart reads a function's log after a graceful
// restart with aws-cli.
func TestFunctionsLogsSurviveRestart(t *testing.T) {
	t.Parallel()
	s := startSluice(t)
	code := functionCode(t)
	name := fnName("logs-restart")
	createFunctionAPI(t, s, name, "provided.al2023", "bootstrap", code.Go, fnTimeout)
	marker := "persisted-" + randSuffix(6)
	r := invokeAPI(t, s, name, "RequestResponse", map[string]string{"print": marker})
	if r.Status != 200 {
		t.Fatalf("invoke: %d %s", r.Status, r.Body)
	}
	var res struct {
		RequestID string `json:"request_id"`
		LogStream string `json:"log_stream"`
	}
	if err := json.Unmarshal(r.Body, &res); err != nil {
		t.Fatal(err)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	s.restart(t)

	group := "/aws/lambda/" + name
	var ev struct{ Events []struct{ Message string } }
	out := awsOK(t, s, "logs", "get-log-events", "--log-group-name", group, "--log-stream-name", res.LogStream, "--start-from-head")
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, e := range ev.Events {
		all.WriteString(e.Message + "\n")
	}
	for _, want := range []string{"START RequestId: " + res.RequestID, "stdout " + marker, "stderr " + marker, "REPORT RequestId: " + res.RequestID} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("after restart, get-log-events %s %s lacks %q:\n%s", group, res.LogStream, want, all.String())
		}
	}
	// And the function runs again on the restarted server, in a new stream.
	if r := invokeAPI(t, s, name, "RequestResponse", map[string]string{"print": "again"}); r.Status != 200 || r.Header.Get("X-Amz-Function-Error") != "" {
		t.Errorf("invoke after restart: %d %s", r.Status, r.Body)
	}
}

// deadLetter is one record of the sluice-dead-letters extension.
type deadLetter struct {
	ID            string `json:"Id"`
	RequestID     string `json:"RequestId"`
	Payload       string `json:"Payload"`
	FunctionError string `json:"FunctionError"`
	Error         string `json:"Error"`
	Attempts      int    `json:"Attempts"`
}

func deadLetters(t testing.TB, s *sluiceServer, name string) []deadLetter {
	t.Helper()
	r := lambdaAPI(t, s, http.MethodGet, "/2015-03-31/functions/"+name+"/sluice-dead-letters", nil, nil)
	if r.Status != 200 {
		t.Fatalf("GET sluice-dead-letters: %d %s", r.Status, r.Body)
	}
	var out struct{ DeadLetters []deadLetter }
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatalf("GET sluice-dead-letters: %v\n%s", err, r.Body)
	}
	return out.DeadLetters
}

// TestFunctionsDeadLetters fails an Event invocation through its one retry,
// finds the dead letter, fixes the cause and re-drives it.
func TestFunctionsDeadLetters(t *testing.T) {
	t.Parallel()
	s := startSluice(t)
	code := functionCode(t)
	bucket := bucketName("dead-letters")
	s3c := s3Client(s)
	ctx := context.Background()
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	name := fnName("dlq")
	// Its mode imports boto3 inside the invocation, which can take more
	// than the suite's 2-second timeout on a loaded machine: the dead letter
	// must record the RuntimeError, not a timeout.
	createFunction(t, s, name, "python3.12", "app.handler", code.Python, "--timeout", "30")
	awsOK(t, s, "lambda", "put-function-event-invoke-config", "--function-name", name, "--maximum-retry-attempts", "1")

	key := "done-" + randSuffix(6)
	flag := "flag-" + randSuffix(6)
	payload := fmt.Sprintf(`{"mode":"fail-until-flag","bucket":%q,"flag":%q,"key":%q}`, bucket, flag, key)
	out := filepath.Join(t.TempDir(), "out.json")
	var inv struct{ StatusCode int }
	if err := json.Unmarshal([]byte(awsOK(t, s, "lambda", "invoke", "--function-name", name, "--invocation-type", "Event", "--payload", payload, out)), &inv); err != nil {
		t.Fatal(err)
	}
	if inv.StatusCode != http.StatusAccepted {
		t.Fatalf("invoke --invocation-type Event: StatusCode %d, want 202", inv.StatusCode)
	}

	var dls []deadLetter
	if err := poll(30*time.Second, func() error {
		if dls = deadLetters(t, s, name); len(dls) == 0 {
			return errors.New("no dead letter yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 {
		t.Fatalf("dead letters = %+v, want 1", dls)
	}
	dl := dls[0]
	if dl.Attempts != 2 || dl.FunctionError != "Unhandled" || !strings.Contains(dl.Error, "flag "+flag+" not set yet") || !strings.Contains(dl.Payload, key) {
		t.Errorf("dead letter = %+v, want 2 attempts (MaximumRetryAttempts 1), an Unhandled RuntimeError naming %s, and the payload", dl, flag)
	}
	if b, err := s3Object(ctx, s3c, bucket, key); err != nil || b != nil {
		t.Fatalf("%s exists before the re-drive (%v)", key, err)
	}

	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(flag), Body: strings.NewReader("go")}); err != nil {
		t.Fatal(err)
	}
	r := lambdaAPI(t, s, http.MethodPost, "/2015-03-31/functions/"+name+"/sluice-dead-letters/redrive", nil, nil)
	var redrive struct {
		Redriven   int
		RequestIds []string
	}
	if r.Status != 200 || json.Unmarshal(r.Body, &redrive) != nil || redrive.Redriven != 1 {
		t.Fatalf("redrive: %d %s, want 200 with Redriven 1", r.Status, r.Body)
	}
	waitObjects(t, s, bucket, []string{key}, 30*time.Second)
	if err := poll(10*time.Second, func() error {
		if dls := deadLetters(t, s, name); len(dls) != 0 {
			return fmt.Errorf("dead letters after a successful re-drive: %+v", dls)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}
