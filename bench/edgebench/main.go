// Command edgebench measures sluice's edge (issue 5) against the servers
// people put in front of images and static files today, on the same machine
// in the same run:
//
//   - hits: a cached 100 KB object served by the edge (a distribution in
//     front of a bucket, warmed so that every request is a hit) against
//     nginx serving the same file from disk with sendfile;
//   - resize: distinct `d=WxH` sizes of real 1–8 MP JPEG photos, every
//     request a cache miss resized by the built-in sluice-image-resize at
//     origin-response, against a small Node server doing the same work with
//     sharp (bench/edgebench/sharp-server.js);
//   - fresh: how long after an S3 PUT overwriting an object is acknowledged
//     every cached variant of it serves the new content (no peer).
//
// It owns the processes it starts: `sluice serve`, nginx (master + workers,
// as our own process with a config in the work dir) and node, each in its
// own process group on free 127.0.0.1 ports, stopped with SIGTERM (then
// SIGKILL) at the end, on Ctrl-C or on any error, and killed with the bench
// (Pdeathsig). Servers are measured one at a time: each cell's window is cut
// into slices the servers take in turns (A B, B A, A B), samples pooled.
//
// It is a standalone main package rather than a Go benchmark so that
// `go test ./...` only compiles it (and runs its unit tests). Run it with
// `bash bench/run.sh edge`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// Phase names, in run order.
const (
	phaseHits   = "hits"
	phaseResize = "resize"
	phaseFresh  = "fresh"
)

// Server names.
const (
	srvSluice = "sluice"
	srvNginx  = "nginx"
	srvSharp  = "sharp"
)

// Config is everything one bench run needs.
type Config struct {
	Phases     []string
	Servers    []string // subset of sluice, nginx, sharp; peers alone are allowed
	SluiceBin  string
	SluiceArgs string // extra args appended to `sluice serve`
	SluiceRev  string // label for the report, e.g. a git revision
	NginxBin   string
	NodeBin    string
	SharpDir   string // holds node_modules/sharp
	SharpJS    string // the sharp server script
	PhotosDir  string // prepared photos and manifest.json (run.sh makes them)
	WorkDir    string // server data lives here; a fresh temp dir when empty
	Keep       bool
	Out        string
	PerfDir    string // when set, `perf record` sluice during each phase here

	Warmup time.Duration
	Rounds int

	HitSize     int
	HitConns    int
	HitDuration time.Duration

	ResizeConc     []int
	ResizeDuration time.Duration
	Quality        int

	FreshRuns     int
	FreshVariants int // query-string variants; each is also fetched gzip-encoded
	FreshPoll     time.Duration
	FreshTimeout  time.Duration
	FreshSize     int

	AccessKey string
	SecretKey string
	Region    string
	ReadyWait time.Duration
}

// DefaultConfig measures the grid in about two minutes on 2
// cores: hits with 64 connections for 6 s per server, resizes with 2 and 8
// connections for 15 s per server each, and 50 overwrites.
func DefaultConfig() Config {
	return Config{
		Phases:         []string{phaseHits, phaseResize, phaseFresh},
		Servers:        []string{srvSluice, srvNginx, srvSharp},
		SluiceBin:      ".bench/bin/sluice",
		NginxBin:       "/usr/sbin/nginx",
		NodeBin:        "node",
		SharpDir:       ".bench/sharp",
		SharpJS:        "bench/edgebench/sharp-server.js",
		PhotosDir:      ".bench/photos",
		Out:            "bench/results/edge-latest.md",
		Warmup:         time.Second,
		Rounds:         3,
		HitSize:        100 << 10,
		HitConns:       64,
		HitDuration:    6 * time.Second,
		ResizeConc:     []int{2, 8},
		ResizeDuration: 15 * time.Second,
		Quality:        80,
		FreshRuns:      50,
		FreshVariants:  2,
		FreshPoll:      2 * time.Millisecond,
		FreshTimeout:   10 * time.Second,
		FreshSize:      4 << 10,
		AccessKey:      "test",
		SecretKey:      "test",
		Region:         "us-east-1",
		ReadyWait:      60 * time.Second,
	}
}

// Validate names the first flag that is out of range.
func (c Config) Validate() error {
	if len(c.Phases) == 0 {
		return errors.New("-phases: at least one of hits, resize, fresh")
	}
	for _, p := range c.Phases {
		if !slices.Contains([]string{phaseHits, phaseResize, phaseFresh}, p) {
			return fmt.Errorf("-phases: unknown phase %q (hits, resize, fresh)", p)
		}
	}
	if len(c.Servers) == 0 {
		return errors.New("-servers: at least one of sluice, nginx, sharp")
	}
	for _, s := range c.Servers {
		if !slices.Contains([]string{srvSluice, srvNginx, srvSharp}, s) {
			return fmt.Errorf("-servers: unknown server %q (sluice, nginx, sharp)", s)
		}
	}
	if slices.Contains(c.Phases, phaseFresh) && !slices.Contains(c.Servers, srvSluice) && len(c.Phases) == 1 {
		return errors.New("-phases fresh measures sluice only: add sluice to -servers")
	}
	if err := benchkit.ValidateWindow(min(c.HitDuration, c.ResizeDuration), c.Warmup, c.Rounds); err != nil {
		return err
	}
	switch {
	case c.HitSize <= 0 || c.HitSize > 64<<20:
		return fmt.Errorf("-hit-size: %d out of range (1 B .. 64 MiB)", c.HitSize)
	case c.HitConns < 1 || c.HitConns > 1024:
		return fmt.Errorf("-hit-conns: %d out of range (1 .. 1024)", c.HitConns)
	case len(c.ResizeConc) == 0:
		return errors.New("-resize-conc: at least one concurrency")
	case c.Quality < 1 || c.Quality > 100:
		return fmt.Errorf("-quality: %d out of range (1 .. 100)", c.Quality)
	case c.FreshRuns < 1 || c.FreshRuns > 10000:
		return fmt.Errorf("-fresh-runs: %d out of range (1 .. 10000)", c.FreshRuns)
	case c.FreshVariants < 1 || c.FreshVariants > 64:
		return fmt.Errorf("-fresh-variants: %d out of range (1 .. 64)", c.FreshVariants)
	case c.FreshPoll < 100*time.Microsecond:
		return errors.New("-fresh-poll: at least 100µs")
	case c.FreshTimeout <= 0:
		return errors.New("-fresh-timeout: must be positive")
	case c.FreshSize < 64 || c.FreshSize > 1<<20:
		return fmt.Errorf("-fresh-size: %d out of range (64 B .. 1 MiB)", c.FreshSize)
	case c.AccessKey == "" || c.SecretKey == "":
		return errors.New("-access/-secret: must not be empty")
	}
	for _, n := range c.ResizeConc {
		if n < 1 || n > 256 {
			return fmt.Errorf("-resize-conc: %d out of range (1 .. 256)", n)
		}
	}
	return nil
}

// has reports whether the run includes a server.
func (c Config) has(server string) bool { return slices.Contains(c.Servers, server) }

// runs reports whether the run includes a phase.
func (c Config) runs(phase string) bool { return slices.Contains(c.Phases, phase) }

func main() { benchkit.Main("edgebench", parseFlags, run) }

func parseFlags(args []string) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("edgebench", flag.ContinueOnError)
	phases := fs.String("phases", strings.Join(cfg.Phases, ","), "phases to run: hits, resize, fresh")
	servers := fs.String("servers", strings.Join(cfg.Servers, ","), "servers to measure: sluice, nginx, sharp (peers alone run without sluice)")
	fs.StringVar(&cfg.SluiceBin, "sluice-bin", cfg.SluiceBin, "sluice binary")
	fs.StringVar(&cfg.SluiceArgs, "sluice-args", cfg.SluiceArgs, "extra arguments for `sluice serve`")
	fs.StringVar(&cfg.SluiceRev, "sluice-rev", cfg.SluiceRev, "sluice revision label for the report")
	fs.StringVar(&cfg.NginxBin, "nginx-bin", cfg.NginxBin, "nginx binary")
	fs.StringVar(&cfg.NodeBin, "node-bin", cfg.NodeBin, "node binary")
	fs.StringVar(&cfg.SharpDir, "sharp-dir", cfg.SharpDir, "directory whose node_modules holds sharp")
	fs.StringVar(&cfg.SharpJS, "sharp-server", cfg.SharpJS, "the sharp server script")
	fs.StringVar(&cfg.PhotosDir, "photos", cfg.PhotosDir, "prepared photos with their manifest.json")
	fs.StringVar(&cfg.WorkDir, "workdir", cfg.WorkDir, "directory for server data (default: a new temp dir)")
	fs.BoolVar(&cfg.Keep, "keep", cfg.Keep, "keep server data and logs after the run")
	fs.StringVar(&cfg.Out, "out", cfg.Out, "write the markdown report here too (empty: stdout only)")
	fs.StringVar(&cfg.PerfDir, "perf", cfg.PerfDir, "record `perf record -g` of sluice during each phase into DIR/sluice-PHASE.perf.data")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured warm-up before a cell's first slice (a quarter before the others)")
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "slices each window is cut into; the servers take turns")
	hitSize := fs.String("hit-size", "100KiB", "size of the cached object")
	fs.IntVar(&cfg.HitConns, "hit-conns", cfg.HitConns, "keep-alive connections of the hits phase")
	fs.DurationVar(&cfg.HitDuration, "hit-duration", cfg.HitDuration, "measured hits window per server")
	resizeConc := fs.String("resize-conc", "2,8", "concurrent connections of the resize cells")
	fs.DurationVar(&cfg.ResizeDuration, "resize-duration", cfg.ResizeDuration, "measured resize window per server and cell")
	fs.IntVar(&cfg.Quality, "quality", cfg.Quality, "JPEG quality sharp encodes with (sluice's default is the same)")
	fs.IntVar(&cfg.FreshRuns, "fresh-runs", cfg.FreshRuns, "overwrites measured")
	fs.IntVar(&cfg.FreshVariants, "fresh-variants", cfg.FreshVariants, "query-string variants of the object cached before each overwrite (each also gzip-encoded)")
	fs.DurationVar(&cfg.FreshPoll, "fresh-poll", cfg.FreshPoll, "pause between two polls of one variant")
	fs.DurationVar(&cfg.FreshTimeout, "fresh-timeout", cfg.FreshTimeout, "a variant still stale this long after the PUT fails the run")
	freshSize := fs.String("fresh-size", "4KiB", "size of the overwritten text object")
	fs.StringVar(&cfg.AccessKey, "access", cfg.AccessKey, "access key")
	fs.StringVar(&cfg.SecretKey, "secret", cfg.SecretKey, "secret key")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "region of the S3 and CloudFront APIs")
	fs.DurationVar(&cfg.ReadyWait, "ready-timeout", cfg.ReadyWait, "how long a server may take to become ready")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.Phases = benchkit.SplitList(*phases)
	cfg.Servers = benchkit.SplitList(*servers)
	var err error
	if cfg.HitSize, err = oneSize("-hit-size", *hitSize); err != nil {
		return cfg, err
	}
	if cfg.FreshSize, err = oneSize("-fresh-size", *freshSize); err != nil {
		return cfg, err
	}
	if cfg.ResizeConc, err = benchkit.ParseInts(*resizeConc); err != nil {
		return cfg, fmt.Errorf("-resize-conc: %w", err)
	}
	return cfg, cfg.Validate()
}

func oneSize(flagName, v string) (int, error) {
	s, err := benchkit.ParseSizes(v)
	if err != nil || len(s) != 1 {
		return 0, fmt.Errorf("%s: want one size, got %q", flagName, v)
	}
	return s[0], nil
}

func run(ctx context.Context, cfg Config) error {
	workDir, err := benchkit.PrepareWorkDir(cfg.WorkDir, "sluice-edgebench-")
	if err != nil {
		return err
	}
	if !cfg.Keep {
		defer os.RemoveAll(workDir)
	}
	benchkit.Logf("work dir %s", workDir)

	var photos []photo
	if cfg.runs(phaseResize) {
		if photos, err = loadManifest(cfg.PhotosDir); err != nil {
			return err
		}
		benchkit.Logf("photos: %s", describePhotos(photos))
	}

	b := &bench{cfg: cfg, workDir: workDir, photos: photos}
	defer b.stopAll()
	if err := b.startServers(ctx); err != nil {
		return err
	}
	e := describeEnv(ctx, cfg, workDir, b)
	rep := &report{cfg: cfg, env: e, photos: photos}

	if cfg.runs(phaseHits) && (cfg.has(srvSluice) || cfg.has(srvNginx)) {
		stop := b.perf(phaseHits)
		rep.hits, err = b.runHits(ctx)
		stop()
		if err != nil {
			return err
		}
	}
	if cfg.runs(phaseResize) && (cfg.has(srvSluice) || cfg.has(srvSharp)) {
		stop := b.perf(phaseResize)
		rep.resize, err = b.runResize(ctx)
		stop()
		if err != nil {
			return err
		}
	}
	if cfg.runs(phaseFresh) && cfg.has(srvSluice) {
		stop := b.perf(phaseFresh)
		fr, err := b.runFresh(ctx)
		stop()
		if err != nil {
			return err
		}
		rep.fresh = &fr
	}
	rep.env.LoadEnd = benchkit.LoadAvg()
	text := rep.render()
	fmt.Print(text)
	failed := rep.failures()
	// A report without sluice compares nothing: it is printed, never saved
	// over the committed history.
	save := cfg.Out != "" && len(failed) == 0 && cfg.has(srvSluice)
	if save {
		if err := benchkit.WriteReport(cfg.Out, text); err != nil {
			return err
		}
	} else if cfg.Out != "" && len(failed) == 0 {
		benchkit.Logf("sluice was not measured: report not saved to %s", cfg.Out)
	}
	if len(failed) > 0 {
		return fmt.Errorf("the run had errors, report not saved:\n  %s", strings.Join(failed, "\n  "))
	}
	return nil
}

// absFrom resolves p against the current directory (run.sh runs from the
// repository root), so processes started in their own dirs find it.
func absFrom(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
