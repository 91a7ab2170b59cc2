package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/cloudfront"
	"github.com/sluicehq/sluice/edge"
	"github.com/sluicehq/sluice/fsstore"
	"github.com/sluicehq/sluice/imageresize"
	"github.com/sluicehq/sluice/lambda"
	"github.com/sluicehq/sluice/vips"
)

// edgeSettings are the serve flags of the CDN half.
func edgeSettings() []*setting {
	return []*setting{
		{name: "edge-cache-memory", env: "SLUICE_EDGE_CACHE_MEMORY", def: "256MiB", usage: "memory the edge cache may use for cached responses"},
		{name: "edge-cache-disk", env: "SLUICE_EDGE_CACHE_DISK", def: "4GiB", usage: "disk space of the edge cache (under --data/edge-cache; survives restarts); 0 keeps the cache in memory only"},
		{name: "image-max-pixels", env: "SLUICE_IMAGE_MAX_PIXELS", def: "50000000", usage: "largest source image sluice-image-resize decodes, in pixels (width × height), checked from the header before decoding"},
		{name: "image-allowed-sizes", env: "SLUICE_IMAGE_ALLOWED_SIZES", def: "", usage: "comma-separated sizes sluice-image-resize accepts, e.g. 100x100,200x,x50 (empty: any size up to 8192x8192)"},
		{name: "image-signing-key", env: "SLUICE_IMAGE_SIGNING_KEY", def: "", usage: "when set, image requests with a transform need sig=HMAC-SHA256(key, path and canonical query), base64url (see docs/edge.md)"},
		{name: "image-workers", env: "SLUICE_IMAGE_WORKERS", def: "0", usage: "images resized at once (0: two per CPU); up to 4 per worker wait, beyond that requests get 503 SlowDown"},
	}
}

// cdn is the CDN half of `sluice serve`: the image processor behind the
// sluice-image-resize built-in, the edge with its cache, and the CloudFront
// API with its invalidations (including sluice-cdn-invalidate).
type cdn struct {
	proc *vips.Processor
	edge *edge.Edge
	api  *cloudfront.Service
}

func newCDN(set *settings, data string, fsync bool, store *fsstore.Store, functions *lambda.Service, reg prometheus.Registerer, log *slog.Logger) (*cdn, error) {
	vcfg := vips.DefaultConfig()
	var err error
	if vcfg.MaxPixels, err = strconv.ParseInt(set.get("image-max-pixels"), 10, 64); err != nil || vcfg.MaxPixels <= 0 {
		return nil, usageError{fmt.Sprintf("--image-max-pixels %q: must be a positive number of pixels", set.get("image-max-pixels"))}
	}
	workers, err := strconv.Atoi(set.get("image-workers"))
	if err != nil || workers < 0 {
		return nil, usageError{fmt.Sprintf("--image-workers %q: must be 0 (two per CPU) or a positive number", set.get("image-workers"))}
	}
	if workers > 0 {
		vcfg.Workers, vcfg.QueueDepth = workers, 4*workers
	}
	proc, err := vips.New(vcfg, log.With("component", "vips"))
	if err != nil {
		return nil, fmt.Errorf("start the image processor: %w", err)
	}

	rcfg := imageresize.DefaultConfig()
	for _, size := range strings.Split(set.get("image-allowed-sizes"), ",") {
		if size = strings.TrimSpace(size); size != "" {
			rcfg.Limits.AllowedSizes = append(rcfg.Limits.AllowedSizes, size)
		}
	}
	if key := set.get("image-signing-key"); key != "" {
		rcfg.Limits.SigningKey = []byte(key)
	}
	if err := rcfg.Validate(); err != nil {
		proc.Close()
		return nil, usageError{fmt.Sprintf("--image-allowed-sizes: %v", err)}
	}
	c := &cdn{proc: proc}
	resizer, err := imageresize.New(rcfg, store, proc, log.With("function", imageresize.FunctionName))
	if err != nil {
		c.Close()
		return nil, err
	}
	if err := functions.RegisterBuiltin(imageresize.FunctionName, imageresize.FunctionDescription, resizer.Invoke); err != nil {
		c.Close()
		return nil, err
	}

	ecfg := edge.DefaultConfig()
	ecfg.Region = set.get("region")
	if ecfg.Cache.MemoryBytes, err = parseBytes(set.get("edge-cache-memory")); err != nil || ecfg.Cache.MemoryBytes <= 0 {
		c.Close()
		return nil, usageError{fmt.Sprintf("--edge-cache-memory %q: must be a size such as 256MiB", set.get("edge-cache-memory"))}
	}
	disk, err := parseBytes(set.get("edge-cache-disk"))
	if err != nil || disk < 0 {
		c.Close()
		return nil, usageError{fmt.Sprintf("--edge-cache-disk %q: must be a size such as 4GiB, or 0", set.get("edge-cache-disk"))}
	}
	if disk > 0 {
		ecfg.Cache.Dir, ecfg.Cache.DiskBytes = filepath.Join(data, "edge-cache"), disk
	}
	if c.edge, err = edge.New(ecfg, store, functions, log.With("component", "edge"), reg); err != nil {
		c.Close()
		return nil, err
	}
	// The edge runs the resizer in-process with the origin's bytes: no
	// JSON, no base64, no 1 MB generated-response limit.
	c.edge.RegisterNativeHook(imageresize.FunctionName, resizer.OriginResponse)

	ccfg := cloudfront.DefaultConfig()
	ccfg.DataDir = filepath.Join(data, "cloudfront")
	ccfg.Region = set.get("region")
	ccfg.NoSync = !fsync
	if c.api, err = cloudfront.New(ccfg, c.edge, functionVersions{functions}, log.With("service", "cloudfront"), reg); err != nil {
		c.Close()
		return nil, err
	}
	err = functions.RegisterBuiltin(cloudfront.BuiltinName,
		"Invalidates the changed objects' paths, from S3 events, in the distribution named by its DistributionId environment variable (else every distribution in front of the bucket).",
		func(ctx context.Context, payload []byte) ([]byte, error) {
			out, err := c.api.InvalidateBuiltin(ctx, payload, lambda.BuiltinEnv(ctx))
			if err == nil {
				// The familiar recipe logs what it invalidated; so does this.
				lambda.LogLine(ctx, "invalidated: "+string(out))
			}
			return out, err
		})
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close stops what was started, the CloudFront API first (it may still be
// invalidating) and the image processor last.
func (c *cdn) Close() error {
	var errs []error
	if c.api != nil {
		errs = append(errs, c.api.Close())
	}
	if c.edge != nil {
		errs = append(errs, c.edge.Close())
	}
	errs = append(errs, c.proc.Close())
	return errors.Join(errs...)
}

// serveEdge runs the edge listener until ctx ends. /_sluice/health answers
// for the process, as on the API port. The edge's fast lane answers plain
// cache hits on the listener's connections itself and hands every other
// connection to the net/http server, with the same limits.
func serveEdge(ctx context.Context, ln net.Listener, e *edge.Edge, grace time.Duration, log *slog.Logger) error {
	lcfg := edge.DefaultFastLaneConfig()
	lcfg.ReadHeaderTimeout, lcfg.IdleTimeout = readHeaderTimeout, idleTimeout
	lcfg.Reserved = []string{"/_sluice/"}
	lane, err := e.FastLane(lcfg, ln)
	if err != nil {
		return err
	}
	err = serveHTTP(ctx, lane, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_sluice/health" {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintln(w, `{"status":"ok"}`)
			return
		}
		e.ServeHTTP(w, r)
	}), grace, log)
	// The server closed the lane (its listener); the lane's own
	// connections finish the response they are sending.
	lane.Close()
	wctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	return errors.Join(err, lane.Wait(wctx))
}

// The limits of the listeners besides the front door.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
)

// serveHTTP serves h on ln, for the listeners besides the front door (the
// edge, --api-addr), until ctx ends; then it lets requests in flight finish
// for up to grace.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration, log *slog.Logger) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10, // CloudFront and API Gateway take about 10-20 KB of headers
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	return hs.Shutdown(sctx)
}

// functionVersions checks Lambda@Edge associations against the function
// registry, for the CloudFront API.
type functionVersions struct{ fns *lambda.Service }

func (f functionVersions) CheckFunctionVersion(ctx context.Context, arn string) error {
	ok, err := f.fns.FunctionExists(ctx, arn)
	if err != nil {
		return err
	}
	if !ok {
		return sluice.Errorf(sluice.ErrInvalidArgument, "The function %s does not exist or has no such version.", arn)
	}
	return nil
}

// parseBytes reads a size such as 512, 64KiB, 256MiB, 4GiB, 1GB.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, err
	}
	if n > 0 && n > (1<<62)/mult {
		return 0, fmt.Errorf("size too large")
	}
	return n * mult, nil
}
