package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	mosaicwebhook "github.com/mosaic-dev/mosaic/internal/webhook"
)

// Kinds whose CRDs come with cert-manager or the Prometheus Operator, not with Mosaic: envtest does
// not serve them, so their objects are checked for shape only and their dry run is skipped.
const (
	kindIssuer         = "Issuer.cert-manager.io"
	kindCertificate    = "Certificate.cert-manager.io"
	kindServiceMonitor = "ServiceMonitor.monitoring.coreos.com"
)

// objectID names an object: kind.group, namespace and name.
type objectID struct {
	Kind, Namespace, Name string
}

func (id objectID) String() string {
	if id.Namespace == "" {
		return id.Kind + " " + id.Name
	}
	return id.Kind + " " + id.Namespace + "/" + id.Name
}

// kindOf is the kind of u qualified by its API group ("Deployment.apps", "Secret").
func kindOf(u *unstructured.Unstructured) string {
	return u.GroupVersionKind().GroupKind().String()
}

func idOf(u *unstructured.Unstructured) objectID {
	return objectID{Kind: kindOf(u), Namespace: u.GetNamespace(), Name: u.GetName()}
}

// index maps the objects of one install path by their identity, failing on duplicates.
func index(t *testing.T, path string, objs []*unstructured.Unstructured) map[objectID]*unstructured.Unstructured {
	t.Helper()
	m := make(map[objectID]*unstructured.Unstructured, len(objs))
	for _, u := range objs {
		if _, dup := m[idOf(u)]; dup {
			t.Errorf("%s renders %s twice", path, idOf(u))
		}
		m[idOf(u)] = u
	}
	return m
}

// typed converts u into the API type out, failing the test when it does not fit.
func typed(t *testing.T, u *unstructured.Unstructured, out any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		t.Fatalf("%s does not decode as %T: %v", idOf(u), out, err)
	}
}

// applyAll dry-runs every object against the API server and returns the kinds it does not serve.
// Any other failure fails the test.
func applyAll(t *testing.T, c client.Client, path string, objs []*unstructured.Unstructured) []string {
	t.Helper()
	var missing []string
	for _, u := range objs {
		err := dryRunApply(c, u)
		switch {
		case errors.Is(err, errNoCRD):
			if !slices.Contains(missing, kindOf(u)) {
				missing = append(missing, kindOf(u))
			}
			t.Logf("%s: skipped %s: its CRD is not installed in envtest", path, idOf(u))
		case err != nil:
			t.Errorf("%s: server-side dry-run apply of %s: %v", path, idOf(u), err)
		}
	}
	slices.Sort(missing)
	return missing
}

// defaultKustomization is config/default's namespace and name prefix.
func defaultKustomization(t *testing.T) (namespace, namePrefix string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "config", "default", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Namespace  string `json:"namespace"`
		NamePrefix string `json:"namePrefix"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatalf("config/default/kustomization.yaml: %v", err)
	}
	if k.Namespace == "" || k.NamePrefix == "" {
		t.Fatalf("config/default/kustomization.yaml sets no namespace or namePrefix: %+v", k)
	}
	return k.Namespace, k.NamePrefix
}

// TestGeneratedCopies checks that the chart's copies of generated files are the generated files:
// `make manifests` writes both, and the chart derives its CRDs, manager RBAC rules and webhooks
// from the copies.
func TestGeneratedCopies(t *testing.T) {
	pairs := map[string]string{
		"config/rbac/role.yaml":                                  "charts/mosaic/files/role.yaml",
		"config/webhook/manifests.yaml":                          "charts/mosaic/files/webhook-manifests.yaml",
		"config/crd/bases/llm.mosaic.dev_llmproviders.yaml":      "charts/mosaic/crds/llm.mosaic.dev_llmproviders.yaml",
		"config/crd/bases/llm.mosaic.dev_ratelimitpolicies.yaml": "charts/mosaic/crds/llm.mosaic.dev_ratelimitpolicies.yaml",
	}
	for src, dst := range pairs {
		want, err := os.ReadFile(filepath.Join(repoRoot, src))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(repoRoot, dst))
		if err != nil {
			t.Errorf("%s: %v (run `make manifests`)", dst, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s: run `make manifests`", dst, src)
		}
	}
	crds, err := filepath.Glob(filepath.Join(repoRoot, "charts", "mosaic", "crds", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(crds) != 2 {
		t.Errorf("charts/mosaic/crds holds %d files, want the 2 of config/crd/bases", len(crds))
	}
}

// TestInstallPathsAgree applies both install paths to a real API server (dry run) and checks that
// they create the same objects under the same names, with the same RBAC rules, webhooks and
// manager configuration.
func TestInstallPathsAgree(t *testing.T) {
	namespace, prefix := defaultKustomization(t)
	cases := map[string]struct {
		// kustomizeDirs are the kustomizations of the kustomize path.
		kustomizeDirs []string
		// optionalDirs are rendered separately and given config/default's namespace and name
		// prefix, as uncommenting them in config/default's kustomization does.
		optionalDirs []string
		// helmFlags are the `helm template` flags of the equivalent chart values.
		helmFlags []string
		// missingCRDKinds are the kinds whose CRDs envtest lacks, in both paths; no other object
		// may be skipped.
		missingCRDKinds []string
	}{
		"config/default and default values": {
			kustomizeDirs: []string{"config/default"},
		},
		"config/certmanager with config/prometheus and certManager plus serviceMonitor values": {
			kustomizeDirs:   []string{"config/certmanager"},
			optionalDirs:    []string{"config/prometheus"},
			helmFlags:       []string{"--set", "webhook.certManager.enabled=true", "--set", "metrics.serviceMonitor.enabled=true"},
			missingCRDKinds: []string{kindCertificate, kindIssuer, kindServiceMonitor},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var kust []*unstructured.Unstructured
			for _, dir := range tc.kustomizeDirs {
				kust = append(kust, kustomize(t, dir)...)
			}
			for _, dir := range tc.optionalDirs {
				for _, u := range kustomize(t, dir) {
					u.SetName(prefix + u.GetName())
					u.SetNamespace(namespace)
					kust = append(kust, u)
				}
			}
			chart := helmTemplate(t, strings.TrimSuffix(prefix, "-"), namespace, tc.helmFlags...)

			c := kubeClient(t)
			ensureNamespace(t, c, namespace)
			for path, objs := range map[string][]*unstructured.Unstructured{"kustomize": kust, "helm": chart} {
				if missing := applyAll(t, c, path, objs); !slices.Equal(missing, tc.missingCRDKinds) {
					t.Errorf("%s: kinds without a CRD in envtest = %v, want exactly %v", path, missing, tc.missingCRDKinds)
				}
			}

			k, h := index(t, "kustomize", kust), index(t, "helm", chart)
			// The chart installs into the release namespace; it does not create it.
			for id := range k {
				if id.Kind == "Namespace" {
					if id.Name != namespace {
						t.Errorf("kustomize creates namespace %s, want %s", id.Name, namespace)
					}
					delete(k, id)
				}
			}
			if diff := cmp.Diff(kinds(k), kinds(h)); diff != "" {
				t.Errorf("kinds differ (-kustomize +helm):\n%s", diff)
			}
			if diff := cmp.Diff(ids(k), ids(h)); diff != "" {
				t.Errorf("objects differ (-kustomize +helm):\n%s", diff)
			}
			for id, ku := range k {
				if hu, ok := h[id]; ok {
					compareObject(t, id, ku, hu)
				}
			}
			checkManagerDefaults(t, k)
			checkWebhookConfigurationGrants(t, "kustomize", k)
			checkWebhookConfigurationGrants(t, "helm", h)
		})
	}
}

// webhookConfigurationKinds are the webhook configurations' resources and kinds.
var webhookConfigurationKinds = map[string]string{
	"mutatingwebhookconfigurations":   "MutatingWebhookConfiguration.admissionregistration.k8s.io",
	"validatingwebhookconfigurations": "ValidatingWebhookConfiguration.admissionregistration.k8s.io",
}

// checkWebhookConfigurationGrants fails the test with webhookConfigurationGrantProblems.
func checkWebhookConfigurationGrants(t *testing.T, path string, objs map[objectID]*unstructured.Unstructured) {
	t.Helper()
	for _, p := range webhookConfigurationGrantProblems(t, objs) {
		t.Errorf("%s: %s", path, p)
	}
}

// webhookConfigurationGrantProblems says how an install path's roles break this: no role lets
// anyone update or patch webhook configurations other than the path's own, by name (the
// certificate rotator needs list and watch of all of them for its informer, but writes only the
// caBundle of its two), and the manager's ServiceAccount may update both of its own through a
// bound ClusterRole.
func webhookConfigurationGrantProblems(t *testing.T, objs map[objectID]*unstructured.Unstructured) []string {
	t.Helper()
	var problems []string
	writes := func(r rbacv1.PolicyRule) bool {
		return slices.Contains(r.Verbs, "update") || slices.Contains(r.Verbs, "patch") || slices.Contains(r.Verbs, rbacv1.VerbAll)
	}
	// updatable are the webhook configurations each ClusterRole (by name) lets be updated.
	updatable := map[string][]objectID{}
	for id, u := range objs {
		var rules []rbacv1.PolicyRule
		switch id.Kind {
		case "ClusterRole.rbac.authorization.k8s.io":
			var r rbacv1.ClusterRole
			typed(t, u, &r)
			rules = r.Rules
		case "Role.rbac.authorization.k8s.io":
			var r rbacv1.Role
			typed(t, u, &r)
			rules = r.Rules
		default:
			continue
		}
		for _, rule := range rules {
			if !writes(rule) || !(slices.Contains(rule.APIGroups, "admissionregistration.k8s.io") || slices.Contains(rule.APIGroups, rbacv1.APIGroupAll)) {
				continue
			}
			for _, resource := range rule.Resources {
				kind, ok := webhookConfigurationKinds[resource]
				if !ok && resource != rbacv1.ResourceAll {
					continue
				}
				if len(rule.ResourceNames) == 0 {
					problems = append(problems, fmt.Sprintf("%s grants %v on %s.admissionregistration.k8s.io without resourceNames: it may rewrite any webhook configuration in the cluster",
						id, rule.Verbs, resource))
					continue
				}
				if !ok {
					problems = append(problems, fmt.Sprintf("%s grants %v on resources * of admissionregistration.k8s.io", id, rule.Verbs))
					continue
				}
				for _, name := range rule.ResourceNames {
					target := objectID{Kind: kind, Name: name}
					if _, own := objs[target]; !own {
						problems = append(problems, fmt.Sprintf("%s grants %v on %s, which this install path does not create", id, rule.Verbs, target))
					}
					if slices.Contains(rule.Verbs, "update") || slices.Contains(rule.Verbs, rbacv1.VerbAll) {
						updatable[id.Name] = append(updatable[id.Name], target)
					}
				}
			}
		}
	}
	var managerMay []objectID
	for id, u := range objs {
		if id.Kind != "ClusterRoleBinding.rbac.authorization.k8s.io" {
			continue
		}
		var b rbacv1.ClusterRoleBinding
		typed(t, u, &b)
		if b.RoleRef.Kind == "ClusterRole" && slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool {
			return s.Kind == rbacv1.ServiceAccountKind && strings.HasSuffix(s.Name, "controller-manager")
		}) {
			managerMay = append(managerMay, updatable[b.RoleRef.Name]...)
		}
	}
	for id := range objs {
		if slices.Contains(slices.Collect(maps.Values(webhookConfigurationKinds)), id.Kind) && !slices.Contains(managerMay, id) {
			problems = append(problems, fmt.Sprintf("no ClusterRole bound to the manager lets it update %s (the certificate rotator injects its caBundle)", id))
		}
	}
	slices.Sort(problems)
	return problems
}

func kinds(m map[objectID]*unstructured.Unstructured) []string {
	var out []string
	for id := range m {
		if !slices.Contains(out, id.Kind) {
			out = append(out, id.Kind)
		}
	}
	slices.Sort(out)
	return out
}

func ids(m map[objectID]*unstructured.Unstructured) []string {
	var out []string
	for id := range m {
		out = append(out, id.String())
	}
	slices.Sort(out)
	return out
}

// compareObject compares what matters of one object as the two paths render it (labels and
// comments may differ).
func compareObject(t *testing.T, id objectID, k, h *unstructured.Unstructured) {
	t.Helper()
	diff := func(what string, a, b any) {
		t.Helper()
		if d := cmp.Diff(a, b); d != "" {
			t.Errorf("%s: %s differ (-kustomize +helm):\n%s", id, what, d)
		}
	}
	aggregation := func(u *unstructured.Unstructured) map[string]string {
		out := map[string]string{}
		for key, v := range u.GetLabels() {
			if strings.HasPrefix(key, "rbac.authorization.k8s.io/aggregate-to-") {
				out[key] = v
			}
		}
		return out
	}
	switch id.Kind {
	case "ClusterRole.rbac.authorization.k8s.io":
		var kr, hr rbacv1.ClusterRole
		typed(t, k, &kr)
		typed(t, h, &hr)
		diff("rules", kr.Rules, hr.Rules)
		diff("aggregation labels", aggregation(k), aggregation(h))
	case "Role.rbac.authorization.k8s.io":
		var kr, hr rbacv1.Role
		typed(t, k, &kr)
		typed(t, h, &hr)
		diff("rules", kr.Rules, hr.Rules)
	case "ClusterRoleBinding.rbac.authorization.k8s.io":
		var kb, hb rbacv1.ClusterRoleBinding
		typed(t, k, &kb)
		typed(t, h, &hb)
		diff("roleRef", kb.RoleRef, hb.RoleRef)
		diff("subjects", kb.Subjects, hb.Subjects)
	case "RoleBinding.rbac.authorization.k8s.io":
		var kb, hb rbacv1.RoleBinding
		typed(t, k, &kb)
		typed(t, h, &hb)
		diff("roleRef", kb.RoleRef, hb.RoleRef)
		diff("subjects", kb.Subjects, hb.Subjects)
	case "MutatingWebhookConfiguration.admissionregistration.k8s.io":
		var kc, hc admissionv1.MutatingWebhookConfiguration
		typed(t, k, &kc)
		typed(t, h, &hc)
		diff("webhooks", kc.Webhooks, hc.Webhooks)
		diff("annotations", kc.Annotations, hc.Annotations)
		for _, w := range hc.Webhooks {
			if w.Name == "mpod.llm.mosaic.dev" && (w.ObjectSelector == nil || w.ObjectSelector.MatchLabels["llm.mosaic.dev/inject"] != "true") {
				t.Errorf("%s: the pod webhook's objectSelector is %v, want matchLabels llm.mosaic.dev/inject=true", id, w.ObjectSelector)
			}
		}
	case "ValidatingWebhookConfiguration.admissionregistration.k8s.io":
		var kc, hc admissionv1.ValidatingWebhookConfiguration
		typed(t, k, &kc)
		typed(t, h, &hc)
		diff("webhooks", kc.Webhooks, hc.Webhooks)
		diff("annotations", kc.Annotations, hc.Annotations)
	case "Service":
		var ks, hs corev1.Service
		typed(t, k, &ks)
		typed(t, h, &hs)
		diff("ports", ks.Spec.Ports, hs.Spec.Ports)
	case "Secret":
		var ks, hs corev1.Secret
		typed(t, k, &ks)
		typed(t, h, &hs)
		diff("type", ks.Type, hs.Type)
		diff("data", ks.Data, hs.Data)
	case "Deployment.apps":
		compareDeployment(t, id, k, h)
	case "CustomResourceDefinition.apiextensions.k8s.io", kindIssuer, kindCertificate:
		diff("spec", k.Object["spec"], h.Object["spec"])
	case kindServiceMonitor:
		// The chart's selector also has the release's instance label (TestChartWiring checks what
		// it selects).
		ke, _, _ := unstructured.NestedSlice(k.Object, "spec", "endpoints")
		he, _, _ := unstructured.NestedSlice(h.Object, "spec", "endpoints")
		diff("endpoints", ke, he)
	}
}

// compareDeployment compares the manager Deployments: the chart may pass, besides the kustomize
// path's flags, only flags that spell out the manager's defaults (the names config/default uses).
func compareDeployment(t *testing.T, id objectID, k, h *unstructured.Unstructured) {
	t.Helper()
	var kd, hd appsv1.Deployment
	typed(t, k, &kd)
	typed(t, h, &hd)
	if len(kd.Spec.Template.Spec.Containers) != 1 || len(hd.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%s: want one container in both paths", id)
	}
	kc, hc := kd.Spec.Template.Spec.Containers[0], hd.Spec.Template.Spec.Containers[0]
	byName := func(a, b corev1.ContainerPort) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(kc.Ports, byName) // a kustomize patch puts the webhook port first
	slices.SortFunc(hc.Ports, byName)
	for what, pair := range map[string][2]any{
		"image":                 {kc.Image, hc.Image},
		"command":               {kc.Command, hc.Command},
		"ports":                 {kc.Ports, hc.Ports},
		"env":                   {kc.Env, hc.Env},
		"volumeMounts":          {kc.VolumeMounts, hc.VolumeMounts},
		"securityContext":       {kc.SecurityContext, hc.SecurityContext},
		"probes":                {[]any{kc.LivenessProbe, kc.ReadinessProbe}, []any{hc.LivenessProbe, hc.ReadinessProbe}},
		"resources":             {kc.Resources, hc.Resources},
		"volumes":               {kd.Spec.Template.Spec.Volumes, hd.Spec.Template.Spec.Volumes},
		"pod securityContext":   {kd.Spec.Template.Spec.SecurityContext, hd.Spec.Template.Spec.SecurityContext},
		"serviceAccountName":    {kd.Spec.Template.Spec.ServiceAccountName, hd.Spec.Template.Spec.ServiceAccountName},
		"replicas":              {kd.Spec.Replicas, hd.Spec.Replicas},
		"default container ann": {kd.Spec.Template.Annotations, hd.Spec.Template.Annotations},
	} {
		if d := cmp.Diff(pair[0], pair[1]); d != "" {
			t.Errorf("%s: %s differ (-kustomize +helm):\n%s", id, what, d)
		}
	}
	defaults := mosaicwebhook.DefaultCertOptions()
	spelledOut := map[string]string{
		"--webhook-cert-secret": defaults.SecretName,
		"--webhook-service":     defaults.ServiceName,
	}
	for _, arg := range hc.Args {
		if slices.Contains(kc.Args, arg) {
			continue
		}
		flag, value, _ := strings.Cut(arg, "=")
		if want, ok := spelledOut[flag]; !ok || value != want {
			t.Errorf("%s: helm passes %s, which kustomize does not (and is not the manager's default %s=%s)", id, arg, flag, want)
		}
	}
	for _, arg := range kc.Args {
		if !slices.Contains(hc.Args, arg) {
			t.Errorf("%s: kustomize passes %s, helm does not", id, arg)
		}
	}
}

// checkManagerDefaults checks that the kustomize path's names are the manager's defaults, which it
// runs with (config/default passes no --webhook-cert-secret or --webhook-service flag, and there is
// no flag for the webhook configurations' names).
func checkManagerDefaults(t *testing.T, objs map[objectID]*unstructured.Unstructured) {
	t.Helper()
	d := mosaicwebhook.DefaultCertOptions()
	for _, id := range []objectID{
		{Kind: "Service", Namespace: d.Namespace, Name: d.ServiceName},
		{Kind: "MutatingWebhookConfiguration.admissionregistration.k8s.io", Name: d.MutatingWebhookConfiguration},
		{Kind: "ValidatingWebhookConfiguration.admissionregistration.k8s.io", Name: d.ValidatingWebhookConfiguration},
	} {
		if _, ok := objs[id]; !ok {
			t.Errorf("kustomize renders no %s, the name the manager uses by default", id)
		}
	}
	for id, u := range objs {
		if id.Kind != "Deployment.apps" {
			continue
		}
		var dep appsv1.Deployment
		typed(t, u, &dep)
		for _, v := range dep.Spec.Template.Spec.Volumes {
			if v.Secret != nil && v.Secret.SecretName != d.SecretName {
				t.Errorf("kustomize: %s mounts Secret %q as volume %s, but the manager writes its webhook certificate to %q",
					id, v.Secret.SecretName, v.Name, d.SecretName)
			}
		}
	}
	// With cert-manager the Secret is cert-manager's (the Certificate's secretName); else shipped.
	_, secret := objs[objectID{Kind: "Secret", Namespace: d.Namespace, Name: d.SecretName}]
	cert, hasCert := objs[objectID{Kind: kindCertificate, Namespace: d.Namespace, Name: "mosaic-serving-cert"}]
	switch {
	case hasCert:
		if got, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName"); got != d.SecretName {
			t.Errorf("the Certificate writes Secret %q, the manager mounts %q", got, d.SecretName)
		}
	case !secret:
		t.Errorf("kustomize renders no Secret %s/%s, the manager's default webhook certificate Secret", d.Namespace, d.SecretName)
	}
}

// TestChartWiring renders the chart under other release names, namespaces and values and checks
// that its objects refer to each other correctly, then applies them (dry run).
func TestChartWiring(t *testing.T) {
	defaults := mosaicwebhook.DefaultCertOptions()
	cases := map[string]struct {
		// release and namespace are the Helm release's.
		release, namespace string
		// flags are extra `helm template` flags.
		flags []string
		// wantImage and wantProxyImage are the manager image and its --proxy-image.
		wantImage, wantProxyImage string
		// certManager says webhook.certManager.enabled is set.
		certManager bool
		// wantPrefix starts every object's name.
		wantPrefix string
	}{
		"default values": {
			release: "mosaic", namespace: "mosaic-system",
			wantImage: "mosaic-dev/mosaic-manager:dev", wantProxyImage: "mosaic-dev/mosaic-proxy:dev",
			wantPrefix: "mosaic-",
		},
		"another release in another namespace, own images": {
			release: "llm", namespace: "ai-gateway",
			flags: []string{"--set", "image.repository=registry.example.com/mosaic-manager", "--set", "image.tag=v1.2.3",
				"--set", "proxyImage.repository=registry.example.com/mosaic-proxy", "--set", "proxyImage.tag=v1.2.3"},
			wantImage: "registry.example.com/mosaic-manager:v1.2.3", wantProxyImage: "registry.example.com/mosaic-proxy:v1.2.3",
			wantPrefix: "llm-mosaic-",
		},
		"cert-manager and a ServiceMonitor in another namespace": {
			release: "mosaic-prod", namespace: "llm",
			flags:     []string{"--set", "webhook.certManager.enabled=true", "--set", "metrics.serviceMonitor.enabled=true"},
			wantImage: "mosaic-dev/mosaic-manager:dev", wantProxyImage: "mosaic-dev/mosaic-proxy:dev",
			certManager: true, wantPrefix: "mosaic-prod-",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			objs := helmTemplate(t, tc.release, tc.namespace, tc.flags...)
			c := kubeClient(t)
			ensureNamespace(t, c, tc.namespace)
			missing := applyAll(t, c, "helm", objs)
			wantMissing := []string(nil)
			if tc.certManager {
				wantMissing = []string{kindCertificate, kindIssuer, kindServiceMonitor}
			}
			if !slices.Equal(missing, wantMissing) {
				t.Errorf("kinds without a CRD in envtest = %v, want exactly %v", missing, wantMissing)
			}

			byKind := map[string][]*unstructured.Unstructured{}
			for _, u := range objs {
				byKind[kindOf(u)] = append(byKind[kindOf(u)], u)
				namespaced, err := c.IsObjectNamespaced(u)
				if err != nil && kindOf(u) != kindIssuer && kindOf(u) != kindCertificate && kindOf(u) != kindServiceMonitor {
					t.Fatalf("%s: %v", idOf(u), err)
				}
				if err == nil && namespaced && u.GetNamespace() != tc.namespace {
					t.Errorf("%s is not in the release namespace %s", idOf(u), tc.namespace)
				}
				if strings.HasPrefix(kindOf(u), "CustomResourceDefinition.") || strings.HasSuffix(kindOf(u), "WebhookConfiguration.admissionregistration.k8s.io") {
					continue
				}
				if !strings.HasPrefix(u.GetName(), tc.wantPrefix) {
					t.Errorf("%s: name does not start with %q", idOf(u), tc.wantPrefix)
				}
			}
			one := func(kind string) *unstructured.Unstructured {
				t.Helper()
				if len(byKind[kind]) != 1 {
					t.Fatalf("want one %s, got %d", kind, len(byKind[kind]))
				}
				return byKind[kind][0]
			}

			var sa corev1.ServiceAccount
			typed(t, one("ServiceAccount"), &sa)
			var dep appsv1.Deployment
			typed(t, one("Deployment.apps"), &dep)
			podLabels := labels.Set(dep.Spec.Template.Labels)
			if dep.Spec.Template.Spec.ServiceAccountName != sa.Name {
				t.Errorf("the Deployment runs as %q, the ServiceAccount is %q", dep.Spec.Template.Spec.ServiceAccountName, sa.Name)
			}
			manager := dep.Spec.Template.Spec.Containers[0]
			flags := map[string]string{}
			for _, a := range manager.Args {
				f, v, _ := strings.Cut(a, "=")
				flags[f] = v
			}
			if manager.Image != tc.wantImage || flags["--proxy-image"] != tc.wantProxyImage {
				t.Errorf("images = %s and --proxy-image=%s, want %s and %s", manager.Image, flags["--proxy-image"], tc.wantImage, tc.wantProxyImage)
			}
			if _, rotationOff := flags["--webhook-cert-rotation"]; rotationOff != tc.certManager {
				t.Errorf("--webhook-cert-rotation flag present = %v, want %v (args %v)", rotationOff, tc.certManager, manager.Args)
			}
			if !slices.ContainsFunc(manager.Env, func(e corev1.EnvVar) bool {
				return e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace"
			}) {
				t.Errorf("the manager has no POD_NAMESPACE from the downward API: %v", manager.Env)
			}
			var certVolume string
			for _, v := range dep.Spec.Template.Spec.Volumes {
				if v.Secret != nil {
					certVolume = v.Secret.SecretName
				}
			}
			if certVolume == "" || certVolume != flags["--webhook-cert-secret"] {
				t.Errorf("the manager mounts Secret %q and writes --webhook-cert-secret=%q", certVolume, flags["--webhook-cert-secret"])
			}

			// Services select the manager pods; the webhook one is what the configurations call.
			var webhookService string
			for _, u := range byKind["Service"] {
				var s corev1.Service
				typed(t, u, &s)
				if !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
					t.Errorf("Service %s selects %v, not the manager pods %v", s.Name, s.Spec.Selector, podLabels)
				}
				if s.Spec.Ports[0].Port == 443 {
					webhookService = s.Name
				}
			}
			if webhookService == "" || webhookService != flags["--webhook-service"] {
				t.Errorf("the webhook Service is %q, the manager's --webhook-service=%q", webhookService, flags["--webhook-service"])
			}
			var mwc admissionv1.MutatingWebhookConfiguration
			typed(t, one("MutatingWebhookConfiguration.admissionregistration.k8s.io"), &mwc)
			var vwc admissionv1.ValidatingWebhookConfiguration
			typed(t, one("ValidatingWebhookConfiguration.admissionregistration.k8s.io"), &vwc)
			if mwc.Name != defaults.MutatingWebhookConfiguration || vwc.Name != defaults.ValidatingWebhookConfiguration {
				t.Errorf("webhook configurations %s and %s, the manager's rotator updates %s and %s",
					mwc.Name, vwc.Name, defaults.MutatingWebhookConfiguration, defaults.ValidatingWebhookConfiguration)
			}
			var services []*admissionv1.ServiceReference
			for _, w := range mwc.Webhooks {
				services = append(services, w.ClientConfig.Service)
			}
			for _, w := range vwc.Webhooks {
				services = append(services, w.ClientConfig.Service)
			}
			for _, s := range services {
				if s == nil || s.Name != webhookService || s.Namespace != tc.namespace {
					t.Errorf("a webhook calls Service %+v, want %s/%s", s, tc.namespace, webhookService)
				}
			}

			// RBAC: every binding binds the manager's ServiceAccount to a role the chart creates.
			roles := map[string]bool{}
			for _, kind := range []string{"ClusterRole.rbac.authorization.k8s.io", "Role.rbac.authorization.k8s.io"} {
				for _, u := range byKind[kind] {
					roles[strings.SplitN(kind, ".", 2)[0]+"/"+u.GetName()] = true
				}
			}
			for _, kind := range []string{"ClusterRoleBinding.rbac.authorization.k8s.io", "RoleBinding.rbac.authorization.k8s.io"} {
				for _, u := range byKind[kind] {
					var b rbacv1.RoleBinding // a ClusterRoleBinding has the same fields
					typed(t, u, &b)
					if !roles[b.RoleRef.Kind+"/"+b.RoleRef.Name] {
						t.Errorf("%s binds %s %s, which the chart does not create", idOf(u), b.RoleRef.Kind, b.RoleRef.Name)
					}
					want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: tc.namespace}}
					if d := cmp.Diff(want, b.Subjects); d != "" {
						t.Errorf("%s subjects (-want +got):\n%s", idOf(u), d)
					}
				}
			}

			// The webhook certificate: cert-manager's, or the operator's in an empty Secret.
			if tc.certManager {
				cert := one(kindCertificate)
				secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
				dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
				issuer, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
				svcDNS := fmt.Sprintf("%s.%s.svc", webhookService, tc.namespace)
				if secretName != certVolume || !slices.Equal(dnsNames, []string{svcDNS, svcDNS + ".cluster.local"}) || issuer != one(kindIssuer).GetName() {
					t.Errorf("Certificate writes %q for %v from Issuer %q; want %q for %s(.cluster.local) from %q",
						secretName, dnsNames, issuer, certVolume, svcDNS, one(kindIssuer).GetName())
				}
				wantAnnotation := tc.namespace + "/" + cert.GetName()
				if mwc.Annotations["cert-manager.io/inject-ca-from"] != wantAnnotation || vwc.Annotations["cert-manager.io/inject-ca-from"] != wantAnnotation {
					t.Errorf("inject-ca-from annotations %v and %v, want %s", mwc.Annotations, vwc.Annotations, wantAnnotation)
				}
				if len(byKind["Secret"]) != 0 {
					t.Errorf("with cert-manager the chart must not ship the Secret cert-manager owns")
				}
				sm := one(kindServiceMonitor)
				sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
				var selected []string
				for _, u := range byKind["Service"] {
					if labels.SelectorFromSet(sel).Matches(labels.Set(u.GetLabels())) {
						selected = append(selected, u.GetName())
					}
				}
				if want := []string{tc.wantPrefix + "controller-manager-metrics-service"}; !slices.Equal(selected, want) {
					t.Errorf("the ServiceMonitor selects Services %v, want %v", selected, want)
				}
			} else {
				var s corev1.Secret
				typed(t, one("Secret"), &s)
				if s.Name != certVolume || len(s.Data) != 0 {
					t.Errorf("Secret %s with %d keys, want %s, empty, for the operator to fill", s.Name, len(s.Data), certVolume)
				}
				if len(byKind[kindCertificate])+len(byKind[kindIssuer])+len(byKind[kindServiceMonitor]) != 0 {
					t.Errorf("default values render cert-manager or Prometheus Operator objects")
				}
			}
		})
	}
}

// TestChartRefusesBadValues checks that values.schema.json refuses a mistyped or invalid value with
// an error naming it, instead of rendering a chart that ignores it.
func TestChartRefusesBadValues(t *testing.T) {
	helm := tool(t, "helm", "run hack/install-helm.sh", filepath.Join(repoRoot, "bin"))
	cases := map[string]struct {
		// set is the --set argument.
		set string
		// wantErr is in helm's error.
		wantErr string
	}{
		"misspelt key":              {set: "webhook.certmanager.enabled=true", wantErr: "at '/webhook': additional properties 'certmanager' not allowed"},
		"unknown pull policy":       {set: "proxyImage.pullPolicy=Sometimes", wantErr: "at '/proxyImage/pullPolicy'"},
		"empty image repository":    {set: "image.repository=", wantErr: "at '/image/repository'"},
		"unknown sidecar log level": {set: "proxy.logLevel=verbose", wantErr: "at '/proxy/logLevel'"},
		"extra arg not a flag":      {set: "extraArgs[0]=leader-elect", wantErr: "at '/extraArgs/0'"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(helm, "template", "mosaic", filepath.Join("charts", "mosaic"), "--set", tc.set)
			cmd.Dir = repoRoot
			cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("helm template --set %s succeeded, want an error", tc.set)
			}
			if !strings.Contains(string(out), tc.wantErr) {
				t.Errorf("helm template --set %s: %s\nwant an error containing %q", tc.set, out, tc.wantErr)
			}
		})
	}
}
