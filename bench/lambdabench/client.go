package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// rieInvokePath is where the emulator, and Sluice's emulator-compatible
// endpoint, take invocations.
const rieInvokePath = "/2015-03-31/functions/function/invocations"

// benchRole is the execution role the functions are created with; Sluice
// checks its shape, not its existence.
const benchRole = "arn:aws:iam::123456789012:role/lambdabench"

// invoker sends invocations the leanest way a real caller could: one
// keep-alive transport, the payload and its SHA-256 prepared once, and for
// the Lambda API a SigV4 header from the AWS SDK's signer, so that the
// client costs little and the same for every host on the shared 2 cores.
type invoker struct {
	url     string
	http    *http.Client
	signer  *v4.Signer // nil: unsigned, as callers of the emulator send
	creds   aws.Credentials
	region  string
	payload []byte
	hash    string // hex SHA-256 of payload, for the signature
	// serial, when set, lets one request through at a time: the emulator
	// cannot take two at once.
	serial *sync.Mutex
}

func newInvoker(url string, tr *http.Transport, cfg Config, signed bool, payload []byte) *invoker {
	sum := sha256.Sum256(payload)
	iv := &invoker{
		url:     url,
		http:    &http.Client{Transport: tr, Timeout: 2 * time.Minute},
		creds:   aws.Credentials{AccessKeyID: cfg.AccessKey, SecretAccessKey: cfg.SecretKey},
		region:  cfg.Region,
		payload: payload,
		hash:    hex.EncodeToString(sum[:]),
	}
	if signed {
		iv.signer = v4.NewSigner()
	}
	return iv
}

// invoke sends one synchronous invocation and checks that the echo came
// back unchanged. It returns the response's request id when there is one.
func (iv *invoker) invoke(ctx context.Context) (string, error) {
	if iv.serial != nil {
		iv.serial.Lock()
		defer iv.serial.Unlock()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, iv.url, bytes.NewReader(iv.payload))
	if err != nil {
		return "", err
	}
	req.ContentLength = int64(len(iv.payload))
	req.Header.Set("Content-Type", "application/json")
	if iv.signer != nil {
		if err := iv.signer.SignHTTP(ctx, iv.creds, req, iv.hash, "lambda", iv.region, time.Now().UTC()); err != nil {
			return "", fmt.Errorf("sign: %w", err)
		}
	}
	resp, err := iv.http.Do(req)
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	resp.Body.Close()
	if err != nil {
		return "", fmt.Errorf("read response: %w", err)
	}
	return resp.Header.Get("X-Amzn-Requestid"), checkEcho(resp.StatusCode, resp.Header.Get("X-Amz-Function-Error"), body, iv.payload)
}

// checkEcho says what is wrong with an invocation's answer, if anything.
func checkEcho(status int, funcErr string, body, want []byte) error {
	snippet := func() string {
		s := strings.TrimSpace(string(body))
		if len(s) > 200 {
			s = s[:200] + "..."
		}
		return s
	}
	switch {
	case status != http.StatusOK:
		return fmt.Errorf("HTTP %d: %s", status, snippet())
	case funcErr != "":
		return fmt.Errorf("function error %s: %s", funcErr, snippet())
	case !bytes.Equal(body, want) && !sameJSON(body, want):
		return fmt.Errorf("echo mismatch: got %d bytes %q", len(body), snippet())
	}
	return nil
}

// sameJSON says whether two documents hold the same JSON value. Runtimes
// re-encode the event they return: Python's json.dumps puts a space after
// every ':' and ','; Go's echo of a json.RawMessage returns it byte for byte.
func sameJSON(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// echoPayload is a JSON event of exactly size bytes (at least 12).
func echoPayload(size int) []byte {
	const head, tail = `{"data":"`, `"}`
	n := max(size-len(head)-len(tail), 1)
	return []byte(head + strings.Repeat("x", n) + tail)
}

// admin is the AWS SDK for the setup calls, which are not measured.
type admin struct {
	lambda *lambda.Client
	logs   *cloudwatchlogs.Client
}

func newAdmin(base string, cfg Config) *admin {
	creds := credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")
	hc := &http.Client{Transport: benchkit.NewTransport(4), Timeout: 2 * time.Minute}
	return &admin{
		lambda: lambda.New(lambda.Options{
			Region: cfg.Region, Credentials: creds, BaseEndpoint: aws.String(base), HTTPClient: hc,
		}),
		logs: cloudwatchlogs.New(cloudwatchlogs.Options{
			Region: cfg.Region, Credentials: creds, BaseEndpoint: aws.String(base), HTTPClient: hc,
		}),
	}
}

// createFunction creates a function from a zip and waits until it is
// Active, so that nothing of the creation is left for the first invoke.
func (a *admin) createFunction(ctx context.Context, name, runtime, handler string, zipFile []byte) error {
	_, err := a.lambda.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(name),
		Runtime:      ltypes.Runtime(runtime),
		Handler:      aws.String(handler),
		Role:         aws.String(benchRole),
		Code:         &ltypes.FunctionCode{ZipFile: zipFile},
		MemorySize:   aws.Int32(128),
		Timeout:      aws.Int32(30),
	})
	if err != nil {
		return fmt.Errorf("create function %s: %w", name, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := a.lambda.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("get function %s: %w", name, err)
		}
		if out.State == "" || out.State == ltypes.StateActive {
			return nil
		}
		if out.State == ltypes.StateFailed || time.Now().After(deadline) {
			return fmt.Errorf("function %s is %s: %s", name, out.State, aws.ToString(out.StateReason))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (a *admin) deleteFunction(ctx context.Context, name string) error {
	_, err := a.lambda.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
	return err
}

// setConcurrency reserves n concurrent executions for the function: Sluice
// starts at most that many instances of it (10 when none is reserved).
func (a *admin) setConcurrency(ctx context.Context, name string, n int) error {
	_, err := a.lambda.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{
		FunctionName:                 aws.String(name),
		ReservedConcurrentExecutions: aws.Int32(int32(n)),
	})
	return err
}

// reportLines returns the REPORT lines the function's log group holds
// between two times (inclusive, millisecond resolution).
func (a *admin) reportLines(ctx context.Context, function string, from, to time.Time) ([]string, error) {
	p := cloudwatchlogs.NewFilterLogEventsPaginator(a.logs, &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName:  aws.String("/aws/lambda/" + function),
		FilterPattern: aws.String("REPORT"),
		StartTime:     aws.Int64(from.UnixMilli()),
		EndTime:       aws.Int64(to.UnixMilli()),
	})
	var out []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("filter log events of %s: %w", function, err)
		}
		for _, e := range page.Events {
			if msg := aws.ToString(e.Message); strings.HasPrefix(msg, "REPORT ") {
				out = append(out, msg)
			}
		}
	}
	return out, nil
}

// awaitReport polls the function's log until the REPORT line of request id
// appears: Sluice writes logs off the invocation's path.
func (a *admin) awaitReport(ctx context.Context, function, id string, since time.Time) (string, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		lines, err := a.reportLines(ctx, function, since.Add(-time.Second), time.Now().Add(time.Second))
		if err != nil && !isNotFound(err) {
			return "", err
		}
		for _, l := range lines {
			if id == "" || strings.Contains(l, id) {
				return l, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no REPORT line for request %q of %s after 15s", id, function)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func isNotFound(err error) bool {
	var nf interface{ ErrorCode() string }
	return errors.As(err, &nf) && nf.ErrorCode() == "ResourceNotFoundException"
}

// zipOf builds a deployment package holding the given files; executable
// ones get mode 0755, as `zip` keeps it from the file system.
func zipOf(files map[string][]byte, executable map[string]bool) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		mode := os.FileMode(0o644)
		if executable[name] {
			mode = 0o755
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// pythonEcho is the Python function the cold start is measured with: the
// same echo as the Go one.
const pythonEcho = `def handler(event, context):
    return event
`
