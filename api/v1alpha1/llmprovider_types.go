package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ProviderType names the upstream API an LLMProvider speaks.
// +kubebuilder:validation:Enum=OpenAI;AzureOpenAI;Anthropic;Gemini;OpenAICompatible;Fake
type ProviderType string

// The provider types Mosaic supports.
const (
	// ProviderOpenAI is api.openai.com.
	ProviderOpenAI ProviderType = "OpenAI"
	// ProviderAzureOpenAI is an Azure OpenAI resource; models name deployments.
	ProviderAzureOpenAI ProviderType = "AzureOpenAI"
	// ProviderAnthropic is api.anthropic.com.
	ProviderAnthropic ProviderType = "Anthropic"
	// ProviderGemini is the Google Gemini API (generativelanguage.googleapis.com).
	ProviderGemini ProviderType = "Gemini"
	// ProviderOpenAICompatible is any server speaking the OpenAI API (vLLM, Ollama, text-embeddings-inference).
	ProviderOpenAICompatible ProviderType = "OpenAICompatible"
	// ProviderFake answers in-process with deterministic OpenAI-shaped responses; for demos and tests.
	ProviderFake ProviderType = "Fake"
)

// LLMProviderSpec is one upstream LLM API and the policy Mosaic applies to requests sent to it.
// +kubebuilder:validation:XValidation:rule="has(self.endpoint) || !(self.type in ['AzureOpenAI', 'OpenAICompatible'])",message="spec.endpoint is required when spec.type is AzureOpenAI or OpenAICompatible"
// +kubebuilder:validation:XValidation:rule="!has(self.endpoint) || self.type == 'OpenAICompatible' || self.endpoint.startsWith('https://')",message="spec.endpoint must use https:// unless spec.type is OpenAICompatible"
// +kubebuilder:validation:XValidation:rule="has(self.apiKeySecretRef) || self.type in ['OpenAICompatible', 'Fake']",message="spec.apiKeySecretRef is required unless spec.type is OpenAICompatible or Fake"
// +kubebuilder:validation:XValidation:rule="!has(self.defaultModel) || self.models.exists(m, m.name == self.defaultModel)",message="spec.defaultModel must be one of spec.models[].name"
// +kubebuilder:validation:XValidation:rule="!has(self.azure) || self.type == 'AzureOpenAI'",message="spec.azure is only valid when spec.type is AzureOpenAI"
type LLMProviderSpec struct {
	// type is the API this provider speaks.
	// +required
	Type ProviderType `json:"type"`

	// endpoint is the API base URL, e.g. https://api.openai.com/v1. It defaults to the public endpoint for
	// OpenAI, Anthropic and Gemini, and is required for AzureOpenAI (https://<resource>.openai.azure.com)
	// and OpenAICompatible (e.g. http://vllm.models.svc:8000/v1). It must use https unless type is
	// OpenAICompatible.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="spec.endpoint must be an absolute http or https URL"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[^:/?#]+://[^/?#]*@') && !self.contains('?') && !self.contains('#')",message="spec.endpoint must not carry credentials, a query or a fragment: the API key comes from spec.apiKeySecretRef"
	Endpoint string `json:"endpoint,omitempty"`

	// azure holds settings only AzureOpenAI uses.
	// +optional
	Azure *AzureSettings `json:"azure,omitempty"`

	// apiKeySecretRef names the key of a Secret in this namespace that holds the API key. Required
	// except for OpenAICompatible servers that need no key and the Fake type. The key never leaves
	// the Secret except into the sidecar's memory and the upstream request.
	// +optional
	APIKeySecretRef *SecretKeyRef `json:"apiKeySecretRef,omitempty"`

	// models are the model names this provider serves. An entry with a target is an alias: requests
	// for name are sent upstream as target (e.g. name "simple", target "gpt-4o-mini").
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.all(m, !has(m.target) || !self.exists(o, o.name == m.target && has(o.target)))",message="spec.models: an alias target must not itself be an alias"
	Models []Model `json:"models"`

	// defaultModel is the model used when a request names none, and when this provider answers as
	// another provider's fallback for a model it does not list. It must be one of models[].name.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	DefaultModel string `json:"defaultModel,omitempty"`

	// timeout bounds one request end to end, retries included.
	// +optional
	// +kubebuilder:default="60s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('1h')",message="spec.timeout must be between 1s and 1h"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// retry says when and how often a failed upstream call is retried.
	// +optional
	Retry *RetryPolicy `json:"retry,omitempty"`

	// fallback answers when this provider cannot: another provider, or a static response.
	// +optional
	Fallback *Fallback `json:"fallback,omitempty"`

	// sanitization limits and redacts prompts before they leave the pod.
	// +optional
	Sanitization *Sanitization `json:"sanitization,omitempty"`

	// healthCheck configures the operator's periodic probe (a model listing, never a paid completion).
	// +optional
	HealthCheck *HealthCheck `json:"healthCheck,omitempty"`
}

// AzureSettings are AzureOpenAI-only settings.
type AzureSettings struct {
	// apiVersion is the api-version query parameter sent with every request.
	// +optional
	// +kubebuilder:default="2024-10-21"
	// +kubebuilder:validation:Pattern=`^\d{4}-\d{2}-\d{2}(-preview)?$`
	APIVersion string `json:"apiVersion,omitempty"`
}

// SecretKeyRef selects one key of a Secret in the referencing object's namespace.
type SecretKeyRef struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// key within the Secret's data: letters, digits, '-', '_' and '.', not "." or "..", and not
	// starting with ".." (a Secret admits no other key, and the sidecar reads it as a file).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +kubebuilder:validation:XValidation:rule="self != '.' && !self.startsWith('..')",message="key must not be '.' or '..' nor start with '..'"
	Key string `json:"key"`
}

// Model is one model name a provider serves, or an alias for one.
type Model struct {
	// name is what applications put in the request's model field.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][-A-Za-z0-9_.:/@]*$`
	Name string `json:"name"`

	// target makes name an alias: requests for name go upstream as target.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][-A-Za-z0-9_.:/@]*$`
	Target string `json:"target,omitempty"`
}

// RetryCondition is a kind of upstream failure that may be retried.
// +kubebuilder:validation:Enum=RateLimited;ServerError;ConnectError;Timeout
type RetryCondition string

// The retryable failure kinds.
const (
	// RetryOnRateLimited retries HTTP 429 (never 429 insufficient_quota, which retrying cannot fix).
	RetryOnRateLimited RetryCondition = "RateLimited"
	// RetryOnServerError retries HTTP 500, 502, 503, 504 and 529.
	RetryOnServerError RetryCondition = "ServerError"
	// RetryOnConnectError retries failures to connect (refused, reset before response, DNS, TLS).
	RetryOnConnectError RetryCondition = "ConnectError"
	// RetryOnTimeout retries an attempt that exceeded perTryTimeout.
	RetryOnTimeout RetryCondition = "Timeout"
)

// RetryPolicy bounds retries so they never amplify an outage: a fixed number of attempts, full-jitter
// exponential backoff, Retry-After honoured up to a cap, the overall timeout, and a retry budget.
// +kubebuilder:validation:XValidation:rule="!has(self.backoff) || !has(self.backoff.initial) || !has(self.backoff.max) || duration(self.backoff.initial) <= duration(self.backoff.max)",message="spec.retry.backoff.initial must not exceed spec.retry.backoff.max"
type RetryPolicy struct {
	// maxAttempts is the number of upstream attempts, the first included (1 disables retries).
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	MaxAttempts int32 `json:"maxAttempts,omitempty"`

	// backoff is the full-jitter exponential backoff between attempts.
	// +optional
	Backoff *Backoff `json:"backoff,omitempty"`

	// retryOn lists the failures that are retried. Default: all of them.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=4
	RetryOn []RetryCondition `json:"retryOn,omitempty"`

	// respectRetryAfter waits as long as the upstream's Retry-After header asks, up to maxRetryAfter.
	// +optional
	// +kubebuilder:default=true
	RespectRetryAfter *bool `json:"respectRetryAfter,omitempty"`

	// maxRetryAfter caps the wait a Retry-After header can impose; a longer one is not retried.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('10m')",message="spec.retry.maxRetryAfter must be between 0s and 10m"
	MaxRetryAfter *metav1.Duration `json:"maxRetryAfter,omitempty"`

	// perTryTimeout bounds one attempt; unset means only the overall timeout applies.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('100ms')",message="spec.retry.perTryTimeout must be at least 100ms"
	PerTryTimeout *metav1.Duration `json:"perTryTimeout,omitempty"`

	// budgetPercent caps retries at this share of requests over the last 10 seconds (a retry budget),
	// so a failing upstream sees at most (1 + budgetPercent/100) times the normal load.
	// +optional
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	BudgetPercent *int32 `json:"budgetPercent,omitempty"`
}

// Backoff is a full-jitter exponential backoff: attempt n waits a random time in [0, min(max, initial*2^n)].
type Backoff struct {
	// initial is the base delay.
	// +optional
	// +kubebuilder:default="500ms"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms') && duration(self) <= duration('1m')",message="spec.retry.backoff.initial must be between 1ms and 1m"
	Initial *metav1.Duration `json:"initial,omitempty"`

	// max caps one delay.
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms') && duration(self) <= duration('10m')",message="spec.retry.backoff.max must be between 1ms and 10m"
	Max *metav1.Duration `json:"max,omitempty"`
}

// Fallback answers requests this provider could not: exactly one of providerRef or staticResponse.
// +kubebuilder:validation:XValidation:rule="has(self.providerRef) != has(self.staticResponse)",message="spec.fallback must set exactly one of providerRef or staticResponse"
type Fallback struct {
	// providerRef names another LLMProvider in this namespace to try next. Its own fallback is followed
	// in turn; cycles are rejected by the validating webhook.
	// +optional
	ProviderRef *LocalProviderRef `json:"providerRef,omitempty"`

	// staticResponse is returned as a valid chat.completion (with header x-mosaic-fallback) when every
	// attempt failed.
	// +optional
	StaticResponse *StaticResponse `json:"staticResponse,omitempty"`
}

// LocalProviderRef names an LLMProvider in the same namespace.
type LocalProviderRef struct {
	// name of the LLMProvider.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// StaticResponse is a canned answer.
type StaticResponse struct {
	// content is the assistant message's text.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Content string `json:"content"`
}

// Detector is a built-in sensitive-data detector.
// +kubebuilder:validation:Enum=CreditCard;USSSN;Email;PhoneNumber;SecretKey
type Detector string

// The built-in detectors.
const (
	// DetectorCreditCard finds 13-19 digit card numbers (spaces or dashes allowed) that pass the Luhn check.
	DetectorCreditCard Detector = "CreditCard"
	// DetectorUSSSN finds US social security numbers (AAA-GG-SSSS, invalid ranges excluded).
	DetectorUSSSN Detector = "USSSN"
	// DetectorEmail finds e-mail addresses.
	DetectorEmail Detector = "Email"
	// DetectorPhoneNumber finds North American and E.164 phone numbers.
	DetectorPhoneNumber Detector = "PhoneNumber"
	// DetectorSecretKey finds well-known secret formats: sk-... API keys, AWS access key IDs, bearer tokens.
	DetectorSecretKey Detector = "SecretKey"
)

// SanitizeAction is what happens to a request in which a detector or pattern matched.
// +kubebuilder:validation:Enum=Redact;Block
type SanitizeAction string

// The sanitization actions.
const (
	// ActionRedact replaces each match with a tag such as [CREDIT_CARD] and sends the request on.
	ActionRedact SanitizeAction = "Redact"
	// ActionBlock refuses the request with HTTP 400 naming the detector (never the matched text).
	ActionBlock SanitizeAction = "Block"
)

// Sanitization limits prompt size and removes sensitive data from every text field of a request:
// message content (string or parts), names, tool-call arguments, legacy prompt, embeddings input and
// Responses API input.
type Sanitization struct {
	// maxPromptChars refuses (HTTP 400) requests whose text fields hold more characters than this.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxPromptChars *int32 `json:"maxPromptChars,omitempty"`

	// maxPromptTokens refuses requests whose estimated prompt tokens (about 4 characters each) exceed this.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxPromptTokens *int32 `json:"maxPromptTokens,omitempty"`

	// detectors are the built-in detectors to run.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=5
	Detectors []Detector `json:"detectors,omitempty"`

	// patterns are additional RE2 regular expressions, each with a name used in its redaction tag.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Patterns []SanitizePattern `json:"patterns,omitempty"`

	// action applies to detector matches and to patterns that set no action of their own.
	// +optional
	// +kubebuilder:default=Redact
	Action SanitizeAction `json:"action,omitempty"`

	// scanResponses also redacts completions (streamed ones included) on their way back to the app.
	// +optional
	ScanResponses bool `json:"scanResponses,omitempty"`
}

// SanitizePattern is a user-defined detector.
type SanitizePattern struct {
	// name identifies the pattern in metrics and in its redaction tag ([NAME]).
	// +required
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_-]{0,62}$`
	Name string `json:"name"`

	// regex is an RE2 regular expression. The validating webhook checks that it compiles.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Regex string `json:"regex"`

	// action overrides the sanitization's default action for this pattern.
	// +optional
	Action SanitizeAction `json:"action,omitempty"`
}

// HealthCheck configures the operator's periodic probe.
// +kubebuilder:validation:XValidation:rule="!has(self.timeout) || !has(self.interval) || duration(self.timeout) <= duration(self.interval)",message="spec.healthCheck.timeout must not exceed spec.healthCheck.interval"
type HealthCheck struct {
	// interval between probes (at least 10s). A small random jitter is added.
	// +optional
	// +kubebuilder:default="60s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s') && duration(self) <= duration('24h')",message="spec.healthCheck.interval must be between 10s and 24h"
	Interval *metav1.Duration `json:"interval,omitempty"`

	// timeout bounds one probe.
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('5m')",message="spec.healthCheck.timeout must be between 1s and 5m"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// disabled turns probing off; Healthy is then Unknown with reason ProbeDisabled.
	// +optional
	Disabled bool `json:"disabled,omitempty"`
}

// LLMProviderStatus is what the operator last observed.
type LLMProviderStatus struct {
	// conditions: CredentialsResolved, Healthy and their summary Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation these conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// health is the outcome of the last probe.
	// +optional
	Health *HealthStatus `json:"health,omitempty"`

	// models the provider reported in its last successful probe.
	// +optional
	// +listType=set
	Models []string `json:"models,omitempty"`

	// quota is what the provider reported in its rate-limit headers at the last probe.
	// +optional
	Quota *QuotaStatus `json:"quota,omitempty"`

	// configs is how many mosaic-proxy configurations (ConfigMaps in use by injected pods) include
	// this provider, requested by the pods or reached as another provider's fallback.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Configs int32 `json:"configs,omitempty"`
}

// HealthStatus is the outcome of one probe.
type HealthStatus struct {
	// lastProbeTime is when the probe ran.
	// +optional
	LastProbeTime *metav1.Time `json:"lastProbeTime,omitempty"`

	// latency of the probe's round trip, to the millisecond.
	// +optional
	Latency *metav1.Duration `json:"latency,omitempty"`

	// httpStatus the provider answered with; 0 when no answer arrived.
	// +optional
	HTTPStatus int32 `json:"httpStatus,omitempty"`

	// message summarises a failure (the provider's error message, never the key).
	// +optional
	Message string `json:"message,omitempty"`
}

// QuotaStatus is provider-reported quota; absent fields were not reported.
type QuotaStatus struct {
	// requestsLimit is the request quota of the current window.
	// +optional
	RequestsLimit *int64 `json:"requestsLimit,omitempty"`
	// requestsRemaining is what is left of it.
	// +optional
	RequestsRemaining *int64 `json:"requestsRemaining,omitempty"`
	// tokensLimit is the token quota of the current window.
	// +optional
	TokensLimit *int64 `json:"tokensLimit,omitempty"`
	// tokensRemaining is what is left of it.
	// +optional
	TokensRemaining *int64 `json:"tokensRemaining,omitempty"`
	// resetAt is when the earliest of these windows resets.
	// +optional
	ResetAt *metav1.Time `json:"resetAt,omitempty"`
}

// LLMProvider is one upstream LLM API (OpenAI, Azure OpenAI, Anthropic, Gemini or an OpenAI-compatible
// server), its API key held in a Secret, the models it serves, and the retry, fallback and
// sanitization policy that mosaic-proxy applies to requests sent to it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=llmp,categories=mosaic
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Latency",type=string,JSONPath=`.status.health.latency`
// +kubebuilder:printcolumn:name="Configs",type=integer,JSONPath=`.status.configs`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="!has(self.spec.fallback) || !has(self.spec.fallback.providerRef) || self.spec.fallback.providerRef.name != self.metadata.name",message="spec.fallback.providerRef.name must not name this LLMProvider itself"
type LLMProvider struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired provider.
	// +required
	Spec LLMProviderSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status LLMProviderStatus `json:"status,omitempty"`
}

// LLMProviderList is a list of LLMProviders.
// +kubebuilder:object:root=true
type LLMProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LLMProvider `json:"items"`
}

func init() {
	SchemeBuilder.Register(&LLMProvider{}, &LLMProviderList{})
}
