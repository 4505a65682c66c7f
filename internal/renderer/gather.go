package renderer

import (
	"context"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mosaic-dev/mosaic/api/v1alpha1"
)

// ProviderNotFoundError says that a requested LLMProvider does not exist. It matches
// ErrProviderNotFound with errors.Is.
type ProviderNotFoundError struct {
	// Namespace and Name of the missing LLMProvider.
	Namespace, Name string
}

// Error names the provider and its namespace.
func (e *ProviderNotFoundError) Error() string {
	return fmt.Sprintf("LLMProvider %q not found in namespace %q", e.Name, e.Namespace)
}

// Is makes errors.Is(err, ErrProviderNotFound) true.
func (e *ProviderNotFoundError) Is(target error) bool { return target == ErrProviderNotFound }

// Gather reads the Input for the providers names of namespace through r: the requested
// LLMProviders and, transitively, their fallbacks (a missing fallback is left to RenderDetailed's
// warning), the namespace's RateLimitPolicies, and the key names of the referenced Secrets (never
// their values). A missing requested provider is a *ProviderNotFoundError. The webhook passes an
// uncached reader (mgr.GetAPIReader()); a reconciler may pass its cached client.
func Gather(ctx context.Context, r client.Reader, namespace string, names []string) (Input, error) {
	names = NormalizeProviderNames(names)
	in := Input{Namespace: namespace, ProviderNames: names}
	requested := map[string]bool{}
	for _, n := range names {
		requested[n] = true
	}
	queue := slices.Clone(names)
	seen := map[string]bool{}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		var lp v1alpha1.LLMProvider
		if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &lp); err != nil {
			if apierrors.IsNotFound(err) {
				if requested[name] {
					return in, &ProviderNotFoundError{Namespace: namespace, Name: name}
				}
				continue
			}
			return in, fmt.Errorf("reading LLMProvider %s/%s: %w", namespace, name, err)
		}
		in.Providers = append(in.Providers, lp)
		if ref := FallbackProviderName(&lp); ref != "" {
			queue = append(queue, ref)
		}
	}

	var policies v1alpha1.RateLimitPolicyList
	if err := r.List(ctx, &policies, client.InNamespace(namespace)); err != nil {
		return in, fmt.Errorf("listing RateLimitPolicies in %s: %w", namespace, err)
	}
	in.Policies = policies.Items

	secretNames := map[string]bool{}
	for i := range in.Providers {
		if ref := in.Providers[i].Spec.APIKeySecretRef; ref != nil {
			secretNames[ref.Name] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(secretNames)) {
		var s corev1.Secret
		if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return in, fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
		}
		sv := SecretVersion{Name: s.Name, ResourceVersion: s.ResourceVersion}
		for k := range s.Data {
			sv.Keys = append(sv.Keys, k)
		}
		slices.Sort(sv.Keys)
		in.Secrets = append(in.Secrets, sv)
	}
	return in, nil
}
