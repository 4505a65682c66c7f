package controller

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	llmv1alpha1 "github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/provider"
)

// configGracePeriod is how long the suite's ProxyConfigReconciler keeps a ConfigMap no pod uses.
const configGracePeriod = 2 * time.Second

// unmanagedLabel marks LLMProviders the suite's manager ignores, for specs that call Reconcile
// themselves with an injected clock.
const unmanagedLabel = "test.mosaic.dev/unmanaged"

var (
	testEnv   *envtest.Environment
	cfg       *rest.Config
	k8sClient client.Client
	scheme    = runtime.NewScheme()
	upstream  *fakeOpenAI
	// logs holds everything the manager logged, V(1) included.
	logs = &syncBuffer{}
	// issuedKeys are every API key the specs put in a Secret; none may leak.
	issuedKeys keyList
	suiteCtx   context.Context
	stopSuite  context.CancelFunc
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controller Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(io.MultiWriter(logs, GinkgoWriter)), zap.UseDevMode(true),
		zap.Level(zapcore.DebugLevel)))
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	suiteCtx, stopSuite = context.WithCancel(context.Background())

	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(llmv1alpha1.AddToScheme(scheme)).To(Succeed())

	By("starting kube-apiserver and etcd (KUBEBUILDER_ASSETS)")
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	upstream = newFakeOpenAI()

	By("starting the manager with the three reconcilers and the real provider registry")
	unmanaged, err := labels.Parse("!" + unmanagedLabel)
	Expect(err).NotTo(HaveOccurred())
	byObject := ProxyConfigCacheByObject()
	byObject[&llmv1alpha1.LLMProvider{}] = cache.ByObject{Label: unmanaged}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: cache.Options{
			DefaultTransform: cache.TransformStripManagedFields(),
			ByObject:         byObject,
		},
	})
	Expect(err).NotTo(HaveOccurred())
	Expect((&LLMProviderReconciler{
		Registry:   provider.Default(),
		HTTPClient: upstream.Client(),
	}).SetupWithManager(suiteCtx, mgr)).To(Succeed())
	Expect((&RateLimitPolicyReconciler{}).SetupWithManager(suiteCtx, mgr)).To(Succeed())
	Expect((&ProxyConfigReconciler{UnusedGracePeriod: configGracePeriod}).SetupWithManager(suiteCtx, mgr)).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(suiteCtx)).To(Succeed())
	}()
})

var _ = AfterSuite(func() {
	if stopSuite != nil {
		stopSuite()
	}
	if upstream != nil {
		upstream.Close()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// syncBuffer is a bytes.Buffer safe for the manager's concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// keyList records issued keys.
type keyList struct {
	mu   sync.Mutex
	keys []string
}

func (l *keyList) add(k string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys = append(l.keys, k)
	return k
}

func (l *keyList) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.keys...)
}

// leakedKeyIn returns the index of the first issued key found in text, or -1. It never returns
// the key itself, so a failure message cannot print it.
func leakedKeyIn(text string) int {
	for i, k := range issuedKeys.all() {
		if strings.Contains(text, k) {
			return i
		}
	}
	return -1
}

// newNamespace creates a namespace for one spec.
func newNamespace() string {
	ns := &corev1.Namespace{}
	ns.GenerateName = "mosaic-test-"
	Expect(k8sClient.Create(suiteCtx, ns)).To(Succeed())
	return ns.Name
}

// keySecret creates a Secret holding key under data key "api-key".
func keySecret(ns, name, key string) *corev1.Secret {
	s := &corev1.Secret{}
	s.Namespace, s.Name = ns, name
	s.Data = map[string][]byte{"api-key": []byte(issuedKeys.add(key))}
	Expect(k8sClient.Create(suiteCtx, s)).To(Succeed())
	return s
}

// openAIProvider returns an OpenAI LLMProvider aimed at the fake upstream, reading Secret
// secretName's "api-key".
func openAIProvider(ns, name, secretName string) *llmv1alpha1.LLMProvider {
	p := &llmv1alpha1.LLMProvider{}
	p.Namespace, p.Name = ns, name
	p.Spec = llmv1alpha1.LLMProviderSpec{
		Type:            llmv1alpha1.ProviderOpenAI,
		Endpoint:        upstream.baseURL(),
		APIKeySecretRef: &llmv1alpha1.SecretKeyRef{Name: secretName, Key: "api-key"},
		Models:          []llmv1alpha1.Model{{Name: "gpt-4o-mini"}},
	}
	return p
}

// getProvider reads a provider from the API server.
func getProvider(g Gomega, ns, name string) *llmv1alpha1.LLMProvider {
	p := &llmv1alpha1.LLMProvider{}
	g.Expect(k8sClient.Get(suiteCtx, client.ObjectKey{Namespace: ns, Name: name}, p)).To(Succeed())
	return p
}

// conditionOf returns type, status and reason of a condition as one comparable string.
func conditionOf(conds []metav1.Condition, t string) string {
	for _, c := range conds {
		if c.Type == t {
			return fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason)
		}
	}
	return t + " absent"
}

// eventsFor lists the Events regarding the named object.
func eventsFor(g Gomega, ns, name string) []eventsv1.Event {
	var list eventsv1.EventList
	g.Expect(k8sClient.List(suiteCtx, &list, client.InNamespace(ns))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// series finds the metric family name's series whose labels include want, from the
// controller-runtime registry the manager serves.
func series(name string, want map[string]string) []*dto.Metric {
	families, err := crmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	var out []*dto.Metric
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue metric
				}
			}
			out = append(out, m)
		}
	}
	return out
}
