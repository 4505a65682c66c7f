package webhook

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/renderer"
)

// The envtest control plane shared by this package's API-server tests; nil when KUBEBUILDER_ASSETS
// is not set (those tests are then skipped, the unit tests still run).
var (
	testEnv    *envtest.Environment
	restConfig *rest.Config
	testScheme *runtime.Scheme
	k8sClient  client.Client
	// sidecarOpts are the options the test manager injects with.
	sidecarOpts = renderer.DefaultSidecarOptions()
)

// touchPath is a test-only mutating webhook that runs after Mosaic's (its configuration sorts
// after) and annotates pods labelled touchLabel, which makes the API server re-invoke Mosaic's
// webhook (reinvocationPolicy IfNeeded).
const (
	touchPath  = "/test-touch-pod"
	touchLabel = "test.mosaic.dev/touch"
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: CI must run these tests against a real API server (make envtest)")
			return 1
		}
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: skipping the tests against a real API server (make envtest prints it)")
		return m.Run()
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(false), zap.Level(zapLevel())))
	testScheme = runtime.NewScheme()
	must(clientgoscheme.AddToScheme(testScheme))
	must(v1alpha1.AddToScheme(testScheme))

	touch := touchPath
	never := admissionv1.NeverReinvocationPolicy
	none := admissionv1.SideEffectClassNone
	fail := admissionv1.Fail
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                testScheme,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			Paths: []string{filepath.Join("..", "..", "config", "webhook", "manifests.yaml")},
			MutatingWebhooks: []*admissionv1.MutatingWebhookConfiguration{{
				ObjectMeta: metav1.ObjectMeta{Name: "zz-test-touch"},
				Webhooks: []admissionv1.MutatingWebhook{{
					Name:                    "touch.test.mosaic.dev",
					ClientConfig:            admissionv1.WebhookClientConfig{Service: &admissionv1.ServiceReference{Name: "x", Namespace: "x", Path: &touch}},
					Rules:                   []admissionv1.RuleWithOperations{{Operations: []admissionv1.OperationType{admissionv1.Create}, Rule: admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
					ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{touchLabel: "true"}},
					SideEffects:             &none,
					FailurePolicy:           &fail,
					ReinvocationPolicy:      &never,
					AdmissionReviewVersions: []string{"v1"},
				}},
			}},
		},
	}
	var err error
	restConfig, err = testEnv.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting envtest: %v\n", err)
		return 1
	}
	defer func() {
		if err := testEnv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
		}
	}()
	k8sClient, err = client.New(restConfig, client.Options{Scheme: testScheme})
	must(err)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wio := &testEnv.WebhookInstallOptions
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:         testScheme,
		Metrics:        metricsserver.Options{BindAddress: "0"},
		LeaderElection: false,
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{
			Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir,
		}),
	})
	must(err)
	must(SetupWithManager(mgr, Options{Sidecar: sidecarOpts}))
	mgr.GetWebhookServer().Register(touchPath, &admission.Webhook{Handler: admission.HandlerFunc(touchPod)})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		}
	}()
	if err := waitForTLS(net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort)), 30*time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "webhook server: %v\n", err)
		return 1
	}
	code := m.Run()
	cancel()
	wg.Wait()
	return code
}

func zapLevel() zapcore.Level {
	if os.Getenv("TEST_VERBOSE_LOGS") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}

func touchPod(_ context.Context, req admission.Request) admission.Response {
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations["test.mosaic.dev/touched"] = "true"
	raw, _ := json.Marshal(&pod)
	return admission.PatchResponseFromRaw(req.Object.Raw, raw)
}

func waitForTLS(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness only
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// webhookCalls is how many admission requests the webhook at path has answered so far, from
// controller-runtime's own metric.
func webhookCalls(t *testing.T, path string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_webhook_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "webhook" && l.GetValue() == path {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

func requireAPIServer(t *testing.T) {
	t.Helper()
	if testEnv == nil {
		t.Skip("KUBEBUILDER_ASSETS is not set")
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
