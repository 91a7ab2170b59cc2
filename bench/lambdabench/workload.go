package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// target is one way of invoking the echo function: a host process and an
// endpoint on it.
type target struct {
	name  string // "rie", "sluice-invoke", "sluice-rie"
	label string // for the report
	host  *benchkit.Proc
	iv    *invoker
	// function is the function's name on Sluice, whose log group holds the
	// REPORT lines; empty for the emulator, which prints them to stdout.
	function string
	admin    *admin
	// crashed says why the host died during the run, when it was allowed to
	// (the emulator given concurrent invocations on request).
	crashed string
}

// sliceMark locates one measured slice in the host's logs, so that the
// REPORT lines of its invocations can be read afterwards.
type sliceMark struct {
	from, to       time.Time // window start, end of the last invocation
	logFrom, logTo int64     // the emulator's stdout offsets at the same moments
}

// result is what one cell measured on one target, pooled over its slices.
type result struct {
	target   string
	callers  int
	lat      []time.Duration
	elapsed  time.Duration
	busy     time.Duration // summed over callers: time with a request outstanding in the window
	cpu      time.Duration // host tree CPU in the window, -1 when unknown
	errors   int
	firstErr string
	marks    []sliceMark
	// durations are the host's REPORT Duration figures (ms) of the
	// window's invocations, read after the run.
	durations []float64
	// colds counts the window's REPORT lines with an Init Duration: the
	// invocations that had to start an instance.
	colds    int
	serial   bool   // callers were serialized in the client (the emulator)
	crashed  string // the host died in this cell
	p50, p99 time.Duration
}

func (r *result) merge(o result) {
	r.lat = append(r.lat, o.lat...)
	r.elapsed += o.elapsed
	r.busy += o.busy
	r.cpu = benchkit.AddCPU(r.cpu, o.cpu)
	r.errors += o.errors
	if r.firstErr == "" {
		r.firstErr = o.firstErr
	}
	r.marks = append(r.marks, o.marks...)
	if r.crashed == "" {
		r.crashed = o.crashed
	}
}

func (r result) ops() int { return len(r.lat) }

func (r result) opsPerSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops()) / r.elapsed.Seconds()
}

// cpuPerOp is the host's CPU time (server and function processes) per
// invocation in the window, or -1 when unknown.
func (r result) cpuPerOp() time.Duration {
	if r.cpu < 0 || r.ops() == 0 {
		return -1
	}
	return r.cpu / time.Duration(r.ops())
}

// inFlight is the share of the window during which the callers had a
// request outstanding. Well below 1 means the caller goroutines were
// starved of CPU between requests, and invokes/s understates the host.
func (r result) inFlight() float64 {
	if r.elapsed <= 0 || r.callers == 0 {
		return 0
	}
	return float64(r.busy) / (float64(r.elapsed) * float64(r.callers))
}

// runSlice runs callers goroutines invoking back to back for warmup +
// duration. Invocations started in the warm-up are not recorded; the
// throughput is the number started inside the window over the time from
// the window's start until the last of them finished, so none is cut in
// half. The host's CPU is sampled when the window opens and at the end.
func runSlice(ctx context.Context, t *target, callers int, warmup, duration time.Duration) result {
	start := time.Now()
	windowStart := start.Add(warmup)
	windowEnd := windowStart.Add(duration)

	type atOpen struct {
		cpu    time.Duration
		logOff int64
	}
	opened := make(chan atOpen, 1)
	timer := time.AfterFunc(warmup, func() {
		d, err := benchkit.TreeCPU(t.host.Pid())
		if err != nil {
			d = -1
		}
		opened <- atOpen{cpu: d, logOff: t.host.LogSize()}
	})
	defer timer.Stop()

	type callerOut struct {
		lat      []time.Duration
		busy     time.Duration
		errors   int
		firstErr string
	}
	outs := make([]callerOut, callers)
	var wg sync.WaitGroup
	for w := range callers {
		wg.Go(func() {
			out := &outs[w]
			out.lat = make([]time.Duration, 0, 8192)
			for {
				t0 := time.Now()
				if !t0.Before(windowEnd) || ctx.Err() != nil {
					return
				}
				_, err := t.iv.invoke(ctx)
				lat := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						return // interrupted, not a host error
					}
					out.errors++
					if out.firstErr == "" {
						out.firstErr = err.Error()
					}
					if !t.host.Alive() {
						return
					}
				}
				if !t0.Before(windowStart) {
					out.lat = append(out.lat, lat)
					out.busy += lat
				} else if end := t0.Add(lat); end.After(windowStart) {
					out.busy += end.Sub(windowStart)
				}
			}
		})
	}
	wg.Wait()
	end := time.Now()
	r := result{target: t.name, callers: callers, elapsed: end.Sub(windowStart), cpu: -1, serial: t.iv.serial != nil}
	mark := sliceMark{from: windowStart, to: end}
	select {
	case o := <-opened:
		if c, err := benchkit.TreeCPU(t.host.Pid()); err == nil && o.cpu >= 0 {
			r.cpu = c - o.cpu
		}
		mark.logFrom, mark.logTo = o.logOff, t.host.LogSize()
	default: // interrupted, or the host died, before the window opened
	}
	r.marks = []sliceMark{mark}
	for _, o := range outs {
		r.lat = append(r.lat, o.lat...)
		r.busy += o.busy
		r.errors += o.errors
		if r.firstErr == "" {
			r.firstErr = o.firstErr
		}
	}
	return r
}

// runGrid runs every number of callers on every target. A cell's window is
// cut into cfg.Rounds slices and the targets take turns slice by slice (A B
// C, C B A, ...), so that load drifting in from elsewhere on the machine
// hits them alike; each target's slices are pooled. The first slice of a
// cell has the full warm-up (which also starts the instances that number of
// callers needs), later ones a short re-warm.
func runGrid(ctx context.Context, cfg Config, targets []*target) ([]result, error) {
	var results []result
	for _, callers := range cfg.Callers {
		pooled := make([]*result, len(targets))
		for round := range cfg.Rounds {
			warmup := benchkit.RoundWarmup(cfg.Warmup, round)
			slice := cfg.Duration / time.Duration(cfg.Rounds)
			for _, i := range benchkit.TurnOrder(len(targets), round) {
				t := targets[i]
				if t.crashed != "" {
					continue
				}
				if ctx.Err() != nil {
					return nil, errors.New("interrupted")
				}
				useSerial := t.name == "rie" && callers > 1 && cfg.rieSerial
				if useSerial {
					t.iv.serial = &sync.Mutex{}
				}
				r := runSlice(ctx, t, callers, warmup, slice)
				t.iv.serial = nil
				if ctx.Err() != nil {
					return nil, errors.New("interrupted")
				}
				if !t.host.Alive() {
					reason := fmt.Sprintf("%s died (%s): %s", t.host.Name(), t.host.ExitReason(), firstPanicLine(t.host.LogTail(60)))
					if t.name != "rie" || cfg.rieSerial {
						return nil, fmt.Errorf("%s, %d callers: %s; log tail:\n%s", t.name, callers, reason, t.host.LogTail(20))
					}
					t.crashed = reason
					r.crashed = reason
				}
				if pooled[i] == nil {
					pooled[i] = &r
				} else {
					pooled[i].merge(r)
				}
			}
		}
		for _, r := range pooled {
			if r == nil {
				continue
			}
			r.p50, r.p99 = percentiles(r.lat)
			status := ""
			if r.errors > 0 {
				status = fmt.Sprintf("  %d errors, first: %s", r.errors, r.firstErr)
			}
			benchkit.Logf("%-14s callers=%-2d %8.0f invokes/s  p50 %6.3f ms  p99 %6.3f ms  host CPU %s/invoke  in flight %3.0f%%%s",
				r.target, r.callers, r.opsPerSec(), benchkit.Ms(r.p50), benchkit.Ms(r.p99), benchkit.FmtCPU(r.cpuPerOp()), 100*r.inFlight(), status)
			results = append(results, *r)
		}
	}
	return results, nil
}

// collectDurations reads the REPORT lines of every measured slice: from
// Sluice's log groups through the CloudWatch Logs API, from the emulator's
// stdout by offset.
func collectDurations(ctx context.Context, targets []*target, results []result) error {
	byName := map[string]*target{}
	for _, t := range targets {
		byName[t.name] = t
	}
	for i := range results {
		r := &results[i]
		t := byName[r.target]
		r.durations, r.colds = nil, 0
		for _, m := range r.marks {
			var lines []string
			if t.function != "" {
				// REPORT lines carry the time the invocation ended, at
				// millisecond resolution.
				l, err := t.admin.reportLines(ctx, t.function, m.from.Truncate(time.Millisecond), m.to.Add(time.Millisecond))
				if err != nil {
					return err
				}
				lines = l
			} else if m.logTo > m.logFrom {
				b, err := t.host.LogRange(m.logFrom, m.logTo)
				if err != nil {
					return fmt.Errorf("read %s output: %w", t.name, err)
				}
				lines = strings.Split(string(b), "\n")
			}
			for _, l := range lines {
				if rep, ok := parseReport(l); ok {
					r.durations = append(r.durations, rep.duration)
					if rep.hasInit {
						r.colds++
					}
				}
			}
		}
	}
	return nil
}

// report is what the bench reads from one REPORT line.
type report struct {
	duration float64 // ms
	initDur  float64 // ms, when hasInit
	hasInit  bool
}

// parseReport reads Duration and Init Duration from a Lambda REPORT line
// ("REPORT RequestId: ID\tDuration: 1.23 ms\tBilled Duration: 2 ms\t...").
// Sluice and the emulator both print this shape; the emulator puts Init
// Duration before Duration, Sluice after Max Memory Used, so fields are
// found by name.
func parseReport(line string) (report, bool) {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "REPORT RequestId:") {
		return report{}, false
	}
	var rep report
	found := false
	for _, f := range strings.Split(line, "\t") {
		name, val, ok := strings.Cut(strings.TrimSpace(f), ": ")
		if !ok || (name != "Duration" && name != "Init Duration") {
			continue
		}
		num, ok := strings.CutSuffix(val, " ms")
		if !ok {
			return report{}, false
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || !(v >= 0 && v <= 1e9) { // also refuses NaN
			return report{}, false
		}
		if name == "Duration" {
			rep.duration, found = v, true
		} else {
			rep.initDur, rep.hasInit = v, true
		}
	}
	return rep, found
}

// firstPanicLine finds the line a Go program's crash starts with.
func firstPanicLine(log string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") {
			return strings.TrimSpace(l)
		}
	}
	return "no panic message in its output"
}

// percentiles returns the exact p50 and p99 (nearest rank) of the samples.
func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	sm := benchkit.Summarize(lat)
	return sm.P50, sm.P99
}
