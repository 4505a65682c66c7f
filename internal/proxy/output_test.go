package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
)

// leakyUpstream answers every chat completion with text holding an e-mail address and a card
// number, split across stream chunks.
func leakyUpstream(t *testing.T) string {
	pieces := []string{"Write to bob.sm", "ith@example.com or pay with 4111 1111 ", "1111 1111. Thanks!"}
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), `"stream":true`) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"` +
				strings.Join(pieces, "") + `","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":9,"total_tokens":12}}`))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		send := func(s string) {
			_, _ = io.WriteString(w, "data: "+s+"\n\n")
			w.(http.Flusher).Flush()
		}
		send(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`)
		for _, p := range pieces {
			send(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"` + p + `"},"finish_reason":null}]}`)
		}
		send(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`)
		send(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":9,"total_tokens":12}}`)
		send("[DONE]")
	}))
}

func TestScanResponses(t *testing.T) {
	up := leakyUpstream(t)
	cfg := func(action string) string {
		return cfgHeader + "- name: local\n  type: OpenAICompatible\n  endpoint: " + up + "\n  models: [{name: m}]\n" +
			"  sanitization: {detectors: [Email, CreditCard], action: " + action + ", scanResponses: true}\n"
	}
	want := "Write to [EMAIL] or pay with [CREDIT_CARD]. Thanks!"
	h := startProxy(t, cfg("Redact"), nil)

	resp, err := h.chat(context.Background(), "m", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != want {
		t.Errorf("non-streamed answer = %q, want %q", got, want)
	}
	stream := h.client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{Model: "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}})
	var text strings.Builder
	for stream.Next() {
		if c := stream.Current(); len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Delta.Content)
		}
	}
	if stream.Err() != nil || text.String() != want {
		t.Errorf("streamed answer = %q (%v), want %q", text.String(), stream.Err(), want)
	}

	blocking := startProxy(t, cfg("Block"), nil)
	_, err = blocking.chat(context.Background(), "m", "hello")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.Code != "content_blocked" || strings.Contains(apiErr.RawJSON(), "example.com") {
		t.Errorf("blocked answer: %v", err)
	}
	stream = blocking.client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{Model: "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}})
	text.Reset()
	for stream.Next() {
		if c := stream.Current(); len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Delta.Content)
		}
	}
	if stream.Err() == nil || strings.Contains(text.String(), "example.com") {
		t.Errorf("a blocked stream must end in an error without the match: %q, %v", text.String(), stream.Err())
	}
}
