package lambda

import (
	"bytes"
	"os"
	"strconv"
)

// treePeakRSS is the sum of the peak resident set sizes (VmHWM) of pid and
// all its descendants, in bytes: the figure Lambda reports as Max Memory Used.
func treePeakRSS(pid int) uint64 {
	var total uint64
	var buf [4096]byte
	seen := 0
	stack := []int{pid}
	for len(stack) > 0 && seen < 4096 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		seen++
		total += peakRSS(p, buf[:])
		stack = appendChildren(stack, p, buf[:])
	}
	return total
}

// peakRSS reads VmHWM from /proc/PID/status.
func peakRSS(pid int, buf []byte) uint64 {
	data := readProc("/proc/"+strconv.Itoa(pid)+"/status", buf)
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
	if err != nil {
		return 0
	}
	return kb << 10
}

// appendChildren adds the children of every thread of pid.
func appendChildren(stack []int, pid int, buf []byte) []int {
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	f, err := os.Open(dir)
	if err != nil {
		return stack
	}
	tids, _ := f.Readdirnames(-1)
	f.Close()
	for _, tid := range tids {
		data := readProc(dir+tid+"/children", buf)
		for _, field := range bytes.Fields(data) {
			if c, err := strconv.Atoi(string(field)); err == nil {
				stack = append(stack, c)
			}
		}
	}
	return stack
}

func readProc(path string, buf []byte) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	n, _ := f.Read(buf)
	return buf[:n]
}
