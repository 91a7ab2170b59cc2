package benchkit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReportCells(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{name: "ratio", got: Ratio(3, 2), want: "1.50×"},
		{name: "ratio by zero", got: Ratio(3, 0), want: "n/a"},
		{name: "cpu", got: FmtCPU(1500 * time.Microsecond), want: "1500 µs"},
		{name: "cpu unknown", got: FmtCPU(-1), want: "?"},
		{name: "no errors", got: ErrCol(0, ""), want: "0"},
		{name: "errors escape pipes", got: ErrCol(2, "a|b"), want: "**2 FAILED** (a/b)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	if got := Ms(1500 * time.Microsecond); got != 1.5 {
		t.Errorf("Ms(1.5ms) = %v", got)
	}
	if got := AddCPU(2, 3); got != 5 {
		t.Errorf("AddCPU(2, 3) = %v", got)
	}
	if got := AddCPU(2, -1); got != -1 {
		t.Errorf("AddCPU(2, unknown) = %v, want -1", got)
	}
}

func TestValidateWindow(t *testing.T) {
	tests := []struct {
		name     string
		duration time.Duration
		warmup   time.Duration
		rounds   int
		wantErr  string
	}{
		{name: "defaults", duration: 5 * time.Second, warmup: time.Second, rounds: 3},
		{name: "zero duration", duration: 0, rounds: 1, wantErr: "-duration: must be positive"},
		{name: "no rounds", duration: time.Second, rounds: 0, wantErr: "-rounds: at least 1"},
		{name: "slices too short", duration: 200 * time.Millisecond, rounds: 3, wantErr: "-rounds: at least 1, and each slice of -duration at least 100ms"},
		{name: "negative warmup", duration: time.Second, warmup: -1, rounds: 1, wantErr: "-warmup: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateWindow(tt.duration, tt.warmup, tt.rounds)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestSluiceServeArgs(t *testing.T) {
	args, err := SluiceServeArgs("127.0.0.1:1", "/d")
	if err != nil {
		t.Fatal(err)
	}
	if len(args) != 9 || args[0] != "serve" || args[2] != "127.0.0.1:1" || args[6] != "/d" || args[8] != "warn" {
		t.Fatalf("args = %q", args)
	}
	if args[3] != "--edge-addr" || !strings.HasPrefix(args[4], "127.0.0.1:") || args[4] == args[2] {
		t.Errorf("edge address %q is not a free loopback port of its own", args[4])
	}
}

func TestPrepareWorkDirAndWriteReport(t *testing.T) {
	base := t.TempDir()
	dir, err := PrepareWorkDir(filepath.Join(base, "a", "b"), "x-")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() || !filepath.IsAbs(dir) {
		t.Fatalf("PrepareWorkDir = %q, %v", dir, err)
	}
	tmp, err := PrepareWorkDir("", "benchkit-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if !strings.Contains(filepath.Base(tmp), "benchkit-test-") {
		t.Errorf("temp work dir %q not named after its prefix", tmp)
	}
	out := filepath.Join(base, "results", "r.md")
	if err := WriteReport(out, "# r\n"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "# r\n" {
		t.Errorf("report file = %q, %v", b, err)
	}
}

func TestDescribeMachine(t *testing.T) {
	m := DescribeMachine()
	if m.CPUs < 1 || m.GoVersion == "" || m.When.IsZero() || m.CPU == "" || m.LoadStart == "" {
		t.Errorf("incomplete description %+v", m)
	}
	if got := FSType(t.TempDir()); got == "" || got == "unknown" {
		t.Errorf("FSType(temp dir) = %q", got)
	}
	// Burn some CPU so that ticks pass: the share is a percentage.
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
	}
	if got := m.StealSince(); !strings.HasSuffix(got, "%") {
		t.Errorf("StealSince() = %q, want a percentage", got)
	}
}
