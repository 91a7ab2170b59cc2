package benchkit

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
	"strings"
	"syscall"
	"time"
)

// ErrExitedEarly is wrapped by Stop when the process had already exited.
var ErrExitedEarly = errors.New("exited early")

// readyPoll is how often WaitReady probes. Readiness is never part of a
// measurement, only of the "ready in" log line.
const readyPoll = 20 * time.Millisecond

// Spec describes one process to start.
type Spec struct {
	Name string   // for messages, e.g. "sluice"
	Bin  string   // resolved to an absolute path: the process runs in Dir
	Args []string // command line after Bin
	Env  []string // the whole environment (see EnvironWithout)
	Dir  string   // working directory, created if missing; holds server.log
	Addr string   // where callers reach it, for BaseURL
	// CleanExit is what ExitReason says when the process exited with
	// status 0; empty means plain "exit status 0".
	CleanExit string
}

// Proc is one host process the bench started.
type Proc struct {
	spec    Spec
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	exited  chan struct{}
	waitErr error
}

// FreeAddr asks the kernel for a free loopback port. The port is released
// before the server binds it, which is racy in theory, but the bench is the
// only thing allocating ports here.
func FreeAddr() (string, error) {
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

// Start launches the process in its own process group, so that a terminal
// Ctrl-C reaches only the bench (which then stops it in order) and so that
// Stop can kill everything it spawned.
func Start(s Spec) (*Proc, error) {
	bin, err := filepath.Abs(s.Bin)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s binary: %w", s.Name, err)
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s dir: %w", s.Name, err)
	}
	logPath := filepath.Join(s.Dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create %s log: %w", s.Name, err)
	}
	cmd := exec.Command(bin, s.Args...)
	cmd.Dir = s.Dir
	cmd.Env = s.Env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Pdeathsig is the safety net for a bench killed with SIGKILL: the
	// server dies with us instead of lingering on its port.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	p := &Proc{spec: s, cmd: cmd, logPath: logPath, logFile: logFile, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// EnvironWithout is the bench's environment minus the named variables.
func EnvironWithout(drop ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, d := range drop {
			keep = keep && k != d
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

func (p *Proc) Name() string    { return p.spec.Name }
func (p *Proc) Addr() string    { return p.spec.Addr }
func (p *Proc) Dir() string     { return p.spec.Dir }
func (p *Proc) LogPath() string { return p.logPath }
func (p *Proc) BaseURL() string { return "http://" + p.spec.Addr }
func (p *Proc) Pid() int        { return p.cmd.Process.Pid }

// Exited is closed once the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Alive reports whether the process is still running.
func (p *Proc) Alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM to the process group, waits for a graceful exit, and
// escalates to SIGKILL, so that no process outlives the bench. Whatever is
// left in the group afterwards is killed too. A process that had already
// exited is an error wrapping ErrExitedEarly.
func (p *Proc) Stop() error {
	defer p.logFile.Close()
	pgid := p.Pid()
	if !p.Alive() {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return fmt.Errorf("%s %w: %s", p.spec.Name, ErrExitedEarly, p.ExitReason())
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
		return fmt.Errorf("%s ignored SIGTERM for 10s, killed", p.spec.Name)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

// ExitReason describes how the process ended, once it has.
func (p *Proc) ExitReason() string {
	if p.waitErr != nil {
		return p.waitErr.Error()
	}
	if p.spec.CleanExit != "" {
		return p.spec.CleanExit
	}
	return "exit status 0"
}

// LogSize is the current length of the process's log, to cut out what it
// printed during one slice.
func (p *Proc) LogSize() int64 {
	st, err := os.Stat(p.logPath)
	if err != nil {
		return 0
	}
	return st.Size()
}

// LogRange returns the bytes of the log between two offsets.
func (p *Proc) LogRange(from, to int64) ([]byte, error) {
	f, err := os.Open(p.logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if to < from {
		return nil, fmt.Errorf("log range %d..%d", from, to)
	}
	buf := make([]byte, to-from)
	_, err = f.ReadAt(buf, from)
	return buf, err
}

// LogTail returns the last n lines of the process log, for error messages.
func (p *Proc) LogTail(n int) string {
	b, err := os.ReadFile(p.logPath)
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

// WaitReady polls probe until it succeeds, the process exits, or the
// deadline passes.
func (p *Proc) WaitReady(ctx context.Context, timeout time.Duration, probe func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if !p.Alive() {
			return fmt.Errorf("%s exited before becoming ready (%s); log tail:\n%s", p.spec.Name, p.ExitReason(), p.LogTail(20))
		}
		last := probe(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %v; log tail:\n%s", p.spec.Name, timeout, last, p.LogTail(20))
		case <-p.exited:
		case <-time.After(readyPoll):
		}
	}
}

// HTTPHealth is a readiness probe: GET url answers 200.
func HTTPHealth(cl *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := cl.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("health: HTTP %d", resp.StatusCode)
		}
		return nil
	}
}

// TCPAccepts is a readiness probe for servers with no health endpoint: the
// port accepts connections.
func TCPAccepts(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// SluiceServeArgs is the `sluice serve` command line the benches run:
// listening on addr with its data in dataDir, per-request logging off (the
// benches measure the service, not log formatting), and the edge listener
// on a free port of its own: it is unused, but must not collide with a
// sluice already running on its default port.
func SluiceServeArgs(addr, dataDir string) ([]string, error) {
	edge, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	return []string{"serve", "--addr", addr, "--edge-addr", edge, "--data", dataDir, "--log-level", "warn"}, nil
}
