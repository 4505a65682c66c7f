package controller

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	llmv1alpha1 "github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/metrics"
	"github.com/mosaic-dev/mosaic/internal/provider"
)

// Defaults for what spec.healthCheck leaves unset (the CRD defaults them only when spec.healthCheck
// itself is present).
const (
	// DefaultProbeInterval is the time between probes of one provider.
	DefaultProbeInterval = 60 * time.Second
	// DefaultProbeTimeout bounds one probe.
	DefaultProbeTimeout = 10 * time.Second
	// DefaultMaxConcurrentReconciles is how many providers are reconciled (and probed) at once.
	DefaultMaxConcurrentReconciles = 4
)

// ProviderRegistry finds the adapter of a provider type. *provider.Registry implements it; the
// reconciler never names a concrete adapter.
type ProviderRegistry interface {
	Get(t provider.Type) (provider.Provider, error)
}

var _ ProviderRegistry = (*provider.Registry)(nil)

// LLMProviderReconciler reconciles LLMProviders: it resolves the API key Secret, probes the
// provider at most once per health-check interval, and publishes conditions, health, models and
// quota in status and metrics.
//
// When a probe runs: a reconcile probes when this process has no probe of the provider yet (first
// reconcile after start), when spec changed since the last probe (generation), when the API key
// changed (a SHA-256 fingerprint, held only in memory, differs), or when the last probe is at least
// spec.healthCheck.interval old. Any other reconcile (a Secret event that left the key as it was,
// a cache resync) reuses the last probe's observation, so status, and its lastProbeTime, stay as
// they are and nothing is written.
//
// Secrets are read with SecretReader, which main sets to the manager's uncached API reader, and
// watched metadata-only: the operator keeps no copy of the cluster's Secrets in memory (Helm
// release Secrets alone can run to hundreds of MiB) at the cost of one GET per reconcile.
type LLMProviderReconciler struct {
	// Client reads and patches LLMProviders through the manager's cache.
	Client client.Client
	// ConfigMapReader counts the proxy ConfigMaps in use that include a provider (status.configs)
	// through the IndexConfigMapProvider field index. SetupWithManager sets it to the manager's
	// cached client; nil leaves status.configs at zero.
	ConfigMapReader client.Reader
	// SecretReader reads API key Secrets. Default: the manager's API reader (uncached).
	SecretReader client.Reader
	// Registry gives the adapter of each spec.type. Required.
	Registry ProviderRegistry
	// HTTPClient sends probes. Default: a client over a clone of http.DefaultTransport.
	HTTPClient *http.Client
	// Recorder records Events on transitions a person acts on. Default: the manager's recorder.
	Recorder events.EventRecorder
	// Clock decides when probes are due and stamps status. Default: the real clock.
	Clock clock.PassiveClock
	// Jitter returns the random delay added to an interval before the next probe, so providers
	// created together do not probe together forever. Default: up to 10% of the interval.
	Jitter func(interval time.Duration) time.Duration
	// MaxConcurrentReconciles bounds how many providers are reconciled at once.
	// Default: DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int

	probes probeCache
}

// +kubebuilder:rbac:groups=llm.mosaic.dev,resources=llmproviders,verbs=get;list;watch
// +kubebuilder:rbac:groups=llm.mosaic.dev,resources=llmproviders/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager fills in defaults, registers the Secret-name and ConfigMap field indexes and
// starts watching LLMProviders (spec changes only), the Secrets they reference (metadata only) and
// the proxy ConfigMaps that include them (see ProxyConfigReconciler; the cache should select them
// with ProxyConfigCacheByObject).
func (r *LLMProviderReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Registry == nil {
		return errors.New("LLMProviderReconciler: Registry is required")
	}
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.SecretReader == nil {
		r.SecretReader = mgr.GetAPIReader()
	}
	if r.ConfigMapReader == nil {
		r.ConfigMapReader = mgr.GetClient()
	}
	if r.HTTPClient == nil {
		r.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("llmprovider-controller")
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.Jitter == nil {
		r.Jitter = TenPercentJitter
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	if err := registerIndex(ctx, mgr.GetFieldIndexer(), &llmv1alpha1.LLMProvider{}, IndexProviderSecretName, providerSecretName); err != nil {
		return err
	}
	if err := registerSharedIndex(ctx, mgr.GetFieldIndexer(), &corev1.ConfigMap{}, IndexConfigMapProvider, configMapProviders); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&llmv1alpha1.LLMProvider{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.providersForSecret), builder.OnlyMetadata).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(providersInConfigMap),
			builder.WithPredicates(configMapIndexChanged(configMapProviders))).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Named("llmprovider").
		Complete(r)
}

// TenPercentJitter returns a random duration in [0, interval/10].
func TenPercentJitter(interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(interval)/10 + 1))
}

// providersForSecret maps a Secret event to the LLMProviders whose apiKeySecretRef names it.
func (r *LLMProviderReconciler) providersForSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	var list llmv1alpha1.LLMProviderList
	if err := r.Client.List(ctx, &list, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{IndexProviderSecretName: secret.GetName()}); err != nil {
		logf.FromContext(ctx).Error(err, "listing LLMProviders that reference a Secret",
			"secret", client.ObjectKeyFromObject(secret))
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// providerScope is what one reconcile of one LLMProvider observed.
type providerScope struct {
	// provider is the object being reconciled; its status is rewritten by updateStatus.
	provider *llmv1alpha1.LLMProvider
	// now is when the reconcile began.
	now time.Time
	// adapter serves spec.type; nil when adapterErr says why not.
	adapter    provider.Provider
	adapterErr error
	// credentials is what resolving spec.apiKeySecretRef found.
	credentials credentialObservation
	// apiKey is the resolved key, "" when none is needed or it could not be resolved. It is passed
	// to the adapter and nowhere else.
	apiKey string
	// probeDisabled is spec.healthCheck.disabled.
	probeDisabled bool
	// probe is the outcome of the probe this reconcile ran or reused; nil when none could run.
	probe *probeObservation
	// probed is true when this reconcile ran the probe (rather than reusing a recent one).
	probed bool
	// configs is how many proxy ConfigMaps in use include the provider.
	configs int32
	// result is when to reconcile again.
	result ctrl.Result
}

// credentialObservation is the outcome of resolving spec.apiKeySecretRef.
type credentialObservation struct {
	status  metav1.ConditionStatus
	reason  string
	message string
	// fingerprint identifies the key without holding it; zero when there is no key.
	fingerprint [sha256.Size]byte
}

// probeObservation is the outcome of one probe.
type probeObservation struct {
	// at is when the probe started.
	at time.Time
	// duration is the probe's wall time, failures included.
	duration time.Duration
	// result is set when the probe succeeded, failure when it did not.
	result  *provider.ProbeResult
	failure *provider.ProbeError
}

// Reconcile implements reconcile.Reconciler.
func (r *LLMProviderReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	p := &llmv1alpha1.LLMProvider{}
	if err := r.Client.Get(ctx, req.NamespacedName, p); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			log.V(1).Info("LLMProvider deleted; removed its metrics")
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("getting LLMProvider %s: %w", req.NamespacedName, err)
	}
	if !p.DeletionTimestamp.IsZero() {
		// Another controller's finalizer holds it: stop probing, it is going away.
		r.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}

	before := p.DeepCopy()
	s := &providerScope{provider: p, now: r.Clock.Now()}
	phases := []func(context.Context, *providerScope) error{
		r.reconcileAdapter,
		r.reconcileCredentials,
		r.reconcileProbe,
		r.reconcileConfigs,
	}
	for _, phase := range phases {
		if err := phase(ctx, s); err != nil {
			// Nothing was observed that status could truthfully say: leave it as it is and retry.
			return ctrl.Result{}, err
		}
	}

	updateStatus(s)
	if err := r.patchStatus(ctx, before, p); err != nil {
		return ctrl.Result{}, err
	}
	r.recordReadyTransition(ctx, before, p)
	r.recordMetrics(s)
	return s.result, nil
}

// forget drops what this process remembers of a provider and its metric series.
func (r *LLMProviderReconciler) forget(key types.NamespacedName) {
	r.probes.delete(key)
	metrics.DeleteProvider(key.Namespace, key.Name)
}

// reconcileAdapter finds the adapter of spec.type.
func (r *LLMProviderReconciler) reconcileAdapter(_ context.Context, s *providerScope) error {
	s.adapter, s.adapterErr = r.Registry.Get(provider.Type(s.provider.Spec.Type))
	return nil
}

// reconcileCredentials resolves spec.apiKeySecretRef. Only errors talking to the API server are
// returned; a missing Secret or key is an observation.
func (r *LLMProviderReconciler) reconcileCredentials(ctx context.Context, s *providerScope) error {
	p := s.provider
	ref := p.Spec.APIKeySecretRef
	if ref == nil {
		s.credentials = credentialObservation{
			status:  metav1.ConditionTrue,
			reason:  llmv1alpha1.ReasonNoCredentialsNeeded,
			message: fmt.Sprintf("spec.apiKeySecretRef is not set: %s is probed without an API key", p.Spec.Type),
		}
		return nil
	}
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: p.Namespace, Name: ref.Name}
	if err := r.SecretReader.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			s.credentials = credentialObservation{
				status: metav1.ConditionFalse,
				reason: llmv1alpha1.ReasonSecretNotFound,
				message: fmt.Sprintf("Secret %q named by spec.apiKeySecretRef.name does not exist in namespace %q",
					ref.Name, p.Namespace),
			}
			return nil
		}
		return fmt.Errorf("reading Secret %s: %w", key, err)
	}
	value, ok := secret.Data[ref.Key]
	if !ok {
		s.credentials = credentialObservation{
			status:  metav1.ConditionFalse,
			reason:  llmv1alpha1.ReasonKeyMissingInSecret,
			message: fmt.Sprintf("Secret %q has no key %q (spec.apiKeySecretRef.key)", ref.Name, ref.Key),
		}
		return nil
	}
	// A key written with `echo` or --from-file ends in a newline no provider accepts.
	apiKey := strings.TrimSpace(string(value))
	if apiKey == "" {
		s.credentials = credentialObservation{
			status:  metav1.ConditionFalse,
			reason:  llmv1alpha1.ReasonKeyMissingInSecret,
			message: fmt.Sprintf("key %q of Secret %q (spec.apiKeySecretRef) is empty", ref.Key, ref.Name),
		}
		return nil
	}
	s.apiKey = apiKey
	s.credentials = credentialObservation{
		status:      metav1.ConditionTrue,
		reason:      llmv1alpha1.ReasonSecretResolved,
		message:     fmt.Sprintf("API key read from key %q of Secret %q", ref.Key, ref.Name),
		fingerprint: sha256.Sum256([]byte(apiKey)),
	}
	return nil
}

// reconcileProbe probes the provider when a probe is due (see LLMProviderReconciler), or reuses
// the last probe's observation, and sets when to reconcile next.
func (r *LLMProviderReconciler) reconcileProbe(ctx context.Context, s *providerScope) error {
	p := s.provider
	key := client.ObjectKeyFromObject(p)
	if p.Spec.HealthCheck != nil && p.Spec.HealthCheck.Disabled {
		s.probeDisabled = true
		r.probes.delete(key)
		return nil // nothing periodic to do; spec and Secret changes still reconcile.
	}
	interval := probeInterval(p)
	if s.credentials.status != metav1.ConditionTrue || s.adapter == nil {
		// No probe can run; the Secret watch reconciles as soon as the key appears. The requeue
		// is a backstop for a missed event.
		r.probes.delete(key)
		s.result.RequeueAfter = interval + r.Jitter(interval)
		return nil
	}
	if last, ok := r.probes.get(key); ok && !probeDue(last, p.Generation, s.credentials.fingerprint, s.now, interval) {
		s.probe = &last.observation
		s.result.RequeueAfter = last.observation.at.Add(interval).Sub(s.now) + r.Jitter(interval)
		logf.FromContext(ctx).V(1).Info("probe not due; reusing the last one", "lastProbe", last.observation.at)
		return nil
	}

	probeCtx, cancel := context.WithTimeout(ctx, probeTimeout(p))
	defer cancel()
	ep := provider.Endpoint{BaseURL: p.Spec.Endpoint}
	if p.Spec.Azure != nil {
		ep.APIVersion = p.Spec.Azure.APIVersion
	}
	start := r.Clock.Now()
	res, err := s.adapter.Probe(probeCtx, r.HTTPClient, ep, s.apiKey)
	obs := probeObservation{at: start, duration: r.Clock.Since(start), result: res}
	if err != nil {
		if ctx.Err() != nil {
			// The manager is stopping: this is no observation of the provider.
			return fmt.Errorf("probing %s: %w", key, ctx.Err())
		}
		obs.result = nil
		obs.failure = asProbeError(err)
	}
	r.probes.put(key, probeRecord{generation: p.Generation, credential: s.credentials.fingerprint, observation: obs})
	s.probe, s.probed = &obs, true
	s.result.RequeueAfter = interval + r.Jitter(interval)
	logf.FromContext(ctx).V(1).Info("probed", "reason", probeReason(&obs), "duration", obs.duration)
	return nil
}

// reconcileConfigs counts the proxy ConfigMaps in use that include the provider.
func (r *LLMProviderReconciler) reconcileConfigs(ctx context.Context, s *providerScope) error {
	if r.ConfigMapReader == nil {
		return nil
	}
	p := s.provider
	var list corev1.ConfigMapList
	if err := r.ConfigMapReader.List(ctx, &list, client.InNamespace(p.Namespace),
		client.MatchingFields{IndexConfigMapProvider: p.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing the proxy ConfigMaps that include LLMProvider %s: %w", client.ObjectKeyFromObject(p), err)
	}
	s.configs = int32(len(list.Items))
	return nil
}

// asProbeError turns what Probe returned into a ProbeError. Errors other than *ProbeError come
// from an endpoint no request could be built for; they name no key.
func asProbeError(err error) *provider.ProbeError {
	var pe *provider.ProbeError
	if errors.As(err, &pe) {
		return pe
	}
	return &provider.ProbeError{Reason: provider.Unreachable, Message: err.Error()}
}

// probeDue reports whether last no longer describes the provider: spec or key changed, or it is at
// least interval old.
func probeDue(last probeRecord, generation int64, credential [sha256.Size]byte, now time.Time, interval time.Duration) bool {
	return last.generation != generation ||
		last.credential != credential ||
		now.Sub(last.observation.at) >= interval
}

// probeInterval is spec.healthCheck.interval or DefaultProbeInterval.
func probeInterval(p *llmv1alpha1.LLMProvider) time.Duration {
	if hc := p.Spec.HealthCheck; hc != nil && hc.Interval != nil && hc.Interval.Duration > 0 {
		return hc.Interval.Duration
	}
	return DefaultProbeInterval
}

// probeTimeout is spec.healthCheck.timeout or DefaultProbeTimeout.
func probeTimeout(p *llmv1alpha1.LLMProvider) time.Duration {
	if hc := p.Spec.HealthCheck; hc != nil && hc.Timeout != nil && hc.Timeout.Duration > 0 {
		return hc.Timeout.Duration
	}
	return DefaultProbeTimeout
}

// patchStatus writes p's status with one merge patch against before, unless it did not change.
func (r *LLMProviderReconciler) patchStatus(ctx context.Context, before, p *llmv1alpha1.LLMProvider) error {
	if equality.Semantic.DeepEqual(before.Status, p.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, p, client.MergeFrom(before)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // deleted meanwhile; the delete event cleans up.
		}
		return fmt.Errorf("patching status of LLMProvider %s: %w", client.ObjectKeyFromObject(p), err)
	}
	return nil
}

// recordReadyTransition emits an Event and a log line when Ready changed in a way a person acts on.
func (r *LLMProviderReconciler) recordReadyTransition(ctx context.Context, before, after *llmv1alpha1.LLMProvider) {
	t, ok := readyTransition(
		meta.FindStatusCondition(before.Status.Conditions, llmv1alpha1.ConditionReady),
		meta.FindStatusCondition(after.Status.Conditions, llmv1alpha1.ConditionReady))
	if !ok {
		return
	}
	logf.FromContext(ctx).Info("Ready changed", "ready", t.ready, "reason", t.reason, "message", t.note)
	r.Recorder.Eventf(after, nil, t.eventType, t.reason, "Reconcile", "%s", t.note)
}

// recordMetrics publishes the provider's readiness and, when this reconcile probed, the probe and
// the quota it reported. Like status.quota, the quota series go when no probe can run.
func (r *LLMProviderReconciler) recordMetrics(s *providerScope) {
	p := s.provider
	ready := meta.IsStatusConditionTrue(p.Status.Conditions, llmv1alpha1.ConditionReady)
	metrics.SetProviderReady(p.Namespace, p.Name, string(p.Spec.Type), ready)
	var q provider.Quota
	switch {
	case s.probed:
		metrics.ObserveProbe(p.Namespace, p.Name, string(p.Spec.Type), probeReason(s.probe), s.probe.result != nil, s.probe.duration)
		q = s.probe.quota()
	case s.probe != nil:
		return // the reused probe's quota is already published
	}
	metrics.SetProviderQuota(p.Namespace, p.Name, metrics.ResourceRequests,
		metrics.Quota{Limit: q.RequestsLimit, Remaining: q.RequestsRemaining})
	metrics.SetProviderQuota(p.Namespace, p.Name, metrics.ResourceTokens,
		metrics.Quota{Limit: q.TokensLimit, Remaining: q.TokensRemaining})
}

// probeReason is ProbeSucceeded or the failure's reason.
func probeReason(o *probeObservation) string {
	if o.failure != nil {
		return string(o.failure.Reason)
	}
	return llmv1alpha1.ReasonProbeSucceeded
}

// quota is what the provider reported, on success or failure.
func (o *probeObservation) quota() provider.Quota {
	switch {
	case o.result != nil:
		return o.result.Quota
	case o.failure != nil:
		return o.failure.Quota
	}
	return provider.Quota{}
}

// probeRecord is the last probe of one provider, with what it was made against.
type probeRecord struct {
	generation  int64
	credential  [sha256.Size]byte
	observation probeObservation
}

// probeCache holds the last probe of each provider this process reconciled. A provider's entry
// is only touched by its own reconcile (controller-runtime never reconciles one key
// concurrently); the mutex guards the map.
type probeCache struct {
	mu sync.Mutex
	m  map[types.NamespacedName]probeRecord
}

func (c *probeCache) get(key types.NamespacedName) (probeRecord, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, ok := c.m[key]
	return rec, ok
}

func (c *probeCache) put(key types.NamespacedName, rec probeRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[types.NamespacedName]probeRecord)
	}
	c.m[key] = rec
}

func (c *probeCache) delete(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}
