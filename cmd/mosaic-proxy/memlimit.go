package main

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// cgroupMemoryFiles hold the container's memory limit (cgroup v2, then v1).
var cgroupMemoryFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// memoryLimit decides the Go runtime's soft memory limit for flag (the --memory-limit value)
// and returns it with its source for the start-up log; ok is false when the runtime's own
// setting stays. "auto" sets 90% of the container's memory limit (cgroupLimit, 0 when none),
// so the collector works harder before the kernel would kill the pod, and nothing without a
// container limit or when GOMEMLIMIT is set; "off" keeps the runtime's setting; a size sets it.
//
// There is deliberately no small default: a soft limit does not bound memory that is live. Under
// overload, or with thousands of idle client connections (each holds buffers and a goroutine),
// the live heap passes a 32 MiB limit, and the collector then runs back to back (up to the
// runtime's 50% CPU cap): in the load harness that cut throughput to 0.4x and tripled CPU per
// request (docs/performance.md).
func memoryLimit(flag, gomemlimit string, cgroupLimit int64) (limit int64, source string, ok bool, err error) {
	switch flag {
	case "off":
		return 0, "off", false, nil
	case "auto", "":
		switch {
		case gomemlimit != "":
			return 0, "GOMEMLIMIT", false, nil
		case cgroupLimit > 0:
			return cgroupLimit / 10 * 9, "90% of the container memory limit", true, nil
		}
		return 0, "none", false, nil
	}
	limit, err = parseByteSize(flag)
	if err != nil {
		return 0, "", false, fmt.Errorf("--memory-limit %q: %w", flag, err)
	}
	return limit, "--memory-limit", true, nil
}

// parseByteSize reads a size in GOMEMLIMIT's syntax: an integer with an optional unit B, KiB,
// MiB, GiB or TiB.
func parseByteSize(s string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	num, shift := s, uint(0)
	for _, u := range units {
		if n, found := strings.CutSuffix(s, u.suffix); found {
			num, shift = n, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a positive size such as 48MiB (units B, KiB, MiB, GiB, TiB), \"auto\" or \"off\"")
	}
	if n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("size is too large")
	}
	return n << shift, nil
}

// cgroupMemoryLimit is the container's memory limit in bytes, or 0 when there is none or it
// cannot be read.
func cgroupMemoryLimit() int64 {
	for _, f := range cgroupMemoryFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		n, err := strconv.ParseInt(v, 10, 64)
		// "max" (v2) or a huge number (v1's "unlimited") mean no limit.
		if err != nil || n <= 0 || n >= 1<<60 {
			return 0
		}
		return n
	}
	return 0
}
