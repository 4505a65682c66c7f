package controller

import (
	"context"
	"reflect"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	llmv1alpha1 "github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/renderer"
)

// Field indexes of the proxy configuration delivery.
const (
	// IndexConfigMapProvider indexes proxy ConfigMaps in use by the LLMProviders rendered into them
	// (ConfigProvidersAnnotation). A ConfigMap marked unused (UnusedSinceAnnotation) is not indexed,
	// so a lookup finds exactly the configurations in use that include a provider.
	IndexConfigMapProvider = "metadata.annotations.config-providers"
	// IndexConfigMapRateLimit indexes proxy ConfigMaps in use by the RateLimitPolicies rendered into
	// them (ConfigRateLimitsAnnotation); unused ones are not indexed.
	IndexConfigMapRateLimit = "metadata.annotations.config-rate-limits"
	// IndexPodConfig indexes injected pods by the ConfigMap they mount (renderer.ConfigLabel).
	IndexPodConfig = "metadata.labels.proxy-config"
	// IndexPodProvider indexes injected pods by the LLMProviders they request
	// (renderer.ProvidersAnnotation), so a provider event finds a configuration not written yet.
	IndexPodProvider = "metadata.annotations.providers"
	// IndexProviderFallbackName indexes LLMProviders by spec.fallback.providerRef.name, so the
	// creation of a missing fallback finds the providers (and configurations) that wait for it.
	IndexProviderFallbackName = "spec.fallback.providerRef.name"
)

// ProxyConfigCacheByObject returns the manager cache settings for the objects that configuration
// delivery watches, for cache.Options.ByObject: only Pods and ConfigMaps carrying
// renderer.ConfigLabel are cached, so the operator never holds the cluster's other pods and
// ConfigMaps in memory. Cached Pods keep only their metadata and status.phase (all the reconcilers
// read of them): an injected pod's spec is several KiB. Nothing else in the manager may read Pods
// or ConfigMaps through the cached client.
func ProxyConfigCacheByObject() map[client.Object]cache.ByObject {
	hasConfigLabel := labels.NewSelector().Add(mustRequirement(renderer.ConfigLabel, selection.Exists))
	return map[client.Object]cache.ByObject{
		&corev1.Pod{}:       {Label: hasConfigLabel, Transform: trimPod},
		&corev1.ConfigMap{}: {Label: hasConfigLabel, Transform: cache.TransformStripManagedFields()},
	}
}

func mustRequirement(key string, op selection.Operator) labels.Requirement {
	r, err := labels.NewRequirement(key, op, nil)
	if err != nil {
		panic(err) // a constant key and operator: cannot fail
	}
	return *r
}

// trimPod keeps what configuration delivery reads of a pod: its metadata (without managedFields)
// and its phase.
func trimPod(in any) (any, error) {
	pod, ok := in.(*corev1.Pod)
	if !ok {
		return in, nil
	}
	out := &corev1.Pod{TypeMeta: pod.TypeMeta, ObjectMeta: pod.ObjectMeta, Status: corev1.PodStatus{Phase: pod.Status.Phase}}
	out.ManagedFields = nil
	return out, nil
}

// configMapProviders is the IndexConfigMapProvider extractor.
func configMapProviders(o client.Object) []string {
	if isUnusedConfigMap(o) {
		return nil
	}
	return splitNames(o.GetAnnotations()[ConfigProvidersAnnotation])
}

// configMapRateLimits is the IndexConfigMapRateLimit extractor.
func configMapRateLimits(o client.Object) []string {
	if isUnusedConfigMap(o) {
		return nil
	}
	return splitNames(o.GetAnnotations()[ConfigRateLimitsAnnotation])
}

// podConfig is the IndexPodConfig extractor.
func podConfig(o client.Object) []string {
	if name := o.GetLabels()[renderer.ConfigLabel]; name != "" {
		return []string{name}
	}
	return nil
}

// podProviders is the IndexPodProvider extractor; a malformed annotation indexes nothing.
func podProviders(o client.Object) []string {
	names, err := renderer.ParseProvidersAnnotation(o.GetAnnotations()[renderer.ProvidersAnnotation])
	if err != nil {
		return nil
	}
	return names
}

// providerFallbackName is the IndexProviderFallbackName extractor.
func providerFallbackName(o client.Object) []string {
	p, ok := o.(*llmv1alpha1.LLMProvider)
	if !ok {
		return nil
	}
	if name := renderer.FallbackProviderName(p); name != "" {
		return []string{name}
	}
	return nil
}

// sharedIndexes remembers the field indexes registered on each cache, so that reconcilers that
// read one index (IndexConfigMapProvider: the ProxyConfig and LLMProvider reconcilers) can each
// register it, whichever is set up first; a cache refuses a second registration.
var sharedIndexes = struct {
	mu   sync.Mutex
	done map[sharedIndexKey]bool
}{done: map[sharedIndexKey]bool{}}

type sharedIndexKey struct {
	indexer client.FieldIndexer
	object  reflect.Type
	field   string
}

// registerSharedIndex registers a field index unless it is already registered on idx. idx must be
// comparable (the manager's cache is a pointer).
func registerSharedIndex(ctx context.Context, idx client.FieldIndexer, obj client.Object, field string, extract client.IndexerFunc) error {
	key := sharedIndexKey{indexer: idx, object: reflect.TypeOf(obj), field: field}
	sharedIndexes.mu.Lock()
	defer sharedIndexes.mu.Unlock()
	if sharedIndexes.done[key] {
		return nil
	}
	if err := registerIndex(ctx, idx, obj, field, extract); err != nil {
		return err
	}
	sharedIndexes.done[key] = true
	return nil
}

// providersInConfigMap maps a proxy ConfigMap event (old and new object of an update) to the
// LLMProviders it includes, whose status.configs may have changed.
func providersInConfigMap(_ context.Context, cm client.Object) []reconcile.Request {
	return namedRequests(cm.GetNamespace(), splitNames(cm.GetAnnotations()[ConfigProvidersAnnotation]))
}

// policiesInConfigMap maps a proxy ConfigMap event (old and new object of an update) to the
// RateLimitPolicies it renders, whose Enforced condition may have changed.
func policiesInConfigMap(_ context.Context, cm client.Object) []reconcile.Request {
	return namedRequests(cm.GetNamespace(), splitNames(cm.GetAnnotations()[ConfigRateLimitsAnnotation]))
}

func namedRequests(namespace string, names []string) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(names))
	for _, n := range names {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: n}})
	}
	return reqs
}

// configMapIndexChanged passes ConfigMap creations and deletions, and the updates that change what
// extract indexes (a rendered name added or removed, the ConfigMap marked unused or used again).
func configMapIndexChanged(extract client.IndexerFunc) predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			return !slices.Equal(extract(e.ObjectOld), extract(e.ObjectNew))
		},
	}
}
