package provider

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// Bodies and headers as the OpenAI API reference documents them.
const (
	openAIModelList = `{
  "object": "list",
  "data": [
    {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
    {"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"},
    {"id": "text-embedding-3-small", "object": "model", "created": 1705948997, "owned_by": "system"}
  ]
}`
	openAIInvalidKey = `{
  "error": {
    "message": "Incorrect API key provided: sk-test-************************cdef. You can find your API key at https://platform.openai.com/account/api-keys.",
    "type": "invalid_request_error",
    "param": null,
    "code": "invalid_api_key"
  }
}`
	openAIRegion = `{"error": {"message": "Country, region, or territory not supported", "type": "request_forbidden", "param": null, "code": "unsupported_country_region_territory"}}`
	openAIRate   = `{
  "error": {
    "message": "Rate limit reached for gpt-4o-mini in organization org-abc on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits to learn more.",
    "type": "requests",
    "param": null,
    "code": "rate_limit_exceeded"
  }
}`
	openAIQuota = `{
  "error": {
    "message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
    "type": "insufficient_quota",
    "param": null,
    "code": "insufficient_quota"
  }
}`
	openAIServer   = `{"error": {"message": "The server had an error while processing your request. Sorry about that!", "type": "server_error", "param": null, "code": null}}`
	openAIOverload = `{"error": {"message": "The engine is currently overloaded, please try again later", "type": "server_error", "param": null, "code": null}}`
	openAIBadURL   = `{"error": {"message": "Invalid URL (GET /v1/models)", "type": "invalid_request_error", "param": null, "code": null}}`
)

func TestOpenAIProbe(t *testing.T) {
	tests := map[string]struct {
		// answer is what the upstream answers.
		answer upstreamAnswer
		// want is what the probe must report.
		want probeExpectation
	}{
		"models and quota headers": {
			answer: upstreamAnswer{status: 200, body: openAIModelList, header: map[string]string{
				"x-ratelimit-limit-requests":     "10000",
				"x-ratelimit-limit-tokens":       "30000000",
				"x-ratelimit-remaining-requests": "9999",
				"x-ratelimit-remaining-tokens":   "29999000",
				"x-ratelimit-reset-requests":     "6m0s",
				"x-ratelimit-reset-tokens":       "17.5s",
			}},
			want: probeExpectation{
				models: []string{"gpt-4o", "gpt-4o-mini", "text-embedding-3-small"},
				quota: func(t *testing.T, q Quota, sent time.Time) {
					checkCounts(t, q, i64(10000), i64(9999), i64(30000000), i64(29999000))
					checkResetWithin(t, q.ResetAt, sent, 17500*time.Millisecond)
				},
			},
		},
		"401 invalid key, masked key in message": {
			answer: upstreamAnswer{status: 401, body: openAIInvalidKey},
			want:   probeExpectation{reason: InvalidCredentials, message: "Incorrect API key provided: [REDACTED] You can find"},
		},
		"403 region": {
			answer: upstreamAnswer{status: 403, body: openAIRegion},
			want:   probeExpectation{reason: InvalidCredentials, message: "Country, region, or territory not supported"},
		},
		"429 rate limit with retry-after": {
			answer: upstreamAnswer{status: 429, body: openAIRate, header: map[string]string{
				"retry-after":                    "20",
				"x-ratelimit-limit-requests":     "3",
				"x-ratelimit-remaining-requests": "0",
				"x-ratelimit-reset-requests":     "20s",
			}},
			want: probeExpectation{
				reason: RateLimited, message: "Rate limit reached for gpt-4o-mini", retryAfter: 20 * time.Second,
				quota: func(t *testing.T, q Quota, sent time.Time) {
					checkCounts(t, q, i64(3), i64(0), nil, nil)
					checkResetWithin(t, q.ResetAt, sent, 20*time.Second)
				},
			},
		},
		"429 insufficient_quota": {
			answer: upstreamAnswer{status: 429, body: openAIQuota},
			want:   probeExpectation{reason: QuotaExhausted, message: "You exceeded your current quota"},
		},
		"500 server error": {
			answer: upstreamAnswer{status: 500, body: openAIServer},
			want:   probeExpectation{reason: UpstreamError, message: "The server had an error"},
		},
		"503 overloaded": {
			answer: upstreamAnswer{status: 503, body: openAIOverload},
			want:   probeExpectation{reason: UpstreamError, message: "overloaded"},
		},
		"404 unexpected status": {
			answer: upstreamAnswer{status: 404, body: openAIBadURL},
			want:   probeExpectation{reason: UpstreamError, message: "unexpected HTTP status 404 Not Found: Invalid URL"},
		},
		"502 from a gateway that echoes the key": {
			answer: upstreamAnswer{status: 502, header: map[string]string{"Content-Type": "text/plain"},
				body: "upstream rejected request with header Authorization: Bearer " + testKey},
			want: probeExpectation{reason: UpstreamError, message: "Authorization: Bearer [REDACTED]"},
		},
		"200 that is not a model list": {
			answer: upstreamAnswer{status: 200, body: `{"status":"ok"}`},
			want:   probeExpectation{reason: UpstreamError, message: `no "data" array`},
		},
		"200 HTML page": {
			answer: upstreamAnswer{status: 200, header: map[string]string{"Content-Type": "text/html"}, body: "<html>login</html>"},
			want:   probeExpectation{reason: UpstreamError, message: "decoding model list: not a JSON model list"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv, seen := serveUpstream(t, tc.answer)
			checkProbe(t, &OpenAI{}, Endpoint{BaseURL: srv.URL + "/v1"}, testKey, tc.want)
			req := <-seen
			if req.method != http.MethodGet || req.path != "/v1/models" || req.query != "" {
				t.Errorf("request = %s %s?%s, want GET /v1/models", req.method, req.path, req.query)
			}
			if got := req.header.Get("Authorization"); got != "Bearer "+testKey {
				t.Errorf("Authorization = %q, want Bearer <key>", got)
			}
			for _, h := range []string{"api-key", "x-api-key", "x-goog-api-key"} {
				if req.header.Get(h) != "" {
					t.Errorf("unexpected credential header %s", h)
				}
			}
		})
	}
}

func TestOpenAIRequestURL(t *testing.T) {
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
		"default chat":          {operation: OperationChatCompletions, want: "https://api.openai.com/v1/chat/completions"},
		"default embeddings":    {operation: OperationEmbeddings, want: "https://api.openai.com/v1/embeddings"},
		"default responses":     {operation: OperationResponses, want: "https://api.openai.com/v1/responses"},
		"default models":        {operation: OperationModels, want: "https://api.openai.com/v1/models"},
		"legacy completions":    {operation: OperationCompletions, want: "https://api.openai.com/v1/completions"},
		"custom base, slash":    {endpoint: Endpoint{BaseURL: "https://eu.api.openai.com/v1/"}, operation: OperationChatCompletions, want: "https://eu.api.openai.com/v1/chat/completions"},
		"unsupported operation": {operation: "/audio/speech", wantErr: ErrUnsupportedOperation},
		"relative base":         {endpoint: Endpoint{BaseURL: "api.openai.com/v1"}, operation: OperationModels, wantErr: ErrInvalidEndpoint},
		"ftp base":              {endpoint: Endpoint{BaseURL: "ftp://api.openai.com/v1"}, operation: OperationModels, wantErr: ErrInvalidEndpoint},
		"base with query":       {endpoint: Endpoint{BaseURL: "https://api.openai.com/v1?x=1"}, operation: OperationModels, wantErr: ErrInvalidEndpoint},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := (&OpenAI{}).RequestURL(tc.endpoint, tc.operation, "gpt-4o-mini")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("URL = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestBaseURLWithCredentialsIsNotEchoed(t *testing.T) {
	_, err := (&OpenAI{}).RequestURL(Endpoint{BaseURL: "https://user:" + testKey + "@api.openai.com/v1"}, OperationModels, "")
	if !errors.Is(err, ErrInvalidEndpoint) {
		t.Fatalf("error = %v, want ErrInvalidEndpoint", err)
	}
	assertNoKey(t, err.Error())
	_, err = (&OpenAI{}).RequestURL(Endpoint{BaseURL: "https://user:" + testKey + "@api.openai.com/%zz"}, OperationModels, "")
	if !errors.Is(err, ErrInvalidEndpoint) {
		t.Fatalf("error = %v, want ErrInvalidEndpoint", err)
	}
	assertNoKey(t, err.Error())
}

func TestOpenAIParseQuota(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		// header are the response headers.
		header map[string]string
		// wantReset is the expected ResetAt offset from now; 0 means nil.
		wantReset time.Duration
		// wantTokensRemaining is the expected TokensRemaining; nil means absent.
		wantTokensRemaining *int64
	}{
		"minutes and seconds":     {header: map[string]string{"x-ratelimit-reset-requests": "6m0s"}, wantReset: 6 * time.Minute},
		"seconds":                 {header: map[string]string{"x-ratelimit-reset-requests": "1s"}, wantReset: time.Second},
		"milliseconds":            {header: map[string]string{"x-ratelimit-reset-tokens": "20ms"}, wantReset: 20 * time.Millisecond},
		"fractional seconds":      {header: map[string]string{"x-ratelimit-reset-tokens": "17.5s"}, wantReset: 17500 * time.Millisecond},
		"hours":                   {header: map[string]string{"x-ratelimit-reset-tokens": "1h2m3s"}, wantReset: time.Hour + 2*time.Minute + 3*time.Second},
		"days":                    {header: map[string]string{"x-ratelimit-reset-tokens": "1d2h"}, wantReset: 26 * time.Hour},
		"earliest of two":         {header: map[string]string{"x-ratelimit-reset-requests": "6m0s", "x-ratelimit-reset-tokens": "20ms"}, wantReset: 20 * time.Millisecond},
		"bare seconds":            {header: map[string]string{"x-ratelimit-reset-requests": "60"}, wantReset: time.Minute},
		"garbage is ignored":      {header: map[string]string{"x-ratelimit-reset-requests": "soon", "x-ratelimit-remaining-tokens": "many"}},
		"negative is ignored":     {header: map[string]string{"x-ratelimit-reset-requests": "-5s", "x-ratelimit-remaining-tokens": "-1"}},
		"remaining tokens":        {header: map[string]string{"x-ratelimit-remaining-tokens": "149984"}, wantTokensRemaining: i64(149984)},
		"no headers, empty quota": {header: map[string]string{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			q := (&OpenAI{}).ParseQuota(h, now)
			switch {
			case tc.wantReset == 0 && q.ResetAt != nil:
				t.Errorf("ResetAt = %v, want nil", q.ResetAt)
			case tc.wantReset != 0 && (q.ResetAt == nil || !q.ResetAt.Equal(now.Add(tc.wantReset))):
				t.Errorf("ResetAt = %v, want %v", q.ResetAt, now.Add(tc.wantReset))
			}
			if !equalCount(q.TokensRemaining, tc.wantTokensRemaining) {
				t.Errorf("TokensRemaining = %s, want %s", countString(q.TokensRemaining), countString(tc.wantTokensRemaining))
			}
			if len(tc.header) == 0 && !q.IsZero() {
				t.Errorf("Quota = %+v, want zero", q)
			}
		})
	}
}
