package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	"github.com/mosaic-dev/mosaic/internal/renderer"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata from the current output")

// warningRecorder collects the admission warnings the API server returns.
type warningRecorder struct {
	mu       sync.Mutex
	warnings []string
}

func (w *warningRecorder) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.warnings = append(w.warnings, text)
}

func (w *warningRecorder) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.warnings
	w.warnings = nil
	return out
}

// warnedClient is a client whose requests' warnings land in the returned recorder.
func warnedClient(t *testing.T) (client.Client, *warningRecorder) {
	t.Helper()
	rec := &warningRecorder{}
	cfg := rest.CopyConfig(restConfig)
	cfg.WarningHandler = rec
	c, err := client.New(cfg, client.Options{Scheme: testScheme})
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

// loadObjects decodes a testdata file of YAML documents into typed objects, in file order.
func loadObjects(t *testing.T, path string) []client.Object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	decode := serializer.NewCodecFactory(testScheme).UniversalDeserializer().Decode
	var out []client.Object
	for i, doc := range strings.Split(string(data), "\n---\n") {
		obj, _, err := decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, i, err)
		}
		out = append(out, obj.(client.Object))
	}
	return out
}

func createNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// cleanPod drops what differs between runs (uid, resourceVersion, timestamps, managedFields) and
// the status, leaving the stored spec and metadata the golden files show.
func cleanPod(p *corev1.Pod) *corev1.Pod {
	p = p.DeepCopy()
	p.UID, p.ResourceVersion, p.Generation = "", "", 0
	p.CreationTimestamp = metav1.Time{}
	p.ManagedFields = nil
	p.Status = corev1.PodStatus{}
	return p
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/webhook -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (rerun with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestPodInjectionGolden creates each testdata/pods fixture's objects in a namespace named after
// it, then its pod, through the real API server with the webhooks installed: the stored pod (or
// the denial) and the warnings must match the golden file, the webhook must have been called
// exactly as the labels say, and admitting the stored pod again must change nothing.
func TestPodInjectionGolden(t *testing.T) {
	requireAPIServer(t)
	fixtures, err := filepath.Glob("testdata/pods/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fixtures = slices.DeleteFunc(fixtures, func(p string) bool { return strings.HasSuffix(p, ".golden.yaml") })
	for _, path := range fixtures {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			ns := "pods-" + name
			createNamespace(t, ns)
			objs := loadObjects(t, path)
			pod, ok := objs[len(objs)-1].(*corev1.Pod)
			if !ok {
				t.Fatalf("%s: the last document must be the Pod", path)
			}
			for _, o := range objs[:len(objs)-1] {
				o.SetNamespace(ns)
				if err := k8sClient.Create(ctx, o); err != nil {
					t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
				}
			}
			pod.Namespace = ns
			secretValues := secretValuesOf(objs)

			c, rec := warnedClient(t)
			before := webhookCalls(t, PodPath)
			createErr := c.Create(ctx, pod)
			calls := webhookCalls(t, PodPath) - before

			wantCalls := 0.0
			if pod.Labels[renderer.InjectLabel] == "true" {
				wantCalls = 1
				if pod.Labels[touchLabel] == "true" && createErr == nil {
					wantCalls = 2 // re-invoked after the test webhook changed the pod
				}
			}
			if calls != wantCalls {
				t.Errorf("the API server called the pod webhook %v times, want %v", calls, wantCalls)
			}

			var out bytes.Buffer
			for _, w := range rec.take() {
				fmt.Fprintf(&out, "# warning: %s\n", w)
			}
			var stored corev1.Pod
			if createErr != nil {
				fmt.Fprintf(&out, "# denied: %v\n", createErr)
			} else {
				if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), &stored); err != nil {
					t.Fatal(err)
				}
				data, err := yaml.Marshal(cleanPod(&stored))
				if err != nil {
					t.Fatal(err)
				}
				out.Write(data)
			}
			for _, v := range secretValues {
				if bytes.Contains(out.Bytes(), []byte(v)) {
					t.Errorf("a Secret's key appears in the pod or the webhook's messages")
				}
			}
			compareGolden(t, strings.TrimSuffix(path, ".yaml")+".golden.yaml", out.Bytes())

			if createErr == nil && stored.Labels[renderer.InjectLabel] == "true" {
				assertIdempotent(t, &stored)
			}
		})
	}
}

// assertIdempotent admits an already injected pod again, as the API server does when it
// re-invokes the webhook or when the pod is re-applied: no patch.
func assertIdempotent(t *testing.T, stored *corev1.Pod) {
	t.Helper()
	injector := &PodInjector{Reader: k8sClient, Sidecar: sidecarOpts, Decoder: admission.NewDecoder(testScheme)}
	raw, err := json.Marshal(stored)
	if err != nil {
		t.Fatal(err)
	}
	resp := injector.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Create,
		Namespace: stored.Namespace,
		Object:    runtime.RawExtension{Raw: raw},
	}})
	if !resp.Allowed {
		t.Fatalf("re-admitting the injected pod was denied: %v", resp.Result)
	}
	if len(resp.Patches) != 0 {
		t.Errorf("re-admitting the injected pod patched it again: %v", resp.Patches)
	}
}

func secretValuesOf(objs []client.Object) []string {
	var out []string
	for _, o := range objs {
		if s, ok := o.(*corev1.Secret); ok {
			for _, v := range s.StringData {
				out = append(out, v)
			}
		}
	}
	return out
}

// TestPodWebhookReadsWithoutCache creates a provider and, at once, a pod naming it: the webhook
// reads through the API server (not an informer cache that may lag), so the pod is never denied.
func TestPodWebhookReadsWithoutCache(t *testing.T) {
	requireAPIServer(t)
	ctx := context.Background()
	ns := "uncached"
	createNamespace(t, ns)
	for i := range 20 {
		name := fmt.Sprintf("p%d", i)
		lp := loadObjects(t, "testdata/pods/denied-host-network.yaml")[0]
		lp.SetName(name)
		lp.SetNamespace(ns)
		if err := k8sClient.Create(ctx, lp); err != nil {
			t.Fatal(err)
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{renderer.InjectLabel: "true"},
				Annotations: map[string]string{renderer.ProvidersAnnotation: name}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		}
		if err := k8sClient.Create(ctx, pod); err != nil {
			t.Fatalf("pod %d created right after its provider was denied: %v", i, err)
		}
		if pod.Spec.InitContainers[0].Name != renderer.ContainerName {
			t.Fatalf("pod %d was not injected", i)
		}
	}
}

// TestPodInjectionFollowsConfigMapName checks that the injected ConfigMap volume names the
// ConfigMap the reconciler writes for the pod's provider set, whatever the annotation's order.
func TestPodInjectionFollowsConfigMapName(t *testing.T) {
	requireAPIServer(t)
	ctx := context.Background()
	ns := "cm-names"
	createNamespace(t, ns)
	for _, n := range []string{"a", "b"} {
		lp := loadObjects(t, "testdata/pods/denied-host-network.yaml")[0]
		lp.SetName(n)
		lp.SetNamespace(ns)
		if err := k8sClient.Create(ctx, lp); err != nil {
			t.Fatal(err)
		}
	}
	want := renderer.ConfigMapName(ns, []string{"a", "b"})
	for i, value := range []string{"a,b", "b, a", "b,a,b"} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: ns, Labels: map[string]string{renderer.InjectLabel: "true"},
				Annotations: map[string]string{renderer.ProvidersAnnotation: value}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		}
		if err := k8sClient.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		var got string
		for _, v := range pod.Spec.Volumes {
			if v.Name == renderer.ConfigVolumeName {
				got = v.ConfigMap.Name
			}
		}
		if got != want || pod.Labels[renderer.ConfigLabel] != want {
			t.Errorf("annotation %q: ConfigMap volume %q, label %q, want %q", value, got, pod.Labels[renderer.ConfigLabel], want)
		}
	}
}
