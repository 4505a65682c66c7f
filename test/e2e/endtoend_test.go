package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/renderer"
	"github.com/mosaic-dev/mosaic/test/fakeopenai"
	"github.com/mosaic-dev/mosaic/test/kubeletfs"
	"github.com/mosaic-dev/mosaic/test/sdk"
)

// TestInjectedSidecarEndToEnd creates an LLMProvider, a RateLimitPolicy, a Secret and an
// opted-in pod through a real API server with Mosaic's webhooks and ConfigMap delivery, runs the
// sidecar of the pod that comes back with exactly its args and the volumes the API server's
// ConfigMap and Secret make, and drives it with the official `openai` npm SDK
// given the app container's injected env: a 503 is retried, a card number is blocked, an alias
// added by editing the LLMProvider and a rotated Secret key reach the running proxy through the
// kubelet's volume updates, and the RateLimitPolicy answers 429. The upstream only ever sees the
// real keys.
func TestInjectedSidecarEndToEnd(t *testing.T) {
	script := sdk.FindScript(t)
	cp := startControlPlane(t)
	c := cp.client
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const ns = "e2e-sidecar"
	up := newKeyRingUpstream(t, fakeopenai.Options{Models: []string{"gpt-4o-mini"}})
	keys := map[string]string{"v1": newAPIKey(), "v2": newAPIKey()}
	up.create("v1", keys["v1"])
	mustCreate(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	mustCreate(ctx, t, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "openai", Namespace: ns}, StringData: map[string]string{"api-key": keys["v1"]}})
	mustCreate(ctx, t, c, &v1alpha1.LLMProvider{
		ObjectMeta: metav1.ObjectMeta{Name: "openai", Namespace: ns},
		Spec: v1alpha1.LLMProviderSpec{
			Type:            v1alpha1.ProviderOpenAI,
			Endpoint:        up.URL(),
			APIKeySecretRef: &v1alpha1.SecretKeyRef{Name: "openai", Key: "api-key"},
			Models:          []v1alpha1.Model{{Name: "gpt-4o-mini"}, {Name: "fast", Target: "gpt-4o-mini"}},
			Retry: &v1alpha1.RetryPolicy{MaxAttempts: 3, Backoff: &v1alpha1.Backoff{
				Initial: &metav1.Duration{Duration: 50 * time.Millisecond}, Max: &metav1.Duration{Duration: 200 * time.Millisecond}}},
			Sanitization: &v1alpha1.Sanitization{Detectors: []v1alpha1.Detector{v1alpha1.DetectorCreditCard}, Action: v1alpha1.ActionBlock},
		},
	})
	rpm := int64(3)
	mustCreate(ctx, t, c, &v1alpha1.RateLimitPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "openai-limits", Namespace: ns},
		Spec: v1alpha1.RateLimitPolicySpec{
			TargetRefs: []v1alpha1.PolicyTargetRef{{Group: v1alpha1.GroupVersion.Group, Kind: "LLMProvider", Name: "openai"}},
			Limits:     v1alpha1.Limits{RequestsPerMinute: &rpm},
			Scope:      v1alpha1.ScopePod,
			OnLimit:    &v1alpha1.OnLimit{Action: v1alpha1.LimitReject},
		},
	})

	// The pod, through the API server and its mutating webhook.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns,
			Labels:      map[string]string{renderer.InjectLabel: "true"},
			Annotations: map[string]string{renderer.ProvidersAnnotation: "openai"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
	}
	mustCreate(ctx, t, c, pod)
	if err := c.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
		t.Fatal(err)
	}
	cmName := checkMutatedPod(t, pod, cp.sidecar)

	// What the kubelet would mount: the ConfigMap the operator delivered (once it holds what the
	// renderer renders from the API server's objects now) and the Secret the projected volume names.
	objects := func() kubeletfs.Objects {
		t.Helper()
		cm := deliveredConfigMap(ctx, t, c, renderConfigMap(ctx, t, c, ns, []string{"openai"}))
		if cm.Name != cmName {
			t.Fatalf("the pod mounts ConfigMap %s, the renderer names it %s", cmName, cm.Name)
		}
		var s corev1.Secret
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "openai"}, &s); err != nil {
			t.Fatal(err)
		}
		return kubeletfs.Objects{ConfigMaps: map[string]*corev1.ConfigMap{cm.Name: cm}, Secrets: map[string]*corev1.Secret{s.Name: &s}}
	}
	sc := runSidecar(t, pod, objects(), "SSL_CERT_FILE="+up.caFile)
	appEnv := sc.appEnv(t, "app")
	var nodeOutput strings.Builder
	runSDK := func(cases string, env ...string) {
		t.Helper()
		out, err := script.Command(ctx, cases, slices.Concat(appEnv, env)...).CombinedOutput()
		nodeOutput.Write(out)
		if err != nil {
			t.Fatalf("node --test openai.test.mjs (cases %s): %v\n%s\nproxy log:\n%s", cases, err, out, sc.proc.Log.String())
		}
		if err := sdk.CheckPassed(out, cases); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
	}
	chats := func() int { return up.api.Count("/v1/chat/completions") }

	// Retries: the upstream answers 503 once; the proxy retries and the SDK sees one success.
	before := chats()
	up.api.Inject(fakeopenai.ServerError(http.StatusServiceUnavailable))
	runSDK("chat", "MOSAIC_SDK_MODEL=fast", "MOSAIC_SDK_EXPECT_TEXT="+fakeopenai.ReplyText(fakeopenai.DefaultChunks))
	if got := chats() - before; got != 2 {
		t.Errorf("the upstream saw %d chat requests for one SDK call with a 503 injected, want 2 (the 503 and the retry)", got)
	}
	m := sc.proc.metrics(t)
	if got := m.sum("mosaic_proxy_retries_total", map[string]string{"provider": "openai", "reason": "ServerError"}); got != 1 {
		t.Errorf("mosaic_proxy_retries_total{reason=ServerError} = %v, want 1", got)
	}

	// Sanitization: a card number is blocked before it leaves the pod.
	before = chats()
	runSDK("blocked")
	if got := chats() - before; got != 0 {
		t.Errorf("a blocked prompt reached the upstream (%d requests)", got)
	}
	if got := sc.proc.metrics(t).sum("mosaic_proxy_sanitizer_hits_total", map[string]string{"detector": "CreditCard", "action": "Block"}); got != 1 {
		t.Errorf("mosaic_proxy_sanitizer_hits_total{CreditCard,Block} = %v, want 1", got)
	}

	// Hot reload: an alias added to the LLMProvider, then the Secret's key rotated (the new key
	// created upstream first, the old one revoked after), each reaching the running proxy through
	// the kubelet's sync of its volumes.
	var lp v1alpha1.LLMProvider
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "openai"}, &lp); err != nil {
		t.Fatal(err)
	}
	lp.Spec.Models = append(lp.Spec.Models, v1alpha1.Model{Name: "smart", Target: "gpt-4o-mini"})
	edited := time.Now()
	if err := c.Update(ctx, &lp); err != nil {
		t.Fatal(err)
	}
	objs := objects()
	t.Logf("LLMProvider edit -> ConfigMap delivered by the operator: %s", time.Since(edited).Round(time.Millisecond))
	kubeletSync(t, sc, objs, renderer.ConfigVolumeName, 1)
	if models := proxyModels(t, sc); !slices.Contains(models, "smart") {
		t.Fatalf("after the reload the proxy lists %v, without the new alias", models)
	}
	up.create("v2", keys["v2"])
	var secret corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "openai"}, &secret); err != nil {
		t.Fatal(err)
	}
	secret.Data["api-key"] = []byte(keys["v2"])
	if err := c.Update(ctx, &secret); err != nil {
		t.Fatal(err)
	}
	kubeletSync(t, sc, objects(), renderer.SecretsVolumeName, 2)
	runSDK("chat", "MOSAIC_SDK_MODEL=smart")
	if u := up.use("v2"); u.accepted != 1 {
		t.Errorf("the upstream saw the rotated key on %d requests, want 1 (the SDK call after the rotation)", u.accepted)
	}
	up.revoke("v1")

	// Limits: requestsPerMinute 3 answers 429 with Retry-After within the script's 5 tries, and
	// the refused request never reaches the upstream.
	before = chats()
	answered := m2xx(sc.proc.metrics(t))
	runSDK("rate_limited")
	m = sc.proc.metrics(t)
	if got := m.sum("mosaic_proxy_rate_limited_total", map[string]string{"provider": "openai", "limit": "requestsPerMinute"}); got != 1 {
		t.Errorf("mosaic_proxy_rate_limited_total{requestsPerMinute} = %v, want 1", got)
	}
	if upstream, proxied := chats()-before, int(m2xx(m)-answered); upstream != proxied {
		t.Errorf("during the rate-limited run the upstream saw %d chat requests, the proxy answered %d with 2xx", upstream, proxied)
	}

	// The upstream saw the real keys only, and no key left the sidecar other than upstream.
	if n := up.unknownKeys(); n != 0 {
		t.Errorf("the upstream got %d requests without a real key (the placeholder?)", n)
	}
	for label := range keys {
		if u := up.use(label); u.refused != 0 {
			t.Errorf("the upstream refused %d requests with key %s", u.refused, label)
		}
	}
	for _, r := range up.api.Requests() {
		for name, values := range r.Header {
			if slices.ContainsFunc(values, func(v string) bool { return strings.Contains(v, renderer.PlaceholderAPIKey) }) {
				t.Errorf("upstream request %s %s carried the app's placeholder key in %s", r.Method, r.Path, name)
			}
		}
		var body struct {
			Model string `json:"model"`
		}
		_ = json.Unmarshal(r.Body, &body)
		if body.Model != "gpt-4o-mini" {
			t.Errorf("the upstream got model %q: an alias was not rewritten", body.Model)
		}
	}
	for label, key := range keys {
		if strings.Contains(sc.proc.Log.String(), key) || strings.Contains(nodeOutput.String(), key) {
			t.Errorf("key %s appears in the proxy's log or the SDK's output", label)
		}
		if slices.ContainsFunc(appEnv, func(kv string) bool { return strings.Contains(kv, key) }) {
			t.Errorf("key %s is in the app container's env", label)
		}
	}
}

// checkMutatedPod checks what the webhook added to pod and returns the name of its ConfigMap.
func checkMutatedPod(t *testing.T, pod *corev1.Pod, opts renderer.SidecarOptions) string {
	t.Helper()
	if len(pod.Spec.InitContainers) == 0 || pod.Spec.InitContainers[0].Name != renderer.ContainerName {
		t.Fatalf("the pod came back without %s as its first init container", renderer.ContainerName)
	}
	sidecar := pod.Spec.InitContainers[0]
	if p := sidecar.RestartPolicy; p == nil || *p != corev1.ContainerRestartPolicyAlways {
		t.Errorf("the sidecar's restartPolicy is %v, want Always (a native sidecar)", p)
	}
	if sidecar.Image != opts.Image {
		t.Errorf("sidecar image %q, want %q", sidecar.Image, opts.Image)
	}
	app := pod.Spec.Containers[0]
	env := map[string]string{}
	for _, e := range app.Env {
		env[e.Name] = e.Value
	}
	if env[renderer.BaseURLEnv] != opts.BaseURL() || env[renderer.APIKeyEnv] != renderer.PlaceholderAPIKey {
		t.Errorf("app env %v, want %s=%s and the placeholder %s", env, renderer.BaseURLEnv, opts.BaseURL(), renderer.APIKeyEnv)
	}
	cmName := renderer.ConfigMapName(pod.Namespace, []string{"openai"})
	if pod.Labels[renderer.ConfigLabel] != cmName {
		t.Errorf("label %s=%q, want %q", renderer.ConfigLabel, pod.Labels[renderer.ConfigLabel], cmName)
	}
	var cmVolume, secretVolume *corev1.Volume
	for i, v := range pod.Spec.Volumes {
		switch v.Name {
		case renderer.ConfigVolumeName:
			cmVolume = &pod.Spec.Volumes[i]
		case renderer.SecretsVolumeName:
			secretVolume = &pod.Spec.Volumes[i]
		}
	}
	if cmVolume == nil || cmVolume.ConfigMap == nil || cmVolume.ConfigMap.Name != cmName {
		t.Fatalf("config volume %+v, want ConfigMap %s", cmVolume, cmName)
	}
	if secretVolume == nil || secretVolume.Projected == nil || len(secretVolume.Projected.Sources) != 1 {
		t.Fatalf("secrets volume %+v, want one projected Secret", secretVolume)
	}
	if src := secretVolume.Projected.Sources[0].Secret; src == nil || src.Name != "openai" ||
		!slices.Equal(src.Items, []corev1.KeyToPath{{Key: "api-key", Path: "openai/api-key"}}) {
		t.Errorf("projected Secret source %+v, want only openai's api-key at openai/api-key", src)
	}
	return cmName
}

// renderConfigMap is the proxy ConfigMap for providers in namespace, rendered from the objects in
// the API server now, to compare with the one the operator delivers.
func renderConfigMap(ctx context.Context, t *testing.T, c client.Reader, namespace string, providers []string) *corev1.ConfigMap {
	t.Helper()
	in, err := renderer.Gather(ctx, c, namespace, providers)
	if err != nil {
		t.Fatal(err)
	}
	res, err := renderer.RenderDetailed(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) > 0 {
		t.Errorf("renderer warnings: %v", res.Warnings)
	}
	cm, err := renderer.ConfigMap(namespace, providers, res.Config)
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

// deliveredConfigMap waits until the operator's ConfigMap named like want holds want's data, and
// returns it as the API server has it.
func deliveredConfigMap(ctx context.Context, t *testing.T, c client.Reader, want *corev1.ConfigMap) *corev1.ConfigMap {
	t.Helper()
	var cm corev1.ConfigMap
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := c.Get(ctx, client.ObjectKeyFromObject(want), &cm)
		if err == nil && maps.Equal(cm.Data, want.Data) {
			return &cm
		}
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("ConfigMap %s/%s does not hold the rendered configuration 30s on (found: %v, %v)", want.Namespace, want.Name, err == nil, err)
		}
	}
}

// kubeletSync projects objs into the sidecar's volumes, expects exactly volume to change, and
// waits until the proxy has applied it (its wantReloads-th successful reload).
func kubeletSync(t *testing.T, sc *localSidecar, objs kubeletfs.Objects, volume string, wantReloads int) {
	t.Helper()
	swapped := time.Now()
	if changed := sc.sync(t, objs); !slices.Equal(changed, []string{volume}) {
		t.Fatalf("the kubelet sync changed volumes %v, want [%s]", changed, volume)
	}
	reloaded := waitForReloads(t, sc.proc, "volume "+volume, wantReloads, swapped)
	t.Logf("volume %s: swap -> reload applied %s", volume, reloaded.Sub(swapped).Round(time.Millisecond))
}

// proxyModels lists the models the sidecar serves (GET /v1/models, answered by the proxy itself).
func proxyModels(t *testing.T, sc *localSidecar) []string {
	t.Helper()
	resp, err := http.Get("http://" + sc.apiAddr + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
	}
	return ids
}

// m2xx is the number of requests the proxy answered with a 2xx status.
func m2xx(m metricSet) float64 {
	return m.sum("mosaic_proxy_requests_total", map[string]string{"code_class": "2xx"})
}

func mustCreate(ctx context.Context, t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(ctx, obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}
