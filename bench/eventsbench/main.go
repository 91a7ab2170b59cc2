// Command eventsbench measures sluice's event delivery path: how long after
// a PUT is acknowledged its S3 event record reaches a webhook, how long until
// the TargetBucket replicator's copy is visible in the target bucket, and
// what having both configured costs PUT throughput.
//
// It owns the processes and listeners it starts: one `sluice serve` on a
// free 127.0.0.1 port, in its own process group, stopped with SIGTERM (then
// SIGKILL) at the end, on Ctrl-C, or on any error, and killed with the bench
// (Pdeathsig); and the webhook receiver, an HTTP server inside the bench on
// another free 127.0.0.1 port.
//
// Phases, in one run: for each object size a burst of uploads from
// -burst-clients clients to the source bucket (webhook rule + TargetBucket
// tag), each PUT's acknowledgement time compared with the arrival of its
// event at the receiver and with the first ListObjectsV2 of the target
// bucket that shows its copy; then PUT throughput on a bucket with no
// configuration against the source bucket, in interleaved slices.
//
// It is a standalone main package rather than a Go benchmark so that
// `go test ./...` only compiles it (and runs its unit tests). Run it with
// `bash bench/run.sh events`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// Config is everything one bench run needs.
type Config struct {
	SluiceBin    string
	SluiceArgs   string // extra args appended to `sluice serve`
	SluiceRev    string // label for the report, e.g. a git revision
	WorkDir      string // server data lives here; a fresh temp dir when empty
	Keep         bool
	Sizes        []int // object sizes of the bursts
	Bursts       []int // uploads per burst, one per size
	BurstClients int
	PollInterval time.Duration // how often the target bucket is listed
	DrainTimeout time.Duration // how long to wait for the last event or copy
	TputClients  int
	TputSize     int
	TputDuration time.Duration // measured window per bucket, in slices
	Warmup       time.Duration
	Rounds       int
	AccessKey    string
	SecretKey    string
	Region       string
	Source       string // bucket with the webhook rule and TargetBucket tag
	Target       string // the TargetBucket
	Plain        string // bucket with no notification or tag
	HookOnly     string // bucket with the webhook rule and no TargetBucket tag
	// HookBatch is HookOnly with the rule's BatchSize set to Batch.
	HookBatch string
	// ClientCopy is a bucket without configuration whose clients make the
	// copy to Target themselves: each upload is a PUT and a CopyObject.
	ClientCopy string
	Batch      int
	// TputBuckets are the buckets of the throughput phase, in turn order:
	// the first is the baseline the others' ratios are against.
	TputBuckets []string
	Secret      string // webhook HMAC secret
	Out         string
	ReadyWait   time.Duration
}

// DefaultConfig measures the grid: bursts of 1,000 1 KiB objects and
// of 100 8 MiB objects (1,000 would be 8 GiB of writes and copies), and 1 KiB
// PUT throughput with 8 clients, 12 s per bucket in 12 slices, on a bucket
// without configuration, one with the webhook rule only, one with the rule
// batching records, the source bucket, so that what the copy costs shows
// apart from what the webhook costs, and last, beside the source bucket, a
// bucket whose clients copy each upload themselves, the work the
// TargetBucket copy saves them.
func DefaultConfig() Config {
	return Config{
		SluiceBin:    ".bench/bin/sluice",
		Sizes:        []int{1 << 10, 8 << 20},
		Bursts:       []int{1000, 100},
		BurstClients: 8,
		PollInterval: 5 * time.Millisecond,
		DrainTimeout: 60 * time.Second,
		TputClients:  8,
		TputSize:     1 << 10,
		TputDuration: 12 * time.Second,
		Warmup:       time.Second,
		Rounds:       12,
		AccessKey:    "test",
		SecretKey:    "test",
		Region:       "us-east-1",
		Source:       "events-src",
		Target:       "backup",
		Plain:        "plain",
		HookOnly:     "events-hook",
		HookBatch:    "events-hook-batch",
		ClientCopy:   "client-copy",
		Batch:        100,
		TputBuckets:  []string{"plain", "events-hook", "events-hook-batch", "events-src", "client-copy"},
		Secret:       "bench-secret",
		Out:          "bench/results/events-latest.md",
		ReadyWait:    30 * time.Second,
	}
}

// Validate names the first flag that is out of range.
func (c Config) Validate() error {
	switch {
	case len(c.Sizes) == 0:
		return errors.New("-sizes: at least one size")
	case len(c.Bursts) != len(c.Sizes):
		return fmt.Errorf("-bursts: %d counts for %d sizes (one per size)", len(c.Bursts), len(c.Sizes))
	case c.BurstClients < 1 || c.BurstClients > 256:
		return fmt.Errorf("-burst-clients: %d out of range (1 .. 256)", c.BurstClients)
	case c.PollInterval < time.Millisecond:
		return errors.New("-poll: at least 1ms")
	case c.DrainTimeout <= 0:
		return errors.New("-drain-timeout: must be positive")
	case c.TputClients < 1 || c.TputClients > 256:
		return fmt.Errorf("-tput-clients: %d out of range (1 .. 256)", c.TputClients)
	case c.TputSize <= 0 || c.TputSize > 1<<30:
		return fmt.Errorf("-tput-size: %d out of range (1 B .. 1 GiB)", c.TputSize)
	case c.TputDuration < 0:
		return errors.New("-tput-duration: must not be negative")
	case c.Rounds < 1 || (c.TputDuration > 0 && c.TputDuration/time.Duration(c.Rounds) < 100*time.Millisecond):
		return errors.New("-rounds: at least 1, and each slice of -tput-duration at least 100ms")
	case c.Warmup < 0:
		return errors.New("-warmup: must not be negative")
	case c.AccessKey == "" || c.SecretKey == "":
		return errors.New("-access/-secret: must not be empty")
	case c.Batch < 1 || c.Batch > 100:
		return fmt.Errorf("-batch: %d out of range (1 .. 100)", c.Batch)
	case !distinct(c.Source, c.Target, c.Plain, c.HookOnly, c.HookBatch, c.ClientCopy):
		return errors.New("bucket names must be set and distinct")
	case c.TputDuration > 0 && len(c.TputBuckets) == 0:
		return errors.New("-tput-buckets: at least one bucket")
	}
	seen := map[string]bool{}
	for _, b := range c.TputBuckets {
		if b != c.Plain && b != c.Source && b != c.HookOnly && b != c.HookBatch && b != c.ClientCopy {
			return fmt.Errorf("-tput-buckets: %q is none of %s, %s, %s, %s, %s", b, c.Plain, c.Source, c.HookOnly, c.HookBatch, c.ClientCopy)
		}
		if seen[b] {
			return fmt.Errorf("-tput-buckets: %q given twice", b)
		}
		seen[b] = true
	}
	for i, s := range c.Sizes {
		if s <= 0 || s > 1<<30 {
			return fmt.Errorf("-sizes: %d out of range (1 B .. 1 GiB)", s)
		}
		if c.Bursts[i] < 1 || c.Bursts[i] > 100000 {
			return fmt.Errorf("-bursts: %d out of range (1 .. 100000)", c.Bursts[i])
		}
	}
	return nil
}

func main() { benchkit.Main("eventsbench", parseFlags, run) }

func parseFlags(args []string) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("eventsbench", flag.ContinueOnError)
	fs.StringVar(&cfg.SluiceBin, "sluice-bin", cfg.SluiceBin, "sluice binary")
	fs.StringVar(&cfg.SluiceArgs, "sluice-args", cfg.SluiceArgs, "extra arguments for `sluice serve`")
	fs.StringVar(&cfg.SluiceRev, "sluice-rev", cfg.SluiceRev, "sluice revision label for the report")
	fs.StringVar(&cfg.WorkDir, "workdir", cfg.WorkDir, "directory for server data (default: a new temp dir)")
	fs.BoolVar(&cfg.Keep, "keep", cfg.Keep, "keep server data and log after the run")
	sizes := fs.String("sizes", "1KiB,8MiB", "object sizes of the bursts (B, KiB, MiB suffixes)")
	bursts := fs.String("bursts", "1000,100", "uploads per burst, one count per size")
	fs.IntVar(&cfg.BurstClients, "burst-clients", cfg.BurstClients, "concurrent clients uploading a burst")
	fs.DurationVar(&cfg.PollInterval, "poll", cfg.PollInterval, "interval between ListObjectsV2 polls of the target bucket")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "wait this long for the last event and copy; what is missing then is lost")
	fs.IntVar(&cfg.TputClients, "tput-clients", cfg.TputClients, "concurrent clients of the throughput phase")
	tputSize := fs.String("tput-size", "1KiB", "object size of the throughput phase")
	fs.DurationVar(&cfg.TputDuration, "tput-duration", cfg.TputDuration, "measured PUT window per bucket (0: skip the throughput phase)")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured warm-up before the first throughput slice")
	tputBuckets := fs.String("tput-buckets", strings.Join(cfg.TputBuckets, ","), "buckets of the throughput phase, baseline first: plain (no configuration), events-src (webhook + TargetBucket), events-hook (webhook only), events-hook-batch (webhook with -batch), client-copy (no configuration; each upload is a PUT and a CopyObject to the target bucket by the client)")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "BatchSize of the webhook rule of events-hook-batch (1 .. 100)")
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "slices the throughput window is cut into; the buckets take turns")
	fs.StringVar(&cfg.AccessKey, "access", cfg.AccessKey, "access key")
	fs.StringVar(&cfg.SecretKey, "secret", cfg.SecretKey, "secret key")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "SigV4 region")
	fs.StringVar(&cfg.Out, "out", cfg.Out, "write the markdown report here too (empty: stdout only)")
	fs.DurationVar(&cfg.ReadyWait, "ready-timeout", cfg.ReadyWait, "how long sluice may take to become ready")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.TputBuckets = nil
	for _, b := range strings.Split(*tputBuckets, ",") {
		if b = strings.TrimSpace(b); b != "" {
			cfg.TputBuckets = append(cfg.TputBuckets, b)
		}
	}
	var err error
	if cfg.Sizes, err = benchkit.ParseSizes(*sizes); err != nil {
		return cfg, fmt.Errorf("-sizes: %w", err)
	}
	if len(cfg.Sizes) == 0 {
		return cfg, errors.New("-sizes: no sizes")
	}
	ts, err := benchkit.ParseSizes(*tputSize)
	if err != nil || len(ts) != 1 {
		return cfg, fmt.Errorf("-tput-size: want one size, got %q", *tputSize)
	}
	cfg.TputSize = ts[0]
	if cfg.Bursts, err = benchkit.ParseInts(*bursts); err != nil {
		return cfg, fmt.Errorf("-bursts: %w", err)
	}
	return cfg, cfg.Validate()
}

// notificationXML is the source bucket's configuration: every
// ObjectCreated event to the bench's webhook, HMAC-signed, up to batch
// records per POST.
func notificationXML(url, secret string, batch int) string {
	return `<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
		`<WebhookConfiguration><Id>eventsbench</Id><Url>` + url + `</Url><Secret>` + secret + `</Secret>` +
		fmt.Sprintf("<BatchSize>%d</BatchSize>", batch) +
		`<Event>s3:ObjectCreated:*</Event></WebhookConfiguration></NotificationConfiguration>`
}

// distinct reports whether every name is set and none repeats.
func distinct(names ...string) bool {
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || seen[n] {
			return false
		}
		seen[n] = true
	}
	return true
}

func taggingXML(target string) string {
	return `<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>TargetBucket</Key><Value>` +
		target + `</Value></Tag></TagSet></Tagging>`
}

func run(ctx context.Context, cfg Config) error {
	workDir, err := benchkit.PrepareWorkDir(cfg.WorkDir, "sluice-eventsbench-")
	if err != nil {
		return err
	}
	if !cfg.Keep {
		defer os.RemoveAll(workDir)
	}
	benchkit.Logf("work dir %s", workDir)
	e := describeEnv(ctx, cfg, workDir)

	hook, err := startReceiver(cfg.Secret)
	if err != nil {
		return err
	}
	defer hook.close()
	srv, err := startSluice(cfg, workDir)
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			benchkit.Logf("sluice: stop: %v", err)
		}
	}()
	cl := newClient(srv.BaseURL(), cfg, max(cfg.BurstClients, cfg.TputClients)+2)
	defer cl.Close()
	t0 := time.Now()
	if err := srv.waitReady(ctx, cl, cfg.ReadyWait); err != nil {
		return err
	}
	benchkit.Logf("sluice: pid %d on %s, ready in %s; webhook receiver on %s", srv.Pid(), srv.Addr(), time.Since(t0).Round(time.Millisecond), hook.url())
	b := &bench{cfg: cfg, srv: srv, cl: cl, hook: hook}
	if err := b.setup(ctx); err != nil {
		return err
	}

	var bursts []burstResult
	for i, size := range cfg.Sizes {
		data := randomBody(size)
		benchkit.Logf("burst: %d × %s from %d clients", cfg.Bursts[i], benchkit.SizeLabel(size), cfg.BurstClients)
		r := b.runBurst(ctx, size, cfg.Bursts[i], data)
		if ctx.Err() != nil {
			return errors.New("interrupted")
		}
		if err := srv.alive(); err != nil {
			return err
		}
		logBurst(r)
		bursts = append(bursts, r)
	}
	var tput []tputResult
	if cfg.TputDuration > 0 {
		benchkit.Logf("throughput: %s PUTs from %d clients, %s per bucket in %d slices", benchkit.SizeLabel(cfg.TputSize), cfg.TputClients, cfg.TputDuration, cfg.Rounds)
		if tput, err = b.runThroughput(ctx, randomBody(cfg.TputSize)); err != nil {
			return err
		}
		for i := range tput {
			tput[i].posts, tput[i].records, tput[i].most = hook.batching(tput[i].bucket)
		}
		for _, t := range tput {
			p50, p99, _ := percentiles(t.lat)
			benchkit.Logf("%-12s %8.1f PUT/s  p50 %6.2f ms  p99 %6.2f ms  errors %d  lost %d", t.bucket, t.opsPerSec(), benchkit.Ms(p50), benchkit.Ms(p99), t.errors, t.lost)
		}
	}
	records, dups, badSig, badBody := hook.stats()
	e.LoadEnd = benchkit.LoadAvg()
	e.steal = e.StealSince()
	rep := report{cfg: cfg, env: e, bursts: bursts, tput: tput, records: records, dups: dups, badSig: badSig, badBody: badBody}
	text := rep.render()
	fmt.Print(text)
	failed := rep.failures()
	if cfg.Out != "" && len(failed) == 0 {
		if err := benchkit.WriteReport(cfg.Out, text); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("the run had errors or losses, report not saved:\n  %s", strings.Join(failed, "\n  "))
	}
	return nil
}

// setup creates the buckets and configures the source bucket (the webhook
// rule and the TargetBucket tag) and the webhook-only buckets.
func (b *bench) setup(ctx context.Context) error {
	for _, name := range []string{b.cfg.Target, b.cfg.Plain, b.cfg.Source, b.cfg.HookOnly, b.cfg.HookBatch, b.cfg.ClientCopy} {
		if _, err := b.cl.doOK(ctx, http.MethodPut, "/"+name, nil); err != nil {
			return fmt.Errorf("create bucket: %w", err)
		}
	}
	for _, name := range []string{b.cfg.Source, b.cfg.HookOnly, b.cfg.HookBatch} {
		batch := 1
		if name == b.cfg.HookBatch {
			batch = b.cfg.Batch
		}
		if _, err := b.cl.doOK(ctx, http.MethodPut, "/"+name+"?notification=", []byte(notificationXML(b.hook.url(), b.cfg.Secret, batch))); err != nil {
			return fmt.Errorf("put notification configuration: %w", err)
		}
	}
	if _, err := b.cl.doOK(ctx, http.MethodPut, "/"+b.cfg.Source+"?tagging=", []byte(taggingXML(b.cfg.Target))); err != nil {
		return fmt.Errorf("put bucket tagging: %w", err)
	}
	return nil
}

func logBurst(r burstResult) {
	e50, e99, _ := percentiles(r.eventLat)
	c50, c99, _ := percentiles(r.copyLat)
	_, l99, _ := percentiles(r.listLat)
	benchkit.Logf("%d × %s: PUTs in %s; event p50 %.1f ms p99 %.1f ms lost %d; copy p50 %.1f ms p99 %.1f ms lost %d (listing p99 %.1f ms); errors %d %s",
		r.n, benchkit.SizeLabel(r.size), r.putElapsed.Round(time.Millisecond), benchkit.Ms(e50), benchkit.Ms(e99), r.eventsLost, benchkit.Ms(c50), benchkit.Ms(c99), r.copiesLost, benchkit.Ms(l99), r.errors, r.firstErr)
}
