package v1alpha1

// LLMProvider condition types.
const (
	// ConditionCredentialsResolved is True when the referenced Secret and key exist (or no key is needed).
	ConditionCredentialsResolved = "CredentialsResolved"
	// ConditionHealthy is True when the last health probe succeeded. A probe runs at most once per
	// spec.healthCheck.interval, and again at once when the spec or the API key changes.
	ConditionHealthy = "Healthy"
	// ConditionReady summarises CredentialsResolved and Healthy: True when the provider can serve requests.
	ConditionReady = "Ready"
)

// RateLimitPolicy condition types.
const (
	// ConditionAccepted is True when the policy is valid and in force for at least one target.
	ConditionAccepted = "Accepted"
	// ConditionResolvedRefs is True when every targetRef names an existing LLMProvider.
	ConditionResolvedRefs = "ResolvedRefs"
	// ConditionConflicted is True when an older policy already targets one of this policy's targets.
	ConditionConflicted = "Conflicted"
	// ConditionEnforced is True when the policy's limits are rendered into at least one mosaic-proxy
	// configuration (ConfigMap) that an injected pod uses. Pods read an updated ConfigMap after the
	// kubelet's sync delay (up to about a minute), so True means "delivered", not "applied in every pod".
	ConditionEnforced = "Enforced"
)

// Condition reasons. Each is CamelCase, stable, and documented here so people can alert on them.
const (
	// ReasonSecretResolved: the API key Secret and key exist.
	ReasonSecretResolved = "SecretResolved"
	// ReasonNoCredentialsNeeded: the provider type or configuration takes no key.
	ReasonNoCredentialsNeeded = "NoCredentialsNeeded"
	// ReasonSecretNotFound: the Secret named by spec.apiKeySecretRef does not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonKeyMissingInSecret: the Secret exists but has no (or an empty) spec.apiKeySecretRef.key.
	ReasonKeyMissingInSecret = "KeyMissingInSecret"
	// ReasonProviderTypeUnsupported: no adapter is registered for spec.type.
	ReasonProviderTypeUnsupported = "ProviderTypeUnsupported"

	// ReasonProbeSucceeded: the health probe got an authenticated answer.
	ReasonProbeSucceeded = "ProbeSucceeded"
	// ReasonProbeDisabled: spec.healthCheck.disabled is set.
	ReasonProbeDisabled = "ProbeDisabled"
	// ReasonInvalidCredentials: the provider refused the key (HTTP 401 or 403).
	ReasonInvalidCredentials = "InvalidCredentials"
	// ReasonQuotaExhausted: the account has no quota or credit left (e.g. 429 insufficient_quota).
	ReasonQuotaExhausted = "QuotaExhausted"
	// ReasonRateLimited: the provider answered 429 for the probe.
	ReasonRateLimited = "RateLimited"
	// ReasonUnreachable: no HTTP answer (connection refused, DNS, TLS, timeout).
	ReasonUnreachable = "Unreachable"
	// ReasonUpstreamError: the provider answered with a server error or an unexpected status.
	ReasonUpstreamError = "UpstreamError"
	// ReasonCredentialsUnresolved: Healthy is Unknown because no probe could run without credentials.
	ReasonCredentialsUnresolved = "CredentialsUnresolved"

	// ReasonReady: every condition Ready summarises is True.
	ReasonReady = "Ready"

	// ReasonAccepted: the policy is valid and in force for at least one target.
	ReasonAccepted = "Accepted"
	// ReasonAllTargetsConflicted: every target is governed by an older policy.
	ReasonAllTargetsConflicted = "AllTargetsConflicted"
	// ReasonNoTargetsResolved: no targetRef names an existing LLMProvider.
	ReasonNoTargetsResolved = "NoTargetsResolved"
	// ReasonResolvedRefs: every targetRef names an existing LLMProvider.
	ReasonResolvedRefs = "ResolvedRefs"
	// ReasonTargetNotFound: at least one targetRef names no existing LLMProvider.
	ReasonTargetNotFound = "TargetNotFound"
	// ReasonConflicted: an older policy targets at least one of this policy's targets.
	ReasonConflicted = "Conflicted"
	// ReasonNoConflict: no other policy targets this policy's targets before it.
	ReasonNoConflict = "NoConflict"

	// ReasonEnforced: the limits are rendered into at least one proxy configuration that a pod uses.
	ReasonEnforced = "Enforced"
	// ReasonNotInUse: no proxy configuration in use carries the limits: no running injected pod uses
	// an LLMProvider this policy governs (or the policy governs none, see Accepted).
	ReasonNotInUse = "NotInUse"
	// ReasonScopeNotEnforced: spec.scope is Global, which this mosaic-proxy version does not enforce,
	// so the renderer leaves the limits out of every configuration.
	ReasonScopeNotEnforced = "ScopeNotEnforced"
)
