package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// target is one server as the load generator sees it.
type target struct {
	name string
	addr string // host:port to dial
	pid  int    // process whose CPU (with its children's) is charged
}

// job is one request of a worker: the bytes to send, whether to keep the
// body, and the check its answer must pass. tag groups samples in the
// report (the photo's size class in the resize phase).
type job struct {
	req   []byte
	keep  bool
	check func(response) error
	tag   int
}

// result is what one server measured in one cell, possibly pooled over
// several slices.
type result struct {
	server   string
	conc     int
	lat      []time.Duration
	tags     []int // parallel to lat
	elapsed  time.Duration
	busy     time.Duration
	bytes    int64 // response body bytes of the recorded requests
	cpu      time.Duration
	errors   int
	firstErr string
	// nonHits are edge answers of a hits window that were not cache hits
	// (errNotHit): reported, not failures.
	nonHits     int
	firstNonHit string
}

func (r result) ops() int { return len(r.lat) }

func (r result) opsPerSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(len(r.lat)) / r.elapsed.Seconds()
}

// inFlight is the share of the window in which the workers had a request
// outstanding: well below 1 means they were starved of CPU.
func (r result) inFlight() float64 {
	if r.elapsed <= 0 || r.conc == 0 {
		return 0
	}
	return float64(r.busy) / (float64(r.elapsed) * float64(r.conc))
}

// cpuPerOp is the server's CPU time per recorded request, -1 when unknown.
func (r result) cpuPerOp() time.Duration {
	if r.cpu < 0 || len(r.lat) == 0 {
		return -1
	}
	return r.cpu / time.Duration(len(r.lat))
}

func (r result) summary() benchkit.Summary { return benchkit.Summarize(r.lat) }

// merge pools another slice of the same cell on the same server.
func (r result) merge(o result) result {
	r.lat = append(r.lat, o.lat...)
	r.tags = append(r.tags, o.tags...)
	r.elapsed += o.elapsed
	r.busy += o.busy
	r.bytes += o.bytes
	r.cpu = benchkit.AddCPU(r.cpu, o.cpu)
	r.errors += o.errors
	if r.firstErr == "" {
		r.firstErr = o.firstErr
	}
	r.nonHits += o.nonHits
	if r.firstNonHit == "" {
		r.firstNonHit = o.firstNonHit
	}
	return r
}

// runSlice runs conc workers against t, each on its own keep-alive
// connection dialled before the warm-up, sending gen's requests back to
// back: unrecorded during warmup, recorded during window. A request counts
// when it starts inside the window; elapsed runs from the window start to
// the end of the last recorded request. The server's CPU is sampled when
// the window opens and after the last request.
func runSlice(ctx context.Context, t target, conc int, warmup, window time.Duration, gen func(worker int) job) result {
	start := time.Now()
	windowStart := start.Add(warmup)
	windowEnd := windowStart.Add(window)
	cpuStart := make(chan time.Duration, 1)
	timer := time.AfterFunc(warmup, func() {
		d, err := benchkit.TreeCPU(t.pid)
		if err != nil {
			d = -1
		}
		cpuStart <- d
	})
	defer timer.Stop()

	type workerOut struct {
		lat      []time.Duration
		tags     []int
		busy     time.Duration
		bytes    int64
		errors   int
		firstErr string
		nonHits  int
		firstNH  string
	}
	outs := make([]workerOut, conc)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			out := &outs[w]
			fail := func(err error) {
				out.errors++
				if out.firstErr == "" {
					out.firstErr = err.Error()
				}
			}
			var c *conn
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for {
				if c == nil {
					var err error
					if c, err = dial(t.addr); err != nil {
						fail(err)
						if time.Now().After(windowEnd) || ctx.Err() != nil {
							return
						}
						time.Sleep(10 * time.Millisecond)
						continue
					}
				}
				t0 := time.Now()
				if !t0.Before(windowEnd) || ctx.Err() != nil {
					return
				}
				j := gen(w)
				r, err := c.do(j.req, j.keep, 60*time.Second)
				lat := time.Since(t0)
				if errors.Is(err, errConnClose) {
					err = nil
					c.Close()
					c = nil
				}
				if err == nil && j.check != nil {
					err = j.check(r)
				}
				if errors.Is(err, errNotHit) {
					if !t0.Before(windowStart) {
						out.nonHits++
						if out.firstNH == "" {
							out.firstNH = fmt.Sprintf("%s, %s into the slice", err, t0.Sub(start).Round(time.Millisecond))
						}
					}
					err = nil
				}
				if err != nil {
					if ctx.Err() != nil {
						return // interrupted, not a server error
					}
					fail(err)
					if c != nil {
						c.Close()
						c = nil
					}
				}
				if !t0.Before(windowStart) {
					out.lat = append(out.lat, lat)
					out.tags = append(out.tags, j.tag)
					out.busy += lat
					out.bytes += r.n
				} else if end := t0.Add(lat); end.After(windowStart) {
					out.busy += end.Sub(windowStart)
				}
			}
		})
	}
	wg.Wait()
	r := result{server: t.name, conc: conc, elapsed: time.Since(windowStart), cpu: -1}
	if end, err := benchkit.TreeCPU(t.pid); err == nil {
		select {
		case begin := <-cpuStart:
			if begin >= 0 {
				r.cpu = end - begin
			}
		default: // interrupted before the window opened
		}
	}
	for _, o := range outs {
		r.lat = append(r.lat, o.lat...)
		r.tags = append(r.tags, o.tags...)
		r.busy += o.busy
		r.bytes += o.bytes
		r.errors += o.errors
		if r.firstErr == "" {
			r.firstErr = o.firstErr
		}
		r.nonHits += o.nonHits
		if r.firstNonHit == "" {
			r.firstNonHit = o.firstNH
		}
	}
	return r
}

// runCell measures every target for one cell: the window is cut into
// rounds slices that the targets take in turns (A B, B A, A B), the first
// after the full warm-up, the others after a quarter of it; each target's
// slices are pooled.
func (b *bench) runCell(ctx context.Context, label string, targets []target, conc int, window time.Duration, gen func(t target) func(worker int) job) ([]result, error) {
	pooled := make([]result, len(targets))
	slice := window / time.Duration(b.cfg.Rounds)
	for round := range b.cfg.Rounds {
		warmup := benchkit.RoundWarmup(b.cfg.Warmup, round)
		for _, i := range benchkit.TurnOrder(len(targets), round) {
			if ctx.Err() != nil {
				return nil, errors.New("interrupted")
			}
			t := targets[i]
			r := runSlice(ctx, t, conc, warmup, slice, gen(t))
			if ctx.Err() != nil {
				return nil, errors.New("interrupted")
			}
			if round == 0 {
				pooled[i] = r
			} else {
				pooled[i] = pooled[i].merge(r)
			}
			if err := b.alive(label); err != nil {
				return nil, err
			}
		}
	}
	for _, r := range pooled {
		s := r.summary()
		status := ""
		if r.nonHits > 0 {
			status = fmt.Sprintf("  %d answers not from the cache, first: %s", r.nonHits, r.firstNonHit)
		}
		if r.errors > 0 {
			status += fmt.Sprintf("  FAILED: %d errors, first: %s", r.errors, r.firstErr)
		}
		benchkit.Logf("%-7s %-22s %9.1f req/s  p50 %8.2f ms  p99 %8.2f ms  server CPU %s/req  in flight %3.0f%%%s",
			r.server, label, r.opsPerSec(), benchkit.Ms(s.P50), benchkit.Ms(s.P99), benchkit.FmtCPU(r.cpuPerOp()), 100*r.inFlight(), status)
	}
	return pooled, nil
}
