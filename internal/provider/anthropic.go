package provider

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// AnthropicVersion is the anthropic-version header sent on native API calls.
const AnthropicVersion = "2023-06-01"

// Anthropic is the adapter for the Claude API (https://api.anthropic.com/v1).
//
// The probe uses the native API: GET {base}/models with "x-api-key" and "anthropic-version".
// Proxied requests use Anthropic's OpenAI SDK compatibility layer, which serves
// {base}/chat/completions with Bearer authentication; it offers no embeddings, legacy
// completions or responses. Translating OpenAI requests to the native Messages API
// (/v1/messages, x-api-key) would replace Authorize and RequestURL here, and add a body
// translation step in the proxy.
type Anthropic struct{}

var _ Provider = (*Anthropic)(nil)

// Type implements Provider.
func (*Anthropic) Type() Type { return TypeAnthropic }

// DefaultBaseURL implements Provider.
func (*Anthropic) DefaultBaseURL() string { return "https://api.anthropic.com/v1" }

// Authorize implements Provider for the OpenAI compatibility layer: "Authorization: Bearer
// <key>", as an OpenAI SDK pointed at Anthropic sends it.
func (*Anthropic) Authorize(h http.Header, apiKey string) { setBearer(h, apiKey) }

// authorizeNative sets the native API's credential headers.
func (*Anthropic) authorizeNative(h http.Header, apiKey string) {
	clearCredentials(h)
	if apiKey != "" {
		h.Set("x-api-key", apiKey)
	}
	h.Set("anthropic-version", AnthropicVersion)
}

// RequestURL implements Provider: only /chat/completions, at {base}/chat/completions.
func (p *Anthropic) RequestURL(ep Endpoint, operation, _ string) (string, error) {
	if err := checkOperation(p.Type(), operation, OperationChatCompletions); err != nil {
		return "", err
	}
	base, err := baseURL(p.Type(), ep.BaseURL, p.DefaultBaseURL(), "http", "https")
	if err != nil {
		return "", err
	}
	return joinPath(base, operation, nil), nil
}

// Probe implements Provider: GET {base}/models?limit=1000 on the native API, whose answer is
// {"data":[{"type":"model","id":...}],"has_more":...}.
func (p *Anthropic) Probe(ctx context.Context, client *http.Client, ep Endpoint, apiKey string) (*ProbeResult, error) {
	base, err := baseURL(p.Type(), ep.BaseURL, p.DefaultBaseURL(), "http", "https")
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	p.authorizeNative(h, apiKey)
	return runProbe(ctx, client, probeSpec{
		url:    joinPath(base, OperationModels, url.Values{"limit": []string{"1000"}}),
		header: h,
		apiKey: apiKey,
		models: parseDataIDs,
		quota:  p.ParseQuota,
	})
}

// ParseQuota implements Provider: anthropic-ratelimit-requests-{limit,remaining,reset} and
// anthropic-ratelimit-tokens-*, resets in RFC 3339. The tokens-* headers already describe the
// most restrictive token limit; without them, the more restrictive of input-tokens-* and
// output-tokens-* (least remaining) is reported. ResetAt is the earliest of all resets.
func (*Anthropic) ParseQuota(h http.Header, now time.Time) Quota {
	const prefix = "anthropic-ratelimit-"
	q := Quota{
		RequestsLimit:     headerCount(h, prefix+"requests-limit"),
		RequestsRemaining: headerCount(h, prefix+"requests-remaining"),
		TokensLimit:       headerCount(h, prefix+"tokens-limit"),
		TokensRemaining:   headerCount(h, prefix+"tokens-remaining"),
	}
	if q.TokensLimit == nil && q.TokensRemaining == nil {
		for _, kind := range []string{"input-tokens-", "output-tokens-"} {
			remaining := headerCount(h, prefix+kind+"remaining")
			if remaining == nil {
				continue
			}
			if q.TokensRemaining == nil || *remaining < *q.TokensRemaining {
				q.TokensRemaining = remaining
				q.TokensLimit = headerCount(h, prefix+kind+"limit")
			}
		}
	}
	q.ResetAt = earliest(
		headerReset(h, prefix+"requests-reset", now),
		headerReset(h, prefix+"tokens-reset", now),
		headerReset(h, prefix+"input-tokens-reset", now),
		headerReset(h, prefix+"output-tokens-reset", now),
	)
	return q
}
