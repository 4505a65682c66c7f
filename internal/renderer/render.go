// Package renderer is the one place that turns Mosaic's API objects into what runs in a pod: the
// mosaic-proxy configuration (a proxyconfig.Config rendered from LLMProviders and
// RateLimitPolicies), the name of the ConfigMap that carries it, and the native sidecar container
// and volumes that the pod webhook injects. The reconciler that writes ConfigMaps and the webhook
// that mutates Pods both call it, so they can never disagree.
//
// Render is a pure function: the same Input gives byte-identical output from proxyconfig.Marshal,
// whatever the order of the objects in it. It never copies an API key: a provider's key becomes
// apiKey.file, the path at which the pod's projected Secret volume holds that one Secret key
// (SecretKeyPath).
package renderer

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/proxyconfig"
)

// DefaultProviderTimeout is the LLMProvider spec.timeout default (the CRD's), used when an object
// that did not pass through the API server's defaulting leaves it unset.
const DefaultProviderTimeout = 60 * time.Second

// ErrProviderNotFound is returned (wrapped) when the pod names an LLMProvider that Input lacks.
var ErrProviderNotFound = errors.New("LLMProvider not found")

// ErrFallbackCycle is returned (wrapped) when fallback providerRefs loop.
var ErrFallbackCycle = errors.New("fallback chain loops")

// Input is everything a pod's proxy configuration depends on. All objects are in one namespace.
type Input struct {
	// Namespace is the pod's namespace; objects from other namespaces are ignored.
	Namespace string
	// ProviderNames are the LLMProviders the pod asked for (its llm.mosaic.dev/providers
	// annotation). Their order does not matter; duplicates are ignored.
	ProviderNames []string
	// Providers are LLMProviders of Namespace: at least those named and every provider their
	// fallback chains reach. Others are ignored, so a caller may pass the namespace's whole list.
	Providers []v1alpha1.LLMProvider
	// Policies are the RateLimitPolicies of Namespace. Render resolves conflicts itself with Gateway
	// API policy-attachment precedence (the oldest policy wins a provider, then the first by name),
	// so a caller may pass every policy or only those already resolved.
	Policies []v1alpha1.RateLimitPolicy
	// Secrets are the Secrets the providers reference, as observed. They only produce warnings (a
	// missing Secret or key leaves the pod waiting for its volume): the rendered configuration
	// names key files, never keys or versions, so rotating a key changes no ConfigMap and the proxy
	// picks up the new key file itself.
	Secrets []SecretVersion
}

// SecretVersion is what the renderer needs to know about a referenced Secret.
type SecretVersion struct {
	// Name of the Secret.
	Name string
	// ResourceVersion observed; informational.
	ResourceVersion string
	// Keys are the keys of the Secret's data (never the values).
	Keys []string
}

// Result is a rendered configuration and what the pod needs to run it.
type Result struct {
	// Config is the defaulted, validated proxy configuration.
	Config *proxyconfig.Config
	// SecretKeys are the Secret keys Config reads, sorted by Secret then key and without
	// duplicates: exactly what the pod's projected Secret volume holds.
	SecretKeys []v1alpha1.SecretKeyRef
	// Warnings are problems that do not stop the configuration from working, each a sentence
	// naming the object concerned, in a stable order.
	Warnings []string
}

// Render renders the proxy configuration for the providers a pod asked for. See RenderDetailed.
func Render(in Input) (*proxyconfig.Config, error) {
	r, err := RenderDetailed(in)
	if err != nil {
		return nil, err
	}
	return r.Config, nil
}

// RenderDetailed renders the proxy configuration for the providers a pod asked for, with the
// Secret keys it reads and warnings.
//
// Providers are listed with the requested ones first, sorted by name, then the ones only reached as
// fallbacks, sorted by name; the proxy routes a model to the first provider listing it, so when two
// requested providers serve one model the first by name gets it (and a warning says so). A fallback
// to a missing LLMProvider is left out with a warning, a fallback cycle is an error, and so is a
// requested provider that does not exist. Rate limits come from the policy that wins each provider;
// Global-scope policies are left out with a warning (this mosaic-proxy counts per pod only).
// Errors from the proxy's own validation are reported against the LLMProvider's spec fields.
func RenderDetailed(in Input) (*Result, error) {
	byName := map[string]*v1alpha1.LLMProvider{}
	for i := range in.Providers {
		p := &in.Providers[i]
		if p.Namespace != "" && in.Namespace != "" && p.Namespace != in.Namespace {
			continue
		}
		if _, dup := byName[p.Name]; dup {
			return nil, fmt.Errorf("LLMProvider %q is listed twice in the renderer's input", p.Name)
		}
		byName[p.Name] = p
	}

	requested := NormalizeProviderNames(in.ProviderNames)
	if len(requested) == 0 {
		return nil, errors.New("no LLMProvider requested")
	}
	var warnings []string
	for _, name := range requested {
		if byName[name] == nil {
			return nil, &ProviderNotFoundError{Namespace: in.Namespace, Name: name}
		}
	}

	// Walk the fallback chains from every requested provider.
	included := map[string]bool{}
	for _, name := range requested {
		included[name] = true
	}
	var fallbackOnly []string
	droppedFallback := map[string]bool{}
	for _, start := range requested {
		chain := []string{start}
		seen := map[string]bool{start: true}
		for cur := byName[start]; ; {
			ref := FallbackProviderName(cur)
			if ref == "" {
				break
			}
			next := byName[ref]
			if next == nil {
				if !droppedFallback[cur.Name] {
					droppedFallback[cur.Name] = true
					warnings = append(warnings, fmt.Sprintf("LLMProvider %q: spec.fallback.providerRef names LLMProvider %q, which does not exist; requests fail without that fallback until it is created", cur.Name, ref))
				}
				break
			}
			chain = append(chain, ref)
			if seen[ref] {
				return nil, fmt.Errorf("LLMProvider %q: spec.fallback.providerRef: %w: %s", cur.Name, ErrFallbackCycle, strings.Join(chain, " -> "))
			}
			seen[ref] = true
			if !included[ref] {
				included[ref] = true
				fallbackOnly = append(fallbackOnly, ref)
			}
			cur = next
		}
	}
	slices.Sort(fallbackOnly)
	order := append(slices.Clone(requested), fallbackOnly...)

	cfg := &proxyconfig.Config{APIVersion: proxyconfig.APIVersion, Kind: proxyconfig.Kind}
	var keys []v1alpha1.SecretKeyRef
	for _, name := range order {
		p := byName[name]
		cp := renderProvider(p)
		if droppedFallback[name] {
			cp.Fallback = nil
		}
		cfg.Providers = append(cfg.Providers, cp)
		if ref := p.Spec.APIKeySecretRef; ref != nil {
			keys = append(keys, *ref)
		}
	}
	keys = sortSecretKeys(keys)
	warnings = append(warnings, secretWarnings(keys, in.Secrets)...)
	warnings = append(warnings, sharedModelWarnings(cfg.Providers[:len(requested)])...)

	limits, limitWarnings := renderRateLimits(in.Namespace, in.Policies, included)
	cfg.RateLimits = limits
	warnings = append(warnings, limitWarnings...)

	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, describeValidation(err, cfg, in.Namespace)
	}
	return &Result{Config: cfg, SecretKeys: keys, Warnings: warnings}, nil
}

// NormalizeProviderNames returns names trimmed, without empty entries or duplicates, sorted.
func NormalizeProviderNames(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// FallbackProviderName is the LLMProvider that p falls back to (spec.fallback.providerRef.name), or
// "" when it names none.
func FallbackProviderName(p *v1alpha1.LLMProvider) string {
	if f := p.Spec.Fallback; f != nil && f.ProviderRef != nil {
		return f.ProviderRef.Name
	}
	return ""
}

func renderProvider(p *v1alpha1.LLMProvider) proxyconfig.Provider {
	s := &p.Spec
	out := proxyconfig.Provider{
		Name:         p.Name,
		Type:         proxyconfig.ProviderType(s.Type),
		Endpoint:     s.Endpoint,
		DefaultModel: s.DefaultModel,
		Timeout:      proxyconfig.Duration(DefaultProviderTimeout),
	}
	if s.Type == v1alpha1.ProviderAzureOpenAI {
		out.Azure = &proxyconfig.Azure{}
		if s.Azure != nil {
			out.Azure.APIVersion = s.Azure.APIVersion
		}
	}
	if ref := s.APIKeySecretRef; ref != nil {
		out.APIKey = &proxyconfig.KeySource{File: SecretKeyPath(ref.Name, ref.Key)}
	}
	for _, m := range s.Models {
		out.Models = append(out.Models, proxyconfig.Model{Name: m.Name, Target: m.Target})
	}
	if s.Timeout != nil {
		out.Timeout = proxyconfig.Duration(s.Timeout.Duration)
	}
	if r := s.Retry; r != nil {
		out.Retry = proxyconfig.Retry{
			MaxAttempts:       int(r.MaxAttempts),
			RespectRetryAfter: cloneBool(r.RespectRetryAfter),
			MaxRetryAfter:     duration(r.MaxRetryAfter),
			PerTryTimeout:     duration(r.PerTryTimeout),
		}
		if b := r.Backoff; b != nil {
			out.Retry.Backoff = proxyconfig.Backoff{Initial: duration(b.Initial), Max: duration(b.Max)}
		}
		for _, c := range r.RetryOn {
			out.Retry.RetryOn = append(out.Retry.RetryOn, proxyconfig.RetryCondition(c))
		}
		if r.BudgetPercent != nil {
			b := int(*r.BudgetPercent)
			out.Retry.BudgetPercent = &b
		}
	}
	if f := s.Fallback; f != nil {
		switch {
		case f.ProviderRef != nil:
			out.Fallback = &proxyconfig.Fallback{Provider: f.ProviderRef.Name}
		case f.StaticResponse != nil:
			out.Fallback = &proxyconfig.Fallback{StaticResponse: &proxyconfig.StaticResponse{Content: f.StaticResponse.Content}}
		}
	}
	if z := s.Sanitization; z != nil {
		ps := &proxyconfig.Sanitization{
			Action:        proxyconfig.SanitizeAction(z.Action),
			ScanResponses: z.ScanResponses,
		}
		if z.MaxPromptChars != nil {
			ps.MaxPromptChars = int(*z.MaxPromptChars)
		}
		if z.MaxPromptTokens != nil {
			ps.MaxPromptTokens = int(*z.MaxPromptTokens)
		}
		for _, d := range z.Detectors {
			ps.Detectors = append(ps.Detectors, proxyconfig.Detector(d))
		}
		for _, pat := range z.Patterns {
			ps.Patterns = append(ps.Patterns, proxyconfig.SanitizePattern{Name: pat.Name, Regex: pat.Regex, Action: proxyconfig.SanitizeAction(pat.Action)})
		}
		out.Sanitization = ps
	}
	return out
}

func sortSecretKeys(keys []v1alpha1.SecretKeyRef) []v1alpha1.SecretKeyRef {
	slices.SortFunc(keys, func(a, b v1alpha1.SecretKeyRef) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Key, b.Key))
	})
	return slices.Compact(keys)
}

func secretWarnings(keys []v1alpha1.SecretKeyRef, secrets []SecretVersion) []string {
	observed := map[string]map[string]bool{}
	for _, s := range secrets {
		set := map[string]bool{}
		for _, k := range s.Keys {
			set[k] = true
		}
		observed[s.Name] = set
	}
	var out []string
	for _, k := range keys {
		set, ok := observed[k.Name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("Secret %q does not exist; the pod waits for it before mosaic-proxy starts", k.Name))
		case !set[k.Key]:
			out = append(out, fmt.Sprintf("Secret %q has no key %q; the pod waits for it before mosaic-proxy starts", k.Name, k.Key))
		}
	}
	return slices.Compact(out)
}

// sharedModelWarnings reports model names listed by more than one requested provider: the proxy
// routes them to the first (by name).
func sharedModelWarnings(providers []proxyconfig.Provider) []string {
	first := map[string]string{}
	var out []string
	for _, p := range providers {
		for _, m := range p.Models {
			if owner, ok := first[m.Name]; ok {
				out = append(out, fmt.Sprintf("model %q is served by LLMProviders %q and %q; requests for it go to %q", m.Name, owner, p.Name, owner))
				continue
			}
			first[m.Name] = p.Name
		}
	}
	return out
}

func duration(d *metav1.Duration) proxyconfig.Duration {
	if d == nil {
		return 0
	}
	return proxyconfig.Duration(d.Duration)
}

func cloneBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}
