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
			// The edge listener is unused here but must not collide with
			// a sluice already running on its default port.
			edge, err := freeAddr()
			if err != nil {
				return nil, err
			}
			// Per-request logging off, as versitygw's --quiet: the bench
			// measures storage, not log formatting.
			args := []string{"serve", "--addr", addr, "--edge-addr", edge, "--data", dataDir, "--log-level", "warn"}
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
	kind    serverKind
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

// startServer launches the server in its own process group, so that a
// terminal Ctrl-C reaches only the bench, which then stops the server itself
// in an orderly way, and so that stop can kill anything the server spawned.
func startServer(cfg Config, kind serverKind, workDir string) (*server, error) {
	bin := kind.bin(cfg)
	if bin == "" {
		return nil, fmt.Errorf("no binary configured for %s", kind.name)
	}
	// The server runs in its own directory, so a relative path would no
	// longer name the binary.
	bin, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s binary: %w", kind.name, err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(workDir, kind.name, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	logPath := filepath.Join(workDir, kind.name, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create server log: %w", err)
	}
	args, err := kind.args(cfg, addr, dataDir)
	if err != nil {
		logFile.Close()
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = filepath.Join(workDir, kind.name)
	cmd.Env = append(os.Environ(), kind.env(cfg)...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Pdeathsig is the safety net for a bench killed with SIGKILL: the
	// server dies with us instead of lingering on its port.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", kind.name, err)
	}
	s := &server{kind: kind, cmd: cmd, addr: addr, dataDir: dataDir, logPath: logPath, logFile: logFile, exited: make(chan struct{})}
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
		return fmt.Errorf("%s exited early: %s", s.kind.name, s.exitReason())
	default:
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.exited
		return fmt.Errorf("%s ignored SIGTERM for 10s, killed", s.kind.name)
	}
	// Children the server may have left in its group.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

// exitReason describes how the server process ended, once it has.
func (s *server) exitReason() string {
	if s.waitErr != nil {
		return s.waitErr.Error()
	}
	// Servers exit 0 only when asked to: someone outside the bench sent
	// SIGINT or SIGTERM.
	return "exit status 0: it was sent SIGINT/SIGTERM by a process other than the bench"
}

// cpuTime returns the CPU time (user + system) the server process has used
// so far, from /proc/PID/stat.
func (s *server) cpuTime() (time.Duration, error) {
	return procCPUTime(s.cmd.Process.Pid)
}

// clockTick is USER_HZ, the unit of the times in /proc/PID/stat; it is 100
// on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

func procCPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
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
	// f[0] is field 3 (state), so utime (14) is f[11] and stime (15) f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want at least 13", len(f))
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	// 2^40 ticks is over 300 years of CPU: anything larger is garbage, and
	// bounding it keeps the conversion to Duration from overflowing.
	if err1 != nil || err2 != nil || utime > 1<<40 || stime > 1<<40 {
		return 0, fmt.Errorf("proc stat: bad utime %q or stime %q", f[11], f[12])
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// logTail returns the last lines of the server log, for error messages.
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

// waitReady polls the server until it answers its readiness probe, the
// process exits, or the deadline passes.
func (s *server) waitReady(ctx context.Context, cl *client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("%s exited before becoming ready (%s); log tail:\n%s", s.kind.name, s.exitReason(), s.logTail(20))
		default:
		}
		last = s.probe(ctx, cl)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %v; log tail:\n%s", s.kind.name, timeout, last, s.logTail(20))
		case <-s.exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *server) probe(ctx context.Context, cl *client) error {
	if s.kind.health != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.baseURL()+s.kind.health, nil)
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
	return cl.listBuckets(ctx)
}

// binaryVersion runs `bin --version` and returns its first line, best effort.
func binaryVersion(ctx context.Context, bin string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if len(args) == 0 {
		args = []string{"--version"}
	}
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || line == "" {
			return "unknown"
		}
	}
	if len(line) > 120 {
		line = line[:120]
	}
	return strconv.Quote(line)
}
