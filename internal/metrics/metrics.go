// Package metrics defines the operator's Prometheus metrics, registered on controller-runtime's
// registry (sigs.k8s.io/controller-runtime/pkg/metrics.Registry) and so served on the manager's
// metrics endpoint beside controller-runtime's own workqueue and reconcile metrics.
//
// Every series is labelled with the LLMProvider's namespace and name (label "provider"), never with
// anything taken from a request, a Secret or a provider's free-text answer, and every series of a
// provider is deleted when the provider is deleted (DeleteProvider).
//
//   - mosaic_provider_ready{namespace,provider,type}: gauge, 1 when the provider's Ready condition
//     is True, else 0.
//   - mosaic_provider_probe_duration_seconds{namespace,provider,type,outcome}: histogram of health
//     probe round trips; outcome is "success" or "failure" (the failure's reason is on
//     mosaic_provider_probes_total, which keeps this histogram's cardinality low).
//   - mosaic_provider_probes_total{namespace,provider,reason}: counter of health probes by result:
//     ProbeSucceeded, InvalidCredentials, QuotaExhausted, RateLimited, Unreachable or UpstreamError.
//   - mosaic_provider_quota_remaining{namespace,provider,resource}: gauge of what the provider
//     reported left in its current rate-limit window at the last probe; resource is "requests" or
//     "tokens". Absent when the provider reports nothing (Gemini, most self-hosted servers).
//   - mosaic_provider_quota_limit{namespace,provider,resource}: gauge of the window's size, as
//     reported with the remaining value.
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Label names.
const (
	labelNamespace = "namespace"
	labelProvider  = "provider"
	labelType      = "type"
	labelOutcome   = "outcome"
	labelReason    = "reason"
	labelResource  = "resource"
)

// Values of the outcome label of mosaic_provider_probe_duration_seconds.
const (
	// OutcomeSuccess: the probe got an authenticated answer.
	OutcomeSuccess = "success"
	// OutcomeFailure: the probe failed, for the reason counted in mosaic_provider_probes_total.
	OutcomeFailure = "failure"
)

// Values of the resource label of the quota gauges.
const (
	// ResourceRequests is the request quota.
	ResourceRequests = "requests"
	// ResourceTokens is the token quota.
	ResourceTokens = "tokens"
)

var (
	providerReady = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mosaic_provider_ready",
		Help: "1 when the LLMProvider's Ready condition is True, else 0.",
	}, []string{labelNamespace, labelProvider, labelType})

	probeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mosaic_provider_probe_duration_seconds",
		Help:    "Round-trip time of LLMProvider health probes, by outcome (success or failure).",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{labelNamespace, labelProvider, labelType, labelOutcome})

	probesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mosaic_provider_probes_total",
		Help: "LLMProvider health probes, by result reason (ProbeSucceeded or the failure's reason).",
	}, []string{labelNamespace, labelProvider, labelReason})

	quotaRemaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mosaic_provider_quota_remaining",
		Help: "Requests or tokens left in the provider's current rate-limit window, as it reported at the last probe.",
	}, []string{labelNamespace, labelProvider, labelResource})

	quotaLimit = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mosaic_provider_quota_limit",
		Help: "Size of the provider's rate-limit window in requests or tokens, as it reported at the last probe.",
	}, []string{labelNamespace, labelProvider, labelResource})

	// providerSeries are the vectors whose series DeleteProvider removes.
	providerSeries = []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{providerReady, probeDuration, probesTotal, quotaRemaining, quotaLimit}

	// readyType remembers the type label of each provider's ready series, so a changed
	// spec.type replaces the series instead of leaving the old one behind.
	readyType sync.Map // "namespace/name" -> type
)

func init() {
	crmetrics.Registry.MustRegister(providerReady, probeDuration, probesTotal, quotaRemaining, quotaLimit)
}

// SetProviderReady sets mosaic_provider_ready for the provider.
func SetProviderReady(namespace, name, providerType string, ready bool) {
	key := namespace + "/" + name
	if old, ok := readyType.Swap(key, providerType); ok && old.(string) != providerType {
		providerReady.DeleteLabelValues(namespace, name, old.(string))
	}
	v := 0.0
	if ready {
		v = 1
	}
	providerReady.WithLabelValues(namespace, name, providerType).Set(v)
}

// ObserveProbe records one health probe: its duration under outcome success (reason
// ProbeSucceeded) or failure, and one count under reason.
func ObserveProbe(namespace, name, providerType, reason string, success bool, d time.Duration) {
	outcome := OutcomeFailure
	if success {
		outcome = OutcomeSuccess
	}
	probeDuration.WithLabelValues(namespace, name, providerType, outcome).Observe(d.Seconds())
	probesTotal.WithLabelValues(namespace, name, reason).Inc()
}

// Quota is what a provider reported about one resource; nil fields were not reported.
type Quota struct {
	// Limit is the window's size.
	Limit *int64
	// Remaining is what is left of it.
	Remaining *int64
}

// SetProviderQuota sets the quota gauges of one resource (ResourceRequests or ResourceTokens),
// deleting the series of values the provider did not report this time.
func SetProviderQuota(namespace, name, resource string, q Quota) {
	setOrDelete(quotaRemaining, q.Remaining, namespace, name, resource)
	setOrDelete(quotaLimit, q.Limit, namespace, name, resource)
}

func setOrDelete(g *prometheus.GaugeVec, v *int64, labels ...string) {
	if v == nil {
		g.DeleteLabelValues(labels...)
		return
	}
	g.WithLabelValues(labels...).Set(float64(*v))
}

// DeleteProvider removes every series of the provider, for when it is deleted.
func DeleteProvider(namespace, name string) {
	readyType.Delete(namespace + "/" + name)
	labels := prometheus.Labels{labelNamespace: namespace, labelProvider: name}
	for _, vec := range providerSeries {
		vec.DeletePartialMatch(labels)
	}
}
