package controller

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	llmv1alpha1 "github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/proxyconfig"
	"github.com/mosaic-dev/mosaic/internal/renderer"
)

// annotatedPod is a pod of namespace "ns" labelled for ConfigMap label with providers annotation
// value (omitted when empty).
func annotatedPod(name, label, providers string, phase corev1.PodPhase) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: map[string]string{renderer.ConfigLabel: label}}}
	if providers != "" {
		p.Annotations = map[string]string{renderer.ProvidersAnnotation: providers}
	}
	p.Status.Phase = phase
	return p
}

func TestProviderSet(t *testing.T) {
	ab := renderer.ConfigMapName("ns", []string{"a", "b"})
	tests := map[string]struct {
		// pods use ConfigMap ab.
		pods []corev1.Pod
		// cm is the existing ConfigMap, or nil.
		cm *corev1.ConfigMap
		// want is the provider set found; nil means an error.
		want []string
	}{
		"from a pod, whatever the annotation's order and spacing": {
			pods: []corev1.Pod{annotatedPod("p", ab, " b , a", "")},
			want: []string{"a", "b"},
		},
		"a pod whose annotation was edited is skipped for one that still matches": {
			pods: []corev1.Pod{annotatedPod("a-edited", ab, "c", ""), annotatedPod("b-intact", ab, "a,b", "")},
			want: []string{"a", "b"},
		},
		"a malformed annotation is skipped": {
			pods: []corev1.Pod{annotatedPod("a-bad", ab, "a,,b", ""), annotatedPod("b-good", ab, "b,a", "")},
			want: []string{"a", "b"},
		},
		"no pod matches: the ConfigMap's own copy": {
			pods: []corev1.Pod{annotatedPod("p", ab, "c", "")},
			cm:   &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{renderer.ProvidersAnnotation: "a,b"}}},
			want: []string{"a", "b"},
		},
		"nothing matches": {
			pods: []corev1.Pod{annotatedPod("p", ab, "", "")},
			cm:   &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{renderer.ProvidersAnnotation: "a"}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := providerSet("ns", ab, tc.pods, tc.cm)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("providerSet = %v, want an error", got)
				}
				if !strings.Contains(err.Error(), renderer.ProvidersAnnotation) || !strings.Contains(err.Error(), ab) {
					t.Errorf("error %q does not name the annotation and the ConfigMap", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("providerSet: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("providerSet (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDesiredConfigMap(t *testing.T) {
	rpm := int64(60)
	rps := func(ns, name string, created time.Time, scope llmv1alpha1.RateLimitScope, targets ...string) llmv1alpha1.RateLimitPolicy {
		p := llmv1alpha1.RateLimitPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(created)}}
		for _, t := range targets {
			p.Spec.TargetRefs = append(p.Spec.TargetRefs, llmv1alpha1.PolicyTargetRef{Kind: "LLMProvider", Name: t})
		}
		p.Spec.Limits.RequestsPerMinute = &rpm
		p.Spec.Scope = scope
		return p
	}
	provider := func(name, fallback string) llmv1alpha1.LLMProvider {
		p := llmv1alpha1.LLMProvider{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
		p.Spec = llmv1alpha1.LLMProviderSpec{Type: llmv1alpha1.ProviderFake, Models: []llmv1alpha1.Model{{Name: "m-" + name}}}
		if fallback != "" {
			p.Spec.Fallback = &llmv1alpha1.Fallback{ProviderRef: &llmv1alpha1.LocalProviderRef{Name: fallback}}
		}
		return p
	}
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		// in is the renderer's input.
		in renderer.Input
		// wantProviders and wantPolicies are the annotations; "" means absent.
		wantProviders, wantPolicies string
	}{
		"fallbacks are listed, policies that win a rendered provider too": {
			in: renderer.Input{
				Namespace: "ns", ProviderNames: []string{"b"},
				Providers: []llmv1alpha1.LLMProvider{provider("b", "a"), provider("a", ""), provider("unused", "")},
				Policies: []llmv1alpha1.RateLimitPolicy{
					rps("ns", "old", t0, llmv1alpha1.ScopePod, "a"),
					rps("ns", "newer", t0.Add(time.Second), llmv1alpha1.ScopePod, "a"),
					rps("ns", "other", t0, llmv1alpha1.ScopePod, "unused"),
					rps("ns", "zb", t0, llmv1alpha1.ScopePod, "b"),
				},
			},
			wantProviders: "a,b",
			wantPolicies:  "old,zb",
		},
		"no policy, and a Global one is not rendered": {
			in: renderer.Input{
				Namespace: "ns", ProviderNames: []string{"a"},
				Providers: []llmv1alpha1.LLMProvider{provider("a", "")},
				Policies:  []llmv1alpha1.RateLimitPolicy{rps("ns", "global", t0, llmv1alpha1.ScopeGlobal, "a")},
			},
			wantProviders: "a",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := renderer.RenderDetailed(tc.in)
			if err != nil {
				t.Fatalf("RenderDetailed: %v", err)
			}
			cm, err := desiredConfigMap("ns", tc.in.ProviderNames, res)
			if err != nil {
				t.Fatalf("desiredConfigMap: %v", err)
			}
			if got := cm.Annotations[ConfigProvidersAnnotation]; got != tc.wantProviders {
				t.Errorf("%s = %q, want %q", ConfigProvidersAnnotation, got, tc.wantProviders)
			}
			if got, ok := cm.Annotations[ConfigRateLimitsAnnotation]; got != tc.wantPolicies || ok != (tc.wantPolicies != "") {
				t.Errorf("%s = %q (present %v), want %q", ConfigRateLimitsAnnotation, got, ok, tc.wantPolicies)
			}
			want, err := proxyconfig.Marshal(res.Config)
			if err != nil {
				t.Fatal(err)
			}
			if got := cm.Data[renderer.ConfigKey]; got != string(want) {
				t.Errorf("data is not the renderer's output:\n%s", cmp.Diff(string(want), got))
			}
			if !isManagedConfigMap(cm, renderer.ConfigMapName("ns", tc.in.ProviderNames)) {
				t.Errorf("the renderer's ConfigMap is not recognised as managed: labels %v", cm.Labels)
			}
		})
	}
}

func TestUpdatedConfigMap(t *testing.T) {
	desired := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      map[string]string{renderer.ConfigLabel: "cm", managedByLabel: managedByValue},
			Annotations: map[string]string{renderer.ProvidersAnnotation: "a", ConfigProvidersAnnotation: "a"},
		},
		Data: map[string]string{renderer.ConfigKey: "v2"},
	}
	withMeta := func(data map[string]string, labels, annotations map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations}, Data: data}
	}
	tests := map[string]struct {
		// current is the ConfigMap in the cluster.
		current *corev1.ConfigMap
		// wantChanged says whether a write is needed.
		wantChanged bool
		// wantAnnotations and wantLabels are the result's, when set.
		wantAnnotations, wantLabels map[string]string
	}{
		"identical: no write": {
			current: withMeta(map[string]string{renderer.ConfigKey: "v2"}, desired.Labels, desired.Annotations),
		},
		"foreign labels and annotations are kept and need no write": {
			current: withMeta(map[string]string{renderer.ConfigKey: "v2"},
				map[string]string{renderer.ConfigLabel: "cm", managedByLabel: managedByValue, "team": "x"},
				map[string]string{renderer.ProvidersAnnotation: "a", ConfigProvidersAnnotation: "a", "note": "y"}),
			wantLabels:      map[string]string{renderer.ConfigLabel: "cm", managedByLabel: managedByValue, "team": "x"},
			wantAnnotations: map[string]string{renderer.ProvidersAnnotation: "a", ConfigProvidersAnnotation: "a", "note": "y"},
		},
		"new content": {
			current:     withMeta(map[string]string{renderer.ConfigKey: "v1"}, desired.Labels, desired.Annotations),
			wantChanged: true,
		},
		"an extra data key is removed": {
			current:     withMeta(map[string]string{renderer.ConfigKey: "v2", "extra": "x"}, desired.Labels, desired.Annotations),
			wantChanged: true,
		},
		"marked unused: the mark goes": {
			current: withMeta(map[string]string{renderer.ConfigKey: "v2"}, desired.Labels,
				map[string]string{renderer.ProvidersAnnotation: "a", ConfigProvidersAnnotation: "a", UnusedSinceAnnotation: "2026-11-27T12:00:00Z"}),
			wantChanged:     true,
			wantAnnotations: desired.Annotations,
		},
		"a policy no longer rendered is unlisted": {
			current: withMeta(map[string]string{renderer.ConfigKey: "v2"}, desired.Labels,
				map[string]string{renderer.ProvidersAnnotation: "a", ConfigProvidersAnnotation: "a", ConfigRateLimitsAnnotation: "old"}),
			wantChanged:     true,
			wantAnnotations: desired.Annotations,
		},
		"labels restored": {
			current:     withMeta(map[string]string{renderer.ConfigKey: "v2"}, nil, desired.Annotations),
			wantChanged: true,
			wantLabels:  desired.Labels,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := tc.current.DeepCopy()
			got, changed := updatedConfigMap(tc.current, desired)
			if changed != tc.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tc.wantChanged)
			}
			if diff := cmp.Diff(before, tc.current); diff != "" {
				t.Errorf("current was modified:\n%s", diff)
			}
			if diff := cmp.Diff(desired.Data, got.Data); diff != "" {
				t.Errorf("data (-want +got):\n%s", diff)
			}
			if tc.wantAnnotations != nil {
				if diff := cmp.Diff(tc.wantAnnotations, got.Annotations); diff != "" {
					t.Errorf("annotations (-want +got):\n%s", diff)
				}
			}
			if tc.wantLabels != nil {
				if diff := cmp.Diff(tc.wantLabels, got.Labels); diff != "" {
					t.Errorf("labels (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestEnforcedCondition(t *testing.T) {
	tests := map[string]struct {
		// scope is the policy's spec.scope.
		scope llmv1alpha1.RateLimitScope
		// configs is how many ConfigMaps in use render the policy.
		configs int
		// want is "Status/Reason".
		want string
	}{
		"rendered into two configs": {scope: llmv1alpha1.ScopePod, configs: 2, want: "True/Enforced"},
		"no config in use":          {scope: llmv1alpha1.ScopePod, want: "False/NotInUse"},
		"Global is never rendered":  {scope: llmv1alpha1.ScopeGlobal, want: "False/ScopeNotEnforced"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := enforcedCondition(tc.scope, tc.configs)
			if c.Type != llmv1alpha1.ConditionEnforced {
				t.Errorf("type = %s", c.Type)
			}
			if got := string(c.Status) + "/" + c.Reason; got != tc.want {
				t.Errorf("Enforced = %s, want %s (%s)", got, tc.want, c.Message)
			}
			if c.Message == "" {
				t.Error("no message")
			}
		})
	}
}

func TestConfigMapIndexes(t *testing.T) {
	tests := map[string]struct {
		// annotations of the ConfigMap.
		annotations map[string]string
		// wantProviders and wantPolicies are what the two indexes extract.
		wantProviders, wantPolicies []string
	}{
		"in use": {
			annotations:   map[string]string{ConfigProvidersAnnotation: "a,b", ConfigRateLimitsAnnotation: "p"},
			wantProviders: []string{"a", "b"},
			wantPolicies:  []string{"p"},
		},
		"unused: indexed nowhere": {
			annotations: map[string]string{ConfigProvidersAnnotation: "a,b", ConfigRateLimitsAnnotation: "p", UnusedSinceAnnotation: "2026-11-27T12:00:00Z"},
		},
		"no policy": {
			annotations:   map[string]string{ConfigProvidersAnnotation: "a"},
			wantProviders: []string{"a"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Annotations: tc.annotations}}
			if diff := cmp.Diff(tc.wantProviders, configMapProviders(cm)); diff != "" {
				t.Errorf("configMapProviders (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantPolicies, configMapRateLimits(cm)); diff != "" {
				t.Errorf("configMapRateLimits (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPodUsageChanged(t *testing.T) {
	base := annotatedPod("p", "cm", "a", corev1.PodRunning)
	with := func(f func(*corev1.Pod)) *corev1.Pod {
		p := base.DeepCopy()
		f(p)
		return p
	}
	tests := map[string]struct {
		// updated is the pod after the update.
		updated *corev1.Pod
		// want is whether the update reaches the reconciler.
		want bool
	}{
		"status churn":           {updated: with(func(p *corev1.Pod) { p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady}} })},
		"terminating":            {updated: with(func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{} })},
		"succeeded":              {updated: with(func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), want: true},
		"failed":                 {updated: with(func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }), want: true},
		"config label edited":    {updated: with(func(p *corev1.Pod) { p.Labels[renderer.ConfigLabel] = "other" }), want: true},
		"providers list edited":  {updated: with(func(p *corev1.Pod) { p.Annotations[renderer.ProvidersAnnotation] = "b" }), want: true},
		"unrelated label edited": {updated: with(func(p *corev1.Pod) { p.Labels["app"] = "x" })},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := podUsageChanged().Update(event.UpdateEvent{ObjectOld: &base, ObjectNew: tc.updated}); got != tc.want {
				t.Errorf("passes = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTrimPod(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{renderer.ConfigLabel: "cm"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1"},
	}
	got, err := trimPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{renderer.ConfigLabel: "cm"}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("trimPod (-want +got):\n%s", diff)
	}
	if other, _ := trimPod("not a pod"); other != "not a pod" {
		t.Errorf("trimPod changed a non-pod: %v", other)
	}
}
