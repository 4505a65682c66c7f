package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/mosaic-dev/mosaic/test/proxyproc"
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
	if proxyBinary, err = proxyproc.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// proxyProcess is a running mosaic-proxy.
type proxyProcess struct {
	*proxyproc.Process
	// metricsAddr serves /metrics, /healthz and /readyz.
	metricsAddr string
}

// startProxyProcess runs mosaic-proxy with args and exactly env (nothing inherited) in dir, and
// waits until readyPath on metricsAddr answers 200, as the kubelet's startup probe does. The
// process gets SIGTERM when the test ends.
func startProxyProcess(t *testing.T, args, env []string, dir, metricsAddr, readyPath string) *proxyProcess {
	t.Helper()
	if env == nil {
		env = []string{}
	}
	p := proxyproc.Start(t, proxyBinary, proxyproc.Options{Args: args, Env: env, Dir: dir, ReadyURL: "http://" + metricsAddr + readyPath})
	return &proxyProcess{Process: p, metricsAddr: metricsAddr}
}

// events is the process's log without its per-request lines, for failure messages.
func (p *proxyProcess) events() string {
	var out []string
	for _, line := range strings.Split(p.Log.String(), "\n") {
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
func freeAddr(t *testing.T) string { return proxyproc.FreeAddr(t) }
