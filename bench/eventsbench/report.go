package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// env is the machine and software description printed above the tables:
// numbers from this bench mean little without it.
type env struct {
	benchkit.Machine
	sluiceVer string
	// steal is the CPU share the hypervisor took during the run.
	steal string
}

func describeEnv(ctx context.Context, cfg Config, workDir string) env {
	e := env{
		Machine:   benchkit.DescribeMachine(),
		sluiceVer: cfg.SluiceRev,
	}
	e.FSType = benchkit.FSType(workDir)
	if e.sluiceVer == "" {
		line, _ := benchkit.VersionLine(ctx, cfg.SluiceBin, "version")
		e.sluiceVer = fmt.Sprintf("%q", line)
	}
	return e
}

// report is one run's results, rendered as markdown.
type report struct {
	cfg     Config
	env     env
	bursts  []burstResult
	tput    []tputResult
	records int
	dups    int
	badSig  int
	badBody int
}

// goal is the target for p99 on loopback.
const goal = 100 * time.Millisecond

// failures lists what makes the run invalid: request errors, losses, bad
// webhook deliveries. Slow is not a failure; lost is.
func (r report) failures() []string {
	var out []string
	for _, b := range r.bursts {
		if b.errors > 0 {
			out = append(out, fmt.Sprintf("burst %s: %d PUT errors, first: %s", benchkit.SizeLabel(b.size), b.errors, b.firstErr))
		}
		if b.eventsLost > 0 || b.copiesLost > 0 {
			out = append(out, fmt.Sprintf("burst %s: %d events and %d copies missing after %s", benchkit.SizeLabel(b.size), b.eventsLost, b.copiesLost, r.cfg.DrainTimeout))
		}
	}
	for _, t := range r.tput {
		if t.errors > 0 {
			out = append(out, fmt.Sprintf("throughput %s: %d PUT errors, first: %s", t.bucket, t.errors, t.firstErr))
		}
		if t.lost > 0 {
			out = append(out, fmt.Sprintf("throughput %s: %d events or copies missing after %s", t.bucket, t.lost, r.cfg.DrainTimeout))
		}
	}
	if r.badSig > 0 || r.badBody > 0 {
		out = append(out, fmt.Sprintf("webhook: %d deliveries with a bad signature, %d undecodable", r.badSig, r.badBody))
	}
	return out
}

func (r report) render() string {
	var sb strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&sb, format, args...) }
	e := r.env
	w("# sluice event delivery: PUT → webhook, PUT → TargetBucket copy\n\n")
	w("- run: %s, sluice %s, %s\n", e.When.Format(time.RFC3339), e.sluiceVer, e.GoVersion)
	w("- machine: %s, %d CPUs, Linux %s, data on %s\n", e.CPU, e.CPUs, e.Kernel, e.FSType)
	w("- load average at start: %s; at end: %s%s\n", e.LoadStart, e.LoadEnd, loadWarning(e.LoadStart, e.CPUs))
	if e.steal != "" {
		w("- CPU steal during the run (time the hypervisor gave other guests while this one wanted the CPU): %s; above a few percent, CPU times and rates here are inflated and vary from slice to slice\n", e.steal)
	}
	w("- server: `sluice serve --log-level warn` with its default durability (every write fsynced before it is acknowledged; the outbox entry commits in the same transaction)\n")
	w("- source bucket `%s`: a WebhookConfiguration rule (all `s3:ObjectCreated:*`, HMAC secret, checked by the receiver) to a receiver inside the bench on 127.0.0.1, and the tag `TargetBucket=%s`\n", r.cfg.Source, r.cfg.Target)
	w("- webhook-only bucket `%s`: the same rule, no tag, so that the throughput table shows the webhook's cost apart from the copy's\n", r.cfg.HookOnly)
	w("- batched webhook bucket `%s`: the same rule with `<BatchSize>%d</BatchSize>`: records waiting together share a POST (the default, 1, sends one POST per record as S3 does; POSTs of records ready together are pipelined on one connection to a receiver that answers fast)\n", r.cfg.HookBatch, r.cfg.Batch)
	w("- client-copy bucket `%s`: no configuration; in the throughput phase its clients copy each upload to `%s` themselves (PUT, then CopyObject), the work a TargetBucket tag saves them\n", r.cfg.ClientCopy, r.cfg.Target)
	w("- client: net/http keep-alive, path-style, SigV4 (aws-sdk-go-v2 v4 signer), x-amz-content-sha256 = hex SHA-256 of the body\n\n")

	w("## Burst: PUT acknowledged → event at the webhook, → copy visible in `%s`\n\n", r.cfg.Target)
	w("Each burst: N new keys uploaded by %d clients back to back, as fast as the server takes them. "+
		"Latency = arrival − that PUT's acknowledgement (client side, after the response). ", r.cfg.BurstClients)
	w("**Copy visible** = the first ListObjectsV2 of `%s` (polled every %s, starting after the keys already seen) whose answer lists the key; "+
		"the time is when that listing returned, so a copy's latency is overstated by up to one poll interval plus one listing (poll listing p50 and p99 in the table: under load a slow listing, not a late copy, makes the copy p99).\n\n",
		r.cfg.Target, r.cfg.PollInterval)
	w("| size | uploads | PUT/s in burst | PUT p50 ms | event p50 ms | event p99 ms | event max ms | events lost | events/s sustained | copy p50 ms | copy p99 ms | copy max ms | copies lost | copies/s sustained | poll listing p50 / p99 ms | server CPU/upload | goal p99 < 100 ms |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, b := range r.bursts {
		p50, _, _ := percentiles(b.putLat)
		e50, e99, emax := percentiles(b.eventLat)
		c50, c99, cmax := percentiles(b.copyLat)
		l50, l99, _ := percentiles(b.listLat)
		cpu := "?"
		if b.cpuKnown {
			cpu = fmt.Sprintf("%.2f ms", benchkit.Ms(b.cpu)/float64(b.n))
		}
		w("| %s | %d | %.0f | %.2f | %.1f | %.1f | %.1f | %d | %.0f | %.1f | %.1f | %.1f | %d | %.0f | %.2f / %.2f | %s | events %s, copies %s |\n",
			benchkit.SizeLabel(b.size), b.n, rate(len(b.putLat), b.putElapsed), benchkit.Ms(p50), benchkit.Ms(e50), benchkit.Ms(e99), benchkit.Ms(emax), b.eventsLost,
			rate(len(b.eventLat), b.eventSpan), benchkit.Ms(c50), benchkit.Ms(c99), benchkit.Ms(cmax), b.copiesLost, rate(len(b.copyLat), b.copySpan), benchkit.Ms(l50), benchkit.Ms(l99), cpu,
			verdict(e99, b.eventsLost), verdict(c99, b.copiesLost))
	}
	w("\n**events/s sustained** = events delivered / (first PUT sent → last event arrived); **copies/s** likewise for copies. " +
		"Server CPU/upload = sluice's user+system CPU from the first PUT until the last copy was seen, per upload (PUT, outbox, webhook POST, copy).\n")
	if r.cfg.Sizes != nil {
		for i, s := range r.cfg.Sizes {
			if s >= 8<<20 && r.cfg.Bursts[i] < 1000 {
				w("The %s burst is %d uploads, not 1,000: 1,000 × %s would write %.1f GiB, twice that with the copies: too much for this disk and the bench's time box.\n",
					benchkit.SizeLabel(s), r.cfg.Bursts[i], benchkit.SizeLabel(s), float64(1000*s)/(1<<30))
			}
		}
	}
	w("Webhook: %d records received, %d duplicates (at-least-once redeliveries), %d bad signatures, %d undecodable.\n\n", r.records, r.dups, r.badSig, r.badBody)

	if len(r.tput) > 0 {
		w("## PUT throughput: bucket without vs with delivery\n\n")
		w("%d clients, %s PUTs of new keys, %s per bucket in %d slices the buckets take in turns (A B C, C B A, A B C, ...; `sync` before each), after a %s warm-up. "+
			"After every slice of a bucket with deliveries the bench waits until all its events (and copies) have arrived before the next slice starts (the drain), so no slice runs with another's delivery backlog; "+
			"ops/s therefore counts the delivery work done *during* the PUTs, and **CPU/PUT incl. drain** charges the rest. "+
			"Both ratios are against the first bucket, per round: this bucket's slice against the first bucket's slice of the same round (run just before or after it); the table gives the median over the rounds, so that a slow spell of the shared disk or host, which hits a whole slice, does not decide it, and the per-round ratios after it. "+
			"**PUT/s ratio** compares the slices' rates. **CPU ratio** compares the server's CPU per PUT, drain included (the first bucket's over this one's): the PUT/s ratio the two would have where the server's CPU is the limit. "+
			"A ratio in brackets is a round left out of the medians: the hypervisor took more than %.0f%% of the machine's CPU during that round's slice (and drain) of the bucket or of the first bucket, and then the guest's CPU times and rates stop measuring the server; when more than half the rounds are left out, the goal is not judged. "+
			"The goal column judges both medians, and names the lower: the PUT/s ratio is what the goal is stated in, but it also carries the webhook receiver's work, which here runs on the same cores as the server; the CPU ratio is Sluice's own cost. "+
			"**Bench CPU/PUT** is the bench's own CPU, incl. drain: its clients, the same for every bucket, and the webhook receiver (a minimal HTTP/1.1 server that checks every POST's HMAC and finds its records' keys in the JSON); what a bucket adds over the first is mostly the receiver's work, and is why the PUT/s ratio can be below the CPU ratio. "+
			"**POSTs pipelined** is the server's own count (its `/metrics`) of the one-record POSTs that shared a connection write with others, and how many such a write carried on average.\n\n",
			r.cfg.TputClients, benchkit.SizeLabel(r.cfg.TputSize), r.cfg.TputDuration, r.cfg.Rounds, r.cfg.Warmup, 100*maxRoundSteal)
		w("| bucket | config | PUT/s | p50 ms | p99 ms | server CPU/PUT | CPU/PUT incl. drain | drain after slices | lost | webhook records per POST (most) | POSTs pipelined (per write) | bench CPU/PUT | CPU ratio | PUT/s ratio | goal < 10%% slower |\n")
		w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for i, t := range r.tput {
			p50, p99, _ := percentiles(t.lat)
			conf := "none"
			switch t.bucket {
			case r.cfg.Source:
				conf = "webhook + TargetBucket"
			case r.cfg.HookOnly:
				conf = "webhook"
			case r.cfg.HookBatch:
				conf = fmt.Sprintf("webhook, BatchSize %d", r.cfg.Batch)
			case r.cfg.ClientCopy:
				conf = fmt.Sprintf("none; the client copies each upload to `%s` itself (PUT, then CopyObject)", r.cfg.Target)
			}
			cpu, cpuAll, benchCPU := "?", "?", "?"
			if t.cpuKnown && t.ops > 0 {
				cpu = fmt.Sprintf("%.0f µs", float64(t.cpu.Microseconds())/float64(t.ops))
				cpuAll = fmt.Sprintf("%.0f µs", float64((t.cpu+t.drainCPU).Microseconds())/float64(t.ops))
				benchCPU = fmt.Sprintf("%.0f µs", float64(t.benchCPU.Microseconds())/float64(t.ops))
			}
			drain := "—"
			if len(t.drain) > 0 {
				parts := make([]string, len(t.drain))
				for j, d := range t.drain {
					parts[j] = fmt.Sprintf("%.2f s", d.Seconds())
				}
				drain = strings.Join(parts, ", ")
			}
			ratio, cpuRatio, ok := "—", "—", "—"
			if i > 0 {
				out := t.leftOut(r.tput[0])
				var qPut, qCPU float64
				ratio, qPut, _ = medianOf(t.roundRatios(r.tput[0]), out)
				cpuRatio, qCPU, _ = medianOf(t.cpuRatios(r.tput[0]), out)
				ok = goalVerdict(qPut, qCPU)
				if n := count(out); 2*n > len(out) {
					ok = fmt.Sprintf("— (not judged: %d of %d rounds over %.0f%% steal)", n, len(out), 100*maxRoundSteal)
				}
				if t.bucket == r.cfg.ClientCopy {
					ok = "— (no delivery)"
				}
			}
			perPost := "—"
			if t.posts > 0 {
				perPost = fmt.Sprintf("%.2f (%d)", float64(t.records)/float64(t.posts), t.most)
			}
			pipes := "—"
			if p := t.pipes; p.ok && p.pipelined+p.alone > 0 {
				pipes = fmt.Sprintf("%.0f%%", 100*p.pipelined/(p.pipelined+p.alone))
				if p.writes > 0 {
					pipes += fmt.Sprintf(" (%.1f)", p.pipelined/p.writes)
				}
			}
			w("| `%s` | %s | %.0f | %.2f | %.2f | %s | %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", t.bucket, conf, t.opsPerSec(), benchkit.Ms(p50), benchkit.Ms(p99), cpu, cpuAll, drain, t.lost, perPost, pipes, benchCPU, cpuRatio, ratio, ok)
		}
		w("\n")
		r.renderCopyVsClient(w)
	}
	return sb.String()
}

// goalVerdict judges the goal, delivery adding under 10 %, on both
// median ratios: the PUT/s ratio is what the goal names, and the CPU
// ratio is Sluice's own cost, free of the receiver's work on the shared
// cores. A ratio that is unknown (0) leaves the verdict open.
func goalVerdict(qPut, qCPU float64) string {
	if qPut <= 0 || qCPU <= 0 {
		return "—"
	}
	q, by := qPut, "PUT/s"
	if qCPU < q {
		q, by = qCPU, "CPU"
	}
	if q < 0.9 {
		return fmt.Sprintf("**missed** (%.0f%% slower by %s)", 100*(1-q), by)
	}
	return "met"
}

// renderCopyVsClient compares the source bucket, whose TargetBucket tag
// makes the server copy every upload, with the bucket whose clients copy
// each upload themselves: the same objects written twice, so what the
// comparison shows is what the copy machinery costs beyond the second
// write, or saves.
func (r report) renderCopyVsClient(w func(string, ...any)) {
	var src, cc *tputResult
	for i := range r.tput {
		switch r.tput[i].bucket {
		case r.cfg.Source:
			src = &r.tput[i]
		case r.cfg.ClientCopy:
			cc = &r.tput[i]
		}
	}
	if src == nil || cc == nil {
		return
	}
	out := src.leftOut(*cc)
	puts, q, _ := medianOf(src.roundRatios(*cc), out)
	if q == 0 {
		return
	}
	cpu, _, _ := medianOf(src.cpuRatios(*cc), out)
	stolen := ""
	if n := count(out); n > 0 {
		stolen = fmt.Sprintf(" The medians leave out the %d of %d rounds in brackets (over %.0f%% steal)", n, len(out), 100*maxRoundSteal)
		if 2*n > len(out) {
			stolen += ", more than half: rerun on a quieter host"
		}
		stolen += "."
	}
	w("**TargetBucket copy against the client copying itself** (`%s` over `%s`, the slices run back to back): PUT/s %s, CPU %s. "+
		"Both write every object twice; a ratio above 1 is what the server-side copy (linked in the upload's own transaction, no second request) saves over a client's CopyObject.%s\n\n",
		src.bucket, cc.bucket, puts, cpu, stolen)
}

// medianOf renders the median of per-round ratios over the rounds not
// left out and, in parentheses, every round's ratio, those left out in
// brackets. It returns the median and how many rounds it is over; "—",
// 0, 0 when there are none.
func medianOf(rs []float64, out []bool) (string, float64, int) {
	var kept []float64
	parts := make([]string, len(rs))
	for i, x := range rs {
		p := fmt.Sprintf("%.2f", x)
		if math.IsNaN(x) {
			p = "?"
		}
		switch {
		case i < len(out) && out[i]:
			p = "[" + p + "]"
		case !math.IsNaN(x):
			kept = append(kept, x)
		}
		parts[i] = p
	}
	if len(kept) == 0 {
		return "—", 0, 0
	}
	q := median(kept)
	return fmt.Sprintf("%.2f× (%s)", q, strings.Join(parts, ", ")), q, len(kept)
}

// count returns how many of bs are true.
func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// median of xs (not empty).
func median(xs []float64) float64 {
	xs = slices.Sorted(slices.Values(xs))
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func verdict(p99 time.Duration, lost int) string {
	switch {
	case lost > 0:
		return "**lost**"
	case p99 < goal:
		return "met"
	}
	return "**missed**"
}

// loadWarning flags a run on a machine already busier than its CPUs.
func loadWarning(load string, cpus int) string {
	f := strings.Fields(load)
	if len(f) == 0 {
		return ""
	}
	var l1 float64
	if _, err := fmt.Sscanf(f[0], "%g", &l1); err != nil || l1 <= float64(cpus) {
		return ""
	}
	return fmt.Sprintf(" — **the machine was busy (1-minute load %.1f on %d CPUs)**: other work competed with the server, the bench and the receiver; latencies, p99 most, are inflated", l1, cpus)
}
