package lambda

import (
	"errors"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// spawner starts every function process from one goroutine locked to its OS
// thread for the host's lifetime. The processes carry a parent-death signal,
// which Linux delivers when the thread that forked them exits: pinning the
// forks to a thread that outlives them means the signal fires exactly when the
// host process dies (even by SIGKILL), never because the Go scheduler retired
// a thread.
type spawner struct {
	mu     sync.RWMutex
	closed bool
	reqs   chan spawnReq
	done   chan struct{}
}

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *spawner) run() {
	// Never unlocked: when run returns the thread exits with it, which is only
	// after every process it started has been reaped.
	runtime.LockOSThread()
	defer close(s.done)
	for req := range s.reqs {
		req.err <- req.cmd.Start()
	}
}

var errSpawnerClosed = errors.New("process spawner is closed")

// start starts cmd in a process group of its own with SIGKILL as its
// parent-death signal.
func (s *spawner) start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errSpawnerClosed
	}
	ch := make(chan error, 1)
	s.reqs <- spawnReq{cmd: cmd, err: ch}
	s.mu.RUnlock()
	return <-ch
}

func (s *spawner) close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.reqs)
	}
	s.mu.Unlock()
	<-s.done
}

// killGroup sends SIGKILL to every process in the group led by pid.
func killGroup(pid int) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}
