package crd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

var (
	k8sClient client.Client
	namespace = "wall"
)

func TestMain(m *testing.M) {
	os.Exit(runWithAPIServer(m))
}

// runWithAPIServer starts kube-apiserver and etcd (KUBEBUILDER_ASSETS) with the CRDs installed.
func runWithAPIServer(m *testing.M) int {
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting envtest (is KUBEBUILDER_ASSETS set? see hack/envtest-assets.sh): %v\n", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
		}
	}()
	k8sClient, err = client.New(cfg, client.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "creating a client: %v\n", err)
		return 1
	}
	ns := &corev1.Namespace{}
	ns.Name = namespace
	if err := client.IgnoreAlreadyExists(k8sClient.Create(context.Background(), ns)); err != nil {
		fmt.Fprintf(os.Stderr, "creating namespace %s: %v\n", namespace, err)
		return 1
	}
	return m.Run()
}

// object parses a manifest body (everything below metadata) of kind into an unstructured object
// named name in the test namespace.
func object(t *testing.T, kind, name, body string) *unstructured.Unstructured {
	t.Helper()
	manifest := fmt.Sprintf("apiVersion: llm.mosaic.dev/v1alpha1\nkind: %s\nmetadata:\n  name: %s\n  namespace: %s\n%s", kind, name, namespace, body)
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatalf("test manifest does not parse: %v\n%s", err, manifest)
	}
	return u
}

// create applies u the way kubectl does (server-side strict field validation).
func create(u *unstructured.Unstructured) error {
	return k8sClient.Create(context.Background(), u, client.FieldValidation("Strict"))
}

// A valid LLMProvider spec, for cases that break one thing of it.
const goodOpenAISpec = `
  type: OpenAI
  apiKeySecretRef: {name: openai, key: api-key}
  models: [{name: gpt-4o-mini}]`

func TestBadLLMProvidersAreRejected(t *testing.T) {
	tests := map[string]struct {
		// spec is the YAML of the object below metadata.
		spec string
		// field is a field path the error must name.
		field string
		// message, when set, is a further substring the error must contain.
		message string
	}{
		"no spec":      {spec: ``, field: "spec"},
		"no type":      {spec: "spec:\n  models: [{name: m}]", field: "spec.type", message: "Required value"},
		"unknown type": {spec: "spec:\n  type: OpenAl\n  apiKeySecretRef: {name: s, key: k}\n  models: [{name: m}]", field: "spec.type", message: "Unsupported value"},
		"AzureOpenAI without endpoint": {
			spec:  "spec:\n  type: AzureOpenAI\n  apiKeySecretRef: {name: s, key: k}\n  models: [{name: gpt-4o}]",
			field: "spec.endpoint", message: "required when spec.type is AzureOpenAI",
		},
		"OpenAICompatible without endpoint": {
			spec:  "spec:\n  type: OpenAICompatible\n  models: [{name: llama}]",
			field: "spec.endpoint", message: "required",
		},
		"OpenAI over plain http": {
			spec:  "spec:" + goodOpenAISpec + "\n  endpoint: http://api.openai.com/v1",
			field: "spec.endpoint", message: "https://",
		},
		"endpoint not a URL": {
			spec:  "spec:" + goodOpenAISpec + "\n  endpoint: api.openai.com/v1",
			field: "spec.endpoint", message: "absolute",
		},
		"endpoint with another scheme": {
			spec:  "spec:\n  type: OpenAICompatible\n  endpoint: ftp://models.local/v1\n  models: [{name: llama}]",
			field: "spec.endpoint",
		},
		"endpoint carrying credentials": {
			spec:  "spec:" + goodOpenAISpec + "\n  endpoint: https://sk-live-abc:x@api.openai.com/v1",
			field: "spec.endpoint", message: "credentials",
		},
		"endpoint with a query": {
			spec:  "spec:" + goodOpenAISpec + "\n  endpoint: https://api.openai.com/v1?api-key=abc",
			field: "spec.endpoint", message: "query",
		},
		"OpenAI without a key Secret": {
			spec:  "spec:\n  type: OpenAI\n  models: [{name: gpt-4o-mini}]",
			field: "spec.apiKeySecretRef", message: "required",
		},
		"the key itself in the spec": {
			spec:  "spec:" + goodOpenAISpec + "\n  apiKey: sk-do-not-put-keys-here",
			field: "spec.apiKey", message: "unknown field",
		},
		"Secret ref without key": {
			spec:  "spec:\n  type: OpenAI\n  apiKeySecretRef: {name: openai}\n  models: [{name: m}]",
			field: "spec.apiKeySecretRef.key", message: "Required value",
		},
		"Secret key reaching out of the volume": {
			spec:  "spec:\n  type: OpenAI\n  apiKeySecretRef: {name: openai, key: ..data}\n  models: [{name: m}]",
			field: "spec.apiKeySecretRef.key", message: "must not be '.' or '..'",
		},
		"Secret name not a DNS name": {
			spec:  "spec:\n  type: OpenAI\n  apiKeySecretRef: {name: Open_AI, key: k}\n  models: [{name: m}]",
			field: "spec.apiKeySecretRef.name",
		},
		"no models": {
			spec:  "spec:\n  type: Fake",
			field: "spec.models", message: "Required value",
		},
		"empty models": {
			spec:  "spec:\n  type: Fake\n  models: []",
			field: "spec.models",
		},
		"duplicate model names": {
			spec:  "spec:\n  type: Fake\n  models: [{name: gpt-4o}, {name: gpt-4o}]",
			field: "spec.models[1]", message: "Duplicate value",
		},
		"model name with a space": {
			spec:  "spec:\n  type: Fake\n  models: [{name: 'gpt 4o'}]",
			field: "spec.models[0].name",
		},
		"alias of an alias": {
			spec:  "spec:\n  type: Fake\n  models: [{name: a, target: b}, {name: b, target: gpt-4o}]",
			field: "spec.models", message: "alias target must not itself be an alias",
		},
		"defaultModel not among models": {
			spec:  "spec:\n  type: Fake\n  models: [{name: gpt-4o}]\n  defaultModel: gpt-5",
			field: "spec.defaultModel", message: "must be one of spec.models",
		},
		"timeout too short": {
			spec:  "spec:" + goodOpenAISpec + "\n  timeout: 500ms",
			field: "spec.timeout", message: "between 1s and 1h",
		},
		"timeout too long": {
			spec:  "spec:" + goodOpenAISpec + "\n  timeout: 2h",
			field: "spec.timeout",
		},
		"timeout not a duration": {
			spec:  "spec:" + goodOpenAISpec + "\n  timeout: soon",
			field: "spec.timeout",
		},
		"retry maxAttempts 0": {
			spec:  "spec:" + goodOpenAISpec + "\n  retry: {maxAttempts: 0}",
			field: "spec.retry.maxAttempts",
		},
		"retry maxAttempts 11": {
			spec:  "spec:" + goodOpenAISpec + "\n  retry: {maxAttempts: 11}",
			field: "spec.retry.maxAttempts",
		},
		"backoff initial above max": {
			spec:  "spec:" + goodOpenAISpec + "\n  retry: {backoff: {initial: 20s, max: 5s}}",
			field: "spec.retry.backoff.initial", message: "must not exceed spec.retry.backoff.max",
		},
		"backoff initial above the defaulted max": {
			spec:  "spec:" + goodOpenAISpec + "\n  retry: {backoff: {initial: 30s}}",
			field: "spec.retry.backoff.initial", message: "must not exceed",
		},
		"unknown retryOn": {
			spec:  "spec:" + goodOpenAISpec + "\n  retry: {retryOn: [Everything]}",
			field: "spec.retry.retryOn[0]", message: "Unsupported value",
		},
		"retry budget above 100%": {
			spec:  "spec:" + goodOpenAISpec + "\n  retry: {budgetPercent: 101}",
			field: "spec.retry.budgetPercent",
		},
		"maxRetryAfter above 10m": {
			spec:  "spec:" + goodOpenAISpec + "\n  retry: {maxRetryAfter: 1h}",
			field: "spec.retry.maxRetryAfter",
		},
		"fallback with both answers": {
			spec:  "spec:" + goodOpenAISpec + "\n  fallback: {providerRef: {name: backup}, staticResponse: {content: sorry}}",
			field: "spec.fallback", message: "exactly one of providerRef or staticResponse",
		},
		"fallback with neither": {
			spec:  "spec:" + goodOpenAISpec + "\n  fallback: {}",
			field: "spec.fallback", message: "exactly one",
		},
		"fallback to itself": {
			spec:  "spec:" + goodOpenAISpec + "\n  fallback: {providerRef: {name: bad}}",
			field: "spec.fallback.providerRef.name", message: "must not name this LLMProvider itself",
		},
		"unknown sanitization action": {
			spec:  "spec:" + goodOpenAISpec + "\n  sanitization: {action: Delete}",
			field: "spec.sanitization.action", message: "Unsupported value",
		},
		"unknown detector": {
			spec:  "spec:" + goodOpenAISpec + "\n  sanitization: {detectors: [IBAN]}",
			field: "spec.sanitization.detectors[0]",
		},
		"pattern name not an identifier": {
			spec:  "spec:" + goodOpenAISpec + "\n  sanitization: {patterns: [{name: '1st pattern', regex: 'x'}]}",
			field: "spec.sanitization.patterns[0].name",
		},
		"maxPromptChars 0": {
			spec:  "spec:" + goodOpenAISpec + "\n  sanitization: {maxPromptChars: 0}",
			field: "spec.sanitization.maxPromptChars",
		},
		"probe interval below 10s": {
			spec:  "spec:" + goodOpenAISpec + "\n  healthCheck: {interval: 5s}",
			field: "spec.healthCheck.interval", message: "between 10s and 24h",
		},
		"probe timeout beyond the interval": {
			spec:  "spec:" + goodOpenAISpec + "\n  healthCheck: {interval: 30s, timeout: 45s}",
			field: "spec.healthCheck.timeout", message: "spec.healthCheck.interval",
		},
		"azure settings on OpenAI": {
			spec:  "spec:" + goodOpenAISpec + "\n  azure: {apiVersion: 2024-10-21}",
			field: "spec.azure", message: "only valid when spec.type is AzureOpenAI",
		},
		"azure apiVersion not a date": {
			spec:  "spec:\n  type: AzureOpenAI\n  endpoint: https://contoso.openai.azure.com\n  apiKeySecretRef: {name: s, key: k}\n  models: [{name: gpt-4o}]\n  azure: {apiVersion: latest}",
			field: "spec.azure.apiVersion",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := create(object(t, "LLMProvider", "bad", tc.spec))
			if err == nil {
				_ = k8sClient.Delete(context.Background(), object(t, "LLMProvider", "bad", ""))
				t.Fatalf("the API server accepted it; want a rejection naming %s", tc.field)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.field) {
				t.Errorf("rejection does not name %s:\n%s", tc.field, msg)
			}
			if tc.message != "" && !strings.Contains(msg, tc.message) {
				t.Errorf("rejection does not say %q:\n%s", tc.message, msg)
			}
		})
	}
}

// goodPolicySpec targets one provider with one limit.
const goodPolicySpec = `
  targetRefs: [{kind: LLMProvider, name: openai}]
  limits: {requestsPerMinute: 60}`

func TestBadRateLimitPoliciesAreRejected(t *testing.T) {
	tests := map[string]struct {
		// spec is the YAML of the object below metadata.
		spec string
		// field is a field path the error must name.
		field string
		// message, when set, is a further substring the error must contain.
		message string
	}{
		"no targetRefs": {
			spec:  "spec:\n  limits: {requestsPerMinute: 60}",
			field: "spec.targetRefs", message: "Required value",
		},
		"empty targetRefs": {
			spec:  "spec:\n  targetRefs: []\n  limits: {requestsPerMinute: 60}",
			field: "spec.targetRefs",
		},
		"target of another kind": {
			spec:  "spec:\n  targetRefs: [{kind: Service, name: openai}]\n  limits: {requestsPerMinute: 60}",
			field: "spec.targetRefs[0].kind", message: "Unsupported value",
		},
		"target of another group": {
			spec:  "spec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: LLMProvider, name: openai}]\n  limits: {requestsPerMinute: 60}",
			field: "spec.targetRefs[0].group",
		},
		"target without a name": {
			spec:  "spec:\n  targetRefs: [{kind: LLMProvider}]\n  limits: {requestsPerMinute: 60}",
			field: "spec.targetRefs[0].name", message: "Required value",
		},
		"the same target twice": {
			spec:  "spec:\n  targetRefs: [{kind: LLMProvider, name: a}, {kind: LLMProvider, name: a}]\n  limits: {requestsPerMinute: 60}",
			field: "spec.targetRefs", message: "must not name the same target twice",
		},
		"no limits": {
			spec:  "spec:\n  targetRefs: [{kind: LLMProvider, name: a}]",
			field: "spec.limits", message: "Required value",
		},
		"empty limits": {
			spec:  "spec:\n  targetRefs: [{kind: LLMProvider, name: a}]\n  limits: {}",
			field: "spec.limits", message: "at least one of",
		},
		"zero requests per minute": {
			spec:  "spec:\n  targetRefs: [{kind: LLMProvider, name: a}]\n  limits: {requestsPerMinute: 0}",
			field: "spec.limits.requestsPerMinute",
		},
		"minute budget above the day's": {
			spec:  "spec:\n  targetRefs: [{kind: LLMProvider, name: a}]\n  limits: {tokensPerMinute: 2000, tokensPerDay: 1000}",
			field: "spec.limits.tokensPerMinute", message: "must not exceed spec.limits.tokensPerDay",
		},
		"zero concurrency": {
			spec:  "spec:\n  targetRefs: [{kind: LLMProvider, name: a}]\n  limits: {maxConcurrentRequests: 0}",
			field: "spec.limits.maxConcurrentRequests",
		},
		"unknown scope": {
			spec:  "spec:" + goodPolicySpec + "\n  scope: Cluster",
			field: "spec.scope", message: "Unsupported value",
		},
		"Global without Redis": {
			spec:  "spec:" + goodPolicySpec + "\n  scope: Global",
			field: "spec.backend.redis", message: "required when spec.scope is Global",
		},
		"Redis address without port": {
			spec:  "spec:" + goodPolicySpec + "\n  scope: Global\n  backend: {redis: {address: redis}}",
			field: "spec.backend.redis.address",
		},
		"unknown failureMode": {
			spec:  "spec:" + goodPolicySpec + "\n  failureMode: Maybe",
			field: "spec.failureMode", message: "Unsupported value",
		},
		"Queue without maxWait": {
			spec:  "spec:" + goodPolicySpec + "\n  onLimit: {action: Queue}",
			field: "spec.onLimit.maxWait", message: "required when spec.onLimit.action is Queue",
		},
		"maxWait with Reject": {
			spec:  "spec:" + goodPolicySpec + "\n  onLimit: {action: Reject, maxWait: 1s}",
			field: "spec.onLimit.maxWait", message: "only valid when spec.onLimit.action is Queue",
		},
		"maxWait above 5m": {
			spec:  "spec:" + goodPolicySpec + "\n  onLimit: {action: Queue, maxWait: 10m}",
			field: "spec.onLimit.maxWait",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := create(object(t, "RateLimitPolicy", "bad", tc.spec))
			if err == nil {
				_ = k8sClient.Delete(context.Background(), object(t, "RateLimitPolicy", "bad", ""))
				t.Fatalf("the API server accepted it; want a rejection naming %s", tc.field)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.field) {
				t.Errorf("rejection does not name %s:\n%s", tc.field, msg)
			}
			if tc.message != "" && !strings.Contains(msg, tc.message) {
				t.Errorf("rejection does not say %q:\n%s", tc.message, msg)
			}
		})
	}
}

func TestGoodObjectsAreAcceptedWithDefaults(t *testing.T) {
	tests := map[string]struct {
		// kind and spec are the object applied.
		kind, spec string
		// want are field paths (dot-separated, into the stored object) and the values the API
		// server must have stored, defaults included.
		want map[string]any
	}{
		"minimal OpenAI": {
			kind: "LLMProvider", spec: "spec:" + goodOpenAISpec,
			want: map[string]any{"spec.timeout": "60s"},
		},
		"OpenAI with empty retry and healthCheck": {
			kind: "LLMProvider", spec: "spec:" + goodOpenAISpec + "\n  retry: {}\n  healthCheck: {}",
			want: map[string]any{
				"spec.timeout":                 "60s",
				"spec.retry.maxAttempts":       int64(3),
				"spec.retry.respectRetryAfter": true,
				"spec.retry.maxRetryAfter":     "30s",
				"spec.retry.budgetPercent":     int64(20),
				"spec.healthCheck.interval":    "60s",
				"spec.healthCheck.timeout":     "10s",
			},
		},
		"the shortest probe interval": {
			kind: "LLMProvider", spec: "spec:" + goodOpenAISpec + "\n  healthCheck: {interval: 10s}",
			want: map[string]any{"spec.healthCheck.interval": "10s"},
		},
		"retry backoff defaults": {
			kind: "LLMProvider", spec: "spec:" + goodOpenAISpec + "\n  retry: {maxAttempts: 5, backoff: {}}",
			want: map[string]any{
				"spec.retry.maxAttempts":     int64(5),
				"spec.retry.backoff.initial": "500ms",
				"spec.retry.backoff.max":     "10s",
			},
		},
		"AzureOpenAI": {
			kind: "LLMProvider",
			spec: "spec:\n  type: AzureOpenAI\n  endpoint: https://contoso.openai.azure.com\n  apiKeySecretRef: {name: azure, key: api-key}\n  models: [{name: gpt-4o}]\n  azure: {}",
			want: map[string]any{"spec.azure.apiVersion": "2024-10-21"},
		},
		"keyless OpenAI-compatible server over http with an alias and a default model": {
			kind: "LLMProvider",
			spec: "spec:\n  type: OpenAICompatible\n  endpoint: http://vllm.models.svc:8000/v1\n  models: [{name: llama-3.1-8b}, {name: simple, target: llama-3.1-8b}]\n  defaultModel: simple\n  sanitization: {detectors: [CreditCard], patterns: [{name: ticket, regex: 'TCK-[0-9]+'}]}",
			want: map[string]any{"spec.sanitization.action": "Redact"},
		},
		"Fake": {
			kind: "LLMProvider", spec: "spec:\n  type: Fake\n  models: [{name: gpt-4o-mini}]\n  fallback: {staticResponse: {content: busy}}",
			want: map[string]any{"spec.timeout": "60s"},
		},
		"minimal RateLimitPolicy": {
			kind: "RateLimitPolicy", spec: "spec:" + goodPolicySpec + "\n  onLimit: {}",
			want: map[string]any{
				"spec.scope":          "Pod",
				"spec.failureMode":    "Open",
				"spec.onLimit.action": "Reject",
			},
		},
		"Global RateLimitPolicy queueing": {
			kind: "RateLimitPolicy",
			spec: "spec:\n  targetRefs: [{kind: LLMProvider, name: a}, {kind: LLMProvider, name: b}]\n  limits: {tokensPerMinute: 1000, tokensPerDay: 100000, maxConcurrentRequests: 8}\n  scope: Global\n  backend: {redis: {address: 'redis.mosaic.svc:6379', passwordSecretRef: {name: redis, key: password}}}\n  failureMode: Closed\n  onLimit: {action: Queue, maxWait: 2s}",
			want: map[string]any{"spec.scope": "Global", "spec.failureMode": "Closed"},
		},
	}
	i := 0
	for name, tc := range tests {
		i++
		objName := fmt.Sprintf("good-%d", i)
		t.Run(name, func(t *testing.T) {
			u := object(t, tc.kind, objName, tc.spec)
			if err := create(u); err != nil {
				t.Fatalf("rejected: %v", err)
			}
			t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), u) })
			got := map[string]any{}
			for path := range tc.want {
				v, found, err := unstructured.NestedFieldNoCopy(u.Object, strings.Split(path, ".")...)
				if err != nil || !found {
					t.Errorf("%s: not stored (err %v)", path, err)
					continue
				}
				got[path] = v
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("stored object (-want +got):\n%s", diff)
			}
			// The targetRef group defaults too.
			if tc.kind == "RateLimitPolicy" {
				refs, _, _ := unstructured.NestedSlice(u.Object, "spec", "targetRefs")
				for _, r := range refs {
					if g := r.(map[string]any)["group"]; g != "llm.mosaic.dev" {
						t.Errorf("targetRefs group = %v, want the default llm.mosaic.dev", g)
					}
				}
			}
		})
	}
}
