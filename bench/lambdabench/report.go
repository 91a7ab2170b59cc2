package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// env is the machine and software description printed above the tables:
// numbers from this bench mean little without it.
type env struct {
	benchkit.Machine
	sluiceVer string
	rieVer    string
	echo      string
	python    string
	rieProbe  string // what concurrent invocations did to the emulator
	reserved  int    // ReservedConcurrentExecutions set on the warm function, 0 for none
}

func describeEnv(ctx context.Context, cfg Config) env {
	e := env{
		Machine:   benchkit.DescribeMachine(),
		sluiceVer: cfg.SluiceRev,
		rieVer:    cfg.RIERev,
		echo:      echoModule(cfg.EchoBin),
	}
	if e.sluiceVer == "" {
		if e.sluiceVer, _ = benchkit.VersionLine(ctx, cfg.SluiceBin, "version"); e.sluiceVer == "" {
			e.sluiceVer = "unknown"
		}
	}
	if e.rieVer == "" {
		e.rieVer = "unknown revision"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "python3", "--version").CombinedOutput(); err == nil {
		e.python = strings.TrimSpace(string(out))
	} else {
		e.python = "python3 not found"
	}
	return e
}

// renderReport prints the run description, the warm table (rows of the
// same number of callers adjacent, ratios against the emulator) and the
// cold-start table.
func renderReport(cfg Config, e env, results []result, cold []coldResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Lambda benchmark: sluice vs AWS's runtime interface emulator\n\n")
	fmt.Fprintf(&b, "- run: %s, %s × %d CPUs shared by the callers, the hosts and the functions, Linux %s, bench built with %s\n",
		e.When.Format(time.RFC3339), e.CPU, e.CPUs, e.Kernel, e.GoVersion)
	fmt.Fprintf(&b, "- load average (1/5/15 min): %s at start, %s at end\n", e.LoadStart, e.LoadEnd)
	fmt.Fprintf(&b, "- function: the same Go echo binary everywhere (bench/lambdabench/echo: returns its event unchanged; %s); event of %d bytes, checked on every answer\n",
		e.echo, cfg.PayloadSz)
	fmt.Fprintf(&b, "- sluice (%s): `sluice serve --log-level warn`; function created through CreateFunction (zip, provided.al2023, 128 MB)", e.sluiceVer)
	if e.reserved > 0 {
		fmt.Fprintf(&b, ", ReservedConcurrentExecutions %d (Sluice runs at most %d instances of a function that reserves none)", e.reserved, sluiceDefaultConcurrency)
	}
	fmt.Fprintf(&b, "; every invocation's output, START/END/REPORT lines included, goes to its log group as always\n")
	if cfg.RIEBin != "" {
		fmt.Fprintf(&b, "- emulator (aws-lambda-rie, %s, built from github.com/aws/aws-lambda-runtime-interface-emulator): "+
			"`aws-lambda-rie --log-level error --runtime-interface-emulator-address 127.0.0.1:P --runtime-api-address 127.0.0.1:Q bootstrap`, "+
			"AWS_LAMBDA_RUNTIME_API unset; it runs **one** execution environment (one bootstrap process)\n", e.rieVer)
		if e.rieProbe != "" {
			fmt.Fprintf(&b, "- emulator with %d concurrent invocations (probe on a throwaway emulator before the cells): %s\n", cfg.maxCallers(), e.rieProbe)
		}
		if cfg.rieSerial {
			fmt.Fprintf(&b, "- so the emulator's rows with several callers queue the callers **in the client**, one invocation at a time "+
				"(latency includes the wait for the turn): that is the most an emulator user gets out of it\n")
		}
	} else {
		fmt.Fprintf(&b, "- **the emulator was not measured**: %s. See bench/README.md to fetch and build it; the ratio columns are empty\n", cfg.RIENote)
	}
	if len(results) > 0 {
		fmt.Fprintf(&b, "- warm cells: %s measured per target after %s warm-up; N callers = N goroutines invoking back to back; the window is cut into %d slices "+
			"and the targets take turns slice by slice, samples pooled\n", cfg.Duration, cfg.Warmup, cfg.Rounds)
		fmt.Fprintf(&b, "- callers: net/http keep-alive; the Invoke API is SigV4-signed with aws-sdk-go-v2's signer (service lambda, payload hash precomputed), the emulator endpoints are unsigned\n")
		fmt.Fprintf(&b, "\np50/p99 are exact nearest-rank percentiles of every invocation in the window, from before signing to the end of reading the answer. "+
			"REPORT p50 is the host's own Duration figure for the same invocations (event handed to the runtime → answer received: the function's time as the host sees it), "+
			"read from Sluice's log group and the emulator's stdout; p50 − REPORT p50 estimates what the host adds in front of the function. "+
			"Cold starts in window counts those REPORT lines with an Init Duration: invocations that waited for a new instance (warm cells should have none). "+
			"Host CPU/invoke is the user+system CPU of the host process and every process under it (the function instances) in the window, "+
			"divided by the invocations (10 ms clock ticks, so approximate). In flight below 100%% means the callers were starved of CPU.\n")
		fmt.Fprintf(&b, "Ratios are this row / the emulator's row with as many callers: invokes/s ratio > 1 means more throughput, latency ratio < 1 means lower latency.\n\n")
		writeWarmTable(&b, cfg, results)
	}
	if len(cold) > 0 {
		fmt.Fprintf(&b, "\n## Cold start\n\n")
		fmt.Fprintf(&b, "Each run creates a new function (Sluice: CreateFunction and wait for Active; emulator: a new process, ready when its port accepts), "+
			"then times its first invocation over a new connection, Invoke sent → answer read; kinds take turns run by run. "+
			"Init Duration comes from the invocation's REPORT line. Python: %s, runtime %s.\n", e.python, cfg.PyRuntime)
		if cfg.RIEBin != "" {
			fmt.Fprintf(&b, "The emulator's Init Duration only covers handing the bootstrap command to its process starter; the process start and the runtime's init land in its REPORT Duration instead.\n")
		}
		fmt.Fprintf(&b, "\n| host, function | runs | p50 ms | p99 ms | Init Duration p50 ms | Init Duration p99 ms | REPORT Duration p50 ms | errors | p50 ratio |\n")
		fmt.Fprintf(&b, "|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		var base *coldResult
		for i := range cold {
			if cold[i].kind == "rie-go" {
				base = &cold[i]
			}
		}
		for _, c := range cold {
			p50, p99 := percentiles(c.lat)
			i50, _ := benchkit.FloatPercentile(c.inits, 50)
			i99, _ := benchkit.FloatPercentile(c.inits, 99)
			d50, _ := benchkit.FloatPercentile(c.durs, 50)
			ratioCol := "—"
			if base != nil && c.kind == "sluice-go" {
				bp50, _ := percentiles(base.lat)
				ratioCol = benchkit.Ratio(benchkit.Ms(p50), benchkit.Ms(bp50))
			}
			fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %s | %s |\n",
				coldKinds[c.kind], len(c.lat), benchkit.Ms(p50), benchkit.Ms(p99), i50, i99, d50, benchkit.ErrCol(c.errors, c.firstErr), ratioCol)
		}
	}
	return b.String()
}

func writeWarmTable(b *strings.Builder, cfg Config, results []result) {
	var starved []string
	for _, r := range results {
		if r.errors == 0 && r.crashed == "" && r.inFlight() < 0.8 {
			starved = append(starved, fmt.Sprintf("%s with %d callers (%.0f%%)", r.target, r.callers, 100*r.inFlight()))
		}
	}
	if len(starved) > 0 {
		fmt.Fprintf(b, "**Warning: the callers were starved in %d cell(s), so their invokes/s are not comparable:** %s.\n\n",
			len(starved), strings.Join(starved, ", "))
	}
	fmt.Fprintf(b, "| host, endpoint | op | callers | invokes/s | p50 ms | p99 ms | REPORT p50 ms | p50 − REPORT p50 ms | cold starts in window | host CPU/invoke | in flight | errors | invokes/s ratio | p50 ratio | p99 ratio |\n")
	fmt.Fprintf(b, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	base := map[int]result{}
	for _, r := range results {
		if r.target == "rie" && r.crashed == "" {
			base[r.callers] = r
		}
	}
	for _, n := range cfg.Callers {
		for _, t := range cfg.Targets {
			for _, r := range results {
				if r.target != t || r.callers != n {
					continue
				}
				label := targetLabels[t]
				if r.serial && r.callers > 1 {
					label += ", callers queued in the client"
				}
				if r.crashed != "" {
					fmt.Fprintf(b, "| %s | warm invoke | %d | **crashed**: %s | | | | | | | | %d | — | — | — |\n",
						label, n, strings.ReplaceAll(r.crashed, "|", "/"), r.errors)
					continue
				}
				rep, repOK := benchkit.FloatPercentile(r.durations, 50)
				repCol, gapCol, coldCol := "?", "?", "?"
				if repOK {
					repCol = fmt.Sprintf("%.3f", rep)
					gapCol = fmt.Sprintf("%.3f", benchkit.Ms(r.p50)-rep)
					coldCol = fmt.Sprint(r.colds)
				}
				ratios := "— | — | —"
				if bse, ok := base[n]; ok && t != "rie" {
					ratios = fmt.Sprintf("%s | %s | %s", benchkit.Ratio(r.opsPerSec(), bse.opsPerSec()), benchkit.Ratio(benchkit.Ms(r.p50), benchkit.Ms(bse.p50)), benchkit.Ratio(benchkit.Ms(r.p99), benchkit.Ms(bse.p99)))
				}
				fmt.Fprintf(b, "| %s | warm invoke | %d | %.0f | %.3f | %.3f | %s | %s | %s | %s | %.0f%% | %s | %s |\n",
					label, n, r.opsPerSec(), benchkit.Ms(r.p50), benchkit.Ms(r.p99), repCol, gapCol, coldCol, benchkit.FmtCPU(r.cpuPerOp()), 100*r.inFlight(),
					benchkit.ErrCol(r.errors, r.firstErr), ratios)
			}
		}
	}
}
