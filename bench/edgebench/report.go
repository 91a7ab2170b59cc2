package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// Goals from issue 5.
const (
	goalHits        = 0.8 // × nginx's requests/s
	goalResize      = 1.2 // × sharp's requests/s, with a lower p99
	goalFreshWithin = time.Second
)

// env is the machine and software description printed above the tables.
type env struct {
	benchkit.Machine
	sluiceVer  string
	sluiceVips string // libvips sluice is built against
	nginxVer   string
	sharp      sharpVersions
}

func describeEnv(ctx context.Context, cfg Config, workDir string, b *bench) env {
	e := env{Machine: benchkit.DescribeMachine(), sharp: b.sharpVer}
	e.FSType = benchkit.FSType(workDir)
	if cfg.has(srvSluice) {
		e.sluiceVer = cfg.SluiceRev
		if e.sluiceVer == "" {
			line, _ := benchkit.VersionLine(ctx, cfg.SluiceBin, "version")
			e.sluiceVer = fmt.Sprintf("%q", line)
		}
		if v, err := benchkit.VersionLine(ctx, "pkg-config", "--modversion", "vips"); err == nil {
			e.sluiceVips = v
		} else {
			e.sluiceVips = "unknown"
		}
	}
	if b.nginx != nil {
		line, err := benchkit.VersionLine(ctx, cfg.NginxBin, "-v")
		if err != nil {
			line = "unknown"
		}
		e.nginxVer = strings.TrimPrefix(line, "nginx version: ")
	}
	return e
}

// report is one run's results, rendered as markdown.
type report struct {
	cfg    Config
	env    env
	photos []photo
	hits   []result
	resize [][]result // one slice of results per concurrency
	fresh  *freshResult
}

// failures lists what makes the run invalid: any request error, any
// variant that never turned fresh.
func (r *report) failures() []string {
	var out []string
	check := func(phase string, rs []result) {
		for _, x := range rs {
			if x.errors > 0 {
				out = append(out, fmt.Sprintf("%s %s c=%d: %d errors, first: %s", phase, x.server, x.conc, x.errors, x.firstErr))
			}
		}
	}
	check("hits", r.hits)
	for _, c := range r.resize {
		check("resize", c)
	}
	if f := r.fresh; f != nil {
		if f.errors > 0 {
			out = append(out, fmt.Sprintf("fresh: %d errors, first: %s", f.errors, f.firstErr))
		}
		if f.stale > 0 {
			out = append(out, fmt.Sprintf("fresh: %d variants still stale %s after the PUT", f.stale, r.cfg.FreshTimeout))
		}
	}
	return out
}

func find(rs []result, server string) (result, bool) {
	for _, r := range rs {
		if r.server == server {
			return r, true
		}
	}
	return result{}, false
}

func (r *report) render() string {
	var sb strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&sb, format, args...) }
	e := r.env
	w("# Edge benchmark: sluice vs nginx (cache hits), vs sharp (resizing), overwrite → fresh\n\n")
	w("- run: %s, %s × %d CPUs shared by the load generator and the servers, Linux %s, data on %s, bench built with %s\n",
		e.When.Format(time.RFC3339), e.CPU, e.CPUs, e.Kernel, e.FSType, e.GoVersion)
	w("- load average (1/5/15 min): %s at start, %s at end\n", e.LoadStart, e.LoadEnd)
	if r.cfg.has(srvSluice) {
		w("- sluice %s (libvips %s), `sluice serve --log-level warn` with its default durability (every write fsynced)\n", e.sluiceVer, e.sluiceVips)
	}
	if e.nginxVer != "" {
		w("- nginx %s (Debian nginx-light), our own process: `daemon off; master_process on; worker_processes auto;`, access_log off, sendfile on, tcp_nopush on, the object in a docroot on the same disk\n", e.nginxVer)
	}
	if e.sharp.Sharp != "" {
		w("- sharp %s (its prebuilt libvips %s) on node %s, bench/edgebench/sharp-server.js: sharp's defaults (libvips threads per image %d, libuv pool %d: images at once), originals read from local disk per request\n",
			e.sharp.Sharp, e.sharp.Vips, e.sharp.Node, e.sharp.Concurrency, e.sharp.Threadpool)
	}
	w("- load generator: a minimal HTTP/1.1 keep-alive client in the bench (one connection per worker, the same code for every server); "+
		"windows cut into %d slices the servers take in turns (A B, B A, A B) after a %s warm-up (a quarter of it before later slices), samples pooled; "+
		"p50/p99 are exact nearest-rank percentiles of every request's latency (request written → body read)\n\n", r.cfg.Rounds, r.cfg.Warmup)
	if !r.cfg.has(srvSluice) {
		w("**sluice was not measured in this run** (`-servers %s`): the peers' numbers alone, no ratios.\n\n", strings.Join(r.cfg.Servers, ","))
	}

	if len(r.hits) > 0 {
		w("## 1. Cache hits: %s object, %d connections\n\n", benchkit.SizeLabel(r.cfg.HitSize), r.cfg.HitConns)
		w("sluice: a distribution in front of bucket `%s` (DefaultTTL one day), warmed until it answers `X-Cache: Hit`; every answer is checked to be a whole 200, and its X-Cache is counted. "+
			"nginx: the same bytes as a file. Random bytes as `application/octet-stream`: nothing is compressed. %s per server.\n\n", hitsBucket, r.cfg.HitDuration)
		w("| server | req/s | MiB/s | p50 ms | p99 ms | max ms | server CPU/req | in flight | not hits | errors | req/s ratio | p99 ratio | goal ≥ %.1f× nginx |\n", goalHits)
		w("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		base, hasBase := find(r.hits, srvNginx)
		for _, x := range r.hits {
			s := x.summary()
			ratio, p99r, goal := "—", "—", "—"
			if x.server == srvSluice && hasBase {
				bs := base.summary()
				ratio = benchkit.Ratio(x.opsPerSec(), base.opsPerSec())
				p99r = benchkit.Ratio(float64(s.P99), float64(bs.P99))
				goal = verdict(base.opsPerSec() > 0 && x.opsPerSec()/base.opsPerSec() >= goalHits)
			}
			nonHits := "—"
			if x.server == srvSluice {
				nonHits = fmt.Sprint(x.nonHits)
				if x.nonHits > 0 {
					nonHits = fmt.Sprintf("**%d** (%s)", x.nonHits, strings.ReplaceAll(x.firstNonHit, "|", "/"))
				}
			}
			w("| %s | %.0f | %.0f | %.2f | %.2f | %.2f | %s | %.0f%% | %s | %s | %s | %s | %s |\n",
				x.server, x.opsPerSec(), float64(x.bytes)/x.elapsed.Seconds()/(1<<20), benchkit.Ms(s.P50), benchkit.Ms(s.P99), benchkit.Ms(s.Max),
				benchkit.FmtCPU(x.cpuPerOp()), 100*x.inFlight(), nonHits, benchkit.ErrCol(x.errors, x.firstErr), ratio, p99r, goal)
		}
		w("\n**not hits**: answers in the window that were whole and 200 but not `X-Cache: Hit` (the object was warm and its TTL a day, so any is a cache that dropped a hot entry); they are counted in req/s and latency. ")
		w("Server CPU/req is the server process and its children (nginx's workers) from /proc, 10 ms ticks. " +
			"The load generator shares the 2 cores: the servers' absolute rates are a ceiling for this box, the ratio is the comparison.\n\n")
	}

	if len(r.resize) > 0 {
		w("## 2. Resize on a miss: distinct `d=WxH` over %s\n\n", describePhotos(r.photos))
		w("Request n asks photo n mod %d at size m = n div %d: width 200–1199 and height 150–1049 from a permutation, so no (photo, size) pair repeats in the run "+
			"(every sluice answer is checked to be `X-Cache: Miss`) and both servers get the same sequence. "+
			"Every answer is checked to be a JPEG of exactly W×H (cover crop). "+
			"sluice: bucket `%s` behind a distribution with `%s` at origin-response and QueryStringCacheKeys [d]; the original is read in-process from the store. "+
			"sharp: `sharp(buf).resize(w, h, {fit: 'cover'}).jpeg({quality: %d})` on the original read from local disk (the same files, in the page cache), as the familiar Lambda@Edge recipe does after its S3 GET. "+
			"%s per server and concurrency.\n\n",
			len(r.photos), len(r.photos), photosBucket, resizeARN, r.cfg.Quality, r.cfg.ResizeDuration)
		w("| server | connections | req/s | p50 ms | p99 ms | max ms | mean output KiB | server CPU/req | in flight | errors | req/s ratio | p99 ratio | goal ≥ %.1f×, lower p99 |\n", goalResize)
		w("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, cell := range r.resize {
			base, hasBase := find(cell, srvSharp)
			for _, x := range cell {
				s := x.summary()
				ratio, p99r, goal := "—", "—", "—"
				if x.server == srvSluice && hasBase {
					bs := base.summary()
					ratio = benchkit.Ratio(x.opsPerSec(), base.opsPerSec())
					p99r = benchkit.Ratio(float64(s.P99), float64(bs.P99))
					goal = verdict(base.opsPerSec() > 0 && x.opsPerSec()/base.opsPerSec() >= goalResize && s.P99 < bs.P99)
				}
				meanKiB := 0.0
				if x.ops() > 0 {
					meanKiB = float64(x.bytes) / float64(x.ops()) / 1024
				}
				w("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.0f | %s | %.0f%% | %s | %s | %s | %s |\n",
					x.server, x.conc, x.opsPerSec(), benchkit.Ms(s.P50), benchkit.Ms(s.P99), benchkit.Ms(s.Max), meanKiB,
					fmtCPUms(x.cpuPerOp()), 100*x.inFlight(), benchkit.ErrCol(x.errors, x.firstErr), ratio, p99r, goal)
			}
		}
		w("\n")
		r.renderClasses(w)
		r.renderPhotos(w)
	}

	if f := r.fresh; f != nil {
		w("## 3. Overwrite → fresh content\n\n")
		w("Bucket `%s` behind a distribution caching `?v=` variants (QueryStringCacheKeys [v], Compress on, DefaultTTL 1 day, so only an invalidation makes it fresh), automatic invalidation on (the default). "+
			"Each of %d runs: the %d variants (%s) are each served from the cache with the current version, a PUT of `%s` (%s of text, first line `version N`) is acknowledged, "+
			"then every variant is polled on its own keep-alive connection every %s until it serves version N. "+
			"Latency = that answer read − the PUT's acknowledgement, so it is overstated by up to one poll interval plus one request. "+
			"%d polls during the runs saw the old version still cached (%d polls in all).\n\n",
			freshBucket, f.runs, len(f.variants), strings.Join(f.variants, ", "), freshKey, benchkit.SizeLabel(r.cfg.FreshSize), r.cfg.FreshPoll, f.staleSeen, f.polls)
		all, per, put := benchkit.Summarize(f.allFresh), benchkit.Summarize(f.perVar), benchkit.Summarize(f.put)
		w("| measure | samples | p50 ms | p99 ms | max ms | goal < %s |\n", goalFreshWithin)
		w("|---|---|---|---|---|---|\n")
		w("| PUT ack → every variant fresh | %d | %.1f | %.1f | %.1f | %s |\n", len(f.allFresh), benchkit.Ms(all.P50), benchkit.Ms(all.P99), benchkit.Ms(all.Max), verdict(f.stale == 0 && all.Max < goalFreshWithin))
		w("| PUT ack → one variant fresh | %d | %.1f | %.1f | %.1f | |\n", len(f.perVar), benchkit.Ms(per.P50), benchkit.Ms(per.P99), benchkit.Ms(per.Max))
		w("| PUT (fsynced) latency, for scale | %d | %.1f | %.1f | %.1f | |\n", len(f.put), benchkit.Ms(put.P50), benchkit.Ms(put.P99), benchkit.Ms(put.Max))
		w("\nVariants still stale after %s: %d. Errors: %s.\n\n", r.cfg.FreshTimeout, f.stale, benchkit.ErrCol(f.errors, f.firstErr))
	}
	return sb.String()
}

// renderClasses breaks the lowest concurrency's latencies down by the
// source photo's size class: decoding dominates, and grows with it.
func (r *report) renderClasses(w func(string, ...any)) {
	if len(r.resize) == 0 || len(r.photos) == 0 {
		return
	}
	cell := r.resize[0]
	classes := map[int]bool{}
	for _, p := range r.photos {
		classes[p.MP] = true
	}
	var keys []int
	for k := range classes {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	w("p50 / p99 ms by source size at %d connections:\n\n| server |", cell[0].conc)
	for _, k := range keys {
		w(" %d MP |", k)
	}
	w("\n|---|%s\n", strings.Repeat("---|", len(keys)))
	for _, x := range cell {
		w("| %s |", x.server)
		for _, k := range keys {
			var lat []time.Duration
			for i, t := range x.tags {
				if t >= 0 && t < len(r.photos) && r.photos[t].MP == k {
					lat = append(lat, x.lat[i])
				}
			}
			s := benchkit.Summarize(lat)
			w(" %.1f / %.1f |", benchkit.Ms(s.P50), benchkit.Ms(s.P99))
		}
		w("\n")
	}
	w("\n")
}

func (r *report) renderPhotos(w func(string, ...any)) {
	w("<details><summary>Photos</summary>\n\n| file | size | MiB | made from |\n|---|---|---|---|\n")
	ps := slices.Clone(r.photos)
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].MP < ps[j].MP })
	for _, p := range ps {
		src := p.Source
		if p.Synthetic {
			src = "synthetic (noise + gradients): " + src
		}
		w("| %s | %d×%d | %.2f | %s |\n", p.File, p.Width, p.Height, float64(p.Bytes)/(1<<20), src)
	}
	w("\n</details>\n\n")
}

func fmtCPUms(d time.Duration) string {
	if d < 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f ms", benchkit.Ms(d))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}
