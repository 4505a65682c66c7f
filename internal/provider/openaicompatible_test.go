package provider

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// Bodies as vLLM, Ollama and text-embeddings-inference send them.
const (
	vllmModelList = `{
  "object": "list",
  "data": [
    {
      "id": "meta-llama/Llama-3.1-8B-Instruct",
      "object": "model",
      "created": 1732000000,
      "owned_by": "vllm",
      "root": "meta-llama/Llama-3.1-8B-Instruct",
      "parent": null,
      "max_model_len": 8192,
      "permission": [{"id": "modelperm-1", "object": "model_permission", "created": 1732000000, "allow_create_engine": false, "allow_sampling": true, "allow_logprobs": true, "allow_search_indices": false, "allow_view": true, "allow_fine_tuning": false, "organization": "*", "group": null, "is_blocking": false}]
    }
  ]
}`
	ollamaModelList    = `{"object": "list", "data": [{"id": "llama3.2:latest", "object": "model", "created": 1731000000, "owned_by": "library"}, {"id": "nomic-embed-text:latest", "object": "model", "created": 1731000000, "owned_by": "library"}]}`
	vllmUnauthorized   = `{"error": "Unauthorized"}`
	vllmServerError    = `{"error": {"message": "EngineCore encountered an issue.", "type": "InternalServerError", "param": null, "code": 500}}`
	vllmLegacyNotFound = `{"object": "error", "message": "The model does not exist.", "type": "NotFoundError", "param": null, "code": 404}`
)

func TestOpenAICompatibleProbe(t *testing.T) {
	tests := map[string]struct {
		// apiKey is the configured key; empty for a keyless server.
		apiKey string
		// answer is what the upstream answers.
		answer upstreamAnswer
		// want is what the probe must report.
		want probeExpectation
	}{
		"vLLM with a key": {
			apiKey: testKey,
			answer: upstreamAnswer{status: 200, body: vllmModelList},
			want:   probeExpectation{models: []string{"meta-llama/Llama-3.1-8B-Instruct"}},
		},
		"Ollama without a key": {
			answer: upstreamAnswer{status: 200, body: ollamaModelList},
			want:   probeExpectation{models: []string{"llama3.2:latest", "nomic-embed-text:latest"}},
		},
		"vLLM 401 flat error": {
			apiKey: testKey,
			answer: upstreamAnswer{status: 401, body: vllmUnauthorized},
			want:   probeExpectation{reason: InvalidCredentials, message: "Unauthorized"},
		},
		"vLLM 500 numeric code": {
			apiKey: testKey,
			answer: upstreamAnswer{status: 500, body: vllmServerError},
			want:   probeExpectation{reason: UpstreamError, message: "EngineCore encountered an issue."},
		},
		"legacy vLLM top-level error": {
			apiKey: testKey,
			answer: upstreamAnswer{status: 404, body: vllmLegacyNotFound},
			want:   probeExpectation{reason: UpstreamError, message: "unexpected HTTP status 404 Not Found: The model does not exist."},
		},
		"TEI has no model list": {
			answer: upstreamAnswer{status: 404, header: map[string]string{"Content-Type": "text/plain"}},
			want:   probeExpectation{reason: UpstreamError, message: "unexpected HTTP status 404 Not Found: Not Found"},
		},
		"TEI overloaded 429": {
			answer: upstreamAnswer{status: 429, body: `{"error": "Model is overloaded", "error_type": "overloaded"}`},
			want:   probeExpectation{reason: RateLimited, message: "Model is overloaded"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv, seen := serveUpstream(t, tc.answer)
			checkProbe(t, &OpenAICompatible{}, Endpoint{BaseURL: srv.URL + "/v1"}, tc.apiKey, tc.want)
			req := <-seen
			if req.path != "/v1/models" {
				t.Errorf("path = %q, want /v1/models", req.path)
			}
			wantAuth := ""
			if tc.apiKey != "" {
				wantAuth = "Bearer " + tc.apiKey
			}
			if got := req.header.Get("Authorization"); got != wantAuth {
				t.Errorf("Authorization = %q, want %q", got, wantAuth)
			}
		})
	}
}

func TestOpenAICompatibleNeedsBaseURL(t *testing.T) {
	p := &OpenAICompatible{}
	if _, err := p.RequestURL(Endpoint{}, OperationChatCompletions, "m"); !errors.Is(err, ErrInvalidEndpoint) {
		t.Errorf("RequestURL error = %v, want ErrInvalidEndpoint", err)
	}
	_, err := p.Probe(context.Background(), http.DefaultClient, Endpoint{}, testKey)
	if !errors.Is(err, ErrInvalidEndpoint) {
		t.Errorf("Probe error = %v, want ErrInvalidEndpoint", err)
	}
	var pe *ProbeError
	if errors.As(err, &pe) {
		t.Errorf("Probe returned a ProbeError for a configuration error: %v", pe)
	}
	got, err := p.RequestURL(Endpoint{BaseURL: "http://vllm.models.svc:8000/v1"}, OperationEmbeddings, "m")
	if err != nil || got != "http://vllm.models.svc:8000/v1/embeddings" {
		t.Errorf("RequestURL = %q, %v; want http://vllm.models.svc:8000/v1/embeddings", got, err)
	}
}
