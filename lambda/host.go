// Package lambda owns Sluice's Lambda-compatible function host: the function
// registry and Lambda API (service.go, api.go, ...) and the host that runs
// function instances as real OS processes behind a per-instance Runtime API
// (host.go, instance.go, runtimeapi.go, process*.go).
//
// Concurrency: a Host is safe for concurrent use. Each instance runs one
// invocation at a time; the host starts more instances of a function, up to its
// concurrency limit, when invocations overlap.
package lambda

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"time"

	"github.com/sluicehq/sluice"
)

// FunctionSpec is everything the host needs to run one function version.
type FunctionSpec struct {
	Name     string // "thumbnail"
	Version  string // "$LATEST" or "1", "2", ...
	ARN      string // arn:aws:lambda:REGION:000000000000:function:NAME (unqualified)
	Region   string
	Runtime  string // provided.al2023, provided.al2, go1.x, python3.x, nodejs18.x/20.x/22.x
	Handler  string // "bootstrap" / "app.handler" / "index.handler"
	CodeDir  string // directory with the function's code (extracted zip, or the user's local dir)
	Timeout  time.Duration
	MemoryMB int
	Env      map[string]string // user environment
	// Concurrency is the most instances that may run at once (ReservedConcurrentExecutions);
	// 0 means the host default (HostConfig.DefaultConcurrency).
	Concurrency int
	// CodeRevision changes whenever the code changes (sha256 of the zip, or a directory
	// fingerprint for local code); a different revision never reuses a warm instance.
	CodeRevision string
	// WatchCode: the host re-fingerprints CodeDir (cheaply: mtimes/sizes) before reusing a warm
	// instance and starts a fresh one when it changed — hot reload for local directories.
	WatchCode bool
}

// InvokeOptions tune one invocation.
type InvokeOptions struct {
	RequestID     string // aws request id for the invocation; generated when empty
	ClientContext string // base64 JSON, passed to the runtime as Lambda-Runtime-Client-Context
	Tail          bool   // fill InvokeResult.LogTail with the last 4 KB of this invocation's log
	// Queue: wait for a free instance slot when the function is at its concurrency limit instead
	// of failing with TooManyRequestsException (async invocations queue; sync ones fail fast after
	// a short wait, as AWS throttles).
	Queue bool
}

// HostConfig configures a Host.
type HostConfig struct {
	Dir                  string        // scratch space for instances (/tmp of each function, etc.)
	EndpointURL          string        // AWS_ENDPOINT_URL given to functions (http://127.0.0.1:4566)
	AccessKey, SecretKey string        // role credentials given to functions
	IdleTimeout          time.Duration // stop warm instances idle this long (default 5m)
	DefaultConcurrency   int           // per-function instance cap when the function sets none (default 10)
	Python, Node         string        // interpreter paths (default: look up python3 / node on PATH)
}

// DefaultHostConfig returns the defaults; Dir must still be set.
func DefaultHostConfig() HostConfig {
	return HostConfig{
		EndpointURL:        "http://127.0.0.1:4566",
		AccessKey:          "test",
		SecretKey:          "test",
		IdleTimeout:        5 * time.Minute,
		DefaultConcurrency: 10,
	}
}

// Validate reports the first bad setting by name.
func (c HostConfig) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("lambda host: Dir is required")
	case c.IdleTimeout <= 0:
		return fmt.Errorf("lambda host: IdleTimeout must be positive, got %s", c.IdleTimeout)
	case c.DefaultConcurrency <= 0:
		return fmt.Errorf("lambda host: DefaultConcurrency must be positive, got %d", c.DefaultConcurrency)
	}
	return nil
}

// LogSink receives every line a function prints; the logs package implements it.
type LogSink interface {
	PutLogEvents(ctx context.Context, group, stream string, events []sluice.LogEvent) error
}

// Host runs function instances.
type Host struct {
	cfg  HostConfig
	sink LogSink
	log  *slog.Logger
}

// NewHost validates cfg and returns a Host with no instances running.
func NewHost(cfg HostConfig, sink LogSink, log *slog.Logger) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.Python == "" {
		cfg.Python, _ = exec.LookPath("python3")
	}
	if cfg.Node == "" {
		cfg.Node, _ = exec.LookPath("node")
	}
	return &Host{cfg: cfg, sink: sink, log: log}, nil
}

// Invoke runs one invocation synchronously on a warm or new instance. Function errors (handled,
// unhandled, timeout "Task timed out after 3.00 seconds", Runtime.ExitError, init errors,
// Function.ResponseSizeTooLarge) are results with FunctionError set, not Go errors. Go errors are
// *sluice.Error: TooManyRequestsException (at the concurrency limit and !opts.Queue),
// ServiceException, or ctx errors.
func (h *Host) Invoke(ctx context.Context, spec *FunctionSpec, payload []byte, opts InvokeOptions) (*sluice.InvokeResult, error) {
	return nil, sluice.Errorf(sluice.ErrServiceException, "function host is starting up")
}

// Recycle stops every instance of the function (all versions); the next invoke starts fresh.
func (h *Host) Recycle(function string) {}

// Close stops every instance and waits for the processes to exit.
func (h *Host) Close() error { return nil }
