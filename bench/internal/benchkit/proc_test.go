package benchkit

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func shell(t *testing.T) string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("no sh: %v", err)
	}
	return sh
}

func TestProcStopsItsGroup(t *testing.T) {
	dir := t.TempDir()
	// The shell's child must die with it: Stop kills the whole group.
	p, err := Start(Spec{Name: "sleeper", Bin: shell(t), Args: []string{"-c", "sleep 60 & echo started; wait"}, Env: os.Environ(), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitReady(context.Background(), 10*time.Second, func(context.Context) error {
		if !strings.Contains(p.LogTail(5), "started") {
			return errors.New("not started")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !p.Alive() {
		t.Fatal("sleeper not alive")
	}
	if _, err := ProcCPU(p.Pid()); err != nil {
		t.Errorf("ProcCPU of a running process: %v", err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if p.Alive() {
		t.Error("alive after Stop")
	}
	if got := p.LogTail(1); got != "started" {
		t.Errorf("LogTail(1) = %q, want %q", got, "started")
	}
	if p.LogSize() != int64(len("started\n")) {
		t.Errorf("LogSize = %d, want %d", p.LogSize(), len("started\n"))
	}
	if b, err := p.LogRange(0, 7); err != nil || string(b) != "started" {
		t.Errorf("LogRange(0, 7) = %q, %v", b, err)
	}
}

func TestProcExitBeforeReady(t *testing.T) {
	p, err := Start(Spec{Name: "quitter", Bin: shell(t), Args: []string{"-c", "echo bye"}, Dir: t.TempDir(), CleanExit: "exit status 0: asked to"})
	if err != nil {
		t.Fatal(err)
	}
	err = p.WaitReady(context.Background(), 10*time.Second, func(context.Context) error { return errors.New("never ready") })
	if err == nil || !strings.Contains(err.Error(), "quitter exited before becoming ready (exit status 0: asked to)") || !strings.Contains(err.Error(), "bye") {
		t.Fatalf("WaitReady = %v, want an exit error with the log tail", err)
	}
	if err := p.Stop(); !errors.Is(err, ErrExitedEarly) {
		t.Errorf("Stop after exit = %v, want ErrExitedEarly", err)
	}
}

func TestProcNotReadyInTime(t *testing.T) {
	p, err := Start(Spec{Name: "slow", Bin: shell(t), Args: []string{"-c", "sleep 60"}, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	err = p.WaitReady(context.Background(), 100*time.Millisecond, func(context.Context) error { return errors.New("nope") })
	if err == nil || !strings.Contains(err.Error(), "slow not ready after 100ms: nope") {
		t.Fatalf("WaitReady = %v", err)
	}
}

func TestStartMissingBinary(t *testing.T) {
	_, err := Start(Spec{Name: "ghost", Bin: "/nonexistent/ghost", Dir: t.TempDir()})
	if err == nil || !strings.HasPrefix(err.Error(), "ghost binary: ") {
		t.Fatalf("Start = %v, want a binary error", err)
	}
}

func TestProbes(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer ok.Close()
	ctx := context.Background()
	if err := HTTPHealth(ok.Client(), ok.URL+"/health")(ctx); err != nil {
		t.Errorf("HTTPHealth of a healthy server: %v", err)
	}
	if err := HTTPHealth(ok.Client(), ok.URL+"/other")(ctx); err == nil || err.Error() != "health: HTTP 503" {
		t.Errorf("HTTPHealth of a 503 = %v", err)
	}
	if err := TCPAccepts(ok.Listener.Addr().String())(ctx); err != nil {
		t.Errorf("TCPAccepts of a listener: %v", err)
	}
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("FreeAddr = %q, want a loopback address", addr)
	}
	if err := TCPAccepts(addr)(ctx); err == nil {
		t.Error("TCPAccepts of a released port: no error")
	}
}

func TestEnvironWithout(t *testing.T) {
	t.Setenv("BENCHKIT_DROP", "1")
	t.Setenv("BENCHKIT_KEEP", "1")
	env := strings.Join(EnvironWithout("BENCHKIT_DROP"), "\n")
	if strings.Contains(env, "BENCHKIT_DROP=") || !strings.Contains(env, "BENCHKIT_KEEP=1") {
		t.Errorf("EnvironWithout kept the wrong variables")
	}
}
