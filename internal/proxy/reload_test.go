package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mosaic-dev/mosaic/internal/proxyconfig"
	"github.com/mosaic-dev/mosaic/test/fakeopenai"
	"github.com/mosaic-dev/mosaic/test/kubeletfs"
)

// TestReloadUnderLoad swaps configurations while streaming and plain requests run: none fails.
func TestReloadUnderLoad(t *testing.T) {
	up := newUpstream(t, fakeopenai.Options{Chunks: 5, ChunkDelay: 2 * time.Millisecond, NoRecord: true})
	base := cfgHeader + openaiProvider("openai", "up", basicModels)
	h := startProxy(t, base, map[string]*fakeopenai.Server{"up": up})
	configs := []string{
		strings.ReplaceAll(base, "{{up}}", up.URL()),
		strings.ReplaceAll(cfgHeader+openaiProvider("openai", "up", basicModels+"  retry: {maxAttempts: 2}\n")+
			"rateLimits:\n- name: generous\n  providers: [openai]\n  requestsPerMinute: 1000000\n", "{{up}}", up.URL()),
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var done, failed atomic.Int64
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				var err error
				if i%2 == 0 {
					s := h.client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{Model: "simple",
						Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
					for s.Next() {
					}
					err = s.Err()
				} else {
					_, err = h.chat(context.Background(), "simple", "hi")
				}
				if err != nil {
					failed.Add(1)
					t.Errorf("request failed during reloads: %v", err)
				}
				done.Add(1)
			}
		}()
	}
	const reloads = 40
	for i := range reloads {
		cfg, err := proxyconfig.Parse([]byte(configs[i%2]))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.srv.Reload(cfg, nil); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if done.Load() < reloads || failed.Load() != 0 {
		t.Errorf("%d requests, %d failed", done.Load(), failed.Load())
	}
	if got := counterValue(h.srv.metrics.configReloads.WithLabelValues("success")); got != reloads {
		t.Errorf("reloads_total{success} = %v, want %d", got, reloads)
	}
}

func TestInvalidReloadKeepsConfig(t *testing.T) {
	h, _ := basicProxy(t)
	bad, err := proxyconfig.Parse([]byte(cfgHeader + "- name: openai\n  type: OpenAI\n  apiKey: {env: MOSAIC_TEST_UNSET_KEY}\n  models: [{name: other}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = h.srv.Reload(bad, nil)
	if err == nil || !strings.Contains(err.Error(), "providers[0].apiKey") {
		t.Fatalf("reload with an unresolvable key: %v", err)
	}
	if got := counterValue(h.srv.metrics.configReloads.WithLabelValues("failure")); got != 1 {
		t.Errorf("reloads_total{failure} = %v", got)
	}
	if len(h.logs.logLines(t, "configuration reload refused; the previous configuration stays in force")) != 1 {
		t.Error("a refused reload was not logged")
	}
	if _, err := h.chat(context.Background(), "simple", "still there?"); err != nil {
		t.Errorf("the old configuration is gone: %v", err)
	}
}

// writeVolume projects files into v as the kubelet's atomic writer does: a new timestamped
// directory, ..data swapped to it, top-level names linked through ..data.
func writeVolume(t *testing.T, v *kubeletfs.Volume, files map[string]string) {
	t.Helper()
	payload := map[string]kubeletfs.File{}
	for name, content := range files {
		payload[name] = kubeletfs.File{Data: []byte(content), Mode: 0o644}
	}
	if _, err := v.Write(payload); err != nil {
		t.Fatal(err)
	}
}

// TestSymlinkSwapReload rotates the key (twice) and adds a model through Kubernetes-style ..data
// swaps of a projected Secret volume and a ConfigMap volume; the proxy picks each up without a
// restart. The key sits in a subdirectory (SECRETS/<secret>/<key>), as the renderer lays it out:
// that directory is replaced at every update, so only a watch on the volume itself sees the next.
func TestSymlinkSwapReload(t *testing.T) {
	up := newUpstream(t, fakeopenai.Options{})
	root := t.TempDir()
	cfgVol := &kubeletfs.Volume{Dir: filepath.Join(root, "config")}
	keyVol := &kubeletfs.Volume{Dir: filepath.Join(root, "secrets")}
	for _, d := range []string{cfgVol.Dir, keyVol.Dir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	config := func(models string) string {
		return cfgHeader + "- name: openai\n  type: OpenAI\n  endpoint: " + up.URL() + "\n  apiKey: {file: " + filepath.Join(keyVol.Dir, "openai", "api-key") + "}\n  models: " + models + "\n"
	}
	writeVolume(t, keyVol, map[string]string{"openai/api-key": testKey + "\n"})
	writeVolume(t, cfgVol, map[string]string{"proxy.yaml": config("[{name: gpt-4o-mini}]")})

	logs := &syncBuffer{}
	r := &Reloader{ConfigPath: filepath.Join(cfgVol.Dir, "proxy.yaml"), Debounce: 20 * time.Millisecond}
	cfg, env, err := r.Load()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, Options{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Env: env})
	if err != nil {
		t.Fatal(err)
	}
	r.Server = srv
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Run(ctx) }()
	client := openai.NewClient(option.WithBaseURL(serve(t, srv)), option.WithAPIKey(placeholderKey), option.WithMaxRetries(0))
	chat := func(model string) error {
		_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		return err
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not picked up; logs:\n%s", what, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := chat("gpt-4o-mini"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the watcher start

	// Key rotations: each time the upstream accepts only the new key.
	const newKey = "sk-proj-RotatedKey9876543210fedcba"
	for i, key := range []string{"sk-proj-FirstRotation0123456789abcd", newKey} {
		up.SetAPIKey(key)
		writeVolume(t, keyVol, map[string]string{"openai/api-key": key})
		eventually(fmt.Sprintf("rotation %d", i+1), func() bool { return chat("gpt-4o-mini") == nil })
	}

	// A new model in the ConfigMap.
	writeVolume(t, cfgVol, map[string]string{"proxy.yaml": config("[{name: gpt-4o-mini}, {name: simple, target: gpt-4o-mini}]")})
	eventually("new alias", func() bool { return chat("simple") == nil })

	// An invalid ConfigMap is refused; the last good configuration keeps serving.
	writeVolume(t, cfgVol, map[string]string{"proxy.yaml": config("[{name: simple}]") + "  retry: {maxAttempts: 99}\n"})
	eventually("refused reload", func() bool {
		return counterValue(srv.metrics.configReloads.WithLabelValues("failure")) >= 1
	})
	if err := chat("simple"); err != nil {
		t.Errorf("the last good configuration stopped serving: %v", err)
	}
	if !strings.Contains(logs.String(), "providers[0].retry.maxAttempts: must be between 1 and 10") {
		t.Errorf("the refused reload's log does not name the field:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), newKey) || strings.Contains(logs.String(), testKey) {
		t.Error("a key reached the logs")
	}
	var apiErr *openai.Error
	if err := chat("gpt-5"); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("unknown model after reloads: %v", err)
	}
}

// counterValue reads a counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

// TestReloadForgetsRemovedSeries checks that the series of a model removed by a reload go away.
func TestReloadForgetsRemovedSeries(t *testing.T) {
	h, up := basicProxy(t)
	if _, err := h.chat(context.Background(), "simple", "hi"); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		n := 0
		mfs, _ := h.srv.metrics.Registry.Gather()
		for _, mf := range mfs {
			if mf.GetName() != "mosaic_proxy_requests_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "model" && l.GetValue() == "simple" {
						n++
					}
				}
			}
		}
		return n
	}
	if count() == 0 {
		t.Fatal("no series for model simple")
	}
	cfg, err := proxyconfig.Parse([]byte(strings.ReplaceAll(cfgHeader+openaiProvider("openai", "up", "  models: [{name: gpt-4o-mini}]\n"), "{{up}}", up.URL())))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Reload(cfg, nil); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Errorf("%d series of the removed model remain", n)
	}
}
