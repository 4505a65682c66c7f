package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	llmv1alpha1 "github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/renderer"
)

// TestTakesPrecedence checks the precedence the reconciler applies (the renderer's, so status and
// the rendered configuration agree on the winner).
func TestTakesPrecedence(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	policy := func(ns, name string, created time.Time) *llmv1alpha1.RateLimitPolicy {
		p := &llmv1alpha1.RateLimitPolicy{}
		p.Namespace, p.Name, p.CreationTimestamp = ns, name, metav1.NewTime(created)
		return p
	}
	tests := map[string]struct {
		// a and b are the two policies compared.
		a, b *llmv1alpha1.RateLimitPolicy
		// want is whether a wins.
		want bool
	}{
		"older wins over a smaller name": {a: policy("ns", "z", t0), b: policy("ns", "a", t0.Add(time.Second)), want: true},
		"newer loses":                    {a: policy("ns", "a", t0.Add(time.Second)), b: policy("ns", "z", t0), want: false},
		"same age: first name wins":      {a: policy("ns", "a", t0), b: policy("ns", "b", t0), want: true},
		"same age: later name loses":     {a: policy("ns", "b", t0), b: policy("ns", "a", t0), want: false},
		"itself does not win":            {a: policy("ns", "a", t0), b: policy("ns", "a", t0), want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := renderer.PolicyPrecedes(tc.a, tc.b); got != tc.want {
				t.Errorf("PolicyPrecedes = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPolicyConditions(t *testing.T) {
	tests := map[string]struct {
		// targets is what the reconcile observed of each targetRef, for the policy named "self".
		targets []targetObservation
		// want are "Type=Status/Reason" of Accepted, ResolvedRefs, Conflicted.
		want [3]string
	}{
		"all resolved, no conflict": {
			targets: []targetObservation{{name: "a", exists: true, winner: "self"}},
			want:    [3]string{"True/Accepted", "True/ResolvedRefs", "False/NoConflict"},
		},
		"one missing, one in force": {
			targets: []targetObservation{{name: "a", exists: true, winner: "self"}, {name: "b", winner: "self"}},
			want:    [3]string{"True/Accepted", "False/TargetNotFound", "False/NoConflict"},
		},
		"none exists": {
			targets: []targetObservation{{name: "a", winner: "self"}},
			want:    [3]string{"False/NoTargetsResolved", "False/TargetNotFound", "False/NoConflict"},
		},
		"every existing target governed by an older policy": {
			targets: []targetObservation{{name: "a", exists: true, winner: "old"}, {name: "b", winner: "self"}},
			want:    [3]string{"False/AllTargetsConflicted", "False/TargetNotFound", "True/Conflicted"},
		},
		"one of two conflicted": {
			targets: []targetObservation{{name: "a", exists: true, winner: "old"}, {name: "b", exists: true, winner: "self"}},
			want:    [3]string{"True/Accepted", "True/ResolvedRefs", "True/Conflicted"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := [3]metav1.Condition{
				acceptedCondition("self", tc.targets),
				resolvedRefsCondition("ns", tc.targets),
				conflictedCondition("self", tc.targets),
			}
			for i, c := range got {
				if s := string(c.Status) + "/" + c.Reason; s != tc.want[i] {
					t.Errorf("%s = %s, want %s (%s)", c.Type, s, tc.want[i], c.Message)
				}
			}
		})
	}
}
