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

// proc is one host process the bench started: sluice serve or the emulator.
type proc struct {
	name    string
	cmd     *exec.Cmd
	addr    string // where callers send invocations
	dir     string // the process's own directory (data, log)
	logPath string
	logFile *os.File
	exited  chan struct{}
	waitErr error
}

// freeAddr asks the kernel for a free loopback port. The port is released
// before the server binds it, which is racy in theory, but the bench is the
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

// startProc launches bin in its own process group, so that a terminal
// Ctrl-C reaches only the bench (which then stops it in order) and so that
// stop can kill everything it spawned: function instances, the emulator's
// bootstrap.
func startProc(name, bin string, args, env []string, dir, addr string) (*proc, error) {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s binary: %w", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s dir: %w", name, err)
	}
	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Pdeathsig is the safety net for a bench killed with SIGKILL: the
	// server dies with us instead of lingering on its port.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, addr: addr, dir: dir, logPath: logPath, logFile: logFile, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// environWithout is the bench's environment minus the named variables.
func environWithout(drop ...string) []string {
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

func (p *proc) baseURL() string { return "http://" + p.addr }
func (p *proc) pid() int        { return p.cmd.Process.Pid }

// alive reports whether the process is still running.
func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM to the process group, waits for a graceful exit, and
// escalates to SIGKILL, so that no process outlives the bench. Sluice puts
// each function instance in a group of its own and stops them itself on
// SIGTERM; whatever is left in the server's group is killed afterwards.
func (p *proc) stop() error {
	defer p.logFile.Close()
	pgid := p.pid()
	if !p.alive() {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return fmt.Errorf("%s had exited: %s", p.name, p.exitReason())
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
		return fmt.Errorf("%s ignored SIGTERM for 10s, killed", p.name)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

// exitReason describes how the process ended, once it has.
func (p *proc) exitReason() string {
	if p.waitErr != nil {
		return p.waitErr.Error()
	}
	return "exit status 0"
}

// logSize is the current length of the process's log, to cut out what it
// printed during one slice.
func (p *proc) logSize() int64 {
	st, err := os.Stat(p.logPath)
	if err != nil {
		return 0
	}
	return st.Size()
}

// logRange returns the bytes of the log between two offsets.
func (p *proc) logRange(from, to int64) ([]byte, error) {
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

// logTail returns the last n lines of the process log, for error messages.
func (p *proc) logTail(n int) string {
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

// waitReady polls probe until it succeeds, the process exits, or the
// deadline passes.
func (p *proc) waitReady(ctx context.Context, timeout time.Duration, probe func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if !p.alive() {
			return fmt.Errorf("%s exited before becoming ready (%s); log tail:\n%s", p.name, p.exitReason(), p.logTail(20))
		}
		last := probe(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %v; log tail:\n%s", p.name, timeout, last, p.logTail(20))
		case <-p.exited:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// httpHealth is a readiness probe: GET url answers 200.
func httpHealth(cl *http.Client, url string) func(context.Context) error {
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

// tcpAccepts is a readiness probe for the emulator, which has no health
// endpoint (and any request to its one path is an invocation): its port
// accepts connections.
func tcpAccepts(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// clockTick is USER_HZ, the unit of the times in /proc/PID/stat; it is 100
// on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// statFields holds what the bench reads from one /proc/PID/stat line.
type statFields struct {
	ppid int
	// cpu is the process's own user + system time plus that of its
	// children it has waited for: an instance that exits mid-window and is
	// reaped moves its time into its parent's figure instead of losing it.
	cpu time.Duration
}

// parseProcStat reads ppid (field 4) and utime, stime, cutime, cstime
// (fields 14 to 17) from a /proc/PID/stat line. The command name (field 2)
// may contain spaces and parentheses, so fields are counted from the last
// ')'.
func parseProcStat(stat string) (statFields, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return statFields{}, errors.New("proc stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state): ppid (4) is f[1], utime (14) f[11], stime
	// (15) f[12], cutime (16) f[13], cstime (17) f[14].
	if len(f) < 15 {
		return statFields{}, fmt.Errorf("proc stat: %d fields after the command name, want at least 15", len(f))
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil || ppid < 0 {
		return statFields{}, fmt.Errorf("proc stat: bad ppid %q", f[1])
	}
	var ticks uint64
	for _, v := range f[11:15] {
		n, err := strconv.ParseUint(v, 10, 64)
		// 2^40 ticks is over 300 years of CPU: anything larger is garbage,
		// and bounding it keeps the conversion to Duration from overflowing.
		if err != nil || n > 1<<40 {
			return statFields{}, fmt.Errorf("proc stat: bad CPU time %q", v)
		}
		ticks += n
	}
	return statFields{ppid: ppid, cpu: time.Duration(ticks) * clockTick}, nil
}

// treeCPU is the CPU time (user + system) used so far by root and every
// descendant: for sluice that is the server plus its function instances, for
// the emulator the emulator plus its bootstrap. A descendant that exited
// counts once its parent has reaped it (both hosts reap theirs at once); one
// exited but not yet reaped is missed until then.
func treeCPU(root int) (time.Duration, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	stats := map[int]statFields{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited while we looked
		}
		if st, err := parseProcStat(string(b)); err == nil {
			stats[pid] = st
		}
	}
	if _, ok := stats[root]; !ok {
		return 0, fmt.Errorf("process %d not found", root)
	}
	return sumTree(stats, root), nil
}

// sumTree adds up the CPU of root and its descendants in a ppid map.
func sumTree(stats map[int]statFields, root int) time.Duration {
	children := map[int][]int{}
	for pid, st := range stats {
		children[st.ppid] = append(children[st.ppid], pid)
	}
	var total time.Duration
	seen := map[int]bool{}
	stack := []int{root}
	for len(stack) > 0 {
		pid := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		total += stats[pid].cpu
		stack = append(stack, children[pid]...)
	}
	return total
}
