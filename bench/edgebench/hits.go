package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// runHits measures cache hits of one object: sluice's edge (every answer
// must say X-Cache: Hit) against nginx serving the same bytes from disk.
func (b *bench) runHits(ctx context.Context) ([]result, error) {
	var targets []target
	reqs := map[string][]byte{}
	if b.cfg.has(srvNginx) {
		targets = append(targets, target{name: srvNginx, addr: b.nginx.Addr(), pid: b.nginx.Pid()})
		reqs[srvNginx] = getRequest(b.nginx.Addr(), "/"+hitKey)
	}
	if b.cfg.has(srvSluice) {
		s := b.sluiceClients()
		if err := s.createBucket(ctx, hitsBucket); err != nil {
			return nil, err
		}
		if err := s.put(ctx, hitsBucket, hitKey, "application/octet-stream", b.hitBody); err != nil {
			return nil, err
		}
		host, err := s.createDistribution(ctx, distSpec{bucket: hitsBucket, comment: "edgebench hits"}, b.cfg.Region)
		if err != nil {
			return nil, err
		}
		if err := b.warmHit(ctx, host, "/"+hitKey, int64(len(b.hitBody))); err != nil {
			return nil, err
		}
		targets = append(targets, target{name: srvSluice, addr: b.edgeAddr, pid: b.sluice.Pid()})
		reqs[srvSluice] = getRequest(host, "/"+hitKey)
		benchkit.Logf("hits: distribution %s in front of %s/%s, warmed", host, hitsBucket, hitKey)
	}
	size := int64(len(b.hitBody))
	label := fmt.Sprintf("GET %s c=%d", benchkit.SizeLabel(len(b.hitBody)), b.cfg.HitConns)
	gen := func(t target) func(int) job {
		j := job{req: reqs[t.name], check: hitCheck(t.name == srvSluice, size)}
		return func(int) job { return j }
	}
	return b.runCell(ctx, "hits "+label, targets, b.cfg.HitConns, b.cfg.HitDuration, gen)
}

// errNotHit marks a whole 200 answer from the edge that was not served
// from its cache although the object was warm and its TTL a day. It is
// counted and reported (a cache that drops a hot entry is a finding), not
// a failed request.
var errNotHit = errors.New("not a cache hit")

// hitCheck accepts a whole 200 answer; from the edge it must also be a
// cache hit (errNotHit otherwise).
func hitCheck(edge bool, size int64) func(response) error {
	return func(r response) error {
		switch {
		case r.status != http.StatusOK:
			return fmt.Errorf("HTTP %d", r.status)
		case r.n != size:
			return fmt.Errorf("%d body bytes, want %d", r.n, size)
		case edge && !strings.HasPrefix(r.xCache, "Hit"):
			return fmt.Errorf("%w: X-Cache %q", errNotHit, r.xCache)
		}
		return nil
	}
}
