// Command goecho is the Go handler of the functions end-to-end tests, built
// with aws-lambda-go at test time and run unchanged as a provided.al2023
// bootstrap. The event's "mode" picks what it does; every mode first prints
// the event's "print" marker to stdout and stderr so that tests can find the
// invocation's lines in its log.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Mode    string  `json:"mode"`
	Print   string  `json:"print"`
	Seconds float64 `json:"seconds"`
}

// handlerError is the error the "error" mode returns; aws-lambda-go names
// the errorType after the type.
type handlerError struct{ msg string }

func (e *handlerError) Error() string { return e.msg }

func handle(ctx context.Context, raw map[string]any) (any, error) {
	var ev event
	if s, ok := raw["mode"].(string); ok {
		ev.Mode = s
	}
	if s, ok := raw["print"].(string); ok {
		ev.Print = s
	}
	if f, ok := raw["seconds"].(float64); ok {
		ev.Seconds = f
	}
	if ev.Print != "" {
		fmt.Println("stdout " + ev.Print)
		fmt.Fprintln(os.Stderr, "stderr "+ev.Print)
	}
	switch ev.Mode {
	case "error":
		return nil, &handlerError{"boom " + ev.Print}
	case "sleep":
		time.Sleep(time.Duration(ev.Seconds * float64(time.Second)))
		return map[string]any{"slept": ev.Seconds}, nil
	case "crash":
		os.Exit(1)
	case "oversize":
		return map[string]string{"blob": strings.Repeat("x", 7<<20)}, nil
	}
	lc, _ := lambdacontext.FromContext(ctx)
	remaining := int64(-1)
	if d, ok := ctx.Deadline(); ok {
		remaining = time.Until(d).Milliseconds()
	}
	return map[string]any{
		"runtime":       "go",
		"event":         raw,
		"function_name": lambdacontext.FunctionName,
		"memory_limit":  lambdacontext.MemoryLimitInMB,
		"version":       lambdacontext.FunctionVersion,
		"request_id":    lc.AwsRequestID,
		"invoked_arn":   lc.InvokedFunctionArn,
		"remaining_ms":  remaining,
		"log_group":     lambdacontext.LogGroupName,
		"log_stream":    lambdacontext.LogStreamName,
	}, nil
}

func main() { lambda.Start(handle) }
