package lambda

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/sluicehq/sluice"
)

func TestEventInvocationRuns(t *testing.T) {
	t.Parallel()
	requirePython(t)
	e := newEnv(t)
	e.serveAsync()
	e.createPy("worker")
	out, err := e.invoke("worker", map[string]any{"action": "write", "file": "event.txt"}, func(in *lambdasdk.InvokeInput) {
		in.InvocationType = types.InvocationTypeEvent
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.StatusCode != 202 || len(out.Payload) != 0 {
		t.Errorf("Event: status %d payload %q", out.StatusCode, out.Payload)
	}
	path := filepath.Join(e.out, "event.txt")
	waitFor(t, "the event's effect", func() bool { return fileLines(path) == 1 })
	waitFor(t, "the queue to drain", func() bool { return e.svc.queue.queued() == 0 })

	// The Invoker interface and the legacy InvokeAsync operation queue too.
	if _, err := e.svc.InvokeAsync(context.Background(), &sluice.InvokeRequest{
		Function: "worker", Payload: []byte(`{"action":"write","file":"event.txt"}`),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.InvokeAsync(context.Background(), &lambdasdk.InvokeAsyncInput{
		FunctionName: aws.String("worker"), InvokeArgs: strings.NewReader(`{"action":"write","file":"event.txt"}`),
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both queued invocations", func() bool { return fileLines(path) == 3 })
}

func TestRetriesDeadLetterAndRedrive(t *testing.T) {
	t.Parallel()
	requirePython(t)
	e := newEnv(t)
	e.serveAsync()
	e.createPy("flaky")
	payload := map[string]any{"action": "fail_unless", "file": "job", "unless": "fixed"}
	if _, err := e.invoke("flaky", payload, func(in *lambdasdk.InvokeInput) { in.InvocationType = types.InvocationTypeEvent }); err != nil {
		t.Fatal(err)
	}
	var dls []deadLetter
	waitFor(t, "a dead letter", func() bool {
		dls = e.deadLetters("flaky")
		return len(dls) == 1
	})
	// One attempt and the default two retries, all with the same request id.
	attempts := filepath.Join(e.out, "job.attempts")
	b, _ := os.ReadFile(attempts)
	lines := strings.Fields(string(b))
	if len(lines) != 3 || lines[0] != lines[1] || lines[1] != lines[2] {
		t.Errorf("attempts: %q", lines)
	}
	dl := dls[0]
	if dl.Attempts != 3 || dl.FunctionError != "Unhandled" || !strings.Contains(dl.Error, "not yet: fixed is missing") ||
		dl.RequestID != lines[0] || dl.FunctionArn != "arn:aws:lambda:us-east-1:000000000000:function:flaky:$LATEST" ||
		!strings.Contains(dl.Payload, `"unless":"fixed"`) {
		t.Errorf("dead letter %+v", dl)
	}

	// Fix the cause, then redrive: the event runs to completion.
	if err := os.WriteFile(filepath.Join(e.out, "fixed"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var redriven struct {
		Redriven   int
		RequestIds []string
	}
	e.signed(http.MethodPost, "/2015-03-31/functions/flaky/sluice-dead-letters/redrive?id="+dl.ID, &redriven)
	if redriven.Redriven != 1 || len(redriven.RequestIds) != 1 || redriven.RequestIds[0] != dl.RequestID {
		t.Errorf("redrive answered %+v", redriven)
	}
	waitFor(t, "the redriven event to succeed", func() bool { return fileLines(filepath.Join(e.out, "job")) == 1 })
	if got := e.deadLetters("flaky"); len(got) != 0 {
		t.Errorf("dead letters after redrive: %+v", got)
	}
}

func TestEventInvokeConfigLimitsRetries(t *testing.T) {
	t.Parallel()
	requirePython(t)
	e := newEnv(t)
	e.serveAsync()
	e.createPy("once")
	if _, err := e.client.PutFunctionEventInvokeConfig(context.Background(), &lambdasdk.PutFunctionEventInvokeConfigInput{
		FunctionName: aws.String("once"), MaximumRetryAttempts: aws.Int32(0),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.invoke("once", map[string]any{"action": "fail_unless", "file": "once", "unless": "never"}, func(in *lambdasdk.InvokeInput) {
		in.InvocationType = types.InvocationTypeEvent
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a dead letter", func() bool { return len(e.deadLetters("once")) == 1 })
	if n := fileLines(filepath.Join(e.out, "once.attempts")); n != 1 {
		t.Errorf("%d attempts with MaximumRetryAttempts 0", n)
	}
	// Deleting the function deletes its dead letters: a new function of the
	// same name starts clean.
	if _, err := e.client.DeleteFunction(context.Background(), &lambdasdk.DeleteFunctionInput{FunctionName: aws.String("once")}); err != nil {
		t.Fatal(err)
	}
	e.createPy("once")
	if dls := e.deadLetters("once"); len(dls) != 0 {
		t.Errorf("dead letters survived the function: %+v", dls)
	}
}

func TestExpiredEventIsDeadLettered(t *testing.T) {
	t.Parallel()
	requirePython(t)
	e := newEnv(t, func(c *Config) { c.MaxEventAge = time.Nanosecond })
	e.createPy("late")
	if _, err := e.invoke("late", map[string]any{"action": "write", "file": "late"}, func(in *lambdasdk.InvokeInput) {
		in.InvocationType = types.InvocationTypeEvent
	}); err != nil {
		t.Fatal(err)
	}
	e.serveAsync()
	waitFor(t, "a dead letter", func() bool { return len(e.deadLetters("late")) == 1 })
	if dl := e.deadLetters("late")[0]; dl.Attempts != 0 || !strings.HasPrefix(dl.Error, "EventAgeExceeded") {
		t.Errorf("dead letter %+v", dl)
	}
	if fileLines(filepath.Join(e.out, "late")) != 0 {
		t.Error("an expired event ran")
	}
}

// TestQueueSurvivesRestart: an accepted event is in bbolt before Invoke
// answers, so closing the service (as a crash would, before the dispatcher
// ran it) loses nothing: the next start runs it.
func TestQueueSurvivesRestart(t *testing.T) {
	t.Parallel()
	requirePython(t)
	e := newEnv(t)
	e.createPy("durable")
	for i := 0; i < 3; i++ {
		if _, err := e.invoke("durable", map[string]any{"action": "write", "file": "durable"}, func(in *lambdasdk.InvokeInput) {
			in.InvocationType = types.InvocationTypeEvent
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}
	if n := fileLines(filepath.Join(e.out, "durable")); n != 0 {
		t.Fatalf("%d events ran without a dispatcher", n)
	}
	e.open()
	if n := e.svc.queue.queued(); n != 3 {
		t.Fatalf("%d queued after reopen, want 3", n)
	}
	e.serveAsync()
	waitFor(t, "the queued events after restart", func() bool { return fileLines(filepath.Join(e.out, "durable")) == 3 })
	waitFor(t, "the queue to drain", func() bool { return e.svc.queue.queued() == 0 })
}

func TestEventForDeletedFunctionIsDropped(t *testing.T) {
	t.Parallel()
	requirePython(t)
	e := newEnv(t)
	e.createPy("gone")
	if _, err := e.invoke("gone", map[string]any{"action": "write", "file": "gone"}, func(in *lambdasdk.InvokeInput) {
		in.InvocationType = types.InvocationTypeEvent
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.DeleteFunction(context.Background(), &lambdasdk.DeleteFunctionInput{FunctionName: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	e.serveAsync()
	waitFor(t, "the queue to drain", func() bool { return e.svc.queue.queued() == 0 })
	if fileLines(filepath.Join(e.out, "gone")) != 0 {
		t.Error("an event of a deleted function ran")
	}
}

func (e *testEnv) deadLetters(name string) []deadLetter {
	e.t.Helper()
	var out struct{ DeadLetters []deadLetter }
	e.signed(http.MethodGet, "/2015-03-31/functions/"+name+"/sluice-dead-letters", &out)
	return out.DeadLetters
}

// signed sends a SigV4-signed request for the extension API and decodes
// its JSON answer.
func (e *testEnv) signed(method, path string, out any) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	const emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	creds := aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, emptySHA, "lambda", "us-east-1", time.Now()); err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		e.t.Fatalf("%s %s: status %d (%s)", method, path, resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		e.t.Fatal(err)
	}
}

// TestReservedFunctionDoesNotBlockOthers: a function at its reserved
// concurrency keeps its other events queued instead of tying up every
// dispatcher slot, so another function's events still run.
func TestReservedFunctionDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	requirePython(t)
	e := newEnv(t, func(c *Config) { c.AsyncParallel = 2 })
	e.serveAsync()
	e.createPy("busy")
	e.createPy("other")
	if _, err := e.client.PutFunctionConcurrency(context.Background(), &lambdasdk.PutFunctionConcurrencyInput{
		FunctionName: aws.String("busy"), ReservedConcurrentExecutions: aws.Int32(1),
	}); err != nil {
		t.Fatal(err)
	}
	event := func(in *lambdasdk.InvokeInput) { in.InvocationType = types.InvocationTypeEvent }
	for i := 0; i < 3; i++ {
		if _, err := e.invoke("busy", map[string]any{"action": "hold", "started": "busy-started", "release": "release"}, event); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the first held event", func() bool {
		_, err := os.Stat(filepath.Join(e.out, "busy-started"))
		return err == nil
	})
	if _, err := e.invoke("other", map[string]any{"action": "write", "file": "other"}, event); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the other function's event while busy is held", func() bool { return fileLines(filepath.Join(e.out, "other")) == 1 })
	if err := os.WriteFile(filepath.Join(e.out, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the queue to drain", func() bool { return e.svc.queue.queued() == 0 })
}

// TestQueueSurvivesKill9: a process with an event in flight is killed with
// SIGKILL (no Close, no flush); the next process on the same directory runs
// the event again, as Lambda's at-least-once delivery allows.
func TestQueueSurvivesKill9(t *testing.T) {
	t.Parallel()
	requirePython(t)
	e := newEnv(t)
	e.createPy("survivor")
	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperQueueProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "SLUICE_LAMBDA_HELPER=1", "HELPER_LAMBDA_DIR="+e.cfg.Dir,
		"HELPER_HOST_DIR="+filepath.Join(e.dir, "host2"), "HELPER_PYTHON="+realPython())
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := filepath.Join(e.out, "started")
	waitFor(t, "the helper's event to start", func() bool { _, err := os.Stat(started); return err == nil })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if err := os.Remove(started); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.out, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	e.open()
	if n := e.svc.queue.queued(); n != 1 {
		t.Fatalf("%d events queued after the kill, want 1; helper said:\n%s", n, out.String())
	}
	e.serveAsync()
	waitFor(t, "the event to run again", func() bool { _, err := os.Stat(started); return err == nil })
	waitFor(t, "the queue to drain", func() bool { return e.svc.queue.queued() == 0 })
}

// TestHelperQueueProcess is the process TestQueueSurvivesKill9 kills.
func TestHelperQueueProcess(t *testing.T) {
	if os.Getenv("SLUICE_LAMBDA_HELPER") == "" {
		t.Skip("helper process for TestQueueSurvivesKill9")
	}
	hcfg := DefaultHostConfig()
	hcfg.Dir = os.Getenv("HELPER_HOST_DIR")
	hcfg.Python = os.Getenv("HELPER_PYTHON")
	host, err := NewHost(hcfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Dir = os.Getenv("HELPER_LAMBDA_DIR")
	svc, err := New(cfg, nil, host, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.InvokeAsync(context.Background(), &sluice.InvokeRequest{
		Function: "survivor", Payload: []byte(`{"action":"hold","started":"started","release":"release"}`),
	}); err != nil {
		t.Fatal(err)
	}
	svc.Serve(context.Background()) // until killed
}
