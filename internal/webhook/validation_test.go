package webhook

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mosaic-dev/mosaic/api/v1alpha1"
)

// TestValidationWebhooks applies LLMProviders and RateLimitPolicies through the real API server
// with the validating webhooks installed.
func TestValidationWebhooks(t *testing.T) {
	requireAPIServer(t)
	const fake = "type: Fake\n  models: [{name: m}]"
	tests := map[string]struct {
		// setup are objects created first, in order (their warnings are not checked).
		setup []string
		// op is create, update (of the setup object of the same kind and name) or delete.
		op string
		// object is the object the operation applies to.
		object string
		// wantErr are substrings of the refusal; none means the operation must succeed.
		wantErr []string
		// wantWarnings are substrings, one per expected warning, in order.
		wantWarnings []string
		// neverSays are substrings that must appear in neither the error nor the warnings.
		neverSays []string
	}{
		"pattern that is not RE2 (lookahead)": {
			op:      "create",
			object:  provider("p", fake+"\n  sanitization: {patterns: [{name: ok, regex: 'a+'}, {name: peek, regex: 'foo(?=bar)'}]}"),
			wantErr: []string{"spec.sanitization.patterns[1].regex", "is not an RE2 expression"},
		},
		"pattern that does not compile": {
			op:      "create",
			object:  provider("p", fake+"\n  sanitization: {patterns: [{name: open, regex: '(unclosed'}]}"),
			wantErr: []string{"spec.sanitization.patterns[0].regex", "missing closing )"},
		},
		"perTryTimeout longer than timeout": {
			op:      "create",
			object:  provider("p", fake+"\n  timeout: 10s\n  retry: {perTryTimeout: 30s}"),
			wantErr: []string{"spec.retry.perTryTimeout", "must not exceed timeout (10s)"},
		},
		// The CRD's CEL rule refuses it first (and echoes the URL: see TestLLMProviderValidatorUnit
		// for the webhook's own answer, which does not).
		"credentials in the endpoint": {
			op:      "create",
			object:  provider("p", "type: OpenAI\n  endpoint: https://user:hunter2-SECRET@api.openai.com/v1\n  apiKeySecretRef: {name: k, key: k}\n  models: [{name: m}]"),
			wantErr: []string{"spec.endpoint", "credentials"},
		},
		"fallback to a provider that does not exist yet": {
			op:           "create",
			object:       provider("a", fake+"\n  fallback: {providerRef: {name: later}}"),
			wantWarnings: []string{`spec.fallback.providerRef.name: LLMProvider "later" does not exist yet`},
		},
		"fallback chain ending in a missing provider": {
			setup:        []string{provider("b", fake+"\n  fallback: {providerRef: {name: ghost}}"), provider("a", fake+"\n  fallback: {providerRef: {name: b}}")},
			op:           "create",
			object:       provider("z", fake+"\n  fallback: {providerRef: {name: a}}"),
			wantWarnings: []string{`LLMProvider "ghost" (fallback chain z -> a -> b -> ghost) does not exist yet`},
		},
		"fallback to an existing provider": {
			setup:  []string{provider("b", fake)},
			op:     "create",
			object: provider("a", fake+"\n  fallback: {providerRef: {name: b}}"),
		},
		"fallback cycle across three providers": {
			setup:   []string{provider("a", fake+"\n  fallback: {providerRef: {name: b}}"), provider("b", fake+"\n  fallback: {providerRef: {name: c}}")},
			op:      "create",
			object:  provider("c", fake+"\n  fallback: {providerRef: {name: a}}"),
			wantErr: []string{"spec.fallback.providerRef.name", "fallback chain loops: c -> a -> b -> c"},
		},
		"update that closes a cycle": {
			setup:   []string{provider("b", fake), provider("a", fake+"\n  fallback: {providerRef: {name: b}}")},
			op:      "update",
			object:  provider("b", fake+"\n  fallback: {providerRef: {name: a}}"),
			wantErr: []string{"fallback chain loops: b -> a -> b"},
		},
		"deleting a provider others fall back to": {
			setup:        []string{provider("b", fake), provider("a", fake+"\n  fallback: {providerRef: {name: b}}")},
			op:           "delete",
			object:       provider("b", fake),
			wantWarnings: []string{`LLMProvider "a" falls back to "b"`},
		},
		"policy targeting a provider that does not exist yet": {
			op:           "create",
			object:       policy("rl", "targetRefs: [{kind: LLMProvider, name: later}]\n  limits: {requestsPerMinute: 60}"),
			wantWarnings: []string{`spec.targetRefs[0]: LLMProvider "later" does not exist yet`},
		},
		"global policy": {
			setup:        []string{provider("p", fake)},
			op:           "create",
			object:       policy("rl", "targetRefs: [{kind: LLMProvider, name: p}]\n  limits: {requestsPerMinute: 60}\n  scope: Global\n  backend: {redis: {address: 'redis:6379'}}"),
			wantWarnings: []string{"spec.scope: Global limits are not enforced"},
		},
		"policy conflicting with an older one": {
			setup: []string{provider("p", fake), provider("q", fake),
				policy("a-old", "targetRefs: [{kind: LLMProvider, name: p}]\n  limits: {requestsPerMinute: 60}")},
			op:           "create",
			object:       policy("z-new", "targetRefs: [{kind: LLMProvider, name: q}, {kind: LLMProvider, name: p}]\n  limits: {requestsPerMinute: 10}"),
			wantWarnings: []string{`spec.targetRefs[1]: older RateLimitPolicy "a-old" already governs LLMProvider "p"`},
		},
		"policy without problems": {
			setup:  []string{provider("p", fake)},
			op:     "create",
			object: policy("rl", "targetRefs: [{kind: LLMProvider, name: p}]\n  limits: {requestsPerMinute: 60}"),
		},
	}
	i := 0
	for name, tc := range tests {
		i++
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			ns := fmt.Sprintf("validation-%d", i)
			createNamespace(t, ns)
			for _, doc := range tc.setup {
				o := decodeObject(t, doc)
				o.SetNamespace(ns)
				if err := k8sClient.Create(ctx, o); err != nil {
					t.Fatalf("setup %s: %v", o.GetName(), err)
				}
			}
			c, rec := warnedClient(t)
			obj := decodeObject(t, tc.object)
			obj.SetNamespace(ns)
			var err error
			switch tc.op {
			case "create":
				err = c.Create(ctx, obj)
			case "update":
				current := obj.DeepCopyObject().(client.Object)
				if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), current); err != nil {
					t.Fatal(err)
				}
				obj.SetResourceVersion(current.GetResourceVersion())
				err = c.Update(ctx, obj)
			case "delete":
				err = c.Delete(ctx, obj)
			}
			warnings := rec.take()
			t.Logf("error: %v; warnings: %q", err, warnings)
			if len(tc.wantErr) == 0 && err != nil {
				t.Fatalf("%s refused: %v", tc.op, err)
			}
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("%s succeeded, want a refusal containing %q", tc.op, tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("refusal %q does not contain %q", err, w)
					}
				}
			}
			if len(warnings) != len(tc.wantWarnings) {
				t.Fatalf("warnings %q, want %d: %q", warnings, len(tc.wantWarnings), tc.wantWarnings)
			}
			for j, w := range tc.wantWarnings {
				if !strings.Contains(warnings[j], w) {
					t.Errorf("warning %q does not contain %q", warnings[j], w)
				}
			}
			all := strings.Join(warnings, "\n")
			if err != nil {
				all += err.Error()
			}
			for _, s := range tc.neverSays {
				if strings.Contains(all, s) {
					t.Errorf("the API server's answer repeats %q", s)
				}
			}
		})
	}
}

func provider(name, spec string) string {
	return fmt.Sprintf("apiVersion: llm.mosaic.dev/v1alpha1\nkind: LLMProvider\nmetadata: {name: %s}\nspec:\n  %s\n", name, spec)
}

func policy(name, spec string) string {
	return fmt.Sprintf("apiVersion: llm.mosaic.dev/v1alpha1\nkind: RateLimitPolicy\nmetadata: {name: %s}\nspec:\n  %s\n", name, spec)
}

func decodeObject(t *testing.T, doc string) client.Object {
	t.Helper()
	obj, _, err := serializer.NewCodecFactory(testScheme).UniversalDeserializer().Decode([]byte(doc), nil, nil)
	if err != nil {
		t.Fatalf("decoding %q: %v", doc, err)
	}
	switch obj.(type) {
	case *v1alpha1.LLMProvider, *v1alpha1.RateLimitPolicy:
	default:
		t.Fatalf("unexpected %T", obj)
	}
	return obj.(client.Object)
}
