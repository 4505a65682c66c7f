package provider

import (
	"context"
	"net/http"
	"time"
)

// OpenAI is the adapter for the OpenAI API (https://api.openai.com/v1): Bearer authentication,
// every operation at {base}{operation}, a model-list probe, and quota from the
// x-ratelimit-* headers.
type OpenAI struct{}

var _ Provider = (*OpenAI)(nil)

// Type implements Provider.
func (*OpenAI) Type() Type { return TypeOpenAI }

// DefaultBaseURL implements Provider.
func (*OpenAI) DefaultBaseURL() string { return "https://api.openai.com/v1" }

// Authorize implements Provider: "Authorization: Bearer <key>".
func (*OpenAI) Authorize(h http.Header, apiKey string) { setBearer(h, apiKey) }

// RequestURL implements Provider: {base}{operation}; the model travels in the body.
func (p *OpenAI) RequestURL(ep Endpoint, operation, _ string) (string, error) {
	if err := checkOpenAIOperation(p.Type(), operation); err != nil {
		return "", err
	}
	base, err := baseURL(p.Type(), ep.BaseURL, p.DefaultBaseURL(), "http", "https")
	if err != nil {
		return "", err
	}
	return joinPath(base, operation, nil), nil
}

// Probe implements Provider: GET {base}/models.
func (p *OpenAI) Probe(ctx context.Context, client *http.Client, ep Endpoint, apiKey string) (*ProbeResult, error) {
	base, err := baseURL(p.Type(), ep.BaseURL, p.DefaultBaseURL(), "http", "https")
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	p.Authorize(h, apiKey)
	return runProbe(ctx, client, probeSpec{
		url:    joinPath(base, OperationModels, nil),
		header: h,
		apiKey: apiKey,
		models: parseDataIDs,
		quota:  p.ParseQuota,
	})
}

// ParseQuota implements Provider: x-ratelimit-limit-*, x-ratelimit-remaining-* and
// x-ratelimit-reset-* for requests and tokens, resets in OpenAI's duration format ("6m0s",
// "20ms", "17.5s").
func (*OpenAI) ParseQuota(h http.Header, now time.Time) Quota { return parseOpenAIQuota(h, now) }
