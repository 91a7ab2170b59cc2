package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/frontdoor"
	"github.com/sluicehq/sluice/logs"
	"github.com/sluicehq/sluice/sigv4"
)

// startLogsServer runs a logs Service behind a real front door on
// 127.0.0.1 and returns its store and URL.
func startLogsServer(t *testing.T) (*logs.Store, string) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := logs.DefaultConfig()
	cfg.Dir = t.TempDir()
	store, err := logs.Open(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	vcfg := sigv4.DefaultConfig()
	vcfg.Credentials = map[string]string{"test": "test"}
	verifier, err := sigv4.New(vcfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	door, err := frontdoor.New(frontdoor.DefaultConfig(), authenticator{verifier}, quiet, reg, reg)
	if err != nil {
		t.Fatal(err)
	}
	door.Handle("logs", logs.NewService(store, quiet))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- door.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	t.Setenv("SLUICE_ACCESS_KEY", "test")
	t.Setenv("SLUICE_SECRET_KEY", "test")
	t.Setenv("SLUICE_ENDPOINT", "")
	return store, "http://" + ln.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for one writer and a polling reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeLogs(t *testing.T, store *logs.Store, group, stream string, at time.Time, lines ...string) {
	t.Helper()
	evs := make([]sluice.LogEvent, len(lines))
	for i, l := range lines {
		evs[i] = sluice.LogEvent{Time: at.Add(time.Duration(i) * time.Millisecond), Message: l}
	}
	if err := store.PutLogEvents(context.Background(), group, stream, evs); err != nil {
		t.Fatal(err)
	}
}

func TestLogsCommand(t *testing.T) {
	store, url := startLogsServer(t)
	at := time.Date(2025, 3, 4, 5, 6, 7, 8_000_000, time.UTC)
	old := time.Now().Add(-3 * time.Hour)
	writeLogs(t, store, "/aws/lambda/echo", "2025/03/04/[$LATEST]aaa", old, "ancient\n")
	writeLogs(t, store, "/aws/lambda/echo", "2025/03/04/[$LATEST]aaa", at, "START RequestId: r1 Version: $LATEST\n", "ERROR boom\n")
	writeLogs(t, store, "/aws/lambda/echo", "2025/03/04/[$LATEST]bbb", at.Add(time.Second), "hello from b\n")

	line := func(ts time.Time, stream, msg string) string {
		return ts.UTC().Format("2006-01-02T15:04:05.000Z") + " " + stream + " " + msg + "\n"
	}
	recent := time.Now()
	writeLogs(t, store, "/custom/group", "s", recent, `{"level":"error","msg":"x"}`, `{"level":"info"}`)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"function since a time", []string{"echo", "--since", "2025-03-04T00:00:00Z", "--endpoint", url},
			line(at, "2025/03/04/[$LATEST]aaa", "START RequestId: r1 Version: $LATEST") +
				line(at.Add(time.Millisecond), "2025/03/04/[$LATEST]aaa", "ERROR boom") +
				line(at.Add(time.Second), "2025/03/04/[$LATEST]bbb", "hello from b") +
				line(old, "2025/03/04/[$LATEST]aaa", "ancient")},
		{"filter", []string{"--endpoint", url, "echo", "--since", "2025-03-04", "--filter", "ERROR"},
			line(at.Add(time.Millisecond), "2025/03/04/[$LATEST]aaa", "ERROR boom")},
		{"recent only by default", []string{"echo", "--endpoint", url}, ""},
		{"log group by path with JSON filter", []string{"/custom/group", "--endpoint", url, "--filter", `{ $.level = "error" }`},
			line(recent, "s", `{"level":"error","msg":"x"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if err := runLogs(context.Background(), tt.args, &out, &errb); err != nil {
				t.Fatalf("runLogs: %v (stderr %s)", err, errb.String())
			}
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}

	// --since 4h reaches the ancient line, which comes first.
	var out bytes.Buffer
	if err := runLogs(context.Background(), []string{"echo", "--since", "4h", "--endpoint", url}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 || !strings.HasSuffix(lines[0], "[$LATEST]aaa ancient") {
		t.Errorf("--since 4h printed %q", lines)
	}

	err := runLogs(context.Background(), []string{"nothing", "--endpoint", url}, io.Discard, io.Discard)
	if err == nil || err.Error() != "no logs yet for function nothing (log group /aws/lambda/nothing does not exist)" {
		t.Errorf("missing function: %v", err)
	}
	err = runLogs(context.Background(), []string{"/nope", "--endpoint", url}, io.Discard, io.Discard)
	if err == nil || err.Error() != "log group /nope does not exist" {
		t.Errorf("missing group: %v", err)
	}
	err = runLogs(context.Background(), []string{"echo", "--endpoint", url, "--filter", "[a, b]"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "InvalidParameterException") {
		t.Errorf("bad filter: %v", err)
	}
}

func TestLogsFollow(t *testing.T) {
	store, url := startLogsServer(t)
	group, stream := "/aws/lambda/tailme", "2025/01/01/[$LATEST]f00"
	writeLogs(t, store, group, stream, time.Now(), "first\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runLogs(ctx, []string{"tailme", "--follow", "--interval", "20ms", "--endpoint", url}, &out, &errb)
	}()
	waitFor := func(substr string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), substr) {
			if time.Now().After(deadline) {
				t.Fatalf("%q never printed; output %q, stderr %q", substr, out.String(), errb.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("first")
	// Same millisecond as a printed event, and later ones.
	now := time.Now()
	writeLogs(t, store, group, stream, now, "second\n", "third\n")
	writeLogs(t, store, group, "other-stream", now, "fourth\n")
	waitFor("fourth")
	waitFor("third")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("follow ended with %v", err)
	}
	for _, w := range []string{"first", "second", "third", "fourth"} {
		if n := strings.Count(out.String(), w+"\n"); n != 1 {
			t.Errorf("%q printed %d times:\n%s", w, n, out.String())
		}
	}
}

func TestLogsFollowWaitsForGroup(t *testing.T) {
	store, url := startLogsServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runLogs(ctx, []string{"late", "--follow", "--interval", "20ms", "--endpoint", url}, &out, &errb)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(errb.String(), "waiting for log group /aws/lambda/late") {
		if time.Now().After(deadline) {
			t.Fatalf("no waiting note; stderr %q", errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	writeLogs(t, store, "/aws/lambda/late", "s1", time.Now(), "arrived\n")
	for !strings.Contains(out.String(), " s1 arrived\n") {
		if time.Now().After(deadline) {
			t.Fatalf("event never printed; output %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestLogsUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no name", nil, "logs: no function or log group name given"},
		{"two names", []string{"a", "b"}, `logs: unexpected argument "b"`},
		{"bad since", []string{"a", "--since", "yesterday"}, `logs: --since "yesterday"`},
		{"bad endpoint", []string{"a", "--endpoint", "localhost:4566"}, `--endpoint "localhost:4566" is not an http(s) URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runLogs(context.Background(), tt.args, io.Discard, io.Discard)
			if _, ok := err.(usageError); !ok || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want usage error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"10m", now.Add(-10 * time.Minute)},
		{"1h30m", now.Add(-90 * time.Minute)},
		{"2d", now.Add(-48 * time.Hour)},
		{"2025-05-31T10:00:00Z", time.Date(2025, 5, 31, 10, 0, 0, 0, time.UTC)},
		{"2025-05-30", time.Date(2025, 5, 30, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSince(tt.in, now)
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("parseSince(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "-5m", "d", "1.5d", "soon"} {
		if _, err := parseSince(bad, now); err == nil {
			t.Errorf("parseSince(%q) accepted", bad)
		}
	}
}
