package provider

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// Bodies as the Azure OpenAI REST reference documents them (Models - List, ErrorResponse).
const (
	azureModelList = `{
  "data": [
    {
      "status": "succeeded",
      "capabilities": {"fine_tune": false, "inference": true, "completion": false, "chat_completion": true, "embeddings": false},
      "lifecycle_status": "generally-available",
      "deprecation": {"inference": 1767225600},
      "id": "gpt-4o-2024-08-06",
      "created_at": 1722902400,
      "object": "model"
    },
    {
      "status": "succeeded",
      "capabilities": {"fine_tune": false, "inference": true, "completion": false, "chat_completion": false, "embeddings": true},
      "lifecycle_status": "generally-available",
      "deprecation": {"inference": 1767225600},
      "id": "text-embedding-3-small",
      "created_at": 1705968000,
      "object": "model"
    }
  ],
  "object": "list"
}`
	azureUnauthorized = `{"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}`
	azureKeyDisabled  = `{"error": {"code": "AuthenticationTypeDisabled", "message": "Key based authentication is disabled for this resource."}}`
	azureRateLimited  = `{"error": {"code": "429", "message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."}}`
	azureServerError  = `{"error": {"code": "InternalServerError", "message": "The service is temporarily unable to process your request. Please try again later."}}`
	azureNotFound     = `{"error": {"code": "404", "message": "Resource not found"}}`
)

func TestAzureOpenAIProbe(t *testing.T) {
	tests := map[string]struct {
		// answer is what the upstream answers.
		answer upstreamAnswer
		// want is what the probe must report.
		want probeExpectation
	}{
		"models and remaining headers": {
			answer: upstreamAnswer{status: 200, body: azureModelList, header: map[string]string{
				"x-ratelimit-remaining-requests": "119",
				"x-ratelimit-remaining-tokens":   "119000",
			}},
			want: probeExpectation{
				models: []string{"gpt-4o-2024-08-06", "text-embedding-3-small"},
				quota: func(t *testing.T, q Quota, _ time.Time) {
					checkCounts(t, q, nil, i64(119), nil, i64(119000))
					if q.ResetAt != nil {
						t.Errorf("ResetAt = %v, want nil", q.ResetAt)
					}
				},
			},
		},
		"401 invalid key": {
			answer: upstreamAnswer{status: 401, body: azureUnauthorized},
			want:   probeExpectation{reason: InvalidCredentials, message: "Access denied due to invalid subscription key"},
		},
		"403 key auth disabled": {
			answer: upstreamAnswer{status: 403, body: azureKeyDisabled},
			want:   probeExpectation{reason: InvalidCredentials, message: "Key based authentication is disabled"},
		},
		"429 with retry-after-ms and retry-after": {
			answer: upstreamAnswer{status: 429, body: azureRateLimited, header: map[string]string{
				"retry-after": "6", "retry-after-ms": "5500", "x-ratelimit-remaining-requests": "0",
			}},
			want: probeExpectation{reason: RateLimited, message: "exceeded call rate limit", retryAfter: 5500 * time.Millisecond,
				quota: func(t *testing.T, q Quota, _ time.Time) { checkCounts(t, q, nil, i64(0), nil, nil) }},
		},
		"500": {
			answer: upstreamAnswer{status: 500, body: azureServerError},
			want:   probeExpectation{reason: UpstreamError, message: "temporarily unable"},
		},
		"503 empty body": {
			answer: upstreamAnswer{status: 503},
			want:   probeExpectation{reason: UpstreamError, message: "Service Unavailable"},
		},
		"404 wrong endpoint": {
			answer: upstreamAnswer{status: 404, body: azureNotFound},
			want:   probeExpectation{reason: UpstreamError, message: "unexpected HTTP status 404 Not Found: Resource not found"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv, seen := serveUpstream(t, tc.answer)
			checkProbe(t, &AzureOpenAI{}, Endpoint{BaseURL: srv.URL}, testKey, tc.want)
			req := <-seen
			if req.method != http.MethodGet || req.path != "/openai/models" || req.query != "api-version=2024-10-21" {
				t.Errorf("request = %s %s?%s, want GET /openai/models?api-version=2024-10-21", req.method, req.path, req.query)
			}
			if got := req.header.Get("api-key"); got != testKey {
				t.Errorf("api-key header = %q, want the key", got)
			}
			if req.header.Get("Authorization") != "" {
				t.Errorf("unexpected Authorization header")
			}
		})
	}
}

func TestAzureOpenAIProbeV1(t *testing.T) {
	srv, seen := serveUpstream(t, upstreamAnswer{status: 200, body: `{"object":"list","data":[{"id":"gpt-4.1","object":"model","created":1744316542,"owned_by":"system"}]}`})
	checkProbe(t, &AzureOpenAI{}, Endpoint{BaseURL: srv.URL + "/openai/v1", APIVersion: "2025-04-01-preview"}, testKey, probeExpectation{models: []string{"gpt-4.1"}})
	if req := <-seen; req.path != "/openai/v1/models" || req.query != "" {
		t.Errorf("request = %s?%s, want /openai/v1/models", req.path, req.query)
	}
}

func TestAzureOpenAIRequestURL(t *testing.T) {
	const resource = "https://contoso.openai.azure.com"
	tests := map[string]struct {
		// endpoint is the configured endpoint.
		endpoint Endpoint
		// operation is the OpenAI operation.
		operation string
		// model is the deployment name.
		model string
		// want is the expected URL; empty when an error is expected.
		want string
		// wantErr is the expected sentinel error.
		wantErr error
	}{
		"chat on a deployment, default api-version": {
			endpoint: Endpoint{BaseURL: resource}, operation: OperationChatCompletions, model: "gpt-4o-prod",
			want: resource + "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21",
		},
		"explicit api-version": {
			endpoint: Endpoint{BaseURL: resource + "/", APIVersion: "2025-04-01-preview"}, operation: OperationChatCompletions, model: "gpt-4o",
			want: resource + "/openai/deployments/gpt-4o/chat/completions?api-version=2025-04-01-preview",
		},
		"embeddings": {
			endpoint: Endpoint{BaseURL: resource}, operation: OperationEmbeddings, model: "embed.small_v3",
			want: resource + "/openai/deployments/embed.small_v3/embeddings?api-version=2024-10-21",
		},
		"legacy completions": {
			endpoint: Endpoint{BaseURL: resource}, operation: OperationCompletions, model: "instruct",
			want: resource + "/openai/deployments/instruct/completions?api-version=2024-10-21",
		},
		"base ending in /openai": {
			endpoint: Endpoint{BaseURL: resource + "/openai"}, operation: OperationChatCompletions, model: "gpt-4o",
			want: resource + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
		},
		"gateway path prefix": {
			endpoint: Endpoint{BaseURL: "https://apim.example.com/aoai"}, operation: OperationChatCompletions, model: "gpt-4o",
			want: "https://apim.example.com/aoai/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
		},
		"models": {
			endpoint: Endpoint{BaseURL: resource}, operation: OperationModels,
			want: resource + "/openai/models?api-version=2024-10-21",
		},
		"responses use the v1 API": {
			endpoint: Endpoint{BaseURL: resource}, operation: OperationResponses, model: "gpt-4o",
			want: resource + "/openai/v1/responses",
		},
		"v1 base URL": {
			endpoint: Endpoint{BaseURL: resource + "/openai/v1"}, operation: OperationChatCompletions, model: "gpt-4o",
			want: resource + "/openai/v1/chat/completions",
		},
		"missing deployment": {
			endpoint: Endpoint{BaseURL: resource}, operation: OperationChatCompletions, wantErr: ErrInvalidEndpoint,
		},
		"deployment with a slash": {
			endpoint: Endpoint{BaseURL: resource}, operation: OperationChatCompletions, model: "../admin", wantErr: ErrInvalidEndpoint,
		},
		"deployment with a query": {
			endpoint: Endpoint{BaseURL: resource}, operation: OperationChatCompletions, model: "x?api-version=1", wantErr: ErrInvalidEndpoint,
		},
		"no base URL": {
			operation: OperationChatCompletions, model: "gpt-4o", wantErr: ErrInvalidEndpoint,
		},
		"api-version with a query": {
			endpoint: Endpoint{BaseURL: resource, APIVersion: "2024-10-21&x=1"}, operation: OperationModels, wantErr: ErrInvalidEndpoint,
		},
		"unsupported operation": {
			endpoint: Endpoint{BaseURL: resource}, operation: "/images/generations", model: "dalle", wantErr: ErrUnsupportedOperation,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := (&AzureOpenAI{}).RequestURL(tc.endpoint, tc.operation, tc.model)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("URL = %q, want %q", got, tc.want)
			}
		})
	}
}
