package webhook

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/renderer"
)

// Creations and updates fail closed: an LLMProvider the proxy would refuse must not be stored.
// Deletions only collect warnings, so they fail open: a deletion, a namespace's included, must
// never wait for the operator to be running.
// +kubebuilder:webhook:path=/validate-llm-mosaic-dev-v1alpha1-llmprovider,mutating=false,failurePolicy=fail,sideEffects=None,groups=llm.mosaic.dev,resources=llmproviders,verbs=create;update,versions=v1alpha1,name=vllmprovider.llm.mosaic.dev,admissionReviewVersions=v1
// +kubebuilder:webhook:path=/validate-llm-mosaic-dev-v1alpha1-llmprovider,mutating=false,failurePolicy=ignore,sideEffects=None,groups=llm.mosaic.dev,resources=llmproviders,verbs=delete,versions=v1alpha1,name=vllmproviderdelete.llm.mosaic.dev,admissionReviewVersions=v1,timeoutSeconds=5

// maxFallbackDepth bounds the walk along fallback references.
const maxFallbackDepth = 32

// LLMProviderValidator is the validating webhook for LLMProviders. It checks what the CRD's
// OpenAPI schema and CEL rules cannot: that the provider renders into a configuration mosaic-proxy
// accepts (RE2 patterns compile, perTryTimeout within timeout, no credentials in the endpoint) and
// that its fallback chain, followed through other LLMProviders, never comes back to it. A fallback
// to a provider that does not exist yet is allowed with a warning.
type LLMProviderValidator struct {
	// Reader reads the other LLMProviders of the namespace; use mgr.GetAPIReader().
	Reader client.Reader
}

var _ admission.Validator[*v1alpha1.LLMProvider] = (*LLMProviderValidator)(nil)

// ValidateCreate validates a new LLMProvider.
func (v *LLMProviderValidator) ValidateCreate(ctx context.Context, p *v1alpha1.LLMProvider) (admission.Warnings, error) {
	return v.validate(ctx, p)
}

// ValidateUpdate validates a changed LLMProvider.
func (v *LLMProviderValidator) ValidateUpdate(ctx context.Context, _, p *v1alpha1.LLMProvider) (admission.Warnings, error) {
	return v.validate(ctx, p)
}

// ValidateDelete allows the deletion, warning about the providers that fall back to this one. Its
// webhook fails open (failurePolicy Ignore): without the operator, deletions go through unwarned.
func (v *LLMProviderValidator) ValidateDelete(ctx context.Context, p *v1alpha1.LLMProvider) (admission.Warnings, error) {
	var list v1alpha1.LLMProviderList
	if err := v.Reader.List(ctx, &list, client.InNamespace(p.Namespace)); err != nil {
		return nil, fmt.Errorf("listing LLMProviders in %s: %w", p.Namespace, err)
	}
	var warnings admission.Warnings
	for _, other := range list.Items {
		if f := other.Spec.Fallback; other.Name != p.Name && f != nil && f.ProviderRef != nil && f.ProviderRef.Name == p.Name {
			warnings = append(warnings, fmt.Sprintf("LLMProvider %q falls back to %q; it runs without a fallback once %q is gone", other.Name, p.Name, p.Name))
		}
	}
	return warnings, nil
}

func (v *LLMProviderValidator) validate(ctx context.Context, p *v1alpha1.LLMProvider) (admission.Warnings, error) {
	errs := renderer.ProviderFieldErrors(p)
	warnings, err := v.checkFallback(ctx, p, &errs)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return warnings, apierrors.NewInvalid(v1alpha1.GroupVersion.WithKind("LLMProvider").GroupKind(), p.Name, errs)
	}
	return warnings, nil
}

// checkFallback follows spec.fallback.providerRef through the namespace's LLMProviders, using p
// as it is about to be stored.
func (v *LLMProviderValidator) checkFallback(ctx context.Context, p *v1alpha1.LLMProvider, errs *field.ErrorList) (admission.Warnings, error) {
	path := field.NewPath("spec", "fallback", "providerRef", "name")
	chain := []string{p.Name}
	visited := map[string]bool{p.Name: true}
	for next := renderer.FallbackProviderName(p); next != ""; {
		chain = append(chain, next)
		if next == p.Name {
			*errs = append(*errs, field.Invalid(path, renderer.FallbackProviderName(p), "fallback chain loops: "+strings.Join(chain, " -> ")))
			return nil, nil
		}
		if visited[next] || len(chain) > maxFallbackDepth {
			// A loop among other providers (admitted before this check existed, or racing with
			// this request): the renderer refuses it when a pod uses it.
			return admission.Warnings{fmt.Sprintf("%s: the fallback chain %s loops among other LLMProviders", path, strings.Join(chain, " -> "))}, nil
		}
		visited[next] = true
		var other v1alpha1.LLMProvider
		if err := v.Reader.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: next}, &other); err != nil {
			if apierrors.IsNotFound(err) {
				via := ""
				if len(chain) > 2 {
					via = " (fallback chain " + strings.Join(chain, " -> ") + ")"
				}
				return admission.Warnings{fmt.Sprintf("%s: LLMProvider %q%s does not exist yet; requests fail without that fallback until it is created", path, next, via)}, nil
			}
			return nil, fmt.Errorf("reading LLMProvider %s/%s: %w", p.Namespace, next, err)
		}
		next = renderer.FallbackProviderName(&other)
	}
	return nil, nil
}
