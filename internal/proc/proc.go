// Package proc reads a process's resource use from Linux's /proc: its peak
// resident set and its CPU time, for the demo's summary and the benchmarks.
//
// The peak is read from the process itself (VmHWM), not from wait4's
// rusage: a child started by os/exec shares its parent's memory until it
// execs, and Linux reports the parent's high-water mark as the child's.
package proc

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// PeakRSS is the high-water resident set (VmHWM) of process pid, in bytes;
// pid 0 is this process.
func PeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(path(pid, "status"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("proc: VmHWM %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("proc: no VmHWM in " + path(pid, "status"))
}

// CPU is the user plus system CPU time process pid has used so far; pid 0
// is this process.
func CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(path(pid, "stat"))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is parenthesised and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("proc: short " + path(pid, "stat"))
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticks, nil
}

func path(pid int, file string) string {
	if pid == 0 {
		return "/proc/self/" + file
	}
	return fmt.Sprintf("/proc/%d/%s", pid, file)
}
