package frontdoor

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/sigv4"
)

// okService answers 200 with no body: the benchmark measures the front
// door and signature verification, not a service.
type okService struct{}

func (okService) ServeHTTP(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }
func (okService) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	w.WriteHeader(http.StatusForbidden)
}

// discardWriter is a ResponseWriter that keeps nothing but its header map,
// cleared between requests.
type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(code int)        { d.status = code }

// BenchmarkServeHTTP sends one SigV4-signed S3 GET through the front door
// as `sluice serve --log-level warn` runs it: id assignment, verification,
// metrics, and the request log disabled.
func BenchmarkServeHTTP(b *testing.B) {
	cfg := sigv4.DefaultConfig()
	cfg.Credentials = map[string]string{"test": "test"}
	verifier, err := sigv4.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	door, err := New(DefaultConfig(), adapter{verifier}, log, reg, reg)
	if err != nil {
		b.Fatal(err)
	}
	door.Handle("s3", okService{})

	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:4566/bench/object-0001", nil)
	if err != nil {
		b.Fatal(err)
	}
	const emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	req.Header.Set("X-Amz-Content-Sha256", emptySHA)
	creds := aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(context.Background(), creds, req, emptySHA, "s3", "us-east-1", time.Now()); err != nil {
		b.Fatal(err)
	}
	req.RemoteAddr = "127.0.0.1:50000"
	req.Body = http.NoBody
	w := &discardWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.status = 0
		door.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}
