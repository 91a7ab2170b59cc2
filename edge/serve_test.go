package edge

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/sluicehq/sluice"
)

func TestBehaviours(t *testing.T) {
	h := newHarness(t, nil, nil)
	for _, b := range []string{"main", "img", "css"} {
		h.bucket(b)
	}
	h.put("main", "index.html", []byte("root"), sluice.ObjectMeta{ContentType: "text/html"})
	h.put("main", "img/a.jpg", []byte("main-jpg"), sluice.ObjectMeta{})
	h.put("img", "img/a.jpg", []byte("img-jpg"), sluice.ObjectMeta{})
	h.put("css", "site.css", []byte("css"), sluice.ObjectMeta{})
	h.put("css", "prefix/site.css", []byte("prefixed"), sluice.ObjectMeta{})
	d := s3Dist("EBEHAVIOUR0001", "main")
	d.Config.DefaultRootObject = "index.html"
	d.Config.Origins = append(d.Config.Origins,
		sluice.Origin{ID: "img", DomainName: "img.s3.us-east-1.amazonaws.com", S3: &sluice.S3OriginConfig{}},
		sluice.Origin{ID: "css", DomainName: "css.s3.amazonaws.com", OriginPath: "/prefix", S3: &sluice.S3OriginConfig{}})
	d.Config.CacheBehaviors = []sluice.CacheBehavior{
		{PathPattern: "img/*", TargetOriginID: "img", DefaultTTL: 60, MaxTTL: 60},
		{PathPattern: "/*.css", TargetOriginID: "css", DefaultTTL: 60, MaxTTL: 60,
			AllowedMethods: []string{"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}},
	}
	h.dist(d)
	host := hostOf(d.ID)
	for _, tc := range []struct{ path, want string }{
		{"/", "root"}, {"/img/a.jpg", "img-jpg"}, {"/site.css", "prefixed"},
	} {
		if r := h.get(host, tc.path, nil); r.status != 200 || string(r.body) != tc.want {
			t.Errorf("%s: %d %q, want %q", tc.path, r.status, r.body, tc.want)
		}
	}
	if r := h.do(http.MethodDelete, host, "/site.css", nil, nil); r.status != 405 || r.xcache() != "Miss from sluice" {
		t.Errorf("DELETE allowed by the behaviour reaches S3, which refuses it: %d %q", r.status, r.xcache())
	}
	if r := h.do(http.MethodDelete, host, "/img/a.jpg", nil, nil); r.status != 403 {
		t.Errorf("DELETE not allowed: %d", r.status)
	}
	// Invalidating /index.html also drops what / served.
	if n, _ := h.edge.Invalidate(t.Context(), d.ID, []string{"/index.html"}); n != 1 {
		t.Errorf("invalidating /index.html dropped %d", n)
	}
}

func TestQueryStringCacheKey(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.bucket("b")
	h.put("b", "p.txt", []byte("p"), sluice.ObjectMeta{})
	d := s3Dist("EQUERY00000001", "b")
	d.Config.DefaultCacheBehavior.QueryString = true
	d.Config.DefaultCacheBehavior.QueryStringCacheKeys = []string{"d"}
	d.Config.CacheBehaviors = []sluice.CacheBehavior{{PathPattern: "/noq/*", TargetOriginID: "s3", DefaultTTL: 60, MaxTTL: 60}}
	h.dist(d)
	h.put("b", "noq/p.txt", []byte("q"), sluice.ObjectMeta{})
	host := hostOf(d.ID)
	for _, tc := range []struct{ target, xcache string }{
		{"/p.txt?d=1&junk=2", "Miss"},
		{"/p.txt?junk=3&d=1", "Hit"},
		{"/p.txt?d=2", "Miss"},
		{"/p.txt", "Miss"},
		{"/p.txt?other=1", "Hit"},
		{"/noq/p.txt?d=1", "Miss"},
		{"/noq/p.txt?d=2", "Hit"},
	} {
		if r := h.get(host, tc.target, nil); r.xcache() != tc.xcache+" from sluice" {
			t.Errorf("%s: X-Cache %q, want %s", tc.target, r.xcache(), tc.xcache)
		}
	}
	n, _ := h.edge.Invalidate(t.Context(), d.ID, []string{"/p.txt"})
	if n != 3 {
		t.Errorf("invalidating /p.txt dropped %d variants, want 3", n)
	}
}

func TestConditionalRangeHead(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.bucket("b")
	info := h.put("b", "r.bin", []byte("0123456789"), sluice.ObjectMeta{ContentType: "application/octet-stream"})
	d := s3Dist("ERANGE00000001", "b")
	h.dist(d)
	host := hostOf(d.ID)
	h.get(host, "/r.bin", nil)
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		status int
		body   string
	}{
		{"single range", map[string]string{"Range": "bytes=2-4"}, 206, "234"},
		{"suffix range", map[string]string{"Range": "bytes=-3"}, 206, "789"},
		{"descending ranges: whole object", map[string]string{"Range": "bytes=5-6,0-1"}, 200, "0123456789"},
		{"overlapping ranges: whole object", map[string]string{"Range": "bytes=0-5,3-8"}, 200, "0123456789"},
		{"unsatisfiable", map[string]string{"Range": "bytes=50-60"}, 416, ""},
		{"if-none-match", map[string]string{"If-None-Match": info.ETag}, 304, ""},
		{"if-none-match other", map[string]string{"If-None-Match": `"nope"`}, 200, "0123456789"},
		{"if-modified-since", map[string]string{"If-Modified-Since": info.LastModified.UTC().Add(1e9).Format(http.TimeFormat)}, 304, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.get(host, "/r.bin", tc.hdr)
			if r.status != tc.status || (tc.status != 416 && string(r.body) != tc.body) {
				t.Fatalf("%d %q, want %d %q", r.status, r.body, tc.status, tc.body)
			}
			if r.xcache() != "Hit from sluice" {
				t.Fatalf("X-Cache %q", r.xcache())
			}
			if tc.status == 304 && r.header.Get("ETag") != info.ETag {
				t.Fatalf("304 ETag %q", r.header.Get("ETag"))
			}
		})
	}
	r := h.get(host, "/r.bin", map[string]string{"Range": "bytes=0-1,4-5"})
	if r.status != 206 || !strings.HasPrefix(r.header.Get("Content-Type"), "multipart/byteranges") ||
		!bytes.Contains(r.body, []byte("01")) || !bytes.Contains(r.body, []byte("45")) {
		t.Fatalf("multiple ranges: %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
	}
	r = h.do(http.MethodHead, host, "/r.bin", nil, nil)
	if r.status != 200 || len(r.body) != 0 || r.header.Get("Content-Length") != "10" || r.xcache() != "Hit from sluice" {
		t.Fatalf("HEAD: %d %q len %q %q", r.status, r.body, r.header.Get("Content-Length"), r.xcache())
	}
	h.put("b", "head-first", []byte("abc"), sluice.ObjectMeta{})
	if r := h.do(http.MethodHead, host, "/head-first", nil, nil); r.status != 200 || r.header.Get("Content-Length") != "3" || r.xcache() != "Miss from sluice" {
		t.Fatalf("HEAD miss: %d %q", r.status, r.header.Get("Content-Length"))
	}
	if r := h.get(host, "/head-first", nil); string(r.body) != "abc" || r.xcache() != "Hit from sluice" {
		t.Fatalf("GET after HEAD: %q %q", r.body, r.xcache())
	}
}

func TestRefreshHit(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.bucket("b")
	h.put("b", "v", []byte("one"), sluice.ObjectMeta{CacheControl: "max-age=0"})
	d := s3Dist("EREFRESH000001", "b")
	h.dist(d)
	host := hostOf(d.ID)
	if r := h.get(host, "/v", nil); r.xcache() != "Miss from sluice" {
		t.Fatalf("first: %q", r.xcache())
	}
	if r := h.get(host, "/v", nil); r.xcache() != "RefreshHit from sluice" || string(r.body) != "one" {
		t.Fatalf("expired, unchanged: %q %q", r.xcache(), r.body)
	}
	h.put("b", "v", []byte("two"), sluice.ObjectMeta{CacheControl: "max-age=0"})
	if r := h.get(host, "/v", nil); r.xcache() != "Miss from sluice" || string(r.body) != "two" {
		t.Fatalf("expired, changed: %q %q", r.xcache(), r.body)
	}
}

func TestCompressOnce(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.bucket("b")
	text := strings.Repeat("compress me please ", 300)
	info := h.put("b", "t.txt", []byte(text), sluice.ObjectMeta{ContentType: "text/plain; charset=utf-8"})
	h.put("b", "small.txt", []byte("tiny"), sluice.ObjectMeta{ContentType: "text/plain"})
	h.put("b", "p.png", []byte(text), sluice.ObjectMeta{ContentType: "image/png"})
	d := s3Dist("ECOMPRESS00001", "b")
	d.Config.DefaultCacheBehavior.Compress = true
	h.dist(d)
	host := hostOf(d.ID)
	decode := map[string]func(io.Reader) (io.Reader, error){
		"gzip": func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
		"br":   func(r io.Reader) (io.Reader, error) { return brotli.NewReader(r), nil },
	}
	for _, tc := range []struct{ accept, enc string }{{"gzip, deflate", "gzip"}, {"gzip, br", "br"}} {
		for i := range 3 {
			r := h.get(host, "/t.txt", map[string]string{"Accept-Encoding": tc.accept})
			if got := r.header.Get("Content-Encoding"); got != tc.enc {
				t.Fatalf("%s #%d: Content-Encoding %q", tc.accept, i, got)
			}
			zr, err := decode[tc.enc](bytes.NewReader(r.body))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil || string(plain) != text {
				t.Fatalf("%s: decoded %d bytes, err %v", tc.enc, len(plain), err)
			}
			if len(r.body) >= len(text) {
				t.Fatalf("%s: %d bytes is not smaller than %d", tc.enc, len(r.body), len(text))
			}
			if r.header.Get("ETag") != "W/"+info.ETag || r.header.Get("Vary") != "Accept-Encoding" {
				t.Fatalf("%s: ETag %q Vary %q", tc.enc, r.header.Get("ETag"), r.header.Get("Vary"))
			}
		}
		if n := counterValue(h.edge.m.compressions.WithLabelValues(tc.enc)); n != 1 {
			t.Fatalf("%s compressions = %v, want 1", tc.enc, n)
		}
	}
	r := h.get(host, "/t.txt", nil)
	if r.header.Get("Content-Encoding") != "" || string(r.body) != text || r.header.Get("ETag") != info.ETag {
		t.Fatalf("identity: %q %d", r.header.Get("Content-Encoding"), len(r.body))
	}
	if h.store.opens.Load() != 1 {
		t.Fatalf("origin reads = %d, want 1 for every encoding", h.store.opens.Load())
	}
	for _, p := range []string{"/small.txt", "/p.png"} {
		if r := h.get(host, p, map[string]string{"Accept-Encoding": "gzip"}); r.header.Get("Content-Encoding") != "" {
			t.Errorf("%s compressed", p)
		}
	}
	// Every encoding is a variant of the path: invalidation drops them all.
	if n, _ := h.edge.Invalidate(t.Context(), d.ID, []string{"/t.txt"}); n != 3 {
		t.Errorf("invalidated %d variants of /t.txt, want 3", n)
	}
}
