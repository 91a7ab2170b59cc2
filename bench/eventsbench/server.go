package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is the running `sluice serve` process.
type server struct {
	cmd     *exec.Cmd
	addr    string
	dataDir string
	logPath string
	logFile *os.File
	exited  chan struct{}
	waitErr error
}

// freeAddr asks the kernel for a free loopback port. The port is released
// before the server binds it, which is racy in theory but the bench is the
// only thing allocating ports here.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("release free port: %w", err)
	}
	return addr, nil
}

// startSluice launches `sluice serve` in its own process group, so that a
// terminal Ctrl-C reaches only the bench, which then stops the server in an
// orderly way, and so that stop can kill anything the server spawned.
func startSluice(cfg Config, workDir string) (*server, error) {
	bin, err := filepath.Abs(cfg.SluiceBin)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("sluice binary: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// The edge listener is unused here but must not collide with a sluice
	// already running on its default port.
	edge, err := freeAddr()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(workDir, "sluice")
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create server log: %w", err)
	}
	// Per-request logging off: the bench measures delivery, not log
	// formatting.
	args := []string{"serve", "--addr", addr, "--edge-addr", edge, "--data", dataDir, "--log-level", "warn"}
	args = append(args, strings.Fields(cfg.SluiceArgs)...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SLUICE_ACCESS_KEY="+cfg.AccessKey, "SLUICE_SECRET_KEY="+cfg.SecretKey)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Pdeathsig is the safety net for a bench killed with SIGKILL: the
	// server dies with us instead of lingering on its port.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start sluice: %w", err)
	}
	s := &server{cmd: cmd, addr: addr, dataDir: dataDir, logPath: logPath, logFile: logFile, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

func (s *server) baseURL() string { return "http://" + s.addr }

// stop sends SIGTERM to the server's process group, waits for a graceful
// exit, and escalates to SIGKILL so that no process outlives the bench.
func (s *server) stop() error {
	defer s.logFile.Close()
	pgid := s.cmd.Process.Pid
	select {
	case <-s.exited:
		return fmt.Errorf("sluice exited early: %s", s.exitReason())
	default:
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.exited
		return errors.New("sluice ignored SIGTERM for 10s, killed")
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

func (s *server) exitReason() string {
	if s.waitErr != nil {
		return s.waitErr.Error()
	}
	return "exit status 0: it was sent SIGINT/SIGTERM by a process other than the bench"
}

// alive fails as soon as the server has exited.
func (s *server) alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("sluice exited (%s); log tail:\n%s", s.exitReason(), s.logTail(20))
	default:
		return nil
	}
}

// cpuTime is the server's user + system CPU time so far, from
// /proc/PID/stat (10 ms ticks).
func (s *server) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	return parseProcStatCPU(string(b))
}

// parseProcStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/PID/stat line. The command name (field 2) may contain spaces and
// parentheses, so fields are counted from the last ')'.
func parseProcStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("proc stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want at least 13", len(f))
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil || utime > 1<<40 || stime > 1<<40 {
		return 0, fmt.Errorf("proc stat: bad utime %q or stime %q", f[11], f[12])
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

func (s *server) logTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitReady polls GET /_sluice/health until it answers 200, the process
// exits, or the deadline passes.
func (s *server) waitReady(ctx context.Context, cl *client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if err := s.alive(); err != nil {
			return fmt.Errorf("before becoming ready: %w", err)
		}
		last = s.probe(ctx, cl)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sluice not ready after %s: %v; log tail:\n%s", timeout, last, s.logTail(20))
		case <-s.exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *server) probe(ctx context.Context, cl *client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.baseURL()+"/_sluice/health", nil)
	if err != nil {
		return err
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: HTTP %d", resp.StatusCode)
	}
	return nil
}
