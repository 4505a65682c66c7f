package renderer

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/proxyconfig"
)

// PolicyPrecedes reports whether RateLimitPolicy a takes precedence over b when both target one
// LLMProvider, following Gateway API policy attachment: the older creationTimestamp wins, then the
// first by namespace/name.
func PolicyPrecedes(a, b *v1alpha1.RateLimitPolicy) bool {
	ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
}

// PolicyWinners returns, for every LLMProvider name targeted by a RateLimitPolicy of namespace, the
// policy whose limits apply to it (see PolicyPrecedes). Policies of other namespaces, policies being
// deleted (the RateLimitPolicy reconciler ignores them too, so status and configuration agree) and
// targetRefs of other kinds are ignored.
func PolicyWinners(namespace string, policies []v1alpha1.RateLimitPolicy) map[string]*v1alpha1.RateLimitPolicy {
	winners := map[string]*v1alpha1.RateLimitPolicy{}
	for i := range policies {
		p := &policies[i]
		if (namespace != "" && p.Namespace != "" && p.Namespace != namespace) || !p.DeletionTimestamp.IsZero() {
			continue
		}
		for _, ref := range p.Spec.TargetRefs {
			if !TargetsProvider(ref) {
				continue
			}
			if cur, ok := winners[ref.Name]; !ok || PolicyPrecedes(p, cur) {
				winners[ref.Name] = p
			}
		}
	}
	return winners
}

// TargetsProvider reports whether a targetRef names an LLMProvider (the only kind the API admits
// today).
func TargetsProvider(ref v1alpha1.PolicyTargetRef) bool {
	return ref.Kind == "LLMProvider" && (ref.Group == "" || ref.Group == v1alpha1.GroupVersion.Group)
}

// RateLimitName is the proxy's name for a RateLimitPolicy's limits: "namespace/name".
func RateLimitName(p *v1alpha1.RateLimitPolicy) string {
	return p.Namespace + "/" + p.Name
}

// renderRateLimits renders one rate limit per winning policy, attached to the providers in the
// configuration that it wins. Global-scope policies are left out with a warning.
func renderRateLimits(namespace string, policies []v1alpha1.RateLimitPolicy, included map[string]bool) ([]proxyconfig.RateLimit, []string) {
	won := map[*v1alpha1.RateLimitPolicy][]string{}
	for provider, p := range PolicyWinners(namespace, policies) {
		if included[provider] {
			won[p] = append(won[p], provider)
		}
	}
	var out []proxyconfig.RateLimit
	var warnings []string
	for p, providers := range won {
		slices.Sort(providers)
		if p.Spec.Scope == v1alpha1.ScopeGlobal {
			warnings = append(warnings, fmt.Sprintf("RateLimitPolicy %q: scope Global is not enforced by this mosaic-proxy version; its limits are not applied to LLMProvider %s", p.Name, quoteJoin(providers)))
			continue
		}
		l := p.Spec.Limits
		rl := proxyconfig.RateLimit{
			Name:      RateLimitName(p),
			Providers: providers,
			Scope:     proxyconfig.ScopePod,
		}
		if l.RequestsPerMinute != nil {
			rl.RequestsPerMinute = *l.RequestsPerMinute
		}
		if l.TokensPerMinute != nil {
			rl.TokensPerMinute = *l.TokensPerMinute
		}
		if l.TokensPerDay != nil {
			rl.TokensPerDay = *l.TokensPerDay
		}
		if l.MaxConcurrentRequests != nil {
			rl.MaxConcurrentRequests = int64(*l.MaxConcurrentRequests)
		}
		if o := p.Spec.OnLimit; o != nil {
			rl.OnLimit = proxyconfig.OnLimit{Action: proxyconfig.LimitAction(o.Action), MaxWait: duration(o.MaxWait)}
		}
		out = append(out, rl)
	}
	slices.SortFunc(out, func(a, b proxyconfig.RateLimit) int { return strings.Compare(a.Name, b.Name) })
	slices.Sort(warnings)
	return out, warnings
}

func quoteJoin(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
