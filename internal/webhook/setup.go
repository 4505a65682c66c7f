// Package webhook holds Mosaic's admission webhooks: the pod-mutating webhook that injects the
// mosaic-proxy sidecar into pods labelled llm.mosaic.dev/inject=true (PodInjector), validating
// webhooks for LLMProviders and RateLimitPolicies that check what CEL cannot (LLMProviderValidator,
// RateLimitPolicyValidator), and the rotation of their serving certificate by the operator itself
// (SetupCertRotation, built on open-policy-agent/cert-controller).
//
// The +kubebuilder:webhook markers in this package generate config/webhook/manifests.yaml
// (`make manifests`), objectSelector included.
//
// Wiring in the manager's main, with the operator rotating its own certificate:
//
//	ready := make(chan struct{})
//	if err := webhook.SetupCertRotation(mgr, webhook.DefaultCertOptions(), ready); err != nil { ... }
//	if err := webhook.SetupWhenReady(mgr, webhook.Options{Sidecar: sidecarOpts}, ready); err != nil { ... }
//	_ = mgr.AddReadyzCheck("webhook", webhook.ReadyCheck(mgr, ready))
//
// With cert-manager (config/certmanager) providing the certificate instead, call SetupWithManager
// directly.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/renderer"
)

// The webhooks read these through the uncached API reader; the cert rotator updates the webhook
// configurations and its Secret (the Role for Secrets is bound in config/webhook). The rotator's
// informer lists and watches webhook configurations cluster-wide, which resourceNames cannot
// restrict; it updates only its own two, and that grant (get and update, by name) is a separate
// ClusterRole in config/webhook (webhook_cabundle_role.yaml) and in the chart, not a marker here.
// +kubebuilder:rbac:groups=llm.mosaic.dev,resources=llmproviders;ratelimitpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations;validatingwebhookconfigurations,verbs=list;watch
// +kubebuilder:rbac:groups="",namespace=system,resources=secrets,verbs=update;patch

// Options configure the webhooks.
type Options struct {
	// Sidecar are the settings of every injected mosaic-proxy (the operator's --proxy-* flags).
	Sidecar renderer.SidecarOptions
}

// SetupWithManager registers the pod-mutating webhook at PodPath and the LLMProvider and
// RateLimitPolicy validating webhooks on mgr's webhook server. The webhooks read through
// mgr.GetAPIReader(), never the informer cache.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	reader := mgr.GetAPIReader()
	mgr.GetWebhookServer().Register(PodPath, &admission.Webhook{Handler: &PodInjector{
		Reader:  reader,
		Sidecar: opts.Sidecar,
		Decoder: admission.NewDecoder(mgr.GetScheme()),
	}})
	if err := ctrl.NewWebhookManagedBy(mgr, &v1alpha1.LLMProvider{}).
		WithValidator(&LLMProviderValidator{Reader: reader}).Complete(); err != nil {
		return fmt.Errorf("registering the LLMProvider webhook: %w", err)
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &v1alpha1.RateLimitPolicy{}).
		WithValidator(&RateLimitPolicyValidator{Reader: reader}).Complete(); err != nil {
		return fmt.Errorf("registering the RateLimitPolicy webhook: %w", err)
	}
	return nil
}

// SetupWhenReady registers the webhooks (SetupWithManager) once ready is closed, i.e. once the
// serving certificate is in the webhook server's directory: the webhook server reads it when it
// starts and would fail without it. It runs on every replica, leader or not.
func SetupWhenReady(mgr ctrl.Manager, opts Options, ready <-chan struct{}) error {
	return mgr.Add(&setupWhenReady{mgr: mgr, opts: opts, ready: ready})
}

type setupWhenReady struct {
	mgr   ctrl.Manager
	opts  Options
	ready <-chan struct{}
}

var _ manager.LeaderElectionRunnable = (*setupWhenReady)(nil)

func (s *setupWhenReady) NeedLeaderElection() bool { return false }

func (s *setupWhenReady) Start(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-s.ready:
	}
	ctrl.Log.WithName("webhook").Info("serving certificate ready; starting the webhooks")
	return SetupWithManager(s.mgr, s.opts)
}

// ReadyCheck is a readiness check that fails until ready is closed and then checks that the
// webhook server accepts TLS connections, so the Service routes admission requests only to
// replicas that can answer them.
func ReadyCheck(mgr ctrl.Manager, ready <-chan struct{}) healthz.Checker {
	return func(req *http.Request) error {
		select {
		case <-ready:
			return mgr.GetWebhookServer().StartedChecker()(req)
		default:
			return errors.New("webhook serving certificate not ready yet")
		}
	}
}
