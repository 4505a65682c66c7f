package controller

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	llmv1alpha1 "github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/provider"
)

// updateStatus computes the provider's whole status from what this reconcile observed (s), never
// from the conditions it had. Times are truncated to the second, the precision the API server
// stores, so an unchanged status compares equal to the stored one and is not rewritten.
func updateStatus(s *providerScope) {
	p := s.provider
	now := metav1.NewTime(s.now.Truncate(time.Second))

	creds := credentialsResolvedCondition(s.credentials)
	healthy := healthyCondition(creds.Status, s.probeDisabled, s.adapterErr, s.probe)
	ready := readyCondition(creds, healthy)
	for _, c := range []metav1.Condition{creds, healthy, ready} {
		c.ObservedGeneration = p.Generation
		c.LastTransitionTime = now
		meta.SetStatusCondition(&p.Status.Conditions, c)
	}
	p.Status.ObservedGeneration = p.Generation
	p.Status.Health = healthStatus(s.probe)
	p.Status.Quota = quotaStatus(s.probe)
	p.Status.Configs = s.configs
	if s.probe != nil && s.probe.result != nil {
		p.Status.Models = s.probe.result.Models
	}
	// Otherwise models keep what the last successful probe listed, as the field documents.
}

// credentialsResolvedCondition is CredentialsResolved for what resolving the Secret found.
func credentialsResolvedCondition(o credentialObservation) metav1.Condition {
	return metav1.Condition{
		Type:    llmv1alpha1.ConditionCredentialsResolved,
		Status:  o.status,
		Reason:  o.reason,
		Message: o.message,
	}
}

// healthyCondition is Healthy for this reconcile: Unknown when no probe could run (probing
// disabled, no credentials), False when the type has no adapter or the probe failed, True when it
// succeeded.
func healthyCondition(creds metav1.ConditionStatus, disabled bool, adapterErr error, probe *probeObservation) metav1.Condition {
	c := metav1.Condition{Type: llmv1alpha1.ConditionHealthy}
	switch {
	case disabled:
		c.Status, c.Reason = metav1.ConditionUnknown, llmv1alpha1.ReasonProbeDisabled
		c.Message = "health probing is disabled by spec.healthCheck.disabled"
	case creds != metav1.ConditionTrue:
		c.Status, c.Reason = metav1.ConditionUnknown, llmv1alpha1.ReasonCredentialsUnresolved
		c.Message = "not probed: the API key could not be resolved (see CredentialsResolved)"
	case adapterErr != nil:
		c.Status, c.Reason = metav1.ConditionFalse, llmv1alpha1.ReasonProviderTypeUnsupported
		c.Message = fmt.Sprintf("spec.type: %v", adapterErr)
	case probe == nil:
		// Cannot happen: reconcileProbe observes whenever credentials and an adapter exist.
		c.Status, c.Reason = metav1.ConditionUnknown, llmv1alpha1.ReasonCredentialsUnresolved
		c.Message = "not probed"
	case probe.failure != nil:
		c.Status, c.Reason = metav1.ConditionFalse, string(probe.failure.Reason)
		c.Message = probeFailureMessage(probe.failure)
	default:
		c.Status, c.Reason = metav1.ConditionTrue, llmv1alpha1.ReasonProbeSucceeded
		c.Message = fmt.Sprintf("the provider answered the model listing with HTTP %d and %d models",
			probe.result.HTTPStatus, len(probe.result.Models))
	}
	return c
}

// probeFailureMessage describes a failed probe. The ProbeError's message is already scrubbed of
// the key by the adapter.
func probeFailureMessage(e *provider.ProbeError) string {
	if e.HTTPStatus == 0 {
		return "probe failed: " + e.Message
	}
	return fmt.Sprintf("probe answered HTTP %d: %s", e.HTTPStatus, e.Message)
}

// readyCondition summarises CredentialsResolved and Healthy. Not Ready carries the reason and
// message of the first condition that is not True. A provider whose probing is disabled is Ready
// once its credentials resolve: nothing says it cannot serve.
func readyCondition(creds, healthy metav1.Condition) metav1.Condition {
	c := metav1.Condition{Type: llmv1alpha1.ConditionReady}
	switch {
	case creds.Status != metav1.ConditionTrue:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, creds.Reason, creds.Message
	case healthy.Status == metav1.ConditionFalse:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, healthy.Reason, healthy.Message
	case healthy.Status == metav1.ConditionUnknown && healthy.Reason == llmv1alpha1.ReasonProbeDisabled:
		c.Status, c.Reason = metav1.ConditionTrue, llmv1alpha1.ReasonReady
		c.Message = "credentials resolved; health probing is disabled"
	case healthy.Status != metav1.ConditionTrue:
		c.Status, c.Reason, c.Message = metav1.ConditionUnknown, healthy.Reason, healthy.Message
	default:
		c.Status, c.Reason = metav1.ConditionTrue, llmv1alpha1.ReasonReady
		c.Message = "credentials resolved and the health probe succeeded"
	}
	return c
}

// healthStatus is status.health for a probe; nil when no probe could run.
func healthStatus(o *probeObservation) *llmv1alpha1.HealthStatus {
	if o == nil {
		return nil
	}
	at := metav1.NewTime(o.at.Truncate(time.Second))
	h := &llmv1alpha1.HealthStatus{LastProbeTime: &at}
	if o.failure != nil {
		h.HTTPStatus = int32(o.failure.HTTPStatus)
		h.Message = o.failure.Message
		return h
	}
	h.HTTPStatus = int32(o.result.HTTPStatus)
	h.Latency = &metav1.Duration{Duration: o.result.Latency.Round(time.Millisecond)}
	return h
}

// quotaStatus is status.quota for what the provider reported at the probe; nil when it reported
// nothing or no probe could run.
func quotaStatus(o *probeObservation) *llmv1alpha1.QuotaStatus {
	if o == nil {
		return nil
	}
	q := o.quota()
	if q.IsZero() {
		return nil
	}
	out := &llmv1alpha1.QuotaStatus{
		RequestsLimit:     q.RequestsLimit,
		RequestsRemaining: q.RequestsRemaining,
		TokensLimit:       q.TokensLimit,
		TokensRemaining:   q.TokensRemaining,
	}
	if q.ResetAt != nil {
		t := metav1.NewTime(q.ResetAt.Truncate(time.Second))
		out.ResetAt = &t
	}
	return out
}

// transition is an Event-worthy change of Ready.
type transition struct {
	ready     bool
	eventType string
	reason    string
	note      string
}

// readyTransition reports whether Ready changed in a way a person acts on: it became True, it
// became False, or it stayed False for another reason. Unknown and unchanged states are not
// events.
func readyTransition(before, after *metav1.Condition) (transition, bool) {
	if after == nil {
		return transition{}, false
	}
	switch after.Status {
	case metav1.ConditionTrue:
		if before == nil || before.Status != metav1.ConditionTrue {
			return transition{ready: true, eventType: corev1.EventTypeNormal, reason: llmv1alpha1.ReasonReady, note: after.Message}, true
		}
	case metav1.ConditionFalse:
		if before == nil || before.Status != metav1.ConditionFalse || before.Reason != after.Reason {
			return transition{eventType: corev1.EventTypeWarning, reason: after.Reason, note: "not Ready: " + after.Message}, true
		}
	}
	return transition{}, false
}
