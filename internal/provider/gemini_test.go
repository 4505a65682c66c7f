package provider

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// Bodies as the Gemini API reference documents them (models.list, google.rpc.Status errors).
const (
	geminiModelList = `{
  "models": [
    {
      "name": "models/gemini-2.0-flash",
      "version": "2.0",
      "displayName": "Gemini 2.0 Flash",
      "description": "Gemini 2.0 Flash",
      "inputTokenLimit": 1048576,
      "outputTokenLimit": 8192,
      "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"],
      "temperature": 1,
      "topP": 0.95,
      "topK": 40,
      "maxTemperature": 2
    },
    {
      "name": "models/text-embedding-004",
      "version": "004",
      "displayName": "Text Embedding 004",
      "description": "Obtain a distributed representation of a text.",
      "inputTokenLimit": 2048,
      "outputTokenLimit": 1,
      "supportedGenerationMethods": ["embedContent"]
    }
  ],
  "nextPageToken": "Ch9tb2RlbHMvZ2VtaW5pLTIuMC1mbGFzaC0wMDE="
}`
	geminiInvalidKey = `{
  "error": {
    "code": 400,
    "message": "API key not valid. Please pass a valid API key.",
    "status": "INVALID_ARGUMENT",
    "details": [
      {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
      {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": "API key not valid. Please pass a valid API key."}
    ]
  }
}`
	geminiPermission = `{"error": {"code": 403, "message": "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.", "status": "PERMISSION_DENIED"}}`
	geminiPerMinute  = `{
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
        {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "quotaDimensions": {"location": "global", "model": "gemini-2.0-flash"}, "quotaValue": "15"}
      ]},
      {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
      {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"}
    ]
  }
}`
	geminiPerDay = `{
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
        {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"},
        {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}
      ]},
      {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "20.04466179s"}
    ]
  }
}`
	geminiResourceExhausted = `{"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}`
	geminiInternal          = `{"error": {"code": 500, "message": "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting", "status": "INTERNAL"}}`
	geminiUnavailable       = `{"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}`
)

func TestGeminiProbe(t *testing.T) {
	tests := map[string]struct {
		// answer is what the upstream answers.
		answer upstreamAnswer
		// want is what the probe must report.
		want probeExpectation
	}{
		"models, prefix stripped, no quota headers": {
			answer: upstreamAnswer{status: 200, body: geminiModelList},
			want: probeExpectation{
				models: []string{"gemini-2.0-flash", "text-embedding-004"},
				quota: func(t *testing.T, q Quota, _ time.Time) {
					if !q.IsZero() {
						t.Errorf("Quota = %+v, want zero: Gemini sends no rate-limit headers", q)
					}
				},
			},
		},
		"empty list": {
			answer: upstreamAnswer{status: 200, body: `{}`},
			want:   probeExpectation{models: []string{}},
		},
		"400 API_KEY_INVALID": {
			answer: upstreamAnswer{status: 400, body: geminiInvalidKey},
			want:   probeExpectation{reason: InvalidCredentials, message: "API key not valid"},
		},
		"403 PERMISSION_DENIED": {
			answer: upstreamAnswer{status: 403, body: geminiPermission},
			want:   probeExpectation{reason: InvalidCredentials, message: "unregistered callers"},
		},
		"429 per-minute quota with RetryInfo": {
			answer: upstreamAnswer{status: 429, body: geminiPerMinute},
			want:   probeExpectation{reason: RateLimited, message: "You exceeded your current quota", retryAfter: 17 * time.Second},
		},
		"429 per-day quota": {
			answer: upstreamAnswer{status: 429, body: geminiPerDay},
			want:   probeExpectation{reason: QuotaExhausted, message: "You exceeded your current quota", retryAfter: 20044661790 * time.Nanosecond},
		},
		"429 resource exhausted without quota wording": {
			answer: upstreamAnswer{status: 429, body: geminiResourceExhausted},
			want:   probeExpectation{reason: RateLimited, message: "Resource has been exhausted"},
		},
		"500 INTERNAL": {
			answer: upstreamAnswer{status: 500, body: geminiInternal},
			want:   probeExpectation{reason: UpstreamError, message: "An internal error has occurred"},
		},
		"503 UNAVAILABLE": {
			answer: upstreamAnswer{status: 503, body: geminiUnavailable},
			want:   probeExpectation{reason: UpstreamError, message: "The model is overloaded"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv, seen := serveUpstream(t, tc.answer)
			checkProbe(t, &Gemini{}, Endpoint{BaseURL: srv.URL + "/v1beta/openai/"}, testKey, tc.want)
			req := <-seen
			if req.method != http.MethodGet || req.path != "/v1beta/models" || req.query != "pageSize=1000" {
				t.Errorf("request = %s %s?%s, want GET /v1beta/models?pageSize=1000", req.method, req.path, req.query)
			}
			if got := req.header.Get("x-goog-api-key"); got != testKey {
				t.Errorf("x-goog-api-key = %q, want the key", got)
			}
			if req.header.Get("Authorization") != "" {
				t.Errorf("unexpected Authorization header on the native API")
			}
		})
	}
}

func TestGeminiRequestURL(t *testing.T) {
	tests := map[string]struct {
		// operation is the OpenAI operation.
		operation string
		// want is the expected URL; empty when an error is expected.
		want string
		// wantErr is the expected sentinel error.
		wantErr error
	}{
		"chat":               {operation: OperationChatCompletions, want: "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions"},
		"embeddings":         {operation: OperationEmbeddings, want: "https://generativelanguage.googleapis.com/v1beta/openai/embeddings"},
		"models":             {operation: OperationModels, want: "https://generativelanguage.googleapis.com/v1beta/openai/models"},
		"no responses":       {operation: OperationResponses, wantErr: ErrUnsupportedOperation},
		"no legacy complete": {operation: OperationCompletions, wantErr: ErrUnsupportedOperation},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := (&Gemini{}).RequestURL(Endpoint{}, tc.operation, "gemini-2.0-flash")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("URL = %q, want %q", got, tc.want)
			}
		})
	}
}
