package fakeopenai_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/mosaic-dev/mosaic/test/fakeopenai"
)

const testKey = "sk-fake-test-key-0123456789"

// newClient returns an openai-go client for the fake that never retries.
func newClient(s *fakeopenai.Server, key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(s.URL()), option.WithAPIKey(key), option.WithMaxRetries(0))
}

func ptr[T any](v T) *T { return &v }

func TestChatCompletion(t *testing.T) {
	tests := map[string]struct {
		// chunks is Options.Chunks (0 = default).
		chunks int
		// maxTokens and maxCompletionTokens cap the reply when set.
		maxTokens, maxCompletionTokens *int64
		// wantTokens is the expected completion_tokens.
		wantTokens int
		// wantFinish is the expected finish_reason.
		wantFinish string
	}{
		"default length":           {wantTokens: fakeopenai.DefaultChunks, wantFinish: "stop"},
		"configured chunks":        {chunks: 9, wantTokens: 9, wantFinish: "stop"},
		"max_tokens caps":          {chunks: 9, maxTokens: ptr[int64](3), wantTokens: 3, wantFinish: "length"},
		"max_completion_tokens":    {chunks: 9, maxCompletionTokens: ptr[int64](2), wantTokens: 2, wantFinish: "length"},
		"cap above length is moot": {maxTokens: ptr[int64](100), wantTokens: fakeopenai.DefaultChunks, wantFinish: "stop"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := fakeopenai.New(fakeopenai.Options{APIKey: testKey, Chunks: tc.chunks})
			defer s.Close()
			c := newClient(s, testKey)
			prompt := "Say hello to the fake upstream, please."
			params := openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."), openai.UserMessage(prompt)}}
			if tc.maxTokens != nil {
				params.MaxTokens = openai.Int(*tc.maxTokens)
			}
			if tc.maxCompletionTokens != nil {
				params.MaxCompletionTokens = openai.Int(*tc.maxCompletionTokens)
			}
			var resp *http.Response
			got, err := c.Chat.Completions.New(context.Background(), params, option.WithResponseInto(&resp))
			if err != nil {
				t.Fatalf("chat completion: %v", err)
			}
			if got.Object != "chat.completion" || len(got.Choices) != 1 {
				t.Fatalf("object %q with %d choices, want one chat.completion choice", got.Object, len(got.Choices))
			}
			if want := fakeopenai.ReplyText(tc.wantTokens); got.Choices[0].Message.Content != want {
				t.Errorf("content %q, want %q", got.Choices[0].Message.Content, want)
			}
			if got.Choices[0].FinishReason != tc.wantFinish {
				t.Errorf("finish_reason %q, want %q", got.Choices[0].FinishReason, tc.wantFinish)
			}
			wantPrompt := int64(fakeopenai.EstimateTokens("Be brief." + prompt))
			if u := got.Usage; u.PromptTokens != wantPrompt || u.CompletionTokens != int64(tc.wantTokens) || u.TotalTokens != wantPrompt+int64(tc.wantTokens) {
				t.Errorf("usage %d/%d/%d, want %d/%d/%d", u.PromptTokens, u.CompletionTokens, u.TotalTokens, wantPrompt, tc.wantTokens, wantPrompt+int64(tc.wantTokens))
			}
			for _, h := range []string{"x-request-id", "openai-processing-ms", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
				"x-ratelimit-reset-requests", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"} {
				if resp.Header.Get(h) == "" {
					t.Errorf("response lacks header %s", h)
				}
			}
			if s.Count("/v1/chat/completions") != 1 {
				t.Errorf("Count = %d, want 1", s.Count("/v1/chat/completions"))
			}
			rec := s.Requests()
			if len(rec) != 1 || rec[0].Method != http.MethodPost || rec[0].Header.Get("Authorization") != "Bearer "+testKey ||
				!bytes.Contains(rec[0].Body, []byte(prompt)) {
				t.Errorf("recorded request does not match what the SDK sent")
			}
		})
	}
}

func TestChatStreaming(t *testing.T) {
	tests := map[string]struct {
		// includeUsage sets stream_options.include_usage.
		includeUsage bool
	}{
		"without usage": {includeUsage: false},
		"with usage":    {includeUsage: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := fakeopenai.New(fakeopenai.Options{Chunks: 4})
			defer s.Close()
			c := newClient(s, "any")
			params := openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream please")}}
			if tc.includeUsage {
				params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			}
			stream := c.Chat.Completions.NewStreaming(context.Background(), params)
			var acc openai.ChatCompletionAccumulator
			chunks, usageChunks := 0, 0
			for stream.Next() {
				ch := stream.Current()
				acc.AddChunk(ch)
				chunks++
				if ch.JSON.Usage.Valid() && ch.Usage.TotalTokens > 0 {
					usageChunks++
					if len(ch.Choices) != 0 {
						t.Errorf("usage chunk has %d choices, want []", len(ch.Choices))
					}
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			// role chunk + 4 content chunks + finish chunk (+ usage chunk)
			want, wantUsage := 6, 0
			if tc.includeUsage {
				want, wantUsage = 7, 1
			}
			if chunks != want || usageChunks != wantUsage {
				t.Errorf("%d chunks with %d usage chunks, want %d with %d", chunks, usageChunks, want, wantUsage)
			}
			if got := acc.Choices[0].Message.Content; got != fakeopenai.ReplyText(4) {
				t.Errorf("accumulated text %q, want %q", got, fakeopenai.ReplyText(4))
			}
			if acc.Choices[0].FinishReason != "stop" {
				t.Errorf("finish_reason %q, want stop", acc.Choices[0].FinishReason)
			}
			if tc.includeUsage && acc.Usage.CompletionTokens != 4 {
				t.Errorf("usage completion_tokens %d, want 4", acc.Usage.CompletionTokens)
			}
		})
	}
}

// rawStream posts body to path and returns the data lines of the SSE answer.
func rawStream(t *testing.T, s *fakeopenai.Server, path, body string) []string {
	t.Helper()
	resp, err := http.Post(s.URL()+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q, want text/event-stream", ct)
	}
	var data []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = append(data, d)
		}
	}
	return data
}

func TestChatStreamingWireShape(t *testing.T) {
	s := fakeopenai.New(fakeopenai.Options{Chunks: 2})
	defer s.Close()
	with := rawStream(t, s, "/chat/completions", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`)
	if len(with) != 6 || with[5] != "[DONE]" {
		t.Fatalf("got %d data events ending %q, want 6 ending [DONE]", len(with), with[len(with)-1])
	}
	if !strings.Contains(with[0], `"usage":null`) {
		t.Errorf("with include_usage, chunks carry \"usage\":null; got %s", with[0])
	}
	if !strings.Contains(with[4], `"choices":[]`) || !strings.Contains(with[4], `"total_tokens":3`) {
		t.Errorf("usage chunk %s, want choices [] and total_tokens 3", with[4])
	}
	without := rawStream(t, s, "/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	for _, d := range without {
		if strings.Contains(d, `"usage"`) {
			t.Errorf("without include_usage no chunk carries usage; got %s", d)
		}
	}
	if len(without) != 5 {
		t.Errorf("got %d data events, want 5", len(without))
	}
}

func TestCompletions(t *testing.T) {
	tests := map[string]struct {
		// prompt is the request's prompt.
		prompt openai.CompletionNewParamsPromptUnion
		// wantChoices is the number of choices (one per prompt).
		wantChoices int
		// wantPromptTokens is the expected usage.prompt_tokens.
		wantPromptTokens int64
	}{
		"string":        {prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("12345678")}, wantChoices: 1, wantPromptTokens: 2},
		"strings":       {prompt: openai.CompletionNewParamsPromptUnion{OfArrayOfStrings: []string{"abcd", "abcde"}}, wantChoices: 2, wantPromptTokens: 3},
		"tokens":        {prompt: openai.CompletionNewParamsPromptUnion{OfArrayOfTokens: []int64{1, 2, 3}}, wantChoices: 1, wantPromptTokens: 3},
		"token batches": {prompt: openai.CompletionNewParamsPromptUnion{OfArrayOfTokenArrays: [][]int64{{1}, {2, 3}}}, wantChoices: 2, wantPromptTokens: 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := fakeopenai.New(fakeopenai.Options{Chunks: 3})
			defer s.Close()
			c := newClient(s, "k")
			got, err := c.Completions.New(context.Background(), openai.CompletionNewParams{Model: "gpt-3.5-turbo-instruct", Prompt: tc.prompt})
			if err != nil {
				t.Fatalf("completion: %v", err)
			}
			if got.Object != "text_completion" || len(got.Choices) != tc.wantChoices {
				t.Fatalf("object %q with %d choices, want text_completion with %d", got.Object, len(got.Choices), tc.wantChoices)
			}
			for i, ch := range got.Choices {
				if ch.Index != int64(i) || ch.Text != fakeopenai.ReplyText(3) {
					t.Errorf("choice %d: index %d text %q", i, ch.Index, ch.Text)
				}
			}
			if got.Usage.PromptTokens != tc.wantPromptTokens || got.Usage.CompletionTokens != int64(3*tc.wantChoices) {
				t.Errorf("usage %d/%d, want %d/%d", got.Usage.PromptTokens, got.Usage.CompletionTokens, tc.wantPromptTokens, 3*tc.wantChoices)
			}
		})
	}
}

func TestCompletionsStreaming(t *testing.T) {
	s := fakeopenai.New(fakeopenai.Options{Chunks: 3})
	defer s.Close()
	c := newClient(s, "k")
	stream := c.Completions.NewStreaming(context.Background(), openai.CompletionNewParams{
		Model: "gpt-3.5-turbo-instruct", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("hi")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
	var text strings.Builder
	var usage int64
	for stream.Next() {
		ev := stream.Current()
		for _, ch := range ev.Choices {
			text.WriteString(ch.Text)
		}
		usage += ev.Usage.TotalTokens
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if text.String() != fakeopenai.ReplyText(3) || usage != 4 {
		t.Errorf("text %q usage %d, want %q and 4", text.String(), usage, fakeopenai.ReplyText(3))
	}
}

func TestEmbeddings(t *testing.T) {
	tests := map[string]struct {
		// model is the embedding model.
		model string
		// input is the request's input.
		input openai.EmbeddingNewParamsInputUnion
		// dimensions is the requested size (0 = model default).
		dimensions int64
		// wantDims and wantTokens are the expected vector size and usage.
		wantDims, wantTokens int
		// wantInputs are the texts (or token-array JSON) the vectors come from.
		wantInputs []string
	}{
		"one string": {model: "text-embedding-3-small", input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello world")},
			wantDims: 1536, wantTokens: 3, wantInputs: []string{"hello world"}},
		"large default": {model: "text-embedding-3-large", input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")},
			wantDims: 3072, wantTokens: 1, wantInputs: []string{"x"}},
		"batch with dimensions": {model: "text-embedding-3-small", input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "bb", "ccccc"}},
			dimensions: 8, wantDims: 8, wantTokens: 4, wantInputs: []string{"a", "bb", "ccccc"}},
		"token arrays": {model: "text-embedding-3-small", input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokenArrays: [][]int64{{1, 2}, {3}}},
			dimensions: 4, wantDims: 4, wantTokens: 3, wantInputs: []string{"[1,2]", "[3]"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := fakeopenai.New(fakeopenai.Options{})
			defer s.Close()
			params := openai.EmbeddingNewParams{Model: tc.model, Input: tc.input}
			if tc.dimensions > 0 {
				params.Dimensions = openai.Int(tc.dimensions)
			}
			c := newClient(s, "k")
			got, err := c.Embeddings.New(context.Background(), params)
			if err != nil {
				t.Fatalf("embeddings: %v", err)
			}
			if len(got.Data) != len(tc.wantInputs) {
				t.Fatalf("%d embeddings, want %d", len(got.Data), len(tc.wantInputs))
			}
			for i, e := range got.Data {
				want := fakeopenai.EmbeddingVector(tc.wantInputs[i], tc.wantDims)
				if e.Index != int64(i) || len(e.Embedding) != tc.wantDims || float32(e.Embedding[0]) != want[0] {
					t.Errorf("embedding %d: index %d, %d dims, first %v; want index %d, %d dims, first %v", i, e.Index, len(e.Embedding), e.Embedding[0], i, tc.wantDims, want[0])
				}
			}
			if got.Usage.PromptTokens != int64(tc.wantTokens) || got.Usage.TotalTokens != int64(tc.wantTokens) {
				t.Errorf("usage %d/%d, want %d", got.Usage.PromptTokens, got.Usage.TotalTokens, tc.wantTokens)
			}
		})
	}
}

func TestEmbeddingsBase64(t *testing.T) {
	s := fakeopenai.New(fakeopenai.Options{})
	defer s.Close()
	resp, err := http.Post(s.URL()+"/embeddings", "application/json",
		strings.NewReader(`{"model":"text-embedding-3-small","input":["a","b"],"encoding_format":"base64","dimensions":3}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data []struct {
			Index     int    `json:"index"`
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("decoding: %v", err)
	}
	for i, in := range []string{"a", "b"} {
		raw, err := base64.StdEncoding.DecodeString(body.Data[i].Embedding)
		if err != nil || len(raw) != 12 {
			t.Fatalf("embedding %d: %d bytes, err %v; want 12", i, len(raw), err)
		}
		want := fakeopenai.EmbeddingVector(in, 3)
		for j := range 3 {
			if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:])); got != want[j] {
				t.Errorf("embedding %d[%d] = %v, want %v", i, j, got, want[j])
			}
		}
	}
}

func TestResponses(t *testing.T) {
	s := fakeopenai.New(fakeopenai.Options{Chunks: 3})
	defer s.Close()
	c := newClient(s, "k")
	params := responses.ResponseNewParams{Model: "gpt-4o-mini", Instructions: openai.String("Be kind."),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Tell me a story")}}
	got, err := c.Responses.New(context.Background(), params)
	if err != nil {
		t.Fatalf("responses: %v", err)
	}
	wantIn := int64(fakeopenai.EstimateTokens("Be kind.Tell me a story"))
	if got.Object != "response" || got.Status != "completed" || got.OutputText() != fakeopenai.ReplyText(3) {
		t.Errorf("object %q status %q text %q", got.Object, got.Status, got.OutputText())
	}
	if got.Usage.InputTokens != wantIn || got.Usage.OutputTokens != 3 || got.Usage.TotalTokens != wantIn+3 {
		t.Errorf("usage %d/%d/%d, want %d/3/%d", got.Usage.InputTokens, got.Usage.OutputTokens, got.Usage.TotalTokens, wantIn, wantIn+3)
	}

	stream := c.Responses.NewStreaming(context.Background(), params)
	var deltas strings.Builder
	var completed *responses.Response
	var types []string
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.output_text.delta":
			deltas.WriteString(ev.Delta)
		case "response.completed":
			r := ev.AsResponseCompleted().Response
			completed = &r
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if deltas.String() != fakeopenai.ReplyText(3) || completed == nil || completed.Usage.OutputTokens != 3 {
		t.Errorf("streamed %q, events %v", deltas.String(), types)
	}
}

func TestModels(t *testing.T) {
	s := fakeopenai.New(fakeopenai.Options{Models: []string{"gpt-4o-mini", "text-embedding-3-small"}})
	defer s.Close()
	c := newClient(s, "k")
	page, err := c.Models.List(context.Background())
	if err != nil {
		t.Fatalf("models: %v", err)
	}
	if len(page.Data) != 2 || page.Data[0].ID != "gpt-4o-mini" || page.Data[0].Object != "model" {
		t.Errorf("models %+v", page.Data)
	}
	_, err = c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-unknown",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "model_not_found" || apiErr.Type != "invalid_request_error" {
		t.Fatalf("unknown model: %v, want 404 model_not_found", err)
	}
}

func TestRequestErrors(t *testing.T) {
	tests := map[string]struct {
		// path and body are the raw request.
		path, body string
		// auth is the Authorization header ("" = none).
		auth string
		// wantStatus, wantType, wantCode and wantParam are the expected error.
		wantStatus                    int
		wantType, wantCode, wantParam string
	}{
		"malformed JSON":     {path: "/chat/completions", body: `{"model":`, auth: "Bearer " + testKey, wantStatus: 400, wantType: "invalid_request_error"},
		"missing messages":   {path: "/chat/completions", body: `{"model":"m"}`, auth: "Bearer " + testKey, wantStatus: 400, wantType: "invalid_request_error", wantCode: "missing_required_parameter", wantParam: "messages"},
		"stream_options off": {path: "/chat/completions", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}`, auth: "Bearer " + testKey, wantStatus: 400, wantType: "invalid_request_error", wantParam: "stream_options"},
		"wrong key":          {path: "/chat/completions", body: `{}`, auth: "Bearer sk-wrong", wantStatus: 401, wantType: "invalid_request_error", wantCode: "invalid_api_key"},
		"no key":             {path: "/models", auth: "", wantStatus: 401, wantType: "invalid_request_error"},
		"empty input":        {path: "/embeddings", body: `{"model":"text-embedding-3-small","input":""}`, auth: "Bearer " + testKey, wantStatus: 400, wantType: "invalid_request_error"},
		"unknown path":       {path: "/nope", body: `{}`, auth: "Bearer " + testKey, wantStatus: 404, wantType: "invalid_request_error"},
	}
	s := fakeopenai.New(fakeopenai.Options{APIKey: testKey})
	defer s.Close()
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			method := http.MethodPost
			if tc.body == "" {
				method = http.MethodGet
			}
			req, _ := http.NewRequest(method, s.URL()+tc.path, strings.NewReader(tc.body))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var body struct {
				Error map[string]any `json:"error"`
			}
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("error body is not JSON: %v", err)
			}
			for _, k := range []string{"message", "type", "param", "code"} {
				if _, ok := body.Error[k]; !ok {
					t.Errorf("error body lacks %q", k)
				}
			}
			str := func(k string) string { s, _ := body.Error[k].(string); return s }
			if resp.StatusCode != tc.wantStatus || str("type") != tc.wantType || str("code") != tc.wantCode || str("param") != tc.wantParam {
				t.Errorf("got %d type=%q code=%q param=%q, want %d %q %q %q", resp.StatusCode, str("type"), str("code"), str("param"),
					tc.wantStatus, tc.wantType, tc.wantCode, tc.wantParam)
			}
			if strings.Contains(string(raw), "sk-") {
				t.Errorf("error body echoes a key")
			}
		})
	}
}

func TestSetAPIKey(t *testing.T) {
	s := fakeopenai.New(fakeopenai.Options{APIKey: "sk-old"})
	defer s.Close()
	oldKey, newKey := newClient(s, "sk-old"), newClient(s, "sk-new")
	if _, err := oldKey.Models.List(context.Background()); err != nil {
		t.Fatalf("old key before rotation: %v", err)
	}
	s.SetAPIKey("sk-new")
	var apiErr *openai.Error
	if _, err := oldKey.Models.List(context.Background()); !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Code != "invalid_api_key" {
		t.Errorf("old key after rotation: %v, want 401 invalid_api_key", err)
	}
	if _, err := newKey.Models.List(context.Background()); err != nil {
		t.Errorf("new key after rotation: %v", err)
	}
}

func TestFaults(t *testing.T) {
	tests := map[string]struct {
		// fault is injected before the request.
		fault fakeopenai.Fault
		// stream makes the request a streaming chat completion.
		stream bool
		// timeout bounds the request (0 = none).
		timeout time.Duration
		// wantStatus is the API error status (0 = not an API error).
		wantStatus int
		// wantType and wantCode are the API error's type and code.
		wantType, wantCode string
		// wantRetryAfter is the expected Retry-After header.
		wantRetryAfter string
		// wantErr matches the non-API error (substring); "" = no error expected.
		wantErr string
		// wantContent is the content received before a stream broke.
		wantContent string
		// wantTestHeader expects the injected header "x-test: 1".
		wantTestHeader bool
	}{
		"rate limited with retry-after":    {fault: fakeopenai.RateLimited("2"), wantStatus: 429, wantType: "requests", wantCode: "rate_limit_exceeded", wantRetryAfter: "2"},
		"rate limited without retry-after": {fault: fakeopenai.RateLimited(""), wantStatus: 429, wantType: "requests", wantCode: "rate_limit_exceeded"},
		"insufficient quota":               {fault: fakeopenai.InsufficientQuota(), wantStatus: 429, wantType: "insufficient_quota", wantCode: "insufficient_quota"},
		"500":                              {fault: fakeopenai.ServerError(500), wantStatus: 500, wantType: "server_error"},
		"502":                              {fault: fakeopenai.ServerError(502), wantStatus: 502, wantType: "server_error"},
		"503 on a stream":                  {fault: fakeopenai.ServerError(503), stream: true, wantStatus: 503, wantType: "server_error"},
		"hang":                             {fault: fakeopenai.Hang(), timeout: 200 * time.Millisecond, wantErr: "context deadline exceeded"},
		"reset before headers":             {fault: fakeopenai.ResetBeforeHeaders(), wantErr: "connection reset"},
		"reset before headers, stream":     {fault: fakeopenai.ResetBeforeHeaders(), stream: true, wantErr: "connection reset"},
		"reset mid-stream":                 {fault: fakeopenai.ResetMidStream(3), stream: true, wantErr: "connection reset", wantContent: fakeopenai.ReplyText(2)},
		"reset mid-body":                   {fault: fakeopenai.ResetMidStream(0), wantErr: "connection reset"},
		"malformed JSON":                   {fault: fakeopenai.MalformedJSON(), wantErr: "unexpected EOF"},
		"malformed JSON on a stream":       {fault: fakeopenai.MalformedJSON(), stream: true, wantErr: "invalid character"},
		"slow chunks still complete":       {fault: fakeopenai.SlowChunks(time.Millisecond), stream: true, wantContent: fakeopenai.ReplyText(5)},
		"extra headers":                    {fault: fakeopenai.Fault{ResetAfterChunks: -1, Headers: map[string]string{"x-test": "1"}}, wantContent: fakeopenai.ReplyText(5), wantTestHeader: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := fakeopenai.New(fakeopenai.Options{})
			defer s.Close()
			s.Inject(tc.fault)
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			c := newClient(s, "k")
			params := openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
			var resp *http.Response
			var content string
			var err error
			if tc.stream {
				stream := c.Chat.Completions.NewStreaming(ctx, params, option.WithResponseInto(&resp))
				var acc openai.ChatCompletionAccumulator
				for stream.Next() {
					acc.AddChunk(stream.Current())
				}
				err = stream.Err()
				if len(acc.Choices) > 0 {
					content = acc.Choices[0].Message.Content
				}
			} else {
				var got *openai.ChatCompletion
				got, err = c.Chat.Completions.New(ctx, params, option.WithResponseInto(&resp))
				if err == nil {
					content = got.Choices[0].Message.Content
				}
			}
			var apiErr *openai.Error
			switch {
			case tc.wantStatus != 0:
				if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.wantStatus || apiErr.Type != tc.wantType || apiErr.Code != tc.wantCode {
					t.Fatalf("got %v, want API error %d type %q code %q", err, tc.wantStatus, tc.wantType, tc.wantCode)
				}
				if got := apiErr.Response.Header.Get("Retry-After"); got != tc.wantRetryAfter {
					t.Errorf("Retry-After %q, want %q", got, tc.wantRetryAfter)
				}
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatalf("unexpected error: %v", err)
			}
			if content != tc.wantContent {
				t.Errorf("content %q, want %q", content, tc.wantContent)
			}
			if tc.wantTestHeader && resp.Header.Get("x-test") != "1" {
				t.Errorf("injected header missing")
			}
			if s.Pending() != 0 {
				t.Errorf("fault not consumed")
			}
			// The next request is served normally.
			if _, err := c.Chat.Completions.New(context.Background(), params); err != nil {
				t.Errorf("request after the fault: %v", err)
			}
		})
	}
}

func TestFaultsApplyInOrder(t *testing.T) {
	s := fakeopenai.New(fakeopenai.Options{})
	defer s.Close()
	s.Inject(fakeopenai.ServerError(500), fakeopenai.RateLimited("1"))
	c := newClient(s, "k")
	var statuses []int
	for range 3 {
		_, err := c.Models.List(context.Background())
		var apiErr *openai.Error
		switch {
		case errors.As(err, &apiErr):
			statuses = append(statuses, apiErr.StatusCode)
		case err != nil:
			t.Fatalf("unexpected error: %v", err)
		default:
			statuses = append(statuses, 200)
		}
	}
	if want := []int{500, 429, 200}; !slicesEqual(statuses, want) {
		t.Errorf("statuses %v, want %v", statuses, want)
	}
	if s.Count("/v1/models") != 3 || s.Count("models") != 3 {
		t.Errorf("Count = %d, want 3", s.Count("/v1/models"))
	}
}

func TestSlowChunksPause(t *testing.T) {
	// A lower bound only: the chunks cannot arrive sooner than their delays.
	s := fakeopenai.New(fakeopenai.Options{Chunks: 3})
	defer s.Close()
	s.Inject(fakeopenai.SlowChunks(20 * time.Millisecond))
	start := time.Now()
	data := rawStream(t, s, "/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if elapsed := time.Since(start); elapsed < 60*time.Millisecond || len(data) != 6 {
		t.Errorf("%d events in %v, want 6 events taking at least 60ms", len(data), elapsed)
	}
}

func slicesEqual(a, b []int) bool {
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
