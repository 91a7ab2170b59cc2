package edge

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice"
)

func TestHostRouting(t *testing.T) {
	h := newHarness(t, nil, nil)
	if r := h.get("anything.localhost", "/x", nil); r.status != 404 || !strings.Contains(string(r.body), "create-distribution") {
		t.Fatalf("no distribution: %d %q", r.status, r.body)
	}
	h.bucket("one")
	h.bucket("two")
	h.put("one", "who", []byte("one"), sluice.ObjectMeta{ContentType: "text/plain"})
	h.put("two", "who", []byte("two"), sluice.ObjectMeta{ContentType: "text/plain"})
	d1 := s3Dist("E1AAAAAAAAAAAA", "one")
	d2 := s3Dist("E2BBBBBBBBBBBB", "two")
	d2.Config.Aliases = []string{"cdn.example.com", "*.wild.example"}
	off := s3Dist("E3CCCCCCCCCCCC", "two")
	off.Config.Enabled = false
	h.dist(off)
	h.dist(d1)
	h.dist(d2)
	for _, tc := range []struct {
		name, host string
		status     int
		body       string
	}{
		{"own domain", "e2bbbbbbbbbbbb.localhost", 200, "two"},
		{"upper case and port", "E2BBBBBBBBBBBB.LOCALHOST:4567", 200, "two"},
		{"alias", "cdn.example.com", 200, "two"},
		{"wildcard alias", "img.wild.example:80", 200, "two"},
		{"unknown host: first enabled", "127.0.0.1:4567", 200, "one"},
		{"disabled", "e3cccccccccccc.localhost", 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.get(tc.host, "/who", nil)
			if r.status != tc.status || (tc.body != "" && string(r.body) != tc.body) {
				t.Fatalf("got %d %q, want %d %q", r.status, r.body, tc.status, tc.body)
			}
		})
	}
	h.edge.RemoveDistribution(d1.ID)
	if r := h.get("127.0.0.1", "/who", nil); string(r.body) != "two" {
		t.Fatalf("after removing the first, fallback served %q", r.body)
	}
}

func TestHitMissAndCollapse(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.bucket("b")
	info := h.put("b", "a/b.txt", []byte("hello"), sluice.ObjectMeta{ContentType: "text/plain", User: map[string]string{"owner": "me"}})
	d := s3Dist("EHITMISS000001", "b")
	h.dist(d)
	host := hostOf(d.ID)

	r := h.get(host, "/a/b.txt", nil)
	if r.status != 200 || string(r.body) != "hello" || r.xcache() != "Miss from sluice" {
		t.Fatalf("first: %d %q %q", r.status, r.body, r.xcache())
	}
	for k, want := range map[string]string{
		"Content-Type": "text/plain", "ETag": info.ETag, "X-Amz-Meta-Owner": "me",
		"Via": "1.1 " + host + " (sluice)", "X-Amz-Cf-Pop": "LOCAL",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if r.header.Get("X-Amz-Cf-Id") == "" || r.header.Get("Age") != "" {
		t.Errorf("X-Amz-Cf-Id %q, Age %q on a miss", r.header.Get("X-Amz-Cf-Id"), r.header.Get("Age"))
	}
	r = h.get(host, "/a/b.txt", nil)
	if r.status != 200 || string(r.body) != "hello" || r.xcache() != "Hit from sluice" || r.header.Get("Age") == "" {
		t.Fatalf("second: %d %q %q age %q", r.status, r.body, r.xcache(), r.header.Get("Age"))
	}
	if n := h.store.opens.Load(); n != 1 {
		t.Fatalf("origin reads = %d, want 1", n)
	}

	h.put("b", "big.txt", []byte(strings.Repeat("x", 5000)), sluice.ObjectMeta{ContentType: "text/plain"})
	before := h.store.opens.Load()
	var wg sync.WaitGroup
	errs := make(chan string, 32)
	for range 32 {
		wg.Go(func() {
			r := h.get(host, "/big.txt", nil)
			if r.status != 200 || len(r.body) != 5000 {
				errs <- fmt.Sprintf("%d %d", r.status, len(r.body))
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := h.store.opens.Load() - before; n != 1 {
		t.Fatalf("32 concurrent misses made %d origin reads, want 1", n)
	}
}

func TestErrorCachingAndInvalidate(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.bucket("b")
	d := s3Dist("EERRCACHE00001", "b")
	h.dist(d)
	host := hostOf(d.ID)
	r := h.get(host, "/late.txt", nil)
	if r.status != 404 || !strings.Contains(string(r.body), "NoSuchKey") || r.xcache() != "Miss from sluice" {
		t.Fatalf("missing: %d %q %q", r.status, r.body, r.xcache())
	}
	h.put("b", "late.txt", []byte("now"), sluice.ObjectMeta{})
	if r := h.get(host, "/late.txt", nil); r.status != 404 || r.xcache() != "Hit from sluice" {
		t.Fatalf("404 is cached for the error caching TTL: %d %q", r.status, r.xcache())
	}
	n, err := h.edge.Invalidate(t.Context(), d.ID, []string{"/late.txt"})
	if err != nil || n != 1 {
		t.Fatalf("Invalidate = %d, %v", n, err)
	}
	if r := h.get(host, "/late.txt", nil); r.status != 200 || string(r.body) != "now" || r.xcache() != "Miss from sluice" {
		t.Fatalf("after invalidation: %d %q %q", r.status, r.body, r.xcache())
	}
	if r := h.do(http.MethodPost, host, "/late.txt", nil, strings.NewReader("x")); r.status != 403 || r.xcache() != "Error from sluice" {
		t.Fatalf("POST on a GET/HEAD behaviour: %d %q", r.status, r.xcache())
	}
}
