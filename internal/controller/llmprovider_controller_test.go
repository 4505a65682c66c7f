package controller

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	llmv1alpha1 "github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/provider"
)

// The short names of the LLMProvider condition types, for conditionOf.
const (
	credsResolved = llmv1alpha1.ConditionCredentialsResolved
	healthy       = llmv1alpha1.ConditionHealthy
	ready         = llmv1alpha1.ConditionReady
)

// metricValues returns the value of each series of name with labels want: a gauge's or
// counter's value, a histogram's sample count.
func metricValues(name string, want map[string]string) []float64 {
	var out []float64
	for _, m := range series(name, want) {
		switch {
		case m.GetGauge() != nil:
			out = append(out, m.GetGauge().GetValue())
		case m.GetCounter() != nil:
			out = append(out, m.GetCounter().GetValue())
		case m.GetHistogram() != nil:
			out = append(out, float64(m.GetHistogram().GetSampleCount()))
		}
	}
	return out
}

// providerMetricNames are every series the LLMProvider reconciler exports.
var providerMetricNames = []string{
	"mosaic_provider_ready",
	"mosaic_provider_probe_duration_seconds",
	"mosaic_provider_probes_total",
	"mosaic_provider_quota_remaining",
	"mosaic_provider_quota_limit",
}

// expectReady waits until the provider is Ready and returns it.
func expectReady(ns, name string) *llmv1alpha1.LLMProvider {
	var got *llmv1alpha1.LLMProvider
	Eventually(func(g Gomega) {
		got = getProvider(g, ns, name)
		g.Expect(conditionOf(got.Status.Conditions, ready)).To(Equal("Ready=True/Ready"))
	}).Should(Succeed())
	return got
}

var _ = Describe("LLMProvider reconciler", func() {
	var ns string

	BeforeEach(func() { ns = newNamespace() })

	AfterEach(func() {
		By("finding no API key in this namespace's Events and LLMProvider statuses, or in the logs")
		var list eventsv1.EventList
		Expect(k8sClient.List(suiteCtx, &list, client.InNamespace(ns))).To(Succeed())
		rawEvents, err := json.Marshal(list)
		Expect(err).NotTo(HaveOccurred())
		Expect(leakedKeyIn(string(rawEvents))).To(Equal(-1), "an Event names an API key")
		var providers llmv1alpha1.LLMProviderList
		Expect(k8sClient.List(suiteCtx, &providers, client.InNamespace(ns))).To(Succeed())
		raw, err := json.Marshal(providers)
		Expect(err).NotTo(HaveOccurred())
		Expect(leakedKeyIn(string(raw))).To(Equal(-1), "an LLMProvider names an API key")
		Expect(leakedKeyIn(logs.String())).To(Equal(-1), "the manager logged an API key")
	})

	It("is Ready with the probe's latency, models, quota and observedGeneration against a healthy OpenAI", func() {
		keySecret(ns, "openai", upstream.newKey(healthyUpstream))
		Expect(k8sClient.Create(suiteCtx, openAIProvider(ns, "openai", "openai"))).To(Succeed())

		got := expectReady(ns, "openai")
		Expect(conditionOf(got.Status.Conditions, credsResolved)).To(Equal("CredentialsResolved=True/SecretResolved"))
		Expect(conditionOf(got.Status.Conditions, healthy)).To(Equal("Healthy=True/ProbeSucceeded"))
		Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		for _, c := range got.Status.Conditions {
			Expect(c.ObservedGeneration).To(Equal(got.Generation), c.Type)
		}
		h := got.Status.Health
		Expect(h).NotTo(BeNil())
		Expect(h.LastProbeTime).NotTo(BeNil())
		Expect(h.HTTPStatus).To(BeEquivalentTo(http.StatusOK))
		Expect(h.Message).To(BeEmpty())
		Expect(h.Latency).NotTo(BeNil())
		Expect(h.Latency.Duration%time.Millisecond).To(BeZero(), "latency is rounded to the millisecond")
		Expect(got.Status.Models).To(Equal([]string{"gpt-4o", "gpt-4o-mini", "text-embedding-3-small"}))
		Expect(got.Status.Quota).NotTo(BeNil())
		Expect(got.Status.Quota.RequestsRemaining).To(HaveValue(BeEquivalentTo(9999)))

		By("recording one Normal Ready Event")
		Eventually(func(g Gomega) {
			evs := eventsFor(g, ns, "openai")
			g.Expect(evs).To(HaveLen(1))
			g.Expect(evs[0].Type).To(Equal(corev1.EventTypeNormal))
			g.Expect(evs[0].Reason).To(Equal(llmv1alpha1.ReasonReady))
		}).Should(Succeed())

		By("following a spec change with observedGeneration")
		Expect(k8sClient.Patch(suiteCtx, got, client.RawPatch(client.Merge.Type(),
			[]byte(`{"spec":{"models":[{"name":"gpt-4o-mini"},{"name":"simple","target":"gpt-4o-mini"}]}}`)))).To(Succeed())
		Eventually(func(g Gomega) {
			now := getProvider(g, ns, "openai")
			g.Expect(now.Generation).To(BeEquivalentTo(2))
			g.Expect(now.Status.ObservedGeneration).To(BeEquivalentTo(2))
			for _, c := range now.Status.Conditions {
				g.Expect(c.ObservedGeneration).To(BeEquivalentTo(2), c.Type)
			}
		}).Should(Succeed())
	})

	It("turns InvalidCredentials within seconds of the key being rotated to a bad one (Secret watch, not requeue)", func() {
		secret := keySecret(ns, "rotate", upstream.newKey(healthyUpstream))
		p := openAIProvider(ns, "rotate", "rotate")
		p.Spec.HealthCheck = &llmv1alpha1.HealthCheck{Interval: &metav1.Duration{Duration: time.Hour}}
		Expect(k8sClient.Create(suiteCtx, p)).To(Succeed())
		expectReady(ns, "rotate")

		bad := issuedKeys.add("sk-proj-revoked0000000000000000000000000000000000abcd")
		secret.Data = map[string][]byte{"api-key": []byte(bad)}
		Expect(k8sClient.Update(suiteCtx, secret)).To(Succeed())

		// The probe interval is an hour: only the Secret watch can explain a change this soon.
		Eventually(func(g Gomega) {
			got := getProvider(g, ns, "rotate")
			g.Expect(conditionOf(got.Status.Conditions, ready)).To(Equal("Ready=False/InvalidCredentials"))
			g.Expect(conditionOf(got.Status.Conditions, healthy)).To(Equal("Healthy=False/InvalidCredentials"))
			g.Expect(conditionOf(got.Status.Conditions, credsResolved)).To(Equal("CredentialsResolved=True/SecretResolved"))
			g.Expect(got.Status.Health).NotTo(BeNil())
			g.Expect(got.Status.Health.HTTPStatus).To(BeEquivalentTo(http.StatusUnauthorized))
			g.Expect(got.Status.Health.Latency).To(BeNil())
			g.Expect(got.Status.Health.Message).To(ContainSubstring("Incorrect API key provided"))
		}, 15*time.Second).Should(Succeed())

		By("recording a Warning naming the reason")
		Eventually(func(g Gomega) {
			var reasons []string
			for _, e := range eventsFor(g, ns, "rotate") {
				reasons = append(reasons, e.Type+"/"+e.Reason)
			}
			g.Expect(reasons).To(ConsistOf("Normal/Ready", "Warning/InvalidCredentials"))
		}).Should(Succeed())
	})

	It("says SecretNotFound when the Secret is deleted", func() {
		secret := keySecret(ns, "gone", upstream.newKey(healthyUpstream))
		p := openAIProvider(ns, "gone", "gone")
		p.Spec.HealthCheck = &llmv1alpha1.HealthCheck{Interval: &metav1.Duration{Duration: time.Hour}}
		Expect(k8sClient.Create(suiteCtx, p)).To(Succeed())
		expectReady(ns, "gone")

		Expect(k8sClient.Delete(suiteCtx, secret)).To(Succeed())
		Eventually(func(g Gomega) {
			got := getProvider(g, ns, "gone")
			g.Expect(conditionOf(got.Status.Conditions, credsResolved)).To(Equal("CredentialsResolved=False/SecretNotFound"))
			g.Expect(conditionOf(got.Status.Conditions, healthy)).To(Equal("Healthy=Unknown/CredentialsUnresolved"))
			g.Expect(conditionOf(got.Status.Conditions, ready)).To(Equal("Ready=False/SecretNotFound"))
			g.Expect(got.Status.Health).To(BeNil())
			g.Expect(got.Status.Quota).To(BeNil())
		}, 15*time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			labels := map[string]string{"namespace": ns, "provider": "gone"}
			g.Expect(metricValues("mosaic_provider_ready", labels)).To(ConsistOf(0.0))
			g.Expect(series("mosaic_provider_quota_remaining", labels)).To(BeEmpty(), "no quota without a probe")
		}).Should(Succeed())
	})

	It("says KeyMissingInSecret until the key is added", func() {
		secret := &corev1.Secret{}
		secret.Namespace, secret.Name = ns, "partial"
		secret.Data = map[string][]byte{"organization": []byte("org-123")}
		Expect(k8sClient.Create(suiteCtx, secret)).To(Succeed())
		p := openAIProvider(ns, "partial", "partial")
		p.Spec.HealthCheck = &llmv1alpha1.HealthCheck{Interval: &metav1.Duration{Duration: time.Hour}}
		Expect(k8sClient.Create(suiteCtx, p)).To(Succeed())

		Eventually(func(g Gomega) {
			got := getProvider(g, ns, "partial")
			g.Expect(conditionOf(got.Status.Conditions, credsResolved)).To(Equal("CredentialsResolved=False/KeyMissingInSecret"))
			g.Expect(conditionOf(got.Status.Conditions, ready)).To(Equal("Ready=False/KeyMissingInSecret"))
			c := findCondition(got.Status.Conditions, credsResolved)
			g.Expect(c.Message).To(ContainSubstring(`"api-key"`))
		}).Should(Succeed())

		secret.Data["api-key"] = []byte(issuedKeys.add(upstream.newKey(healthyUpstream)) + "\n")
		Expect(k8sClient.Update(suiteCtx, secret)).To(Succeed())
		expectReady(ns, "partial")
	})

	DescribeTable("reports the upstream's failure as Healthy=False with its reason",
		func(status int, reason string) {
			keySecret(ns, "failing", upstream.newKey(upstreamBehaviour{status: status}))
			Expect(k8sClient.Create(suiteCtx, openAIProvider(ns, "failing", "failing"))).To(Succeed())
			Eventually(func(g Gomega) {
				got := getProvider(g, ns, "failing")
				g.Expect(conditionOf(got.Status.Conditions, healthy)).To(Equal("Healthy=False/" + reason))
				g.Expect(conditionOf(got.Status.Conditions, ready)).To(Equal("Ready=False/" + reason))
				g.Expect(conditionOf(got.Status.Conditions, credsResolved)).To(Equal("CredentialsResolved=True/SecretResolved"))
				g.Expect(got.Status.Health.HTTPStatus).To(BeEquivalentTo(status))
			}).Should(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(metricValues("mosaic_provider_probes_total",
					map[string]string{"namespace": ns, "provider": "failing", "reason": reason})).To(ConsistOf(BeNumerically(">=", 1)))
				g.Expect(metricValues("mosaic_provider_ready",
					map[string]string{"namespace": ns, "provider": "failing", "type": "OpenAI"})).To(ConsistOf(0.0))
			}).Should(Succeed())
		},
		Entry("500 server_error", http.StatusInternalServerError, llmv1alpha1.ReasonUpstreamError),
		Entry("503", http.StatusServiceUnavailable, llmv1alpha1.ReasonUpstreamError),
		Entry("429 insufficient_quota", http.StatusTooManyRequests, llmv1alpha1.ReasonQuotaExhausted),
	)

	It("publishes provider-reported quota in status and metrics, and deletes the series with the provider", func() {
		b := healthyUpstream
		b.requestsLimit, b.requestsRemaining, b.tokensLimit, b.tokensRemaining = 500, 432, 200000, 123456
		keySecret(ns, "quota", upstream.newKey(b))
		Expect(k8sClient.Create(suiteCtx, openAIProvider(ns, "quota", "quota"))).To(Succeed())

		got := expectReady(ns, "quota")
		q := got.Status.Quota
		Expect(q).NotTo(BeNil())
		Expect(q.RequestsLimit).To(HaveValue(BeEquivalentTo(500)))
		Expect(q.RequestsRemaining).To(HaveValue(BeEquivalentTo(432)))
		Expect(q.TokensLimit).To(HaveValue(BeEquivalentTo(200000)))
		Expect(q.TokensRemaining).To(HaveValue(BeEquivalentTo(123456)))
		Expect(q.ResetAt).NotTo(BeNil())

		labels := func(extra ...string) map[string]string {
			m := map[string]string{"namespace": ns, "provider": "quota"}
			for i := 0; i+1 < len(extra); i += 2 {
				m[extra[i]] = extra[i+1]
			}
			return m
		}
		Eventually(func(g Gomega) {
			g.Expect(metricValues("mosaic_provider_ready", labels("type", "OpenAI"))).To(ConsistOf(1.0))
			g.Expect(metricValues("mosaic_provider_quota_remaining", labels("resource", "requests"))).To(ConsistOf(432.0))
			g.Expect(metricValues("mosaic_provider_quota_remaining", labels("resource", "tokens"))).To(ConsistOf(123456.0))
			g.Expect(metricValues("mosaic_provider_quota_limit", labels("resource", "requests"))).To(ConsistOf(500.0))
			g.Expect(metricValues("mosaic_provider_quota_limit", labels("resource", "tokens"))).To(ConsistOf(200000.0))
			g.Expect(metricValues("mosaic_provider_probes_total", labels("reason", "ProbeSucceeded"))).To(ConsistOf(BeNumerically(">=", 1)))
			g.Expect(metricValues("mosaic_provider_probe_duration_seconds", labels("type", "OpenAI", "outcome", "success"))).To(ConsistOf(BeNumerically(">=", 1)))
		}).Should(Succeed())

		By("deleting the provider")
		Expect(k8sClient.Delete(suiteCtx, got)).To(Succeed())
		Eventually(func(g Gomega) {
			for _, name := range providerMetricNames {
				g.Expect(series(name, labels())).To(BeEmpty(), name)
			}
		}).Should(Succeed())
	})

	It("does not rewrite status when a reconcile observes nothing new", func() {
		secret := keySecret(ns, "steady", upstream.newKey(healthyUpstream))
		p := openAIProvider(ns, "steady", "steady")
		p.Spec.HealthCheck = &llmv1alpha1.HealthCheck{Interval: &metav1.Duration{Duration: time.Hour}}
		Expect(k8sClient.Create(suiteCtx, p)).To(Succeed())
		before := expectReady(ns, "steady")
		reused := func() int { return countLogLines("probe not due", ns) }
		seen := reused()

		By("relabelling the Secret: a Secret event whose key is unchanged")
		secret.Labels = map[string]string{"rotated-by": "nobody"}
		Expect(k8sClient.Update(suiteCtx, secret)).To(Succeed())
		Eventually(reused).Should(BeNumerically(">", seen), "the Secret event reconciled the provider")

		after := getProvider(Default, ns, "steady")
		Expect(after.ResourceVersion).To(Equal(before.ResourceVersion))
		Expect(after.Status.Health.LastProbeTime).To(Equal(before.Status.Health.LastProbeTime))
		Expect(eventsFor(Default, ns, "steady")).To(HaveLen(1))
	})

	It("makes a Fake provider Ready without a Secret", func() {
		p := &llmv1alpha1.LLMProvider{}
		p.Namespace, p.Name = ns, "demo"
		p.Spec = llmv1alpha1.LLMProviderSpec{Type: llmv1alpha1.ProviderFake, Models: []llmv1alpha1.Model{{Name: "gpt-4o-mini"}}}
		Expect(k8sClient.Create(suiteCtx, p)).To(Succeed())
		got := expectReady(ns, "demo")
		Expect(conditionOf(got.Status.Conditions, credsResolved)).To(Equal("CredentialsResolved=True/NoCredentialsNeeded"))
		Expect(conditionOf(got.Status.Conditions, healthy)).To(Equal("Healthy=True/ProbeSucceeded"))
		Expect(got.Status.Models).To(Equal(provider.FakeModels()))
	})

	It("is Ready without probing when spec.healthCheck.disabled is set", func() {
		keySecret(ns, "quiet", upstream.newKey(healthyUpstream))
		p := openAIProvider(ns, "quiet", "quiet")
		p.Spec.HealthCheck = &llmv1alpha1.HealthCheck{Disabled: true}
		Expect(k8sClient.Create(suiteCtx, p)).To(Succeed())
		got := expectReady(ns, "quiet")
		Expect(conditionOf(got.Status.Conditions, healthy)).To(Equal("Healthy=Unknown/ProbeDisabled"))
		Expect(got.Status.Health).To(BeNil())
		Expect(series("mosaic_provider_probes_total", map[string]string{"namespace": ns})).To(BeEmpty())
	})

	It("requeues after the interval plus jitter and probes only when a probe is due", func() {
		keySecret(ns, "clocked", upstream.newKey(healthyUpstream))
		p := openAIProvider(ns, "clocked", "clocked")
		p.Labels = map[string]string{unmanagedLabel: "true"}
		p.Spec.HealthCheck = &llmv1alpha1.HealthCheck{Interval: &metav1.Duration{Duration: 30 * time.Second}}
		Expect(k8sClient.Create(suiteCtx, p)).To(Succeed())

		start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		clk := clocktesting.NewFakeClock(start)
		recorder := events.NewFakeRecorder(10)
		r := &LLMProviderReconciler{
			Client: k8sClient, SecretReader: k8sClient, Registry: provider.Default(),
			HTTPClient: upstream.Client(), Recorder: recorder, Clock: clk,
			Jitter: func(time.Duration) time.Duration { return 7 * time.Second },
		}
		req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(p)}

		res, err := r.Reconcile(suiteCtx, req)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.RequeueAfter).To(Equal(37*time.Second), "interval 30s + jitter 7s")
		first := getProvider(Default, ns, "clocked")
		Expect(conditionOf(first.Status.Conditions, ready)).To(Equal("Ready=True/Ready"))
		Expect(first.Status.Health.LastProbeTime.Time).To(BeTemporally("==", start))
		Expect(recorder.Events).To(Receive(HavePrefix("Normal Ready")))

		By("reconciling again 10s later: no probe, no write, requeue when the next probe is due")
		clk.Step(10 * time.Second)
		res, err = r.Reconcile(suiteCtx, req)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.RequeueAfter).To(Equal(27 * time.Second))
		Expect(getProvider(Default, ns, "clocked").ResourceVersion).To(Equal(first.ResourceVersion))

		By("reconciling once the interval has passed: a new probe, one write")
		clk.Step(21 * time.Second)
		res, err = r.Reconcile(suiteCtx, req)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.RequeueAfter).To(Equal(37 * time.Second))
		third := getProvider(Default, ns, "clocked")
		Expect(third.ResourceVersion).NotTo(Equal(first.ResourceVersion))
		Expect(third.Status.Health.LastProbeTime.Time).To(BeTemporally("==", start.Add(31*time.Second)))
		Expect(recorder.Events).NotTo(Receive(), "Ready did not change: no Event")
	})
})

// findCondition returns the condition of type t, or an empty one.
func findCondition(conds []metav1.Condition, t string) metav1.Condition {
	for _, c := range conds {
		if c.Type == t {
			return c
		}
	}
	return metav1.Condition{}
}

// countLogLines counts captured log lines containing every one of parts.
func countLogLines(parts ...string) int {
	n := 0
line:
	for _, l := range strings.Split(logs.String(), "\n") {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue line
			}
		}
		n++
	}
	return n
}
