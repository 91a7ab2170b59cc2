// Package lambda owns Sluice's Lambda-compatible function host: the function
// registry and Lambda API (service.go, api.go, ...) and the host that runs
// function instances as real OS processes behind a per-instance Runtime API
// (host.go, instance.go, runtimeapi.go, process*.go, memory*.go, watch.go).
//
// Concurrency: a Host is safe for concurrent use. Each instance runs one
// invocation at a time; the host starts more instances of a function, up to its
// concurrency limit, when invocations overlap. Every instance is a process
// group of its own started from one locked OS thread with a parent-death
// signal, so no function process outlives the host, even when the host is
// killed.
package lambda

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

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
	// Reaper is the command of the group reaper (see RunGroupReaper), which
	// kills what functions started if the host itself is killed; empty runs
	// without one. sluice serve sets it to its own hidden subcommand.
	Reaper []string
	// InitTimeout is Lambda's init phase (10 s). A runtime may take up to
	// InitTimeout plus the function's timeout to reach its first /next:
	// Lambda retries a longer init inside the invocation, within the
	// function's timeout.
	InitTimeout time.Duration
}

// DefaultHostConfig returns the defaults; Dir must still be set.
func DefaultHostConfig() HostConfig {
	return HostConfig{
		EndpointURL:        "http://127.0.0.1:4566",
		AccessKey:          sluice.DefaultAccessKey,
		SecretKey:          sluice.DefaultSecretKey,
		IdleTimeout:        5 * time.Minute,
		DefaultConcurrency: 10,
		InitTimeout:        10 * time.Second,
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
	case c.InitTimeout <= 0:
		return fmt.Errorf("lambda host: InitTimeout must be positive, got %s", c.InitTimeout)
	}
	return nil
}

// LogSink receives every line a function prints; the logs package implements it.
type LogSink interface {
	PutLogEvents(ctx context.Context, group, stream string, events []sluice.LogEvent) error
}

// Host runs function instances. See the package comment for its concurrency
// rules.
type Host struct {
	cfg     HostConfig
	sink    LogSink
	log     *slog.Logger
	spawner *spawner
	// groups kills what functions started should the host be killed; nil
	// when HostConfig.Reaper is empty.
	groups *groupReaper
	logs   *logFlusher
	watch  *watcher
	interp interpreters

	mu     sync.Mutex
	fns    map[string]*fnPool
	closed bool

	instances sync.WaitGroup // one per live instance, done when its process is reaped
	stop      chan struct{}
	reaperWG  sync.WaitGroup
}

// NewHost validates cfg and returns a Host with no instances running. A nil
// sink discards function logs.
func NewHost(cfg HostConfig, sink LogSink, log *slog.Logger) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Python == "" {
		cfg.Python, _ = exec.LookPath("python3")
	}
	if cfg.Node == "" {
		cfg.Node, _ = exec.LookPath("node")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("lambda host dir %q: %w", cfg.Dir, err)
	}
	cfg.Dir = dir
	if err := os.MkdirAll(filepath.Join(dir, "instances"), 0o755); err != nil {
		return nil, fmt.Errorf("create lambda host dir: %w", err)
	}
	runtimeDir, err := writeBootstraps(filepath.Join(dir, "runtime"))
	if err != nil {
		return nil, err
	}
	var groups *groupReaper
	if len(cfg.Reaper) > 0 {
		if groups, err = startGroupReaper(cfg.Reaper, log); err != nil {
			return nil, err
		}
	}
	h := &Host{
		cfg:     cfg,
		sink:    sink,
		log:     log,
		spawner: newSpawner(),
		groups:  groups,
		watch:   newWatcher(),
		fns:     make(map[string]*fnPool),
		stop:    make(chan struct{}),
	}
	h.interp.runtimeDir = runtimeDir
	h.interp.python, h.interp.node = cfg.Python, cfg.Node
	h.logs = newLogFlusher(sink, log)
	h.reaperWG.Add(1)
	go h.reap()
	return h, nil
}

// Invoke runs one invocation synchronously on a warm or new instance. Function errors (handled,
// unhandled, timeout "Task timed out after 3.00 seconds", Runtime.ExitError, init errors,
// Function.ResponseSizeTooLarge) are results with FunctionError set, not Go errors. Go errors are
// *sluice.Error: TooManyRequestsException (at the concurrency limit and !opts.Queue),
// ServiceException, or ctx errors.
func (h *Host) Invoke(ctx context.Context, spec *FunctionSpec, payload []byte, opts InvokeOptions) (*sluice.InvokeResult, error) {
	if spec == nil || spec.Name == "" {
		return nil, sluice.Errorf(sluice.ErrInvalidParameterValue, "function spec without a name")
	}
	if len(payload) > sluice.MaxSyncPayload {
		return nil, sluice.Errorf(sluice.ErrRequestTooLarge, "Request must be smaller than %d bytes for the InvokeFunction operation", sluice.MaxSyncPayload)
	}
	rt, err := parseRuntime(spec.Runtime)
	if err != nil {
		return nil, err
	}
	p := h.pool(spec.Name)
	if p == nil {
		return nil, sluice.Errorf(sluice.ErrServiceException, "the function host is shut down")
	}
	limit, reserved := spec.Concurrency, true
	if limit <= 0 {
		limit, reserved = h.cfg.DefaultConcurrency, false
	}
	if err := p.acquire(ctx, limit, opts.Queue); err != nil {
		if sluice.IsCode(err, sluice.ErrTooManyRequests) {
			reason := "ConcurrentInvocationLimitExceeded"
			if reserved {
				reason = "ReservedFunctionConcurrentInvocationLimitExceeded"
			}
			return nil, err.(*sluice.Error).With("Reason", reason)
		}
		return nil, err
	}
	defer p.release()

	if opts.RequestID == "" {
		opts.RequestID = uuid.NewString()
	}
	if len(payload) == 0 {
		// Lambda hands a function "{}" when the caller sent no payload.
		payload = emptyEvent
	}
	key := h.instanceKey(spec)
	var res *sluice.InvokeResult
	for retry := true; retry; {
		inst := p.takeIdle(key, spec.Version, limit)
		if inst == nil {
			inst, err = h.startInstance(p, spec, rt, key)
			if err != nil {
				p.dropped()
				return nil, err
			}
		}
		res, retry = inst.invoke(ctx, spec, payload, &opts)
		if !inst.reusable() {
			p.dropped()
			inst.stop()
		} else if !p.putIdle(inst) {
			inst.stop()
		}
	}
	if res == nil {
		return nil, ctx.Err()
	}
	res.ExecutedVersion = spec.Version
	if res.ExecutedVersion == "" {
		res.ExecutedVersion = sluice.DefaultQualifier
	}
	return res, nil
}

var emptyEvent = []byte("{}")

// Recycle stops every instance of the function (all versions); the next invoke starts fresh.
func (h *Host) Recycle(function string) {
	h.mu.Lock()
	p := h.fns[function]
	h.mu.Unlock()
	if p != nil {
		for _, inst := range p.retireAll() {
			inst.stop()
		}
	}
}

// Close stops every instance and waits for the processes to exit.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	pools := make([]*fnPool, 0, len(h.fns))
	for _, p := range h.fns {
		pools = append(pools, p)
	}
	h.mu.Unlock()
	close(h.stop)
	h.reaperWG.Wait()
	for _, p := range pools {
		p.shutdown()
		p.retireAll()
		// Busy instances too: their invocations end as runtime exits.
		for _, inst := range p.running() {
			inst.stop()
		}
	}
	h.instances.Wait()
	h.logs.close()
	h.spawner.close()
	h.groups.close()
	return nil
}

func (h *Host) pool(name string) *fnPool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	p := h.fns[name]
	if p == nil {
		p = &fnPool{name: name}
		h.fns[name] = p
	}
	return p
}

// instanceKey names everything that shapes a running process: two specs with
// the same key may share warm instances.
func (h *Host) instanceKey(spec *FunctionSpec) string {
	var b strings.Builder
	b.Grow(128)
	for _, s := range []string{spec.Version, spec.Runtime, spec.Handler, spec.CodeDir, spec.CodeRevision, spec.ARN, spec.Region} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	b.WriteString(strconv.Itoa(spec.MemoryMB))
	b.WriteByte(0)
	if len(spec.Env) > 0 {
		keys := make([]string, 0, len(spec.Env))
		for k := range spec.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(spec.Env[k])
			b.WriteByte(0)
		}
	}
	if spec.WatchCode {
		b.WriteString(h.watch.fingerprint(spec.CodeDir))
	}
	return b.String()
}

// reap stops instances idle longer than IdleTimeout.
func (h *Host) reap() {
	defer h.reaperWG.Done()
	every := h.cfg.IdleTimeout / 4
	every = min(max(every, 10*time.Millisecond), 5*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case now := <-t.C:
			h.mu.Lock()
			pools := make([]*fnPool, 0, len(h.fns))
			for _, p := range h.fns {
				pools = append(pools, p)
			}
			h.mu.Unlock()
			for _, p := range pools {
				for _, inst := range p.takeExpired(now.Add(-h.cfg.IdleTimeout)) {
					inst.stop()
				}
			}
		}
	}
}

// fnPool holds one function's instances (every version) and counts its
// invocations in flight against its concurrency limit.
type fnPool struct {
	name string

	mu       sync.Mutex
	inflight int
	waiters  []chan struct{}        // FIFO of queued invocations; a slot is handed over by closing
	idle     []*instance            // warm instances, most recently used last
	live     int                    // instances started and not yet stopped
	all      map[*instance]struct{} // every instance whose process may run, busy or idle
	gen      uint64                 // bumped by Recycle: instances of older generations are not reused
	down     bool
}

func (p *fnPool) acquire(ctx context.Context, limit int, queue bool) error {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		return sluice.Errorf(sluice.ErrServiceException, "the function host is shut down")
	}
	if p.inflight < limit && len(p.waiters) == 0 {
		p.inflight++
		p.mu.Unlock()
		return nil
	}
	if !queue {
		p.mu.Unlock()
		return sluice.Errorf(sluice.ErrTooManyRequests, "Rate Exceeded.")
	}
	w := make(chan struct{})
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()
	select {
	case <-w:
		return p.checkDown()
	case <-ctx.Done():
		p.mu.Lock()
		for i, x := range p.waiters {
			if x == w {
				p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
				p.mu.Unlock()
				return ctx.Err()
			}
		}
		p.mu.Unlock()
		// The slot was handed over as we gave up: pass it on.
		p.release()
		return ctx.Err()
	}
}

func (p *fnPool) checkDown() error {
	p.mu.Lock()
	down := p.down
	p.mu.Unlock()
	if down {
		p.release()
		return sluice.Errorf(sluice.ErrServiceException, "the function host is shut down")
	}
	return nil
}

// release frees an invocation slot, handing it to the longest waiter.
func (p *fnPool) release() {
	p.mu.Lock()
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		close(w)
		return
	}
	p.inflight--
	p.mu.Unlock()
}

// takeIdle pops the most recently used warm instance with key. Idle instances
// of the same version with another key are stale (code or configuration
// changed) and are stopped; if the pool is at its limit, an idle instance of
// another version makes room.
func (p *fnPool) takeIdle(key, version string, limit int) *instance {
	var stale []*instance
	var found *instance
	p.mu.Lock()
	for i := len(p.idle) - 1; i >= 0; i-- {
		inst := p.idle[i]
		switch {
		case inst.gen != p.gen || !inst.alive():
		case inst.key == key:
			// Every warm instance of this code stays; the newest is taken.
			if found == nil {
				found = inst
			}
			continue
		case inst.version != version:
			continue
		}
		if inst != found {
			stale = append(stale, inst)
		}
	}
	if len(stale) > 0 || found != nil {
		kept := p.idle[:0]
		for _, inst := range p.idle {
			if inst != found && !containsInst(stale, inst) {
				kept = append(kept, inst)
			}
		}
		clear(p.idle[len(kept):])
		p.idle = kept
	}
	p.live -= len(stale)
	if found == nil && p.live >= limit && len(p.idle) > 0 {
		// Make room: the oldest idle instance of another version goes.
		stale = append(stale, p.idle[0])
		p.idle[0] = nil
		p.idle = p.idle[1:]
		p.live--
	}
	if found == nil {
		p.live++ // the caller starts one
	}
	p.mu.Unlock()
	for _, inst := range stale {
		inst.stop()
	}
	return found
}

func containsInst(list []*instance, inst *instance) bool {
	for _, x := range list {
		if x == inst {
			return true
		}
	}
	return false
}

// putIdle parks a warm instance; false means it must be stopped instead.
func (p *fnPool) putIdle(inst *instance) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down || inst.gen != p.gen {
		p.live--
		return false
	}
	inst.idleSince = time.Now()
	p.idle = append(p.idle, inst)
	return true
}

// dropped accounts for an instance that will not come back to the pool.
func (p *fnPool) dropped() {
	p.mu.Lock()
	p.live--
	p.mu.Unlock()
}

func (p *fnPool) takeExpired(before time.Time) []*instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*instance
	kept := p.idle[:0]
	for _, inst := range p.idle {
		if inst.idleSince.Before(before) || !inst.alive() {
			out = append(out, inst)
			continue
		}
		kept = append(kept, inst)
	}
	clear(p.idle[len(kept):])
	p.idle = kept
	p.live -= len(out)
	return out
}

func (p *fnPool) retireAll() []*instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	out := p.idle
	p.idle = nil
	p.live -= len(out)
	return out
}

func (p *fnPool) track(inst *instance) {
	p.mu.Lock()
	if p.all == nil {
		p.all = make(map[*instance]struct{})
	}
	p.all[inst] = struct{}{}
	p.mu.Unlock()
}

func (p *fnPool) untrack(inst *instance) {
	p.mu.Lock()
	delete(p.all, inst)
	p.mu.Unlock()
}

func (p *fnPool) running() []*instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*instance, 0, len(p.all))
	for inst := range p.all {
		out = append(out, inst)
	}
	return out
}

func (p *fnPool) shutdown() {
	p.mu.Lock()
	p.down = true
	ws := p.waiters
	p.waiters = nil
	p.inflight += len(ws) // each woken waiter releases its slot in checkDown
	p.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
}
