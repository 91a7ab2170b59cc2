// Command s3bench measures S3 PUT and GET throughput and latency of sluice
// against versitygw's posix backend, on the same machine in the same run.
//
// It owns the server processes it starts: each runs in its own process
// group, is stopped with SIGTERM (then SIGKILL) when its cells are done, on
// Ctrl-C, or on any error, and dies with the bench if the bench is killed.
// All servers run for the whole bench but are measured one at a time: each
// cell's window is cut into slices that the servers take in turns, so that
// load drifting in from the rest of the machine hits them alike.
//
// Each cell (operation, object size, number of clients) runs N goroutines,
// each sending requests back to back on its own keys for a warm-up and then
// a measured slice. Workers share one keep-alive transport per server; each
// records its own latencies, pooled and sorted once per server and cell.
//
// It is a standalone main package rather than a Go benchmark so that
// `go test ./...` only compiles it. Run it with `make bench` (bench/run.sh).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// Config is everything one bench run needs.
type Config struct {
	Servers     []string // run order; "versitygw" is the ratio baseline
	SluiceBin   string
	SluiceArgs  string // extra args appended to `sluice serve`
	SluiceRev   string // label for the report, e.g. a git revision
	VersityBin  string
	VersityArgs string // extra args for the posix backend, before DIR
	VersityRev  string // label for the report, e.g. the installed version
	WorkDir     string // data dirs live here; a fresh temp dir when empty
	Keep        bool   // keep WorkDir after the run
	Ops         []string
	Sizes       []int
	Concurrency []int
	Warmup      time.Duration
	Duration    time.Duration
	Rounds      int    // slices each cell's window is cut into, servers alternating
	Payload     string // "sha256" or "unsigned"
	AccessKey   string
	SecretKey   string
	Region      string
	Bucket      string
	Out         string // markdown report path; "" to skip writing
	PerfDir     string // when set, record `perf` CPU profiles of each server here
	ReadyWait   time.Duration

	// defaultServers is set when -servers was not given, so that a server
	// this build cannot run may be left out instead of failing the run.
	defaultServers bool
}

// DefaultConfig measures the grid: PUT and GET, 4 KiB and 1 MiB,
// 1 and 32 clients, 5 s per cell after 1 s of warm-up.
func DefaultConfig() Config {
	return Config{
		Servers:     []string{"versitygw", "sluice", "sluice-nofsync"},
		SluiceBin:   ".bench/bin/sluice",
		VersityBin:  ".bench/bin/versitygw",
		Ops:         []string{"PUT", "GET"},
		Sizes:       []int{4 << 10, 1 << 20},
		Concurrency: []int{1, 32},
		Warmup:      time.Second,
		Duration:    5 * time.Second,
		Rounds:      3,
		Payload:     "sha256",
		AccessKey:   "test",
		SecretKey:   "test",
		Region:      "us-east-1",
		Bucket:      "bench",
		Out:         "bench/results/s3-latest.md",
		ReadyWait:   30 * time.Second,
	}
}

// Validate names the first flag that is out of range.
func (c Config) Validate() error {
	if len(c.Servers) == 0 {
		return errors.New("-servers: at least one server")
	}
	for _, s := range c.Servers {
		if _, ok := serverKinds[s]; !ok {
			return fmt.Errorf("-servers: unknown server %q (want versitygw, sluice, sluice-nofsync)", s)
		}
	}
	if len(c.Ops) == 0 {
		return errors.New("-ops: at least one operation")
	}
	for _, op := range c.Ops {
		if op != "PUT" && op != "GET" {
			return fmt.Errorf("-ops: unknown operation %q (want PUT, GET)", op)
		}
	}
	if len(c.Sizes) == 0 {
		return errors.New("-sizes: at least one size")
	}
	for _, s := range c.Sizes {
		if s <= 0 || s > 1<<30 {
			return fmt.Errorf("-sizes: %d out of range (1 B .. 1 GiB)", s)
		}
	}
	if len(c.Concurrency) == 0 {
		return errors.New("-concurrency: at least one level")
	}
	for _, n := range c.Concurrency {
		if n < 1 || n > 1024 {
			return fmt.Errorf("-concurrency: %d out of range (1 .. 1024)", n)
		}
	}
	if err := benchkit.ValidateWindow(c.Duration, c.Warmup, c.Rounds); err != nil {
		return err
	}
	if c.Payload != "sha256" && c.Payload != "unsigned" {
		return fmt.Errorf("-payload: %q (want sha256, unsigned)", c.Payload)
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		return errors.New("-access/-secret: must not be empty")
	}
	if c.Bucket == "" {
		return errors.New("-bucket: must not be empty")
	}
	return nil
}

func main() { benchkit.Main("s3bench", parseFlags, run) }

func parseFlags(args []string) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("s3bench", flag.ContinueOnError)
	servers := fs.String("servers", strings.Join(cfg.Servers, ","), "servers to measure, in run order (versitygw, sluice, sluice-nofsync)")
	fs.StringVar(&cfg.SluiceBin, "sluice-bin", cfg.SluiceBin, "sluice binary")
	fs.StringVar(&cfg.SluiceArgs, "sluice-args", cfg.SluiceArgs, "extra arguments for `sluice serve`")
	fs.StringVar(&cfg.SluiceRev, "sluice-rev", cfg.SluiceRev, "sluice revision label for the report")
	fs.StringVar(&cfg.VersityBin, "versitygw-bin", cfg.VersityBin, "versitygw binary")
	fs.StringVar(&cfg.VersityRev, "versitygw-rev", cfg.VersityRev, "versitygw version label for the report")
	fs.StringVar(&cfg.VersityArgs, "versitygw-args", cfg.VersityArgs, "extra arguments for `versitygw posix`")
	fs.StringVar(&cfg.WorkDir, "workdir", cfg.WorkDir, "directory for server data (default: a new temp dir)")
	fs.BoolVar(&cfg.Keep, "keep", cfg.Keep, "keep server data and logs after the run")
	ops := fs.String("ops", strings.Join(cfg.Ops, ","), "operations (PUT, GET)")
	sizes := fs.String("sizes", "4KiB,1MiB", "object sizes (B, KiB, MiB suffixes)")
	conc := fs.String("concurrency", "1,32", "concurrent clients per cell")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured warm-up per cell")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured window per cell")
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "slices each cell's window is cut into; servers take turns slice by slice")
	fs.StringVar(&cfg.Payload, "payload", cfg.Payload, "x-amz-content-sha256 mode: sha256 (hex digest, precomputed once per body) or unsigned (UNSIGNED-PAYLOAD)")
	fs.StringVar(&cfg.AccessKey, "access", cfg.AccessKey, "access key for both servers")
	fs.StringVar(&cfg.SecretKey, "secret", cfg.SecretKey, "secret key for both servers")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "SigV4 region")
	fs.StringVar(&cfg.Bucket, "bucket", cfg.Bucket, "bucket created on each server")
	fs.StringVar(&cfg.Out, "out", cfg.Out, "write the markdown report here too (empty: stdout only)")
	fs.StringVar(&cfg.PerfDir, "perf", cfg.PerfDir, "record a `perf record -g` CPU profile of each server into this directory")
	fs.DurationVar(&cfg.ReadyWait, "ready-timeout", cfg.ReadyWait, "how long a server may take to become ready")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.Servers = benchkit.SplitList(*servers)
	cfg.defaultServers = !benchkit.FlagSet(fs, "servers")
	cfg.Ops = benchkit.SplitList(strings.ToUpper(*ops))
	var err error
	if cfg.Sizes, err = benchkit.ParseSizes(*sizes); err != nil {
		return cfg, fmt.Errorf("-sizes: %w", err)
	}
	if cfg.Concurrency, err = benchkit.ParseInts(*conc); err != nil {
		return cfg, fmt.Errorf("-concurrency: %w", err)
	}
	return cfg, cfg.Validate()
}

// cells lists the grid in run order: for every size and client count, the
// PUT cell comes before the GET cell.
func (c Config) cells() []cell {
	var out []cell
	for _, size := range c.Sizes {
		for _, n := range c.Concurrency {
			for _, op := range []string{"PUT", "GET"} {
				if slices.Contains(c.Ops, op) {
					out = append(out, cell{op: op, size: size, conc: n})
				}
			}
		}
	}
	return out
}

func run(ctx context.Context, cfg Config) error {
	workDir, err := benchkit.PrepareWorkDir(cfg.WorkDir, "sluice-bench-")
	if err != nil {
		return err
	}
	if !cfg.Keep {
		defer os.RemoveAll(workDir)
	}
	benchkit.Logf("work dir %s", workDir)

	if slices.Contains(cfg.Servers, "sluice-nofsync") && !sluiceHasFsyncFlag(ctx, cfg.SluiceBin) {
		if !cfg.defaultServers {
			return errors.New("sluice-nofsync: this sluice build has no `serve --fsync` flag")
		}
		benchkit.Logf("leaving out sluice-nofsync: this sluice build has no `serve --fsync` flag")
		cfg.Servers = slices.DeleteFunc(slices.Clone(cfg.Servers), func(s string) bool { return s == "sluice-nofsync" })
	}
	env := describeEnv(ctx, cfg, workDir)
	bodies := map[int]benchkit.Body{}
	for _, size := range cfg.Sizes {
		bodies[size] = randomBody(size, cfg.Payload)
	}

	var targets []*target
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()
	for _, name := range cfg.Servers {
		t, err := startTarget(ctx, cfg, serverKinds[name], workDir)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		targets = append(targets, t)
	}

	results, err := runGrid(ctx, cfg, targets, bodies)
	if err != nil {
		return err
	}
	env.LoadEnd = benchkit.LoadAvg()

	var failed []string
	for _, r := range results {
		if r.errors > 0 {
			failed = append(failed, fmt.Sprintf("%s %s: %d errors, first: %s", r.server, r.cell, r.errors, r.firstErr))
		}
	}
	report := renderReport(cfg, env, results)
	fmt.Print(report)
	if cfg.Out != "" && len(failed) == 0 {
		if err := benchkit.WriteReport(cfg.Out, report); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d cell(s) had errors, report not saved:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return nil
}

// target is a started, ready server with its bucket and client.
type target struct {
	srv  *server
	cl   *client
	prof *benchkit.PerfRecorder
	keep bool
}

func startTarget(ctx context.Context, cfg Config, kind serverKind, workDir string) (*target, error) {
	srv, err := startServer(cfg, kind, workDir)
	if err != nil {
		return nil, err
	}
	t := &target{srv: srv, cl: newClient(srv.BaseURL(), cfg), keep: cfg.Keep}
	t0 := time.Now()
	if err := srv.waitReady(ctx, t.cl, cfg.ReadyWait); err != nil {
		t.close()
		return nil, err
	}
	benchkit.Logf("%s: pid %d on %s, ready in %s", kind.name, srv.Pid(), srv.Addr(), time.Since(t0).Round(time.Millisecond))
	if err := t.cl.createBucket(ctx, cfg.Bucket); err != nil {
		t.close()
		return nil, fmt.Errorf("create bucket: %w", err)
	}
	if cfg.PerfDir != "" {
		if t.prof, err = benchkit.StartPerf(cfg.PerfDir, kind.name, srv.Pid(), 499); err != nil {
			t.close()
			return nil, err
		}
	}
	return t, nil
}

func (t *target) close() {
	if t.prof != nil {
		t.prof.Stop()
	}
	t.cl.Close()
	if err := t.srv.Stop(); err != nil {
		benchkit.Logf("%s: stop: %v", t.srv.kind.name, err)
	}
	if !t.keep {
		_ = os.RemoveAll(t.srv.dataDir)
	}
}

// runGrid runs every cell on every server. A cell's measured window is cut
// into cfg.Rounds slices and the servers take turns slice by slice (A B,
// B A, A B, ...), so that load drifting in from elsewhere on the machine, or
// a burst of someone else's disk writes, hits all servers alike; each
// server's slices are then pooled. The first slice of a cell is preceded by
// the full warm-up, later ones by a short re-warm. The page cache is flushed
// (sync) before every slice, so no server's fsyncs wait on dirty pages
// another server (or its own earlier slice) left behind.
func runGrid(ctx context.Context, cfg Config, targets []*target, bodies map[int]benchkit.Body) ([]result, error) {
	var results []result
	for _, c := range cfg.cells() {
		b := bodies[c.size]
		if c.op == "GET" {
			for _, t := range targets {
				if err := seedGet(ctx, t.cl, cfg.Bucket, c, b); err != nil {
					return nil, fmt.Errorf("%s: %s: %w", t.srv.kind.name, c, err)
				}
			}
		}
		pooled := make([]result, len(targets))
		for round := range cfg.Rounds {
			warmup := benchkit.RoundWarmup(cfg.Warmup, round)
			slice := cfg.Duration / time.Duration(cfg.Rounds)
			for _, i := range benchkit.TurnOrder(len(targets), round) {
				t := targets[i]
				if err := ctx.Err(); err != nil {
					return nil, errors.New("interrupted")
				}
				flush()
				r := runCell(ctx, t.cl, cfg.Bucket, c, round, b, warmup, slice, t.srv.cpuTime)
				if err := ctx.Err(); err != nil {
					return nil, errors.New("interrupted")
				}
				r.server = t.srv.kind.name
				if round == 0 {
					pooled[i] = r
				} else {
					pooled[i] = pooled[i].merge(r)
				}
				if err := checkAlive(targets, c); err != nil {
					return nil, err
				}
			}
		}
		for _, r := range pooled {
			status := ""
			if r.errors > 0 {
				status = fmt.Sprintf("  FAILED: %d errors, first: %s", r.errors, r.firstErr)
			}
			benchkit.Logf("%-14s %-16s %9.1f ops/s %8.1f MiB/s  p50 %7.2f ms  p99 %7.2f ms  server CPU %s/op  in flight %3.0f%%%s",
				r.server, c, r.opsPerSec(), r.mibPerSec(), benchkit.Ms(r.p50), benchkit.Ms(r.p99), benchkit.FmtCPU(r.cpuPerOp()), 100*r.inFlight(), status)
			r.lat = nil
			results = append(results, r)
		}
	}
	return results, nil
}

// checkAlive fails the run as soon as any server has exited.
func checkAlive(targets []*target, c cell) error {
	for _, t := range targets {
		select {
		case <-t.srv.Exited():
			return fmt.Errorf("%s exited during %s (%s); log tail:\n%s", t.srv.kind.name, c, t.srv.ExitReason(), t.srv.LogTail(20))
		default:
		}
	}
	return nil
}

// flush writes every dirty page of the machine to disk.
func flush() { syscall.Sync() }
