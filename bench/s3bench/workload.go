package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
	"golang.org/x/sync/errgroup"
)

// cell is one measured combination of operation, object size and number of
// concurrent clients.
type cell struct {
	op   string // "PUT" or "GET"
	size int
	conc int
}

func (c cell) String() string {
	return fmt.Sprintf("%s %s c=%d", c.op, benchkit.SizeLabel(c.size), c.conc)
}

// result is what one cell measured on one server.
type result struct {
	server   string
	cell     cell
	ops      int
	elapsed  time.Duration
	p50, p99 time.Duration
	mean     time.Duration
	errors   int
	firstErr string
	// serverCPU is the CPU time (user+system) the server process used
	// during the window, or -1 when it could not be read.
	serverCPU time.Duration
	// busy is the time, summed over workers, during which a worker had a
	// request outstanding inside the window, including the tail of a
	// request started during the warm-up.
	busy time.Duration
	// lat holds every recorded latency, so that slices of one cell can be
	// pooled before percentiles are taken.
	lat []time.Duration
}

// merge pools another slice of the same cell on the same server into r.
func (r result) merge(o result) result {
	r.lat = append(r.lat, o.lat...)
	r.ops = len(r.lat)
	r.p50, r.p99, r.mean = percentiles(r.lat)
	r.elapsed += o.elapsed
	r.busy += o.busy
	r.serverCPU = benchkit.AddCPU(r.serverCPU, o.serverCPU)
	r.errors += o.errors
	if r.firstErr == "" {
		r.firstErr = o.firstErr
	}
	return r
}

// cpuPerOp is the server's CPU time per request in the window.
func (r result) cpuPerOp() time.Duration {
	if r.serverCPU < 0 || r.ops == 0 {
		return -1
	}
	return r.serverCPU / time.Duration(r.ops)
}

func (r result) opsPerSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

// inFlight is the fraction of the window during which the clients had a
// request outstanding. Well below 1 means the client goroutines were
// starved of CPU between requests (an overloaded machine), so ops/s
// understates what the server could do.
func (r result) inFlight() float64 {
	if r.elapsed <= 0 || r.cell.conc == 0 {
		return 0
	}
	return float64(r.busy) / (float64(r.elapsed) * float64(r.cell.conc))
}

func (r result) mibPerSec() float64 { return r.opsPerSec() * float64(r.cell.size) / (1 << 20) }

// workerKeys names the objects one worker of a cell owns, so that no two
// workers ever touch the same key and GETs never race PUTs.
func keyPrefix(op string, c cell, worker int) string {
	return fmt.Sprintf("%s-%s-c%d/w%03d", op, benchkit.SizeLabel(c.size), c.conc, worker)
}

// putPrefix adds the slice number so that every slice of a PUT cell writes
// new keys rather than overwriting the previous slice's.
func putPrefix(c cell, round, worker int) string {
	return fmt.Sprintf("put-%s-c%d/r%d/w%03d", benchkit.SizeLabel(c.size), c.conc, round, worker)
}

// getKeysPerWorker bounds the GET working set: enough distinct keys to avoid
// measuring one hot object, few enough that seeding stays quick.
func getKeysPerWorker(c cell) int {
	n := (64 << 20) / c.size / c.conc
	return min(max(n, 1), 64)
}

func randomBody(size int, payload string) benchkit.Body {
	data := make([]byte, size)
	_, _ = rand.Read(data)
	return newBody(data, payload)
}

// seedGet writes the objects a GET cell reads, using the cell's own number
// of workers so seeding is fast.
func seedGet(ctx context.Context, cl *client, bucket string, c cell, b benchkit.Body) error {
	g, ctx := errgroup.WithContext(ctx)
	for w := range c.conc {
		g.Go(func() error {
			for i := range getKeysPerWorker(c) {
				path := fmt.Sprintf("/%s/%s/%04d", bucket, keyPrefix("get", c, w), i)
				if err := cl.doOK(ctx, http.MethodPut, path, &b); err != nil {
					return fmt.Errorf("seed %s: %w", path, err)
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// runCell runs c.conc workers back to back for warmup+duration. Requests
// started during the warm-up are not recorded; throughput is the number of
// requests started inside the window divided by the time from the window's
// start until the last of them finished, so no request is cut in half.
//
// serverCPU, when not nil, reads the server's cumulative CPU time; it is
// sampled when the window opens and after the last request.
func runCell(ctx context.Context, cl *client, bucket string, c cell, round int, b benchkit.Body, warmup, duration time.Duration, serverCPU func() (time.Duration, error)) result {
	start := time.Now()
	windowStart := start.Add(warmup)
	windowEnd := windowStart.Add(duration)

	cpuStart := make(chan time.Duration, 1)
	if serverCPU != nil {
		timer := time.AfterFunc(warmup, func() {
			d, err := serverCPU()
			if err != nil {
				d = -1
			}
			cpuStart <- d
		})
		defer timer.Stop()
	}

	type workerOut struct {
		lat      []time.Duration
		busy     time.Duration
		errors   int
		firstErr string
	}
	outs := make([]workerOut, c.conc)
	var wg sync.WaitGroup
	for w := range c.conc {
		wg.Go(func() {
			out := &outs[w]
			out.lat = make([]time.Duration, 0, 4096)
			prefix := keyPrefix("get", c, w)
			if c.op == "PUT" {
				prefix = putPrefix(c, round, w)
			}
			nget := getKeysPerWorker(c)
			for seq := 0; ; seq++ {
				t0 := time.Now()
				if !t0.Before(windowEnd) || ctx.Err() != nil {
					return
				}
				var status int
				var n int64
				var err error
				if c.op == "PUT" {
					status, n, err = cl.do(ctx, http.MethodPut, fmt.Sprintf("/%s/%s/%08d", bucket, prefix, seq), &b)
				} else {
					status, n, err = cl.do(ctx, http.MethodGet, fmt.Sprintf("/%s/%s/%04d", bucket, prefix, seq%nget), nil)
				}
				lat := time.Since(t0)
				switch {
				case err != nil:
					if ctx.Err() != nil {
						return // interrupted, not a server error
					}
				case status/100 != 2:
					err = fmt.Errorf("HTTP %d", status)
				case c.op == "GET" && n != int64(c.size):
					err = fmt.Errorf("GET returned %d bytes, want %d", n, c.size)
				}
				if err != nil {
					out.errors++
					if out.firstErr == "" {
						out.firstErr = err.Error()
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
	elapsed := time.Since(windowStart)

	r := result{cell: c, elapsed: elapsed, serverCPU: -1}
	if serverCPU != nil {
		if end, err := serverCPU(); err == nil {
			select {
			case begin := <-cpuStart:
				if begin >= 0 {
					r.serverCPU = end - begin
				}
			default: // interrupted before the window opened
			}
		}
	}
	var all []time.Duration
	for _, o := range outs {
		all = append(all, o.lat...)
		r.busy += o.busy
		r.errors += o.errors
		if r.firstErr == "" {
			r.firstErr = o.firstErr
		}
	}
	r.lat = all
	r.ops = len(all)
	r.p50, r.p99, r.mean = percentiles(all)
	return r
}

// percentiles returns the exact p50 and p99 (nearest-rank) and the mean.
func percentiles(lat []time.Duration) (p50, p99, mean time.Duration) {
	sm := benchkit.Summarize(lat)
	return sm.P50, sm.P99, sm.Mean
}
