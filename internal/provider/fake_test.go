package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	clocktesting "k8s.io/utils/clock/testing"
)

var fakeNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// newFakeSDKClient returns the official OpenAI SDK wired to a Fake provider.
func newFakeSDKClient() openai.Client {
	f := &Fake{Clock: clocktesting.NewFakePassiveClock(fakeNow)}
	return openai.NewClient(
		option.WithAPIKey("placeholder"),
		option.WithBaseURL(FakeDefaultBaseURL),
		option.WithHTTPClient(&http.Client{Transport: f.RoundTripper()}),
		option.WithMaxRetries(0),
	)
}

const fakeUserText = "Hello there, please summarise the quarterly numbers for me."

var fakeChatParams = openai.ChatCompletionNewParams{
	Model: openai.ChatModelGPT4oMini,
	Messages: []openai.ChatCompletionMessageParamUnion{
		openai.SystemMessage("You are terse."),
		openai.UserMessage(fakeUserText),
	},
}

func TestFakeChatCompletionWithSDK(t *testing.T) {
	ctx := context.Background()
	client := newFakeSDKClient()
	wantReply := "Mosaic fake reply to: " + fakeUserText
	wantPrompt := fakeTokens("You are terse.") + fakeTokens(fakeUserText)

	t.Run("non-streaming", func(t *testing.T) {
		c, err := client.Chat.Completions.New(ctx, fakeChatParams)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(c.ID, "chatcmpl-") || c.Object != "chat.completion" || c.Model != "gpt-4o-mini" || c.Created != fakeNow.Unix() {
			t.Errorf("id/object/model/created = %q/%q/%q/%d", c.ID, c.Object, c.Model, c.Created)
		}
		if len(c.Choices) != 1 || c.Choices[0].Message.Content != wantReply || c.Choices[0].FinishReason != "stop" || c.Choices[0].Message.Role != "assistant" {
			t.Fatalf("choices = %+v, want one %q stop", c.Choices, wantReply)
		}
		u := c.Usage
		if u.PromptTokens != wantPrompt || u.CompletionTokens != fakeTokens(wantReply) || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
			t.Errorf("usage = %d+%d=%d, want %d+%d", u.PromptTokens, u.CompletionTokens, u.TotalTokens, wantPrompt, fakeTokens(wantReply))
		}
	})

	t.Run("max_tokens cuts the answer", func(t *testing.T) {
		p := fakeChatParams
		p.MaxTokens = openai.Int(3)
		c, err := client.Chat.Completions.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Choices[0]; got.FinishReason != "length" || got.Message.Content != string([]rune(wantReply)[:12]) {
			t.Errorf("choice = %q (%s), want the first 12 runes and length", got.Message.Content, got.FinishReason)
		}
		if c.Usage.CompletionTokens != 3 {
			t.Errorf("completion tokens = %d, want 3", c.Usage.CompletionTokens)
		}
	})

	t.Run("n choices", func(t *testing.T) {
		p := fakeChatParams
		p.N = openai.Int(3)
		c, err := client.Chat.Completions.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Choices) != 3 || c.Choices[2].Index != 2 || c.Usage.CompletionTokens != 3*fakeTokens(wantReply) {
			t.Errorf("got %d choices, usage %d", len(c.Choices), c.Usage.CompletionTokens)
		}
	})

	t.Run("streaming with include_usage", func(t *testing.T) {
		p := fakeChatParams
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		stream := client.Chat.Completions.NewStreaming(ctx, p)
		var acc openai.ChatCompletionAccumulator
		chunks, usageChunks := 0, 0
		for stream.Next() {
			chunk := stream.Current()
			if chunk.Object != "chat.completion.chunk" {
				t.Errorf("chunk object = %q", chunk.Object)
			}
			if chunk.Usage.TotalTokens > 0 {
				usageChunks++
				if len(chunk.Choices) != 0 {
					t.Errorf("usage chunk has %d choices, want 0", len(chunk.Choices))
				}
			}
			if !acc.AddChunk(chunk) {
				t.Fatalf("accumulator rejected chunk %d: %s", chunks, chunk.RawJSON())
			}
			chunks++
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if usageChunks != 1 {
			t.Errorf("%d usage chunks, want 1 (the last)", usageChunks)
		}
		if got := acc.Choices[0].Message.Content; got != wantReply {
			t.Errorf("streamed content = %q, want %q", got, wantReply)
		}
		if acc.Choices[0].FinishReason != "stop" {
			t.Errorf("finish_reason = %q", acc.Choices[0].FinishReason)
		}
		if acc.Usage.PromptTokens != wantPrompt || acc.Usage.TotalTokens != wantPrompt+fakeTokens(wantReply) {
			t.Errorf("usage = %+v", acc.Usage)
		}
		if chunks < 4 {
			t.Errorf("%d chunks, want a role chunk, several content chunks, a finish chunk and usage", chunks)
		}
	})

	t.Run("streaming without include_usage", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, fakeChatParams)
		var text strings.Builder
		for stream.Next() {
			chunk := stream.Current()
			if chunk.JSON.Usage.Valid() {
				t.Errorf("chunk carries usage though include_usage was not asked: %s", chunk.RawJSON())
			}
			if len(chunk.Choices) > 0 {
				text.WriteString(chunk.Choices[0].Delta.Content)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if text.String() != wantReply {
			t.Errorf("streamed text = %q, want %q", text.String(), wantReply)
		}
	})

	t.Run("unknown model", func(t *testing.T) {
		p := fakeChatParams
		p.Model = "gpt-9"
		_, err := client.Chat.Completions.New(ctx, p)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "model_not_found" {
			t.Fatalf("error = %v, want 404 model_not_found", err)
		}
	})
}

func TestFakeEmbeddingsWithSDK(t *testing.T) {
	ctx := context.Background()
	client := newFakeSDKClient()
	inputs := []string{"the quick brown fox", "jumps over the lazy dog"}
	params := func(format openai.EmbeddingNewParamsEncodingFormat, dims int64) openai.EmbeddingNewParams {
		p := openai.EmbeddingNewParams{
			Model:          openai.EmbeddingModelTextEmbedding3Small,
			Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
			EncodingFormat: format,
		}
		if dims > 0 {
			p.Dimensions = openai.Int(dims)
		}
		return p
	}
	asFloat, err := client.Embeddings.New(ctx, params(openai.EmbeddingNewParamsEncodingFormatFloat, 0))
	if err != nil {
		t.Fatal(err)
	}
	asBase64, err := client.Embeddings.New(ctx, params(openai.EmbeddingNewParamsEncodingFormatBase64, 0))
	if err != nil {
		t.Fatal(err)
	}
	short, err := client.Embeddings.New(ctx, params(openai.EmbeddingNewParamsEncodingFormatBase64, 256))
	if err != nil {
		t.Fatal(err)
	}
	if len(asFloat.Data) != 2 || asFloat.Object != "list" || asFloat.Model != "text-embedding-3-small" {
		t.Fatalf("list = %d items, object %q, model %q", len(asFloat.Data), asFloat.Object, asFloat.Model)
	}
	wantTokens := fakeTokens(inputs[0]) + fakeTokens(inputs[1])
	if asFloat.Usage.PromptTokens != wantTokens || asFloat.Usage.TotalTokens != wantTokens {
		t.Errorf("usage = %+v, want %d", asFloat.Usage, wantTokens)
	}
	for i := range inputs {
		f, b, s := asFloat.Data[i].Embedding, asBase64.Data[i].Embedding, short.Data[i].Embedding
		if len(f) != 1536 || len(b) != 1536 || len(s) != 256 {
			t.Fatalf("dimensions = %d/%d/%d, want 1536/1536/256", len(f), len(b), len(s))
		}
		if !slices.Equal(toFloat32(f), toFloat32(b)) {
			t.Errorf("input %d: base64 vector differs from float vector", i)
		}
		for _, v := range [][]float64{f, s} {
			if n := norm(v); math.Abs(n-1) > 1e-5 {
				t.Errorf("input %d: norm = %v, want 1", i, n)
			}
		}
		if cos := dot(f[:256], s) / norm(f[:256]); math.Abs(cos-1) > 1e-5 {
			t.Errorf("input %d: shortened vector is not the normalised prefix (cosine %v)", i, cos)
		}
	}
	if slices.Equal(asFloat.Data[0].Embedding, asFloat.Data[1].Embedding) {
		t.Error("different inputs have equal vectors")
	}
	again, err := client.Embeddings.New(ctx, params(openai.EmbeddingNewParamsEncodingFormatFloat, 0))
	if err != nil || !slices.Equal(again.Data[0].Embedding, asFloat.Data[0].Embedding) {
		t.Errorf("vectors are not deterministic (err %v)", err)
	}
}

// toFloat32 rounds to the float32 values the API encodes (JSON floats are printed at float32
// precision, base64 carries the exact float32 bits).
func toFloat32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = float32(f)
	}
	return out
}

func norm(v []float64) float64 { return math.Sqrt(dot(v, v)) }

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func TestFakeCompletionsWithSDK(t *testing.T) {
	ctx := context.Background()
	client := newFakeSDKClient()
	params := openai.CompletionNewParams{
		Model:     openai.CompletionNewParamsModelGPT3_5TurboInstruct,
		Prompt:    openai.CompletionNewParamsPromptUnion{OfString: openai.String("Say this is a test")},
		MaxTokens: openai.Int(100),
	}
	want := "Mosaic fake reply to: Say this is a test"
	c, err := client.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if c.Object != "text_completion" || len(c.Choices) != 1 || c.Choices[0].Text != want || c.Choices[0].FinishReason != "stop" {
		t.Fatalf("completion = %s", c.RawJSON())
	}
	if c.Usage.PromptTokens != fakeTokens("Say this is a test") || c.Usage.CompletionTokens != fakeTokens(want) {
		t.Errorf("usage = %+v", c.Usage)
	}

	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := client.Completions.NewStreaming(ctx, params)
	var text strings.Builder
	var total int64
	for stream.Next() {
		chunk := stream.Current()
		for _, ch := range chunk.Choices {
			text.WriteString(ch.Text)
		}
		total += chunk.Usage.TotalTokens
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != want || total != c.Usage.TotalTokens {
		t.Errorf("streamed %q with %d tokens, want %q with %d", text.String(), total, want, c.Usage.TotalTokens)
	}
}

func TestFakeResponsesWithSDK(t *testing.T) {
	ctx := context.Background()
	client := newFakeSDKClient()
	params := responses.ResponseNewParams{
		Model:        openai.ChatModelGPT4oMini,
		Instructions: openai.String("Be brief."),
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage(fakeUserText, responses.EasyInputMessageRoleUser),
		}},
	}
	want := "Mosaic fake reply to: " + fakeUserText
	wantInput := fakeTokens(fakeUserText) + fakeTokens("Be brief.")

	r, err := client.Responses.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if r.Object != "response" || r.Status != "completed" || r.OutputText() != want || r.CreatedAt != float64(fakeNow.Unix()) {
		t.Fatalf("response = %s", r.RawJSON())
	}
	if r.Usage.InputTokens != wantInput || r.Usage.OutputTokens != fakeTokens(want) || r.Usage.TotalTokens != wantInput+fakeTokens(want) {
		t.Errorf("usage = %+v", r.Usage)
	}

	stream := client.Responses.NewStreaming(ctx, params)
	var deltas strings.Builder
	var types []string
	var completed responses.Response
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.output_text.delta":
			deltas.WriteString(ev.Delta)
		case "response.completed":
			completed = ev.Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if deltas.String() != want || completed.OutputText() != want || completed.Usage.TotalTokens != r.Usage.TotalTokens {
		t.Errorf("streamed %q, completed %q (%d tokens)", deltas.String(), completed.OutputText(), completed.Usage.TotalTokens)
	}
	if types[0] != "response.created" || types[len(types)-1] != "response.completed" {
		t.Errorf("event types = %v", types)
	}
}

func TestFakeModelsWithSDK(t *testing.T) {
	client := newFakeSDKClient()
	page, err := client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if !slices.Equal(ids, FakeModels()) || !slices.Contains(ids, "gpt-4o-mini") || !slices.Contains(ids, "gpt-4o") || !slices.Contains(ids, "text-embedding-3-small") {
		t.Errorf("models = %v, want %v", ids, FakeModels())
	}
	m, err := client.Models.Get(context.Background(), "gpt-4o")
	if err != nil || m.ID != "gpt-4o" || m.OwnedBy != "system" {
		t.Errorf("Get(gpt-4o) = %+v, %v", m, err)
	}
}

func TestFakeProbe(t *testing.T) {
	res, err := (&Fake{}).Probe(context.Background(), nil, Endpoint{}, "any")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Models, FakeModels()) || res.HTTPStatus != http.StatusOK {
		t.Errorf("result = %+v", res)
	}
	checkCounts(t, res.Quota, i64(fakeRequestsLimit), i64(fakeRequestsLimit-1), i64(fakeTokensLimit), i64(fakeTokensLimit))
	if res.Quota.ResetAt == nil {
		t.Error("ResetAt = nil, want the reset the fake reports")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = (&Fake{}).Probe(ctx, nil, Endpoint{}, "any")
	var pe *ProbeError
	if !errors.As(err, &pe) || pe.Reason != Unreachable {
		t.Errorf("probe with a canceled context: %v, want Unreachable", err)
	}
}

func TestFakeRequestURL(t *testing.T) {
	got, err := (&Fake{}).RequestURL(Endpoint{}, OperationChatCompletions, "gpt-4o-mini")
	if err != nil || got != "fake://mosaic/v1/chat/completions" {
		t.Errorf("RequestURL = %q, %v", got, err)
	}
	if _, err := (&Fake{}).RequestURL(Endpoint{}, "/audio/speech", ""); !errors.Is(err, ErrUnsupportedOperation) {
		t.Errorf("error = %v, want ErrUnsupportedOperation", err)
	}
}

func TestFakeErrors(t *testing.T) {
	tests := map[string]struct {
		// method and path of the request.
		method, path string
		// body is the request body.
		body string
		// wantStatus is the expected HTTP status.
		wantStatus int
		// wantParam is the expected error.param; "" for null.
		wantParam string
		// wantMessage is a substring of error.message.
		wantMessage string
	}{
		"bad JSON":                     {method: "POST", path: "/v1/chat/completions", body: `{"model":`, wantStatus: 400, wantMessage: "could not parse the JSON body"},
		"no model":                     {method: "POST", path: "/v1/chat/completions", body: `{"messages":[]}`, wantStatus: 400, wantMessage: "you must provide a model parameter"},
		"no messages":                  {method: "POST", path: "/v1/chat/completions", body: `{"model":"gpt-4o"}`, wantStatus: 400, wantParam: "messages", wantMessage: "Missing required parameter: 'messages'"},
		"empty messages":               {method: "POST", path: "/v1/chat/completions", body: `{"model":"gpt-4o","messages":[]}`, wantStatus: 400, wantParam: "messages"},
		"bad content":                  {method: "POST", path: "/v1/chat/completions", body: `{"model":"gpt-4o","messages":[{"role":"user","content":7}]}`, wantStatus: 400, wantParam: "messages[0].content"},
		"stream_options, no stream":    {method: "POST", path: "/v1/chat/completions", body: `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}`, wantStatus: 400, wantParam: "stream_options"},
		"max_tokens zero":              {method: "POST", path: "/v1/chat/completions", body: `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"max_tokens":0}`, wantStatus: 400, wantParam: "max_tokens"},
		"chat with an embedding model": {method: "POST", path: "/v1/chat/completions", body: `{"model":"text-embedding-3-small","messages":[{"role":"user","content":"x"}]}`, wantStatus: 400, wantParam: "model"},
		"embeddings with a chat model": {method: "POST", path: "/v1/embeddings", body: `{"model":"gpt-4o","input":"x"}`, wantStatus: 400, wantParam: "model"},
		"embeddings, dims too large":   {method: "POST", path: "/v1/embeddings", body: `{"model":"text-embedding-3-small","input":"x","dimensions":4096}`, wantStatus: 400, wantParam: "dimensions"},
		"embeddings, dims on ada":      {method: "POST", path: "/v1/embeddings", body: `{"model":"text-embedding-ada-002","input":"x","dimensions":8}`, wantStatus: 400, wantParam: "dimensions"},
		"embeddings, bad format":       {method: "POST", path: "/v1/embeddings", body: `{"model":"text-embedding-3-small","input":"x","encoding_format":"hex"}`, wantStatus: 400, wantParam: "encoding_format"},
		"embeddings, empty string":     {method: "POST", path: "/v1/embeddings", body: `{"model":"text-embedding-3-small","input":["a",""]}`, wantStatus: 400, wantParam: "input[1]"},
		"embeddings, no input":         {method: "POST", path: "/v1/embeddings", body: `{"model":"text-embedding-3-small"}`, wantStatus: 400, wantParam: "input"},
		"embeddings, object input":     {method: "POST", path: "/v1/embeddings", body: `{"model":"text-embedding-3-small","input":{}}`, wantStatus: 400, wantParam: "input"},
		"responses, no input":          {method: "POST", path: "/v1/responses", body: `{"model":"gpt-4o"}`, wantStatus: 400, wantParam: "input"},
		"unknown model on GET":         {method: "GET", path: "/v1/models/gpt-9", wantStatus: 404, wantParam: "model"},
		"wrong method":                 {method: "GET", path: "/v1/chat/completions", wantStatus: 405, wantMessage: "Invalid method for URL (GET /v1/chat/completions)"},
		"unknown path":                 {method: "POST", path: "/v1/audio/speech", body: `{}`, wantStatus: 404, wantMessage: "Invalid URL (POST /v1/audio/speech)"},
	}
	rt := (&Fake{}).RoundTripper()
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, "fake://mosaic"+tc.path, strings.NewReader(tc.body))
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			var e struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Type == "" {
				t.Fatalf("body is not an OpenAI error: %s", body)
			}
			gotParam := ""
			if e.Error.Param != nil {
				gotParam = *e.Error.Param
			}
			if gotParam != tc.wantParam {
				t.Errorf("param = %q, want %q", gotParam, tc.wantParam)
			}
			if !strings.Contains(e.Error.Message, tc.wantMessage) {
				t.Errorf("message = %q, want it to contain %q", e.Error.Message, tc.wantMessage)
			}
		})
	}
}

func TestFakeIsDeterministic(t *testing.T) {
	rt := (&Fake{Clock: clocktesting.NewFakePassiveClock(fakeNow)}).RoundTripper()
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:,"}}]}],"stream":true}`
	var answers [2][]byte
	for i := range answers {
		req, _ := http.NewRequest(http.MethodPost, "fake://mosaic/v1/chat/completions", strings.NewReader(body))
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		answers[i], _ = io.ReadAll(resp.Body)
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Errorf("Content-Type = %q", ct)
		}
	}
	if !bytes.Equal(answers[0], answers[1]) {
		t.Error("equal requests got different answers")
	}
	if !bytes.HasSuffix(answers[0], []byte("data: [DONE]\n\n")) {
		t.Errorf("stream does not end with [DONE]: %q", answers[0])
	}
}

func FuzzFakeRoundTrip(f *testing.F) {
	for _, s := range []string{
		`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"text-embedding-3-small","input":[[1,2,3]],"encoding_format":"base64","dimensions":3}`,
		`{"model":"gpt-4o","input":[{"role":"user","content":[{"type":"input_text","text":"x"}]}],"stream":true,"max_output_tokens":16}`,
		`{"model":"gpt-3.5-turbo-instruct","prompt":["a","b"],"n":2,"max_tokens":0}`,
	} {
		for _, p := range []string{OperationChatCompletions, OperationEmbeddings, OperationResponses, OperationCompletions} {
			f.Add(p, []byte(s))
		}
	}
	rt := (&Fake{}).RoundTripper()
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		req, err := http.NewRequest(http.MethodPost, "fake://mosaic/v1", bytes.NewReader(body))
		if err != nil {
			return
		}
		req.URL.Path = "/v1" + path
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatalf("RoundTrip: %v", err)
		}
		out, _ := io.ReadAll(resp.Body)
		switch {
		case resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream"):
			if !bytes.HasPrefix(out, []byte("data: ")) && !bytes.HasPrefix(out, []byte("event: ")) {
				t.Fatalf("bad SSE body %q", out)
			}
		case !json.Valid(out):
			t.Fatalf("status %d with invalid JSON %q", resp.StatusCode, out)
		}
	})
}

func BenchmarkFakeChatCompletion(b *testing.B) {
	benchmarkFake(b, OperationChatCompletions, `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"`+strings.Repeat("lorem ipsum ", 80)+`"}]}`)
}

func BenchmarkFakeChatCompletionStream(b *testing.B) {
	benchmarkFake(b, OperationChatCompletions, `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"`+strings.Repeat("lorem ipsum ", 80)+`"}]}`)
}

func BenchmarkFakeEmbeddings(b *testing.B) {
	benchmarkFake(b, OperationEmbeddings, `{"model":"text-embedding-3-small","input":"`+strings.Repeat("lorem ipsum ", 80)+`"}`)
}

func benchmarkFake(b *testing.B, op, body string) {
	rt := (&Fake{}).RoundTripper()
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, "fake://mosaic/v1"+op, strings.NewReader(body))
		resp, err := rt.RoundTrip(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("status %v, err %v", resp.StatusCode, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
	}
}

func TestFakeReply(t *testing.T) {
	tests := map[string]struct {
		// lastUser is the last user message.
		lastUser string
		// want is the fake's answer.
		want string
	}{
		"short":      {lastUser: "  Hi\tthere ", want: "Mosaic fake reply to: Hi there"},
		"no message": {lastUser: " \n", want: "Hello from the Mosaic fake provider."},
		"long":       {lastUser: "one two three four five six seven eight nine ten eleven twelve thirteen fourteen", want: "Mosaic fake reply to: one two three four five six seven eight nine ten eleven twelve …"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := fakeReply(tc.lastUser); got != tc.want {
				t.Errorf("fakeReply = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCutToTokens(t *testing.T) {
	tests := map[string]struct {
		// s is the text and limit the token budget (-1 for none).
		s     string
		limit int64
		// want is the kept text; wantCut says whether it was shortened.
		want    string
		wantCut bool
	}{
		"no limit":       {s: "abcdefghij", limit: -1, want: "abcdefghij"},
		"fits":           {s: "abcdefgh", limit: 2, want: "abcdefgh"},
		"rounded up fit": {s: "abcdefghi", limit: 3, want: "abcdefghi"},
		"cut":            {s: "abcdefghij", limit: 2, want: "abcdefgh", wantCut: true},
		"cut multibyte":  {s: "ééééééé", limit: 1, want: "éééé", wantCut: true},
		"zero":           {s: "abc", limit: 0, want: "", wantCut: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, cut := cutToTokens(tc.s, tc.limit)
			if got != tc.want || cut != tc.wantCut {
				t.Errorf("cutToTokens = %q, %v; want %q, %v", got, cut, tc.want, tc.wantCut)
			}
			if strings.Join(streamPieces(tc.s), "") != tc.s {
				t.Errorf("stream pieces of %q do not rebuild it", tc.s)
			}
		})
	}
}
