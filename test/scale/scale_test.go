//go:build scale

package scale

import (
	"bufio"
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	llmv1alpha1 "github.com/mosaic-dev/mosaic/api/v1alpha1"
)

// Targets from the issue.
const (
	readyTarget = 60 * time.Second
	rssTarget   = 150 << 20
)

// envInt reads a positive integer setting, or def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestThousandProviders creates MOSAIC_SCALE_PROVIDERS (default 1,000) LLMProviders and Secrets,
// each probing a fake OpenAI every 10 s (the shortest interval the API admits), against the real
// manager binary (default flags) as its own process, and reports:
//   - the time from the first create until every provider is Ready;
//   - the probes per second the upstream received over MOSAIC_SCALE_WINDOW seconds (default 30)
//     once all were Ready, against the rate the intervals ask for;
//   - the manager's peak RSS (VmHWM from /proc).
func TestThousandProviders(t *testing.T) {
	n := envInt("MOSAIC_SCALE_PROVIDERS", 1000)
	window := time.Duration(envInt("MOSAIC_SCALE_WINDOW", 30)) * time.Second
	const interval = 10 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()

	t.Log("building the manager")
	manager := filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-o", manager, "github.com/mosaic-dev/mosaic/cmd/manager")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("building the manager: %v", err)
	}

	t.Log("starting kube-apiserver and etcd")
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest (KUBEBUILDER_ASSETS): %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	admin, err := env.AddUser(envtest.User{Name: "scale-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfigPath := filepath.Join(dir, "kubeconfig")
	mustWrite(t, kubeconfigPath, kubeconfig)

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := llmv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 2000, 4000
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}

	upstream := newUpstream()
	defer upstream.Close()
	caPath := filepath.Join(dir, "upstream-ca.pem")
	mustWrite(t, caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: upstream.Certificate().Raw}))

	t.Log("starting the manager")
	logPath := filepath.Join(dir, "manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	// Admission webhooks need serving certificates and an API server that can reach them;
	// the benchmark measures the reconcilers.
	args := []string{"--kubeconfig=" + kubeconfigPath, "--probe-ca-file=" + caPath,
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--webhooks=false"}
	mgr := exec.Command(manager, args...)
	mgr.Stdout, mgr.Stderr = logFile, logFile
	if err := mgr.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = mgr.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = mgr.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = mgr.Process.Kill()
			<-done
		}
	}()

	const ns = "scale"
	nsObj := &corev1.Namespace{}
	nsObj.Name = ns
	if err := c.Create(ctx, nsObj); err != nil {
		t.Fatal(err)
	}
	w, err := c.Watch(ctx, &llmv1alpha1.LLMProviderList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	allReady := make(chan time.Time, 1)
	go watchReady(w, n, allReady)

	t.Logf("creating %d Secrets and LLMProviders", n)
	start := time.Now()
	var created atomic.Int64
	var wg sync.WaitGroup
	jobs := make(chan int)
	errs := make(chan error, n)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := createProvider(ctx, c, ns, i, upstream.URL+"/v1", interval); err != nil {
					errs <- err
					continue
				}
				created.Add(1)
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("creating: %v", err)
	}
	createdIn := time.Since(start)
	t.Logf("created %d providers in %s", created.Load(), createdIn.Round(time.Millisecond))

	var readyIn time.Duration
	select {
	case at := <-allReady:
		readyIn = at.Sub(start)
	case <-time.After(5 * time.Minute):
		t.Fatalf("not all %d providers Ready after 5m; manager log: %s", n, logPath)
	}
	probesUntilReady := upstream.probes.Load()

	before := upstream.probes.Load()
	time.Sleep(window)
	sustained := float64(upstream.probes.Load()-before) / window.Seconds()
	demanded := float64(n) / (interval.Seconds() * 1.05) // mean jitter is 5% of the interval

	hwm, rss := procStatus(t, mgr.Process.Pid)
	t.Logf("RESULT providers=%d created_in=%s all_ready_in=%s probes_until_all_ready=%d",
		n, createdIn.Round(time.Millisecond), readyIn.Round(time.Millisecond), probesUntilReady)
	t.Logf("RESULT probes_per_second_sustained=%.1f (intervals ask for %.1f) over %s", sustained, demanded, window)
	t.Logf("RESULT manager_peak_rss=%.1fMiB manager_rss_now=%.1fMiB", float64(hwm)/(1<<20), float64(rss)/(1<<20))

	if lines := errorLines(t, logPath); len(lines) > 0 {
		t.Errorf("the manager logged %d errors, the first: %s", len(lines), lines[0])
	}
	if readyIn > readyTarget {
		t.Errorf("all Ready in %s, target %s", readyIn, readyTarget)
	}
	if hwm > rssTarget {
		t.Errorf("manager peak RSS %.1f MiB, target %d MiB", float64(hwm)/(1<<20), rssTarget>>20)
	}
}

// createProvider creates Secret and OpenAI LLMProvider number i.
func createProvider(ctx context.Context, c client.Client, ns string, i int, endpoint string, interval time.Duration) error {
	name := fmt.Sprintf("provider-%04d", i)
	s := &corev1.Secret{}
	s.Namespace, s.Name = ns, name
	s.Data = map[string][]byte{"api-key": fmt.Appendf(nil, "sk-scale-%04d-0123456789abcdef0123456789abcdef", i)}
	if err := c.Create(ctx, s); err != nil {
		return fmt.Errorf("Secret %s: %w", name, err)
	}
	p := &llmv1alpha1.LLMProvider{}
	p.Namespace, p.Name = ns, name
	p.Spec = llmv1alpha1.LLMProviderSpec{
		Type:            llmv1alpha1.ProviderOpenAI,
		Endpoint:        endpoint,
		APIKeySecretRef: &llmv1alpha1.SecretKeyRef{Name: name, Key: "api-key"},
		Models:          []llmv1alpha1.Model{{Name: "gpt-4o-mini"}},
		HealthCheck:     &llmv1alpha1.HealthCheck{Interval: &metav1.Duration{Duration: interval}},
	}
	if err := c.Create(ctx, p); err != nil {
		return fmt.Errorf("LLMProvider %s: %w", name, err)
	}
	return nil
}

// watchReady sends the time at which n providers were Ready at once.
func watchReady(w watch.Interface, n int, allReady chan<- time.Time) {
	ready := map[string]bool{}
	count := 0
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*llmv1alpha1.LLMProvider)
		if !ok {
			continue
		}
		now := ev.Type != watch.Deleted && meta.IsStatusConditionTrue(p.Status.Conditions, llmv1alpha1.ConditionReady)
		if now != ready[p.Name] {
			ready[p.Name] = now
			if now {
				count++
			} else {
				count--
			}
		}
		if count == n {
			allReady <- time.Now()
			return
		}
	}
}

// upstream is a fake OpenAI answering GET /v1/models for keys starting sk-scale-.
type upstream struct {
	*httptest.Server
	probes atomic.Int64
}

func newUpstream() *upstream {
	u := &upstream{}
	u.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.probes.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer sk-scale-") {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`))
			return
		}
		h := w.Header()
		h.Set("x-ratelimit-limit-requests", "10000")
		h.Set("x-ratelimit-remaining-requests", "9999")
		h.Set("x-ratelimit-limit-tokens", "30000000")
		h.Set("x-ratelimit-remaining-tokens", "29999950")
		h.Set("x-ratelimit-reset-requests", "8.64s")
		h.Set("x-ratelimit-reset-tokens", "6ms")
		_, _ = w.Write([]byte(`{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"},{"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"}]}`))
	}))
	return u
}

// procStatus reads VmHWM (peak RSS) and VmRSS of pid, in bytes.
func procStatus(t *testing.T, pid int) (hwm, rss int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the manager's memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "VmHWM:":
			hwm = kb << 10
		case "VmRSS:":
			rss = kb << 10
		}
	}
	return hwm, rss
}

// errorLines returns the lines of the manager's log at error level.
func errorLines(t *testing.T, path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, `"level":"error"`) || strings.Contains(l, "\tERROR\t") {
			out = append(out, l)
		}
	}
	return out
}

func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
