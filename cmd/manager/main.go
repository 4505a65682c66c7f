// Command manager is the Mosaic operator: a controller-runtime manager running the LLMProvider,
// RateLimitPolicy and proxy configuration (ConfigMap delivery) reconcilers and the admission
// webhooks (sidecar injection, LLMProvider and RateLimitPolicy validation), serving Prometheus
// metrics (authenticated and authorized through the API server, over HTTPS, as kubebuilder v4
// scaffolds it) and health probes.
//
// It finds the cluster like every controller-runtime program: --kubeconfig, then $KUBECONFIG,
// then the in-cluster service account, then ~/.kube/config.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // exec and OIDC credential plugins for kubeconfigs
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	llmv1alpha1 "github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/controller"
	"github.com/mosaic-dev/mosaic/internal/provider"
)

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(llmv1alpha1.AddToScheme(scheme))
}

// options are the command-line flags.
type options struct {
	metricsAddr             string
	metricsSecure           bool
	metricsCertPath         string
	metricsCertName         string
	metricsCertKey          string
	probeAddr               string
	enableLeaderElection    bool
	enableHTTP2             bool
	maxConcurrentReconciles int
	probeHTTPTimeout        time.Duration
	probeCAFile             string
	configGracePeriod       time.Duration
	webhooks                webhookOptions
}

func main() {
	var o options
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", "0",
		"Address the metrics endpoint binds to: :8443 for HTTPS, :8080 for HTTP, 0 to disable it.")
	flag.BoolVar(&o.metricsSecure, "metrics-secure", true,
		"Serve metrics over HTTPS, to callers the API server authenticates and authorizes (get on /metrics).")
	flag.StringVar(&o.metricsCertPath, "metrics-cert-path", "",
		"Directory holding the metrics server's certificate; empty means a self-signed one.")
	flag.StringVar(&o.metricsCertName, "metrics-cert-name", "tls.crt", "Metrics server certificate file name.")
	flag.StringVar(&o.metricsCertKey, "metrics-cert-key", "tls.key", "Metrics server key file name.")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz endpoints bind to.")
	flag.BoolVar(&o.enableLeaderElection, "leader-elect", false,
		"Elect a leader so that only one replica reconciles at a time.")
	flag.BoolVar(&o.enableHTTP2, "enable-http2", false,
		"Allow HTTP/2 on the metrics and webhook servers (off by default: CVE-2023-44487, CVE-2023-39325).")
	flag.IntVar(&o.maxConcurrentReconciles, "max-concurrent-reconciles", controller.DefaultMaxConcurrentReconciles,
		"How many LLMProviders (and RateLimitPolicies, proxy ConfigMaps) are reconciled at once; bounds concurrent health probes.")
	flag.DurationVar(&o.probeHTTPTimeout, "probe-http-timeout", time.Minute,
		"Upper bound on one health probe's HTTP exchange, whatever spec.healthCheck.timeout says (0: no bound).")
	flag.StringVar(&o.probeCAFile, "probe-ca-file", "",
		"PEM file of extra CA certificates trusted for health probes (self-hosted servers behind a private CA).")
	flag.DurationVar(&o.configGracePeriod, "proxy-config-grace-period", controller.DefaultUnusedGracePeriod,
		"How long a proxy ConfigMap no pod uses any more is kept before it is deleted (0: at once).")
	o.webhooks = defaultWebhookOptions()
	o.webhooks.bindFlags(flag.CommandLine)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := run(ctrl.SetupSignalHandler(), o); err != nil {
		setupLog.Error(err, "manager stopped")
		os.Exit(1)
	}
}

// The secure metrics endpoint asks the API server who a scraper is and whether it may get /metrics.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// run builds the manager and blocks until ctx is done.
func run(ctx context.Context, o options) error {
	if o.maxConcurrentReconciles < 1 {
		return fmt.Errorf("--max-concurrent-reconciles must be at least 1, got %d", o.maxConcurrentReconciles)
	}
	if o.configGracePeriod < 0 {
		return fmt.Errorf("--proxy-config-grace-period must not be negative, got %s", o.configGracePeriod)
	}
	if o.probeHTTPTimeout < 0 {
		return fmt.Errorf("--probe-http-timeout must not be negative, got %s", o.probeHTTPTimeout)
	}

	var tlsOpts []func(*tls.Config)
	if !o.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}

	metricsOpts := metricsserver.Options{
		BindAddress:   o.metricsAddr,
		SecureServing: o.metricsSecure,
		TLSOpts:       tlsOpts,
	}
	if o.metricsSecure {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	var metricsCertWatcher *certwatcher.CertWatcher
	if o.metricsCertPath != "" {
		w, err := certwatcher.New(filepath.Join(o.metricsCertPath, o.metricsCertName), filepath.Join(o.metricsCertPath, o.metricsCertKey))
		if err != nil {
			return fmt.Errorf("loading the metrics certificate from --metrics-cert-path %s: %w", o.metricsCertPath, err)
		}
		metricsCertWatcher = w
		metricsOpts.TLSOpts = append(metricsOpts.TLSOpts, func(c *tls.Config) { c.GetCertificate = w.GetCertificate })
	}

	// Webhooks (validating LLMProvider/RateLimitPolicy, the sidecar injector) register on this
	// server in setupWebhooks; it only listens once a webhook is registered.
	webhookServer := webhook.NewServer(webhook.Options{
		TLSOpts: tlsOpts,
		Port:    o.webhooks.port,
		CertDir: o.webhooks.certs.CertDir,
	})

	probeClient, err := newProbeClient(o)
	if err != nil {
		return err
	}

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsOpts,
		WebhookServer:          webhookServer,
		HealthProbeBindAddress: o.probeAddr,
		LeaderElection:         o.enableLeaderElection,
		LeaderElectionID:       "mosaic-operator.llm.mosaic.dev",
		// The manager exits right after its reconcilers stop, so it can hand leadership over
		// at once; nothing runs after Start returns.
		LeaderElectionReleaseOnCancel: true,
		Cache: cache.Options{
			// managedFields are never read and are a large share of each cached object.
			DefaultTransform: cache.TransformStripManagedFields(),
			// Only injected pods and Mosaic's ConfigMaps, never the whole cluster's.
			ByObject: controller.ProxyConfigCacheByObject(),
		},
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}

	// Adapters are built here and injected: reconcilers never name a concrete provider.
	registry := provider.Default()
	if err := (&controller.LLMProviderReconciler{
		Client:                  mgr.GetClient(),
		SecretReader:            mgr.GetAPIReader(),
		Registry:                registry,
		HTTPClient:              probeClient,
		Recorder:                mgr.GetEventRecorder("llmprovider-controller"),
		MaxConcurrentReconciles: o.maxConcurrentReconciles,
	}).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the LLMProvider controller: %w", err)
	}
	if err := (&controller.RateLimitPolicyReconciler{
		Client:                  mgr.GetClient(),
		MaxConcurrentReconciles: o.maxConcurrentReconciles,
	}).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the RateLimitPolicy controller: %w", err)
	}
	if err := (&controller.ProxyConfigReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("proxyconfig-controller"),
		UnusedGracePeriod:       o.configGracePeriod,
		MaxConcurrentReconciles: o.maxConcurrentReconciles,
	}).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the proxy configuration controller: %w", err)
	}

	if err := setupWebhooks(mgr, o.webhooks); err != nil {
		return err
	}

	if metricsCertWatcher != nil {
		if err := mgr.Add(metricsCertWatcher); err != nil {
			return fmt.Errorf("adding the metrics certificate watcher: %w", err)
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the readiness check: %w", err)
	}

	setupLog.Info("starting manager", "maxConcurrentReconciles", o.maxConcurrentReconciles)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running the manager: %w", err)
	}
	return nil
}

// newProbeClient is the HTTP client of health probes: proxy settings from the environment,
// connections kept per upstream host for every concurrent reconcile, the --probe-http-timeout
// bound, and the system roots plus --probe-ca-file.
func newProbeClient(o options) (*http.Client, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = o.maxConcurrentReconciles
	if o.probeCAFile != "" {
		pem, err := os.ReadFile(o.probeCAFile)
		if err != nil {
			return nil, fmt.Errorf("reading --probe-ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("--probe-ca-file " + o.probeCAFile + " holds no PEM certificate")
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: t, Timeout: o.probeHTTPTimeout}, nil
}
