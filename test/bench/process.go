package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is a child process the harness started and measures.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
}

// startProcess starts bin with args; its stdout and stderr go to a log file
// in dir (kept for diagnosis), except when stdout is wanted by the caller.
func startProcess(name, dir, bin string, args, env []string, stdout bool) (*process, *bufio.Reader, error) {
	p := &process{name: name, logPath: filepath.Join(dir, name+".log"), exited: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		return nil, nil, err
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out *bufio.Reader
	if stdout {
		pipe, err := p.cmd.StdoutPipe()
		if err != nil {
			return nil, nil, err
		}
		out = bufio.NewReader(pipe)
	} else {
		p.cmd.Stdout = logFile
	}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, out, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM, then SIGKILL after 5s, and waits for the exit.
func (p *process) stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// logTail is the end of the process's log, for error messages.
func (p *process) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// waitHTTP polls url (sending auth as Authorization, unless empty) until it answers 200, the process exits or the
// deadline passes; it returns the time of the first 200.
func (p *process) waitHTTP(ctx context.Context, url, auth string, deadline time.Duration) (time.Time, error) {
	client := &http.Client{Timeout: time.Second}
	stop := time.Now().Add(deadline)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return time.Time{}, err
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Now(), nil
			}
		}
		select {
		case <-p.exited:
			return time.Time{}, fmt.Errorf("%s exited before %s answered 200: %s", p.name, url, p.logTail())
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(stop) {
			return time.Time{}, fmt.Errorf("%s: %s did not answer 200 within %v: %s", p.name, url, deadline, p.logTail())
		}
	}
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
var clockTicks = sync.OnceValue(func() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			return v
		}
	}
	return 100
})

// cpuSeconds is the user plus system CPU time a process has used.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed utime/stime in /proc stat")
	}
	return (utime + stime) / clockTicks(), nil
}

// rssKiB is a process's resident set size (VmRSS) in KiB.
func rssKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// usage measures a process over one phase: CPU seconds used and peak RSS
// sampled every 100 ms. A zero pid measures nothing.
type usage struct {
	pid      int
	cpuStart float64
	peak     int64
	done     chan struct{}
	wg       sync.WaitGroup
}

func startUsage(pid int) *usage {
	u := &usage{pid: pid, done: make(chan struct{})}
	if pid == 0 {
		return u
	}
	u.cpuStart, _ = cpuSeconds(pid)
	u.peak, _ = rssKiB(pid)
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-u.done:
				return
			case <-t.C:
				if r, err := rssKiB(pid); err == nil && r > u.peak {
					u.peak = r
				}
			}
		}
	}()
	return u
}

// stop returns the CPU seconds used since start and the peak RSS in KiB
// (both -1 when no process was measured).
func (u *usage) stop() (cpu float64, peakKiB int64) {
	close(u.done)
	u.wg.Wait()
	if u.pid == 0 {
		return -1, -1
	}
	end, err := cpuSeconds(u.pid)
	if err != nil {
		return -1, u.peak
	}
	if r, err := rssKiB(u.pid); err == nil && r > u.peak {
		u.peak = r
	}
	return end - u.cpuStart, u.peak
}
