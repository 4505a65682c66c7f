// Package proxyconfig is the versioned configuration schema of mosaic-proxy, the sidecar data
// plane: apiVersion proxy.llm.mosaic.dev/v1alpha1, kind ProxyConfig.
//
// The operator renders it from LLMProvider and RateLimitPolicy objects (same field meanings as the
// CRDs in api/v1alpha1); a developer can also write it by hand for local use. Parse and Load read
// YAML strictly (an unknown field is an error), apply defaults (SetDefaults, the only place where
// defaults live) and validate (Validate, whose errors name the field path, e.g.
// "providers[1].retry.maxAttempts: must be between 1 and 10").
//
// The package depends on nothing from k8s.io: the sidecar's binary size and memory matter.
//
// A minimal hand-written file:
//
//	apiVersion: proxy.llm.mosaic.dev/v1alpha1
//	kind: ProxyConfig
//	providers:
//	- name: openai
//	  type: OpenAI
//	  apiKey: {env: OPENAI_API_KEY}
//	  models: [{name: gpt-4o-mini}, {name: simple, target: gpt-4o-mini}]
package proxyconfig

import "github.com/mosaic-dev/mosaic/internal/provider"

// APIVersion is the only apiVersion this package reads.
const APIVersion = "proxy.llm.mosaic.dev/v1alpha1"

// Kind is the only kind this package reads.
const Kind = "ProxyConfig"

// Config is one complete mosaic-proxy configuration.
type Config struct {
	// APIVersion must be proxy.llm.mosaic.dev/v1alpha1.
	APIVersion string `json:"apiVersion"`
	// Kind must be ProxyConfig.
	Kind string `json:"kind"`
	// Server holds listener-wide settings.
	Server Server `json:"server"`
	// Providers are the upstream APIs, in routing order: a request goes to the first provider whose
	// models list names the request's model.
	Providers []Provider `json:"providers"`
	// RateLimits are request, token and concurrency budgets, each attached to one or more providers.
	// A provider named by several entries must pass all of them.
	RateLimits []RateLimit `json:"rateLimits,omitempty"`
	// EmbeddingsCache caches embeddings per input text.
	EmbeddingsCache EmbeddingsCache `json:"embeddingsCache"`
}

// Server holds listener-wide settings.
type Server struct {
	// MaxRequestBytes is the largest request body accepted; larger bodies get HTTP 413.
	// Default 4194304 (4 MiB).
	MaxRequestBytes int64 `json:"maxRequestBytes,omitempty"`
	// StreamIdleTimeout ends a streamed response when the upstream sends nothing for this long.
	// Default 60s.
	StreamIdleTimeout Duration `json:"streamIdleTimeout,omitempty"`
	// DefaultMaxTokens is the number of completion tokens a request reserves against token limits
	// when it sets neither max_tokens nor max_completion_tokens; the reservation is settled to the
	// real usage when the response ends. Default 1024.
	DefaultMaxTokens int64 `json:"defaultMaxTokens,omitempty"`
}

// ProviderType names the upstream API a provider speaks: the provider package's Type, whose
// values are the LLMProvider spec.type values (OpenAI, AzureOpenAI, Anthropic, Gemini,
// OpenAICompatible, Fake).
type ProviderType = provider.Type

// Provider is one upstream API and the policy applied to requests sent to it.
type Provider struct {
	// Name identifies the provider in fallback and rateLimits references, metrics and logs. Unique.
	Name string `json:"name"`
	// Type is the API the provider speaks.
	Type ProviderType `json:"type"`
	// Endpoint is the API base URL, e.g. https://api.openai.com/v1. Optional where the type has a
	// public default (OpenAI, Anthropic, Gemini); required for AzureOpenAI
	// (https://RESOURCE.openai.azure.com) and OpenAICompatible. It must use https, except for
	// OpenAICompatible servers and loopback hosts.
	Endpoint string `json:"endpoint,omitempty"`
	// Azure holds AzureOpenAI-only settings.
	Azure *Azure `json:"azure,omitempty"`
	// APIKey says where the provider's key is read from. Required except for OpenAICompatible
	// (keyless servers) and Fake.
	APIKey *KeySource `json:"apiKey,omitempty"`
	// Models are the model names requests may use with this provider; an entry with a target is an
	// alias rewritten to the target before the request goes upstream. At least one.
	Models []Model `json:"models"`
	// DefaultModel is the model used when a request names none (the first provider's) and when this
	// provider serves as another provider's fallback for a model it does not list. Must be one of
	// models[].name. Default: the first model.
	DefaultModel string `json:"defaultModel,omitempty"`
	// Timeout bounds one request end to end, retries included, until the response is committed to
	// the client (a streamed response is then bounded by server.streamIdleTimeout). Default 60s, as the LLMProvider CRD.
	Timeout Duration `json:"timeout,omitempty"`
	// Retry says when and how often a failed upstream call is retried.
	Retry Retry `json:"retry"`
	// Fallback answers when every attempt at this provider failed.
	Fallback *Fallback `json:"fallback,omitempty"`
	// Sanitization limits and redacts prompts before they leave the pod.
	Sanitization *Sanitization `json:"sanitization,omitempty"`
}

// Azure holds AzureOpenAI-only settings.
type Azure struct {
	// APIVersion is the api-version query parameter of every request. Default "2024-10-21".
	APIVersion string `json:"apiVersion,omitempty"`
}

// KeySource says where an API key is read from: exactly one of File or Env.
type KeySource struct {
	// File is a file holding the key (a mounted Secret key); surrounding white space is ignored.
	// It is re-read when it changes, Kubernetes' ..data symlink swap included.
	File string `json:"file,omitempty"`
	// Env is an environment variable holding the key. A .env file in the working directory (or the
	// one given by --env-file) is read too; the real environment wins over it.
	Env string `json:"env,omitempty"`
}

// Model is one model name a provider serves, or an alias for one.
type Model struct {
	// Name is what applications put in the request's model field.
	Name string `json:"name"`
	// Target makes Name an alias: requests for Name go upstream as Target.
	Target string `json:"target,omitempty"`
}

// RetryCondition is a kind of upstream failure that may be retried.
type RetryCondition string

// The retryable failure kinds.
const (
	// RetryOnRateLimited retries HTTP 429 (never 429 insufficient_quota, which retrying cannot fix).
	RetryOnRateLimited RetryCondition = "RateLimited"
	// RetryOnServerError retries HTTP 500, 502, 503, 504 and 529.
	RetryOnServerError RetryCondition = "ServerError"
	// RetryOnConnectError retries failures before any response arrived (refused, reset, DNS, TLS).
	RetryOnConnectError RetryCondition = "ConnectError"
	// RetryOnTimeout retries an attempt that exceeded perTryTimeout.
	RetryOnTimeout RetryCondition = "Timeout"
)

// Retry bounds retries so they never amplify an outage.
type Retry struct {
	// MaxAttempts is the number of upstream attempts, the first included; 1 disables retries.
	// 1 to 10, default 3.
	MaxAttempts int `json:"maxAttempts,omitempty"`
	// Backoff is the full-jitter exponential backoff between attempts.
	Backoff Backoff `json:"backoff"`
	// RetryOn lists the failures that are retried. Default: all of them.
	RetryOn []RetryCondition `json:"retryOn,omitempty"`
	// RespectRetryAfter waits as long as the upstream's Retry-After (or retry-after-ms) header asks,
	// up to MaxRetryAfter, instead of the backoff. Default true.
	RespectRetryAfter *bool `json:"respectRetryAfter,omitempty"`
	// MaxRetryAfter caps the wait a Retry-After header can impose: a longer one is not retried (the
	// request goes to the fallback, or the 429 to the client). Default 30s.
	MaxRetryAfter Duration `json:"maxRetryAfter,omitempty"`
	// PerTryTimeout bounds one attempt until its response headers arrive; 0 (default) means only the
	// overall timeout applies.
	PerTryTimeout Duration `json:"perTryTimeout,omitempty"`
	// BudgetPercent caps retries at this share of the requests of the last 10 seconds (but always
	// allows 10 retries per 10 seconds, so a quiet sidecar still retries), so a busy, failing
	// upstream sees at most (1 + budgetPercent/100) times the normal load. 0 to 100, default 20.
	BudgetPercent *int `json:"budgetPercent,omitempty"`
}

// Backoff is a full-jitter exponential backoff: retry n waits a random time in
// [0, min(max, initial*2^(n-1))].
type Backoff struct {
	// Initial is the base delay. Default 500ms.
	Initial Duration `json:"initial,omitempty"`
	// Max caps one delay. Default 10s.
	Max Duration `json:"max,omitempty"`
}

// Fallback answers requests a provider could not: exactly one of Provider or StaticResponse.
type Fallback struct {
	// Provider names another provider to try next (its own fallback is followed in turn). The
	// request keeps its model when that provider lists it, and uses its defaultModel otherwise.
	Provider string `json:"provider,omitempty"`
	// StaticResponse is returned as a valid chat.completion (streamed when the request streams),
	// with header x-mosaic-fallback: static. Only chat completions fall back to it.
	StaticResponse *StaticResponse `json:"staticResponse,omitempty"`
}

// StaticResponse is a canned answer.
type StaticResponse struct {
	// Content is the assistant message's text.
	Content string `json:"content"`
}

// Detector is a built-in sensitive-data detector.
type Detector string

// The built-in detectors.
const (
	// DetectorCreditCard finds 13-19 digit card numbers (spaces or dashes allowed), Luhn-checked.
	DetectorCreditCard Detector = "CreditCard"
	// DetectorUSSSN finds US social security numbers.
	DetectorUSSSN Detector = "USSSN"
	// DetectorEmail finds e-mail addresses.
	DetectorEmail Detector = "Email"
	// DetectorPhoneNumber finds North American and E.164 phone numbers.
	DetectorPhoneNumber Detector = "PhoneNumber"
	// DetectorSecretKey finds sk-... API keys, AWS access key IDs and bearer tokens.
	DetectorSecretKey Detector = "SecretKey"
)

// SanitizeAction is what happens to a request in which a detector or pattern matched.
type SanitizeAction string

// The sanitization actions.
const (
	// ActionRedact replaces each match with a tag such as [CREDIT_CARD] and sends the request on.
	ActionRedact SanitizeAction = "Redact"
	// ActionBlock refuses the request with HTTP 400 naming the detector, never the matched text.
	ActionBlock SanitizeAction = "Block"
)

// Sanitization limits prompt size and removes sensitive data from every text field of a request.
type Sanitization struct {
	// MaxPromptChars refuses (HTTP 400) requests whose text fields hold more characters; 0 = no limit.
	MaxPromptChars int `json:"maxPromptChars,omitempty"`
	// MaxPromptTokens refuses requests whose estimated prompt tokens exceed this; 0 = no limit.
	MaxPromptTokens int `json:"maxPromptTokens,omitempty"`
	// Detectors are the built-in detectors to run.
	Detectors []Detector `json:"detectors,omitempty"`
	// Patterns are additional RE2 regular expressions.
	Patterns []SanitizePattern `json:"patterns,omitempty"`
	// Action applies to detector matches and to patterns that set none. Default Redact.
	Action SanitizeAction `json:"action,omitempty"`
	// ScanResponses also redacts completions (streamed ones included) on their way back.
	ScanResponses bool `json:"scanResponses,omitempty"`
}

// SanitizePattern is a user-defined detector.
type SanitizePattern struct {
	// Name identifies the pattern in metrics and in its redaction tag ([NAME]). Unique.
	Name string `json:"name"`
	// Regex is an RE2 regular expression.
	Regex string `json:"regex"`
	// Action overrides the sanitization's action for this pattern.
	Action SanitizeAction `json:"action,omitempty"`
}

// RateLimitScope says where a limit is counted.
type RateLimitScope string

// The rate limit scopes.
const (
	// ScopePod counts in this sidecar alone.
	ScopePod RateLimitScope = "Pod"
	// ScopeGlobal counts across sidecars in Redis (not supported by this version).
	ScopeGlobal RateLimitScope = "Global"
)

// LimitAction is what happens to a request over a limit.
type LimitAction string

// The limit actions.
const (
	// LimitReject answers HTTP 429 with an accurate Retry-After.
	LimitReject LimitAction = "Reject"
	// LimitQueue holds the request up to maxWait for capacity, then answers 429.
	LimitQueue LimitAction = "Queue"
)

// RateLimit is one set of budgets attached to providers. Zero means unlimited; at least one limit
// is set.
type RateLimit struct {
	// Name identifies the limit in metrics and logs; the operator uses the RateLimitPolicy's
	// namespace/name. Unique.
	Name string `json:"name"`
	// Providers are the names of the providers the limits apply to. At least one.
	Providers []string `json:"providers"`
	// RequestsPerMinute is a token bucket refilled evenly over the minute, bursting to the minute.
	RequestsPerMinute int64 `json:"requestsPerMinute,omitempty"`
	// TokensPerMinute counts prompt and completion tokens: a request reserves its estimated prompt
	// tokens plus max_tokens (or server.defaultMaxTokens) and settles to the real usage.
	TokensPerMinute int64 `json:"tokensPerMinute,omitempty"`
	// TokensPerDay is a daily token budget, counted like TokensPerMinute.
	TokensPerDay int64 `json:"tokensPerDay,omitempty"`
	// MaxConcurrentRequests bounds requests in flight at once.
	MaxConcurrentRequests int64 `json:"maxConcurrentRequests,omitempty"`
	// Scope is where the limits are counted. Only Pod (the default) is supported for now.
	Scope RateLimitScope `json:"scope,omitempty"`
	// OnLimit is what happens to a request over a limit.
	OnLimit OnLimit `json:"onLimit"`
}

// OnLimit is what happens to a request over a limit.
type OnLimit struct {
	// Action is Reject (default) or Queue.
	Action LimitAction `json:"action,omitempty"`
	// MaxWait is the longest a queued request waits; required (> 0) with Queue.
	MaxWait Duration `json:"maxWait,omitempty"`
}

// EmbeddingsCache caches embeddings per input text, keyed by provider, upstream model, dimensions,
// encoding format and a SHA-256 of the text.
type EmbeddingsCache struct {
	// MaxEntries is the number of cached embeddings; 0 disables the cache. Default 10000.
	MaxEntries *int `json:"maxEntries,omitempty"`
	// MaxBytes bounds the memory the cached vectors use (least recently used entries are evicted
	// first). Default 16777216 (16 MiB).
	MaxBytes int64 `json:"maxBytes,omitempty"`
	// TTL is how long an entry stays valid. Default 1h.
	TTL Duration `json:"ttl,omitempty"`
}
