package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// bench is the running setup every phase uses.
type bench struct {
	cfg  Config
	srv  *server
	cl   *client
	hook *receiver
}

// burstResult is one burst of uploads to the source bucket.
type burstResult struct {
	size, n     int
	putElapsed  time.Duration // first PUT sent -> last PUT acknowledged
	putLat      []time.Duration
	eventLat    []time.Duration // arrival at the webhook - PUT ack
	copyLat     []time.Duration // first listing that shows the copy - PUT ack
	eventsLost  int
	copiesLost  int
	eventSpan   time.Duration // first PUT sent -> last event arrived
	copySpan    time.Duration // first PUT sent -> last copy seen
	listLat     []time.Duration
	polls       int
	errors      int
	firstErr    string
	cpu         time.Duration // server CPU from the first PUT to the end of the wait
	cpuKnown    bool
	waitTimeout bool
}

// runBurst uploads n objects of size bytes to the source bucket from
// cfg.BurstClients clients as fast as the server takes them, then waits
// until every event has reached the webhook and every copy is visible in
// the target bucket (or cfg.DrainTimeout passes: what is still missing then
// is lost).
func (b *bench) runBurst(ctx context.Context, size, n int, data benchkit.Body) burstResult {
	r := burstResult{size: size, n: n}
	prefix := fmt.Sprintf("burst-%s/", benchkit.SizeLabel(size))
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s%06d", prefix, i)
	}
	acks := make([]time.Time, n)
	seen := make([]time.Time, n)

	syscall.Sync()
	cpu0, cpuErr := b.srv.cpuTime()
	start := time.Now()
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		r.listLat, r.polls = b.pollCopies(pollCtx, prefix, keys, seen)
	}()

	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range b.cfg.BurstClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				err := b.cl.put(ctx, "/"+b.cfg.Source+"/"+keys[i], &data)
				t1 := time.Now()
				mu.Lock()
				if err != nil {
					r.errors++
					if r.firstErr == "" {
						r.firstErr = err.Error()
					}
				} else {
					acks[i] = t1
					r.putLat = append(r.putLat, t1.Sub(t0))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.putElapsed = time.Since(start)

	deadline := time.Now().Add(b.cfg.DrainTimeout)
	hookKeys := make([]string, n)
	for i, k := range keys {
		hookKeys[i] = b.cfg.Source + "/" + k
	}
	for b.hook.missing(hookKeys) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-pollDone:
	case <-time.After(time.Until(deadline)):
		r.waitTimeout = true
	case <-ctx.Done():
	}
	stopPoll()
	<-pollDone
	if cpu1, err := b.srv.cpuTime(); err == nil && cpuErr == nil {
		r.cpu, r.cpuKnown = cpu1-cpu0, true
	}

	arr := b.hook.arrivals(hookKeys)
	var lastEvent, lastCopy time.Time
	for i, k := range hookKeys {
		if acks[i].IsZero() {
			continue // the PUT failed: counted in errors, nothing to deliver
		}
		if t, ok := arr[k]; ok {
			r.eventLat = append(r.eventLat, t.Sub(acks[i]))
			lastEvent = maxTime(lastEvent, t)
		} else {
			r.eventsLost++
		}
		if !seen[i].IsZero() {
			r.copyLat = append(r.copyLat, seen[i].Sub(acks[i]))
			lastCopy = maxTime(lastCopy, seen[i])
		} else {
			r.copiesLost++
		}
	}
	if r.eventsLost > 0 {
		r.waitTimeout = true
	}
	if !lastEvent.IsZero() {
		r.eventSpan = lastEvent.Sub(start)
	}
	if !lastCopy.IsZero() {
		r.copySpan = lastCopy.Sub(start)
	}
	return r
}

// pollCopies lists the target bucket under prefix every cfg.PollInterval
// until every key is seen or ctx ends, and writes into seen[i] the time the
// first listing showing keys[i] returned (an upper bound on when the copy
// became visible; the lower bound is the start of the listing before it).
// keys must be sorted. Copies land roughly in upload order, so each listing
// starts after the longest prefix of keys already seen, which keeps it
// short however large the burst.
func (b *bench) pollCopies(ctx context.Context, prefix string, keys []string, seen []time.Time) ([]time.Duration, int) {
	var listLat []time.Duration
	polls := 0
	low := 0 // keys[:low] are all seen
	idx := make(map[string]int, len(keys))
	for i, k := range keys {
		idx[k] = i
	}
	tick := time.NewTicker(b.cfg.PollInterval)
	defer tick.Stop()
	for low < len(keys) {
		select {
		case <-ctx.Done():
			return listLat, polls
		case <-tick.C:
		}
		after := ""
		if low > 0 {
			after = keys[low-1]
		}
		t0 := time.Now()
		got, err := b.cl.list(ctx, b.cfg.Target, prefix, after)
		t1 := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return listLat, polls
			}
			benchkit.Logf("list %s: %v", b.cfg.Target, err)
			continue
		}
		polls++
		listLat = append(listLat, t1.Sub(t0))
		for _, k := range got {
			if i, ok := idx[k]; ok && seen[i].IsZero() {
				seen[i] = t1
			}
		}
		for low < len(keys) && !seen[low].IsZero() {
			low++
		}
	}
	return listLat, polls
}

// tputResult is one bucket's PUT throughput, pooled over its slices.
type tputResult struct {
	bucket   string
	ops      int
	elapsed  time.Duration // sum over slices of window start -> last PUT done
	lat      []time.Duration
	cpu      time.Duration // server CPU in the windows
	drainCPU time.Duration // server CPU while waiting for deliveries after the windows
	// benchCPU is the bench's own CPU (its clients and the webhook
	// receiver) in the windows and drains.
	benchCPU time.Duration
	drain    []time.Duration
	cpuKnown bool
	errors   int
	firstErr string
	lost     int // events or copies of this bucket's PUTs that never arrived
	// posts, records and most are the webhook POSTs of this bucket's
	// events, the records they carried and the most one carried.
	posts, records, most int
	// rates are the PUT/s of each round's slice, in round order.
	rates []float64
	// cpuPerPut is the server's CPU per PUT (µs) of each round's slice,
	// its drain included, in round order; empty when CPU is unknown.
	cpuPerPut []float64
	// pipes is what the server reports of how its one-record webhook
	// POSTs went out during this bucket's slices and drains.
	pipes pipeStats
	// steal is the share of the machine's CPU the hypervisor took during
	// each round's slice and drain, in round order; -1 when unknown.
	steal []float64
}

// pipeStats are the server's counters of one-record webhook POSTs: those
// pipelined, the writes that carried them, and those sent alone.
type pipeStats struct {
	pipelined, writes, alone float64
	ok                       bool
}

func (p pipeStats) sub(q pipeStats) pipeStats {
	return pipeStats{pipelined: p.pipelined - q.pipelined, writes: p.writes - q.writes, alone: p.alone - q.alone, ok: p.ok && q.ok}
}

func (p pipeStats) add(q pipeStats) pipeStats {
	return pipeStats{pipelined: p.pipelined + q.pipelined, writes: p.writes + q.writes, alone: p.alone + q.alone, ok: p.ok && q.ok}
}

// pipeStats reads the pipelining counters from the server's /metrics.
func (b *bench) pipeStats(ctx context.Context) pipeStats {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.srv.BaseURL()+"/metrics", nil)
	if err != nil {
		return pipeStats{}
	}
	resp, err := b.cl.HTTP().Do(req)
	if err != nil {
		return pipeStats{}
	}
	defer resp.Body.Close()
	var p pipeStats
	seen := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		var dst *float64
		switch name {
		case `sluice_notify_webhook_posts_total{sent="pipelined"}`:
			dst = &p.pipelined
		case `sluice_notify_webhook_posts_total{sent="alone"}`:
			dst = &p.alone
		case "sluice_notify_webhook_pipelines_total":
			dst = &p.writes
		default:
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			*dst = v
			seen++
		}
	}
	p.ok = resp.StatusCode == http.StatusOK && sc.Err() == nil && seen == 3
	return p
}

// roundRatios returns, for each round, t's slice rate over base's: two
// slices run back to back, so a slow spell of the disk or the host
// mostly hits both.
func (t tputResult) roundRatios(base tputResult) []float64 {
	return ratios(t.rates, base.rates)
}

// maxRoundSteal is the most CPU the hypervisor may take from the machine
// during a round's slice of a bucket, or of the first bucket, for that
// round to count in the medians. Above it the guest's CPU times and rates
// stop measuring the server: a stolen vCPU stalls whatever runs on it,
// and each wake-up across vCPUs costs more, so a bucket whose delivery
// wakes more goroutines is charged for the host's load.
const maxRoundSteal = 0.10

// leftOut reports, for each round, whether t's slice or base's had more
// steal than maxRoundSteal.
func (t tputResult) leftOut(base tputResult) []bool {
	out := make([]bool, len(t.rates))
	for i := range out {
		out[i] = stolen(t.steal, i) || stolen(base.steal, i)
	}
	return out
}

func stolen(steal []float64, i int) bool { return i < len(steal) && steal[i] > maxRoundSteal }

// cpuRatios returns, for each round, base's server CPU per PUT over t's:
// the PUT/s ratio of the two slices where the server's CPU is the limit.
// Per round, as roundRatios, because what a CPU second buys on a shared
// host changes from spell to spell (a virtual disk's doorbell costs the
// guest several times more CPU when the host is busy).
func (t tputResult) cpuRatios(base tputResult) []float64 {
	if len(t.cpuPerPut) != len(t.rates) || len(base.cpuPerPut) != len(base.rates) {
		return nil // some slice's CPU unknown: rounds would not pair up
	}
	return ratios(base.cpuPerPut, t.cpuPerPut)
}

// ratios returns a[i]/b[i] for each i both have; NaN where b[i] is not
// positive, so that the ratios stay in round order.
func ratios(a, b []float64) []float64 {
	var out []float64
	for i := range min(len(a), len(b)) {
		q := math.NaN()
		if b[i] > 0 {
			q = a[i] / b[i]
		}
		out = append(out, q)
	}
	return out
}

func (t tputResult) opsPerSec() float64 {
	if t.elapsed <= 0 {
		return 0
	}
	return float64(t.ops) / t.elapsed.Seconds()
}

// runThroughput measures PUT throughput on cfg.TputBuckets (by default the
// plain bucket and the source bucket, webhook rule and TargetBucket tag)
// with cfg.TputClients clients. The window is cut into cfg.Rounds slices the
// buckets take in turns (A B C, C B A, ...). After a slice of a bucket with
// deliveries the bench waits until its events (and copies) have all
// arrived, so no slice runs with delivery work left over from another; that
// wait is reported, and its server CPU is charged to that bucket.
func (b *bench) runThroughput(ctx context.Context, data benchkit.Body) ([]tputResult, error) {
	buckets := b.cfg.TputBuckets
	res := make([]tputResult, len(buckets))
	for i, name := range buckets {
		res[i] = tputResult{bucket: name, cpuKnown: true, pipes: pipeStats{ok: true}}
	}
	slice := b.cfg.TputDuration / time.Duration(b.cfg.Rounds)
	for round := range b.cfg.Rounds {
		warmup := benchkit.RoundWarmup(b.cfg.Warmup, round)
		for _, i := range benchkit.TurnOrder(len(buckets), round) {
			if ctx.Err() != nil {
				return nil, errors.New("interrupted")
			}
			syscall.Sync()
			prefix := fmt.Sprintf("tput/r%d/", round)
			pipes0 := b.pipeStats(ctx)
			s := b.putSlice(ctx, buckets[i], prefix, data, warmup, slice)
			if ctx.Err() != nil {
				return nil, errors.New("interrupted")
			}
			if err := b.srv.alive(); err != nil {
				return nil, err
			}
			t := &res[i]
			t.rates = append(t.rates, rate(s.ops, s.elapsed))
			t.ops += s.ops
			t.elapsed += s.elapsed
			t.lat = append(t.lat, s.lat...)
			t.errors += s.errors
			if t.firstErr == "" {
				t.firstErr = s.firstErr
			}
			t.cpu += s.cpu
			t.benchCPU += s.benchCPU
			t.cpuKnown = t.cpuKnown && s.cpuKnown
			sliceCPU, cpuKnown := s.cpu, s.cpuKnown
			end := s.to
			if buckets[i] != b.cfg.Plain && buckets[i] != b.cfg.ClientCopy {
				c0 := b.sampleCPU()
				d, lost := b.drain(ctx, buckets[i], prefix, s.keys, buckets[i] == b.cfg.Source)
				end = b.sampleCPU()
				server, own, ok := c0.until(end)
				t.pipes = t.pipes.add(b.pipeStats(ctx).sub(pipes0))
				t.drain = append(t.drain, d)
				t.lost += lost
				t.drainCPU += server
				t.benchCPU += own
				t.cpuKnown = t.cpuKnown && ok
				sliceCPU += server
				cpuKnown = cpuKnown && ok
			}
			if cpuKnown && s.ops > 0 {
				t.cpuPerPut = append(t.cpuPerPut, float64(sliceCPU.Microseconds())/float64(s.ops))
			}
			t.steal = append(t.steal, s.from.stealUntil(end))
		}
	}
	return res, nil
}

type sliceResult struct {
	ops      int
	elapsed  time.Duration
	lat      []time.Duration
	keys     []string // every key written, warm-up included
	cpu      time.Duration
	benchCPU time.Duration
	cpuKnown bool
	errors   int
	firstErr string
	// from and to are the samples the window's CPU is taken between.
	from, to cpuSample
}

// cpuSample is the CPU time the server and the bench itself had used at
// one moment.
type cpuSample struct {
	server, bench time.Duration
	ok            bool
	// steal is the machine's, for the share the hypervisor took.
	steal benchkit.StealClock
}

func (b *bench) sampleCPU() cpuSample {
	server, err1 := b.srv.cpuTime()
	own, err2 := benchkit.ProcCPU(os.Getpid())
	return cpuSample{server: server, bench: own, ok: err1 == nil && err2 == nil, steal: benchkit.ReadStealClock()}
}

// stealUntil returns the share of the machine's CPU the hypervisor took
// from c to d, -1 when unknown.
func (c cpuSample) stealUntil(d cpuSample) float64 {
	if share, ok := c.steal.StealUntil(d.steal); ok {
		return share
	}
	return -1
}

// until returns the server's and the bench's CPU from c to d, and whether
// both samples were read.
func (c cpuSample) until(d cpuSample) (server, bench time.Duration, ok bool) {
	return d.server - c.server, d.bench - c.bench, c.ok && d.ok
}

// putSlice runs TputClients clients writing new keys back to back: a
// warm-up, then the measured window. Ops are the PUTs started in the
// window; elapsed runs from the window start until the last of them is done.
func (b *bench) putSlice(ctx context.Context, bucket, prefix string, data benchkit.Body, warmup, window time.Duration) sliceResult {
	var s sliceResult
	var mu sync.Mutex
	var wg sync.WaitGroup
	wStart := time.Now().Add(warmup)
	wEnd := wStart.Add(window)
	var cpu0 cpuSample
	cpuTaken := make(chan struct{})
	go func() {
		time.Sleep(time.Until(wStart))
		cpu0 = b.sampleCPU()
		close(cpuTaken)
	}()
	var lastDone time.Time
	for w := range b.cfg.TputClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			var keys []string
			var last time.Time
			errs, first := 0, ""
			for n := 0; ; n++ {
				t0 := time.Now()
				if !t0.Before(wEnd) || ctx.Err() != nil {
					break
				}
				key := fmt.Sprintf("%sw%02d/%07d", prefix, w, n)
				err := b.cl.put(ctx, "/"+bucket+"/"+key, &data)
				if err == nil && bucket == b.cfg.ClientCopy {
					err = b.cl.copyObject(ctx, bucket+"/"+key, b.cfg.Target+"/"+bucket+"/"+key)
				}
				t1 := time.Now()
				if err != nil {
					errs++
					if first == "" {
						first = err.Error()
					}
					continue
				}
				keys = append(keys, key)
				if !t0.Before(wStart) {
					lat = append(lat, t1.Sub(t0))
					last = t1
				}
			}
			mu.Lock()
			s.lat = append(s.lat, lat...)
			s.keys = append(s.keys, keys...)
			s.errors += errs
			if s.firstErr == "" {
				s.firstErr = first
			}
			lastDone = maxTime(lastDone, last)
			mu.Unlock()
		}()
	}
	wg.Wait()
	<-cpuTaken
	s.from, s.to = cpu0, b.sampleCPU()
	s.cpu, s.benchCPU, s.cpuKnown = s.from.until(s.to)
	s.ops = len(s.lat)
	if !lastDone.IsZero() {
		s.elapsed = lastDone.Sub(wStart)
	}
	return s
}

// drain waits until every key's event has reached the webhook and, with
// copies, its copy is listed in the target bucket, and returns how long
// that took and how many were still missing at cfg.DrainTimeout.
func (b *bench) drain(ctx context.Context, bucket, prefix string, keys []string, copies bool) (time.Duration, int) {
	start := time.Now()
	deadline := start.Add(b.cfg.DrainTimeout)
	hookKeys := make([]string, len(keys))
	for i, k := range keys {
		hookKeys[i] = bucket + "/" + k
	}
	want := make(map[string]bool, len(keys))
	for _, k := range keys {
		want[k] = true
	}
	for {
		missingEvents := b.hook.missing(hookKeys)
		missingCopies := 0
		if copies {
			missingCopies = len(keys)
			if got, err := b.cl.list(ctx, b.cfg.Target, prefix, ""); err == nil {
				for _, k := range got {
					if want[k] {
						missingCopies--
					}
				}
			}
		}
		if missingEvents+missingCopies == 0 {
			return time.Since(start), 0
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Since(start), missingEvents + missingCopies
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// randomBody is incompressible data, so no layer can shortcut it.
func randomBody(size int) benchkit.Body {
	r := rand.New(rand.NewPCG(uint64(size), 0x5eed))
	b := make([]byte, size)
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return benchkit.NewBody(b)
}

// percentiles returns the exact nearest-rank p50, p99 and the maximum.
func percentiles(lat []time.Duration) (p50, p99, maxv time.Duration) {
	sm := benchkit.Summarize(lat)
	return sm.P50, sm.P99, sm.Max
}
