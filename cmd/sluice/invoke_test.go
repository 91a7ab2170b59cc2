package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/sigv4"
)

// invokeCall is what the fake endpoint saw.
type invokeCall struct {
	Function, Qualifier, InvocationType, LogType, Service, Region, AccessKey string
	Payload                                                                  string
}

// fakeLambda implements the Invoke wire contract as AWS documents it, and
// verifies every request's SigV4 signature with Sluice's own verifier. It
// stands in for a remote endpoint: the CLI is only a client of it.
type fakeLambda struct {
	mu    sync.Mutex
	calls []invokeCall
}

func (f *fakeLambda) lastCall(t *testing.T) invokeCall {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		t.Fatal("no call reached the endpoint")
	}
	return f.calls[len(f.calls)-1]
}

func newFakeLambda(t *testing.T) (*fakeLambda, *httptest.Server) {
	t.Helper()
	cfg := sigv4.DefaultConfig()
	cfg.Credentials = map[string]string{"test": "test", "AKIDEXAMPLE": "s3cr3t"}
	verifier, err := sigv4.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeLambda{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", func(w http.ResponseWriter, r *http.Request) {
		id, err := verifier.Verify(r)
		if err != nil {
			lambdaError(w, http.StatusForbidden, "InvalidSignatureException", err.Error())
			return
		}
		body, _ := io.ReadAll(r.Body)
		call := invokeCall{
			Function:       r.PathValue("name"),
			Qualifier:      r.URL.Query().Get("Qualifier"),
			InvocationType: r.Header.Get("X-Amz-Invocation-Type"),
			LogType:        r.Header.Get("X-Amz-Log-Type"),
			Service:        id.Service,
			Region:         id.Region,
			AccessKey:      id.AccessKey,
			Payload:        string(body),
		}
		f.mu.Lock()
		f.calls = append(f.calls, call)
		f.mu.Unlock()

		if !json.Valid(body) {
			lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json")
			return
		}
		switch call.InvocationType {
		case "Event":
			w.WriteHeader(http.StatusAccepted)
			return
		case "DryRun":
			w.WriteHeader(http.StatusNoContent)
			return
		}
		version := "$LATEST"
		if call.Qualifier != "" {
			version = call.Qualifier
		}
		w.Header().Set("X-Amz-Executed-Version", version)
		if call.LogType == "Tail" {
			log := "START RequestId: 1 Version: " + version + "\nhello from " + call.Function + "\nEND RequestId: 1\n"
			w.Header().Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString([]byte(log)))
		}
		switch call.Function {
		case "echo":
			w.Write(body)
		case "text":
			w.Write([]byte("plain result"))
		case "fail":
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			w.Write([]byte(`{"errorMessage":"tests failed: 3 of 10","errorType":"TestFailure","stackTrace":["main.go:12"]}`))
		default:
			lambdaError(w, http.StatusNotFound, "ResourceNotFoundException",
				"Function not found: arn:aws:lambda:"+id.Region+":000000000000:function:"+call.Function)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	// Keep the caller's environment out of the test.
	for _, k := range []string{"SLUICE_ENDPOINT", "SLUICE_ACCESS_KEY", "SLUICE_SECRET_KEY", "AWS_ACCESS_KEY_ID",
		"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	return f, srv
}

func lambdaError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"Type": "User", "message": msg})
}

func TestInvoke(t *testing.T) {
	f, srv := newFakeLambda(t)
	dir := t.TempDir()
	eventFile := filepath.Join(dir, "event.json")
	if err := os.WriteFile(eventFile, []byte(`{"Records":[{"eventName":"ObjectCreated:Put"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		stdin      string
		env        map[string]string
		wantCall   invokeCall
		wantStdout string
		wantStderr string // substring
		wantErr    func(error) bool
	}{
		{
			name:       "payload, qualifier and tail",
			args:       []string{"echo", "--payload", `{"a":[1,2]}`, "--qualifier", "3", "--tail"},
			wantCall:   invokeCall{Function: "echo", Qualifier: "3", InvocationType: "RequestResponse", LogType: "Tail", Service: "lambda", Region: "us-east-1", AccessKey: "test", Payload: `{"a":[1,2]}`},
			wantStdout: "{\n  \"a\": [\n    1,\n    2\n  ]\n}\n",
			wantStderr: "hello from echo\nEND RequestId: 1\n",
			wantErr:    isNil,
		},
		{
			name:       "event file, flags before name",
			args:       []string{"--event", eventFile, "echo"},
			wantCall:   invokeCall{Function: "echo", InvocationType: "RequestResponse", Service: "lambda", Region: "us-east-1", AccessKey: "test", Payload: `{"Records":[{"eventName":"ObjectCreated:Put"}]}`},
			wantStdout: "{\n  \"Records\": [\n    {\n      \"eventName\": \"ObjectCreated:Put\"\n    }\n  ]\n}\n",
			wantErr:    isNil,
		},
		{
			name:       "event from stdin, credentials and region from the environment",
			args:       []string{"echo", "--event", "-"},
			stdin:      `"just a string"`,
			env:        map[string]string{"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_REGION": "eu-west-1"},
			wantCall:   invokeCall{Function: "echo", InvocationType: "RequestResponse", Service: "lambda", Region: "eu-west-1", AccessKey: "AKIDEXAMPLE", Payload: `"just a string"`},
			wantStdout: "\"just a string\"\n",
			wantErr:    isNil,
		},
		{
			name:       "no event sends {}",
			args:       []string{"text", "--region", "ap-south-1"},
			wantCall:   invokeCall{Function: "text", InvocationType: "RequestResponse", Service: "lambda", Region: "ap-south-1", AccessKey: "test", Payload: `{}`},
			wantStdout: "plain result",
			wantErr:    isNil,
		},
		{
			name:       "function error: result printed, error returned",
			args:       []string{"fail"},
			wantCall:   invokeCall{Function: "fail", InvocationType: "RequestResponse", Service: "lambda", Region: "us-east-1", AccessKey: "test", Payload: `{}`},
			wantStdout: "{\n  \"errorMessage\": \"tests failed: 3 of 10\",\n  \"errorType\": \"TestFailure\",\n  \"stackTrace\": [\n    \"main.go:12\"\n  ]\n}\n",
			wantErr: func(err error) bool {
				var fe *functionError
				return errors.As(err, &fe) && !isUsage(err) &&
					err.Error() == "function error (Unhandled): TestFailure: tests failed: 3 of 10"
			},
		},
		{
			name:       "async",
			args:       []string{"echo", "--type", "Event", "--payload", `{}`},
			wantCall:   invokeCall{Function: "echo", InvocationType: "Event", Service: "lambda", Region: "us-east-1", AccessKey: "test", Payload: `{}`},
			wantStderr: "Event: status 202",
			wantErr:    isNil,
		},
		{
			name:       "dry run",
			args:       []string{"echo", "--type", "DryRun"},
			wantCall:   invokeCall{Function: "echo", InvocationType: "DryRun", Service: "lambda", Region: "us-east-1", AccessKey: "test", Payload: `{}`},
			wantStderr: "DryRun: status 204",
			wantErr:    isNil,
		},
		{
			name:     "unknown function",
			args:     []string{"nope"},
			wantCall: invokeCall{Function: "nope", InvocationType: "RequestResponse", Service: "lambda", Region: "us-east-1", AccessKey: "test", Payload: `{}`},
			wantErr: func(err error) bool {
				return err != nil && !isUsage(err) && strings.Contains(err.Error(), "ResourceNotFoundException: Function not found")
			},
		},
		{
			name: "wrong secret is refused by the endpoint",
			args: []string{"echo"},
			env:  map[string]string{"SLUICE_ACCESS_KEY": "test", "SLUICE_SECRET_KEY": "wrong"},
			wantErr: func(err error) bool {
				return err != nil && strings.Contains(err.Error(), "InvalidSignatureException")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			before := len(f.calls)
			var stdout, stderr bytes.Buffer
			args := append([]string{"--endpoint", srv.URL}, tt.args...)
			err := invoke(context.Background(), args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if !tt.wantErr(err) {
				t.Fatalf("unexpected error %v (stderr %q)", err, stderr.String())
			}
			if tt.wantCall.Function != "" {
				if diff := cmp.Diff(tt.wantCall, f.lastCall(t)); diff != "" || len(f.calls) != before+1 {
					t.Errorf("call (-want +got):\n%s (calls %d → %d)", diff, before, len(f.calls))
				}
			}
			if got := stdout.String(); got != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", got, tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

func TestInvokeUsageErrors(t *testing.T) {
	_, srv := newFakeLambda(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no name", nil, "no function name"},
		{"two names", []string{"a", "b"}, `unexpected argument "b"`},
		{"both event sources", []string{"a", "--event", "x", "--payload", "{}"}, "not both"},
		{"bad type", []string{"a", "--type", "Sync"}, "RequestResponse, Event or DryRun"},
		{"tail with Event", []string{"a", "--type", "Event", "--tail"}, "--tail needs"},
		{"payload not JSON", []string{"a", "--payload", "{nope"}, "--payload is not valid JSON"},
		{"bad endpoint", []string{"a", "--endpoint", "ftp://x"}, "not an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--endpoint", srv.URL}, tt.args...)
			err := invoke(context.Background(), args, strings.NewReader(""), io.Discard, io.Discard)
			if !isUsage(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a usage error containing %q", err, tt.want)
			}
		})
	}
	err := invoke(context.Background(), []string{"--help"}, nil, io.Discard, io.Discard)
	if !isHelp(err) {
		t.Fatalf("--help: %v", err)
	}
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args []string
		want []string
		tail bool
	}{
		{[]string{"fn", "--tail"}, []string{"fn"}, true},
		{[]string{"--tail", "fn"}, []string{"fn"}, true},
		{[]string{"a", "b", "--tail", "c"}, []string{"a", "b", "c"}, true},
		{[]string{"a", "--", "--tail"}, []string{"a", "--tail"}, false},
		{nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fs := newFlagSet("t", "", io.Discard)
			tail := fs.Bool("tail", false, "")
			got, err := parseInterspersed(fs, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" || *tail != tt.tail {
				t.Errorf("positionals (-want +got):\n%s tail=%v", diff, *tail)
			}
		})
	}
}
