package lambda

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
)

// A function's runtime dies with the host through its parent-death signal,
// but what the function itself started (a test binary, ffmpeg, "sleep 300")
// is a grandchild: when the host is killed with SIGKILL nothing kills it,
// and it lives on, reparented to init, with the function's credentials.
//
// The group reaper closes that gap. It is a small process of its own that
// the host tells, over a pipe, which process groups hold live instances.
// When the host dies, however it dies, the kernel closes the pipe; the
// reaper reads end-of-file, kills every group still registered and exits.

// groupReaper is the host's end of the reaper.
type groupReaper struct {
	log    *slog.Logger
	cmd    *exec.Cmd
	mu     sync.Mutex
	w      io.WriteCloser
	failed bool
}

// startGroupReaper starts the reaper command, which must run
// RunGroupReaper on its standard input.
func startGroupReaper(command []string, log *slog.Logger) (*groupReaper, error) {
	cmd := exec.Command(command[0], command[1:]...)
	// A group of its own: a terminal's Ctrl-C reaches the host, which stops
	// its instances itself, not the reaper, which must outlive the host.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("group reaper: %w", err)
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start group reaper %s: %w", command[0], err)
	}
	return &groupReaper{log: log, cmd: cmd, w: w}, nil
}

// watch registers the process group led by pid.
func (r *groupReaper) watch(pid int) { r.send('+', pid) }

// forget unregisters a group the host has killed and reaped itself, so that
// the reaper never kills a later process that reuses the id.
func (r *groupReaper) forget(pid int) { r.send('-', pid) }

func (r *groupReaper) send(op byte, pid int) {
	if r == nil || pid <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed {
		return
	}
	if _, err := fmt.Fprintf(r.w, "%c%d\n", op, pid); err != nil {
		r.failed = true
		r.log.Warn("group reaper is gone; processes functions start may outlive a crash of sluice", "err", err)
	}
}

// close ends the reaper after the host has stopped every instance.
func (r *groupReaper) close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.w.Close()
	r.failed = true
	r.mu.Unlock()
	_ = r.cmd.Wait()
}

// RunGroupReaper is the reaper process's main loop: it reads "+PID" and
// "-PID" lines from in, and when in ends it sends SIGKILL to every process
// group still registered. The sluice binary runs it as a hidden subcommand.
func RunGroupReaper(in io.Reader) error {
	// Only the end of the host may stop the reaper.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	return reapGroups(in)
}

func reapGroups(in io.Reader) error {
	groups := map[int]bool{}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := sc.Text()
		if len(line) < 2 {
			continue
		}
		pid, err := strconv.Atoi(line[1:])
		if err != nil || pid <= 0 {
			continue
		}
		switch line[0] {
		case '+':
			groups[pid] = true
		case '-':
			delete(groups, pid)
		}
	}
	for pid := range groups {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	return sc.Err()
}
