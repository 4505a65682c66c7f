// Package proxyproc runs cmd/mosaic-proxy as a child process for tests: it builds the binary,
// starts it on free 127.0.0.1 ports, waits until its readiness endpoint answers (as the
// kubelet's startup probe does), and stops it when the test ends, so no test leaks a process.
package proxyproc

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles cmd/mosaic-proxy into dir and returns the binary's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "mosaic-proxy")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/mosaic-dev/mosaic/cmd/mosaic-proxy").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building mosaic-proxy: %w\n%s", err, out)
	}
	return bin, nil
}

// Options says how to run the process.
type Options struct {
	// Args are mosaic-proxy's arguments.
	Args []string
	// Env is the whole environment; nil inherits the test's.
	Env []string
	// Dir is the working directory (where a .env file is looked for).
	Dir string
	// ReadyURL answers 200 once the proxy serves, e.g. http://<metrics-listen>/readyz.
	ReadyURL string
	// ReadyTimeout bounds the wait for ReadyURL; 0 means 30s.
	ReadyTimeout time.Duration
}

// Process is a running mosaic-proxy.
type Process struct {
	// Log is the process's standard output and error.
	Log *Log

	cmd    *exec.Cmd
	exited chan struct{}
}

// Start runs bin as o says and waits until o.ReadyURL answers 200. The test fails when the
// process exits first or is not ready in time. The process is stopped when the test ends.
func Start(t testing.TB, bin string, o Options) *Process {
	t.Helper()
	p := &Process{Log: &Log{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, o.Args...)
	p.cmd.Env, p.cmd.Dir = o.Env, o.Dir
	p.cmd.Stdout, p.cmd.Stderr = p.Log, p.Log
	// A test binary killed outright takes the proxy with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting mosaic-proxy: %v", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.Stop)

	wait := o.ReadyTimeout
	if wait == 0 {
		wait = 30 * time.Second
	}
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(wait); ; {
		resp, err := client.Get(o.ReadyURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("mosaic-proxy exited at start:\n%s", p.Log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosaic-proxy not ready after %s:\n%s", wait, p.Log.String())
		}
	}
}

// Stop sends SIGTERM (the kubelet's way), kills the process if it has not ended within 10s,
// and waits for it. It may be called more than once.
func (p *Process) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// FreeAddr is a 127.0.0.1 address whose port was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Log collects a process's output; it is safe for concurrent writes.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String is everything written so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
