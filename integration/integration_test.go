//go:build integration

// Package integration holds Sluice's end-to-end tests. They build the real
// binary once, run real `sluice serve` processes on free loopback ports, and
// drive them with the clients users have: aws-cli, boto3 (Python scripts in
// py/) and aws-sdk-go-v2. Run them with
//
//	go test -tags integration ./integration/
//
// (SLUICE_TEST_BINARY=/path/to/sluice skips the build and tests that binary.)
//
// Tests that only need an S3 endpoint share one server (started lazily,
// stopped by TestMain) and isolate themselves with distinct bucket names;
// tests that kill, restart or reconfigure the server start their own. Nothing
// here asserts on time: every wait is a poll with a deadline.
package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	testAccessKey = "test"
	testSecretKey = "test"
	testRegion    = "us-east-1"

	readyDeadline = 20 * time.Second
	stopDeadline  = 20 * time.Second
)

var (
	// sluiceBin is the binary built by TestMain; buildErr is why it is not.
	sluiceBin string
	buildErr  error
	// moduleRoot is the directory holding go.mod.
	moduleRoot string
	// workDir holds everything the suite writes outside t.TempDir.
	workDir string

	sharedOnce sync.Once
	shared     *sluiceServer
	sharedErr  error
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	workDir, err = os.MkdirTemp("", "sluice-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(workDir)

	moduleRoot, err = findModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: module root:", err)
		return 1
	}
	if prebuilt := os.Getenv("SLUICE_TEST_BINARY"); prebuilt != "" {
		// For iterating on the tests against a binary built elsewhere.
		sluiceBin = prebuilt
	} else {
		sluiceBin = filepath.Join(workDir, "sluice")
		cmd := exec.Command("go", "build", "-o", sluiceBin, "./cmd/sluice")
		cmd.Dir = moduleRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			// Every test that needs the binary fails with this message, so a
			// broken build is loud rather than a wall of skips.
			buildErr = fmt.Errorf("go build ./cmd/sluice: %v\n%s", err, out)
			fmt.Fprintln(os.Stderr, "integration:", buildErr)
		}
	}

	code := m.Run()

	if shared != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "integration: stop shared server:", err)
			code = 1
		}
		if code != 0 {
			fmt.Fprintf(os.Stderr, "integration: shared server log (tail):\n%s\n", tail(shared.log(), 16<<10))
		}
	}
	return code
}

func findModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod), nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("no go.mod above " + wd)
		}
	}
}

// requireBinary fails t when the binary could not be built.
func requireBinary(t testing.TB) {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("sluice binary unavailable: %v", buildErr)
	}
}

// sluiceServer is one running (or stopped) `sluice serve` process.
type sluiceServer struct {
	Addr      string // host:port of the AWS API
	EdgeAddr  string // host:port of the edge
	URL       string // http://Addr
	DataDir   string
	AccessKey string
	SecretKey string
	Region    string

	extraArgs []string
	extraEnv  []string
	logPath   string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

type serverOption func(*sluiceServer)

// withDataDir reuses dir instead of a fresh temp directory (for restarts).
func withDataDir(dir string) serverOption { return func(s *sluiceServer) { s.DataDir = dir } }

// withCredentials sets SLUICE_ACCESS_KEY / SLUICE_SECRET_KEY.
func withCredentials(ak, sk string) serverOption {
	return func(s *sluiceServer) { s.AccessKey, s.SecretKey = ak, sk }
}

// withArgs appends flags to `sluice serve`.
func withArgs(args ...string) serverOption {
	return func(s *sluiceServer) { s.extraArgs = append(s.extraArgs, args...) }
}

// startSluice starts a server private to t and stops it (SIGTERM, then
// SIGKILL) when t ends. Its log is printed when t fails.
func startSluice(t testing.TB, opts ...serverOption) *sluiceServer {
	t.Helper()
	requireBinary(t)
	s := &sluiceServer{AccessKey: testAccessKey, SecretKey: testSecretKey, Region: testRegion}
	for _, o := range opts {
		o(s)
	}
	if s.DataDir == "" {
		s.DataDir = filepath.Join(t.TempDir(), "data")
	}
	s.logPath = filepath.Join(t.TempDir(), "sluice.log")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sluice log (%s, tail):\n%s", s.logPath, tail(s.log(), 16<<10))
		}
		if err := s.stop(); err != nil {
			t.Errorf("stop sluice: %v", err)
		}
	})
	if err := s.start(); err != nil {
		t.Fatalf("start sluice: %v\nlog:\n%s", err, tail(s.log(), 16<<10))
	}
	return s
}

// sharedSluice returns the server shared by tests that need nothing but an
// S3 endpoint with default settings.
func sharedSluice(t testing.TB) *sluiceServer {
	t.Helper()
	requireBinary(t)
	sharedOnce.Do(func() {
		s := &sluiceServer{AccessKey: testAccessKey, SecretKey: testSecretKey, Region: testRegion}
		s.DataDir = filepath.Join(workDir, "shared-data")
		s.logPath = filepath.Join(workDir, "shared.log")
		sharedErr = s.start()
		shared = s
	})
	if sharedErr != nil {
		t.Fatalf("start shared sluice: %v\nlog:\n%s", sharedErr, tail(shared.log(), 16<<10))
	}
	mark := len(shared.log())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("shared sluice log during this test (tail):\n%s", tail(shared.log()[min(mark, len(shared.log())):], 16<<10))
		}
	})
	return shared
}

// start picks fresh ports and launches the process, then waits for health.
func (s *sluiceServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	s.Addr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	s.EdgeAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
	s.URL = "http://" + s.Addr

	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "==== start %s addr=%s edge=%s data=%s\n", time.Now().Format(time.RFC3339Nano), s.Addr, s.EdgeAddr, s.DataDir)
	args := append([]string{"serve", "--addr", s.Addr, "--edge-addr", s.EdgeAddr, "--data", s.DataDir, "--log-level", "debug"}, s.extraArgs...)
	cmd := exec.Command(sluiceBin, args...)
	cmd.Env = append(cleanEnv(), "SLUICE_ACCESS_KEY="+s.AccessKey, "SLUICE_SECRET_KEY="+s.SecretKey)
	cmd.Env = append(cmd.Env, s.extraEnv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	s.waitErr = nil
	done := s.done
	go func() {
		err := cmd.Wait()
		logf.Close()
		s.mu.Lock()
		s.waitErr = err
		s.mu.Unlock()
		close(done)
	}()
	return s.waitHealthy(done)
}

func (s *sluiceServer) waitHealthy(done chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyDeadline)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("sluice exited before becoming healthy: %v", s.exitErr())
		default:
		}
		resp, err := client.Get(s.URL + "/_sluice/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("health status %d", resp.StatusCode)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not healthy within %v: %v", readyDeadline, last)
}

func (s *sluiceServer) exitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waitErr
}

// signal sends sig and waits up to d for exit; it returns the exit error
// (nil for status 0) or a timeout error.
func (s *sluiceServer) signal(sig os.Signal, d time.Duration) error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		s.reset()
		return fmt.Errorf("no exit within %v of %v; killed", d, sig)
	}
	err := s.exitErr()
	s.reset()
	return err
}

func (s *sluiceServer) reset() {
	s.mu.Lock()
	s.cmd = nil
	s.mu.Unlock()
}

// stop shuts the server down gracefully; a non-zero exit is an error.
func (s *sluiceServer) stop() error {
	if err := s.signal(syscall.SIGTERM, stopDeadline); err != nil {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	return nil
}

// kill SIGKILLs the server and waits for it to be gone.
func (s *sluiceServer) kill(t testing.TB) {
	t.Helper()
	// A SIGKILLed process always reports "signal: killed"; that is the point.
	_ = s.signal(syscall.SIGKILL, stopDeadline)
}

// restart starts the stopped server again on the same data directory and
// fresh ports.
func (s *sluiceServer) restart(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("restart sluice: %v\nlog:\n%s", err, tail(s.log(), 16<<10))
	}
}

func (s *sluiceServer) log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// freePorts returns n distinct free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// cleanEnv is the process environment without anything that could point a
// client at real AWS or a developer's profile.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "AWS_") || strings.HasPrefix(name, "SLUICE_") ||
			strings.HasPrefix(name, "BOTO_") || name == "HTTP_PROXY" || name == "HTTPS_PROXY" ||
			name == "http_proxy" || name == "https_proxy" || name == "ALL_PROXY" || name == "all_proxy" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "NO_PROXY=*", "no_proxy=*")
}

var (
	clientFilesOnce sync.Once
	clientConfig    string
	clientCreds     string
	// clientConfigV4 makes aws-cli v1 presign with SigV4 (it defaults to
	// SigV2 query strings, which Sluice does not accept).
	clientConfigV4 string
)

// clientEnv is the environment for aws-cli and boto3 talking to s.
func clientEnv(t testing.TB, s *sluiceServer) []string {
	t.Helper()
	clientFilesOnce.Do(func() {
		clientConfig = filepath.Join(workDir, "aws-config")
		clientCreds = filepath.Join(workDir, "aws-credentials")
		clientConfigV4 = filepath.Join(workDir, "aws-config-s3v4")
		_ = os.WriteFile(clientConfig, nil, 0o600)
		_ = os.WriteFile(clientCreds, nil, 0o600)
		_ = os.WriteFile(clientConfigV4, []byte("[default]\ns3 =\n    signature_version = s3v4\n"), 0o600)
	})
	return append(cleanEnv(),
		"AWS_ACCESS_KEY_ID="+s.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+s.SecretKey,
		"AWS_DEFAULT_REGION="+s.Region,
		"AWS_REGION="+s.Region,
		"AWS_CONFIG_FILE="+clientConfig,
		"AWS_SHARED_CREDENTIALS_FILE="+clientCreds,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"AWS_MAX_ATTEMPTS=2",
		"AWS_RETRY_MODE=standard",
		"PYTHONDONTWRITEBYTECODE=1",
		"PYTHONUNBUFFERED=1",
		"ENDPOINT="+s.URL,
	)
}

// cliResult is one finished aws-cli or script run.
type cliResult struct {
	Stdout, Stderr string
	Code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, tail(r.Stdout, 8<<10), tail(r.Stderr, 8<<10))
}

// runCmd runs name with args and env, in dir, and returns what happened.
// It fails t only when the program cannot be started at all.
func runCmd(t testing.TB, ctx context.Context, env []string, dir, name string, args ...string) cliResult {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	default:
		t.Fatalf("run %s %q: %v", name, args, err)
	}
	return res
}

// awsCLI runs `aws --endpoint-url s.URL args...`.
func awsCLI(t testing.TB, s *sluiceServer, args ...string) cliResult {
	t.Helper()
	return awsCLIEnv(t, s, nil, args...)
}

// awsCLIEnv runs aws-cli with extra environment entries (later entries win).
func awsCLIEnv(t testing.TB, s *sluiceServer, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	full := append([]string{"--endpoint-url", s.URL, "--region", s.Region, "--output", "json"}, args...)
	return runCmd(t, ctx, append(clientEnv(t, s), env...), workDir, "aws", full...)
}

// awsOK runs aws-cli and fails t unless it exits 0; it returns stdout.
func awsOK(t testing.TB, s *sluiceServer, args ...string) string {
	t.Helper()
	r := awsCLI(t, s, args...)
	if r.Code != 0 {
		t.Fatalf("aws %s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

// runPython runs integration/py/<script> against s with extra env entries.
func runPython(t testing.TB, s *sluiceServer, script string, env ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	path := filepath.Join(moduleRoot, "integration", "py", script)
	return runCmd(t, ctx, append(clientEnv(t, s), env...), filepath.Dir(path), "python3", path, "-v")
}

// randSuffix returns n random hex characters for unique names.
func randSuffix(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// bucketName returns a valid, unique bucket name starting with prefix.
func bucketName(prefix string) string {
	return prefix + "-" + randSuffix(10)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// poll calls f until it returns nil or the deadline passes; it returns the
// last error.
func poll(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sideBySide returns a function that runs a subtest of t in a goroutine of
// its own, and one that waits for them all. For subtests that mostly wait
// (on aws-cli, cold starts, retries): as parallel tests they would queue
// behind -parallel (GOMAXPROCS) slots.
func sideBySide(t *testing.T) (run func(name string, f func(t *testing.T)), wait func()) {
	var wg sync.WaitGroup
	run = func(name string, f func(t *testing.T)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(name, f)
		}()
	}
	return run, wg.Wait
}
