package lambda

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
)

// Bounds on the host's own waits around a process; none of them is on the
// path of a healthy invocation.
const (
	drainLimit = 250 * time.Millisecond // pipe catch-up after a runtime answered
	exitLimit  = 2 * time.Second        // a SIGKILLed process group to be reaped
)

// instance is one running function process with its own Runtime API
// endpoint. It runs one invocation at a time: the host hands an invocation to
// the runtime's blocked /next through invq and waits for the runtime's answer
// on the invocation's done channel.
type instance struct {
	h        *Host
	pool     *fnPool
	key      string
	version  string
	gen      uint64
	id       string
	group    string
	stream   string
	rt       runtimeInfo
	memoryMB int
	tmpDir   string

	cmd  *exec.Cmd
	pid  atomic.Int64 // set once the process runs
	out  *logPipe
	srv  *http.Server
	addr string

	started   time.Time
	warm      bool        // an invocation ran: the next one is not a cold start
	idleSince time.Time   // guarded by pool.mu
	timer     *time.Timer // the invocation deadline, reused
	peakMem   atomic.Uint64

	invq      chan *invocation // unbuffered: a send completes when /next takes the invocation
	readyOnce sync.Once
	readyCh   chan struct{} // closed at the runtime's first /next
	readyAt   time.Time     // set before readyCh closes
	initErr   *runtimeError // set before initErrCh closes
	initOnce  sync.Once
	initErrCh chan struct{}
	startErr  *runtimeError // the process could not be started (bad entry point)
	exitErr   error         // set before exited closes
	exited    chan struct{}
	stopping  chan struct{}
	stopOnce  sync.Once
	waitDone  chan struct{}

	mu     sync.Mutex // guards cur and broken
	cur    *invocation
	broken bool
}

// runtimeError is an error document a runtime reported (init error) or the
// host produced (exit, bad entry point).
type runtimeError struct {
	errType string
	body    []byte
}

// invocation is one request travelling through an instance.
type invocation struct {
	id            string
	payload       []byte
	arn           string
	clientContext string
	traceID       string
	deadline      time.Time
	version       string
	done          chan struct{}

	// Set by the runtime API before done closes.
	result   []byte
	errType  string
	isError  bool
	tooLarge bool

	wantTail bool
	tail     []byte // guarded by the instance's logPipe.mu
}

func (inv *invocation) appendTail(msg string) {
	inv.tail = append(inv.tail, msg...)
	inv.tail = append(inv.tail, '\n')
	if len(inv.tail) > 4*sluice.MaxLogTail {
		n := copy(inv.tail, inv.tail[len(inv.tail)-sluice.MaxLogTail:])
		inv.tail = inv.tail[:n]
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// startInstance starts a new instance's process and Runtime API. It returns
// once the process runs; the runtime initialises while the caller hands it
// the first invocation.
func (h *Host) startInstance(p *fnPool, spec *FunctionSpec, rt runtimeInfo, key string) (*instance, error) {
	path, args, err := h.command(spec, rt)
	if err != nil {
		return nil, err
	}
	// Counted before anything is started, under the lock Close takes, so
	// Close never misses an instance.
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, sluice.Errorf(sluice.ErrServiceException, "the function host is shut down")
	}
	h.instances.Add(1)
	h.mu.Unlock()
	handedOver := false
	defer func() {
		if !handedOver {
			h.instances.Done()
		}
	}()
	version := spec.Version
	if version == "" {
		version = sluice.DefaultQualifier
	}
	in := &instance{
		h:         h,
		pool:      p,
		key:       key,
		version:   version,
		id:        randomHex(16),
		group:     "/aws/lambda/" + spec.Name,
		rt:        rt,
		memoryMB:  spec.MemoryMB,
		invq:      make(chan *invocation),
		readyCh:   make(chan struct{}),
		initErrCh: make(chan struct{}),
		exited:    make(chan struct{}),
		stopping:  make(chan struct{}),
		waitDone:  make(chan struct{}),
	}
	if in.memoryMB <= 0 {
		in.memoryMB = sluice.DefaultMemoryMB
	}
	p.mu.Lock()
	in.gen = p.gen
	p.mu.Unlock()
	in.stream = time.Now().UTC().Format("2006/01/02") + "/[" + version + "]" + in.id
	in.tmpDir = filepath.Join(h.cfg.Dir, "instances", in.id)
	if err := os.MkdirAll(in.tmpDir, 0o700); err != nil {
		return nil, sluice.Wrap(sluice.ErrServiceException, err, "could not prepare the function's execution environment")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(in.tmpDir)
		return nil, sluice.Wrap(sluice.ErrServiceException, err, "could not start the function's runtime API")
	}
	in.addr = ln.Addr().String()
	in.out, err = newLogPipe(h.logs, in.group, in.stream)
	if err == nil {
		in.out.memory = in.measureMemory
	}
	if err != nil {
		ln.Close()
		os.RemoveAll(in.tmpDir)
		return nil, sluice.Wrap(sluice.ErrServiceException, err, "could not capture the function's output")
	}
	in.srv = &http.Server{
		Handler:           in,
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	in.timer = time.NewTimer(time.Hour)
	in.timer.Stop()
	go in.srv.Serve(ln)
	go in.out.read()

	cmd := exec.Command(path, args...)
	cmd.Dir = spec.CodeDir
	cmd.Env = h.environ(spec, rt, in, in.addr)
	cmd.Stdout = in.out.w
	cmd.Stderr = in.out.w
	in.cmd = cmd
	in.started = time.Now()
	p.track(in)
	if err := h.spawner.start(cmd); err != nil {
		if errors.Is(err, errSpawnerClosed) {
			in.cleanup()
			return nil, sluice.Errorf(sluice.ErrServiceException, "the function host is shut down")
		}
		in.startErr = entrypointError(path, err)
		in.exitErr = err
		close(in.exited)
		handedOver = true
		go func() {
			in.cleanup()
			h.instances.Done()
		}()
		return in, nil
	}
	in.pid.Store(int64(cmd.Process.Pid))
	h.groups.watch(cmd.Process.Pid)
	select {
	case <-in.stopping:
		// stop ran before the pid was known.
		killGroup(cmd.Process.Pid)
	default:
	}
	handedOver = true
	go in.wait()
	p.mu.Lock()
	down := p.down
	p.mu.Unlock()
	if down {
		// Close ran while this instance was starting.
		in.stop()
	}
	return in, nil
}

func entrypointError(path string, err error) *runtimeError {
	var msg string
	switch {
	case errors.Is(err, os.ErrNotExist):
		msg = fmt.Sprintf("Couldn't find valid bootstrap(s): [%s]", path)
	default:
		msg = err.Error()
	}
	return &runtimeError{errType: "Runtime.InvalidEntrypoint", body: []byte(msg)}
}

// wait reaps the process, then takes down what it leaves behind.
func (in *instance) wait() {
	err := in.cmd.Wait()
	// Children the function started die with it.
	killGroup(int(in.pid.Load()))
	in.h.groups.forget(int(in.pid.Load()))
	in.exitErr = err
	close(in.exited)
	in.cleanup()
	in.h.instances.Done()
}

func (in *instance) cleanup() {
	in.out.closeWrite()
	in.out.waitEOF(exitLimit)
	in.srv.Close()
	os.RemoveAll(in.tmpDir)
	in.mu.Lock()
	in.broken = true
	in.mu.Unlock()
	in.pool.untrack(in)
	close(in.waitDone)
}

// stop kills the instance's process group; the wait goroutine cleans up.
func (in *instance) stop() {
	in.stopOnce.Do(func() {
		close(in.stopping)
		in.mu.Lock()
		in.broken = true
		in.mu.Unlock()
		select {
		case <-in.exited:
		default:
			killGroup(int(in.pid.Load()))
		}
	})
}

func (in *instance) alive() bool {
	select {
	case <-in.exited:
		return false
	case <-in.stopping:
		return false
	default:
		return true
	}
}

func (in *instance) reusable() bool {
	in.mu.Lock()
	broken := in.broken
	in.mu.Unlock()
	return !broken && in.alive()
}

func (in *instance) markBroken() {
	in.mu.Lock()
	in.broken = true
	in.mu.Unlock()
}

// invoke runs one invocation on the instance. It returns nil only when ctx
// ended first.
//
// retry reports an invocation that never reached the runtime because its
// warm process had exited; the caller runs it on a fresh instance.
func (in *instance) invoke(ctx context.Context, spec *FunctionSpec, payload []byte, opts *InvokeOptions) (res *sluice.InvokeResult, retry bool) {
	inv := &invocation{
		id:            opts.RequestID,
		payload:       payload,
		arn:           invokedARN(spec),
		clientContext: opts.ClientContext,
		traceID:       traceID(),
		done:          make(chan struct{}),
		wantTail:      opts.Tail,
	}
	timeout := spec.Timeout
	if timeout <= 0 {
		timeout = sluice.DefaultTimeout
	}
	inv.version = in.version
	var initDur time.Duration
	cold := !in.warm
	in.warm = true
	if cold {
		// What the runtime prints while it initialises belongs to the log of
		// the invocation that waits for it.
		in.out.attribute(inv)
		// An init phase longer than Lambda's 10 seconds is not an error on
		// its own: Lambda then initialises again inside the invocation,
		// within the function's timeout. Letting this init go on for that
		// long is the same budget without starting twice.
		if fail := in.awaitReady(ctx, in.h.cfg.InitTimeout+timeout); fail != nil {
			return in.initFailed(ctx, inv, fail), false
		}
		initDur = in.readyAt.Sub(in.started)
		in.out.drain(drainLimit)
		if over := initDur - in.h.cfg.InitTimeout; over > 0 {
			timeout -= over
			if timeout < time.Millisecond {
				timeout = time.Millisecond
			}
		}
	}

	start := time.Now()
	inv.deadline = start.Add(timeout)
	in.mu.Lock()
	in.cur = inv
	in.mu.Unlock()

	in.timer.Reset(timeout)
	var outcome string
	delivered := false
	select {
	case in.invq <- inv:
		// The runtime's /next wrote START and owns the log from here.
		delivered = true
		select {
		case <-inv.done:
		case <-in.timer.C:
			outcome = "timeout"
		case <-in.exited:
			outcome = "exit"
		case <-ctx.Done():
			outcome = "cancel"
		}
	case <-in.timer.C:
		outcome = "timeout"
	case <-in.exited:
		outcome = "exit"
	case <-in.stopping:
		outcome = "exit"
	case <-ctx.Done():
		outcome = "cancel"
	}
	in.timer.Stop()
	if outcome != "" {
		select {
		case <-inv.done:
			// The answer won the race against the deadline or the exit.
			outcome = ""
		default:
		}
	}
	if outcome != "" {
		in.mu.Lock()
		if in.cur == inv {
			in.cur = nil
		}
		in.broken = true
		in.mu.Unlock()
	}
	if !delivered {
		if !cold && outcome == "exit" {
			// A warm runtime that exited before taking the invocation (it
			// crashed after its last answer): the invocation never ran, so
			// it goes to a fresh instance.
			return nil, true
		}
		in.out.startInvocation(inv, start)
	}
	end := time.Now()
	dur := end.Sub(start)

	res = &sluice.InvokeResult{RequestID: inv.id}
	status := ""
	switch outcome {
	case "":
		in.out.drain(drainLimit)
		switch {
		case inv.tooLarge:
			res.FunctionError = "Unhandled"
			res.Payload = errorDoc("Function.ResponseSizeTooLarge",
				fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxResponseSize))
			status = "error\tError Type: Function.ResponseSizeTooLarge"
		case inv.isError:
			res.FunctionError = "Unhandled"
			res.Payload = inv.result
		default:
			res.Payload = inv.result
		}
	case "timeout":
		in.measureMemory()
		killGroup(int(in.pid.Load()))
		in.awaitExit()
		secs := fmt.Sprintf("%.2f", timeout.Seconds())
		in.out.add(end.UTC().Format("2006-01-02T15:04:05.000Z")+" "+inv.id+" Task timed out after "+secs+" seconds", end)
		res.FunctionError = "Unhandled"
		res.Payload = errorDoc("Sandbox.Timedout", "RequestId: "+inv.id+" Error: Task timed out after "+secs+" seconds")
		status = "timeout"
	case "exit":
		in.awaitExit()
		msg := "RequestId: " + inv.id + " Error: " + exitMessage(in.exitErr)
		in.out.add(msg, time.Now())
		in.out.add("Runtime.ExitError", time.Now())
		res.FunctionError = "Unhandled"
		res.Payload = errorDoc("Runtime.ExitError", msg)
		status = "error\tError Type: Runtime.ExitError"
	case "cancel":
		killGroup(int(in.pid.Load()))
		in.awaitExit()
		status = "error\tError Type: Runtime.Cancelled"
	}
	in.finishLog(inv, dur, initDur, cold, status, end)
	if outcome == "cancel" {
		return nil, false
	}
	if inv.wantTail {
		res.LogTail = in.tail(inv)
	}
	return res, false
}

// awaitReady waits up to budget for the runtime's first /next. A non-nil
// result says why it never came.
func (in *instance) awaitReady(ctx context.Context, budget time.Duration) *runtimeError {
	if in.startErr != nil {
		return in.startErr
	}
	t := time.NewTimer(budget)
	defer t.Stop()
	select {
	case <-in.readyCh:
		return nil
	case <-in.initErrCh:
		return in.initErr
	case <-in.exited:
		select {
		case <-in.initErrCh:
			return in.initErr
		default:
		}
		in.out.waitEOF(drainLimit)
		return &runtimeError{errType: "Runtime.ExitError", body: []byte(exitMessage(in.exitErr))}
	case <-in.stopping:
		return &runtimeError{errType: "Runtime.ExitError", body: []byte("Runtime exited without providing a reason")}
	case <-t.C:
		return &runtimeError{errType: "Sandbox.Timedout", body: []byte(fmt.Sprintf("Task timed out after %.2f seconds", budget.Seconds()))}
	case <-ctx.Done():
		return &runtimeError{errType: "Runtime.Cancelled", body: []byte(ctx.Err().Error())}
	}
}

// initFailed turns a failed initialisation into the invocation's result, as
// Lambda reports it: the runtime's own error document when it posted one to
// /init/error, else an error built from what the host saw.
func (in *instance) initFailed(ctx context.Context, inv *invocation, fail *runtimeError) *sluice.InvokeResult {
	in.markBroken()
	now := time.Now()
	initDur := now.Sub(in.started)
	select {
	case <-in.exited:
		in.out.waitEOF(drainLimit)
	default:
		in.stop()
		in.awaitExit()
	}
	var payload []byte
	errType := fail.errType
	switch {
	case fail == in.initErr:
		payload = fail.body
		if !json.Valid(payload) || len(payload) == 0 {
			payload = errorDoc(errType, string(fail.body))
		} else if errType == "" {
			var doc struct {
				ErrorType string `json:"errorType"`
			}
			json.Unmarshal(payload, &doc)
			errType = doc.ErrorType
		}
	default:
		msg := "RequestId: " + inv.id + " Error: " + string(fail.body)
		payload = errorDoc(errType, msg)
		in.out.add(msg, now)
		in.out.add(errType, now)
	}
	if errType == "" {
		errType = "Runtime.Unknown"
	}
	in.out.add(fmt.Sprintf("INIT_REPORT Init Duration: %.2f ms\tPhase: init\tStatus: error\tError Type: %s", ms(initDur), errType), now)
	in.out.startInvocation(inv, now)
	in.finishLog(inv, 0, 0, false, "error\tError Type: "+errType, now)
	if ctx.Err() != nil && errType == "Runtime.Cancelled" {
		return nil
	}
	res := &sluice.InvokeResult{RequestID: inv.id, FunctionError: "Unhandled", Payload: payload}
	if inv.wantTail {
		res.LogTail = in.tail(inv)
	}
	return res
}

// finishLog writes END and REPORT and detaches the invocation from the log.
// Max Memory Used is read from /proc; unless the caller waits for the tail,
// the log flusher reads it, off the invocation's path.
func (in *instance) finishLog(inv *invocation, dur, initDur time.Duration, cold bool, status string, now time.Time) {
	prefix := make([]byte, 0, 128)
	prefix = append(prefix, "REPORT RequestId: "...)
	prefix = append(prefix, inv.id...)
	prefix = append(prefix, "\tDuration: "...)
	prefix = strconv.AppendFloat(prefix, ms(dur), 'f', 2, 64)
	prefix = append(prefix, " ms\tBilled Duration: "...)
	prefix = strconv.AppendInt(prefix, int64(math.Ceil(ms(dur))), 10)
	prefix = append(prefix, " ms\tMemory Size: "...)
	prefix = strconv.AppendInt(prefix, int64(in.memoryMB), 10)
	prefix = append(prefix, " MB\tMax Memory Used: "...)
	suffix := make([]byte, 0, 64)
	suffix = append(suffix, " MB\t"...)
	if cold {
		suffix = append(suffix, "Init Duration: "...)
		suffix = strconv.AppendFloat(suffix, ms(initDur), 'f', 2, 64)
		suffix = append(suffix, " ms\t"...)
	}
	if status != "" {
		suffix = append(suffix, "Status: "...)
		suffix = append(suffix, status...)
		suffix = append(suffix, '\t')
	}
	in.out.add("END RequestId: "+inv.id, now)
	if inv.wantTail || status != "" {
		in.out.add(reportLine(string(prefix), in.measureMemory(), string(suffix)), now)
	} else {
		in.out.addReport(string(prefix), string(suffix), now)
	}
	in.out.attribute(nil)
}

func reportLine(prefix string, mem uint64, suffix string) string {
	return prefix + strconv.FormatUint((mem+(1<<20)-1)>>20, 10) + suffix
}

func (in *instance) tail(inv *invocation) []byte {
	in.out.mu.Lock()
	defer in.out.mu.Unlock()
	t := inv.tail
	if len(t) > sluice.MaxLogTail {
		t = t[len(t)-sluice.MaxLogTail:]
	}
	return append([]byte(nil), t...)
}

// measureMemory samples the process tree's peak resident memory; it keeps the
// highest figure seen, since processes that already exited take theirs along.
func (in *instance) measureMemory() uint64 {
	if pid := int(in.pid.Load()); pid > 0 {
		if m := treePeakRSS(pid); m > in.peakMem.Load() {
			in.peakMem.Store(m)
		}
	}
	return in.peakMem.Load()
}

// awaitExit waits for a killed process to be reaped and its output read.
func (in *instance) awaitExit() {
	t := time.NewTimer(exitLimit)
	defer t.Stop()
	select {
	case <-in.waitDone:
	case <-t.C:
	}
}

func exitMessage(err error) string {
	if err == nil {
		return "Runtime exited without providing a reason"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return "Runtime exited with error: " + ee.Error()
	}
	return "Runtime exited with error: " + err.Error()
}

// errorDoc is the error document Lambda itself returns for errors it detects.
func errorDoc(errType, msg string) []byte {
	b, _ := json.Marshal(struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}{errType, msg})
	return b
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func invokedARN(spec *FunctionSpec) string {
	arn := spec.ARN
	if arn == "" {
		region := spec.Region
		if region == "" {
			region = sluice.DefaultRegion
		}
		arn = "arn:aws:lambda:" + region + ":000000000000:function:" + spec.Name
	}
	if spec.Version != "" && spec.Version != sluice.DefaultQualifier {
		arn += ":" + spec.Version
	}
	return arn
}

// traceID makes an X-Ray trace header for the invocation.
func traceID() string {
	var b [20]byte
	rand.Read(b[:])
	return "Root=1-" + strconv.FormatInt(time.Now().Unix(), 16) + "-" + hex.EncodeToString(b[:12]) +
		";Parent=" + hex.EncodeToString(b[12:]) + ";Sampled=0"
}
