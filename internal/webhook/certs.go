package webhook

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
)

// CertOptions say where the operator keeps its webhook serving certificate. The defaults match
// config/default (namePrefix mosaic-, namespace mosaic-system).
type CertOptions struct {
	// Namespace is the operator's namespace, holding the Secret and the Service.
	Namespace string
	// SecretName is the Secret the certificate and its CA are written to. It must exist (empty)
	// beforehand: config/webhook ships it. The manager mounts it at CertDir.
	SecretName string
	// ServiceName is the webhook Service; the certificate is for ServiceName.Namespace.svc.
	ServiceName string
	// CertDir is where the manager's webhook server reads tls.crt and tls.key (the Secret's mount);
	// the default is controller-runtime's, where config/webhook mounts the Secret.
	CertDir string
	// MutatingWebhookConfiguration and ValidatingWebhookConfiguration are the configurations whose
	// caBundle the rotator keeps current.
	MutatingWebhookConfiguration   string
	ValidatingWebhookConfiguration string
	// CertValidity and CAValidity are how long a serving certificate and the CA last; a serving
	// certificate is renewed RenewBefore its expiry. Zero means cert-controller's defaults (1 year,
	// 10 years, 90 days).
	CertValidity, CAValidity, RenewBefore time.Duration
}

// DefaultCertOptions are the names config/default creates, in the namespace named by the
// POD_NAMESPACE environment variable (set from the downward API), else mosaic-system.
func DefaultCertOptions() CertOptions {
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = "mosaic-system"
	}
	return CertOptions{
		Namespace:                      ns,
		SecretName:                     "mosaic-webhook-server-cert",
		ServiceName:                    "mosaic-webhook-service",
		CertDir:                        filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs"),
		MutatingWebhookConfiguration:   "mosaic-mutating-webhook-configuration",
		ValidatingWebhookConfiguration: "mosaic-validating-webhook-configuration",
	}
}

// SetupCertRotation makes the operator create and rotate its own webhook serving certificate with
// open-policy-agent/cert-controller: a self-signed CA and a serving certificate for the Service's
// DNS name, written to the Secret, renewed before expiry, and the CA injected into the caBundle of
// both webhook configurations (and re-injected if something resets it). ready is closed once the
// certificate is mounted in CertDir and the caBundles are set; register the webhooks after that
// (SetupWhenReady). It runs on every replica, leader or not, as every replica serves admission.
func SetupCertRotation(mgr ctrl.Manager, opts CertOptions, ready chan struct{}) error {
	if opts.Namespace == "" || opts.SecretName == "" || opts.ServiceName == "" {
		return fmt.Errorf("webhook certificate rotation needs a namespace, Secret name and Service name, got %+v", opts)
	}
	err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: opts.Namespace, Name: opts.SecretName},
		CertDir:        opts.CertDir,
		CAName:         "mosaic-webhook-ca",
		CAOrganization: "mosaic",
		DNSName:        fmt.Sprintf("%s.%s.svc", opts.ServiceName, opts.Namespace),
		ExtraDNSNames:  []string{fmt.Sprintf("%s.%s.svc.cluster.local", opts.ServiceName, opts.Namespace)},
		IsReady:        ready,
		Webhooks: []rotator.WebhookInfo{
			{Name: opts.MutatingWebhookConfiguration, Type: rotator.Mutating},
			{Name: opts.ValidatingWebhookConfiguration, Type: rotator.Validating},
		},
		RequireLeaderElection: false,
		ServerCertDuration:    opts.CertValidity,
		CaCertDuration:        opts.CAValidity,
		LookaheadInterval:     opts.RenewBefore,
		// Check hourly rather than every 12 hours, so a certificate renewed RenewBefore its expiry
		// is never missed by much.
		RotationCheckFrequency: time.Hour,
	})
	if err != nil {
		return fmt.Errorf("adding the webhook certificate rotator: %w", err)
	}
	return nil
}
