package webhook

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/renderer"
)

// +kubebuilder:webhook:path=/validate-llm-mosaic-dev-v1alpha1-ratelimitpolicy,mutating=false,failurePolicy=fail,sideEffects=None,groups=llm.mosaic.dev,resources=ratelimitpolicies,verbs=create;update,versions=v1alpha1,name=vratelimitpolicy.llm.mosaic.dev,admissionReviewVersions=v1

// RateLimitPolicyValidator is the validating webhook for RateLimitPolicies. Everything that can
// be wrong inside one policy is caught by the CRD's schema and CEL rules; what spans objects is
// reported as warnings, never refusals, so policies and providers can be applied in any order:
// targetRefs naming LLMProviders that do not exist yet, targets already governed by an older
// policy (Gateway API precedence: this policy's limits will not apply to them), and Global scope,
// which this mosaic-proxy version does not enforce.
type RateLimitPolicyValidator struct {
	// Reader reads the namespace's LLMProviders and RateLimitPolicies; use mgr.GetAPIReader().
	Reader client.Reader
	// Clock dates a policy being created (it has no creationTimestamp yet); nil means the real clock.
	Clock clock.PassiveClock
}

var _ admission.Validator[*v1alpha1.RateLimitPolicy] = (*RateLimitPolicyValidator)(nil)

// ValidateCreate warns about a new policy's references.
func (v *RateLimitPolicyValidator) ValidateCreate(ctx context.Context, p *v1alpha1.RateLimitPolicy) (admission.Warnings, error) {
	return v.warnings(ctx, p)
}

// ValidateUpdate warns about a changed policy's references.
func (v *RateLimitPolicyValidator) ValidateUpdate(ctx context.Context, _, p *v1alpha1.RateLimitPolicy) (admission.Warnings, error) {
	return v.warnings(ctx, p)
}

// ValidateDelete allows every deletion.
func (v *RateLimitPolicyValidator) ValidateDelete(context.Context, *v1alpha1.RateLimitPolicy) (admission.Warnings, error) {
	return nil, nil
}

func (v *RateLimitPolicyValidator) warnings(ctx context.Context, p *v1alpha1.RateLimitPolicy) (admission.Warnings, error) {
	self := p.DeepCopy()
	if self.CreationTimestamp.IsZero() {
		c := v.Clock
		if c == nil {
			c = clock.RealClock{}
		}
		// Truncated to the second as the API server will store it, so ties are broken by name
		// here exactly as they will be once the policy exists.
		self.CreationTimestamp = metav1.NewTime(c.Now()).Rfc3339Copy()
	}
	var policies v1alpha1.RateLimitPolicyList
	if err := v.Reader.List(ctx, &policies, client.InNamespace(p.Namespace)); err != nil {
		return nil, fmt.Errorf("listing RateLimitPolicies in %s: %w", p.Namespace, err)
	}
	var warnings admission.Warnings
	if p.Spec.Scope == v1alpha1.ScopeGlobal {
		warnings = append(warnings, "spec.scope: Global limits are not enforced by this mosaic-proxy version yet; pods run without this policy's limits")
	}
	for i, ref := range p.Spec.TargetRefs {
		path := field.NewPath("spec", "targetRefs").Index(i)
		var target v1alpha1.LLMProvider
		if err := v.Reader.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: ref.Name}, &target); err != nil {
			if !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("reading LLMProvider %s/%s: %w", p.Namespace, ref.Name, err)
			}
			warnings = append(warnings, fmt.Sprintf("%s: LLMProvider %q does not exist yet; the limits apply once it is created", path, ref.Name))
		}
		var winner *v1alpha1.RateLimitPolicy
		for j := range policies.Items {
			other := &policies.Items[j]
			if other.Name == p.Name || !other.DeletionTimestamp.IsZero() || !targets(other, ref.Name) || !renderer.PolicyPrecedes(other, self) {
				continue
			}
			if winner == nil || renderer.PolicyPrecedes(other, winner) {
				winner = other
			}
		}
		if winner != nil {
			warnings = append(warnings, fmt.Sprintf("%s: older RateLimitPolicy %q already governs LLMProvider %q; this policy's limits do not apply to it", path, winner.Name, ref.Name))
		}
	}
	return warnings, nil
}

// targets reports whether policy p has a targetRef naming LLMProvider provider.
func targets(p *v1alpha1.RateLimitPolicy, provider string) bool {
	for _, ref := range p.Spec.TargetRefs {
		if renderer.TargetsProvider(ref) && ref.Name == provider {
			return true
		}
	}
	return false
}
