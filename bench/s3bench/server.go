package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// serverKind describes how to launch one S3 server under test and how to tell
// that it is ready. Everything a kind needs is in here so that adding a third
// server is one more entry in serverKinds.
type serverKind struct {
	name string
	// bin returns the binary to launch, from the bench config.
	bin func(cfg Config) string
	// args returns the command line for a server listening on addr and
	// keeping its data under dataDir.
	args func(cfg Config, addr, dataDir string) ([]string, error)
	// env returns extra environment variables for the server process.
	env func(cfg Config) []string
	// durability is printed in the report so readers know whether the
	// server's PUT reaches stable storage before it answers.
	durability func(cfg Config) string
	// health is an unsigned readiness probe path, or "" to use a signed
	// ListBuckets instead.
	health string
}

var serverKinds = map[string]serverKind{
	"sluice": sluiceKind("sluice", true),
	// sluice-nofsync has versitygw's durability: acknowledged writes are in
	// the page cache, so the PUT rows compare like with like.
	"sluice-nofsync": sluiceKind("sluice-nofsync", false),
	"versitygw": {
		name: "versitygw",
		bin:  func(cfg Config) string { return cfg.VersityBin },
		args: func(cfg Config, addr, dataDir string) ([]string, error) {
			// Fiber closes every connection after one request unless told
			// otherwise, and logs every request to stdout unless quiet;
			// S3 clients keep connections alive, and sluice does neither.
			args := []string{"--access", cfg.AccessKey, "--secret", cfg.SecretKey, "--port", addr, "--keep-alive", "--quiet"}
			args = append(args, "posix")
			args = append(args, strings.Fields(cfg.VersityArgs)...)
			return append(args, dataDir), nil
		},
		env: func(Config) []string { return nil },
		durability: func(cfg Config) string {
			return "started with --keep-alive --quiet; posix backend writes through the page cache and never fsyncs " +
				"(no option to turn it on; --enable-odirect bypasses the cache but is not a flush); metadata in xattrs"
		},
	},
}

// sluiceKind describes `sluice serve`, with or without its default fsync of
// every write.
func sluiceKind(name string, fsync bool) serverKind {
	return serverKind{
		name: name,
		bin:  func(cfg Config) string { return cfg.SluiceBin },
		args: func(cfg Config, addr, dataDir string) ([]string, error) {
			// Per-request logging off, as versitygw's --quiet.
			args, err := benchkit.SluiceServeArgs(addr, dataDir)
			if err != nil {
				return nil, err
			}
			if !fsync {
				args = append(args, "--fsync=false")
			}
			return append(args, strings.Fields(cfg.SluiceArgs)...), nil
		},
		env: func(cfg Config) []string {
			return []string{"SLUICE_ACCESS_KEY=" + cfg.AccessKey, "SLUICE_SECRET_KEY=" + cfg.SecretKey}
		},
		durability: func(cfg Config) string {
			// Said at the level of the contract, not of fsstore's
			// internals, which change faster than this text would.
			d := "started with --log-level warn (no per-request log); default durability: a PUT is answered only once " +
				"its data and metadata are fsynced"
			if !fsync {
				d = "started with --log-level warn --fsync=false: a PUT is answered once its data and metadata are in the " +
					"page cache (survives kill -9, not power loss), the same durability as versitygw"
			}
			if cfg.SluiceArgs != "" {
				d += "; extra args `" + cfg.SluiceArgs + "`"
			}
			return d
		},
		health: "/_sluice/health",
	}
}

// sluiceHasFsyncFlag says whether this sluice build has `serve --fsync`,
// which sluice-nofsync needs.
func sluiceHasFsyncFlag(ctx context.Context, bin string) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "serve", "-h").CombinedOutput()
	return strings.Contains(string(out), "-fsync")
}

// server is one running server process.
type server struct {
	*benchkit.Proc
	kind    serverKind
	dataDir string
}

// startServer launches the server in its own process group (see
// benchkit.Start) with its data and log under workDir/NAME.
func startServer(cfg Config, kind serverKind, workDir string) (*server, error) {
	bin := kind.bin(cfg)
	if bin == "" {
		return nil, fmt.Errorf("no binary configured for %s", kind.name)
	}
	addr, err := benchkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(workDir, kind.name)
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	args, err := kind.args(cfg, addr, dataDir)
	if err != nil {
		return nil, err
	}
	p, err := benchkit.Start(benchkit.Spec{
		Name: kind.name, Bin: bin, Args: args, Env: append(os.Environ(), kind.env(cfg)...), Dir: dir, Addr: addr,
		// Servers exit 0 only when asked to.
		CleanExit: "exit status 0: it was sent SIGINT/SIGTERM by a process other than the bench",
	})
	if err != nil {
		return nil, err
	}
	return &server{Proc: p, kind: kind, dataDir: dataDir}, nil
}

// cpuTime returns the CPU time (user + system) the server process has used
// so far, from /proc/PID/stat.
func (s *server) cpuTime() (time.Duration, error) { return benchkit.ProcCPU(s.Pid()) }

// waitReady polls the server until it answers its readiness probe: its
// unsigned health path, or else a signed ListBuckets.
func (s *server) waitReady(ctx context.Context, cl *client, timeout time.Duration) error {
	probe := cl.listBuckets
	if s.kind.health != "" {
		probe = benchkit.HTTPHealth(cl.HTTP(), s.BaseURL()+s.kind.health)
	}
	return s.WaitReady(ctx, timeout, probe)
}

// binaryVersion runs `bin --version` (or bin args) and returns its first
// line quoted, best effort.
func binaryVersion(ctx context.Context, bin string, args ...string) string {
	if len(args) == 0 {
		args = []string{"--version"}
	}
	line, err := benchkit.VersionLine(ctx, bin, args...)
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || line == "" {
			return "unknown"
		}
	}
	return strconv.Quote(line)
}
