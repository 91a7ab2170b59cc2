package benchkit

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LoadAvg is /proc/loadavg's 1, 5 and 15 minute averages: the benches share
// the machine, and a busy machine explains odd numbers.
func LoadAvg() string {
	f := strings.Fields(ReadTrim("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// CPUModel is the first "model name" of /proc/cpuinfo.
func CPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// ReadTrim is a small file's trimmed content, or "unknown".
func ReadTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// FSType names the file system holding dir.
func FSType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "unknown"
	}
	switch uint32(st.Type) {
	case 0xEF53:
		return "ext4"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x01021994:
		return "tmpfs (no fsync cost: numbers overstate disk speed)"
	case 0x794c7630:
		return "overlayfs"
	case 0x2FC12FC1:
		return "zfs"
	}
	return fmt.Sprintf("statfs type %#x", st.Type)
}

// FSTypeJournal is FSType saying, for ext4, whether it has a journal:
// without one, fsync skips the journal commit and is much cheaper, which
// changes what durable writes cost.
func FSTypeJournal(dir string) string {
	t := FSType(dir)
	if t == "ext4" {
		t += ext4Journal(dir)
	}
	return t
}

// ext4Journal looks for the jbd2 entry in /proc of the ext4 mount holding
// dir.
func ext4Journal(dir string) string {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return ""
	}
	var source, best string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[2] != "ext4" {
			continue
		}
		mp := f[1]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best, source = mp, f[0]
		}
	}
	if source == "" {
		return ""
	}
	if m, _ := filepath.Glob("/proc/fs/jbd2/" + filepath.Base(source) + "-*"); len(m) > 0 {
		return " (journaled)"
	}
	return " without a journal (fsync is cheaper than on a journaled fs)"
}

// VersionLine runs `bin args...` and returns the first line of its output,
// cut at 120 bytes, with the error of the run; callers print it their way.
func VersionLine(ctx context.Context, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if len(line) > 120 {
		line = line[:120]
	}
	return line, err
}

// Machine is the description printed above every bench's tables: numbers
// from a bench mean little without it.
type Machine struct {
	When      time.Time
	CPU       string // model name
	CPUs      int
	Kernel    string
	FSType    string // of the work dir; set by benches that write data
	GoVersion string // the bench's, which is the client's
	LoadStart string
	LoadEnd   string // set by the bench when it is done

	// start is /proc/stat's CPU ticks at the start.
	start StealClock
}

// StealClock is /proc/stat's steal and total CPU ticks at one moment.
type StealClock struct {
	steal, total uint64
	ok           bool
}

// ReadStealClock reads the CPU tick counters now.
func ReadStealClock() StealClock {
	steal, total, ok := cpuTicks()
	return StealClock{steal: steal, total: total, ok: ok}
}

// StealUntil returns the share of CPU time the hypervisor took from this
// machine between c and d, and false when it is unknown.
func (c StealClock) StealUntil(d StealClock) (float64, bool) {
	if !c.ok || !d.ok || d.total <= c.total {
		return 0, false
	}
	return float64(d.steal-c.steal) / float64(d.total-c.total), true
}

// cpuTicks returns the ticks the hypervisor gave other guests while this
// one wanted the CPU (steal), and all ticks, from /proc/stat.
func cpuTicks() (steal, total uint64, ok bool) {
	line, _, _ := strings.Cut(ReadTrim("/proc/stat"), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, false
	}
	for i, s := range f[1:] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += n
		if i == 7 {
			steal = n
		}
	}
	return steal, total, true
}

// StealSince is the share of CPU time the hypervisor took from this
// machine since DescribeMachine ("" when unknown): on a shared host, the
// time a bench's processes were runnable and did not run.
func (m Machine) StealSince() string {
	share, ok := m.start.StealUntil(ReadStealClock())
	if !ok {
		return ""
	}
	return fmt.Sprintf("%.0f%%", 100*share)
}

// DescribeMachine reads the machine's description at the start of a run.
func DescribeMachine() Machine {
	m := Machine{
		When:      time.Now().UTC(),
		CPU:       CPUModel(),
		CPUs:      runtime.NumCPU(),
		Kernel:    ReadTrim("/proc/sys/kernel/osrelease"),
		GoVersion: runtime.Version(),
		LoadStart: LoadAvg(),
	}
	m.start = ReadStealClock()
	return m
}
