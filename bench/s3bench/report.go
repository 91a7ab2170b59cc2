package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// env is the machine and software description printed above the table:
// numbers from this bench mean little without it.
type env struct {
	benchkit.Machine
	sluiceVer  string
	versityVer string
}

func describeEnv(ctx context.Context, cfg Config, workDir string) env {
	e := env{
		Machine: benchkit.DescribeMachine(),
	}
	e.FSType = benchkit.FSTypeJournal(workDir)
	for _, s := range cfg.Servers {
		switch s {
		case "sluice", "sluice-nofsync":
			e.sluiceVer = cfg.SluiceRev
			if e.sluiceVer == "" {
				e.sluiceVer = binaryVersion(ctx, cfg.SluiceBin, "version")
			}
		case "versitygw":
			e.versityVer = cfg.VersityRev
			if e.versityVer == "" {
				e.versityVer = binaryVersion(ctx, cfg.VersityBin)
			}
		}
	}
	return e
}

// renderReport prints the run description and one table row per server and
// cell, rows of the same cell adjacent, with ratios against versitygw.
func renderReport(cfg Config, e env, results []result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# S3 benchmark: sluice vs versitygw (posix)\n\n")
	if slices.Contains(cfg.Servers, "sluice-nofsync") {
		fmt.Fprintf(&b, "sluice-nofsync rows have versitygw's durability (page cache, no fsync): compare PUTs there like for like; "+
			"sluice rows show the cost of sluice's default fsync of every write.\n\n")
	}
	fmt.Fprintf(&b, "- run: %s, %s × %d CPUs shared by the client and the server, Linux %s, data on %s, client built with %s\n",
		e.When.Format(time.RFC3339), e.CPU, e.CPUs, e.Kernel, e.FSType, e.GoVersion)
	fmt.Fprintf(&b, "- load average (1/5/15 min): %s at start, %s at end\n", e.LoadStart, e.LoadEnd)
	fmt.Fprintf(&b, "- cells: %s measured per server after %s warm-up; N clients = N goroutines sending back to back, each on its own keys; "+
		"the window is cut into %d slices and the servers take turns slice by slice (A B, B A, ...), samples pooled; sync(2) before every slice\n",
		cfg.Duration, cfg.Warmup, cfg.Rounds)
	payload := "hex SHA-256 of the body, computed once per body (as aws-cli does over plain HTTP); the server verifies it"
	if cfg.Payload == "unsigned" {
		payload = "UNSIGNED-PAYLOAD (as SDKs do over TLS)"
	}
	fmt.Fprintf(&b, "- client: net/http keep-alive, path-style, SigV4 Authorization header; x-amz-content-sha256: %s\n", payload)
	fmt.Fprintf(&b, "- PUT writes new keys; GET reads objects written just before the cell (hot in the page cache)\n")
	for _, s := range cfg.Servers {
		kind := serverKinds[s]
		ver := e.versityVer
		if strings.HasPrefix(s, "sluice") {
			ver = e.sluiceVer
		}
		fmt.Fprintf(&b, "- %s (%s): %s\n", s, ver, kind.durability(cfg))
	}
	fmt.Fprintf(&b, "\nServer CPU/op is the server process's user+system CPU time in the window divided by its requests (10 ms clock ticks, so approximate); the client uses the rest of the 2 cores.\n")
	fmt.Fprintf(&b, "In flight is the share of the window in which every client had a request outstanding; "+
		"well under 100%% means the client goroutines were starved of CPU (the machine was overloaded) and ops/s understates the server.\n")
	var starved []string
	for _, r := range results {
		if r.errors == 0 && r.inFlight() < 0.8 {
			starved = append(starved, fmt.Sprintf("%s %s (%.0f%%)", r.server, r.cell, 100*r.inFlight()))
		}
	}
	if len(starved) > 0 {
		fmt.Fprintf(&b, "\n**Warning: the client was starved in %d cell(s), so their ops/s are not comparable:** %s.\n\n",
			len(starved), strings.Join(starved, ", "))
	}
	fmt.Fprintf(&b, "Ratios are this row's server / versitygw: ops/s ratio > 1 means faster than versitygw, latency ratio < 1 means lower latency.\n\n")

	fmt.Fprintf(&b, "| server | op | size | clients | ops/s | MiB/s | p50 ms | p99 ms | server CPU/op | in flight | errors | ops/s ratio | p50 ratio | p99 ratio |\n")
	fmt.Fprintf(&b, "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	baseline := map[cell]result{}
	for _, r := range results {
		if r.server == "versitygw" {
			baseline[r.cell] = r
		}
	}
	for _, c := range cfg.cells() {
		for _, s := range cfg.Servers {
			for _, r := range results {
				if r.server != s || r.cell != c {
					continue
				}
				ratios := "— | — | —"
				if base, ok := baseline[c]; ok && s != "versitygw" {
					ratios = fmt.Sprintf("%s | %s | %s", benchkit.Ratio(r.opsPerSec(), base.opsPerSec()), benchkit.Ratio(benchkit.Ms(r.p50), benchkit.Ms(base.p50)), benchkit.Ratio(benchkit.Ms(r.p99), benchkit.Ms(base.p99)))
				}
				errs := benchkit.ErrCol(r.errors, r.firstErr)
				fmt.Fprintf(&b, "| %s | %s | %s | %d | %.0f | %.1f | %.2f | %.2f | %s | %.0f%% | %s | %s |\n",
					s, c.op, benchkit.SizeLabel(c.size), c.conc, r.opsPerSec(), r.mibPerSec(), benchkit.Ms(r.p50), benchkit.Ms(r.p99), benchkit.FmtCPU(r.cpuPerOp()),
					100*r.inFlight(), errs, ratios)
			}
		}
	}
	return b.String()
}
