package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
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

// RateLimitPolicyReconciler reconciles RateLimitPolicies: it resolves each targetRef to an
// LLMProvider and applies Gateway API policy-attachment precedence between policies that target
// the same provider (the oldest creationTimestamp wins, then the first by namespace/name). It
// publishes Accepted, ResolvedRefs, Conflicted and status.targets; the limits themselves are
// enforced by mosaic-proxy. It also publishes Enforced, from the proxy ConfigMaps in use that the
// ProxyConfigReconciler rendered the policy into (IndexConfigMapRateLimit): this reconciler is the
// only writer of a policy's status, so the two controllers never race on it.
//
// Reconciles are event-driven, with no periodic requeue: a policy is reconciled when it changes,
// when an LLMProvider it targets is created or deleted, and when another policy sharing one of its
// targets is created, deleted or changes its targets (so the policy an older one shadowed is
// released as soon as the older one goes), and when a proxy ConfigMap that renders it is written,
// marked unused or deleted.
type RateLimitPolicyReconciler struct {
	// Client reads and patches through the manager's cache.
	Client client.Client
	// Clock stamps condition transitions. Default: the real clock.
	Clock clock.PassiveClock
	// MaxConcurrentReconciles bounds how many policies are reconciled at once.
	// Default: DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int
}

// +kubebuilder:rbac:groups=llm.mosaic.dev,resources=ratelimitpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=llm.mosaic.dev,resources=ratelimitpolicies/status,verbs=get;patch
// +kubebuilder:rbac:groups=llm.mosaic.dev,resources=llmproviders,verbs=get;list;watch

// SetupWithManager fills in defaults, registers the target-name and ConfigMap field indexes and
// starts watching RateLimitPolicies (spec changes, and those of policies sharing a target), the
// creation and deletion of LLMProviders, and the proxy ConfigMaps that render policies (the cache
// should select them with ProxyConfigCacheByObject).
func (r *RateLimitPolicyReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	if err := registerIndex(ctx, mgr.GetFieldIndexer(), &llmv1alpha1.RateLimitPolicy{}, IndexPolicyTargetName, policyTargetNames); err != nil {
		return err
	}
	if err := registerSharedIndex(ctx, mgr.GetFieldIndexer(), &corev1.ConfigMap{}, IndexConfigMapRateLimit, configMapRateLimits); err != nil {
		return err
	}
	specChanged := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	// A provider's existence is all a policy reads of it; its status changes every probe.
	existenceChanged := builder.WithPredicates(predicate.Funcs{
		UpdateFunc: func(event.UpdateEvent) bool { return false },
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&llmv1alpha1.RateLimitPolicy{}, specChanged).
		Watches(&llmv1alpha1.RateLimitPolicy{}, handler.EnqueueRequestsFromMapFunc(r.policiesSharingTargets), specChanged).
		Watches(&llmv1alpha1.LLMProvider{}, handler.EnqueueRequestsFromMapFunc(r.policiesTargetingProvider), existenceChanged).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(policiesInConfigMap),
			builder.WithPredicates(configMapIndexChanged(configMapRateLimits))).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Named("ratelimitpolicy").
		Complete(r)
}

// policiesTargetingProvider maps an LLMProvider event to the policies that target it.
func (r *RateLimitPolicyReconciler) policiesTargetingProvider(ctx context.Context, p client.Object) []reconcile.Request {
	return r.policiesTargeting(ctx, p.GetNamespace(), []string{p.GetName()}, "")
}

// policiesSharingTargets maps a policy event (for the old and the new object of an update) to the
// other policies that target any of its targets: their conflicts may have changed.
func (r *RateLimitPolicyReconciler) policiesSharingTargets(ctx context.Context, o client.Object) []reconcile.Request {
	return r.policiesTargeting(ctx, o.GetNamespace(), policyTargetNames(o), o.GetName())
}

// policiesTargeting lists the policies in namespace targeting any of names, except the one named
// except.
func (r *RateLimitPolicyReconciler) policiesTargeting(ctx context.Context, namespace string, names []string, except string) []reconcile.Request {
	seen := map[string]bool{except: true}
	var reqs []reconcile.Request
	for _, name := range names {
		var list llmv1alpha1.RateLimitPolicyList
		if err := r.Client.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{IndexPolicyTargetName: name}); err != nil {
			logf.FromContext(ctx).Error(err, "listing RateLimitPolicies that target an LLMProvider",
				"llmprovider", types.NamespacedName{Namespace: namespace, Name: name})
			continue
		}
		for i := range list.Items {
			if n := list.Items[i].Name; !seen[n] {
				seen[n] = true
				reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: n}})
			}
		}
	}
	return reqs
}

// Reconcile implements reconcile.Reconciler.
func (r *RateLimitPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	policy := &llmv1alpha1.RateLimitPolicy{}
	if err := r.Client.Get(ctx, req.NamespacedName, policy); err != nil {
		// Deleted: the policies it shadowed were enqueued by policiesSharingTargets.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !policy.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	before := policy.DeepCopy()

	obs, err := r.observeTargets(ctx, policy)
	if err != nil {
		return ctrl.Result{}, err
	}
	configs, err := r.observeConfigs(ctx, policy)
	if err != nil {
		return ctrl.Result{}, err
	}
	updatePolicyStatus(policy, obs, configs, r.Clock.Now())

	if equality.Semantic.DeepEqual(before.Status, policy.Status) {
		return ctrl.Result{}, nil
	}
	if err := r.Client.Status().Patch(ctx, policy, client.MergeFrom(before)); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("patching status of RateLimitPolicy %s: %w", req.NamespacedName, err)
	}
	return ctrl.Result{}, nil
}

// targetObservation is what one reconcile saw of one targetRef.
type targetObservation struct {
	// name of the targeted LLMProvider.
	name string
	// exists is true when the LLMProvider exists.
	exists bool
	// winner is the policy whose limits apply to the target: this policy's name, or an older one's.
	winner string
}

// observeTargets looks up each targetRef's LLMProvider and the policies sharing it.
func (r *RateLimitPolicyReconciler) observeTargets(ctx context.Context, policy *llmv1alpha1.RateLimitPolicy) ([]targetObservation, error) {
	obs := make([]targetObservation, 0, len(policy.Spec.TargetRefs))
	for _, ref := range policy.Spec.TargetRefs {
		if !renderer.TargetsProvider(ref) {
			obs = append(obs, targetObservation{name: ref.Name, winner: policy.Name})
			continue
		}
		key := types.NamespacedName{Namespace: policy.Namespace, Name: ref.Name}
		exists := true
		if err := r.Client.Get(ctx, key, &llmv1alpha1.LLMProvider{}); err != nil {
			if !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("getting LLMProvider %s: %w", key, err)
			}
			exists = false
		}
		var peers llmv1alpha1.RateLimitPolicyList
		if err := r.Client.List(ctx, &peers, client.InNamespace(policy.Namespace),
			client.MatchingFields{IndexPolicyTargetName: ref.Name}); err != nil {
			return nil, fmt.Errorf("listing RateLimitPolicies that target LLMProvider %s: %w", key, err)
		}
		winner := policy
		for i := range peers.Items {
			peer := &peers.Items[i]
			if peer.DeletionTimestamp.IsZero() && renderer.PolicyPrecedes(peer, winner) {
				winner = peer
			}
		}
		obs = append(obs, targetObservation{name: ref.Name, exists: exists, winner: winner.Name})
	}
	return obs, nil
}

// observeConfigs counts the proxy ConfigMaps in use that carry the policy's limits.
func (r *RateLimitPolicyReconciler) observeConfigs(ctx context.Context, policy *llmv1alpha1.RateLimitPolicy) (int, error) {
	var list corev1.ConfigMapList
	if err := r.Client.List(ctx, &list, client.InNamespace(policy.Namespace),
		client.MatchingFields{IndexConfigMapRateLimit: policy.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return 0, fmt.Errorf("listing the proxy ConfigMaps that render RateLimitPolicy %s: %w", client.ObjectKeyFromObject(policy), err)
	}
	return len(list.Items), nil
}
