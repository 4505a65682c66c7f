package main

import (
	"flag"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/mosaic-dev/mosaic/internal/renderer"
	mosaicwebhook "github.com/mosaic-dev/mosaic/internal/webhook"
)

// webhookOptions are the flags of the admission webhooks and of the sidecar they inject.
type webhookOptions struct {
	// enabled serves the webhooks; off for running the operator outside a cluster (`make run`).
	enabled bool
	// port is where the webhook server listens; it reads tls.crt/tls.key from certs.CertDir.
	port int
	// certRotation makes the operator create and rotate its own serving certificate; off when
	// cert-manager provides it (config/certmanager).
	certRotation bool
	// certs name the Secret, Service and webhook configurations of the rotated certificate.
	certs mosaicwebhook.CertOptions
	// sidecar are the injected mosaic-proxy's settings.
	sidecar renderer.SidecarOptions
}

func defaultWebhookOptions() webhookOptions {
	return webhookOptions{
		enabled:      true,
		port:         9443,
		certRotation: true,
		certs:        mosaicwebhook.DefaultCertOptions(),
		sidecar:      renderer.DefaultSidecarOptions(),
	}
}

func (o *webhookOptions) bindFlags(fs *flag.FlagSet) {
	fs.BoolVar(&o.enabled, "webhooks", o.enabled,
		"Serve the admission webhooks (sidecar injection, LLMProvider and RateLimitPolicy validation); false outside a cluster.")
	fs.IntVar(&o.port, "webhook-port", o.port, "Port the webhook server listens on.")
	fs.StringVar(&o.certs.CertDir, "webhook-cert-dir", o.certs.CertDir,
		"Directory of the webhook serving certificate (tls.crt, tls.key); the rotator writes it when rotation is on.")
	fs.BoolVar(&o.certRotation, "webhook-cert-rotation", o.certRotation,
		"Create and rotate the webhook serving certificate in the operator; false when cert-manager provides it.")
	fs.StringVar(&o.certs.Namespace, "webhook-cert-namespace", o.certs.Namespace,
		"Namespace of the webhook certificate Secret and Service (default: $POD_NAMESPACE, else mosaic-system).")
	fs.StringVar(&o.certs.SecretName, "webhook-cert-secret", o.certs.SecretName, "Secret the webhook serving certificate is written to.")
	fs.StringVar(&o.certs.ServiceName, "webhook-service", o.certs.ServiceName, "Service the API server reaches the webhooks through.")
	o.sidecar.BindFlags(fs)
}

// setupWebhooks registers the webhooks on mgr: after the operator's own certificate is ready when
// it rotates one, at once otherwise. A readiness check keeps the replica out of the webhook
// Service until it can answer.
func setupWebhooks(mgr ctrl.Manager, o webhookOptions) error {
	if !o.enabled {
		setupLog.Info("admission webhooks disabled (--webhooks=false): pods are not injected")
		return nil
	}
	opts := mosaicwebhook.Options{Sidecar: o.sidecar}
	ready := make(chan struct{})
	if o.certRotation {
		if err := mosaicwebhook.SetupCertRotation(mgr, o.certs, ready); err != nil {
			return err
		}
		if err := mosaicwebhook.SetupWhenReady(mgr, opts, ready); err != nil {
			return fmt.Errorf("adding the webhooks: %w", err)
		}
	} else {
		close(ready)
		if err := mosaicwebhook.SetupWithManager(mgr, opts); err != nil {
			return err
		}
	}
	if err := mgr.AddReadyzCheck("webhook", mosaicwebhook.ReadyCheck(mgr, ready)); err != nil {
		return fmt.Errorf("adding the webhook readiness check: %w", err)
	}
	return nil
}
