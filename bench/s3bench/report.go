package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// env is the machine and software description printed above the table:
// numbers from this bench mean little without it.
type env struct {
	when       time.Time
	cpu        string
	cpus       int
	kernel     string
	fsType     string
	goVersion  string
	sluiceVer  string
	versityVer string
	loadStart  string
	loadEnd    string
}

// loadAvg is /proc/loadavg's 1, 5 and 15 minute averages: the bench shares
// the machine, and a busy machine explains odd numbers.
func loadAvg() string {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func describeEnv(ctx context.Context, cfg Config, workDir string) env {
	e := env{
		when:      time.Now().UTC(),
		cpu:       cpuModel(),
		cpus:      runtime.NumCPU(),
		kernel:    readTrim("/proc/sys/kernel/osrelease"),
		fsType:    fsType(workDir),
		goVersion: runtime.Version(),
		loadStart: loadAvg(),
	}
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

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func fsType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "unknown"
	}
	switch uint32(st.Type) {
	case 0xEF53:
		return "ext4" + ext4Journal(dir)
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x01021994:
		return "tmpfs (no fsync cost: numbers overstate disk speed)"
	case 0x794c7630:
		return "overlayfs"
	case 0x2FC12FC1:
		return "zfs"
	}
	return fmt.Sprintf("statfs type %#x", st.Type)
}

// ext4Journal says whether the ext4 file system holding dir has a journal:
// without one, fsync skips the journal commit and is much cheaper, which
// changes what sluice's durable PUTs cost. It looks for the mount's jbd2
// entry in /proc.
func ext4Journal(dir string) string {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return ""
	}
	var source, best string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[2] != "ext4" {
			continue
		}
		mp := f[1]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best, source = mp, f[0]
		}
	}
	if source == "" {
		return ""
	}
	if m, _ := filepath.Glob("/proc/fs/jbd2/" + filepath.Base(source) + "-*"); len(m) > 0 {
		return " (journaled)"
	}
	return " without a journal (fsync is cheaper than on a journaled fs)"
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
		e.when.Format(time.RFC3339), e.cpu, e.cpus, e.kernel, e.fsType, e.goVersion)
	fmt.Fprintf(&b, "- load average (1/5/15 min): %s at start, %s at end\n", e.loadStart, e.loadEnd)
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
					ratios = fmt.Sprintf("%s | %s | %s", ratio(r.opsPerSec(), base.opsPerSec()), ratio(ms(r.p50), ms(base.p50)), ratio(ms(r.p99), ms(base.p99)))
				}
				errs := fmt.Sprint(r.errors)
				if r.errors > 0 {
					errs = fmt.Sprintf("**%d FAILED** (%s)", r.errors, strings.ReplaceAll(r.firstErr, "|", "/"))
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %d | %.0f | %.1f | %.2f | %.2f | %s | %.0f%% | %s | %s |\n",
					s, c.op, sizeLabel(c.size), c.conc, r.opsPerSec(), r.mibPerSec(), ms(r.p50), ms(r.p99), fmtCPU(r.cpuPerOp()),
					100*r.inFlight(), errs, ratios)
			}
		}
	}
	return b.String()
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// perfRecorder profiles one server process with `perf record` for as long
// as its cells run. perf sees both Go and kernel frames (fsync, page cache
// copies), which a Go CPU profile alone would not attribute.
type perfRecorder struct {
	cmd    *exec.Cmd
	done   chan struct{}
	output string
}

func startPerf(dir, name string, pid int) (*perfRecorder, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create perf dir: %w", err)
	}
	out := filepath.Join(dir, name+".perf.data")
	cmd := exec.Command("perf", "record", "-F", "499", "-g", "-p", fmt.Sprint(pid), "-o", out)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start perf: %w", err)
	}
	p := &perfRecorder{cmd: cmd, done: make(chan struct{}), output: out}
	go func() { _ = cmd.Wait(); close(p.done) }()
	logf("%s: perf recording into %s", name, out)
	return p, nil
}

// stop asks perf to finish writing its file (SIGINT), then waits.
func (p *perfRecorder) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
