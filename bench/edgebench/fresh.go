package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

const freshKey = "fresh/page.txt"

// freshResult is the overwrite → fresh phase.
type freshResult struct {
	runs      int
	variants  []string        // labels, e.g. "?v=1 gzip"
	perVar    []time.Duration // PUT ack → first fresh answer, every variant of every run
	allFresh  []time.Duration // per run: PUT ack → the last variant fresh
	put       []time.Duration // PUT latency
	staleSeen int             // polls that still got the old version
	polls     int
	stale     int // variants never fresh within the timeout
	errors    int
	firstErr  string
}

// freshBody is version k of the text object: a first line naming the
// version, then text up to size bytes (compressible, so the edge keeps a
// gzip copy too).
func freshBody(k, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "version %08d\n", k)
	line := "The quick brown fox jumps over the lazy dog; sluice edge freshness probe.\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	return b.Bytes()[:size]
}

// bodyVersion reads the version back from an answer, decoding gzip.
func bodyVersion(r response) (int, error) {
	body := r.body
	if strings.EqualFold(r.contentEncoding, "gzip") {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return 0, fmt.Errorf("gzip: %w", err)
		}
		if body, err = io.ReadAll(io.LimitReader(zr, 64)); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, fmt.Errorf("gzip: %w", err)
		}
	} else if r.contentEncoding != "" {
		return 0, fmt.Errorf("unexpected Content-Encoding %q", r.contentEncoding)
	}
	line, _, ok := bytes.Cut(body, []byte("\n"))
	v, found := bytes.CutPrefix(line, []byte("version "))
	if !ok || !found {
		return 0, fmt.Errorf("no version line in %q", truncate(body))
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return 0, fmt.Errorf("bad version %q", v)
	}
	return n, nil
}

// variant is one cached copy of the object: a query string and an
// encoding, polled on its own connection.
type variant struct {
	label string
	req   []byte
	c     *conn
}

func (v *variant) get(addr string) (response, error) {
	if v.c == nil {
		c, err := dial(addr)
		if err != nil {
			return response{}, err
		}
		v.c = c
	}
	r, err := v.c.do(v.req, true, 10*time.Second)
	if err != nil {
		v.c.Close()
		v.c = nil
		if errors.Is(err, errConnClose) {
			err = nil
		}
	}
	if err == nil && r.status != http.StatusOK {
		err = fmt.Errorf("HTTP %d", r.status)
	}
	return r, err
}

// runFresh overwrites one object FreshRuns times. Before each overwrite
// every variant is cached with the current version (a hit serving it);
// after the PUT is acknowledged each variant is polled every FreshPoll
// until it serves the new version.
func (b *bench) runFresh(ctx context.Context) (freshResult, error) {
	cfg := b.cfg
	s := b.sluiceClients()
	if err := s.createBucket(ctx, freshBucket); err != nil {
		return freshResult{}, err
	}
	if err := s.put(ctx, freshBucket, freshKey, "text/plain; charset=utf-8", freshBody(0, cfg.FreshSize)); err != nil {
		return freshResult{}, err
	}
	host, err := s.createDistribution(ctx, distSpec{bucket: freshBucket, comment: "edgebench fresh", cacheKeys: []string{"v"}, compress: true}, cfg.Region)
	if err != nil {
		return freshResult{}, err
	}
	var vars []*variant
	for q := 1; q <= cfg.FreshVariants; q++ {
		target := fmt.Sprintf("/%s?v=%d", freshKey, q)
		vars = append(vars,
			&variant{label: fmt.Sprintf("?v=%d", q), req: getRequest(host, target)},
			&variant{label: fmt.Sprintf("?v=%d gzip", q), req: getRequest(host, target, "Accept-Encoding: gzip")})
	}
	defer func() {
		for _, v := range vars {
			if v.c != nil {
				v.c.Close()
			}
		}
	}()
	res := freshResult{runs: cfg.FreshRuns}
	for _, v := range vars {
		res.variants = append(res.variants, v.label)
	}
	benchkit.Logf("fresh: %d overwrites of %s/%s (%s) behind %s, %d cached variants each, polled every %s",
		cfg.FreshRuns, freshBucket, freshKey, benchkit.SizeLabel(cfg.FreshSize), host, len(vars), cfg.FreshPoll)
	fail := func(err error) {
		res.errors++
		if res.firstErr == "" {
			res.firstErr = err.Error()
		}
	}
	for k := 1; k <= cfg.FreshRuns; k++ {
		if ctx.Err() != nil {
			return res, errors.New("interrupted")
		}
		if err := b.warmVariants(ctx, vars, k-1); err != nil {
			return res, fmt.Errorf("fresh run %d: %w", k, err)
		}
		body := freshBody(k, cfg.FreshSize)
		t0 := time.Now()
		if err := s.put(ctx, freshBucket, freshKey, "text/plain; charset=utf-8", body); err != nil {
			return res, err
		}
		ack := time.Now()
		res.put = append(res.put, ack.Sub(t0))

		var mu sync.Mutex
		var last time.Duration
		var wg sync.WaitGroup
		for _, v := range vars {
			wg.Go(func() {
				deadline := ack.Add(cfg.FreshTimeout)
				for {
					r, err := v.get(b.edgeAddr)
					now := time.Now()
					var ver int
					if err == nil {
						ver, err = bodyVersion(r)
					}
					mu.Lock()
					res.polls++
					switch {
					case err != nil:
						fail(fmt.Errorf("%s: %w", v.label, err))
					case ver == k:
						d := now.Sub(ack)
						res.perVar = append(res.perVar, d)
						last = max(last, d)
						mu.Unlock()
						return
					case ver == k-1:
						res.staleSeen++
					default:
						fail(fmt.Errorf("%s: version %d, want %d or %d", v.label, ver, k-1, k))
					}
					mu.Unlock()
					if now.After(deadline) || ctx.Err() != nil {
						mu.Lock()
						res.stale++
						mu.Unlock()
						return
					}
					time.Sleep(cfg.FreshPoll)
				}
			})
		}
		wg.Wait()
		res.allFresh = append(res.allFresh, last)
		if err := b.alive("fresh"); err != nil {
			return res, err
		}
	}
	p := benchkit.Summarize(res.allFresh)
	benchkit.Logf("fresh: every variant fresh p50 %.1f ms p99 %.1f ms max %.1f ms; %d stale after %s, %d errors",
		benchkit.Ms(p.P50), benchkit.Ms(p.P99), benchkit.Ms(p.Max), res.stale, cfg.FreshTimeout, res.errors)
	return res, nil
}

// warmVariants fetches every variant until the edge serves version want
// from its cache.
func (b *bench) warmVariants(ctx context.Context, vars []*variant, want int) error {
	deadline := time.Now().Add(b.cfg.FreshTimeout)
	for _, v := range vars {
		for {
			r, err := v.get(b.edgeAddr)
			var ver int
			if err == nil {
				ver, err = bodyVersion(r)
			}
			if err == nil && ver == want && strings.HasPrefix(r.xCache, "Hit") {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				if err == nil {
					err = fmt.Errorf("version %d, X-Cache %q", ver, r.xCache)
				}
				return fmt.Errorf("variant %s never a cached hit of version %d: %w", v.label, want, err)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return nil
}
