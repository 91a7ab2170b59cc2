package edge

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
)

// countingStore is a real fsstore that counts origin reads.
type countingStore struct {
	sluice.Store
	opens atomic.Int64
}

func (s *countingStore) OpenObject(ctx context.Context, bucket, key string) (sluice.Object, error) {
	s.opens.Add(1)
	return s.Store.OpenObject(ctx, bucket, key)
}

type harness struct {
	t     testing.TB
	store *countingStore
	edge  *Edge
	srv   *httptest.Server
	lane  *FastLane
}

func newHarness(t testing.TB, inv sluice.Invoker, mut func(*Config)) *harness {
	t.Helper()
	fcfg := fsstore.DefaultConfig()
	fcfg.Dir, fcfg.NoSync = t.TempDir(), true
	fs, err := fsstore.Open(fcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	cs := &countingStore{Store: fs}
	cfg := DefaultConfig()
	if mut != nil {
		mut(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := New(cfg, cs, inv, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	srv, lane := serveWithLane(t, e, e, DefaultFastLaneConfig())
	return &harness{t: t, store: cs, edge: e, srv: srv, lane: lane}
}

// serveWithLane serves e as sluice serve does: the fast lane answers plain
// hits and hands every other connection to a net/http server running h.
func serveWithLane(t testing.TB, e *Edge, h http.Handler, cfg FastLaneConfig) (*httptest.Server, *FastLane) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	lane, err := e.FastLane(cfg, srv.Listener)
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = lane
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := lane.Wait(ctx); err != nil {
			t.Errorf("fast lane connections still open after close: %v", err)
		}
	})
	return srv, lane
}

func (h *harness) bucket(name string) {
	h.t.Helper()
	if err := h.store.CreateBucket(context.Background(), sluice.Bucket{Name: name, Region: sluice.DefaultRegion}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) put(bucket, key string, body []byte, meta sluice.ObjectMeta) sluice.ObjectInfo {
	h.t.Helper()
	info, err := h.store.PutObject(context.Background(), &sluice.PutObjectInput{
		Bucket: bucket, Key: key, Body: bytes.NewReader(body), Size: int64(len(body)), Meta: meta,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return info
}

func (h *harness) dist(d sluice.Distribution) {
	h.t.Helper()
	if err := h.edge.PutDistribution(d); err != nil {
		h.t.Fatal(err)
	}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) xcache() string { return r.header.Get("X-Cache") }

func (h *harness) do(method, host, target string, hdr map[string]string, body io.Reader) resp {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+target, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	// The transport must not negotiate gzip on its own.
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (h *harness) get(host, target string, hdr map[string]string) resp {
	h.t.Helper()
	return h.do(http.MethodGet, host, target, hdr, nil)
}

// s3Dist is a distribution in front of bucket with CloudFront's legacy
// default TTLs.
func s3Dist(id, bucket string) sluice.Distribution {
	return sluice.Distribution{
		ID:         id,
		DomainName: strings.ToLower(id) + ".localhost",
		Config: sluice.DistributionConfig{
			Enabled: true,
			Origins: []sluice.Origin{{ID: "s3", DomainName: bucket + ".s3.localhost", S3: &sluice.S3OriginConfig{}}},
			DefaultCacheBehavior: sluice.CacheBehavior{
				TargetOriginID: "s3", MinTTL: 0, DefaultTTL: 86400, MaxTTL: 31536000,
			},
		},
	}
}

func hostOf(id string) string { return strings.ToLower(id) + ".localhost" }

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
