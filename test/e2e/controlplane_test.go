package e2e

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/controller"
	"github.com/mosaic-dev/mosaic/internal/renderer"
	"github.com/mosaic-dev/mosaic/internal/webhook"
)

// envtestK8sVersion is the Makefile's ENVTEST_K8S_VERSION, for finding ./bin/k8s without
// KUBEBUILDER_ASSETS.
const envtestK8sVersion = "1.37.2"

// controlPlane is a kube-apiserver and etcd (envtest) with Mosaic's CRDs, and the parts of the
// operator this package joins to the proxy running in this process as the operator runs them:
// the admission webhooks of config/webhook/manifests.yaml and the ConfigMap delivery reconciler.
type controlPlane struct {
	// client talks to the API server as an administrator.
	client client.Client
	// sidecar are the options the pod webhook injects with (the operator's defaults).
	sidecar renderer.SidecarOptions
}

// startControlPlane starts the control plane, the webhooks and the delivery reconciler; all stop
// when the test ends.
func startControlPlane(t *testing.T) *controlPlane {
	t.Helper()
	assets := envtestAssets(t)
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	scheme := kruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			Paths: []string{filepath.Join("..", "..", "config", "webhook", "manifests.yaml")},
		},
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest (kube-apiserver + etcd from %s): %v", assets, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping envtest: %v", err)
		}
	})

	wio := &env.WebhookInstallOptions
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   cache.Options{ByObject: controller.ProxyConfigCacheByObject()},
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{
			Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir,
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	cp := &controlPlane{sidecar: renderer.DefaultSidecarOptions()}
	if err := webhook.SetupWithManager(mgr, webhook.Options{Sidecar: cp.sidecar}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := (&controller.ProxyConfigReconciler{}).SetupWithManager(ctx, mgr); err != nil {
		cancel()
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-stopped })
	addr := net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness only
		if err == nil {
			_ = conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook server on %s: %v", addr, err)
		}
	}
	cp.client, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// envtestAssets is KUBEBUILDER_ASSETS, else the directory `make envtest` fills in ./bin/k8s.
func envtestAssets(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "bin", "k8s", envtestK8sVersion+"-"+runtime.GOOS+"-"+runtime.GOARCH))
	if err == nil {
		if _, err = os.Stat(filepath.Join(dir, "kube-apiserver")); err == nil {
			return dir
		}
	}
	t.Fatalf("no envtest control plane: KUBEBUILDER_ASSETS is not set and %s has no kube-apiserver; run `make envtest` (or `make test`, which sets KUBEBUILDER_ASSETS)", dir)
	return ""
}
