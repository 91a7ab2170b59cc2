// Command gohandler is an aws-lambda-go function the host tests build and
// run unchanged: the event's "action" picks what it does.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Action  string   `json:"action"`
	SleepMS int      `json:"sleepMs"`
	Size    int      `json:"size"`
	Stdout  []string `json:"stdout"`
	Stderr  []string `json:"stderr"`
}

func handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var ev event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, err
	}
	for _, l := range ev.Stdout {
		fmt.Println(l)
	}
	for _, l := range ev.Stderr {
		fmt.Fprintln(os.Stderr, l)
	}
	switch ev.Action {
	case "error":
		return nil, errors.New("boom")
	case "sleep":
		time.Sleep(time.Duration(ev.SleepMS) * time.Millisecond)
	case "crash":
		os.Exit(1)
	case "big":
		return strings.Repeat("x", ev.Size), nil
	case "alloc":
		b := make([]byte, ev.Size)
		for i := range b {
			b[i] = byte(i)
		}
		return len(b), nil
	case "echo-raw":
		return raw, nil
	}
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return map[string]any{
		"event":         raw,
		"requestId":     lc.AwsRequestID,
		"arn":           lc.InvokedFunctionArn,
		"functionName":  lambdacontext.FunctionName,
		"version":       lambdacontext.FunctionVersion,
		"memory":        lambdacontext.MemoryLimitInMB,
		"logGroup":      lambdacontext.LogGroupName,
		"logStream":     lambdacontext.LogStreamName,
		"remainingMs":   time.Until(deadline).Milliseconds(),
		"clientContext": lc.ClientContext.Custom,
		"env":           env,
		"pid":           os.Getpid(),
	}, nil
}

func main() { lambda.Start(handle) }
