package webhook

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	"github.com/mosaic-dev/mosaic/api/v1alpha1"
)

// TestLLMProviderValidatorUnit calls the validator directly (no API server, so no schema or CEL in
// front of it) for what only it checks.
func TestLLMProviderValidatorUnit(t *testing.T) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		// spec is the LLMProvider's spec in YAML.
		spec string
		// wantErr are substrings of the error; none means valid.
		wantErr []string
		// neverSays must not appear in the error.
		neverSays string
	}{
		"valid":                  {spec: "{type: Fake, models: [{name: m}]}"},
		"credentials in the URL": {spec: "{type: OpenAI, endpoint: 'https://u:hunter2-SECRET@api.openai.com/v1', apiKeySecretRef: {name: k, key: k}, models: [{name: m}]}", wantErr: []string{"spec.endpoint", "must not hold credentials"}, neverSays: "hunter2-SECRET"},
		"query in the URL":       {spec: "{type: OpenAI, endpoint: 'https://api.openai.com/v1?key=x', apiKeySecretRef: {name: k, key: k}, models: [{name: m}]}", wantErr: []string{"spec.endpoint", "must not have a query"}},
		"backreference":          {spec: "{type: Fake, models: [{name: m}], sanitization: {patterns: [{name: twice, regex: '(a)\\1'}]}}", wantErr: []string{"spec.sanitization.patterns[0].regex", "not an RE2 expression"}},
		"two fields at once":     {spec: "{type: Fake, models: [{name: m}], timeout: 5s, retry: {perTryTimeout: 6s}, sanitization: {patterns: [{name: x, regex: '['}]}}", wantErr: []string{"spec.retry.perTryTimeout", "spec.sanitization.patterns[0].regex"}},
	}
	v := &LLMProviderValidator{Reader: fake.NewClientBuilder().WithScheme(s).Build()}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := &v1alpha1.LLMProvider{}
			p.Name, p.Namespace = "p", "ns"
			if err := yaml.UnmarshalStrict([]byte(tc.spec), &p.Spec); err != nil {
				t.Fatal(err)
			}
			_, err := v.ValidateCreate(context.Background(), p)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.neverSays != "" && strings.Contains(err.Error(), tc.neverSays) {
				t.Errorf("error repeats %q", tc.neverSays)
			}
		})
	}
}
