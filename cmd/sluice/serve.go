package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/apigw"
	"github.com/sluicehq/sluice/frontdoor"
	"github.com/sluicehq/sluice/fsstore"
	"github.com/sluicehq/sluice/lambda"
	"github.com/sluicehq/sluice/logs"
	"github.com/sluicehq/sluice/notify"
	"github.com/sluicehq/sluice/replicate"
	"github.com/sluicehq/sluice/s3api"
	"github.com/sluicehq/sluice/sigv4"
	"github.com/sluicehq/sluice/stack"
)

const serveUsage = `Usage: sluice serve [flags]

Runs every Sluice service in one process:
  - the AWS API on --addr: S3, Lambda, CloudFront and CloudWatch Logs,
    routed by the service named in each request's SigV4 credential scope,
    as LocalStack does; functions run as local processes and their output
    lands in log groups /aws/lambda/NAME;
  - the AWS runtime interface emulator's endpoint, unsigned:
    POST /2015-03-31/functions/function/invocations;
  - the edge (CDN) on --edge-addr: distributions created with the
    CloudFront API, chosen by Host (<id>.localhost or an alias, else the
    first), cached in memory and on disk, with Lambda@Edge hooks and the
    built-in sluice-image-resize (?d=WxH) and sluice-cdn-invalidate;
  - HTTP APIs at http://<apiId>.execute-api.localhost:<--addr port>/;
  - with -t template.yaml, a SAM/CloudFormation stack applied through those
    APIs and re-applied when the template or its code changes; its first
    HTTP API also on --api-addr;
  - health at /_sluice/health and Prometheus metrics at /metrics.

Every request must be signed with SigV4 using the configured key pair
(default test/test), except anonymous S3 requests a bucket policy allows.
The default key pair is refused on a non-loopback address: set
SLUICE_ACCESS_KEY and SLUICE_SECRET_KEY first.

Data lives under --data (./sluice-data). Settings come from, in rising
precedence: defaults, --config FILE (JSON object of flag names), environment
variables, flags.

Examples:
  sluice serve --data /tmp/sluice
  sluice serve -t examples/image-resize/template.yaml
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    aws --endpoint-url http://127.0.0.1:4566 s3 mb s3://photos
`

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", serveUsage, stderr)
	configFile := fs.String("config", os.Getenv("SLUICE_CONFIG"), "JSON config file with any of these flags as keys (env SLUICE_CONFIG)")
	set := newSettings(fs, append([]*setting{
		&setting{name: "addr", env: "SLUICE_ADDR", def: "127.0.0.1:4566", usage: "AWS API listen address"},
		&setting{name: "edge-addr", env: "SLUICE_EDGE_ADDR", def: "127.0.0.1:4567", usage: "edge (CDN) listen address"},
		&setting{name: "data", env: "SLUICE_DATA", def: "./sluice-data", usage: "data directory"},
		&setting{name: "region", env: "SLUICE_REGION", def: sluice.DefaultRegion, usage: "default region"},
		&setting{name: "log-level", env: "SLUICE_LOG_LEVEL", def: "info", usage: "log level: debug, info, warn, error"},
		&setting{name: "log-format", env: "SLUICE_LOG_FORMAT", def: "text", usage: "log format: text or json"},
		&setting{name: "fsync", env: "SLUICE_FSYNC", def: "true", usage: "fsync every write before acknowledging it; false keeps acknowledged writes through a process crash (kill -9) but not through an OS crash or power loss"},
		&setting{name: "notify-max-attempts", env: "SLUICE_NOTIFY_MAX_ATTEMPTS", def: "5", usage: "delivery attempts of an S3 event notification before it becomes a dead letter"},
		&setting{name: "notify-backoff", env: "SLUICE_NOTIFY_BACKOFF", def: "4s", usage: "wait before the first retry of a failed notification; it doubles up to 30s"},
		&setting{name: "shutdown-timeout", env: "SLUICE_SHUTDOWN_TIMEOUT", def: "30s", usage: "how long in-flight requests may take to finish on SIGINT/SIGTERM"},
	}, append(edgeSettings(), stackSettings()...)...)...)
	applyT := templateFlag(fs)
	var regionEndpoints listFlag
	fs.Var(&regionEndpoints, "region-endpoint", "REGION=URL: buckets of REGION live on another Sluice or S3 endpoint, e.g. eu-west-1=http://127.0.0.1:4600 (credentials from the URL's user info, else this server's); repeatable (env SLUICE_REGION_ENDPOINTS, space-separated)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(regionEndpoints) == 0 {
		regionEndpoints = strings.Fields(os.Getenv("SLUICE_REGION_ENDPOINTS"))
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("serve: unexpected argument %q", fs.Arg(0))}
	}
	if err := set.resolve(fs, *configFile); err != nil {
		return err
	}
	applyT(set)

	log, err := newLogger(stderr, set.get("log-level"), set.get("log-format"))
	if err != nil {
		return err
	}
	accessKey, secretKey := envOr("SLUICE_ACCESS_KEY", sluice.DefaultAccessKey), envOr("SLUICE_SECRET_KEY", sluice.DefaultSecretKey)
	if accessKey == "" || secretKey == "" {
		return errors.New("SLUICE_ACCESS_KEY and SLUICE_SECRET_KEY must not be empty")
	}
	for _, key := range []string{"addr", "edge-addr"} {
		if _, _, err := net.SplitHostPort(set.get(key)); err != nil {
			return usageError{fmt.Sprintf("--%s %q: %v", key, set.get(key), err)}
		}
	}
	if accessKey == sluice.DefaultAccessKey && secretKey == sluice.DefaultSecretKey && !isLoopback(set.get("addr")) {
		return fmt.Errorf("refusing to serve the AWS API on non-loopback address %s with the default credentials test/test: "+
			"set SLUICE_ACCESS_KEY and SLUICE_SECRET_KEY to a private key pair, or listen on 127.0.0.1", set.get("addr"))
	}
	grace, err := time.ParseDuration(set.get("shutdown-timeout"))
	if err != nil || grace <= 0 {
		return usageError{fmt.Sprintf("--shutdown-timeout %q: must be a positive duration such as 30s", set.get("shutdown-timeout"))}
	}

	fsync, err := strconv.ParseBool(set.get("fsync"))
	if err != nil {
		return usageError{fmt.Sprintf("--fsync %q: use true or false", set.get("fsync"))}
	}

	// The server's live heap is a few MB while every small request leaves
	// tens of KB of garbage (bbolt pages, buffers): the default GOGC=100
	// spends a third of the CPU collecting. A larger target trades ~20 MB
	// of memory for it, unless the user set GOGC.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}

	start := time.Now()
	// Listen first: functions are told the API's real address, which is
	// only known once bound (--addr may name port 0).
	apiLn, err := net.Listen("tcp", set.get("addr"))
	if err != nil {
		return fmt.Errorf("listen on --addr: %w", err)
	}
	defer apiLn.Close()
	edgeLn, err := net.Listen("tcp", set.get("edge-addr"))
	if err != nil {
		return fmt.Errorf("listen on --edge-addr: %w", err)
	}
	defer edgeLn.Close()

	// A template with mistakes stops the start, with every mistake listed.
	var st *stack.Stack
	if set.get("template") != "" {
		if st, err = loadStack(set, localhostAddr(apiLn.Addr()), localhostAddr(edgeLn.Addr())); err != nil {
			return err
		}
	}

	// Function processes run in directories of their own: every path handed
	// down must be absolute.
	data, err := filepath.Abs(set.get("data"))
	if err != nil {
		return fmt.Errorf("--data %q: %w", set.get("data"), err)
	}
	storeCfg := fsstore.DefaultConfig()
	storeCfg.Dir = data
	storeCfg.NoSync = !fsync
	// Every committed change lands in the store's outbox, in the same
	// transaction; the notifier (and later consumers) read it from there.
	storeCfg.RecordEvents = true
	storeCfg.Logger = log.With("component", "fsstore")
	store, err := fsstore.Open(storeCfg)
	if err != nil {
		return fmt.Errorf("open data directory %s: %w", data, err)
	}
	defer store.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), store.OutboxCollector())

	logsCfg := logs.DefaultConfig()
	logsCfg.Dir = filepath.Join(data, "logs")
	logStore, err := logs.Open(logsCfg, log.With("component", "logs"))
	if err != nil {
		return fmt.Errorf("open log store: %w", err)
	}
	defer logStore.Close()

	hostCfg := lambda.DefaultHostConfig()
	hostCfg.Dir = filepath.Join(data, "lambda", "run")
	hostCfg.EndpointURL = "http://" + dialable(apiLn.Addr())
	hostCfg.AccessKey, hostCfg.SecretKey = accessKey, secretKey
	if exe, err := os.Executable(); err == nil {
		hostCfg.Reaper = []string{exe, reaperCommand}
	} else {
		log.Warn("cannot find the sluice executable; processes functions start may outlive a crash of sluice", "err", err)
	}
	host, err := lambda.NewHost(hostCfg, logStore, log.With("component", "lambda-host"))
	if err != nil {
		return err
	}
	defer host.Close()

	fnCfg := lambda.DefaultConfig()
	fnCfg.Dir = filepath.Join(data, "lambda")
	fnCfg.Region = set.get("region")
	functions, err := lambda.New(fnCfg, store, host, log.With("service", "lambda"))
	if err != nil {
		return err
	}
	defer functions.Close()

	notifyCfg := notify.DefaultConfig()
	notifyCfg.Dir = filepath.Join(data, "notify")
	notifyCfg.NoSync = !fsync
	notifyCfg.Registerer = reg
	notifyCfg.Functions = functions
	if notifyCfg.MaxAttempts, err = strconv.Atoi(set.get("notify-max-attempts")); err != nil || notifyCfg.MaxAttempts < 1 {
		return usageError{fmt.Sprintf("--notify-max-attempts %q: must be a positive number", set.get("notify-max-attempts"))}
	}
	if notifyCfg.MinBackoff, err = time.ParseDuration(set.get("notify-backoff")); err != nil || notifyCfg.MinBackoff <= 0 {
		return usageError{fmt.Sprintf("--notify-backoff %q: must be a positive duration such as 4s", set.get("notify-backoff"))}
	}
	notifyCfg.MaxBackoff = max(notifyCfg.MaxBackoff, notifyCfg.MinBackoff)
	notifier, err := notify.New(notifyCfg, store, store, functions, log.With("component", "notify"))
	if err != nil {
		return err
	}
	defer notifier.Close()

	replCfg := replicate.DefaultConfig()
	replCfg.Dir = filepath.Join(data, "replicate")
	replCfg.NoSync = !fsync
	replCfg.Registerer = reg
	replCfg.AccessKey, replCfg.SecretKey = accessKey, secretKey
	if replCfg.RegionEndpoints, err = replicate.ParseRegionEndpoints(regionEndpoints); err != nil {
		return usageError{fmt.Sprintf("--region-endpoint: %v", err)}
	}
	replicator, err := replicate.New(replCfg, store, store, log.With("component", "replicate"))
	if err != nil {
		return err
	}
	defer replicator.Close()
	// TargetBucket copies to buckets of this store commit with their
	// source (replicate/inline.go).
	store.SetFanout(func(tx *fsstore.FanoutTx, obj sluice.ObjectInfo, seq string) error {
		return replicator.Inline(tx, obj, seq)
	})
	defer store.SetFanout(nil)
	// The same copier, as a function a notification configuration can
	// name, exactly as the Lambda-based TargetBucket recipe attaches its own.
	if err := functions.RegisterBuiltin("sluice-s3-copy",
		"Copies each new object to the buckets named by the source bucket's TargetBucket tag (name or name@region) and mirrors deletes.",
		replicator.HandleS3Event); err != nil {
		return err
	}

	cdnSvc, err := newCDN(set, data, fsync, store, functions, reg, log)
	if err != nil {
		return err
	}
	defer cdnSvc.Close()

	s3cfg := s3api.DefaultConfig()
	s3cfg.Region = set.get("region")
	authCfg := sigv4.DefaultConfig()
	authCfg.Credentials = map[string]string{accessKey: secretKey}
	// SigV2 does not sign the Host: resolve virtual-hosted buckets exactly as
	// s3api does instead of guessing from the first label.
	authCfg.VirtualHostDomains = s3cfg.BaseDomains
	verifier, err := sigv4.New(authCfg)
	if err != nil {
		return err
	}
	s3, err := s3api.New(s3cfg, store, log.With("service", "s3"),
		s3api.WithNotifications(notifier), s3api.WithReplicationStatus(replicator.Status),
		s3api.WithPostPolicyVerifier(verifier))
	if err != nil {
		return err
	}

	doorCfg := frontdoor.DefaultConfig()
	doorCfg.Addr = set.get("addr")
	doorCfg.Region = set.get("region")
	doorCfg.ShutdownTimeout = grace
	door, err := frontdoor.New(doorCfg, authenticator{verifier}, log.With("component", "frontdoor"), reg, reg)
	if err != nil {
		return err
	}
	apiCfg := apigw.DefaultConfig()
	apiCfg.Region = set.get("region")
	gateway, err := apigw.New(apiCfg, functions, log.With("service", "apigw"), reg)
	if err != nil {
		return err
	}
	door.HandleHost(apigw.IsAPIHost, gateway)
	door.Handle("s3", s3)
	door.Handle("lambda", functions)
	door.Handle("logs", logs.NewService(logStore, log.With("service", "logs")))
	door.Handle("cloudfront", cdnSvc.api)
	door.HandleSigned("/_sluice/events/", notifier.Handler())
	door.HandleSigned("/_sluice/cdn/usage", cdnSvc.api.UsageHandler())

	log.Info("sluice ready",
		"version", versionString(),
		"api", "http://"+apiLn.Addr().String(),
		"edge", "http://"+edgeLn.Addr().String(),
		"data", data,
		"region", doorCfg.Region,
		"fsync", fsync,
		"startup", time.Since(start).Round(time.Millisecond))

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return door.Serve(gctx, apiLn) })
	g.Go(func() error { return serveEdge(gctx, edgeLn, cdnSvc.edge, grace, log) })
	g.Go(func() error { return cdnSvc.api.RunAutoInvalidate(gctx, store) })
	g.Go(func() error { return functions.Serve(gctx) })
	g.Go(func() error { return logStore.Serve(gctx) })
	g.Go(func() error { return notifier.Serve(gctx) })
	g.Go(func() error { return replicator.Serve(gctx) })
	var runner *stackRunner
	if st != nil {
		runner = newStackRunner(set, "http://"+dialable(apiLn.Addr()), accessKey, secretKey, data,
			localhostAddr(apiLn.Addr()), localhostAddr(edgeLn.Addr()), gateway, grace, stdout, log.With("component", "stack"))
		g.Go(func() error {
			// The front door serves from the start: the template is applied
			// through the same public APIs a user's tools call.
			if err := runner.apply(gctx, st); err != nil {
				if gctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("apply %s: %w", set.get("template"), err)
			}
			return runner.watch(gctx)
		})
	}
	err = g.Wait()
	if runner != nil {
		runner.wait()
	}
	if ctx.Err() != nil {
		log.Info("sluice stopped", "reason", context.Cause(ctx))
	}
	return err
}

// localhostAddr is "localhost:<port>" of addr: the host under which
// <id>.execute-api.localhost and <id>.localhost URLs are printed, since
// *.localhost resolves to loopback everywhere.
func localhostAddr(addr net.Addr) string {
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return net.JoinHostPort("localhost", port)
}

// dialable returns addr with an unspecified IP (0.0.0.0, ::) replaced by
// loopback, so that local clients such as functions can connect to it.
func dialable(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// authenticator adapts the sigv4 package to the front door's interface.
type authenticator struct{ *sigv4.Verifier }

func (authenticator) Scope(r *http.Request) (service, region string, ok bool) { return sigv4.Scope(r) }

var _ frontdoor.Authenticator = authenticator{}

// isLoopback reports whether addr listens only on a loopback interface.
// An empty host means every interface and is not loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level %q: use debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Sprintf("--log-format %q: use text or json", format)}
}
