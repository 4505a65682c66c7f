package provider

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// Bodies and headers as the Claude API reference documents them (Models, Errors, Rate limits).
const (
	anthropicModelList = `{
  "data": [
    {"type": "model", "id": "claude-sonnet-4-20250514", "display_name": "Claude Sonnet 4", "created_at": "2025-05-22T00:00:00Z"},
    {"type": "model", "id": "claude-3-5-haiku-20241022", "display_name": "Claude Haiku 3.5", "created_at": "2024-10-22T00:00:00Z"}
  ],
  "has_more": false,
  "first_id": "claude-sonnet-4-20250514",
  "last_id": "claude-3-5-haiku-20241022"
}`
	anthropicAuth       = `{"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}`
	anthropicPermission = `{"type": "error", "error": {"type": "permission_error", "message": "Your API key does not have permission to use the specified resource."}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fz"}`
	anthropicRate       = `{"type": "error", "error": {"type": "rate_limit_error", "message": "Number of requests has exceeded your per-minute rate limit (https://docs.anthropic.com/en/api/rate-limits); see the response headers for current usage."}, "request_id": "req_011CSHoEeqs5C35K2UUqR7G0"}`
	anthropicSpendLimit = `{"type": "error", "error": {"type": "rate_limit_error", "message": "Your organization has reached its monthly spend limit for its usage tier.", "details": {"error_code": "enforced_spend_limit_reached"}}, "request_id": "req_011CSHoEeqs5C35K2UUqR7G1"}`
	anthropicCredit     = `{"type": "error", "error": {"type": "invalid_request_error", "message": "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}, "request_id": "req_011CSHoEeqs5C35K2UUqR7G2"}`
	anthropicBilling    = `{"type": "error", "error": {"type": "billing_error", "message": "There's an issue with your billing or payment information."}, "request_id": "req_011CSHoEeqs5C35K2UUqR7G3"}`
	anthropicAPIError   = `{"type": "error", "error": {"type": "api_error", "message": "An unexpected error has occurred internal to Anthropic's systems."}, "request_id": "req_011CSHoEeqs5C35K2UUqR7G4"}`
	anthropicOverloaded = `{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": "req_011CSHoEeqs5C35K2UUqR7G5"}`
	anthropicNotFound   = `{"type": "error", "error": {"type": "not_found_error", "message": "Not found"}, "request_id": "req_011CSHoEeqs5C35K2UUqR7G6"}`
)

func TestAnthropicProbe(t *testing.T) {
	reset := time.Now().Add(40 * time.Second).UTC().Truncate(time.Second)
	tokensReset := reset.Add(20 * time.Second)
	tests := map[string]struct {
		// answer is what the upstream answers.
		answer upstreamAnswer
		// want is what the probe must report.
		want probeExpectation
	}{
		"models and rate-limit headers": {
			answer: upstreamAnswer{status: 200, body: anthropicModelList, header: map[string]string{
				"request-id":                                 "req_011CSHoEeqs5C35K2UUqR7Fw",
				"anthropic-ratelimit-requests-limit":         "50",
				"anthropic-ratelimit-requests-remaining":     "49",
				"anthropic-ratelimit-requests-reset":         reset.Format(time.RFC3339),
				"anthropic-ratelimit-tokens-limit":           "90000",
				"anthropic-ratelimit-tokens-remaining":       "89000",
				"anthropic-ratelimit-tokens-reset":           tokensReset.Format(time.RFC3339),
				"anthropic-ratelimit-input-tokens-limit":     "50000",
				"anthropic-ratelimit-input-tokens-remaining": "49000",
				"anthropic-ratelimit-input-tokens-reset":     tokensReset.Format(time.RFC3339),
			}},
			want: probeExpectation{
				models: []string{"claude-3-5-haiku-20241022", "claude-sonnet-4-20250514"},
				quota: func(t *testing.T, q Quota, _ time.Time) {
					checkCounts(t, q, i64(50), i64(49), i64(90000), i64(89000))
					if q.ResetAt == nil || !q.ResetAt.Equal(reset) {
						t.Errorf("ResetAt = %v, want %v", q.ResetAt, reset)
					}
				},
			},
		},
		"401 authentication_error": {
			answer: upstreamAnswer{status: 401, body: anthropicAuth},
			want:   probeExpectation{reason: InvalidCredentials, message: "invalid x-api-key"},
		},
		"403 permission_error": {
			answer: upstreamAnswer{status: 403, body: anthropicPermission},
			want:   probeExpectation{reason: InvalidCredentials, message: "does not have permission"},
		},
		"429 rate_limit_error with retry-after": {
			answer: upstreamAnswer{status: 429, body: anthropicRate, header: map[string]string{
				"retry-after": "13", "anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-limit": "50",
			}},
			want: probeExpectation{reason: RateLimited, message: "per-minute rate limit", retryAfter: 13 * time.Second,
				quota: func(t *testing.T, q Quota, _ time.Time) { checkCounts(t, q, i64(50), i64(0), nil, nil) }},
		},
		"429 enforced spend limit": {
			answer: upstreamAnswer{status: 429, body: anthropicSpendLimit},
			want:   probeExpectation{reason: QuotaExhausted, message: "monthly spend limit"},
		},
		"400 credit balance too low": {
			answer: upstreamAnswer{status: 400, body: anthropicCredit},
			want:   probeExpectation{reason: QuotaExhausted, message: "credit balance is too low"},
		},
		"402 billing_error": {
			answer: upstreamAnswer{status: 402, body: anthropicBilling},
			want:   probeExpectation{reason: QuotaExhausted, message: "billing or payment"},
		},
		"500 api_error": {
			answer: upstreamAnswer{status: 500, body: anthropicAPIError},
			want:   probeExpectation{reason: UpstreamError, message: "unexpected error has occurred"},
		},
		"529 overloaded_error": {
			answer: upstreamAnswer{status: 529, body: anthropicOverloaded},
			want:   probeExpectation{reason: UpstreamError, message: "Overloaded"},
		},
		"404 not_found_error": {
			answer: upstreamAnswer{status: 404, body: anthropicNotFound},
			want:   probeExpectation{reason: UpstreamError, message: "unexpected HTTP status 404 Not Found: Not found"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv, seen := serveUpstream(t, tc.answer)
			checkProbe(t, &Anthropic{}, Endpoint{BaseURL: srv.URL + "/v1"}, testKey, tc.want)
			req := <-seen
			if req.method != http.MethodGet || req.path != "/v1/models" || req.query != "limit=1000" {
				t.Errorf("request = %s %s?%s, want GET /v1/models?limit=1000", req.method, req.path, req.query)
			}
			if got := req.header.Get("x-api-key"); got != testKey {
				t.Errorf("x-api-key = %q, want the key", got)
			}
			if got := req.header.Get("anthropic-version"); got != "2023-06-01" {
				t.Errorf("anthropic-version = %q, want 2023-06-01", got)
			}
			if req.header.Get("Authorization") != "" {
				t.Errorf("unexpected Authorization header on the native API")
			}
		})
	}
}

func TestAnthropicParseQuotaInputOutputTokens(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	h := http.Header{}
	h.Set("anthropic-ratelimit-input-tokens-limit", "50000")
	h.Set("anthropic-ratelimit-input-tokens-remaining", "40000")
	h.Set("anthropic-ratelimit-input-tokens-reset", "2026-11-27T12:00:30Z")
	h.Set("anthropic-ratelimit-output-tokens-limit", "10000")
	h.Set("anthropic-ratelimit-output-tokens-remaining", "2000")
	h.Set("anthropic-ratelimit-output-tokens-reset", "2026-11-27T12:00:10Z")
	q := (&Anthropic{}).ParseQuota(h, now)
	checkCounts(t, q, nil, nil, i64(10000), i64(2000))
	if want := now.Add(10 * time.Second); q.ResetAt == nil || !q.ResetAt.Equal(want) {
		t.Errorf("ResetAt = %v, want %v", q.ResetAt, want)
	}
}

func TestAnthropicRequestURL(t *testing.T) {
	tests := map[string]struct {
		// endpoint is the configured endpoint.
		endpoint Endpoint
		// operation is the OpenAI operation.
		operation string
		// want is the expected URL; empty when an error is expected.
		want string
		// wantErr is the expected sentinel error.
		wantErr error
	}{
		"chat via the OpenAI compatibility layer": {operation: OperationChatCompletions, want: "https://api.anthropic.com/v1/chat/completions"},
		"custom base":           {endpoint: Endpoint{BaseURL: "https://gw.example.com/anthropic/v1/"}, operation: OperationChatCompletions, want: "https://gw.example.com/anthropic/v1/chat/completions"},
		"no embeddings":         {operation: OperationEmbeddings, wantErr: ErrUnsupportedOperation},
		"no legacy completions": {operation: OperationCompletions, wantErr: ErrUnsupportedOperation},
		"no responses":          {operation: OperationResponses, wantErr: ErrUnsupportedOperation},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := (&Anthropic{}).RequestURL(tc.endpoint, tc.operation, "claude-sonnet-4-20250514")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("URL = %q, want %q", got, tc.want)
			}
		})
	}
}
