package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/renderer"
	"github.com/mosaic-dev/mosaic/internal/webhook"
	"github.com/mosaic-dev/mosaic/test/fakeopenai"
	"github.com/mosaic-dev/mosaic/test/kubeletfs"
)

// Load shape of TestHotReloadUnderLoad.
const (
	loadInterval = 20 * time.Millisecond // ~50 requests per second, sent on schedule (open loop)
	loadDuration = 20 * time.Second
	// streamChunkDelay makes every third request a stream of about 100 ms, so that streams are in
	// flight across every swap.
	streamChunkDelay = 20 * time.Millisecond
	// revokeGrace is how long the old key stays valid after the upstream first saw the new one.
	revokeGrace = 500 * time.Millisecond
)

// TestHotReloadUnderLoad runs a mutated pod's sidecar under steady load while, through the
// kubelet's ..data symlink swaps of its volumes, (1) an edited LLMProvider adds an alias to the
// ConfigMap and (2, 3) the Secret's key is rotated twice: the upstream accepts the new key before
// the Secret changes and revokes the old one once it has seen the new one. No request may fail,
// each change must be applied by exactly one reload, and the upstream must never be sent a
// revoked key or the app's placeholder.
func TestHotReloadUnderLoad(t *testing.T) {
	const namespace = "team-a"
	up := newKeyRingUpstream(t, fakeopenai.Options{ChunkDelay: streamChunkDelay, Models: []string{"gpt-4o-mini"}})
	keys := map[string]string{"v1": newAPIKey(), "v2": newAPIKey(), "v3": newAPIKey()}
	up.create("v1", keys["v1"])

	provider := &v1alpha1.LLMProvider{
		ObjectMeta: metav1.ObjectMeta{Name: "openai", Namespace: namespace},
		Spec: v1alpha1.LLMProviderSpec{
			Type:            v1alpha1.ProviderOpenAI,
			Endpoint:        up.URL(),
			APIKeySecretRef: &v1alpha1.SecretKeyRef{Name: "openai", Key: "api-key"},
			Models:          []v1alpha1.Model{{Name: "gpt-4o-mini"}, {Name: "fast", Target: "gpt-4o-mini"}},
		},
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "openai", Namespace: namespace}, Data: map[string][]byte{"api-key": []byte(keys["v1"] + "\n")}}
	render := func() (*corev1.ConfigMap, []v1alpha1.SecretKeyRef) {
		t.Helper()
		res, err := renderer.RenderDetailed(renderer.Input{
			Namespace: namespace, ProviderNames: []string{provider.Name},
			Providers: []v1alpha1.LLMProvider{*provider},
			Secrets:   []renderer.SecretVersion{{Name: secret.Name, Keys: []string{"api-key"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		cm, err := renderer.ConfigMap(namespace, []string{provider.Name}, res.Config)
		if err != nil {
			t.Fatal(err)
		}
		return cm, res.SecretKeys
	}
	cm, secretKeys := render()

	// The pod as the webhook mutates it.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: namespace,
			Labels: map[string]string{renderer.InjectLabel: "true"}, Annotations: map[string]string{renderer.ProvidersAnnotation: provider.Name}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
	}
	webhook.InjectSidecar(pod, webhook.Injection{Sidecar: renderer.DefaultSidecarOptions(), ConfigMapName: cm.Name, SecretKeys: secretKeys})
	objs := kubeletfs.Objects{
		ConfigMaps: map[string]*corev1.ConfigMap{cm.Name: cm},
		Secrets:    map[string]*corev1.Secret{secret.Name: secret},
	}
	sc := runSidecar(t, pod, objs, "SSL_CERT_FILE="+up.caFile)
	env := envMap(sc.appEnv(t, "app"))
	client := openai.NewClient(option.WithBaseURL(env[renderer.BaseURLEnv]), option.WithAPIKey(env[renderer.APIKeyEnv]),
		option.WithMaxRetries(0), option.WithHTTPClient(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}))

	// Steady load.
	var models atomic.Pointer[[]string]
	models.Store(&[]string{"gpt-4o-mini", "fast"})
	stats := &loadStats{}
	ctx, stopLoad := context.WithCancel(context.Background())
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		stats.run(ctx, client, func() []string { return *models.Load() })
	}()
	defer func() { stopLoad(); <-loadDone }()

	start := time.Now()
	at := func(d time.Duration) { time.Sleep(time.Until(start.Add(d))) }
	var figures []string
	var revokedAt []time.Time
	reloads := 0
	// apply swaps one volume through the kubelet's sync and waits for the reload it causes.
	apply := func(what, volume string) (swapped, reloaded time.Time) {
		t.Helper()
		swapped = time.Now()
		if changed := sc.sync(t, objs); !slices.Equal(changed, []string{volume}) {
			t.Fatalf("%s: the kubelet sync changed volumes %v, want [%s]", what, changed, volume)
		}
		reloads++
		reloaded = waitForReloads(t, sc.proc, what, reloads, swapped)
		return swapped, reloaded
	}

	// 1. An edited LLMProvider: a new alias reaches the proxy through the ConfigMap volume.
	at(3 * time.Second)
	provider.Spec.Models = append(provider.Spec.Models, v1alpha1.Model{Name: "smart", Target: "gpt-4o-mini"})
	newCM, _ := render()
	if newCM.Name != cm.Name || newCM.Data[renderer.ConfigKey] == cm.Data[renderer.ConfigKey] {
		t.Fatal("the edited LLMProvider did not change the content of the same ConfigMap")
	}
	objs.ConfigMaps[cm.Name] = newCM
	swapped, reloaded := apply("new alias", renderer.ConfigVolumeName)
	models.Store(&[]string{"gpt-4o-mini", "fast", "smart"})
	figures = append(figures, fmt.Sprintf("alias: ConfigMap swap -> reload applied %s", reloaded.Sub(swapped).Round(time.Millisecond)))
	sentAt := []int64{stats.sent.Load()}

	// 2 and 3. Key rotations: create the new key upstream, swap the Secret volume, revoke the old
	// key once the upstream has seen the new one.
	rotate := func(when time.Duration, from, to string) {
		at(when)
		up.create(to, keys[to])
		secret = secret.DeepCopy()
		secret.Data["api-key"] = []byte(keys[to] + "\n")
		objs.Secrets[secret.Name] = secret
		swapped, reloaded := apply("rotation to "+to, renderer.SecretsVolumeName)
		seen := waitForKey(t, up, to)
		figures = append(figures, fmt.Sprintf("key %s: Secret swap -> reload applied %s, -> first upstream request with it %s",
			to, reloaded.Sub(swapped).Round(time.Millisecond), seen.Sub(swapped).Round(time.Millisecond)))
		if seen.Before(swapped) {
			t.Errorf("the upstream saw key %s before the Secret volume held it", to)
		}
		time.Sleep(revokeGrace)
		up.revoke(from)
		revokedAt = append(revokedAt, time.Now())
		sentAt = append(sentAt, stats.sent.Load())
	}
	rotate(7*time.Second, "v1", "v2")
	rotate(13*time.Second, "v2", "v3")

	at(loadDuration)
	stopLoad()
	<-loadDone
	sentAt = append(sentAt, stats.sent.Load())

	// No request failed, and the load was steady across every change.
	stats.mu.Lock()
	failures := stats.failures
	stats.mu.Unlock()
	if len(failures) > 0 {
		t.Errorf("%d of %d requests failed; first: %s", len(failures), stats.sent.Load(), strings.Join(failures[:min(5, len(failures))], "; "))
	}
	events := []string{"the new alias", "the rotation to v2", "the rotation to v3", "the end"}
	for i := 1; i < len(sentAt); i++ {
		if sentAt[i] <= sentAt[i-1] {
			t.Errorf("no request was sent between %s and %s", events[i-1], events[i])
		}
	}
	// Exactly one reload per change, none refused.
	m := sc.proc.metrics(t)
	if got := m.reloads("success"); got != 3 {
		t.Errorf("mosaic_proxy_config_reloads_total{result=success} = %v, want 3 (one per swap)", got)
	}
	if got := m.reloads("failure"); got != 0 {
		t.Errorf("mosaic_proxy_config_reloads_total{result=failure} = %v", got)
	}
	// Nor did any attempt fail and get retried out of sight.
	if got := m.sum("mosaic_proxy_upstream_errors_total", nil); got != 0 {
		t.Errorf("mosaic_proxy_upstream_errors_total = %v, want 0", got)
	}
	// The upstream was never sent a revoked key, nor the app's placeholder.
	if n := up.unknownKeys(); n != 0 {
		t.Errorf("the upstream got %d requests without a real key", n)
	}
	for _, label := range []string{"v1", "v2", "v3"} {
		u := up.use(label)
		if u.refused != 0 {
			t.Errorf("the upstream refused %d requests with key %s (revoked)", u.refused, label)
		}
		if u.accepted == 0 {
			t.Errorf("key %s was never used", label)
		}
		t.Logf("key %s: %d requests upstream", label, u.accepted)
	}
	if u := up.use("v1"); !u.last.Before(revokedAt[0]) {
		t.Errorf("key v1 was used after its revocation")
	}
	for _, r := range up.api.Requests() {
		var body struct {
			Model string `json:"model"`
		}
		_ = json.Unmarshal(r.Body, &body)
		if body.Model != "gpt-4o-mini" {
			t.Errorf("the upstream got model %q: an alias was not rewritten", body.Model)
			break
		}
	}
	for label, key := range keys {
		if strings.Contains(sc.proc.Log.String(), key) {
			t.Errorf("key %s appears in the proxy's log", label)
		}
	}
	t.Logf("load: %d requests (%d streamed) in %s at one per %s, %d failed", stats.sent.Load(), stats.streamed.Load(),
		loadDuration, loadInterval, len(failures))
	for _, f := range figures {
		t.Log(f)
	}
}

// loadStats counts the load's requests.
type loadStats struct {
	// sent and streamed count requests sent (streamed: those that were streams).
	sent, streamed atomic.Int64

	mu       sync.Mutex
	failures []string
}

// run sends a request every loadInterval until ctx ends, without waiting for earlier ones;
// every third is a stream. Each must succeed with the fake's reply text. It returns when every
// request has ended.
func (s *loadStats) run(ctx context.Context, client openai.Client, models func() []string) {
	want := fakeopenai.ReplyText(fakeopenai.DefaultChunks)
	tick := time.NewTicker(loadInterval)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ms := models()
		model, stream := ms[i%len(ms)], i%3 == 0
		s.sent.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			params := openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
			var got string
			var err error
			if stream {
				s.streamed.Add(1)
				st := client.Chat.Completions.NewStreaming(rctx, params)
				for st.Next() {
					if c := st.Current(); len(c.Choices) > 0 {
						got += c.Choices[0].Delta.Content
					}
				}
				err = st.Err()
			} else {
				var res *openai.ChatCompletion
				if res, err = client.Chat.Completions.New(rctx, params); err == nil && len(res.Choices) > 0 {
					got = res.Choices[0].Message.Content
				}
			}
			if err == nil && got != want {
				err = fmt.Errorf("reply %q, want %q", got, want)
			}
			if err != nil {
				s.mu.Lock()
				s.failures = append(s.failures, fmt.Sprintf("%s (stream %v): %v", model, stream, err))
				s.mu.Unlock()
			}
		}()
	}
}

// waitForReloads polls the proxy's metrics until n reloads succeeded, the last for what, and
// returns when it saw it.
func waitForReloads(t *testing.T, p *proxyProcess, what string, n int, since time.Time) time.Time {
	t.Helper()
	for deadline := since.Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		m := p.metrics(t)
		if got := m.reloads("success"); got >= float64(n) {
			return time.Now()
		}
		if m.reloads("failure") > 0 {
			t.Fatalf("%s: mosaic-proxy refused a reload:\n%s", what, p.events())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: reload %d not applied 10s after the volume swap; proxy log (request lines left out):\n%s", what, n, p.events())
		}
	}
}

// waitForKey waits until the upstream has seen the key labelled label and returns when it first did.
func waitForKey(t *testing.T, up *keyRingUpstream, label string) time.Time {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if u := up.use(label); !u.first.IsZero() {
			return u.first
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upstream has not seen key %s 10s after the Secret swap", label)
		}
	}
}

// envMap turns NAME=value pairs into a map.
func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}
