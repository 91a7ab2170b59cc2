package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

func TestParseReport(t *testing.T) {
	tests := []struct {
		name string
		line string
		want report
		ok   bool
	}{
		{
			name: "sluice warm",
			line: "REPORT RequestId: 5a1c\tDuration: 0.18 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 10 MB\t",
			want: report{duration: 0.18},
			ok:   true,
		},
		{
			name: "sluice cold, init after memory",
			line: "REPORT RequestId: 5a1c\tDuration: 0.57 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 10 MB\tInit Duration: 3.75 ms\t",
			want: report{duration: 0.57, initDur: 3.75, hasInit: true},
			ok:   true,
		},
		{
			name: "emulator cold, init before duration",
			line: "REPORT RequestId: 6e55\tInit Duration: 0.06 ms\tDuration: 4.94 ms\tBilled Duration: 5 ms\tMemory Size: 3008 MB\tMax Memory Used: 3008 MB\t\n",
			want: report{duration: 4.94, initDur: 0.06, hasInit: true},
			ok:   true,
		},
		{
			name: "status after an error",
			line: "REPORT RequestId: x\tDuration: 2.00 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 9 MB\tStatus: error\tError Type: Runtime.ExitError\t",
			want: report{duration: 2},
			ok:   true,
		},
		{name: "END line", line: "END RequestId: 6e55"},
		{name: "function output mentioning REPORT", line: "2026-11-21T19:00:00Z id INFO REPORT RequestId: nope Duration: 1 ms"},
		{name: "no duration", line: "REPORT RequestId: x\tBilled Duration: 2 ms\t"},
		{name: "duration without unit", line: "REPORT RequestId: x\tDuration: 2\t"},
		{name: "negative duration", line: "REPORT RequestId: x\tDuration: -2.00 ms\t"},
		{name: "not a number", line: "REPORT RequestId: x\tDuration: NaN ms\t"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseReport(tc.line)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(report{})); ok && diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseReport(f *testing.F) {
	for _, s := range []string{
		"REPORT RequestId: a\tDuration: 0.18 ms\tBilled Duration: 1 ms\t",
		"REPORT RequestId: a\tInit Duration: 1.00 ms\tDuration: 4.94 ms\t",
		"REPORT RequestId: a\tDuration: 1e400 ms",
		"REPORT RequestId:\t: \tDuration: ms",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		rep, ok := parseReport(line)
		if !ok {
			return
		}
		if !strings.HasPrefix(strings.TrimSpace(line), "REPORT RequestId:") {
			t.Fatalf("accepted a line that is not a REPORT line: %q", line)
		}
		if rep.duration < 0 || rep.duration > 1e9 || rep.initDur < 0 || rep.initDur > 1e9 {
			t.Fatalf("out of range figures %+v from %q", rep, line)
		}
	})
}

func TestCheckEcho(t *testing.T) {
	want := []byte(`{"data":"xx"}`)
	tests := []struct {
		name    string
		status  int
		funcErr string
		body    string
		ok      bool
	}{
		{name: "same bytes", status: 200, body: `{"data":"xx"}`, ok: true},
		{name: "python spacing", status: 200, body: `{"data": "xx"}`, ok: true},
		{name: "different value", status: 200, body: `{"data":"xy"}`},
		{name: "not json", status: 200, body: `data`},
		{name: "function error", status: 200, funcErr: "Unhandled", body: `{"data":"xx"}`},
		{name: "throttled", status: 429, body: `{"Type":"User","message":"Rate Exceeded."}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkEcho(tc.status, tc.funcErr, []byte(tc.body), want)
			if (err == nil) != tc.ok {
				t.Errorf("checkEcho = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestEchoPayload(t *testing.T) {
	for _, size := range []int{16, 128, 4096} {
		p := echoPayload(size)
		if len(p) != size {
			t.Errorf("echoPayload(%d) is %d bytes", size, len(p))
		}
		if !json.Valid(p) {
			t.Errorf("echoPayload(%d) is not JSON: %s", size, p)
		}
	}
}

func TestZipOfKeepsModes(t *testing.T) {
	b, err := zipOf(map[string][]byte{"bootstrap": []byte("bin"), "app.py": []byte("py")}, map[string]bool{"bootstrap": true})
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		got[f.Name] = f.Mode().String() + " " + string(data)
	}
	want := map[string]string{"bootstrap": "-rwxr-xr-x bin", "app.py": "-rw-r--r-- py"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("zip entries (-want +got):\n%s", diff)
	}
}

func TestFirstPanicLine(t *testing.T) {
	log := "START RequestId: a\npanic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV]\n"
	if got := firstPanicLine(log); got != "panic: runtime error: invalid memory address or nil pointer dereference" {
		t.Errorf("firstPanicLine = %q", got)
	}
	if got := firstPanicLine("all fine\n"); !strings.Contains(got, "no panic") {
		t.Errorf("firstPanicLine without a panic = %q", got)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(Config) string
		wantErr string
	}{
		{name: "defaults", check: func(c Config) string {
			return cmp.Diff(DefaultConfig(), c, cmp.AllowUnexported(Config{}))
		}},
		{name: "grid", args: []string{"-targets", "sluice-rie,rie", "-callers", "2, 4", "-cold", "", "-duration", "2s"}, check: func(c Config) string {
			return cmp.Diff([]any{[]string{"sluice-rie", "rie"}, []int{2, 4}, []string(nil), 2 * time.Second},
				[]any{c.Targets, c.Callers, c.Cold, c.Duration})
		}},
		{name: "unknown target", args: []string{"-targets", "lambda"}, wantErr: "unknown target"},
		{name: "callers out of range", args: []string{"-callers", "0"}, wantErr: "out of range"},
		{name: "callers not a number", args: []string{"-callers", "x"}, wantErr: "not a number"},
		{name: "unknown cold kind", args: []string{"-cold", "rie-python"}, wantErr: "unknown kind"},
		{name: "slices too short", args: []string{"-duration", "200ms", "-rounds", "3"}, wantErr: "-rounds"},
		{name: "nothing to measure", args: []string{"-targets", "", "-cold", ""}, wantErr: "nothing to measure"},
		{name: "bad rie mode", args: []string{"-rie-callers", "maybe"}, wantErr: "-rie-callers"},
		{name: "stray argument", args: []string{"all"}, wantErr: "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseFlags(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := tc.check(cfg); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

// startSleeper stands in for a host process: runSlice samples its CPU.
func startSleeper(t *testing.T) *benchkit.Proc {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skipf("no sleep: %v", err)
	}
	p, err := benchkit.Start(benchkit.Spec{Name: "sleeper", Bin: sleep, Args: []string{"60"}, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	return p
}

// echoServer answers every POST with its body and records the most
// requests it ever had in flight at once.
func echoServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var inflight, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond) // long enough for concurrent callers to overlap
		body, _ := io.ReadAll(r.Body)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &peak
}

func TestRunSlice(t *testing.T) {
	host := startSleeper(t)
	srv, peak := echoServer(t)
	cfg := DefaultConfig()
	payload := echoPayload(64)
	tests := []struct {
		name     string
		serial   bool
		callers  int
		maxPeak  int64
		wantPeak int64
	}{
		{name: "concurrent", callers: 4, wantPeak: 2},
		{name: "serialized in the client", serial: true, callers: 4, maxPeak: 1, wantPeak: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			peak.Store(0)
			iv := newInvoker(srv.URL, benchkit.NewTransport(tc.callers), cfg, false, payload)
			if tc.serial {
				iv.serial = &sync.Mutex{}
			}
			tg := &target{name: "test", host: host, iv: iv}
			r := runSlice(context.Background(), tg, tc.callers, 50*time.Millisecond, 200*time.Millisecond)
			if r.errors != 0 {
				t.Fatalf("%d errors, first: %s", r.errors, r.firstErr)
			}
			// How many calls land inside the window depends on the machine's
			// load; that calls were made at all shows in the server's peak.
			if r.elapsed < 200*time.Millisecond {
				t.Fatalf("window of %v: the window was not measured", r.elapsed)
			}
			if r.serial != tc.serial || r.callers != tc.callers || len(r.marks) != 1 {
				t.Errorf("result serial=%v callers=%d marks=%d", r.serial, r.callers, len(r.marks))
			}
			if r.cpu < 0 {
				t.Error("host CPU was not sampled")
			}
			if tc.maxPeak > 0 && peak.Load() > tc.maxPeak {
				t.Errorf("%d requests in flight at once, want at most %d", peak.Load(), tc.maxPeak)
			}
			if tc.wantPeak > 0 && peak.Load() < tc.wantPeak {
				t.Errorf("at most %d requests in flight at once, want at least %d", peak.Load(), tc.wantPeak)
			}
		})
	}
}

func TestRunSliceCountsBadEchoes(t *testing.T) {
	host := startSleeper(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		w.Write([]byte(`{"errorMessage":"boom"}`))
	}))
	defer srv.Close()
	iv := newInvoker(srv.URL, benchkit.NewTransport(1), DefaultConfig(), true, echoPayload(32))
	r := runSlice(context.Background(), &target{name: "test", host: host, iv: iv}, 1, 0, 100*time.Millisecond)
	if r.errors == 0 || !strings.Contains(r.firstErr, "function error Unhandled") {
		t.Errorf("errors %d, first %q: want function errors counted", r.errors, r.firstErr)
	}
}

func TestResultMergeAndRatios(t *testing.T) {
	a := result{target: "rie", callers: 1, lat: []time.Duration{time.Millisecond}, elapsed: time.Second, cpu: 10, busy: time.Second}
	a.merge(result{lat: []time.Duration{3 * time.Millisecond}, elapsed: time.Second, cpu: -1, errors: 1, firstErr: "x", busy: time.Second})
	if a.ops() != 2 || a.elapsed != 2*time.Second || a.cpu != -1 || a.errors != 1 || a.firstErr != "x" {
		t.Errorf("merged %+v", a)
	}
	if got := a.opsPerSec(); got != 1 {
		t.Errorf("opsPerSec = %v, want 1", got)
	}
	if got := a.inFlight(); got != 1 {
		t.Errorf("inFlight = %v, want 1", got)
	}
}

func TestRenderReportRatiosAgainstEmulator(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RIEBin = "rie"
	cfg.Callers = []int{1}
	mk := func(name string, n int, lat time.Duration) result {
		r := result{target: name, callers: 1, elapsed: time.Second, busy: time.Second, cpu: -1}
		for range n {
			r.lat = append(r.lat, lat)
		}
		r.p50, r.p99 = percentiles(r.lat)
		r.durations = []float64{0.1}
		return r
	}
	out := renderReport(cfg, env{}, []result{
		mk("rie", 100, time.Millisecond),
		mk("sluice-invoke", 200, 500*time.Microsecond),
		mk("sluice-rie", 50, 2*time.Millisecond),
	}, nil)
	for _, want := range []string{
		"| emulator (RIE) | warm invoke | 1 | 100 | 1.000 | 1.000 | 0.100 | 0.900 | 0 | ? | 100% | 0 | — | — | — |",
		"| sluice Invoke API (SigV4) | warm invoke | 1 | 200 | 0.500 | 0.500 | 0.100 | 0.400 | 0 | ? | 100% | 0 | 2.00× | 0.50× | 0.50× |",
		"| sluice RIE endpoint (unsigned) | warm invoke | 1 | 50 | 2.000 | 2.000 | 0.100 | 1.900 | 0 | ? | 100% | 0 | 0.50× | 2.00× | 2.00× |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks row\n%s\nreport:\n%s", want, out)
		}
	}
}

// BenchmarkSignInvoke is what SigV4 signing costs a caller per invocation,
// which the Invoke API rows pay and the emulator rows do not.
func BenchmarkSignInvoke(b *testing.B) {
	iv := newInvoker("http://127.0.0.1:1/2015-03-31/functions/echo/invocations", benchkit.NewTransport(1), DefaultConfig(), true, echoPayload(128))
	ctx := context.Background()
	for b.Loop() {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, iv.url, bytes.NewReader(iv.payload))
		if err != nil {
			b.Fatal(err)
		}
		if err := iv.signer.SignHTTP(ctx, iv.creds, req, iv.hash, "lambda", iv.region, time.Now().UTC()); err != nil {
			b.Fatal(err)
		}
	}
}
