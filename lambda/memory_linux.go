package lambda

import (
	"bytes"
	"strconv"
	"syscall"
)

// treePeakRSS is the sum of the peak resident set sizes (VmHWM) of pid and
// all its descendants, in bytes: the figure Lambda reports as Max Memory Used.
// It reads /proc with raw system calls: it runs after every invocation.
func treePeakRSS(pid int) uint64 {
	var total uint64
	buf := make([]byte, 8192)
	path := make([]byte, 0, 64)
	stack := []int{pid}
	for seen := 0; len(stack) > 0 && seen < 4096; seen++ {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		path = append(strconv.AppendInt(append(path[:0], "/proc/"...), int64(p), 10), "/status"...)
		total += parseVmHWM(readProc(path, buf))
		stack = appendChildren(stack, p, buf, path)
	}
	return total
}

// parseVmHWM finds "VmHWM:  1234 kB" in a /proc status file.
func parseVmHWM(data []byte) uint64 {
	i := bytes.Index(data, []byte("VmHWM:"))
	if i < 0 {
		return 0
	}
	line := data[i+len("VmHWM:"):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	f := bytes.Fields(line)
	if len(f) == 0 {
		return 0
	}
	kb, err := strconv.ParseUint(string(f[0]), 10, 64)
	if err != nil || kb > 1<<40 {
		return 0
	}
	return kb << 10
}

// appendChildren adds the children of every thread of pid.
func appendChildren(stack []int, pid int, buf, path []byte) []int {
	dir := append(strconv.AppendInt(append(path[:0], "/proc/"...), int64(pid), 10), "/task/"...)
	fd, err := syscall.Open(string(dir), syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return stack
	}
	var tids []int
	dents := make([]byte, 4096)
	for {
		n, err := syscall.ReadDirent(fd, dents)
		if err != nil || n <= 0 {
			break
		}
		var names []string
		_, _, names = syscall.ParseDirent(dents[:n], -1, names)
		for _, name := range names {
			if tid, err := strconv.Atoi(name); err == nil {
				tids = append(tids, tid)
			}
		}
	}
	syscall.Close(fd)
	for _, tid := range tids {
		p := append(strconv.AppendInt(dir, int64(tid), 10), "/children"...)
		for _, field := range bytes.Fields(readProc(p, buf)) {
			if c, err := strconv.Atoi(string(field)); err == nil {
				stack = append(stack, c)
			}
		}
	}
	return stack
}

func readProc(path []byte, buf []byte) []byte {
	fd, err := syscall.Open(string(path), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer syscall.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if err != nil || m <= 0 {
			break
		}
		n += m
	}
	return buf[:n]
}
