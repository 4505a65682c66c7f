package controller

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	llmv1alpha1 "github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/provider"
)

func TestHealthyAndReadyConditions(t *testing.T) {
	resolved := credentialObservation{status: metav1.ConditionTrue, reason: llmv1alpha1.ReasonSecretResolved, message: "read"}
	succeeded := &probeObservation{result: &provider.ProbeResult{HTTPStatus: http.StatusOK, Models: []string{"a", "b"}}}
	tests := map[string]struct {
		// creds is what resolving the Secret found.
		creds credentialObservation
		// disabled is spec.healthCheck.disabled.
		disabled bool
		// adapterErr is the registry's answer for spec.type.
		adapterErr error
		// probe is the probe this reconcile ran or reused.
		probe *probeObservation
		// wantHealthy and wantReady are "Status/Reason".
		wantHealthy, wantReady string
	}{
		"probe succeeded": {
			creds: resolved, probe: succeeded,
			wantHealthy: "True/ProbeSucceeded", wantReady: "True/Ready",
		},
		"key refused": {
			creds:       resolved,
			probe:       &probeObservation{failure: &provider.ProbeError{Reason: provider.InvalidCredentials, HTTPStatus: 401, Message: "Incorrect API key provided"}},
			wantHealthy: "False/InvalidCredentials", wantReady: "False/InvalidCredentials",
		},
		"no HTTP answer": {
			creds:       resolved,
			probe:       &probeObservation{failure: &provider.ProbeError{Reason: provider.Unreachable, Message: "connection refused"}},
			wantHealthy: "False/Unreachable", wantReady: "False/Unreachable",
		},
		"Secret missing: Healthy is Unknown, Ready carries the credentials' reason": {
			creds:       credentialObservation{status: metav1.ConditionFalse, reason: llmv1alpha1.ReasonSecretNotFound},
			wantHealthy: "Unknown/CredentialsUnresolved", wantReady: "False/SecretNotFound",
		},
		"key missing in Secret": {
			creds:       credentialObservation{status: metav1.ConditionFalse, reason: llmv1alpha1.ReasonKeyMissingInSecret},
			wantHealthy: "Unknown/CredentialsUnresolved", wantReady: "False/KeyMissingInSecret",
		},
		"probing disabled: Ready once credentials resolve": {
			creds: resolved, disabled: true,
			wantHealthy: "Unknown/ProbeDisabled", wantReady: "True/Ready",
		},
		"probing disabled but Secret missing": {
			creds:       credentialObservation{status: metav1.ConditionFalse, reason: llmv1alpha1.ReasonSecretNotFound},
			disabled:    true,
			wantHealthy: "Unknown/ProbeDisabled", wantReady: "False/SecretNotFound",
		},
		"no adapter for the type": {
			creds: resolved, adapterErr: provider.ErrUnknownType,
			wantHealthy: "False/ProviderTypeUnsupported", wantReady: "False/ProviderTypeUnsupported",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			creds := credentialsResolvedCondition(tc.creds)
			h := healthyCondition(creds.Status, tc.disabled, tc.adapterErr, tc.probe)
			r := readyCondition(creds, h)
			if got := string(h.Status) + "/" + h.Reason; got != tc.wantHealthy {
				t.Errorf("Healthy = %s, want %s", got, tc.wantHealthy)
			}
			if got := string(r.Status) + "/" + r.Reason; got != tc.wantReady {
				t.Errorf("Ready = %s, want %s", got, tc.wantReady)
			}
			if h.Message == "" || r.Message == "" && r.Status != metav1.ConditionFalse {
				t.Errorf("conditions need a message: Healthy %q, Ready %q", h.Message, r.Message)
			}
		})
	}
}

func TestProbeDue(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	key := sha256.Sum256([]byte("first"))
	last := probeRecord{generation: 3, credential: key, observation: probeObservation{at: t0}}
	tests := map[string]struct {
		// generation and credential are the provider's now.
		generation int64
		credential [sha256.Size]byte
		// elapsed is the time since the last probe.
		elapsed time.Duration
		want    bool
	}{
		"nothing changed, within the interval": {generation: 3, credential: key, elapsed: 59 * time.Second, want: false},
		"interval elapsed":                     {generation: 3, credential: key, elapsed: 60 * time.Second, want: true},
		"spec changed":                         {generation: 4, credential: key, elapsed: time.Second, want: true},
		"key rotated":                          {generation: 3, credential: sha256.Sum256([]byte("second")), elapsed: time.Second, want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := probeDue(last, tc.generation, tc.credential, t0.Add(tc.elapsed), time.Minute); got != tc.want {
				t.Errorf("probeDue = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReadyTransition(t *testing.T) {
	cond := func(s metav1.ConditionStatus, reason string) *metav1.Condition {
		return &metav1.Condition{Type: llmv1alpha1.ConditionReady, Status: s, Reason: reason, Message: "m"}
	}
	tests := map[string]struct {
		// before and after are Ready before and after this reconcile; nil is absent.
		before, after *metav1.Condition
		// want is "Type Reason", or "" for no Event.
		want string
	}{
		"first reconcile, Ready":     {after: cond(metav1.ConditionTrue, "Ready"), want: "Normal Ready"},
		"first reconcile, not Ready": {after: cond(metav1.ConditionFalse, "SecretNotFound"), want: "Warning SecretNotFound"},
		"recovered":                  {before: cond(metav1.ConditionFalse, "Unreachable"), after: cond(metav1.ConditionTrue, "Ready"), want: "Normal Ready"},
		"broke":                      {before: cond(metav1.ConditionTrue, "Ready"), after: cond(metav1.ConditionFalse, "InvalidCredentials"), want: "Warning InvalidCredentials"},
		"broke differently":          {before: cond(metav1.ConditionFalse, "Unreachable"), after: cond(metav1.ConditionFalse, "InvalidCredentials"), want: "Warning InvalidCredentials"},
		"still Ready":                {before: cond(metav1.ConditionTrue, "Ready"), after: cond(metav1.ConditionTrue, "Ready")},
		"still broken the same way":  {before: cond(metav1.ConditionFalse, "Unreachable"), after: cond(metav1.ConditionFalse, "Unreachable")},
		"Unknown is no event":        {before: cond(metav1.ConditionTrue, "Ready"), after: cond(metav1.ConditionUnknown, "X")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tr, ok := readyTransition(tc.before, tc.after)
			got := ""
			if ok {
				got = tr.eventType + " " + tr.reason
			}
			if got != tc.want {
				t.Errorf("readyTransition = %q, want %q", got, tc.want)
			}
			if ok && (tr.eventType == corev1.EventTypeNormal) != tr.ready {
				t.Errorf("ready = %v for a %s event", tr.ready, tr.eventType)
			}
		})
	}
}

func TestHealthAndQuotaStatus(t *testing.T) {
	at := time.Date(2026, 11, 27, 12, 0, 0, 987654321, time.UTC)
	reset := at.Add(8640 * time.Millisecond)
	n := func(v int64) *int64 { return &v }
	tests := map[string]struct {
		// probe is the observation status is built from.
		probe      *probeObservation
		wantHealth *llmv1alpha1.HealthStatus
		wantQuota  *llmv1alpha1.QuotaStatus
	}{
		"no probe": {},
		"success: latency to the millisecond, times to the second": {
			probe: &probeObservation{at: at, result: &provider.ProbeResult{
				Latency: 12345678 * time.Nanosecond, HTTPStatus: 200,
				Quota: provider.Quota{RequestsRemaining: n(9), TokensLimit: n(100), ResetAt: &reset},
			}},
			wantHealth: &llmv1alpha1.HealthStatus{
				LastProbeTime: ptrTime(at.Truncate(time.Second)), HTTPStatus: 200,
				Latency: &metav1.Duration{Duration: 12 * time.Millisecond},
			},
			wantQuota: &llmv1alpha1.QuotaStatus{RequestsRemaining: n(9), TokensLimit: n(100), ResetAt: ptrTime(reset.Truncate(time.Second))},
		},
		"failure: status and message, no latency, quota from the error's headers": {
			probe: &probeObservation{at: at, failure: &provider.ProbeError{
				Reason: provider.RateLimited, HTTPStatus: 429, Message: "Rate limit reached",
				Quota: provider.Quota{RequestsRemaining: n(0)},
			}},
			wantHealth: &llmv1alpha1.HealthStatus{LastProbeTime: ptrTime(at.Truncate(time.Second)), HTTPStatus: 429, Message: "Rate limit reached"},
			wantQuota:  &llmv1alpha1.QuotaStatus{RequestsRemaining: n(0)},
		},
		"nothing reported: no quota": {
			probe:      &probeObservation{at: at, result: &provider.ProbeResult{HTTPStatus: 200}},
			wantHealth: &llmv1alpha1.HealthStatus{LastProbeTime: ptrTime(at.Truncate(time.Second)), HTTPStatus: 200, Latency: &metav1.Duration{}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.wantHealth, healthStatus(tc.probe)); diff != "" {
				t.Errorf("healthStatus (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantQuota, quotaStatus(tc.probe)); diff != "" {
				t.Errorf("quotaStatus (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAsProbeError(t *testing.T) {
	pe := &provider.ProbeError{Reason: provider.RateLimited, HTTPStatus: 429}
	if got := asProbeError(pe); got != pe {
		t.Errorf("asProbeError(*ProbeError) = %v, want it unchanged", got)
	}
	got := asProbeError(errors.Join(provider.ErrInvalidEndpoint, errors.New("no base URL")))
	if got.Reason != provider.Unreachable || got.HTTPStatus != 0 {
		t.Errorf("asProbeError(endpoint error) = %+v, want Unreachable without status", got)
	}
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}
