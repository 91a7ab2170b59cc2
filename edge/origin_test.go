package edge

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func customDist(id, hostport string) sluice.Distribution {
	return sluice.Distribution{
		ID: id, DomainName: hostOf(id),
		Config: sluice.DistributionConfig{
			Enabled: true,
			Origins: []sluice.Origin{{ID: "web", DomainName: hostport,
				CustomHeaders: []sluice.OriginHeader{{Name: "X-Origin-Secret", Value: "s3cr3t"}},
				Custom:        &sluice.CustomOriginConfig{HTTPPort: 80, OriginProtocolPolicy: "http-only"}}},
			DefaultCacheBehavior: sluice.CacheBehavior{TargetOriginID: "web", DefaultTTL: 86400, MaxTTL: 31536000,
				QueryString: true, QueryStringCacheKeys: []string{"v"}, ForwardHeaders: []string{"X-Tenant"}},
		},
	}
}

func TestCustomOrigin(t *testing.T) {
	var hits atomic.Int64
	var mu sync.Mutex
	var last *http.Request
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		mu.Lock()
		last = r.Clone(r.Context())
		mu.Unlock()
		switch r.URL.Path {
		case "/page":
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Cache-Control", "max-age=0")
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, "page q=%s tenant=%s", r.URL.RawQuery, r.Header.Get("X-Tenant"))
		case "/boom":
			http.Error(w, "down", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	defer origin.Close()
	h := newHarness(t, nil, nil)
	d := customDist("ECUSTOM0000001", origin.Listener.Addr().String())
	h.dist(d)
	host := hostOf(d.ID)

	r := h.get(host, "/page?v=1&other=2", map[string]string{"X-Tenant": "acme", "X-Private": "no"})
	if r.status != 200 || string(r.body) != "page q=v=1&other=2 tenant=acme" || r.xcache() != "Miss from sluice" {
		t.Fatalf("first: %d %q %q", r.status, r.body, r.xcache())
	}
	mu.Lock()
	got := last
	mu.Unlock()
	for k, want := range map[string]string{"X-Origin-Secret": "s3cr3t", "X-Private": "", "User-Agent": "Amazon CloudFront",
		"X-Forwarded-For": "127.0.0.1", "X-Amz-Cf-Id": r.header.Get("X-Amz-Cf-Id")} {
		if v := got.Header.Get(k); v != want {
			t.Errorf("origin saw %s = %q, want %q", k, v, want)
		}
	}
	if host, _, _ := net.SplitHostPort(origin.Listener.Addr().String()); got.Host != host {
		t.Errorf("origin saw Host %q, want %q", got.Host, host)
	}
	r = h.get(host, "/page?v=1&other=3", map[string]string{"X-Tenant": "acme"})
	if r.xcache() != "RefreshHit from sluice" || string(r.body) != "page q=v=1&other=2 tenant=acme" {
		t.Fatalf("revalidated: %q %q", r.xcache(), r.body)
	}
	if r := h.get(host, "/page?v=1", map[string]string{"X-Tenant": "other"}); r.xcache() != "Miss from sluice" {
		t.Fatalf("another forwarded header value is another variant: %q", r.xcache())
	}
	before := hits.Load()
	for i := range 3 {
		if r := h.get(host, "/boom", nil); r.status != 500 || (i > 0 && r.xcache() != "Hit from sluice") {
			t.Fatalf("500 #%d: %d %q", i, r.status, r.xcache())
		}
	}
	if n := hits.Load() - before; n != 1 {
		t.Fatalf("a 500 is cached for the error caching TTL; origin asked %d times", n)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	d2 := customDist("ECUSTOMDEAD001", dead)
	h.dist(d2)
	if r := h.get(hostOf(d2.ID), "/x", nil); r.status != 502 || r.xcache() != "Error from sluice" {
		t.Fatalf("unreachable origin: %d %q", r.status, r.xcache())
	}
}

func TestInvalidationBeatsInflightFill(t *testing.T) {
	started := make(chan struct{}, 4)
	release := make(chan struct{})
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		if n == 1 {
			started <- struct{}{}
			<-release
		}
		fmt.Fprintf(w, "version %d", n)
	}))
	defer origin.Close()
	h := newHarness(t, nil, nil)
	d := customDist("EINFLIGHT00001", origin.Listener.Addr().String())
	h.dist(d)
	host := hostOf(d.ID)
	done := make(chan resp)
	go func() { done <- h.get(host, "/obj", nil) }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the fill never reached the origin")
	}
	if _, err := h.edge.Invalidate(t.Context(), d.ID, []string{"/*"}); err != nil {
		t.Fatal(err)
	}
	close(release)
	if r := <-done; string(r.body) != "version 1" {
		t.Fatalf("in-flight request got %q", r.body)
	}
	if r := h.get(host, "/obj", nil); string(r.body) != "version 2" || r.xcache() != "Miss from sluice" {
		t.Fatalf("the fill that started before the invalidation was stored: %q %q", r.body, r.xcache())
	}
	if r := h.get(host, "/obj", nil); r.xcache() != "Hit from sluice" {
		t.Fatalf("a fill after the invalidation is stored: %q", r.xcache())
	}
}

func TestInvalidatePaths(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.bucket("b")
	for _, k := range []string{"a/1.txt", "a/2.txt", "b/1.txt", "my photo.txt"} {
		h.put("b", k, []byte(k), sluice.ObjectMeta{})
	}
	d := s3Dist("EINVALIDATE001", "b")
	d.Config.DefaultCacheBehavior.QueryString = true
	h.dist(d)
	host := hostOf(d.ID)
	warm := func() {
		for _, p := range []string{"/a/1.txt", "/a/1.txt?x=1", "/a/2.txt", "/b/1.txt", "/my%20photo.txt"} {
			h.get(host, p, nil)
		}
	}
	for _, tc := range []struct {
		paths []string
		want  int
	}{
		{[]string{"/a/1.txt"}, 2},
		{[]string{"/a/*"}, 3},
		{[]string{"/my%20photo.txt"}, 1},
		{[]string{"/my photo.txt", "/b/1.txt"}, 2},
		{[]string{"/*"}, 5},
	} {
		warm()
		n, err := h.edge.Invalidate(t.Context(), d.ID, tc.paths)
		if err != nil || n != tc.want {
			t.Errorf("Invalidate(%v) = %d, %v; want %d", tc.paths, n, err, tc.want)
		}
		h.edge.Invalidate(t.Context(), d.ID, []string{"/*"})
	}
}

func TestTooBigToCache(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) { c.Cache.MaxEntryBytes = 1000 })
	h.bucket("b")
	body := strings.Repeat("z", 5000)
	h.put("b", "big", []byte(body), sluice.ObjectMeta{ContentType: "text/plain"})
	d := s3Dist("ETOOBIG0000001", "b")
	h.dist(d)
	for i := range 2 {
		r := h.get(hostOf(d.ID), "/big", nil)
		if r.status != 200 || string(r.body) != body || r.xcache() != "Miss from sluice" || r.header.Get("Content-Length") != "5000" {
			t.Fatalf("#%d: %d %d bytes %q", i, r.status, len(r.body), r.xcache())
		}
	}
	if r := h.do(http.MethodHead, hostOf(d.ID), "/big", nil, nil); r.status != 200 || len(r.body) != 0 {
		t.Fatalf("HEAD of a streamed object: %d %d", r.status, len(r.body))
	}
}
