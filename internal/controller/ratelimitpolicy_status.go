package controller

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	llmv1alpha1 "github.com/mosaic-dev/mosaic/api/v1alpha1"
)

// updatePolicyStatus computes the policy's whole status from what this reconcile observed of its
// targets and of the proxy ConfigMaps in use that render it (configs).
func updatePolicyStatus(policy *llmv1alpha1.RateLimitPolicy, targets []targetObservation, configs int, now time.Time) {
	stamp := metav1.NewTime(now.Truncate(time.Second))
	for _, c := range []metav1.Condition{
		acceptedCondition(policy.Name, targets),
		resolvedRefsCondition(policy.Namespace, targets),
		conflictedCondition(policy.Name, targets),
		enforcedCondition(policy.Spec.Scope, configs),
	} {
		c.ObservedGeneration = policy.Generation
		c.LastTransitionTime = stamp
		meta.SetStatusCondition(&policy.Status.Conditions, c)
	}
	policy.Status.ObservedGeneration = policy.Generation
	policy.Status.Targets = targetStatuses(policy.Name, targets)
}

// targetStatuses is status.targets, in spec order.
func targetStatuses(self string, targets []targetObservation) []llmv1alpha1.PolicyTargetStatus {
	out := make([]llmv1alpha1.PolicyTargetStatus, 0, len(targets))
	for _, t := range targets {
		s := llmv1alpha1.PolicyTargetStatus{Name: t.name, Resolved: t.exists}
		if t.winner != self {
			s.ConflictedWith = t.winner
		}
		out = append(out, s)
	}
	return out
}

// acceptedCondition is True when the policy is in force for at least one target: one that exists
// and that no older policy governs.
func acceptedCondition(self string, targets []targetObservation) metav1.Condition {
	var inForce, resolved int
	for _, t := range targets {
		if t.exists {
			resolved++
			if t.winner == self {
				inForce++
			}
		}
	}
	c := metav1.Condition{Type: llmv1alpha1.ConditionAccepted}
	switch {
	case inForce > 0:
		c.Status, c.Reason = metav1.ConditionTrue, llmv1alpha1.ReasonAccepted
		c.Message = fmt.Sprintf("in force for %d of %d targets", inForce, len(targets))
	case resolved == 0:
		c.Status, c.Reason = metav1.ConditionFalse, llmv1alpha1.ReasonNoTargetsResolved
		c.Message = "no spec.targetRefs entry names an existing LLMProvider"
	default:
		c.Status, c.Reason = metav1.ConditionFalse, llmv1alpha1.ReasonAllTargetsConflicted
		c.Message = "every existing target is governed by an older RateLimitPolicy (see Conflicted)"
	}
	return c
}

// resolvedRefsCondition is True when every targetRef names an existing LLMProvider.
func resolvedRefsCondition(namespace string, targets []targetObservation) metav1.Condition {
	var missing []string
	for _, t := range targets {
		if !t.exists {
			missing = append(missing, fmt.Sprintf("%q", t.name))
		}
	}
	c := metav1.Condition{Type: llmv1alpha1.ConditionResolvedRefs}
	if len(missing) == 0 {
		c.Status, c.Reason = metav1.ConditionTrue, llmv1alpha1.ReasonResolvedRefs
		c.Message = fmt.Sprintf("all %d spec.targetRefs name existing LLMProviders", len(targets))
		return c
	}
	c.Status, c.Reason = metav1.ConditionFalse, llmv1alpha1.ReasonTargetNotFound
	c.Message = fmt.Sprintf("spec.targetRefs: LLMProvider %s not found in namespace %q", strings.Join(missing, ", "), namespace)
	return c
}

// conflictedCondition is True when an older policy governs at least one of the targets, naming
// it for each such target.
func conflictedCondition(self string, targets []targetObservation) metav1.Condition {
	var conflicts []string
	for _, t := range targets {
		if t.winner != self {
			conflicts = append(conflicts, fmt.Sprintf("LLMProvider %q is governed by the older RateLimitPolicy %q", t.name, t.winner))
		}
	}
	c := metav1.Condition{Type: llmv1alpha1.ConditionConflicted}
	if len(conflicts) == 0 {
		c.Status, c.Reason = metav1.ConditionFalse, llmv1alpha1.ReasonNoConflict
		c.Message = "no older RateLimitPolicy targets this policy's targets"
		return c
	}
	c.Status, c.Reason = metav1.ConditionTrue, llmv1alpha1.ReasonConflicted
	c.Message = strings.Join(conflicts, "; ")
	return c
}

// enforcedCondition is True when configs (proxy ConfigMaps in use) carry the policy's limits.
func enforcedCondition(scope llmv1alpha1.RateLimitScope, configs int) metav1.Condition {
	c := metav1.Condition{Type: llmv1alpha1.ConditionEnforced}
	switch {
	case configs > 0:
		c.Status, c.Reason = metav1.ConditionTrue, llmv1alpha1.ReasonEnforced
		c.Message = fmt.Sprintf("rendered into %d mosaic-proxy configuration(s) in use by pods", configs)
	case scope == llmv1alpha1.ScopeGlobal:
		c.Status, c.Reason = metav1.ConditionFalse, llmv1alpha1.ReasonScopeNotEnforced
		c.Message = "spec.scope Global is not enforced by this mosaic-proxy version; no configuration carries these limits"
	default:
		c.Status, c.Reason = metav1.ConditionFalse, llmv1alpha1.ReasonNotInUse
		c.Message = "no mosaic-proxy configuration in use carries these limits: no running injected pod uses an LLMProvider this policy governs (see Accepted and Conflicted)"
	}
	return c
}
