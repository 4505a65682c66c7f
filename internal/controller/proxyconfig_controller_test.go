package controller

import (
	"encoding/json"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	llmv1alpha1 "github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/proxyconfig"
	"github.com/mosaic-dev/mosaic/internal/renderer"
	"github.com/mosaic-dev/mosaic/internal/webhook"
)

// injectPod creates a pod asking for providers (the annotation's value) in ns, mutated exactly as
// the pod webhook mutates it (same renderer input, same InjectSidecar), and returns it.
func injectPod(ns, name, providers string) *corev1.Pod {
	names, err := renderer.ParseProvidersAnnotation(providers)
	Expect(err).NotTo(HaveOccurred())
	in, err := renderer.Gather(suiteCtx, k8sClient, ns, names)
	Expect(err).NotTo(HaveOccurred())
	res, err := renderer.RenderDetailed(in)
	Expect(err).NotTo(HaveOccurred())
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   ns,
			Name:        name,
			Labels:      map[string]string{renderer.InjectLabel: "true"},
			Annotations: map[string]string{renderer.ProvidersAnnotation: providers},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
	}
	webhook.InjectSidecar(pod, webhook.Injection{
		Sidecar:       renderer.DefaultSidecarOptions(),
		ConfigMapName: renderer.ConfigMapName(ns, names),
		SecretKeys:    res.SecretKeys,
	})
	Expect(k8sClient.Create(suiteCtx, pod)).To(Succeed())
	return pod
}

// deletePod deletes a pod at once (envtest has no kubelet to finish a graceful deletion).
func deletePod(pod *corev1.Pod) {
	Expect(k8sClient.Delete(suiteCtx, pod, client.GracePeriodSeconds(0))).To(Succeed())
}

// renderedConfig is what the renderer makes of the providers names of ns right now, read from the
// API server: the content the ConfigMap must hold.
func renderedConfig(g Gomega, ns string, names ...string) string {
	in, err := renderer.Gather(suiteCtx, k8sClient, ns, names)
	g.Expect(err).NotTo(HaveOccurred())
	cfg, err := renderer.Render(in)
	g.Expect(err).NotTo(HaveOccurred())
	raw, err := proxyconfig.Marshal(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	return string(raw)
}

// configMapOf reads the ConfigMap of the providers names of ns.
func configMapOf(g Gomega, ns string, names ...string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{}
	g.Expect(k8sClient.Get(suiteCtx, client.ObjectKey{Namespace: ns, Name: renderer.ConfigMapName(ns, names)}, cm)).To(Succeed())
	return cm
}

// expectNoConfigMap waits until the ConfigMap of names is gone.
func expectNoConfigMap(ns string, names ...string) {
	Eventually(func(g Gomega) {
		err := k8sClient.Get(suiteCtx, client.ObjectKey{Namespace: ns, Name: renderer.ConfigMapName(ns, names)}, &corev1.ConfigMap{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "ConfigMap still exists (err %v)", err)
	}).Should(Succeed())
}

// expectConfigs waits until LLMProvider name reports configs.
func expectConfigs(ns, name string, configs int32) {
	Eventually(func(g Gomega) {
		g.Expect(getProvider(g, ns, name).Status.Configs).To(Equal(configs))
	}).Should(Succeed(), "LLMProvider %s status.configs", name)
}

// expectEnforced waits until RateLimitPolicy name's Enforced condition is want ("Status/Reason").
func expectEnforced(ns, name, want string) {
	Eventually(func(g Gomega) {
		rlp := getPolicy(g, ns, name)
		g.Expect(conditionOf(rlp.Status.Conditions, llmv1alpha1.ConditionEnforced)).To(Equal("Enforced=" + want))
		g.Expect(findCondition(rlp.Status.Conditions, llmv1alpha1.ConditionEnforced).ObservedGeneration).To(Equal(rlp.Generation))
	}).Should(Succeed(), "RateLimitPolicy %s Enforced", name)
}

// patchSpec merge-patches obj with a JSON document.
func patchSpec(obj client.Object, patch string) {
	Expect(k8sClient.Patch(suiteCtx, obj, client.RawPatch(client.Merge.Type(), []byte(patch)))).To(Succeed())
}

var _ = Describe("ProxyConfig reconciler", func() {
	var ns string

	BeforeEach(func() { ns = newNamespace() })

	AfterEach(func() {
		By("finding no API key in this namespace's ConfigMaps and Events, or in the logs")
		var cms corev1.ConfigMapList
		Expect(k8sClient.List(suiteCtx, &cms, client.InNamespace(ns))).To(Succeed())
		raw, err := json.Marshal(cms)
		Expect(err).NotTo(HaveOccurred())
		Expect(leakedKeyIn(string(raw))).To(Equal(-1), "a ConfigMap holds an API key")
		var evs eventsv1.EventList
		Expect(k8sClient.List(suiteCtx, &evs, client.InNamespace(ns))).To(Succeed())
		raw, err = json.Marshal(evs)
		Expect(err).NotTo(HaveOccurred())
		Expect(leakedKeyIn(string(raw))).To(Equal(-1), "an Event names an API key")
		Expect(leakedKeyIn(logs.String())).To(Equal(-1), "the manager logged an API key")
	})

	It("writes an injected pod's ConfigMap as soon as the pod exists: the renderer's output, with key files and never a key", func() {
		keySecret(ns, "openai", upstream.newKey(healthyUpstream))
		primary := openAIProvider(ns, "openai", "openai")
		primary.Spec.Fallback = &llmv1alpha1.Fallback{ProviderRef: &llmv1alpha1.LocalProviderRef{Name: "backup"}}
		Expect(k8sClient.Create(suiteCtx, primary)).To(Succeed())
		fakeProvider(ns, "backup")

		pod := injectPod(ns, "app", "openai")
		Expect(pod.Labels).To(HaveKeyWithValue(renderer.ConfigLabel, renderer.ConfigMapName(ns, []string{"openai"})))

		Eventually(func(g Gomega) {
			cm := configMapOf(g, ns, "openai")
			g.Expect(cm.Data).To(Equal(map[string]string{renderer.ConfigKey: renderedConfig(g, ns, "openai")}))
			g.Expect(cm.Labels).To(HaveKeyWithValue(renderer.ConfigLabel, cm.Name))
			g.Expect(cm.Annotations).To(HaveKeyWithValue(renderer.ProvidersAnnotation, "openai"))
			g.Expect(cm.Annotations).To(HaveKeyWithValue(ConfigProvidersAnnotation, "backup,openai"))
			g.Expect(cm.Annotations).NotTo(HaveKey(ConfigRateLimitsAnnotation))
			g.Expect(cm.Data[renderer.ConfigKey]).To(ContainSubstring(renderer.SecretKeyPath("openai", "api-key")))
		}).Should(Succeed())

		By("mounting the ConfigMap the reconciler wrote and only the referenced Secret key")
		var mounted []string
		for _, v := range pod.Spec.Volumes {
			switch {
			case v.ConfigMap != nil:
				mounted = append(mounted, "configmap/"+v.ConfigMap.Name)
			case v.Projected != nil:
				for _, s := range v.Projected.Sources {
					for _, item := range s.Secret.Items {
						mounted = append(mounted, "secret/"+s.Secret.Name+"/"+item.Key)
					}
				}
			}
		}
		Expect(mounted).To(ConsistOf("configmap/"+renderer.ConfigMapName(ns, []string{"openai"}), "secret/openai/api-key"))

		By("counting the configuration in the status of the requested provider and of its fallback")
		expectConfigs(ns, "openai", 1)
		expectConfigs(ns, "backup", 1)
	})

	It("follows LLMProvider and RateLimitPolicy edits and writes only when the content changes", func() {
		provider := fakeProvider(ns, "a")
		injectPod(ns, "p1", "a")
		var rv string
		Eventually(func(g Gomega) {
			cm := configMapOf(g, ns, "a")
			g.Expect(cm.Data[renderer.ConfigKey]).To(Equal(renderedConfig(g, ns, "a")))
			rv = cm.ResourceVersion
		}).Should(Succeed())

		By("leaving the ConfigMap alone for a second pod of the same set and for the provider's status updates")
		injectPod(ns, "p2", "a")
		Eventually(func(g Gomega) {
			g.Expect(getProvider(g, ns, "a").Status.Configs).To(BeEquivalentTo(1))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(configMapOf(g, ns, "a").ResourceVersion).To(Equal(rv))
		}, "1s").Should(Succeed())

		By("changing the provider's models")
		patchSpec(provider, `{"spec":{"models":[{"name":"gpt-4o-mini"},{"name":"simple","target":"gpt-4o-mini"}]}}`)
		Eventually(func(g Gomega) {
			data := configMapOf(g, ns, "a").Data[renderer.ConfigKey]
			g.Expect(data).To(ContainSubstring("simple"))
			g.Expect(data).To(Equal(renderedConfig(g, ns, "a")))
		}).Should(Succeed())

		By("attaching a RateLimitPolicy")
		rlp := rateLimitPolicy(ns, "limits", "a")
		Eventually(func(g Gomega) {
			cm := configMapOf(g, ns, "a")
			g.Expect(cm.Annotations).To(HaveKeyWithValue(ConfigRateLimitsAnnotation, "limits"))
			g.Expect(cm.Data[renderer.ConfigKey]).To(ContainSubstring(ns + "/limits"))
			g.Expect(cm.Data[renderer.ConfigKey]).To(Equal(renderedConfig(g, ns, "a")))
		}).Should(Succeed())
		expectEnforced(ns, "limits", "True/Enforced")

		By("editing the policy's limits")
		patchSpec(rlp, `{"spec":{"limits":{"requestsPerMinute":123}}}`)
		Eventually(func(g Gomega) {
			data := configMapOf(g, ns, "a").Data[renderer.ConfigKey]
			g.Expect(data).To(ContainSubstring("123"))
			g.Expect(data).To(Equal(renderedConfig(g, ns, "a")))
		}).Should(Succeed())

		By("deleting the policy")
		Expect(k8sClient.Delete(suiteCtx, rlp)).To(Succeed())
		Eventually(func(g Gomega) {
			cm := configMapOf(g, ns, "a")
			g.Expect(cm.Annotations).NotTo(HaveKey(ConfigRateLimitsAnnotation))
			g.Expect(cm.Data[renderer.ConfigKey]).NotTo(ContainSubstring(ns + "/limits"))
			g.Expect(cm.Data[renderer.ConfigKey]).To(Equal(renderedConfig(g, ns, "a")))
		}).Should(Succeed())
	})

	It("keeps one ConfigMap per provider set, and sets and clears Enforced and configs as pods come and go", func() {
		fakeProvider(ns, "a")
		fakeProvider(ns, "b")
		rateLimitPolicy(ns, "limits", "a")
		expectEnforced(ns, "limits", "False/NotInUse")

		p1 := injectPod(ns, "p1", "a,b")
		p2 := injectPod(ns, "p2", "b, a")
		p3 := injectPod(ns, "p3", "a")
		Expect(p1.Labels[renderer.ConfigLabel]).To(Equal(p2.Labels[renderer.ConfigLabel]), "one set, one ConfigMap, whatever the order")

		Eventually(func(g Gomega) {
			var cms corev1.ConfigMapList
			g.Expect(k8sClient.List(suiteCtx, &cms, client.InNamespace(ns), client.HasLabels{renderer.ConfigLabel})).To(Succeed())
			var names []string
			for _, cm := range cms.Items {
				names = append(names, cm.Name)
			}
			g.Expect(names).To(ConsistOf(renderer.ConfigMapName(ns, []string{"a", "b"}), renderer.ConfigMapName(ns, []string{"a"})))
		}).Should(Succeed())
		expectConfigs(ns, "a", 2)
		expectConfigs(ns, "b", 1)
		expectEnforced(ns, "limits", "True/Enforced")
		Expect(findCondition(getPolicy(Default, ns, "limits").Status.Conditions, llmv1alpha1.ConditionEnforced).Message).To(ContainSubstring("2"))

		By("keeping the shared ConfigMap while one of its two pods remains")
		deletePod(p1)
		Consistently(func(g Gomega) {
			g.Expect(configMapOf(g, ns, "a", "b").Annotations).NotTo(HaveKey(UnusedSinceAnnotation))
		}, "1s").Should(Succeed())

		By("releasing it when the last pod goes: marked unused at once, deleted after the grace period")
		deletePod(p2)
		Eventually(func(g Gomega) {
			g.Expect(configMapOf(g, ns, "a", "b").Annotations).To(HaveKey(UnusedSinceAnnotation))
		}).Should(Succeed())
		expectConfigs(ns, "b", 0)
		expectConfigs(ns, "a", 1)
		expectNoConfigMap(ns, "a", "b")

		By("releasing a ConfigMap whose last pod completed")
		p3.Status.Phase = corev1.PodSucceeded
		Expect(k8sClient.Status().Update(suiteCtx, p3)).To(Succeed())
		expectEnforced(ns, "limits", "False/NotInUse")
		expectConfigs(ns, "a", 0)

		By("keeping it, unmarked, when a pod uses it again within the grace period")
		p4 := injectPod(ns, "p4", "a")
		Eventually(func(g Gomega) {
			g.Expect(configMapOf(g, ns, "a").Annotations).NotTo(HaveKey(UnusedSinceAnnotation))
		}).Should(Succeed())
		expectEnforced(ns, "limits", "True/Enforced")
		expectConfigs(ns, "a", 1)

		deletePod(p4)
		expectEnforced(ns, "limits", "False/NotInUse")
		expectNoConfigMap(ns, "a")
		expectConfigs(ns, "a", 0)
	})

	It("is not Enforced for a Global policy, which the renderer leaves out", func() {
		fakeProvider(ns, "a")
		rlp := &llmv1alpha1.RateLimitPolicy{}
		rlp.Namespace, rlp.Name = ns, "global"
		rlp.Spec.TargetRefs = []llmv1alpha1.PolicyTargetRef{{Kind: "LLMProvider", Name: "a"}}
		rlp.Spec.Limits.RequestsPerMinute = ptr.To[int64](60)
		rlp.Spec.Scope = llmv1alpha1.ScopeGlobal
		rlp.Spec.Backend = &llmv1alpha1.RateLimitBackend{Redis: &llmv1alpha1.RedisBackend{Address: "redis:6379"}}
		Expect(k8sClient.Create(suiteCtx, rlp)).To(Succeed())
		injectPod(ns, "p", "a")
		Eventually(func(g Gomega) {
			g.Expect(configMapOf(g, ns, "a").Data[renderer.ConfigKey]).To(Equal(renderedConfig(g, ns, "a")))
		}).Should(Succeed())
		expectEnforced(ns, "global", "False/ScopeNotEnforced")
	})

	It("renders a fallback created later, restores a deleted ConfigMap and keeps the last configuration when a provider goes", func() {
		primary := &llmv1alpha1.LLMProvider{}
		primary.Namespace, primary.Name = ns, "primary"
		primary.Spec = llmv1alpha1.LLMProviderSpec{
			Type:     llmv1alpha1.ProviderFake,
			Models:   []llmv1alpha1.Model{{Name: "gpt-4o-mini"}},
			Fallback: &llmv1alpha1.Fallback{ProviderRef: &llmv1alpha1.LocalProviderRef{Name: "later"}},
		}
		Expect(k8sClient.Create(suiteCtx, primary)).To(Succeed())
		injectPod(ns, "p", "primary")
		Eventually(func(g Gomega) {
			g.Expect(configMapOf(g, ns, "primary").Annotations).To(HaveKeyWithValue(ConfigProvidersAnnotation, "primary"))
		}).Should(Succeed())

		By("creating the missing fallback")
		fakeProvider(ns, "later")
		Eventually(func(g Gomega) {
			cm := configMapOf(g, ns, "primary")
			g.Expect(cm.Annotations).To(HaveKeyWithValue(ConfigProvidersAnnotation, "later,primary"))
			g.Expect(cm.Data[renderer.ConfigKey]).To(Equal(renderedConfig(g, ns, "primary")))
		}).Should(Succeed())
		expectConfigs(ns, "later", 1)

		By("deleting the ConfigMap while the pod uses it")
		cm := configMapOf(Default, ns, "primary")
		Expect(k8sClient.Delete(suiteCtx, cm)).To(Succeed())
		Eventually(func(g Gomega) {
			again := configMapOf(g, ns, "primary")
			g.Expect(again.UID).NotTo(Equal(cm.UID))
			g.Expect(again.Data).To(Equal(cm.Data))
		}).Should(Succeed())

		By("deleting the requested provider: the last configuration stays, and an Event says why")
		kept := configMapOf(Default, ns, "primary")
		Expect(k8sClient.Delete(suiteCtx, primary)).To(Succeed())
		Eventually(func(g Gomega) {
			var found bool
			for _, e := range eventsFor(g, ns, kept.Name) {
				if e.Reason == EventReasonRenderFailed && e.Type == corev1.EventTypeWarning && strings.Contains(e.Note, `"primary"`) {
					found = true
				}
			}
			g.Expect(found).To(BeTrue(), "no RenderFailed Event naming the provider")
		}).Should(Succeed())
		Expect(configMapOf(Default, ns, "primary").Data).To(Equal(kept.Data))
	})
})
