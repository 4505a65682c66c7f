package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
)

// TestCertRotation runs a second manager that creates its own serving certificate: it must write
// a CA and a certificate for the Service's DNS name into the Secret, inject the CA into both webhook
// configurations (and again after someone clears it), signal ready once the kubelet has mounted
// the Secret, and then serve the webhooks with that certificate. The manager runs as the installed
// operator does: as its ServiceAccount, with the roles config/default renders, which let it update
// its own two webhook configurations and no other.
func TestCertRotation(t *testing.T) {
	requireAPIServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	managerConfig, namespace := renderedManager(t)
	opts := DefaultCertOptions() // the names config/default renders and grants (test/deploy checks)
	opts.Namespace = namespace
	opts.CertDir = t.TempDir()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: opts.SecretName, Namespace: opts.Namespace}}
	if err := k8sClient.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	// Configurations like config/webhook's, for a resource nobody creates.
	rules := []admissionv1.RuleWithOperations{{Operations: []admissionv1.OperationType{admissionv1.Create},
		Rule: admissionv1.Rule{APIGroups: []string{"certs.test.mosaic.dev"}, APIVersions: []string{"v1"}, Resources: []string{"nothings"}}}}
	never := "https://127.0.0.1:1/never"
	none := admissionv1.SideEffectClassNone
	mutating := &admissionv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: opts.MutatingWebhookConfiguration},
		Webhooks: []admissionv1.MutatingWebhook{{Name: "m.certs.test.mosaic.dev", ClientConfig: admissionv1.WebhookClientConfig{URL: &never},
			Rules: rules, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}}}}
	validating := &admissionv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: opts.ValidatingWebhookConfiguration},
		Webhooks: []admissionv1.ValidatingWebhook{{Name: "v.certs.test.mosaic.dev", ClientConfig: admissionv1.WebhookClientConfig{URL: &never},
			Rules: rules, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}}}}
	someoneElses := &admissionv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "certs-test-someone-elses"},
		Webhooks: []admissionv1.ValidatingWebhook{{Name: "o.certs.test.mosaic.dev", ClientConfig: admissionv1.WebhookClientConfig{URL: &never},
			Rules: rules, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}}}}
	for _, o := range []client.Object{mutating, validating, someoneElses} {
		if err := k8sClient.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	checkWebhookConfigurationAccess(t, ctx, managerConfig, mutating, validating, someoneElses)

	port := freePort(t)
	mgr, err := ctrl.NewManager(managerConfig, ctrl.Options{
		Scheme:                 testScheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer:          ctrlwebhook.NewServer(ctrlwebhook.Options{Host: "127.0.0.1", Port: port, CertDir: opts.CertDir}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	if err := SetupCertRotation(mgr, opts, ready); err != nil {
		t.Fatal(err)
	}
	if err := SetupWhenReady(mgr, Options{Sidecar: sidecarOpts}, ready); err != nil {
		t.Fatal(err)
	}
	check := ReadyCheck(mgr, ready)
	if check(nil) == nil {
		t.Fatal("ReadyCheck passed before the certificate existed")
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		mountSecretLikeKubelet(ctx, t, client.ObjectKeyFromObject(secret), opts.CertDir)
	}()

	select {
	case <-ready:
	case <-time.After(2 * time.Minute):
		t.Fatal("the rotator did not become ready")
	}

	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(secret), secret); err != nil {
		t.Fatal(err)
	}
	caPEM := secret.Data["ca.crt"]
	dnsName := opts.ServiceName + "." + opts.Namespace + ".svc"
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("Secret ca.crt holds no certificate")
	}
	block, _ := pem.Decode(secret.Data["tls.crt"])
	if block == nil {
		t.Fatal("Secret tls.crt holds no certificate")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: dnsName}); err != nil {
		t.Errorf("serving certificate does not verify for %s: %v", dnsName, err)
	}
	if len(secret.Data["tls.key"]) == 0 {
		t.Error("Secret has no tls.key")
	}
	waitCABundles(t, ctx, opts, caPEM)

	// Someone (a re-apply of the manifests) clears the CA: it is injected again.
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(validating), validating); err != nil {
		t.Fatal(err)
	}
	validating.Webhooks[0].ClientConfig.CABundle = nil
	if err := k8sClient.Update(ctx, validating); err != nil {
		t.Fatal(err)
	}
	waitCABundles(t, ctx, opts, caPEM)

	// The webhooks now serve with the rotated certificate, trusted through the injected CA.
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := waitForTLS(addr, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: dnsName, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS to the webhook server with the injected CA: %v", err)
	}
	_ = conn.Close()
	if err := check(&http.Request{}); err != nil {
		t.Errorf("ReadyCheck after the certificate is mounted: %v", err)
	}
}

// checkWebhookConfigurationAccess checks what the manager's ServiceAccount (cfg) may do to webhook
// configurations: list them all (the rotator's informer), update its own (the caBundle), but not
// patch them, and neither update nor patch someone else's.
func checkWebhookConfigurationAccess(t *testing.T, ctx context.Context, cfg *rest.Config, own1, own2, other client.Object) {
	t.Helper()
	manager, err := client.New(cfg, client.Options{Scheme: testScheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := manager.List(ctx, &admissionv1.MutatingWebhookConfigurationList{}); err != nil {
		t.Errorf("the manager cannot list MutatingWebhookConfigurations: %v", err)
	}
	if err := manager.List(ctx, &admissionv1.ValidatingWebhookConfigurationList{}); err != nil {
		t.Errorf("the manager cannot list ValidatingWebhookConfigurations: %v", err)
	}
	annotate := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"test.mosaic.dev/touched":"true"}}}`))
	tests := map[string]struct {
		// obj is the webhook configuration acted on.
		obj client.Object
		// act is what the manager does to it.
		act func(client.Object) error
		// allowed says whether the API server lets it.
		allowed bool
	}{
		"update its mutating configuration":   {obj: own1, act: func(o client.Object) error { return manager.Update(ctx, o) }, allowed: true},
		"update its validating configuration": {obj: own2, act: func(o client.Object) error { return manager.Update(ctx, o) }, allowed: true},
		"patch its validating configuration":  {obj: own2, act: func(o client.Object) error { return manager.Patch(ctx, o, annotate) }},
		"update someone else's configuration": {obj: other, act: func(o client.Object) error { return manager.Update(ctx, o) }},
		"patch someone else's configuration":  {obj: other, act: func(o client.Object) error { return manager.Patch(ctx, o, annotate) }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			obj := tc.obj.DeepCopyObject().(client.Object)
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				t.Fatal(err)
			}
			err := tc.act(obj)
			switch {
			case tc.allowed && err != nil:
				t.Errorf("refused: %v", err)
			case !tc.allowed && !apierrors.IsForbidden(err):
				t.Errorf("got %v, want Forbidden", err)
			}
		})
	}
}

// mountSecretLikeKubelet copies the Secret's tls.crt and tls.key into dir whenever they change, as
// the kubelet does for the manager's Secret volume.
func mountSecretLikeKubelet(ctx context.Context, t *testing.T, key client.ObjectKey, dir string) {
	var last []byte
	for ctx.Err() == nil {
		var s corev1.Secret
		if err := k8sClient.Get(ctx, key, &s); err == nil && len(s.Data["tls.crt"]) > 0 && !bytes.Equal(last, s.Data["tls.crt"]) {
			for _, name := range []string{"tls.key", "tls.crt"} {
				tmp := filepath.Join(dir, "."+name)
				if err := os.WriteFile(tmp, s.Data[name], 0o600); err != nil {
					t.Errorf("writing %s: %v", name, err)
					return
				}
				if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
					t.Errorf("renaming %s: %v", name, err)
					return
				}
			}
			last = s.Data["tls.crt"]
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func waitCABundles(t *testing.T, ctx context.Context, opts CertOptions, caPEM []byte) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var m admissionv1.MutatingWebhookConfiguration
		var v admissionv1.ValidatingWebhookConfiguration
		errM := k8sClient.Get(ctx, client.ObjectKey{Name: opts.MutatingWebhookConfiguration}, &m)
		errV := k8sClient.Get(ctx, client.ObjectKey{Name: opts.ValidatingWebhookConfiguration}, &v)
		if errM == nil && errV == nil && bytes.Equal(m.Webhooks[0].ClientConfig.CABundle, caPEM) && bytes.Equal(v.Webhooks[0].ClientConfig.CABundle, caPEM) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("caBundle not injected into both webhook configurations (errors %v, %v)", errM, errV)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
