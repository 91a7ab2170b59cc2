package edge

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/awsevent"
)

// openFilesUnder counts this process's descriptors open on cache entry files under dir
// (-1 where /proc is not there to tell).
func openFilesUnder(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	n := 0
	for _, de := range ents {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", de.Name())); err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) && strings.HasSuffix(target, ".ent") {
			n++
		}
	}
	return n
}

// TestLargeHitsFromDiskTier covers hits whose bodies are sent from the
// cache's files: whole GETs, ranges, HEAD, a compressed variant, concurrent
// hits, and invalidation.
func TestLargeHitsFromDiskTier(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, nil, func(c *Config) { c.Cache.Dir = dir })
	h.bucket("b")
	rng := rand.New(rand.NewPCG(1, 2))
	bin := make([]byte, 200<<10)
	for i := range bin {
		bin[i] = byte(rng.Uint32())
	}
	h.put("b", "big.bin", bin, sluice.ObjectMeta{ContentType: "application/octet-stream"})
	// Hex text compresses to about half: the gzip variant is large too.
	text := []byte(hex.EncodeToString(bin))
	h.put("b", "big.txt", text, sluice.ObjectMeta{ContentType: "text/plain"})
	d := s3Dist("ESENDFILE00001", "b")
	d.Config.DefaultCacheBehavior.Compress = true
	h.dist(d)
	host := hostOf(d.ID)

	if r := h.get(host, "/big.bin", nil); r.xcache() != "Miss from sluice" || !bytes.Equal(r.body, bin) {
		t.Fatalf("miss: %q, %d bytes", r.xcache(), len(r.body))
	}
	for i := range 3 {
		r := h.get(host, "/big.bin", nil)
		if r.status != 200 || r.xcache() != "Hit from sluice" || !bytes.Equal(r.body, bin) {
			t.Fatalf("hit %d: %d %q, %d bytes", i, r.status, r.xcache(), len(r.body))
		}
		if r.header.Get("Content-Length") != "204800" || r.header.Get("Accept-Ranges") != "bytes" ||
			r.header.Get("Content-Type") != "application/octet-stream" || r.header.Get("Age") == "" {
			t.Fatalf("hit %d headers: %v", i, r.header)
		}
	}
	if n := openFilesUnder(t, dir); n == 0 {
		t.Fatal("no descriptor open on a cache file: the hits were not sent from the file")
	}

	r := h.get(host, "/big.bin", map[string]string{"Range": "bytes=100000-100009"})
	if r.status != 206 || !bytes.Equal(r.body, bin[100000:100010]) {
		t.Fatalf("range: %d %x", r.status, r.body)
	}
	r = h.do(http.MethodHead, host, "/big.bin", nil, nil)
	if r.status != 200 || len(r.body) != 0 || r.header.Get("Content-Length") != "204800" {
		t.Fatalf("HEAD: %d, %d bytes, length %q", r.status, len(r.body), r.header.Get("Content-Length"))
	}

	for i := range 3 {
		r := h.get(host, "/big.txt", map[string]string{"Accept-Encoding": "gzip"})
		if r.header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("gzip %d: Content-Encoding %q", i, r.header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(plain, text) {
			t.Fatalf("gzip %d: decoded %d bytes, err %v", i, len(plain), err)
		}
	}

	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/big.bin", nil)
			req.Host = host
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			if err != nil || !bytes.Equal(b, bin) {
				t.Errorf("concurrent hit: %d bytes, err %v", len(b), err)
			}
		})
	}
	wg.Wait()

	bin2 := bytes.Repeat([]byte{7}, 100<<10)
	h.put("b", "big.bin", bin2, sluice.ObjectMeta{ContentType: "application/octet-stream"})
	if _, err := h.edge.Invalidate(t.Context(), d.ID, []string{"/big.bin"}); err != nil {
		t.Fatal(err)
	}
	if r := h.get(host, "/big.bin", nil); r.xcache() != "Miss from sluice" || !bytes.Equal(r.body, bin2) {
		t.Fatalf("after invalidation: %q, %d bytes", r.xcache(), len(r.body))
	}
	if r := h.get(host, "/big.bin", nil); r.xcache() != "Hit from sluice" || !bytes.Equal(r.body, bin2) {
		t.Fatalf("hit after invalidation: %q, %d bytes", r.xcache(), len(r.body))
	}
}

// TestStatusWriterReadFrom checks the wrapper's ReadFrom with a
// ResponseWriter that has none of its own.
func TestStatusWriterReadFrom(t *testing.T) {
	rec := httptest.NewRecorder()
	w := &statusWriter{ResponseWriter: rec}
	n, err := w.ReadFrom(io.LimitReader(strings.NewReader("hello, world"), 100))
	if err != nil || n != 12 || w.bytes != 12 || w.status != 200 || rec.Body.String() != "hello, world" {
		t.Fatalf("ReadFrom: n=%d err=%v bytes=%d status=%d body=%q", n, err, w.bytes, w.status, rec.Body.String())
	}
}

// TestViewerRequestHeadersDriveHits checks that what the hit path reads
// (Accept-Encoding, Range) comes from the request as a viewer-request
// function left it, not from the viewer's own headers.
func TestViewerRequestHeadersDriveHits(t *testing.T) {
	g := newGoInvoker()
	h := newHarness(t, g, nil)
	h.bucket("b")
	text := strings.Repeat("compressible text ", 200)
	h.put("b", "t.txt", []byte(text), sluice.ObjectMeta{ContentType: "text/plain"})
	arn := g.handle("vr", func(_ context.Context, ev awsevent.CloudFrontEvent) (any, error) {
		req := ev.Records[0].CF.Request
		if req.Headers.Get("X-Test") == "range" {
			req.Headers.Set("Range", "bytes=0-9")
		}
		delete(req.Headers, "accept-encoding")
		return req, nil
	})
	d := hookDist("EVRHEADERS0001", "b", sluice.FunctionAssociation{EventType: "viewer-request", FunctionARN: arn})
	d.Config.DefaultCacheBehavior.Compress = true
	h.dist(d)
	host := hostOf(d.ID)
	for i := range 2 {
		r := h.get(host, "/t.txt", map[string]string{"Accept-Encoding": "gzip"})
		if r.header.Get("Content-Encoding") != "" || string(r.body) != text {
			t.Fatalf("#%d: the function removed Accept-Encoding, yet Content-Encoding %q", i, r.header.Get("Content-Encoding"))
		}
	}
	r := h.get(host, "/t.txt", map[string]string{"X-Test": "range"})
	if r.status != http.StatusPartialContent || string(r.body) != text[:10] || r.xcache() != "Hit from sluice" {
		t.Fatalf("range the function added: %d %q %q", r.status, r.body, r.xcache())
	}
}
