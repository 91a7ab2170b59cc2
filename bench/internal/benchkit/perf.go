package benchkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// PerfRecorder profiles one process with `perf record -g` until stopped.
// perf sees Go and kernel frames (fsync, page cache copies, loopback TCP),
// which a Go CPU profile alone would not attribute.
type PerfRecorder struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// StartPerf records pid at freq samples a second into dir/NAME.perf.data.
func StartPerf(dir, name string, pid, freq int) (*PerfRecorder, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create perf dir: %w", err)
	}
	out := filepath.Join(dir, name+".perf.data")
	cmd := exec.Command("perf", "record", "-F", fmt.Sprint(freq), "-g", "-p", fmt.Sprint(pid), "-o", out)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start perf: %w", err)
	}
	p := &PerfRecorder{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	Logf("%s: perf recording into %s", name, out)
	return p, nil
}

// Stop asks perf to finish writing its file (SIGINT), then waits.
func (p *PerfRecorder) Stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
