// Package controller holds the operator's reconcilers.
//
// LLMProviderReconciler resolves each LLMProvider's API key Secret, probes the provider through its
// adapter from internal/provider (a model listing, never a paid completion), and publishes
// CredentialsResolved, Healthy and Ready conditions, the probe's latency, the listed models and the
// provider-reported quota in status and as metrics (internal/metrics). Secrets are watched through a
// field index, so rotating or deleting a key re-reconciles its providers within seconds.
//
// RateLimitPolicyReconciler resolves each RateLimitPolicy's targetRefs and applies Gateway API
// policy-attachment precedence between policies that target the same LLMProvider: the oldest
// policy wins (then the first by name) and the others are marked Conflicted for that target.
//
// ProxyConfigReconciler delivers mosaic-proxy configurations: one ConfigMap per distinct set of
// LLMProviders that injected pods of a namespace request, rendered by internal/renderer, rewritten
// when an input CR changes and deleted (after a grace period) when no pod uses it. The other two
// reconcilers read those ConfigMaps through field indexes to publish LLMProvider status.configs and
// the RateLimitPolicy Enforced condition, so each object's status has a single writer.
//
// All follow one shape: get the object, run small phases that observe, compute every condition
// from what this reconcile observed through pure functions, and write status once, only when it
// changed.
package controller
