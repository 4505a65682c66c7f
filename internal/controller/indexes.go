package controller

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	llmv1alpha1 "github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/renderer"
)

// Field indexes the reconcilers register on the manager's cache.
const (
	// IndexProviderSecretName indexes LLMProviders by spec.apiKeySecretRef.name, so a Secret event
	// finds the providers that read it.
	IndexProviderSecretName = "spec.apiKeySecretRef.name"
	// IndexPolicyTargetName indexes RateLimitPolicies by the names of their LLMProvider targetRefs,
	// so a provider or policy event finds the policies that target the same providers.
	IndexPolicyTargetName = "spec.targetRefs.name"
)

// providerSecretName is the IndexProviderSecretName extractor.
func providerSecretName(o client.Object) []string {
	p, ok := o.(*llmv1alpha1.LLMProvider)
	if !ok || p.Spec.APIKeySecretRef == nil || p.Spec.APIKeySecretRef.Name == "" {
		return nil
	}
	return []string{p.Spec.APIKeySecretRef.Name}
}

// policyTargetNames is the IndexPolicyTargetName extractor.
func policyTargetNames(o client.Object) []string {
	p, ok := o.(*llmv1alpha1.RateLimitPolicy)
	if !ok {
		return nil
	}
	names := make([]string, 0, len(p.Spec.TargetRefs))
	for _, ref := range p.Spec.TargetRefs {
		if renderer.TargetsProvider(ref) {
			names = append(names, ref.Name)
		}
	}
	return names
}

// registerIndex registers a field index, naming it in the error.
func registerIndex(ctx context.Context, idx client.FieldIndexer, obj client.Object, field string, extract client.IndexerFunc) error {
	if err := idx.IndexField(ctx, obj, field, extract); err != nil {
		return fmt.Errorf("indexing %T by %s: %w", obj, field, err)
	}
	return nil
}
