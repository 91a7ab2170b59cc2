// Command runner is the bootstrap of the run-tests function in
// examples/tests-in-a-function: a provided.al2023 Lambda handler (built with
// aws-lambda-go) that runs the Go test binary bundled beside it and fails
// the invocation when the tests fail.
//
// The event chooses the tests: {"run": "REGEXP"} is passed to -test.run
// ({} runs them all). Every line the tests print goes to stdout, so it lands
// in the function's log (/aws/lambda/run-tests), and the result counts the
// outcomes. One invocation runs at a time per instance, as on AWS.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

// Event is what the function accepts.
type Event struct {
	// Run is a -test.run pattern; empty runs every test.
	Run string `json:"run"`
	// Verbose asks for -test.v (the default) so the log names every test.
	Verbose *bool `json:"verbose,omitempty"`
}

// Result is what a passing run returns.
type Result struct {
	Passed     int      `json:"passed"`
	Failed     int      `json:"failed"`
	Skipped    int      `json:"skipped"`
	FailedTest []string `json:"failedTests,omitempty"`
	DurationMs int64    `json:"durationMs"`
}

// TestsFailed is the error of a failing run; aws-lambda-go reports its type
// name as the errorType ("TestsFailed").
type TestsFailed struct {
	Result
	ExitCode int
}

func (e *TestsFailed) Error() string {
	if len(e.FailedTest) == 0 {
		return fmt.Sprintf("test binary exited with status %d (%d passed)", e.ExitCode, e.Passed)
	}
	return fmt.Sprintf("%d of %d tests failed: %s", e.Failed, e.Passed+e.Failed, strings.Join(e.FailedTest, ", "))
}

// outcome matches go test's -v result lines, subtests included (indented).
var outcome = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+)`)

func binaryPath() string {
	if p := os.Getenv("SUITE_BINARY"); p != "" {
		return p
	}
	// LAMBDA_TASK_ROOT is the code directory; the suite sits beside bootstrap.
	return filepath.Join(os.Getenv("LAMBDA_TASK_ROOT"), "suite.test")
}

// InvalidEvent is the error of an event the function cannot use.
type InvalidEvent struct{ Reason string }

func (e *InvalidEvent) Error() string { return e.Reason }

func handle(ctx context.Context, ev Event) (Result, error) {
	if ev.Run != "" {
		if _, err := regexp.Compile(ev.Run); err != nil {
			return Result{}, &InvalidEvent{fmt.Sprintf("run %q is not a regular expression: %v", ev.Run, err)}
		}
	}
	args := []string{}
	if ev.Verbose == nil || *ev.Verbose {
		args = append(args, "-test.v")
	}
	if ev.Run != "" {
		args = append(args, "-test.run", ev.Run)
	}
	// Stop the tests (with their goroutine dump) a little before the
	// function's own timeout so the log says which test hung.
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl) - 2*time.Second; left > time.Second {
			args = append(args, "-test.timeout", left.Round(time.Second).String())
		}
	}
	bin := binaryPath()
	fmt.Printf("running %s %s\n", filepath.Base(bin), strings.Join(args, " "))

	cmd := exec.CommandContext(ctx, bin, args...)
	// Tests that write files use t.TempDir; the code directory is read-only
	// on AWS, /tmp is not.
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "TMPDIR="+os.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	cmd.Stderr = cmd.Stdout // one ordered stream, as `go test` prints it
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("start test binary %s: %w", bin, err)
	}
	res := scan(out)
	waitErr := cmd.Wait()
	res.DurationMs = time.Since(start).Milliseconds()

	fmt.Printf("summary: %d passed, %d failed, %d skipped in %d ms\n", res.Passed, res.Failed, res.Skipped, res.DurationMs)
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return Result{}, fmt.Errorf("tests did not finish: %w", ctx.Err())
	case waitErr == nil && res.Failed == 0:
		if res.Passed+res.Skipped == 0 {
			fmt.Printf("warning: no tests match %q\n", ev.Run)
		}
		return res, nil
	case waitErr == nil, errors.As(waitErr, &exit):
		code := 1
		if exit != nil {
			code = exit.ExitCode()
		}
		return Result{}, &TestsFailed{Result: res, ExitCode: code}
	default:
		return Result{}, fmt.Errorf("run test binary: %w", waitErr)
	}
}

// scan copies the test output to stdout line by line and counts top-level
// test outcomes (subtests are in the log, not in the counts).
func scan(r io.Reader) Result {
	var res Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Println(line)
		m := outcome.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(line, " ") {
			continue
		}
		switch m[1] {
		case "PASS":
			res.Passed++
		case "FAIL":
			res.Failed++
			res.FailedTest = append(res.FailedTest, m[2])
		case "SKIP":
			res.Skipped++
		}
	}
	return res
}

func main() {
	lambda.Start(handle)
}
