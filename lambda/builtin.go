package lambda

// Built-in functions: Go functions of Sluice itself (sluice-s3-copy,
// sluice-image-resize, ...) that users attach exactly as they attach their
// own functions. A built-in exists in every region as an ordinary function of
// account 000000000000 with $LATEST and a published version 1; the API shows
// it like any other function and refuses to change it. An invocation runs the
// Go function in-process under the same concurrency accounting, async queue,
// retries, dead letters and log group as a process function.
//
// Built-ins live only in memory, never in lambda.db: they are registered
// again at every start, so a new Sluice release changes them without a
// migration.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/sluicehq/sluice"
)

// BuiltinFunc is the body of a built-in function: it receives the invocation's
// payload and returns its result. A returned error is a function error
// ("Unhandled") whose payload is Lambda's {"errorMessage","errorType"}
// document, so asynchronous invocations retry it and dead-letter it as they
// do a user function's error. ctx ends at the function's timeout or when the
// caller goes away; LogLine writes to the function's log.
type BuiltinFunc func(ctx context.Context, payload []byte) ([]byte, error)

// BuiltinPrefix starts every built-in's name, so a built-in never takes a
// name a user is likely to have chosen.
const BuiltinPrefix = "sluice-"

// Settings every built-in reports; Timeout also bounds its invocations.
const (
	builtinRuntime = "provided.al2023"
	builtinHandler = "builtin"
	builtinTimeout = 900 // seconds, Lambda's maximum
	builtinMemory  = 128
	builtinVersion = "1"
)

// builtinRole is the execution role built-ins report.
var builtinRole = "arn:aws:iam::" + sluice.AccountID + ":role/sluice-builtin"

// builtinRevisionSpace makes each built-in's RevisionId stable across
// restarts: it is derived from the name and description.
var builtinRevisionSpace = uuid.MustParse("3f4c1c52-6a63-4e5e-9d1b-2f2d8c0e51a7")

var builtinNameRE = regexp.MustCompile(`^[a-zA-Z0-9-_]{1,64}$`)

// builtin is one registered built-in function.
type builtin struct {
	name        string
	description string
	fn          BuiltinFunc
	registered  time.Time

	mu   sync.Mutex
	idle map[string][]*logPipe // log streams not in use, by region
}

// RegisterBuiltin makes fn the built-in function name in every region. It
// must be called before Serve and before the front door takes requests.
// name must start with "sluice-". A function a user created earlier under the
// same name is hidden while the built-in is registered (and logged).
func (s *Service) RegisterBuiltin(name, description string, fn BuiltinFunc) error {
	switch {
	case !strings.HasPrefix(name, BuiltinPrefix):
		return fmt.Errorf("lambda: built-in %q: name must start with %q", name, BuiltinPrefix)
	case !builtinNameRE.MatchString(name):
		return fmt.Errorf("lambda: built-in %q: name must be 1-64 letters, digits, '-' or '_'", name)
	case len(description) > 256:
		return fmt.Errorf("lambda: built-in %q: description longer than 256 characters", name)
	case fn == nil:
		return fmt.Errorf("lambda: built-in %q: nil function", name)
	}
	b := &builtin{name: name, description: description, fn: fn, registered: time.Now(), idle: map[string][]*logPipe{}}
	shadowed, err := s.reg.addBuiltin(b)
	if err != nil {
		return err
	}
	for _, region := range shadowed {
		s.log.Warn("lambda: a built-in function hides a user function of the same name", "function", name, "region", region)
	}
	return nil
}

// record builds the function record the built-in shows in region.
func (b *builtin) record(region string) *functionRecord {
	sum := sha256.Sum256([]byte(b.name))
	arch := "x86_64"
	if runtime.GOARCH == "arm64" {
		arch = "arm64"
	}
	latest := versionRecord{
		Version:          sluice.DefaultQualifier,
		Runtime:          builtinRuntime,
		Role:             builtinRole,
		Handler:          builtinHandler,
		Description:      b.description,
		Timeout:          builtinTimeout,
		MemorySize:       builtinMemory,
		Architectures:    []string{arch},
		EphemeralStorage: 512,
		Code:             codeInfo{Sha256: base64.StdEncoding.EncodeToString(sum[:])},
		LastModified:     b.registered,
		RevisionID:       uuid.NewSHA1(builtinRevisionSpace, []byte(b.name+"\x00"+b.description)).String(),
	}
	v1 := latest
	v1.Version = builtinVersion
	v1.RevisionID = uuid.NewSHA1(builtinRevisionSpace, []byte(b.name+"\x00"+b.description+"\x00"+builtinVersion)).String()
	return &functionRecord{
		Region:      region,
		Name:        b.name,
		Latest:      latest,
		Versions:    []versionRecord{v1},
		LastVersion: 1,
		Created:     b.registered,
		builtin:     b,
	}
}

// updateBuiltinEnvironment applies an UpdateFunctionConfiguration to a
// built-in: only Environment may change (sluice-cdn-invalidate reads its
// DistributionId from it, as the familiar Lambda recipe does).
func (s *Service) updateBuiltinEnvironment(w http.ResponseWriter, region, name string, in *updateConfigInput) error {
	if in.Environment == nil || in.Role != nil || in.Handler != nil || in.Runtime != nil || in.Description != nil ||
		in.Timeout != nil || in.MemorySize != nil || in.EphemeralStorage != nil || len(in.Layers) > 0 {
		return sluice.Errorf(sluice.ErrInvalidParameterValue, "%s is a built-in function of Sluice: only its Environment can be changed.", name)
	}
	env := in.Environment.Variables
	if env == nil {
		env = map[string]string{}
	}
	fn, err := s.reg.updateBuiltinEnv(region, name, env)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.configuration(fn, &fn.Latest, fn.arn()))
}

// builtinEnvKey is the context key of a built-in invocation's environment.
type builtinEnvKey struct{}

// BuiltinEnv returns the environment variables of the built-in function
// whose invocation ctx belongs to (set with UpdateFunctionConfiguration),
// or nil outside a built-in.
func BuiltinEnv(ctx context.Context) map[string]string {
	env, _ := ctx.Value(builtinEnvKey{}).(map[string]string)
	return env
}

// builtinImmutable is the answer to any change of a built-in.
func builtinImmutable(name string) *sluice.Error {
	return sluice.Errorf(sluice.ErrInvalidParameterValue, "%s is a built-in function of Sluice and cannot be modified.", name)
}

// builtinLogKey is the context key of an invocation's log.
type builtinLogKey struct{}

// builtinLog is one invocation's view of its log stream.
type builtinLog struct {
	pipe     *logPipe
	mu       sync.Mutex
	tail     []byte
	wantTail bool
}

func (l *builtinLog) add(msg string) {
	now := time.Now()
	l.pipe.add(msg, now)
	if l.wantTail {
		l.mu.Lock()
		l.tail = append(l.tail, msg...)
		l.tail = append(l.tail, '\n')
		if len(l.tail) > 4*sluice.MaxLogTail {
			l.tail = append(l.tail[:0], l.tail[len(l.tail)-sluice.MaxLogTail:]...)
		}
		l.mu.Unlock()
	}
}

// LogLine writes msg to the log of the built-in invocation ctx belongs to
// (/aws/lambda/NAME), one event per line. Outside a built-in it does nothing.
func LogLine(ctx context.Context, msg string) {
	l, _ := ctx.Value(builtinLogKey{}).(*builtinLog)
	if l == nil {
		return
	}
	for line := range strings.SplitSeq(strings.TrimRight(msg, "\n"), "\n") {
		for len(line) > maxLogLine {
			l.add(line[:maxLogLine])
			line = line[maxLogLine:]
		}
		l.add(line)
	}
}

// takeStream returns an idle log stream of the built-in in region, or a new
// one. Streams stand for Lambda's execution environments: one invocation
// at a time writes to a stream, so its lines are never interleaved.
func (b *builtin) takeStream(flusher *logFlusher, region, version string) *logPipe {
	key := region + "\x00" + version
	b.mu.Lock()
	if idle := b.idle[key]; len(idle) > 0 {
		lp := idle[len(idle)-1]
		b.idle[key] = idle[:len(idle)-1]
		b.mu.Unlock()
		return lp
	}
	b.mu.Unlock()
	return &logPipe{
		flusher: flusher,
		group:   "/aws/lambda/" + b.name,
		stream:  time.Now().UTC().Format("2006/01/02") + "/[" + version + "]" + randomHex(16),
	}
}

func (b *builtin) putStream(region, version string, lp *logPipe) {
	key := region + "\x00" + version
	b.mu.Lock()
	b.idle[key] = append(b.idle[key], lp)
	b.mu.Unlock()
}

// invokeBuiltin runs one invocation of a built-in in-process.
func (s *Service) invokeBuiltin(ctx context.Context, fn *functionRecord, ver *versionRecord, payload []byte, opts InvokeOptions) (*sluice.InvokeResult, error) {
	b := fn.builtin
	p := s.host.pool(fn.Name)
	if p == nil {
		return nil, sluice.Errorf(sluice.ErrServiceException, "the function host is shut down")
	}
	// A built-in reserves no concurrency: it shares the per-function cap
	// every function without reserved concurrency gets.
	if err := p.acquire(ctx, s.host.cfg.DefaultConcurrency, opts.Queue); err != nil {
		if e, ok := err.(*sluice.Error); ok && e.Code == sluice.ErrTooManyRequests {
			return nil, e.With("Reason", "ConcurrentInvocationLimitExceeded")
		}
		return nil, err
	}
	defer p.release()

	lp := b.takeStream(s.host.logs, fn.Region, ver.Version)
	timedOut := false
	defer func() {
		// A timed-out function may still be writing: its stream is retired,
		// as Lambda retires the environment of a timed-out invocation.
		if !timedOut {
			b.putStream(fn.Region, ver.Version, lp)
		}
	}()
	l := &builtinLog{pipe: lp, wantTail: opts.Tail}
	l.add("START RequestId: " + opts.RequestID + " Version: " + ver.Version)

	timeout := time.Duration(ver.Timeout) * time.Second
	fctx, cancel := context.WithTimeout(context.WithValue(context.WithValue(ctx, builtinLogKey{}, l), builtinEnvKey{}, ver.Env), timeout)
	defer cancel()
	type outcome struct {
		out []byte
		err error
	}
	done := make(chan outcome, 1)
	start := time.Now()
	go func() {
		defer func() {
			if v := recover(); v != nil {
				l.add(fmt.Sprintf("panic: %v\n%s", v, debug.Stack()))
				done <- outcome{err: &builtinPanic{v}}
			}
		}()
		out, err := b.fn(fctx, payload)
		done <- outcome{out, err}
	}()

	res := &sluice.InvokeResult{ExecutedVersion: ver.Version, RequestID: opts.RequestID}
	status := ""
	select {
	case o := <-done:
		switch {
		case o.err != nil:
			errType := errorTypeOf(o.err)
			if _, ok := o.err.(*builtinPanic); ok {
				errType = "Runtime.Panic"
			}
			res.FunctionError = "Unhandled"
			res.Payload = errorDoc(errType, o.err.Error())
			l.add(string(res.Payload))
		case len(o.out) > maxResponseSize:
			res.FunctionError = "Unhandled"
			res.Payload = errorDoc("Function.ResponseSizeTooLarge",
				fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxResponseSize))
			status = "error\tError Type: Function.ResponseSizeTooLarge"
		default:
			res.Payload = o.out
			if len(res.Payload) == 0 {
				res.Payload = []byte("null")
			}
		}
	case <-fctx.Done():
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		secs := fmt.Sprintf("%.2f", timeout.Seconds())
		end := time.Now()
		l.add(end.UTC().Format("2006-01-02T15:04:05.000Z") + " " + opts.RequestID + " Task timed out after " + secs + " seconds")
		res.FunctionError = "Unhandled"
		res.Payload = errorDoc("Sandbox.Timedout", "RequestId: "+opts.RequestID+" Error: Task timed out after "+secs+" seconds")
		status = "timeout"
		timedOut = true
	}
	dur := time.Since(start)
	l.add("END RequestId: " + opts.RequestID)
	report := "REPORT RequestId: " + opts.RequestID +
		"\tDuration: " + strconv.FormatFloat(ms(dur), 'f', 2, 64) + " ms" +
		"\tBilled Duration: " + strconv.FormatInt(int64(math.Ceil(ms(dur))), 10) + " ms" +
		"\tMemory Size: " + strconv.Itoa(ver.MemorySize) + " MB\t"
	if status != "" {
		report += "Status: " + status + "\t"
	}
	l.add(report)
	if opts.Tail {
		l.mu.Lock()
		t := l.tail
		if len(t) > sluice.MaxLogTail {
			t = t[len(t)-sluice.MaxLogTail:]
		}
		res.LogTail = append([]byte(nil), t...)
		l.mu.Unlock()
	}
	return res, nil
}

// builtinPanic is a panic of a built-in, reported as a function error.
type builtinPanic struct{ v any }

func (p *builtinPanic) Error() string { return fmt.Sprint(p.v) }

// errorTypeOf names an error as the Go runtime for Lambda does: its type's
// name, without the pointer.
func errorTypeOf(err error) string {
	var se *sluice.Error
	if errors.As(err, &se) && se.Code != "" {
		return string(se.Code)
	}
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() == "" {
		return "error"
	}
	return t.Name()
}
