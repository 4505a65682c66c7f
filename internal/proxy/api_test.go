package proxy

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/mosaic-dev/mosaic/test/fakeopenai"
)

const basicModels = "  models: [{name: gpt-4o-mini}, {name: simple, target: gpt-4o-mini}, {name: text-embedding-3-small}, {name: gpt-3.5-turbo-instruct}]\n"

func basicProxy(t *testing.T) (*harness, *fakeopenai.Server) {
	up := newUpstream(t, fakeopenai.Options{})
	return startProxy(t, cfgHeader+openaiProvider("openai", "up", basicModels), map[string]*fakeopenai.Server{"up": up}), up
}

func TestChatCompletion(t *testing.T) {
	h, up := basicProxy(t)
	resp, err := h.chat(context.Background(), "gpt-4o-mini", "Say hello")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 1 || resp.Choices[0].Message.Content == "" || resp.Usage.TotalTokens == 0 {
		t.Fatalf("unexpected completion: %+v", resp)
	}
	reqs := up.Requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream got %d requests, want 1", len(reqs))
	}
	if got := reqs[0].Header.Get("Authorization"); got != "Bearer "+testKey {
		t.Errorf("upstream Authorization = %q, want the provider key (the client's placeholder must be dropped)", got)
	}
	if strings.Contains(string(reqs[0].Body), "stream_options") {
		t.Errorf("a non-streaming request must be sent as is: %s", reqs[0].Body)
	}
	lines := h.requestLogs(1)
	if len(lines) != 1 || lines[0]["status"] != float64(200) || lines[0]["prompt_tokens"] == nil || lines[0]["provider"] != "openai" {
		t.Errorf("access log line missing fields: %v", lines)
	}
}

func TestStreamingChat(t *testing.T) {
	tests := map[string]struct {
		// includeUsage is whether the client asks for stream_options.include_usage.
		includeUsage bool
	}{
		"client did not ask for usage: proxy asks and hides the chunk": {includeUsage: false},
		"client asked for usage: it gets the chunk":                    {includeUsage: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h, up := basicProxy(t)
			params := openai.ChatCompletionNewParams{
				Model:    "simple",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me a story")},
			}
			if tc.includeUsage {
				params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			}
			stream := h.client.Chat.Completions.NewStreaming(context.Background(), params)
			var text strings.Builder
			usageChunks := 0
			for stream.Next() {
				c := stream.Current()
				if len(c.Choices) > 0 {
					text.WriteString(c.Choices[0].Delta.Content)
				}
				if c.Usage.TotalTokens > 0 {
					usageChunks++
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if text.Len() == 0 {
				t.Fatal("no content streamed")
			}
			want := 0
			if tc.includeUsage {
				want = 1
			}
			if usageChunks != want {
				t.Errorf("client saw %d usage chunks, want %d", usageChunks, want)
			}
			reqs := up.Requests()
			if len(reqs) != 1 {
				t.Fatalf("upstream got %d requests", len(reqs))
			}
			so, _ := bodyField(t, reqs[0].Body, "stream_options").(map[string]any)
			if so["include_usage"] != true {
				t.Errorf("upstream was not asked for usage: %s", reqs[0].Body)
			}
			if m := bodyField(t, reqs[0].Body, "model"); m != "gpt-4o-mini" {
				t.Errorf("alias not rewritten: model %v", m)
			}
			lines := h.requestLogs(1)
			if len(lines) != 1 || lines[0]["completion_tokens"] == nil || lines[0]["completion_tokens"].(float64) == 0 {
				t.Errorf("streamed usage not counted: %v", lines)
			}
		})
	}
}

func TestEmbeddingsCache(t *testing.T) {
	h, up := basicProxy(t)
	ctx := context.Background()
	embed := func(inputs ...string) *openai.CreateEmbeddingResponse {
		t.Helper()
		resp, err := h.client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model: "text-embedding-3-small",
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Data) != len(inputs) {
			t.Fatalf("got %d embeddings for %d inputs", len(resp.Data), len(inputs))
		}
		for i, d := range resp.Data {
			if int(d.Index) != i || len(d.Embedding) == 0 {
				t.Fatalf("embedding %d has index %d, %d values", i, d.Index, len(d.Embedding))
			}
		}
		return resp
	}
	first := embed("alpha", "beta")
	second := embed("gamma", "alpha", "delta", "beta")

	reqs := up.Requests()
	if len(reqs) != 2 {
		t.Fatalf("upstream got %d requests, want 2", len(reqs))
	}
	input, _ := bodyField(t, reqs[1].Body, "input").([]any)
	if len(input) != 2 || input[0] != "gamma" || input[1] != "delta" {
		t.Errorf("second upstream request should hold only the misses [gamma delta], got %v", input)
	}
	same := func(a, b []float64) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	if !same(second.Data[1].Embedding, first.Data[0].Embedding) || !same(second.Data[3].Embedding, first.Data[1].Embedding) {
		t.Error("cached embeddings differ from the originals or are at the wrong index")
	}
	if same(second.Data[0].Embedding, second.Data[2].Embedding) {
		t.Error("gamma and delta got the same vector")
	}
	if second.Usage.PromptTokens == 0 || second.Usage.PromptTokens >= first.Usage.PromptTokens*2 {
		t.Errorf("usage should be the upstream's for the two misses, got %+v (first %+v)", second.Usage, first.Usage)
	}
	// Everything cached: no upstream request at all.
	third := embed("beta", "gamma")
	if n := up.Count("/v1/embeddings"); n != 2 {
		t.Errorf("a fully cached batch reached the upstream (%d requests)", n)
	}
	if third.Usage.TotalTokens != 0 {
		t.Errorf("a fully cached answer spent no tokens, got %+v", third.Usage)
	}
	// Different dimensions are a different cache key.
	if _, err := h.client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "text-embedding-3-small", Dimensions: openai.Int(8),
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("alpha")}}); err != nil {
		t.Fatal(err)
	}
	if n := up.Count("/v1/embeddings"); n != 3 {
		t.Errorf("dimensions must be part of the cache key: %d upstream requests, want 3", n)
	}
}

func TestResponses(t *testing.T) {
	h, up := basicProxy(t)
	resp, err := h.client.Responses.New(context.Background(), responses.ResponseNewParams{
		Model: "simple",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Write a haiku")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.OutputText() == "" || resp.Usage.TotalTokens == 0 {
		t.Fatalf("empty response: %+v", resp)
	}
	if m := bodyField(t, up.Requests()[0].Body, "model"); m != "gpt-4o-mini" {
		t.Errorf("alias not rewritten for /responses: %v", m)
	}
}

func TestModels(t *testing.T) {
	h, _ := basicProxy(t)
	page, err := h.client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if got := strings.Join(ids, ","); got != "gpt-4o-mini,simple,text-embedding-3-small,gpt-3.5-turbo-instruct" {
		t.Errorf("models = %s", got)
	}
	m, err := h.client.Models.Get(context.Background(), "simple")
	if err != nil || m.OwnedBy != "openai" {
		t.Errorf("Get(simple) = %+v, %v", m, err)
	}
	_, err = h.client.Models.Get(context.Background(), "gpt-5-unknown")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "model_not_found" {
		t.Errorf("unknown model: %v", err)
	}
}

func TestLegacyCompletions(t *testing.T) {
	h, _ := basicProxy(t)
	resp, err := h.client.Completions.New(context.Background(), openai.CompletionNewParams{
		Model:  "gpt-3.5-turbo-instruct",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")},
	})
	if err != nil || len(resp.Choices) == 0 {
		t.Fatalf("completion: %+v, %v", resp, err)
	}
}

func TestRequestErrors(t *testing.T) {
	up := newUpstream(t, fakeopenai.Options{})
	h := startProxy(t, "apiVersion: proxy.llm.mosaic.dev/v1alpha1\nkind: ProxyConfig\nserver: {maxRequestBytes: 1024}\nproviders:\n"+
		openaiProvider("openai", "up", basicModels), map[string]*fakeopenai.Server{"up": up})
	tests := map[string]struct {
		// method and path of the request; body its body.
		method, path, body string
		// status, code and param are the expected answer; message a substring of its message.
		status               int
		code, param, message string
	}{
		"unknown model": {
			method: "POST", path: "/chat/completions", body: `{"model":"gpt-9","messages":[]}`,
			status: 404, code: "model_not_found", param: "model", message: "The model `gpt-9` does not exist",
		},
		"malformed JSON names the problem": {
			method: "POST", path: "/chat/completions", body: `{"model":"gpt-4o-mini","messages":[}`,
			status: 400, code: "invalid_json", message: "invalid character '}' looking for beginning of value (at byte",
		},
		"empty body": {
			method: "POST", path: "/chat/completions", body: ``,
			status: 400, code: "invalid_json", message: "the body is empty",
		},
		"not an object": {
			method: "POST", path: "/embeddings", body: `["a"]`,
			status: 400, code: "invalid_json", message: "must be a JSON object",
		},
		"model of the wrong type": {
			method: "POST", path: "/chat/completions", body: `{"model":4}`,
			status: 400, code: "invalid_type", param: "model", message: "model must be a string",
		},
		"body over maxRequestBytes": {
			method: "POST", path: "/chat/completions", body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("x", 2000) + `"}]}`,
			status: 413, code: "request_too_large", message: "limit of 1024 bytes",
		},
		"wrong method": {
			method: "GET", path: "/chat/completions",
			status: 405, code: "method_not_allowed", message: "use POST",
		},
		"unknown path": {
			method: "POST", path: "/assistants", body: `{}`,
			status: 404, code: "unknown_url", message: "Invalid URL (POST /v1/assistants)",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, h.url+tc.path, strings.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b := make([]byte, 4096)
			n, _ := resp.Body.Read(b)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b[:n])
			}
			msg, _, code, param := errorBody(t, b[:n])
			if code != tc.code || param != tc.param || !strings.Contains(msg, tc.message) {
				t.Errorf("got code %q param %q message %q; want %q %q %q", code, param, msg, tc.code, tc.param, tc.message)
			}
		})
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("refused requests reached the upstream (%d)", n)
	}
	// The SDK parses the proxy's errors.
	_, err := h.chat(context.Background(), "gpt-9", "hi")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" || apiErr.Param != "model" {
		t.Fatalf("SDK error = %#v", err)
	}
}

// TestUpstreamErrorPassThrough checks that a provider's own OpenAI-shaped 4xx reaches the client
// unchanged (and is not retried).
func TestUpstreamErrorPassThrough(t *testing.T) {
	h, up := basicProxy(t)
	up.Inject(fakeopenai.Fault{Status: 400, ErrorType: "invalid_request_error", ErrorCode: "invalid_value", Message: "Invalid value for 'temperature'.", ResetAfterChunks: -1})
	_, err := h.chat(context.Background(), "gpt-4o-mini", "hi")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "invalid_value" {
		t.Fatalf("err = %v", err)
	}
	if n := up.Count("/v1/chat/completions"); n != 1 {
		t.Errorf("a 400 was retried: %d upstream requests", n)
	}
}

func TestFakeProviderEndToEnd(t *testing.T) {
	h := startProxy(t, cfgHeader+"- name: demo\n  type: Fake\n  models: [{name: gpt-4o-mini}, {name: cheap, target: gpt-4o-mini}, {name: text-embedding-3-small}]\n", nil)
	ctx := context.Background()
	resp, err := h.chat(ctx, "cheap", "Hello fake")
	if err != nil || !strings.Contains(resp.Choices[0].Message.Content, "Hello fake") {
		t.Fatalf("chat: %+v %v", resp, err)
	}
	stream := h.client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream please")}})
	n := 0
	for stream.Next() {
		if stream.Current().Usage.TotalTokens > 0 {
			t.Error("the injected usage chunk reached the client")
		}
		n++
	}
	if stream.Err() != nil || n == 0 {
		t.Fatalf("stream: %d chunks, %v", n, stream.Err())
	}
	emb, err := h.client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}}})
	if err != nil || len(emb.Data) != 2 {
		t.Fatalf("embeddings: %v", err)
	}
	lines := h.requestLogs(3)
	if len(lines) != 3 || lines[1]["completion_tokens"] == nil {
		t.Errorf("usage not counted for the fake provider: %v", lines)
	}
}

var _ = option.WithHeader
