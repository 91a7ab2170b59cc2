package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/sluicehq/sluice"
)

const invokeUsage = `Usage: sluice invoke NAME [--event FILE | --payload JSON] [flags]

Invokes function NAME (a name, or a function ARN) on a running sluice
through the Lambda Invoke API and prints its result to stdout: indented
when it is JSON, as is otherwise.

The event comes from --event FILE ('-' reads stdin) or --payload JSON;
without either it is {}. 'sluice generate-event' prints realistic events.

Exit status: 0 on success; 1 when the function failed (the result is still
printed, and the error type and message go to stderr) or sluice refused the
call; 2 on a usage mistake.

Examples:
  sluice invoke resize --event s3-put.json --tail
  sluice generate-event s3 put --key photos/cat.jpg | sluice invoke resize --event -
  sluice invoke echo --payload '{"hello":"world"}' --qualifier 3
  sluice invoke worker --type Event --payload '{}'
`

// functionError is a function's own failure (X-Amz-Function-Error), which
// main reports and turns into exit status 1.
type functionError struct {
	kind    string // "Unhandled" or "Handled"
	errType string
	message string
}

func (e *functionError) Error() string {
	switch {
	case e.errType != "" && e.message != "":
		return fmt.Sprintf("function error (%s): %s: %s", e.kind, e.errType, e.message)
	case e.errType != "" || e.message != "":
		return fmt.Sprintf("function error (%s): %s%s", e.kind, e.errType, e.message)
	}
	return fmt.Sprintf("function error (%s)", e.kind)
}

func runInvoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return invoke(ctx, args, os.Stdin, stdout, stderr)
}

func invoke(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("invoke", invokeUsage, stderr)
	eventFile := fs.String("event", "", "file holding the JSON event; '-' reads stdin")
	payload := fs.String("payload", "", "the JSON event, inline")
	tail := fs.Bool("tail", false, "print the last 4 KB of the invocation's log to stderr")
	qualifier := fs.String("qualifier", "", "version or alias to invoke (default $LATEST)")
	invType := fs.String("type", sluice.InvokeRequestResponse, "invocation type: RequestResponse, Event or DryRun")
	awsConfig := clientConfig(fs)
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(positional) == 0:
		fs.Usage()
		return usageError{"invoke: no function name given"}
	case len(positional) > 1:
		return usageError{fmt.Sprintf("invoke: unexpected argument %q", positional[1])}
	case *eventFile != "" && *payload != "":
		return usageError{"invoke: give --event or --payload, not both"}
	}
	name := positional[0]
	var it types.InvocationType
	switch *invType {
	case sluice.InvokeRequestResponse, sluice.InvokeEvent, sluice.InvokeDryRun:
		it = types.InvocationType(*invType)
	default:
		return usageError{fmt.Sprintf("invoke: --type %q is not RequestResponse, Event or DryRun", *invType)}
	}
	if *tail && it != types.InvocationTypeRequestResponse {
		return usageError{"invoke: --tail needs --type RequestResponse (AWS returns no log for the others)"}
	}

	event, err := readEvent(*eventFile, *payload, stdin)
	if err != nil {
		return err
	}
	cfg, err := awsConfig()
	if err != nil {
		return err
	}
	in := &lambda.InvokeInput{
		FunctionName:   &name,
		Payload:        event,
		InvocationType: it,
	}
	if *qualifier != "" {
		in.Qualifier = qualifier
	}
	if *tail {
		in.LogType = types.LogTypeTail
	}
	out, err := lambda.NewFromConfig(cfg).Invoke(ctx, in)
	if err != nil {
		return invokeError(name, *cfg.BaseEndpoint, err)
	}
	if *tail && out.LogResult != nil {
		logTail, err := base64.StdEncoding.DecodeString(*out.LogResult)
		if err != nil {
			return fmt.Errorf("invoke %s: log tail is not base64: %w", name, err)
		}
		stderr.Write(logTail)
		if len(logTail) > 0 && logTail[len(logTail)-1] != '\n' {
			fmt.Fprintln(stderr)
		}
	}
	if it != types.InvocationTypeRequestResponse {
		fmt.Fprintf(stderr, "%s: status %d\n", *invType, out.StatusCode)
		return nil
	}
	if err := printPayload(stdout, out.Payload); err != nil {
		return err
	}
	if out.FunctionError != nil {
		return newFunctionError(*out.FunctionError, out.Payload)
	}
	return nil
}

// readEvent returns the invocation payload. Lambda accepts only JSON, so a
// mistake is caught here with the file named rather than as a remote error.
func readEvent(file, inline string, stdin io.Reader) ([]byte, error) {
	var (
		b      []byte
		source string
		err    error
	)
	switch {
	case inline != "":
		b, source = []byte(inline), "--payload"
	case file == "-":
		b, source = nil, "stdin"
		b, err = io.ReadAll(io.LimitReader(stdin, sluice.MaxSyncPayload+1))
	case file != "":
		source = file
		b, err = os.ReadFile(file)
	default:
		return []byte("{}"), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read event: %w", err)
	}
	if len(b) > sluice.MaxSyncPayload {
		return nil, usageError{fmt.Sprintf("invoke: event from %s is larger than Lambda's %d-byte limit", source, sluice.MaxSyncPayload)}
	}
	if !json.Valid(b) {
		return nil, usageError{fmt.Sprintf("invoke: event from %s is not valid JSON", source)}
	}
	return b, nil
}

// printPayload writes p indented when it is JSON, as is otherwise.
func printPayload(w io.Writer, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if json.Valid(p) && json.Indent(&buf, p, "", "  ") == nil {
		buf.WriteByte('\n')
		_, err := w.Write(buf.Bytes())
		return err
	}
	_, err := w.Write(p)
	return err
}

// newFunctionError reads the error document a runtime returns
// ({"errorMessage", "errorType", "stackTrace"}).
func newFunctionError(kind string, payload []byte) error {
	var doc struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(payload, &doc) != nil {
		doc.ErrorMessage = string(bytes.TrimSpace(payload))
	}
	return &functionError{kind: kind, errType: doc.ErrorType, message: doc.ErrorMessage}
}

// invokeError words a failed call: the API's error code and message when
// sluice answered, a hint about the endpoint when nothing did.
func invokeError(name, endpoint string, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return fmt.Errorf("invoke %s: %s: %s", name, apiErr.ErrorCode(), apiErr.ErrorMessage())
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("invoke %s: %w", name, err)
	}
	return fmt.Errorf("invoke %s: %w (is 'sluice serve' running at %s?)", name, err, endpoint)
}
