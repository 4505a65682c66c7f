package renderer

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/proxyconfig"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata from the current output")

// fixture is one testdata/<name>.yaml: a Pod (its namespace and providers annotation), the
// LLMProviders, RateLimitPolicies and Secrets of its namespace.
type fixture struct {
	pod       *corev1.Pod
	providers []v1alpha1.LLMProvider
	policies  []v1alpha1.RateLimitPolicy
	secrets   []corev1.Secret
}

func (f *fixture) input(t testing.TB) Input {
	t.Helper()
	names, err := ParseProvidersAnnotation(f.pod.Annotations[ProvidersAnnotation])
	if err != nil {
		t.Fatalf("fixture pod: %v", err)
	}
	in := Input{Namespace: f.pod.Namespace, ProviderNames: names, Providers: f.providers, Policies: f.policies}
	for _, s := range f.secrets {
		sv := SecretVersion{Name: s.Name, ResourceVersion: s.ResourceVersion}
		for k := range s.StringData {
			sv.Keys = append(sv.Keys, k)
		}
		for k := range s.Data {
			sv.Keys = append(sv.Keys, k)
		}
		slices.Sort(sv.Keys)
		in.Secrets = append(in.Secrets, sv)
	}
	return in
}

// secretValues are the keys in the fixture's Secrets: none may appear in any output.
func (f *fixture) secretValues() []string {
	var out []string
	for _, s := range f.secrets {
		for _, v := range s.StringData {
			out = append(out, v)
		}
	}
	return out
}

func testScheme(t testing.TB) *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func loadFixture(t testing.TB, path string) *fixture {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	decode := serializer.NewCodecFactory(testScheme(t)).UniversalDeserializer().Decode
	f := &fixture{}
	for i, doc := range strings.Split(string(data), "\n---\n") {
		obj, _, err := decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, i, err)
		}
		switch o := obj.(type) {
		case *corev1.Pod:
			f.pod = o
		case *v1alpha1.LLMProvider:
			f.providers = append(f.providers, *o)
		case *v1alpha1.RateLimitPolicy:
			f.policies = append(f.policies, *o)
		case *corev1.Secret:
			f.secrets = append(f.secrets, *o)
		default:
			t.Fatalf("%s: document %d: unexpected %T", path, i, obj)
		}
	}
	if f.pod == nil {
		t.Fatalf("%s: no Pod", path)
	}
	return f
}

// renderGolden renders in as the golden file shows it: comments with the Secret keys read and the
// warnings, then the configuration; or a comment with the error.
func renderGolden(in Input) []byte {
	var b bytes.Buffer
	r, err := RenderDetailed(in)
	if err != nil {
		fmt.Fprintf(&b, "# error: %v\n", err)
		return b.Bytes()
	}
	for _, k := range r.SecretKeys {
		fmt.Fprintf(&b, "# secret key: %s/%s\n", k.Name, k.Key)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "# warning: %s\n", w)
	}
	data, err := proxyconfig.Marshal(r.Config)
	if err != nil {
		panic(err)
	}
	b.Write(data)
	return b.Bytes()
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/renderer -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (rerun with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestRenderGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	inputs = slices.DeleteFunc(inputs, func(p string) bool { return strings.HasSuffix(p, ".golden.yaml") })
	if len(inputs) < 15 {
		t.Fatalf("found only %d fixtures", len(inputs))
	}
	for _, path := range inputs {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			f := loadFixture(t, path)
			in := f.input(t)
			got := renderGolden(in)
			compareGolden(t, strings.TrimSuffix(path, ".yaml")+".golden.yaml", got)

			for _, v := range f.secretValues() {
				if bytes.Contains(got, []byte(v)) {
					t.Errorf("output contains the value of a Secret key")
				}
			}

			// Order of the objects in the input never changes a byte of the output.
			rng := rand.New(rand.NewPCG(1, uint64(len(name))))
			for range 5 {
				shuffled := in
				shuffled.Providers = slices.Clone(in.Providers)
				shuffled.Policies = slices.Clone(in.Policies)
				shuffled.Secrets = slices.Clone(in.Secrets)
				shuffled.ProviderNames = slices.Clone(in.ProviderNames)
				rng.Shuffle(len(shuffled.Providers), func(i, j int) {
					shuffled.Providers[i], shuffled.Providers[j] = shuffled.Providers[j], shuffled.Providers[i]
				})
				rng.Shuffle(len(shuffled.Policies), func(i, j int) {
					shuffled.Policies[i], shuffled.Policies[j] = shuffled.Policies[j], shuffled.Policies[i]
				})
				rng.Shuffle(len(shuffled.Secrets), func(i, j int) { shuffled.Secrets[i], shuffled.Secrets[j] = shuffled.Secrets[j], shuffled.Secrets[i] })
				rng.Shuffle(len(shuffled.ProviderNames), func(i, j int) {
					shuffled.ProviderNames[i], shuffled.ProviderNames[j] = shuffled.ProviderNames[j], shuffled.ProviderNames[i]
				})
				if again := renderGolden(shuffled); !bytes.Equal(again, got) {
					t.Fatalf("shuffled input rendered differently:\n%s", again)
				}
			}

			// What the proxy reads back is what was rendered.
			if cfg, err := Render(in); err == nil {
				data, _ := proxyconfig.Marshal(cfg)
				parsed, err := proxyconfig.Parse(data)
				if err != nil {
					t.Fatalf("mosaic-proxy would refuse the rendered configuration: %v", err)
				}
				again, _ := proxyconfig.Marshal(parsed)
				if !bytes.Equal(again, data) {
					t.Errorf("configuration changed when the proxy parsed it:\n%s", again)
				}
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	tests := map[string]struct {
		// fixture is the testdata file rendered.
		fixture string
		// is is the sentinel the error wraps.
		is error
		// mentions are substrings the message must contain.
		mentions []string
	}{
		"missing provider": {fixture: "provider-missing", is: ErrProviderNotFound, mentions: []string{`"typo"`, `"team-a"`}},
		"fallback cycle":   {fixture: "fallback-cycle", is: ErrFallbackCycle, mentions: []string{"a -> b -> c -> a", "spec.fallback.providerRef"}},
		"per-try timeout":  {fixture: "invalid-per-try-timeout", is: ErrInvalidConfig, mentions: []string{`LLMProvider "demo"`, "spec.retry.perTryTimeout"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := loadFixture(t, filepath.Join("testdata", tc.fixture+".yaml"))
			_, err := Render(f.input(t))
			if !errors.Is(err, tc.is) {
				t.Fatalf("got error %v, want one wrapping %v", err, tc.is)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

func TestRenderInputErrors(t *testing.T) {
	fake := func(name string) v1alpha1.LLMProvider {
		p := v1alpha1.LLMProvider{Spec: v1alpha1.LLMProviderSpec{Type: v1alpha1.ProviderFake, Models: []v1alpha1.Model{{Name: "m"}}}}
		p.Name, p.Namespace = name, "ns"
		return p
	}
	other := fake("a")
	other.Namespace = "elsewhere"
	tests := map[string]struct {
		// in is the renderer input.
		in Input
		// want is a substring of the error.
		want string
	}{
		"nothing requested":       {in: Input{Namespace: "ns", ProviderNames: []string{" ", ""}, Providers: []v1alpha1.LLMProvider{fake("a")}}, want: "no LLMProvider requested"},
		"duplicate input":         {in: Input{Namespace: "ns", ProviderNames: []string{"a"}, Providers: []v1alpha1.LLMProvider{fake("a"), fake("a")}}, want: `"a" is listed twice`},
		"other namespace only":    {in: Input{Namespace: "ns", ProviderNames: []string{"a"}, Providers: []v1alpha1.LLMProvider{other}}, want: `LLMProvider "a" not found`},
		"requested but not given": {in: Input{Namespace: "ns", ProviderNames: []string{"b"}, Providers: []v1alpha1.LLMProvider{fake("a")}}, want: `"b"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Render(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseProvidersAnnotation(t *testing.T) {
	tests := map[string]struct {
		// value is the annotation's value.
		value string
		// want are the names returned.
		want []string
		// wantErr is a substring of the error; empty means success.
		wantErr string
	}{
		"one":                {value: "openai", want: []string{"openai"}},
		"sorted and deduped": {value: "b, a ,b", want: []string{"a", "b"}},
		"dotted name":        {value: "openai.prod", want: []string{"openai.prod"}},
		"empty":              {value: "  ", wantErr: "annotation llm.mosaic.dev/providers is empty"},
		"empty entry":        {value: "a,,b", wantErr: "entry 2 is empty"},
		"trailing comma":     {value: "a,", wantErr: "entry 2 is empty"},
		"upper case":         {value: "OpenAI", wantErr: `"OpenAI" is not an LLMProvider name`},
		"space inside":       {value: "open ai", wantErr: `"open ai" is not an LLMProvider name`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseProvidersAnnotation(tc.value)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, %v; want error containing %q", got, err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), ProvidersAnnotation) {
					t.Errorf("error %q does not name the annotation", err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestConfigMapName(t *testing.T) {
	base := ConfigMapName("team-a", []string{"openai", "azure"})
	tests := map[string]struct {
		// namespace and names are the arguments.
		namespace string
		names     []string
		// same says whether the name equals base's.
		same bool
	}{
		"reordered":          {namespace: "team-a", names: []string{"azure", "openai"}, same: true},
		"duplicates":         {namespace: "team-a", names: []string{"azure", "openai", "azure", " openai"}, same: true},
		"other namespace":    {namespace: "team-b", names: []string{"openai", "azure"}},
		"subset":             {namespace: "team-a", names: []string{"openai"}},
		"names run together": {namespace: "team-a", names: []string{"openaiazure"}},
	}
	if !strings.HasPrefix(base, "mosaic-proxy-") || len(base) != len("mosaic-proxy-")+10 {
		t.Fatalf("name %q is not mosaic-proxy-<10 hex>", base)
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := ConfigMapName(tc.namespace, tc.names); (got == base) != tc.same {
				t.Fatalf("ConfigMapName(%q, %v) = %q, base %q, want same=%v", tc.namespace, tc.names, got, base, tc.same)
			}
		})
	}
}

func TestConfigMap(t *testing.T) {
	f := loadFixture(t, "testdata/openai-minimal.yaml")
	cfg, err := Render(f.input(t))
	if err != nil {
		t.Fatal(err)
	}
	cm, err := ConfigMap("team-a", []string{"openai"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "testdata/configmap.golden.yaml", out)
}

func TestPolicyPrecedes(t *testing.T) {
	policy := func(ns, name, created string) *v1alpha1.RateLimitPolicy {
		var p v1alpha1.RateLimitPolicy
		if err := yaml.Unmarshal(fmt.Appendf(nil, "metadata: {namespace: %s, name: %s, creationTimestamp: %q}", ns, name, created), &p); err != nil {
			t.Fatal(err)
		}
		return &p
	}
	tests := map[string]struct {
		// a and b are compared.
		a, b *v1alpha1.RateLimitPolicy
		// want is whether a precedes b.
		want bool
	}{
		"older wins":           {a: policy("ns", "z", "2026-01-01T00:00:00Z"), b: policy("ns", "a", "2026-01-02T00:00:00Z"), want: true},
		"newer loses":          {a: policy("ns", "a", "2026-01-02T00:00:00Z"), b: policy("ns", "z", "2026-01-01T00:00:00Z"), want: false},
		"tie: name first wins": {a: policy("ns", "a", "2026-01-01T00:00:00Z"), b: policy("ns", "b", "2026-01-01T00:00:00Z"), want: true},
		"tie: name last loses": {a: policy("ns", "b", "2026-01-01T00:00:00Z"), b: policy("ns", "a", "2026-01-01T00:00:00Z"), want: false},
		"itself":               {a: policy("ns", "a", "2026-01-01T00:00:00Z"), b: policy("ns", "a", "2026-01-01T00:00:00Z"), want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := PolicyPrecedes(tc.a, tc.b); got != tc.want {
				t.Fatalf("PolicyPrecedes = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPolicyWinners(t *testing.T) {
	policy := func(name, created string, deleting bool, targets ...string) v1alpha1.RateLimitPolicy {
		var p v1alpha1.RateLimitPolicy
		if err := yaml.Unmarshal(fmt.Appendf(nil, "metadata: {namespace: ns, name: %s, creationTimestamp: %q}", name, created), &p); err != nil {
			t.Fatal(err)
		}
		if deleting {
			p.DeletionTimestamp = &p.CreationTimestamp
		}
		for _, n := range targets {
			p.Spec.TargetRefs = append(p.Spec.TargetRefs, v1alpha1.PolicyTargetRef{Kind: "LLMProvider", Name: n})
		}
		return p
	}
	tests := map[string]struct {
		// policies are the namespace's RateLimitPolicies.
		policies []v1alpha1.RateLimitPolicy
		// want maps each targeted LLMProvider to the name of the policy that governs it.
		want map[string]string
	}{
		"oldest wins each target": {
			policies: []v1alpha1.RateLimitPolicy{
				policy("new", "2026-01-02T00:00:00Z", false, "a", "b"),
				policy("old", "2026-01-01T00:00:00Z", false, "a"),
			},
			want: map[string]string{"a": "old", "b": "new"},
		},
		"a policy being deleted governs nothing": {
			policies: []v1alpha1.RateLimitPolicy{
				policy("new", "2026-01-02T00:00:00Z", false, "a"),
				policy("old", "2026-01-01T00:00:00Z", true, "a", "b"),
			},
			want: map[string]string{"a": "new"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := map[string]string{}
			for provider, p := range PolicyWinners("ns", tc.policies) {
				got[provider] = p.Name
			}
			if !maps.Equal(got, tc.want) {
				t.Fatalf("PolicyWinners = %v, want %v", got, tc.want)
			}
		})
	}
}

// BenchmarkRenderDetailed renders the policies-overlap fixture (four providers, a fallback, five
// policies), as the webhook does once per admitted pod.
func BenchmarkRenderDetailed(b *testing.B) {
	f := loadFixture(b, "testdata/policies-overlap.yaml")
	in := f.input(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := RenderDetailed(in); err != nil {
			b.Fatal(err)
		}
	}
}
