package benchkit

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of the times in /proc/PID/stat; it is 100
// on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// ProcStat holds what the benches read from one /proc/PID/stat line.
type ProcStat struct {
	PPID int
	// Self is the process's own user + system time.
	Self time.Duration
	// Children is the user + system time of the children it has waited
	// for: an instance that exits mid-window and is reaped moves its time
	// into its parent's figure instead of losing it.
	Children time.Duration
}

// ParseProcStat reads ppid (field 4) and utime, stime, cutime, cstime
// (fields 14 to 17) from a /proc/PID/stat line. The command name (field 2)
// may contain spaces and parentheses, so fields are counted from the last
// ')'.
func ParseProcStat(stat string) (ProcStat, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return ProcStat{}, errors.New("proc stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state): ppid (4) is f[1], utime (14) f[11], stime
	// (15) f[12], cutime (16) f[13], cstime (17) f[14].
	if len(f) < 15 {
		return ProcStat{}, fmt.Errorf("proc stat: %d fields after the command name, want at least 15", len(f))
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil || ppid < 0 {
		return ProcStat{}, fmt.Errorf("proc stat: bad ppid %q", f[1])
	}
	var ticks [4]uint64
	for j, v := range f[11:15] {
		n, err := strconv.ParseUint(v, 10, 64)
		// 2^40 ticks is over 300 years of CPU: anything larger is garbage,
		// and bounding it keeps the conversion to Duration from overflowing.
		if err != nil || n > 1<<40 {
			return ProcStat{}, fmt.Errorf("proc stat: bad CPU time %q", v)
		}
		ticks[j] = n
	}
	return ProcStat{
		PPID:     ppid,
		Self:     time.Duration(ticks[0]+ticks[1]) * clockTick,
		Children: time.Duration(ticks[2]+ticks[3]) * clockTick,
	}, nil
}

// ProcCPU is the CPU time (user + system) process pid has used so far, its
// own only.
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	st, err := ParseProcStat(string(b))
	if err != nil {
		return 0, err
	}
	return st.Self, nil
}

// TreeCPU is the CPU time (user + system) used so far by root and every
// descendant, reaped children included. A descendant that exited counts
// once its parent has reaped it; one exited but not yet reaped is missed
// until then.
func TreeCPU(root int) (time.Duration, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	stats := map[int]ProcStat{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited while we looked
		}
		if st, err := ParseProcStat(string(b)); err == nil {
			stats[pid] = st
		}
	}
	if _, ok := stats[root]; !ok {
		return 0, fmt.Errorf("process %d not found", root)
	}
	return SumTree(stats, root), nil
}

// SumTree adds up the CPU (own and reaped children's) of root and its
// descendants in a ppid map.
func SumTree(stats map[int]ProcStat, root int) time.Duration {
	children := map[int][]int{}
	for pid, st := range stats {
		children[st.PPID] = append(children[st.PPID], pid)
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
		total += stats[pid].Self + stats[pid].Children
		stack = append(stack, children[pid]...)
	}
	return total
}
