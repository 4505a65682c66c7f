package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RateLimitScope says where a limit is counted.
// +kubebuilder:validation:Enum=Pod;Global
type RateLimitScope string

const (
	// ScopePod counts in each sidecar on its own: N pods admit N times the limit.
	ScopePod RateLimitScope = "Pod"
	// ScopeGlobal counts across all sidecars in Redis.
	ScopeGlobal RateLimitScope = "Global"
)

// FailureMode is what a Global limit does when its backend cannot be reached.
// +kubebuilder:validation:Enum=Open;Closed
type FailureMode string

const (
	// FailOpen admits requests while the backend is down (visible in metrics).
	FailOpen FailureMode = "Open"
	// FailClosed refuses requests while the backend is down.
	FailClosed FailureMode = "Closed"
)

// LimitAction is what happens to a request over a limit.
// +kubebuilder:validation:Enum=Reject;Queue
type LimitAction string

const (
	// LimitReject answers HTTP 429 with an accurate Retry-After.
	LimitReject LimitAction = "Reject"
	// LimitQueue holds the request up to maxWait for capacity, then answers 429.
	LimitQueue LimitAction = "Queue"
)

// RateLimitPolicySpec attaches limits to LLMProviders.
// +kubebuilder:validation:XValidation:rule="self.scope != 'Global' || (has(self.backend) && has(self.backend.redis))",message="spec.backend.redis is required when spec.scope is Global"
type RateLimitPolicySpec struct {
	// targetRefs are the LLMProviders in this namespace these limits apply to. When two policies
	// target one provider, the older policy wins (then the one first by name) and the other is
	// marked Conflicted for that provider.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +kubebuilder:validation:XValidation:rule="self.all(r, self.exists_one(o, o.kind == r.kind && o.name == r.name))",message="spec.targetRefs must not name the same target twice"
	TargetRefs []PolicyTargetRef `json:"targetRefs"`

	// limits are the budgets enforced for requests to each target.
	// +required
	Limits Limits `json:"limits"`

	// scope is where the limits are counted: in each Pod's sidecar, or Global across pods (Redis).
	// +optional
	// +kubebuilder:default=Pod
	Scope RateLimitScope `json:"scope,omitempty"`

	// backend is the shared store for Global limits.
	// +optional
	Backend *RateLimitBackend `json:"backend,omitempty"`

	// failureMode is what Global limits do when the backend is unreachable.
	// +optional
	// +kubebuilder:default=Open
	FailureMode FailureMode `json:"failureMode,omitempty"`

	// onLimit is what happens to a request over a limit.
	// +optional
	OnLimit *OnLimit `json:"onLimit,omitempty"`
}

// PolicyTargetRef names an object in the policy's namespace, as Gateway API's LocalPolicyTargetReference does.
type PolicyTargetRef struct {
	// group of the target.
	// +optional
	// +kubebuilder:default=llm.mosaic.dev
	// +kubebuilder:validation:Enum=llm.mosaic.dev
	Group string `json:"group,omitempty"`

	// kind of the target.
	// +required
	// +kubebuilder:validation:Enum=LLMProvider
	Kind string `json:"kind"`

	// name of the target.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// Limits are request, token and concurrency budgets; unset means unlimited. At least one is set.
// +kubebuilder:validation:XValidation:rule="has(self.requestsPerMinute) || has(self.tokensPerMinute) || has(self.tokensPerDay) || has(self.maxConcurrentRequests)",message="spec.limits must set at least one of requestsPerMinute, tokensPerMinute, tokensPerDay, maxConcurrentRequests"
// +kubebuilder:validation:XValidation:rule="!has(self.tokensPerMinute) || !has(self.tokensPerDay) || self.tokensPerMinute <= self.tokensPerDay",message="spec.limits.tokensPerMinute must not exceed spec.limits.tokensPerDay"
type Limits struct {
	// requestsPerMinute is a token bucket refilled evenly over the minute, with a burst of the whole minute.
	// +optional
	// +kubebuilder:validation:Minimum=1
	RequestsPerMinute *int64 `json:"requestsPerMinute,omitempty"`

	// tokensPerMinute counts prompt and completion tokens. A request reserves its estimated prompt
	// tokens plus max_tokens at admission and settles to the real usage when it ends.
	// +optional
	// +kubebuilder:validation:Minimum=1
	TokensPerMinute *int64 `json:"tokensPerMinute,omitempty"`

	// tokensPerDay is a daily token budget, counted like tokensPerMinute.
	// +optional
	// +kubebuilder:validation:Minimum=1
	TokensPerDay *int64 `json:"tokensPerDay,omitempty"`

	// maxConcurrentRequests bounds requests in flight at once.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	MaxConcurrentRequests *int32 `json:"maxConcurrentRequests,omitempty"`
}

// RateLimitBackend is the shared store behind Global limits.
type RateLimitBackend struct {
	// redis is a Redis server (standalone) reachable from the pods.
	// +required
	Redis *RedisBackend `json:"redis"`
}

// RedisBackend says how to reach Redis.
type RedisBackend struct {
	// address is host:port.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[^\s:/]+:[0-9]{1,5}$`
	Address string `json:"address"`

	// passwordSecretRef names the Secret key holding the Redis password, if any.
	// +optional
	PasswordSecretRef *SecretKeyRef `json:"passwordSecretRef,omitempty"`
}

// OnLimit is what happens to a request over a limit.
// +kubebuilder:validation:XValidation:rule="self.action != 'Queue' || has(self.maxWait)",message="spec.onLimit.maxWait is required when spec.onLimit.action is Queue"
// +kubebuilder:validation:XValidation:rule="self.action == 'Queue' || !has(self.maxWait)",message="spec.onLimit.maxWait is only valid when spec.onLimit.action is Queue"
type OnLimit struct {
	// action is Reject (HTTP 429 with Retry-After) or Queue (wait up to maxWait for capacity).
	// +optional
	// +kubebuilder:default=Reject
	Action LimitAction `json:"action,omitempty"`

	// maxWait is the longest a queued request waits.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('5m')",message="spec.onLimit.maxWait must be greater than 0s and at most 5m"
	MaxWait *metav1.Duration `json:"maxWait,omitempty"`
}

// RateLimitPolicyStatus is what the operator last observed.
type RateLimitPolicyStatus struct {
	// conditions: Accepted, ResolvedRefs, Conflicted, Enforced.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation these conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// targets is the state of each targetRef.
	// +optional
	// +listType=map
	// +listMapKey=name
	Targets []PolicyTargetStatus `json:"targets,omitempty"`
}

// PolicyTargetStatus is the state of one targetRef.
type PolicyTargetStatus struct {
	// name of the targeted LLMProvider.
	Name string `json:"name"`

	// resolved is true when the LLMProvider exists.
	Resolved bool `json:"resolved"`

	// conflictedWith names the older policy whose limits apply to this target instead of this one's.
	// +optional
	ConflictedWith string `json:"conflictedWith,omitempty"`
}

// RateLimitPolicy attaches request, token and concurrency limits to one or more LLMProviders,
// enforced by each pod's mosaic-proxy (scope Pod) or across pods through Redis (scope Global).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rlp,categories=mosaic
// +kubebuilder:printcolumn:name="Scope",type=string,JSONPath=`.spec.scope`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Resolved",type=string,JSONPath=`.status.conditions[?(@.type=="ResolvedRefs")].status`
// +kubebuilder:printcolumn:name="Conflicted",type=string,JSONPath=`.status.conditions[?(@.type=="Conflicted")].status`
// +kubebuilder:printcolumn:name="Enforced",type=string,JSONPath=`.status.conditions[?(@.type=="Enforced")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RateLimitPolicy struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired limits.
	// +required
	Spec RateLimitPolicySpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status RateLimitPolicyStatus `json:"status,omitempty"`
}

// RateLimitPolicyList is a list of RateLimitPolicies.
// +kubebuilder:object:root=true
type RateLimitPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RateLimitPolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RateLimitPolicy{}, &RateLimitPolicyList{})
}
