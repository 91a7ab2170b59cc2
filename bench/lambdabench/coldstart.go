package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// coldKinds are the cold starts the bench can measure.
var coldKinds = map[string]string{
	"sluice-go":     "sluice, Go (provided.al2023)",
	"sluice-python": "sluice, Python",
	"rie-go":        "emulator, Go",
}

// coldResult is one kind of cold start over all its runs.
type coldResult struct {
	kind     string
	lat      []time.Duration // Invoke sent → response read
	inits    []float64       // REPORT Init Duration, ms
	durs     []float64       // REPORT Duration, ms
	errors   int
	firstErr string
}

func (c *coldResult) fail(err error) {
	c.errors++
	if c.firstErr == "" {
		c.firstErr = err.Error()
	}
}

// coldEnv is what the cold-start runs need from the rest of the bench.
type coldEnv struct {
	cfg       Config
	sluice    *benchkit.Proc
	admin     *admin
	goZip     []byte
	pyZip     []byte
	pyRuntime string
	payload   []byte
	workDir   string
}

// runCold measures every kind cfg.ColdRuns times, the kinds taking turns
// run by run so that drifting load hits them alike. Each Sluice run creates
// a new function (waiting until it is Active), times its first Invoke, reads
// the invocation's REPORT line through the logs API and deletes the
// function. Each emulator run starts a new emulator, waits until it accepts
// connections (the emulator starts the function's process on the first
// invocation, as Lambda does), times the first invocation and stops it.
// Every first invocation goes over a new connection, as a fresh CLI
// invocation would.
func runCold(ctx context.Context, e coldEnv) ([]coldResult, error) {
	res := make([]coldResult, len(e.cfg.Cold))
	for i, k := range e.cfg.Cold {
		res[i].kind = k
	}
	for run := range e.cfg.ColdRuns {
		for i, k := range e.cfg.Cold {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("interrupted")
			}
			var err error
			switch k {
			case "sluice-go":
				err = coldSluice(ctx, e, &res[i], fmt.Sprintf("cold-go-%02d", run), "provided.al2023", "bootstrap", e.goZip)
			case "sluice-python":
				err = coldSluice(ctx, e, &res[i], fmt.Sprintf("cold-py-%02d", run), e.pyRuntime, "app.handler", e.pyZip)
			case "rie-go":
				err = coldRIE(ctx, e, &res[i], run)
			}
			if err != nil {
				return nil, fmt.Errorf("cold start %s run %d: %w", k, run+1, err)
			}
		}
	}
	for _, r := range res {
		p50, p99 := percentiles(r.lat)
		init50, _ := benchkit.FloatPercentile(r.inits, 50)
		benchkit.Logf("cold %-14s %2d runs  p50 %7.2f ms  p99 %7.2f ms  Init Duration p50 %7.2f ms  errors %d %s",
			r.kind, len(r.lat), benchkit.Ms(p50), benchkit.Ms(p99), init50, r.errors, r.firstErr)
	}
	return res, nil
}

// coldSluice measures one cold start of a new function on Sluice. Setup
// failures end the run; a failed invocation is counted as an error.
func coldSluice(ctx context.Context, e coldEnv, r *coldResult, name, runtime, handler string, zipFile []byte) error {
	if !e.sluice.Alive() {
		return fmt.Errorf("sluice died (%s); log tail:\n%s", e.sluice.ExitReason(), e.sluice.LogTail(20))
	}
	if err := e.admin.createFunction(ctx, name, runtime, handler, zipFile); err != nil {
		return err
	}
	defer func() {
		if err := e.admin.deleteFunction(context.WithoutCancel(ctx), name); err != nil {
			benchkit.Logf("delete %s: %v", name, err)
		}
	}()
	tr := benchkit.NewTransport(1)
	defer tr.CloseIdleConnections()
	iv := newInvoker(e.sluice.BaseURL()+"/2015-03-31/functions/"+name+"/invocations", tr, e.cfg, true, e.payload)
	t0 := time.Now()
	id, err := iv.invoke(ctx)
	lat := time.Since(t0)
	if err != nil {
		r.fail(err)
		return nil
	}
	r.lat = append(r.lat, lat)
	line, err := e.admin.awaitReport(ctx, name, id, t0)
	if err != nil {
		r.fail(err)
		return nil
	}
	rep, ok := parseReport(line)
	if !ok || !rep.hasInit {
		r.fail(fmt.Errorf("REPORT line without Init Duration: %q", line))
		return nil
	}
	r.inits = append(r.inits, rep.initDur)
	r.durs = append(r.durs, rep.duration)
	return nil
}

// coldRIE measures one cold start on a new emulator process.
func coldRIE(ctx context.Context, e coldEnv, r *coldResult, run int) error {
	p, err := startRIE(e.cfg, filepath.Join(e.workDir, fmt.Sprintf("rie-cold-%02d", run)))
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = p.Stop()
		}
		if !e.cfg.Keep {
			_ = os.RemoveAll(p.Dir())
		}
	}()
	if err := p.WaitReady(ctx, e.cfg.ReadyWait, benchkit.TCPAccepts(p.Addr())); err != nil {
		return err
	}
	tr := benchkit.NewTransport(1)
	defer tr.CloseIdleConnections()
	iv := newInvoker(p.BaseURL()+rieInvokePath, tr, e.cfg, false, e.payload)
	t0 := time.Now()
	_, err = iv.invoke(ctx)
	lat := time.Since(t0)
	if err != nil {
		r.fail(err)
		return nil
	}
	r.lat = append(r.lat, lat)
	stopped = true
	if err := p.Stop(); err != nil {
		benchkit.Logf("stop %s: %v", p.Name(), err)
	}
	b, err := os.ReadFile(p.LogPath())
	if err != nil {
		return err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rep, ok := parseReport(l); ok && rep.hasInit {
			r.inits = append(r.inits, rep.initDur)
			r.durs = append(r.durs, rep.duration)
			return nil
		}
	}
	r.fail(fmt.Errorf("no REPORT line with Init Duration in the emulator's output"))
	return nil
}

// startRIE starts the emulator the way its documentation runs it outside a
// container, `aws-lambda-rie BOOTSTRAP`, with AWS_LAMBDA_RUNTIME_API unset
// (set, the binary would act as a runtime API client instead) and both its
// listeners on free loopback ports: the invoke endpoint
// (--runtime-interface-emulator-address, default 0.0.0.0:8080) and the
// Runtime API its bootstrap talks to (--runtime-api-address, default
// 127.0.0.1:9001).
func startRIE(cfg Config, dir string) (*benchkit.Proc, error) {
	addr, err := benchkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	rapi, err := benchkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	echo, err := filepath.Abs(cfg.EchoBin)
	if err != nil {
		return nil, err
	}
	args := []string{"--log-level", "error", "--runtime-interface-emulator-address", addr, "--runtime-api-address", rapi, echo}
	// AWS_LAMBDA_MAX_CONCURRENCY would switch the binary to its Lambda
	// Managed Instances mode.
	env := benchkit.EnvironWithout("AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_MAX_CONCURRENCY", "LOG_LEVEL")
	return benchkit.Start(benchkit.Spec{Name: "rie", Bin: cfg.RIEBin, Args: args, Env: env, Dir: dir, Addr: addr})
}

// probeRIEConcurrency starts a throwaway emulator, warms it, then sends
// callers invocations at once, twice, and reports what became of it. The
// emulator has one execution environment; whether it queues, refuses or
// fails concurrent invocations decides how its multi-caller row is run.
func probeRIEConcurrency(ctx context.Context, cfg Config, workDir string, callers int, payload []byte) (probe rieProbe, err error) {
	p, err := startRIE(cfg, filepath.Join(workDir, "rie-probe"))
	if err != nil {
		return probe, err
	}
	defer func() {
		_ = p.Stop()
		if !cfg.Keep {
			_ = os.RemoveAll(p.Dir())
		}
	}()
	if err := p.WaitReady(ctx, cfg.ReadyWait, benchkit.TCPAccepts(p.Addr())); err != nil {
		return probe, err
	}
	tr := benchkit.NewTransport(callers)
	defer tr.CloseIdleConnections()
	iv := newInvoker(p.BaseURL()+rieInvokePath, tr, cfg, false, payload)
	for range 3 {
		if _, err := iv.invoke(ctx); err != nil {
			return probe, fmt.Errorf("warm the emulator: %w", err)
		}
	}
	ok, failed := 0, 0
	var first string
	for range 2 {
		errs := make(chan error, callers)
		for range callers {
			go func() { _, err := iv.invoke(ctx); errs <- err }()
		}
		for range callers {
			if err := <-errs; err != nil {
				failed++
				if first == "" {
					first = err.Error()
				}
			} else {
				ok++
			}
		}
		if !p.Alive() {
			break
		}
	}
	// A crash may land just after the last answer.
	select {
	case <-p.Exited():
	case <-time.After(300 * time.Millisecond):
	}
	if !p.Alive() {
		probe.summary = fmt.Sprintf("the emulator process died (%s) after %d of %d concurrent invocations were answered; its output: `%s`",
			p.ExitReason(), ok, ok+failed, firstPanicLine(p.LogTail(80)))
		return probe, nil
	}
	if failed > 0 {
		probe.summary = fmt.Sprintf("the emulator survived but failed %d of %d concurrent invocations (first: %s)", failed, ok+failed, first)
		return probe, nil
	}
	probe.summary = fmt.Sprintf("the emulator answered all %d concurrent invocations", ok)
	probe.concurrentOK = true
	return probe, nil
}

// rieProbe is what probeRIEConcurrency found.
type rieProbe struct {
	summary      string
	concurrentOK bool // every concurrent invocation was answered
}
