package controller

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	llmv1alpha1 "github.com/mosaic-dev/mosaic/api/v1alpha1"
)

// fakeProvider creates a Fake-type LLMProvider (no Secret, no network).
func fakeProvider(ns, name string) *llmv1alpha1.LLMProvider {
	p := &llmv1alpha1.LLMProvider{}
	p.Namespace, p.Name = ns, name
	p.Spec = llmv1alpha1.LLMProviderSpec{Type: llmv1alpha1.ProviderFake, Models: []llmv1alpha1.Model{{Name: "gpt-4o-mini"}}}
	Expect(k8sClient.Create(suiteCtx, p)).To(Succeed())
	return p
}

// rateLimitPolicy creates a Pod-scoped policy of 60 requests a minute targeting the named providers.
func rateLimitPolicy(ns, name string, targets ...string) *llmv1alpha1.RateLimitPolicy {
	rlp := &llmv1alpha1.RateLimitPolicy{}
	rlp.Namespace, rlp.Name = ns, name
	for _, t := range targets {
		rlp.Spec.TargetRefs = append(rlp.Spec.TargetRefs, llmv1alpha1.PolicyTargetRef{Kind: "LLMProvider", Name: t})
	}
	rlp.Spec.Limits.RequestsPerMinute = ptr.To[int64](60)
	Expect(k8sClient.Create(suiteCtx, rlp)).To(Succeed())
	return rlp
}

// getPolicy reads a policy from the API server.
func getPolicy(g Gomega, ns, name string) *llmv1alpha1.RateLimitPolicy {
	rlp := &llmv1alpha1.RateLimitPolicy{}
	g.Expect(k8sClient.Get(suiteCtx, client.ObjectKey{Namespace: ns, Name: name}, rlp)).To(Succeed())
	return rlp
}

var _ = Describe("RateLimitPolicy reconciler", func() {
	var ns string

	BeforeEach(func() { ns = newNamespace() })

	It("resolves targetRefs and follows LLMProviders being created", func() {
		fakeProvider(ns, "present")
		rateLimitPolicy(ns, "limits", "present", "later")

		Eventually(func(g Gomega) {
			rlp := getPolicy(g, ns, "limits")
			g.Expect(rlp.Status.ObservedGeneration).To(Equal(rlp.Generation))
			g.Expect(conditionOf(rlp.Status.Conditions, llmv1alpha1.ConditionAccepted)).To(Equal("Accepted=True/Accepted"))
			g.Expect(conditionOf(rlp.Status.Conditions, llmv1alpha1.ConditionResolvedRefs)).To(Equal("ResolvedRefs=False/TargetNotFound"))
			g.Expect(conditionOf(rlp.Status.Conditions, llmv1alpha1.ConditionConflicted)).To(Equal("Conflicted=False/NoConflict"))
			g.Expect(findCondition(rlp.Status.Conditions, llmv1alpha1.ConditionResolvedRefs).Message).To(ContainSubstring(`"later"`))
			g.Expect(rlp.Status.Targets).To(Equal([]llmv1alpha1.PolicyTargetStatus{
				{Name: "present", Resolved: true},
				{Name: "later", Resolved: false},
			}))
		}).Should(Succeed())

		fakeProvider(ns, "later")
		Eventually(func(g Gomega) {
			rlp := getPolicy(g, ns, "limits")
			g.Expect(conditionOf(rlp.Status.Conditions, llmv1alpha1.ConditionResolvedRefs)).To(Equal("ResolvedRefs=True/ResolvedRefs"))
			g.Expect(rlp.Status.Targets).To(HaveEach(HaveField("Resolved", true)))
		}).Should(Succeed())
	})

	It("is not Accepted when no target exists", func() {
		rateLimitPolicy(ns, "orphan", "nowhere")
		Eventually(func(g Gomega) {
			rlp := getPolicy(g, ns, "orphan")
			g.Expect(conditionOf(rlp.Status.Conditions, llmv1alpha1.ConditionAccepted)).To(Equal("Accepted=False/NoTargetsResolved"))
			g.Expect(conditionOf(rlp.Status.Conditions, llmv1alpha1.ConditionResolvedRefs)).To(Equal("ResolvedRefs=False/TargetNotFound"))
		}).Should(Succeed())
	})

	It("marks the newer of two policies on one provider Conflicted, and releases it when the older goes", func() {
		fakeProvider(ns, "shared")
		fakeProvider(ns, "own")
		// The older policy sorts last by name, so only creationTimestamp can make it win.
		older := rateLimitPolicy(ns, "zz-older", "shared")
		Eventually(func() time.Time { return time.Now() }).Should(
			BeTemporally(">=", older.CreationTimestamp.Add(1100*time.Millisecond)),
			"creationTimestamp has one-second resolution")
		rateLimitPolicy(ns, "aa-newer", "shared", "own")

		Eventually(func(g Gomega) {
			newer := getPolicy(g, ns, "aa-newer")
			g.Expect(conditionOf(newer.Status.Conditions, llmv1alpha1.ConditionConflicted)).To(Equal("Conflicted=True/Conflicted"))
			g.Expect(findCondition(newer.Status.Conditions, llmv1alpha1.ConditionConflicted).Message).To(ContainSubstring(`"zz-older"`))
			g.Expect(conditionOf(newer.Status.Conditions, llmv1alpha1.ConditionAccepted)).To(Equal("Accepted=True/Accepted"), "still in force for own")
			g.Expect(newer.Status.Targets).To(Equal([]llmv1alpha1.PolicyTargetStatus{
				{Name: "shared", Resolved: true, ConflictedWith: "zz-older"},
				{Name: "own", Resolved: true},
			}))
			old := getPolicy(g, ns, "zz-older")
			g.Expect(conditionOf(old.Status.Conditions, llmv1alpha1.ConditionConflicted)).To(Equal("Conflicted=False/NoConflict"))
			g.Expect(conditionOf(old.Status.Conditions, llmv1alpha1.ConditionAccepted)).To(Equal("Accepted=True/Accepted"))
		}).Should(Succeed())

		By("a third policy on the shared provider alone is not Accepted at all")
		rateLimitPolicy(ns, "mm-third", "shared")
		Eventually(func(g Gomega) {
			third := getPolicy(g, ns, "mm-third")
			g.Expect(conditionOf(third.Status.Conditions, llmv1alpha1.ConditionAccepted)).To(Equal("Accepted=False/AllTargetsConflicted"))
			g.Expect(third.Status.Targets).To(ConsistOf(HaveField("ConflictedWith", "zz-older")))
		}).Should(Succeed())

		By("the older policy moving off the shared provider and back")
		Expect(k8sClient.Patch(suiteCtx, older, client.RawPatch(client.Merge.Type(),
			[]byte(`{"spec":{"targetRefs":[{"kind":"LLMProvider","name":"own"}]}}`)))).To(Succeed())
		Eventually(func(g Gomega) {
			third := getPolicy(g, ns, "mm-third")
			g.Expect(third.Status.Targets).To(ConsistOf(HaveField("ConflictedWith", "aa-newer")))
			newer := getPolicy(g, ns, "aa-newer")
			g.Expect(newer.Status.Targets).To(Equal([]llmv1alpha1.PolicyTargetStatus{
				{Name: "shared", Resolved: true},
				{Name: "own", Resolved: true, ConflictedWith: "zz-older"},
			}))
		}).Should(Succeed())
		Expect(k8sClient.Patch(suiteCtx, older, client.RawPatch(client.Merge.Type(),
			[]byte(`{"spec":{"targetRefs":[{"kind":"LLMProvider","name":"shared"}]}}`)))).To(Succeed())
		Eventually(func(g Gomega) {
			newer := getPolicy(g, ns, "aa-newer")
			g.Expect(newer.Status.Targets).To(Equal([]llmv1alpha1.PolicyTargetStatus{
				{Name: "shared", Resolved: true, ConflictedWith: "zz-older"},
				{Name: "own", Resolved: true},
			}))
		}).Should(Succeed())

		By("deleting the older policy")
		Expect(k8sClient.Delete(suiteCtx, older)).To(Succeed())
		Eventually(func(g Gomega) {
			newer := getPolicy(g, ns, "aa-newer")
			g.Expect(conditionOf(newer.Status.Conditions, llmv1alpha1.ConditionConflicted)).To(Equal("Conflicted=False/NoConflict"))
			g.Expect(newer.Status.Targets).To(HaveEach(HaveField("ConflictedWith", "")))
			third := getPolicy(g, ns, "mm-third")
			g.Expect(conditionOf(third.Status.Conditions, llmv1alpha1.ConditionConflicted)).To(Equal("Conflicted=True/Conflicted"))
			g.Expect(third.Status.Targets).To(ConsistOf(HaveField("ConflictedWith", "aa-newer")))
		}).Should(Succeed())
	})
})
