package provider

import (
	"context"
	"net/http"
	"time"
)

// OpenAICompatible is the adapter for self-hosted servers that speak the OpenAI HTTP API
// (vLLM, Ollama's /v1, LiteLLM, text-embeddings-inference for /embeddings). It has no default
// endpoint: the base URL is the server's API root, e.g. http://vllm.models:8000/v1. The key
// is optional; when set it is sent as a Bearer token.
//
// The probe lists models at {base}/models. text-embeddings-inference does not serve that
// path, so its probe reports UpstreamError (HTTP 404).
type OpenAICompatible struct{}

var _ Provider = (*OpenAICompatible)(nil)

// Type implements Provider.
func (*OpenAICompatible) Type() Type { return TypeOpenAICompatible }

// DefaultBaseURL implements Provider: there is none.
func (*OpenAICompatible) DefaultBaseURL() string { return "" }

// Authorize implements Provider: "Authorization: Bearer <key>", or no credential for an
// empty key.
func (*OpenAICompatible) Authorize(h http.Header, apiKey string) { setBearer(h, apiKey) }

// RequestURL implements Provider: {base}{operation}.
func (p *OpenAICompatible) RequestURL(ep Endpoint, operation, _ string) (string, error) {
	if err := checkOpenAIOperation(p.Type(), operation); err != nil {
		return "", err
	}
	base, err := baseURL(p.Type(), ep.BaseURL, "", "http", "https")
	if err != nil {
		return "", err
	}
	return joinPath(base, operation, nil), nil
}

// Probe implements Provider: GET {base}/models.
func (p *OpenAICompatible) Probe(ctx context.Context, client *http.Client, ep Endpoint, apiKey string) (*ProbeResult, error) {
	base, err := baseURL(p.Type(), ep.BaseURL, "", "http", "https")
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

// ParseQuota implements Provider: the OpenAI x-ratelimit-* headers, which gateways such as
// LiteLLM also send; plain vLLM and Ollama send none.
func (*OpenAICompatible) ParseQuota(h http.Header, now time.Time) Quota {
	return parseOpenAIQuota(h, now)
}
