package webhook

import (
	"bytes"
	"maps"
	"os"
	"slices"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"
)

// TestWebhookFailurePolicies checks the generated webhook configuration: what must never be
// admitted without the operator (opted-in pods, LLMProvider and RateLimitPolicy creations and
// updates) fails closed, the pod webhook is only ever called for opted-in pods, and what only
// collects warnings (LLMProvider deletions) fails open, so deleting a namespace never waits for
// the operator.
func TestWebhookFailurePolicies(t *testing.T) {
	raw, err := os.ReadFile("../../config/webhook/manifests.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type webhook struct {
		FailurePolicy  admissionregistrationv1.FailurePolicyType
		ObjectSelector map[string]string
		Operations     []admissionregistrationv1.OperationType
	}
	got := map[string]webhook{}
	for doc := range bytes.SplitSeq(raw, []byte("\n---\n")) {
		var cfg struct {
			Webhooks []admissionregistrationv1.ValidatingWebhook `json:"webhooks"`
		}
		if err := yaml.Unmarshal(doc, &cfg); err != nil {
			t.Fatal(err)
		}
		for _, w := range cfg.Webhooks {
			var ops []admissionregistrationv1.OperationType
			for _, r := range w.Rules {
				ops = append(ops, r.Operations...)
			}
			var sel map[string]string
			if w.ObjectSelector != nil {
				sel = w.ObjectSelector.MatchLabels
			}
			got[w.Name] = webhook{FailurePolicy: *w.FailurePolicy, ObjectSelector: sel, Operations: ops}
		}
	}
	create, update, del := admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete
	tests := map[string]struct {
		// policy is the webhook's failurePolicy.
		policy admissionregistrationv1.FailurePolicyType
		// operations are the operations it is called for.
		operations []admissionregistrationv1.OperationType
		// selector is its objectSelector's matchLabels; nil means none.
		selector map[string]string
	}{
		"mpod.llm.mosaic.dev":               {policy: admissionregistrationv1.Fail, operations: []admissionregistrationv1.OperationType{create}, selector: map[string]string{"llm.mosaic.dev/inject": "true"}},
		"vllmprovider.llm.mosaic.dev":       {policy: admissionregistrationv1.Fail, operations: []admissionregistrationv1.OperationType{create, update}},
		"vllmproviderdelete.llm.mosaic.dev": {policy: admissionregistrationv1.Ignore, operations: []admissionregistrationv1.OperationType{del}},
		"vratelimitpolicy.llm.mosaic.dev":   {policy: admissionregistrationv1.Fail, operations: []admissionregistrationv1.OperationType{create, update}},
	}
	if len(got) != len(tests) {
		t.Errorf("config/webhook/manifests.yaml has %d webhooks, want %d", len(got), len(tests))
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w, ok := got[name]
			if !ok {
				t.Fatal("webhook missing from config/webhook/manifests.yaml")
			}
			if w.FailurePolicy != tc.policy {
				t.Errorf("failurePolicy = %s, want %s", w.FailurePolicy, tc.policy)
			}
			if !slices.Equal(w.Operations, tc.operations) {
				t.Errorf("operations = %v, want %v", w.Operations, tc.operations)
			}
			if !maps.Equal(w.ObjectSelector, tc.selector) {
				t.Errorf("objectSelector = %v, want %v", w.ObjectSelector, tc.selector)
			}
		})
	}
}
