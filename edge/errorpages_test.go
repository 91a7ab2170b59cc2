package edge

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice"
)

func TestCustomErrorPages(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "api down", http.StatusInternalServerError)
	}))
	defer api.Close()
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	goneAddr := gone.Addr().String()
	gone.Close()

	h := newHarness(t, nil, nil)
	h.bucket("site")
	h.bucket("pages")
	index := h.put("site", "index.html", []byte("spa shell"), sluice.ObjectMeta{ContentType: "text/html"})
	h.put("pages", "errors/500.html", []byte("five hundred"), sluice.ObjectMeta{ContentType: "text/html"})
	d := s3Dist("EERRPAGES00001", "site")
	d.Config.Origins = append(d.Config.Origins,
		sluice.Origin{ID: "pages", DomainName: "pages.s3.localhost", S3: &sluice.S3OriginConfig{}},
		sluice.Origin{ID: "api", DomainName: api.Listener.Addr().String(), Custom: &sluice.CustomOriginConfig{HTTPPort: 80, OriginProtocolPolicy: "http-only"}},
		sluice.Origin{ID: "gone", DomainName: goneAddr, Custom: &sluice.CustomOriginConfig{HTTPPort: 80, OriginProtocolPolicy: "http-only"}})
	d.Config.CacheBehaviors = []sluice.CacheBehavior{
		{PathPattern: "/errors/*", TargetOriginID: "pages", DefaultTTL: 60, MaxTTL: 60},
		{PathPattern: "/api/*", TargetOriginID: "api", DefaultTTL: 60, MaxTTL: 60,
			AllowedMethods: []string{"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}},
		{PathPattern: "/gone/*", TargetOriginID: "gone", DefaultTTL: 60, MaxTTL: 60},
	}
	d.Config.CustomErrorResponses = []sluice.CustomErrorResponse{
		{ErrorCode: 404, ResponsePagePath: "/index.html", ResponseCode: 200, ErrorCachingMinTTL: 300},
		{ErrorCode: 500, ResponsePagePath: "/errors/500.html", ResponseCode: 503, ErrorCachingMinTTL: 300},
		{ErrorCode: 502, ResponsePagePath: "/errors/502.html", ResponseCode: 502, ErrorCachingMinTTL: 0},
		{ErrorCode: 403, ErrorCachingMinTTL: 1},
	}
	h.dist(d)
	host := hostOf(d.ID)

	for _, tc := range []struct {
		name, method, target string
		hdr                  map[string]string
		status               int
		body, xcache         string
	}{
		{name: "missing key gets the SPA shell", method: "GET", target: "/app/route/1", status: 200, body: "spa shell", xcache: "Error from sluice"},
		{name: "again, from the cache", method: "GET", target: "/app/route/1", status: 200, body: "spa shell", xcache: "Error from sluice"},
		{name: "HEAD has no body", method: "HEAD", target: "/app/route/2", status: 200, body: "", xcache: "Error from sluice"},
		{name: "a precondition on the page is ignored", method: "GET", target: "/app/route/3", hdr: map[string]string{"If-None-Match": `"` + index.ETag + `"`}, status: 200, body: "spa shell", xcache: "Error from sluice"},
		{name: "a range on the page is ignored", method: "GET", target: "/app/route/4", hdr: map[string]string{"Range": "bytes=0-2"}, status: 200, body: "spa shell", xcache: "Error from sluice"},
		{name: "the page itself was cached as an object", method: "GET", target: "/index.html", status: 200, body: "spa shell", xcache: "Hit from sluice"},
		{name: "origin 500 gets the 500 page as 503", method: "GET", target: "/api/orders", status: 503, body: "five hundred", xcache: "Error from sluice"},
		{name: "a POST's 500 gets the page too", method: "POST", target: "/api/orders", status: 503, body: "five hundred", xcache: "Error from sluice"},
		{name: "a missing page gives the page origin's status", method: "GET", target: "/gone/x", status: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(tc.method, host, tc.target, tc.hdr, nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (body %q)", r.status, tc.status, r.body)
			}
			if tc.body != "" || tc.method == "HEAD" {
				if string(r.body) != tc.body {
					t.Errorf("body %q, want %q", r.body, tc.body)
				}
			}
			if tc.xcache != "" && r.xcache() != tc.xcache {
				t.Errorf("X-Cache %q, want %q", r.xcache(), tc.xcache)
			}
			if tc.status == 200 && tc.method == "HEAD" && r.header.Get("Content-Length") != "9" {
				t.Errorf("HEAD Content-Length %q, want 9", r.header.Get("Content-Length"))
			}
		})
	}

	// The error and the page are both cached: a second viewer of a missing
	// key costs no origin read.
	before := h.store.opens.Load()
	if r := h.get(host, "/app/route/1", nil); r.status != 200 || string(r.body) != "spa shell" {
		t.Fatalf("cached SPA route: %d %q", r.status, r.body)
	}
	if n := h.store.opens.Load() - before; n != 0 {
		t.Errorf("a cached error page read the origin %d times", n)
	}

	// A 403 with only ErrorCachingMinTTL keeps its own body.
	d.Config.CustomErrorResponses = append(d.Config.CustomErrorResponses[:0:0], sluice.CustomErrorResponse{ErrorCode: 404, ErrorCachingMinTTL: 1})
	h.dist(d)
	if r := h.get(host, "/app/route/9", nil); r.status != 404 || string(r.body) == "spa shell" {
		t.Errorf("without a page path the origin's 404 goes out: %d %q", r.status, r.body)
	}
}

func TestCustomErrorPageConfig(t *testing.T) {
	h := newHarness(t, nil, nil)
	d := s3Dist("EERRPAGES00002", "site")
	d.Config.CustomErrorResponses = []sluice.CustomErrorResponse{{ErrorCode: 404, ResponsePagePath: "/x.html"}}
	if err := h.edge.PutDistribution(d); err == nil {
		t.Error("a page path without a ResponseCode was accepted")
	}
	d.Config.CustomErrorResponses = []sluice.CustomErrorResponse{{ErrorCode: 404, ResponsePagePath: "x.html", ResponseCode: 200}}
	if err := h.edge.PutDistribution(d); err == nil {
		t.Error("a page path without a leading slash was accepted")
	}
}
