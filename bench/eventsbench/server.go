package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// server is the running `sluice serve` process.
type server struct{ *benchkit.Proc }

// startSluice launches `sluice serve` on free loopback ports in its own
// process group (see benchkit.Start), data and log under workDir/sluice.
func startSluice(cfg Config, workDir string) (*server, error) {
	addr, err := benchkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(workDir, "sluice")
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	args, err := benchkit.SluiceServeArgs(addr, dataDir)
	if err != nil {
		return nil, err
	}
	args = append(args, strings.Fields(cfg.SluiceArgs)...)
	p, err := benchkit.Start(benchkit.Spec{
		Name: "sluice", Bin: cfg.SluiceBin, Args: args, Dir: dir, Addr: addr,
		Env:       append(os.Environ(), "SLUICE_ACCESS_KEY="+cfg.AccessKey, "SLUICE_SECRET_KEY="+cfg.SecretKey),
		CleanExit: "exit status 0: it was sent SIGINT/SIGTERM by a process other than the bench",
	})
	if err != nil {
		return nil, err
	}
	return &server{p}, nil
}

// alive fails as soon as the server has exited.
func (s *server) alive() error {
	if s.Alive() {
		return nil
	}
	return fmt.Errorf("sluice exited (%s); log tail:\n%s", s.ExitReason(), s.LogTail(20))
}

// cpuTime is the server's user + system CPU time so far, from
// /proc/PID/stat (10 ms ticks).
func (s *server) cpuTime() (time.Duration, error) { return benchkit.ProcCPU(s.Pid()) }

// waitReady polls GET /_sluice/health until it answers 200, the process
// exits, or the deadline passes.
func (s *server) waitReady(ctx context.Context, cl *client, timeout time.Duration) error {
	return s.WaitReady(ctx, timeout, benchkit.HTTPHealth(cl.HTTP(), s.BaseURL()+"/_sluice/health"))
}
