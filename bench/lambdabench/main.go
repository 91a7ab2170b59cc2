// Command lambdabench measures warm invoke latency and throughput, and cold
// starts, of functions under Sluice and under AWS's Lambda Runtime Interface
// Emulator (RIE), on the same machine, in the same run, with the same
// aws-lambda-go handler binary.
//
// Warm: for each number of callers, N goroutines invoke the echo function
// back to back, through Sluice's SigV4-signed Lambda Invoke API, through
// Sluice's unsigned emulator-compatible endpoint, and through the emulator.
// Each cell's window is cut into slices that the targets take in turns, so
// that load drifting in from the rest of the machine hits them alike.
// Cold: new functions on Sluice (Go and Python) and new emulator processes,
// first invocation timed, Init Duration read from the REPORT line.
//
// It owns the processes it starts: each runs in its own process group, is
// stopped with SIGTERM (then SIGKILL) at the end, on Ctrl-C, or on any
// error, and dies with the bench if the bench is killed. It is a standalone
// main package rather than a Go benchmark so that `go test ./...` only
// compiles it. Run it with `make bench` (bench/run.sh).
package main

import (
	"context"
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// Config is everything one bench run needs.
type Config struct {
	Targets   []string // run order; "rie" is the ratio baseline
	Callers   []int
	Warmup    time.Duration
	Duration  time.Duration
	Rounds    int // slices each cell's window is cut into, targets alternating
	PayloadSz int // bytes of the JSON event the echo returns

	Cold      []string // cold-start kinds, see coldKinds
	ColdRuns  int
	PyRuntime string // Lambda runtime name for the Python function; "" to match the local python3

	SluiceBin string
	SluiceRev string // label for the report, e.g. a git revision
	RIEBin    string // "" or missing: the emulator's rows are left out
	RIERev    string // label for the report
	RIENote   string // why the emulator is missing, for the report
	EchoBin   string // the aws-lambda-go echo, built from bench/lambdabench/echo
	// RIECallers says how several callers reach the emulator: "auto" sends
	// them concurrently when a probe shows the emulator survives that, else
	// one at a time; "serial" or "concurrent" force one way.
	RIECallers string

	AccessKey string
	SecretKey string
	Region    string
	WorkDir   string // a fresh temp dir when empty
	Keep      bool   // keep WorkDir (data, logs) after the run
	Out       string // markdown report path; "" to skip writing
	PerfDir   string // when set, `perf record` each host process during the warm cells
	ReadyWait time.Duration

	// rieSerial is decided at run time from RIECallers and the probe.
	rieSerial bool
}

// DefaultConfig measures the grid: 1 and 16 callers, 5 s per cell
// after 1 s of warm-up, and 10 cold starts of each kind.
func DefaultConfig() Config {
	return Config{
		Targets:    []string{"rie", "sluice-invoke", "sluice-rie"},
		Callers:    []int{1, 16},
		Warmup:     time.Second,
		Duration:   5 * time.Second,
		Rounds:     3,
		PayloadSz:  128,
		Cold:       []string{"sluice-go", "sluice-python", "rie-go"},
		ColdRuns:   10,
		SluiceBin:  ".bench/bin/sluice",
		RIEBin:     ".bench/bin/aws-lambda-rie",
		EchoBin:    ".bench/lambda/echo/bootstrap",
		RIECallers: "auto",
		AccessKey:  "test",
		SecretKey:  "test",
		Region:     "us-east-1",
		Out:        "bench/results/lambda-latest.md",
		ReadyWait:  30 * time.Second,
	}
}

var targetLabels = map[string]string{
	"rie":           "emulator (RIE)",
	"sluice-invoke": "sluice Invoke API (SigV4)",
	"sluice-rie":    "sluice RIE endpoint (unsigned)",
}

// Validate names the first flag that is out of range.
func (c Config) Validate() error {
	if len(c.Targets) == 0 && len(c.Cold) == 0 {
		return errors.New("-targets/-cold: nothing to measure")
	}
	for _, t := range c.Targets {
		if _, ok := targetLabels[t]; !ok {
			return fmt.Errorf("-targets: unknown target %q (want rie, sluice-invoke, sluice-rie)", t)
		}
	}
	if len(c.Targets) > 0 && len(c.Callers) == 0 {
		return errors.New("-callers: at least one level")
	}
	for _, n := range c.Callers {
		if n < 1 || n > 256 {
			return fmt.Errorf("-callers: %d out of range (1 .. 256)", n)
		}
	}
	if err := benchkit.ValidateWindow(c.Duration, c.Warmup, c.Rounds); err != nil {
		return err
	}
	if c.PayloadSz < 16 || c.PayloadSz > 1<<20 {
		return fmt.Errorf("-payload-size: %d out of range (16 B .. 1 MiB)", c.PayloadSz)
	}
	for _, k := range c.Cold {
		if _, ok := coldKinds[k]; !ok {
			return fmt.Errorf("-cold: unknown kind %q (want sluice-go, sluice-python, rie-go)", k)
		}
	}
	if c.ColdRuns < 0 || c.ColdRuns > 1000 {
		return fmt.Errorf("-cold-runs: %d out of range (0 .. 1000)", c.ColdRuns)
	}
	if c.RIECallers != "auto" && c.RIECallers != "serial" && c.RIECallers != "concurrent" {
		return fmt.Errorf("-rie-callers: %q (want auto, serial, concurrent)", c.RIECallers)
	}
	if c.EchoBin == "" {
		return errors.New("-echo-bin: must be set")
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		return errors.New("-access/-secret: must not be empty")
	}
	return nil
}

// needsSluice and needsRIE say which hosts the measured grid uses.
func (c Config) needsSluice() bool {
	return slices.ContainsFunc(c.Targets, func(t string) bool { return strings.HasPrefix(t, "sluice") }) ||
		(c.ColdRuns > 0 && slices.ContainsFunc(c.Cold, func(k string) bool { return strings.HasPrefix(k, "sluice") }))
}

func (c Config) maxCallers() int {
	n := 1
	for _, k := range c.Callers {
		n = max(n, k)
	}
	return n
}

func main() { benchkit.Main("lambdabench", parseFlags, run) }

func parseFlags(args []string) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("lambdabench", flag.ContinueOnError)
	targets := fs.String("targets", strings.Join(cfg.Targets, ","), "warm targets, in run order (rie, sluice-invoke, sluice-rie); empty for none")
	callers := fs.String("callers", "1,16", "concurrent callers per warm cell")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured warm-up per cell (later slices get a quarter)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured window per cell and target")
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "slices each cell's window is cut into; targets take turns slice by slice")
	fs.IntVar(&cfg.PayloadSz, "payload-size", cfg.PayloadSz, "bytes of the JSON event sent (and echoed back)")
	cold := fs.String("cold", strings.Join(cfg.Cold, ","), "cold-start kinds (sluice-go, sluice-python, rie-go); empty for none")
	fs.IntVar(&cfg.ColdRuns, "cold-runs", cfg.ColdRuns, "cold starts per kind")
	fs.StringVar(&cfg.PyRuntime, "python-runtime", cfg.PyRuntime, "runtime of the Python function (default: the local python3's version, e.g. python3.11)")
	fs.StringVar(&cfg.SluiceBin, "sluice-bin", cfg.SluiceBin, "sluice binary")
	fs.StringVar(&cfg.SluiceRev, "sluice-rev", cfg.SluiceRev, "sluice revision label for the report")
	fs.StringVar(&cfg.RIEBin, "rie-bin", cfg.RIEBin, "aws-lambda-rie binary; empty or missing leaves the emulator out")
	fs.StringVar(&cfg.RIERev, "rie-rev", cfg.RIERev, "emulator revision label for the report")
	fs.StringVar(&cfg.RIENote, "rie-note", cfg.RIENote, "why the emulator is missing, printed in the report")
	fs.StringVar(&cfg.EchoBin, "echo-bin", cfg.EchoBin, "the echo handler built from bench/lambdabench/echo")
	fs.StringVar(&cfg.RIECallers, "rie-callers", cfg.RIECallers, "how several callers reach the emulator: auto, serial or concurrent")
	fs.StringVar(&cfg.AccessKey, "access", cfg.AccessKey, "access key for sluice")
	fs.StringVar(&cfg.SecretKey, "secret", cfg.SecretKey, "secret key for sluice")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "SigV4 region")
	fs.StringVar(&cfg.WorkDir, "workdir", cfg.WorkDir, "directory for host data and logs (default: a new temp dir)")
	fs.BoolVar(&cfg.Keep, "keep", cfg.Keep, "keep host data and logs after the run")
	fs.StringVar(&cfg.Out, "out", cfg.Out, "write the markdown report here too (empty: stdout only)")
	fs.StringVar(&cfg.PerfDir, "perf", cfg.PerfDir, "record a `perf record -g` CPU profile of each host process during the warm cells into this directory")
	fs.DurationVar(&cfg.ReadyWait, "ready-timeout", cfg.ReadyWait, "how long a host may take to become ready")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.Targets = benchkit.SplitList(*targets)
	cfg.Cold = benchkit.SplitList(*cold)
	var err error
	if cfg.Callers, err = benchkit.ParseInts(*callers); err != nil {
		return cfg, fmt.Errorf("-callers: %w", err)
	}
	return cfg, cfg.Validate()
}

// run measures everything cfg asks for and writes the report.
func run(ctx context.Context, cfg Config) error {
	workDir, err := benchkit.PrepareWorkDir(cfg.WorkDir, "sluice-lambdabench-")
	if err != nil {
		return err
	}
	if !cfg.Keep {
		defer os.RemoveAll(workDir)
	}
	benchkit.Logf("work dir %s", workDir)

	echo, err := os.ReadFile(cfg.EchoBin)
	if err != nil {
		return fmt.Errorf("echo handler (build it with `go build -o %s ./bench/lambdabench/echo`): %w", cfg.EchoBin, err)
	}
	if cfg.RIEBin != "" {
		if _, err := os.Stat(cfg.RIEBin); err != nil {
			cfg.RIENote = fmt.Sprintf("emulator binary %s not found", cfg.RIEBin)
			cfg.RIEBin = ""
		}
	}
	if cfg.RIEBin == "" {
		if cfg.RIENote == "" {
			cfg.RIENote = "no -rie-bin given"
		}
		benchkit.Logf("leaving out the emulator: %s", cfg.RIENote)
		cfg.Targets = slices.DeleteFunc(cfg.Targets, func(t string) bool { return t == "rie" })
		cfg.Cold = slices.DeleteFunc(cfg.Cold, func(k string) bool { return k == "rie-go" })
	}
	if cfg.PyRuntime == "" {
		cfg.PyRuntime = localPythonRuntime(ctx)
	}
	payload := echoPayload(cfg.PayloadSz)
	e := describeEnv(ctx, cfg)

	var sluice *benchkit.Proc
	var adm *admin
	if cfg.needsSluice() {
		sluice, adm, err = startSluice(ctx, cfg, filepath.Join(workDir, "sluice"))
		if err != nil {
			return err
		}
		defer func() {
			if err := sluice.Stop(); err != nil {
				benchkit.Logf("sluice: stop: %v", err)
			}
		}()
	}
	goZip, err := zipOf(map[string][]byte{"bootstrap": echo}, map[string]bool{"bootstrap": true})
	if err != nil {
		return err
	}

	var results []result
	if len(cfg.Targets) > 0 {
		results, err = runWarm(ctx, &cfg, &e, workDir, sluice, adm, goZip, payload)
		if err != nil {
			return err
		}
	}

	var cold []coldResult
	if cfg.ColdRuns > 0 && len(cfg.Cold) > 0 {
		pyZip, err := zipOf(map[string][]byte{"app.py": []byte(pythonEcho)}, nil)
		if err != nil {
			return err
		}
		cold, err = runCold(ctx, coldEnv{
			cfg: cfg, sluice: sluice, admin: adm, goZip: goZip, pyZip: pyZip,
			pyRuntime: cfg.PyRuntime, payload: payload, workDir: workDir,
		})
		if err != nil {
			return err
		}
	}
	e.LoadEnd = benchkit.LoadAvg()

	var failed []string
	for _, r := range results {
		if r.errors > 0 && r.crashed == "" {
			failed = append(failed, fmt.Sprintf("%s callers=%d: %d errors, first: %s", r.target, r.callers, r.errors, r.firstErr))
		}
	}
	for _, c := range cold {
		if c.errors > 0 {
			failed = append(failed, fmt.Sprintf("cold %s: %d errors, first: %s", c.kind, c.errors, c.firstErr))
		}
	}
	rep := renderReport(cfg, e, results, cold)
	fmt.Print(rep)
	if cfg.Out != "" && len(failed) == 0 {
		if err := benchkit.WriteReport(cfg.Out, rep); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d measurement(s) had errors, report not saved:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return nil
}

// warmFunction is the echo's name on Sluice. It must not be "function":
// Sluice routes that name's invocation path to its emulator endpoint, and
// the Invoke API row must measure the Invoke API. Being the only function
// during the warm cells, it is also what the emulator endpoint invokes.
const warmFunction = "echo"

// runWarm sets up the warm targets and runs the grid.
func runWarm(ctx context.Context, cfg *Config, e *env, workDir string, sluice *benchkit.Proc, adm *admin, goZip, payload []byte) ([]result, error) {
	maxCallers := cfg.maxCallers()
	var targets []*target
	if slices.Contains(cfg.Targets, "rie") {
		switch cfg.RIECallers {
		case "serial":
			cfg.rieSerial = true
		case "auto":
			if maxCallers > 1 {
				probe, err := probeRIEConcurrency(ctx, *cfg, workDir, maxCallers, payload)
				if err != nil {
					return nil, fmt.Errorf("emulator concurrency probe: %w", err)
				}
				benchkit.Logf("emulator with %d concurrent invocations: %s", maxCallers, probe.summary)
				e.rieProbe = probe.summary
				cfg.rieSerial = !probe.concurrentOK
			}
		}
		p, err := startRIE(*cfg, filepath.Join(workDir, "rie"))
		if err != nil {
			return nil, err
		}
		defer func() {
			if err := p.Stop(); err != nil && !errors.Is(err, benchkit.ErrExitedEarly) {
				benchkit.Logf("rie: stop: %v", err)
			}
		}()
		if err := p.WaitReady(ctx, cfg.ReadyWait, benchkit.TCPAccepts(p.Addr())); err != nil {
			return nil, err
		}
		benchkit.Logf("rie: pid %d on %s", p.Pid(), p.Addr())
		iv := newInvoker(p.BaseURL()+rieInvokePath, benchkit.NewTransport(maxCallers), *cfg, false, payload)
		targets = append(targets, &target{name: "rie", host: p, iv: iv})
	}
	if sluice != nil && slices.ContainsFunc(cfg.Targets, func(t string) bool { return strings.HasPrefix(t, "sluice") }) {
		if err := adm.createFunction(ctx, warmFunction, "provided.al2023", "bootstrap", goZip); err != nil {
			return nil, err
		}
		if maxCallers > sluiceDefaultConcurrency {
			if err := adm.setConcurrency(ctx, warmFunction, maxCallers); err != nil {
				return nil, fmt.Errorf("put function concurrency: %w", err)
			}
			e.reserved = maxCallers
		}
		for _, name := range cfg.Targets {
			var iv *invoker
			switch name {
			case "sluice-invoke":
				iv = newInvoker(sluice.BaseURL()+"/2015-03-31/functions/"+warmFunction+"/invocations", benchkit.NewTransport(maxCallers), *cfg, true, payload)
			case "sluice-rie":
				iv = newInvoker(sluice.BaseURL()+rieInvokePath, benchkit.NewTransport(maxCallers), *cfg, false, payload)
			default:
				continue
			}
			targets = append(targets, &target{name: name, host: sluice, iv: iv, function: warmFunction, admin: adm})
		}
	}
	// Keep the configured run order.
	slices.SortStableFunc(targets, func(a, b *target) int {
		return slices.Index(cfg.Targets, a.name) - slices.Index(cfg.Targets, b.name)
	})
	defer func() {
		for _, t := range targets {
			t.iv.http.CloseIdleConnections()
		}
	}()
	// One invocation each before anything is measured: a failure here is
	// a setup problem, better reported plainly than as a cell of errors.
	for _, t := range targets {
		if _, err := t.iv.invoke(ctx); err != nil {
			return nil, fmt.Errorf("%s: first invocation: %w", t.name, err)
		}
	}
	if cfg.PerfDir != "" {
		seen := map[*benchkit.Proc]bool{}
		for _, t := range targets {
			if seen[t.host] {
				continue
			}
			seen[t.host] = true
			rec, err := benchkit.StartPerf(cfg.PerfDir, t.host.Name(), t.host.Pid(), 999)
			if err != nil {
				return nil, err
			}
			defer rec.Stop()
		}
	}
	results, err := runGrid(ctx, *cfg, targets)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := collectDurations(ctx, targets, results); err != nil {
		return nil, fmt.Errorf("collect REPORT durations: %w", err)
	}
	benchkit.Logf("REPORT durations collected in %s", time.Since(t0).Round(time.Millisecond))
	return results, nil
}

// sluiceDefaultConcurrency is how many instances of a function Sluice runs
// at once when the function reserves no concurrency.
const sluiceDefaultConcurrency = 10

// startSluice starts `sluice serve` on free loopback ports with its data in
// dir and waits until it is healthy.
func startSluice(ctx context.Context, cfg Config, dir string) (*benchkit.Proc, *admin, error) {
	addr, err := benchkit.FreeAddr()
	if err != nil {
		return nil, nil, err
	}
	// --log-level warn: no per-request log line, as the emulator's
	// --log-level error; function output and REPORT lines still go to the
	// log groups, which is what Sluice always does.
	args, err := benchkit.SluiceServeArgs(addr, filepath.Join(dir, "data"))
	if err != nil {
		return nil, nil, err
	}
	env := append(benchkit.EnvironWithout("SLUICE_CONFIG"), "SLUICE_ACCESS_KEY="+cfg.AccessKey, "SLUICE_SECRET_KEY="+cfg.SecretKey)
	p, err := benchkit.Start(benchkit.Spec{Name: "sluice", Bin: cfg.SluiceBin, Args: args, Env: env, Dir: dir, Addr: addr})
	if err != nil {
		return nil, nil, err
	}
	t0 := time.Now()
	tr := benchkit.NewTransport(1)
	defer tr.CloseIdleConnections()
	if err := p.WaitReady(ctx, cfg.ReadyWait, benchkit.HTTPHealth(&http.Client{Transport: tr, Timeout: 5 * time.Second}, p.BaseURL()+"/_sluice/health")); err != nil {
		_ = p.Stop()
		return nil, nil, err
	}
	benchkit.Logf("sluice: pid %d on %s, ready in %s", p.Pid(), addr, time.Since(t0).Round(time.Millisecond))
	return p, newAdmin(p.BaseURL(), cfg), nil
}

// localPythonRuntime names the Lambda runtime matching the machine's
// python3 (Sluice runs any python3.x runtime on it, noting a mismatch).
func localPythonRuntime(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "python3", "-c", `import sys; print("python%d.%d" % sys.version_info[:2])`).Output()
	if v := strings.TrimSpace(string(out)); err == nil && strings.HasPrefix(v, "python3.") {
		return v
	}
	return "python3.12"
}

// echoModule names the aws-lambda-go version the echo binary was built
// with, from its embedded build information.
func echoModule(path string) string {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return "unknown aws-lambda-go"
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/aws/aws-lambda-go" {
			return fmt.Sprintf("aws-lambda-go %s, built with %s", d.Version, bi.GoVersion)
		}
	}
	return "built with " + bi.GoVersion
}
