package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	llmv1alpha1 "github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/renderer"
)

// DefaultUnusedGracePeriod is how long a proxy ConfigMap no pod uses is kept before it is deleted:
// long enough for a Recreate rollout or a frequent CronJob to find its configuration still there.
const DefaultUnusedGracePeriod = 2 * time.Minute

// Event reasons of the ProxyConfig reconciler.
const (
	// EventReasonRenderFailed: a provider set in use does not render (a requested LLMProvider was
	// deleted, a fallback chain loops, ...); pods keep the last configuration, new pods wait.
	EventReasonRenderFailed = "RenderFailed"
)

// ProxyConfigReconciler delivers mosaic-proxy configurations: one ConfigMap per distinct set of
// LLMProviders that injected pods of a namespace request, named by renderer.ConfigMapName and
// holding exactly what the renderer renders from the namespace's current LLMProviders and
// RateLimitPolicies. It never copies a key: the configuration names key files, and the pod mounts
// the Secret keys itself (a projected volume the webhook adds).
//
// A reconcile request is a ConfigMap's namespace and name. Events map to it as follows: a Pod by
// its renderer.ConfigLabel (the webhook sets it to the ConfigMap it mounts), so a new pod's
// ConfigMap is written as soon as the pod exists (the webhook, sideEffects None, cannot); an
// LLMProvider to the ConfigMaps that render it, the pods that request it, and, through the
// providers that fall back to it, the ConfigMaps waiting for a missing fallback; a RateLimitPolicy
// to those of its targets; a ConfigMap to itself (an edit is reverted, a deletion recreated).
// Secret events are not watched: no Secret content is rendered.
//
// The ConfigMap is written only when its content differs from the rendered one. It is owned by the
// reconciler, not by owner references: when no pod uses it any more (pods in a terminal phase do
// not count, terminating ones do), the reconciler confirms that against the API server, marks it
// UnusedSinceAnnotation and deletes it after UnusedGracePeriod unless a pod uses it again.
// Owner references to the pods were rejected: every pod start and stop would rewrite the
// ConfigMap, and the garbage collector could delete it between the last owner's deletion and the
// next pod's admission, since the webhook cannot add an owner reference to a pod not yet created.
//
// When a set in use no longer renders (its LLMProvider was deleted), the ConfigMap keeps the last
// good configuration, so running proxies keep serving, and a Warning Event says why.
type ProxyConfigReconciler struct {
	// Client reads Pods, ConfigMaps, LLMProviders and RateLimitPolicies through the manager's cache
	// (see ProxyConfigCacheByObject) and writes ConfigMaps.
	Client client.Client
	// APIReader reads what must not come from the cache: Secrets (the renderer only needs their key
	// names; the operator caches no Secret) and the pods of a ConfigMap about to be released.
	// Default: the manager's API reader.
	APIReader client.Reader
	// Recorder records Events. Default: the manager's recorder.
	Recorder events.EventRecorder
	// Clock decides when an unused ConfigMap is deleted. Default: the real clock.
	Clock clock.PassiveClock
	// UnusedGracePeriod is how long a ConfigMap no pod uses is kept; zero deletes it at once.
	UnusedGracePeriod time.Duration
	// MaxConcurrentReconciles bounds how many ConfigMaps are reconciled at once.
	// Default: DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int
}

// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=llm.mosaic.dev,resources=llmproviders,verbs=get;list;watch
// +kubebuilder:rbac:groups=llm.mosaic.dev,resources=ratelimitpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager fills in defaults, registers the field indexes and watches ConfigMaps, Pods,
// LLMProviders and RateLimitPolicies. The manager's cache should select Pods and ConfigMaps with
// ProxyConfigCacheByObject.
func (r *ProxyConfigReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("proxyconfig-controller")
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.UnusedGracePeriod < 0 {
		return fmt.Errorf("ProxyConfigReconciler: UnusedGracePeriod must not be negative, got %s", r.UnusedGracePeriod)
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	idx := mgr.GetFieldIndexer()
	for _, i := range []struct {
		obj     client.Object
		field   string
		extract client.IndexerFunc
	}{
		{&corev1.ConfigMap{}, IndexConfigMapProvider, configMapProviders},
		{&corev1.Pod{}, IndexPodConfig, podConfig},
		{&corev1.Pod{}, IndexPodProvider, podProviders},
		{&llmv1alpha1.LLMProvider{}, IndexProviderFallbackName, providerFallbackName},
	} {
		if err := registerSharedIndex(ctx, idx, i.obj, i.field, i.extract); err != nil {
			return err
		}
	}
	specChanged := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	return ctrl.NewControllerManagedBy(mgr).
		For(&corev1.ConfigMap{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(configOfPod), builder.WithPredicates(podUsageChanged())).
		Watches(&llmv1alpha1.LLMProvider{}, handler.EnqueueRequestsFromMapFunc(r.configsForProvider), specChanged).
		Watches(&llmv1alpha1.RateLimitPolicy{}, handler.EnqueueRequestsFromMapFunc(r.configsForPolicy), specChanged).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Named("proxyconfig").
		Complete(r)
}

// podUsageChanged passes pod creations and deletions, and the updates that change which
// ConfigMap a pod uses or whether it still uses one; it drops the many status updates of a
// running pod.
func podUsageChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldPod, ok1 := e.ObjectOld.(*corev1.Pod)
			newPod, ok2 := e.ObjectNew.(*corev1.Pod)
			if !ok1 || !ok2 {
				return true
			}
			return oldPod.Labels[renderer.ConfigLabel] != newPod.Labels[renderer.ConfigLabel] ||
				oldPod.Annotations[renderer.ProvidersAnnotation] != newPod.Annotations[renderer.ProvidersAnnotation] ||
				podUsesConfig(oldPod) != podUsesConfig(newPod)
		},
	}
}

// configOfPod maps a Pod event to the ConfigMap the pod mounts.
func configOfPod(_ context.Context, pod client.Object) []reconcile.Request {
	name := pod.GetLabels()[renderer.ConfigLabel]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: pod.GetNamespace(), Name: name}}}
}

// configsForProvider maps an LLMProvider event to the configurations it can change: those that
// render it or that pods requesting it use, and the same for every provider that falls back to it
// (a configuration rendered while this provider was missing left that fallback out).
func (r *ProxyConfigReconciler) configsForProvider(ctx context.Context, p client.Object) []reconcile.Request {
	ns := p.GetNamespace()
	names := []string{p.GetName()}
	var dependents llmv1alpha1.LLMProviderList
	if err := r.Client.List(ctx, &dependents, client.InNamespace(ns),
		client.MatchingFields{IndexProviderFallbackName: p.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
		logf.FromContext(ctx).Error(err, "listing LLMProviders that fall back to an LLMProvider", "llmprovider", client.ObjectKeyFromObject(p))
	}
	for i := range dependents.Items {
		names = append(names, dependents.Items[i].Name)
	}
	return r.configsUsing(ctx, ns, names)
}

// configsForPolicy maps a RateLimitPolicy event (old and new object of an update) to the
// configurations that use one of its targets.
func (r *ProxyConfigReconciler) configsForPolicy(ctx context.Context, o client.Object) []reconcile.Request {
	return r.configsUsing(ctx, o.GetNamespace(), policyTargetNames(o))
}

// configsUsing lists the ConfigMaps of namespace in use that render one of providers, and those
// that pods requesting one of them mount (written or not).
func (r *ProxyConfigReconciler) configsUsing(ctx context.Context, namespace string, providers []string) []reconcile.Request {
	log := logf.FromContext(ctx)
	seen := map[string]bool{}
	var reqs []reconcile.Request
	add := func(name string) {
		if name != "" && !seen[name] {
			seen[name] = true
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: name}})
		}
	}
	for _, provider := range providers {
		var cms corev1.ConfigMapList
		if err := r.Client.List(ctx, &cms, client.InNamespace(namespace),
			client.MatchingFields{IndexConfigMapProvider: provider}, client.UnsafeDisableDeepCopy); err != nil {
			log.Error(err, "listing proxy ConfigMaps that render an LLMProvider", "namespace", namespace, "llmprovider", provider)
		}
		for i := range cms.Items {
			add(cms.Items[i].Name)
		}
		var pods corev1.PodList
		if err := r.Client.List(ctx, &pods, client.InNamespace(namespace),
			client.MatchingFields{IndexPodProvider: provider}, client.UnsafeDisableDeepCopy); err != nil {
			log.Error(err, "listing pods that request an LLMProvider", "namespace", namespace, "llmprovider", provider)
		}
		for i := range pods.Items {
			add(pods.Items[i].Labels[renderer.ConfigLabel])
		}
	}
	return reqs
}

// Reconcile implements reconcile.Reconciler: it writes the ConfigMap of the provider set its pods
// use when its content changed, or releases it when no pod uses it.
func (r *ProxyConfigReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	cm := &corev1.ConfigMap{}
	if err := r.Client.Get(ctx, req.NamespacedName, cm); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("getting ConfigMap %s: %w", req.NamespacedName, err)
		}
		cm = nil
	}
	if cm != nil && !isManagedConfigMap(cm, req.Name) {
		log.Info("ConfigMap carries the proxy-config label but is not the Mosaic configuration of that name; leaving it alone")
		return ctrl.Result{}, nil
	}

	pods, err := r.podsUsing(ctx, req.Namespace, req.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	if len(pods) == 0 {
		return r.release(ctx, cm)
	}

	names, err := providerSet(req.Namespace, req.Name, pods, cm)
	if err != nil {
		r.renderFailed(ctx, req, cm, len(pods), err)
		return ctrl.Result{}, nil
	}
	in, err := renderer.Gather(ctx, secretsFromAPI{cached: r.Client, live: r.APIReader}, req.Namespace, names)
	if err != nil {
		if errors.Is(err, renderer.ErrProviderNotFound) {
			// The provider's creation maps back here (IndexPodProvider, IndexConfigMapProvider).
			r.renderFailed(ctx, req, cm, len(pods), err)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	res, err := renderer.RenderDetailed(in)
	if err != nil {
		// Only a CR edit can fix it, and every CR edit that can maps back here.
		r.renderFailed(ctx, req, cm, len(pods), err)
		return ctrl.Result{}, nil
	}
	if len(res.Warnings) > 0 {
		log.V(1).Info("rendered with warnings", "warnings", res.Warnings)
	}
	desired, err := desiredConfigMap(req.Namespace, names, res)
	if err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, r.write(ctx, cm, desired)
}

// podsUsing lists, from the cache, the pods of namespace that mount ConfigMap name and still need it.
func (r *ProxyConfigReconciler) podsUsing(ctx context.Context, namespace, name string) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := r.Client.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{IndexPodConfig: name}); err != nil {
		return nil, fmt.Errorf("listing pods that use ConfigMap %s/%s: %w", namespace, name, err)
	}
	return slices.DeleteFunc(list.Items, func(p corev1.Pod) bool { return !podUsesConfig(&p) }), nil
}

// write creates the ConfigMap or patches it to desired, only when its content differs.
func (r *ProxyConfigReconciler) write(ctx context.Context, current, desired *corev1.ConfigMap) error {
	log := logf.FromContext(ctx)
	if current == nil {
		if err := r.Client.Create(ctx, desired); err != nil {
			// AlreadyExists: not in the cache yet, or a ConfigMap Mosaic does not manage; retried
			// with backoff either way.
			return fmt.Errorf("creating proxy ConfigMap %s/%s: %w", desired.Namespace, desired.Name, err)
		}
		log.Info("created proxy ConfigMap", "providers", desired.Annotations[ConfigProvidersAnnotation])
		return nil
	}
	updated, changed := updatedConfigMap(current, desired)
	if !changed {
		return nil
	}
	if err := r.Client.Patch(ctx, updated, client.MergeFromWithOptions(current, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("updating proxy ConfigMap %s/%s: %w", current.Namespace, current.Name, err)
	}
	log.Info("updated proxy ConfigMap", "providers", desired.Annotations[ConfigProvidersAnnotation])
	return nil
}

// release marks a ConfigMap no pod uses and deletes it once UnusedGracePeriod has passed. The
// cache may not have seen a pod created a moment ago, so the API server is asked first.
func (r *ProxyConfigReconciler) release(ctx context.Context, cm *corev1.ConfigMap) (ctrl.Result, error) {
	if cm == nil {
		return ctrl.Result{}, nil
	}
	log := logf.FromContext(ctx)
	now := r.Clock.Now()
	since, marked := unusedSince(cm)
	if wait := since.Add(r.UnusedGracePeriod).Sub(now); marked && wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}

	var live corev1.PodList
	if err := r.APIReader.List(ctx, &live, client.InNamespace(cm.Namespace), client.MatchingLabels{renderer.ConfigLabel: cm.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing pods that use ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	if slices.ContainsFunc(live.Items, func(p corev1.Pod) bool { return podUsesConfig(&p) }) {
		log.V(1).Info("the cache missed a pod that uses the ConfigMap; its event reconciles again")
		return ctrl.Result{}, nil
	}

	if r.UnusedGracePeriod > 0 && !marked {
		before := cm.DeepCopy()
		if cm.Annotations == nil {
			cm.Annotations = map[string]string{}
		}
		cm.Annotations[UnusedSinceAnnotation] = now.UTC().Format(time.RFC3339)
		if err := r.Client.Patch(ctx, cm, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("marking ConfigMap %s/%s unused: %w", cm.Namespace, cm.Name, err))
		}
		log.Info("no pod uses the proxy ConfigMap; deleting it after the grace period", "gracePeriod", r.UnusedGracePeriod)
		return ctrl.Result{RequeueAfter: r.UnusedGracePeriod}, nil
	}
	uid, rv := cm.UID, cm.ResourceVersion
	if err := r.Client.Delete(ctx, cm, client.Preconditions{UID: &uid, ResourceVersion: &rv}); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("deleting unused ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	log.Info("deleted the proxy ConfigMap no pod uses")
	return ctrl.Result{}, nil
}

// renderFailed reports a provider set that does not render. The ConfigMap, if any, keeps its last
// configuration.
func (r *ProxyConfigReconciler) renderFailed(ctx context.Context, req ctrl.Request, cm *corev1.ConfigMap, pods int, err error) {
	consequence := "the pods using it wait for it in ContainerCreating"
	if cm != nil {
		consequence = "it keeps its last configuration"
	}
	// An observation about the user's objects, not an operator failure: Info, without a stack trace.
	logf.FromContext(ctx).Info("cannot render the proxy configuration", "error", err.Error(), "pods", pods, "consequence", consequence)
	regarding := cm
	if regarding == nil {
		regarding = &corev1.ConfigMap{}
		regarding.Namespace, regarding.Name = req.Namespace, req.Name
	}
	r.Recorder.Eventf(regarding, nil, corev1.EventTypeWarning, EventReasonRenderFailed, "Render",
		"cannot render the mosaic-proxy configuration used by %d pods, so %s: %v", pods, consequence, err)
}

// secretsFromAPI is the renderer's reader: Secrets from the API server (the renderer reads their
// key names only, and the operator keeps no Secret in its cache), everything else from the cache.
type secretsFromAPI struct {
	cached, live client.Reader
}

var _ client.Reader = secretsFromAPI{}

// Get implements client.Reader.
func (s secretsFromAPI) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.Secret); ok {
		return s.live.Get(ctx, key, obj, opts...)
	}
	return s.cached.Get(ctx, key, obj, opts...)
}

// List implements client.Reader.
func (s secretsFromAPI) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*corev1.SecretList); ok {
		return s.live.List(ctx, list, opts...)
	}
	return s.cached.List(ctx, list, opts...)
}
