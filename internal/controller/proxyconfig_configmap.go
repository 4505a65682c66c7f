package controller

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mosaic-dev/mosaic/internal/renderer"
)

// Annotations the ProxyConfig reconciler writes on each proxy ConfigMap, next to the renderer's
// labels and its renderer.ProvidersAnnotation (the requested set).
const (
	// ConfigProvidersAnnotation lists, comma separated and sorted, the LLMProviders rendered into the
	// ConfigMap's configuration: the requested ones and those reached as fallbacks. LLMProvider
	// status.configs counts the ConfigMaps in use that list a provider here.
	ConfigProvidersAnnotation = "llm.mosaic.dev/config-providers"
	// ConfigRateLimitsAnnotation lists, comma separated and sorted, the RateLimitPolicies whose limits
	// are rendered into the configuration. A policy listed by a ConfigMap in use is Enforced.
	ConfigRateLimitsAnnotation = "llm.mosaic.dev/config-rate-limits"
	// UnusedSinceAnnotation (RFC 3339) marks a ConfigMap no pod uses any more; the reconciler deletes
	// it once it has been unused for its grace period, and removes the mark if a pod uses it again.
	UnusedSinceAnnotation = "llm.mosaic.dev/unused-since"

	// managedByLabel and managedByValue are the renderer's mark of a Mosaic ConfigMap.
	managedByLabel = "app.kubernetes.io/managed-by"
	managedByValue = "mosaic"
)

// splitNames parses a comma-separated annotation value into its non-empty entries.
func splitNames(value string) []string {
	var out []string
	for n := range strings.SplitSeq(value, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// isUnusedConfigMap reports whether a ConfigMap carries UnusedSinceAnnotation.
func isUnusedConfigMap(o client.Object) bool {
	_, ok := o.GetAnnotations()[UnusedSinceAnnotation]
	return ok
}

// isManagedConfigMap reports whether cm is the Mosaic proxy ConfigMap named name: the renderer's
// labels say so. The reconciler never writes or deletes any other ConfigMap.
func isManagedConfigMap(cm *corev1.ConfigMap, name string) bool {
	return cm.Name == name && cm.Labels[renderer.ConfigLabel] == name && cm.Labels[managedByLabel] == managedByValue
}

// podUsesConfig reports whether a pod still needs its proxy configuration: every pod not in a
// terminal phase, terminating pods included (their sidecar runs until they are gone).
func podUsesConfig(pod *corev1.Pod) bool {
	return pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
}

// providerSet finds the LLMProviders behind the ConfigMap name of namespace: the
// llm.mosaic.dev/providers annotation of the first pod (by name) whose annotation hashes to name,
// else the ConfigMap's own copy of it. Annotations are mutable; the pod's volume, which names the
// ConfigMap, is not, so an annotation that no longer hashes to the ConfigMap is ignored.
func providerSet(namespace, name string, pods []corev1.Pod, cm *corev1.ConfigMap) ([]string, error) {
	sorted := slices.Clone(pods)
	slices.SortFunc(sorted, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	for i := range sorted {
		if names, ok := providersFor(namespace, name, sorted[i].Annotations); ok {
			return names, nil
		}
	}
	if cm != nil {
		if names, ok := providersFor(namespace, name, cm.Annotations); ok {
			return names, nil
		}
	}
	return nil, fmt.Errorf("no pod labelled %s=%s has an annotation %s naming the LLMProviders of ConfigMap %q (was it edited after injection?)",
		renderer.ConfigLabel, name, renderer.ProvidersAnnotation, name)
}

// providersFor parses a providers annotation and reports whether it names the set of ConfigMap name.
func providersFor(namespace, name string, annotations map[string]string) ([]string, bool) {
	value, ok := annotations[renderer.ProvidersAnnotation]
	if !ok {
		return nil, false
	}
	names, err := renderer.ParseProvidersAnnotation(value)
	if err != nil || renderer.ConfigMapName(namespace, names) != name {
		return nil, false
	}
	return names, true
}

// desiredConfigMap is the renderer's ConfigMap for a rendered set, annotated with what the
// configuration includes (names taken from the rendered configuration itself).
func desiredConfigMap(namespace string, names []string, res *renderer.Result) (*corev1.ConfigMap, error) {
	cm, err := renderer.ConfigMap(namespace, names, res.Config)
	if err != nil {
		return nil, err
	}
	providers := make([]string, 0, len(res.Config.Providers))
	for _, p := range res.Config.Providers {
		providers = append(providers, p.Name)
	}
	policies := make([]string, 0, len(res.Config.RateLimits))
	for _, l := range res.Config.RateLimits {
		policies = append(policies, strings.TrimPrefix(l.Name, namespace+"/"))
	}
	slices.Sort(providers)
	slices.Sort(policies)
	cm.Annotations[ConfigProvidersAnnotation] = strings.Join(slices.Compact(providers), ",")
	if len(policies) > 0 {
		cm.Annotations[ConfigRateLimitsAnnotation] = strings.Join(slices.Compact(policies), ",")
	}
	return cm, nil
}

// updatedConfigMap returns current changed to carry desired's data, labels and annotations (other
// labels and annotations are left as they are; the data is replaced whole, UnusedSinceAnnotation
// and a stale ConfigRateLimitsAnnotation removed), and whether anything changed.
func updatedConfigMap(current, desired *corev1.ConfigMap) (*corev1.ConfigMap, bool) {
	out := current.DeepCopy()
	out.Data = maps.Clone(desired.Data)
	out.BinaryData = nil
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	maps.Copy(out.Labels, desired.Labels)
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	delete(out.Annotations, UnusedSinceAnnotation)
	delete(out.Annotations, ConfigRateLimitsAnnotation)
	maps.Copy(out.Annotations, desired.Annotations)
	changed := !equality.Semantic.DeepEqual(current.Data, out.Data) ||
		len(current.BinaryData) > 0 ||
		!equality.Semantic.DeepEqual(current.Labels, out.Labels) ||
		!equality.Semantic.DeepEqual(current.Annotations, out.Annotations)
	return out, changed
}

// unusedSince is when cm was marked unused; ok is false when it is not marked (or the mark does
// not parse, which counts as not marked).
func unusedSince(cm *corev1.ConfigMap) (since time.Time, ok bool) {
	v, found := cm.Annotations[UnusedSinceAnnotation]
	if !found {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}
