package lambda

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// liveGroupMembers lists the processes of group pgid that are not zombies.
func liveGroupMembers(t *testing.T, pgid int) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var live []int
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state ppid pgrp ...
		rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
		f := strings.Fields(rest)
		if len(f) < 3 || f[0] == "Z" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			live = append(live, pid)
		}
	}
	return live
}

func TestGroupReaperKillsRegisteredGroupsAtEOF(t *testing.T) {
	start := func() *exec.Cmd {
		// A "function" that starts grandchildren of its own.
		cmd := exec.Command("sh", "-c", "sleep 300 & sleep 300 & wait")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { killGroup(cmd.Process.Pid); cmd.Wait() })
		return cmd
	}
	registered, forgotten := start(), start()
	deadline := time.Now().Add(10 * time.Second)
	for len(liveGroupMembers(t, registered.Process.Pid)) < 3 || len(liveGroupMembers(t, forgotten.Process.Pid)) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("test processes did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}

	in := fmt.Sprintf("+%d\n+%d\n-%d\ngarbage\n+0\n", registered.Process.Pid, forgotten.Process.Pid, forgotten.Process.Pid)
	if err := reapGroups(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	for len(liveGroupMembers(t, registered.Process.Pid)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("group %d still has live processes %v after the reaper's input ended", registered.Process.Pid, liveGroupMembers(t, registered.Process.Pid))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if live := liveGroupMembers(t, forgotten.Process.Pid); len(live) < 3 {
		t.Errorf("a forgotten group was killed: %v left", live)
	}
}
