// Package provider holds one adapter per upstream LLM API behind the Provider interface: how to
// authenticate, where each OpenAI-style operation lives, the cheapest authenticated health probe,
// how the provider reports quota in response headers, and how its errors map to reasons.
//
// Both the operator (health probes) and mosaic-proxy (upstream requests) use it. Adapters are
// collected in a Registry built by each binary's main and injected; nothing registers itself in init.
package provider

import (
	"context"
	"net/http"
	"time"
)

// Type names an upstream API. The values are those of the LLMProvider spec.type enum.
type Type string

// The provider types Mosaic supports.
const (
	TypeOpenAI           Type = "OpenAI"
	TypeAzureOpenAI      Type = "AzureOpenAI"
	TypeAnthropic        Type = "Anthropic"
	TypeGemini           Type = "Gemini"
	TypeOpenAICompatible Type = "OpenAICompatible"
	TypeFake             Type = "Fake"
)

// Endpoint says where one configured provider is.
type Endpoint struct {
	// BaseURL is the API root, e.g. https://api.openai.com/v1. Empty means the type's default.
	BaseURL string
	// APIVersion is the Azure OpenAI api-version query parameter; ignored by other types.
	APIVersion string
}

// Provider is one upstream API's adapter. Implementations are stateless and safe for concurrent use.
type Provider interface {
	// Type is the spec.type value this adapter serves.
	Type() Type
	// DefaultBaseURL is the public endpoint used when none is configured, or "" when the type
	// has none (AzureOpenAI, OpenAICompatible).
	DefaultBaseURL() string
	// Authorize sets the provider's credential on an upstream request's headers, removing any
	// credential the client sent. An empty key sets nothing (keyless OpenAI-compatible servers).
	Authorize(h http.Header, apiKey string)
	// RequestURL is the upstream URL of an OpenAI-style operation ("/chat/completions",
	// "/embeddings", "/completions", "/responses", "/models"; see the Operation* constants)
	// for model. An operation the upstream lacks gives ErrUnsupportedOperation; a bad
	// Endpoint or model gives ErrInvalidEndpoint.
	RequestURL(ep Endpoint, operation, model string) (string, error)
	// Probe makes the cheapest authenticated call the API has (a model listing, never a paid
	// completion) and reports what it saw. A failed probe returns a *ProbeError. An Endpoint
	// that cannot make a URL returns an error wrapping ErrInvalidEndpoint instead, before any
	// call. Redirects are not followed, so the key never leaves the configured origin.
	Probe(ctx context.Context, client *http.Client, ep Endpoint, apiKey string) (*ProbeResult, error)
	// ParseQuota reads the provider's rate-limit response headers; absent values stay nil.
	ParseQuota(h http.Header, now time.Time) Quota
}

// InProcess is implemented by providers that answer without a network (the Fake type): the
// proxy sends their requests through this RoundTripper instead of its HTTP transport.
type InProcess interface {
	RoundTripper() http.RoundTripper
}
