package benchkit

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    ProcStat
		wantErr bool
	}{
		{
			name: "plain",
			stat: "1234 (sluice) S 77 1234 1234 0 -1 4194560 1 0 0 0 150 25 0 0 20 0 8 0 100 0 0",
			want: ProcStat{PPID: 77, Self: 1750 * time.Millisecond},
		},
		{
			name: "reaped children count apart",
			stat: "1234 (sluice) S 77 1234 1234 0 -1 4194560 1 0 0 0 150 25 40 2 20 0 8 0 100 0 0",
			want: ProcStat{PPID: 77, Self: 175 * clockTick, Children: 42 * clockTick},
		},
		{
			name: "command with spaces and parentheses",
			stat: "99 (a (b) c) R 1 99 99 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 5 0 0",
			want: ProcStat{PPID: 1, Self: 7 * clockTick},
		},
		{
			name: "command that looks like fields",
			stat: "42 (a) b (c) R 1 42 42 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 5 0 0",
			want: ProcStat{PPID: 1, Self: 70 * time.Millisecond},
		},
		{name: "truncated", stat: "1 (x) S 1 1 1", wantErr: true},
		{name: "no child times", stat: "1 (x) S 1 1 1 0 -1 0 0 0 0 0 1 1", wantErr: true},
		{name: "no command", stat: "1 x S 1", wantErr: true},
		{name: "garbage utime", stat: "1 (x) S 1 1 1 0 -1 0 0 0 0 0 zz 4 0 0", wantErr: true},
		{name: "absurd stime", stat: "1 (x) S 1 1 1 0 -1 0 0 0 0 0 1 99999999999999999 0 0", wantErr: true},
		{name: "negative cutime", stat: "1 (x) S 1 1 1 0 -1 0 0 0 0 0 1 1 -5 0", wantErr: true},
		{name: "negative ppid", stat: "1 (x) S -3 1 1 0 -1 0 0 0 0 0 1 1 0 0", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProcStat(tc.stat)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); !tc.wantErr && diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseProcStat(f *testing.F) {
	for _, s := range []string{
		"1234 (sluice) S 77 1234 1234 0 -1 4194560 1 0 0 0 150 25 0 0 20 0 8 0 100 0 0",
		"42 (a) b (c) R 1 42 42 0 -1 0 0 0 0 0 3 4",
		"1 ()) S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0",
		")", "", "1 () R",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stat string) {
		st, err := ParseProcStat(stat)
		if err == nil && (st.Self < 0 || st.Children < 0 || st.PPID < 0) {
			t.Fatalf("negative figures %+v from %q", st, stat)
		}
	})
}

func TestSumTree(t *testing.T) {
	stats := map[int]ProcStat{
		1:  {PPID: 0, Self: 1000},
		10: {PPID: 1, Self: 90, Children: 10}, // the host
		11: {PPID: 10, Self: 20},              // an instance
		12: {PPID: 11, Self: 3},               // its child
		13: {PPID: 10, Self: 4},               // another instance
		20: {PPID: 1, Self: 500},              // unrelated
	}
	if got := SumTree(stats, 10); got != 127 {
		t.Errorf("SumTree(host) = %d, want 127", got)
	}
	if got := SumTree(stats, 12); got != 3 {
		t.Errorf("SumTree(leaf) = %d, want 3", got)
	}
}

func TestProcCPUOfThisProcess(t *testing.T) {
	if _, err := ProcCPU(os.Getpid()); err != nil {
		t.Fatalf("ProcCPU(self): %v", err)
	}
	if _, err := ProcCPU(1 << 30); err == nil {
		t.Error("ProcCPU of a pid that cannot exist: no error")
	}
}

func TestTreeCPUOfThisProcess(t *testing.T) {
	if _, err := TreeCPU(os.Getpid()); err != nil {
		t.Fatalf("TreeCPU(self): %v", err)
	}
	if _, err := TreeCPU(1 << 30); err == nil {
		t.Error("TreeCPU of a pid that cannot exist: no error")
	}
}

// A child that exited and was reaped keeps counting in its parent's tree, as
// function instances Sluice stopped mid-window must.
func TestTreeCPUKeepsReapedChildren(t *testing.T) {
	before, err := TreeCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run sh: %v", err)
	}
	child := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	after, err := TreeCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// /proc counts in 10 ms ticks, rusage in microseconds.
	if got := after - before; got < child-2*clockTick {
		t.Errorf("tree CPU grew by %v while a reaped child used %v", got, child)
	}
}
