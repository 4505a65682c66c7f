package e2e

import (
	"bufio"
	"bytes"
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
	"testing"
	"time"
)

// proxyBinary is cmd/mosaic-proxy, built once by TestMain.
var proxyBinary string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mosaic-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	proxyBinary = filepath.Join(dir, "mosaic-proxy")
	build := exec.Command("go", "build", "-o", proxyBinary, "github.com/mosaic-dev/mosaic/cmd/mosaic-proxy")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building mosaic-proxy: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// proxyProcess is a running mosaic-proxy.
type proxyProcess struct {
	// log is the process's stdout and stderr.
	log *syncBuffer
	// metricsAddr serves /metrics, /healthz and /readyz.
	metricsAddr string

	cmd    *exec.Cmd
	exited chan struct{}
}

// startProxyProcess runs mosaic-proxy with args and exactly env (nothing inherited) in dir, and
// waits until readyPath on metricsAddr answers 200, as the kubelet's startup probe does. The
// process gets SIGTERM when the test ends.
func startProxyProcess(t *testing.T, args, env []string, dir, metricsAddr, readyPath string) *proxyProcess {
	t.Helper()
	p := &proxyProcess{log: &syncBuffer{}, metricsAddr: metricsAddr, exited: make(chan struct{})}
	p.cmd = exec.Command(proxyBinary, args...)
	p.cmd.Env = env
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting mosaic-proxy: %v", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.stop)

	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := client.Get("http://" + metricsAddr + readyPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("mosaic-proxy exited at start:\n%s", p.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosaic-proxy not ready after 30s:\n%s", p.log.String())
		}
	}
}

// stop sends SIGTERM (the kubelet's way) and kills the process if it has not ended in 10 s.
func (p *proxyProcess) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// events is the process's log without its per-request lines, for failure messages.
func (p *proxyProcess) events() string {
	var out []string
	for _, line := range strings.Split(p.log.String(), "\n") {
		if !strings.Contains(line, `"msg":"request"`) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// metrics scrapes /metrics.
func (p *proxyProcess) metrics(t *testing.T) metricSet {
	t.Helper()
	resp, err := http.Get("http://" + p.metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("scraping mosaic-proxy: %v", err)
	}
	defer resp.Body.Close()
	set, err := parseMetrics(resp.Body)
	if err != nil {
		t.Fatalf("scraping mosaic-proxy: %v", err)
	}
	return set
}

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// metricSet is a scrape.
type metricSet []sample

// parseMetrics reads the Prometheus text exposition format (the subset client_golang writes:
// no escaped quotes or commas inside the label values this test reads).
func parseMetrics(r interface{ Read([]byte) (int, error) }) (metricSet, error) {
	var set metricSet
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			return nil, fmt.Errorf("metrics line %q has no value", line)
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		s := sample{name: line[:sp], labels: map[string]string{}, value: v}
		if i := strings.IndexByte(s.name, '{'); i >= 0 {
			for _, kv := range strings.Split(strings.TrimSuffix(s.name[i+1:], "}"), ",") {
				if k, val, ok := strings.Cut(kv, "="); ok {
					s.labels[k] = strings.Trim(val, `"`)
				}
			}
			s.name = s.name[:i]
		}
		set = append(set, s)
	}
	return set, sc.Err()
}

// sum adds the samples of name whose labels include every pair of match.
func (s metricSet) sum(name string, match map[string]string) float64 {
	var total float64
next:
	for _, smp := range s {
		if smp.name != name {
			continue
		}
		for k, v := range match {
			if smp.labels[k] != v {
				continue next
			}
		}
		total += smp.value
	}
	return total
}

// reloads is mosaic_proxy_config_reloads_total{result}.
func (s metricSet) reloads(result string) float64 {
	return s.sum("mosaic_proxy_config_reloads_total", map[string]string{"result": result})
}

// freeAddr is a 127.0.0.1 address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for a process's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
