package fakeopenai

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/mosaic-dev/mosaic/internal/openaiwire"
)

// chatRequest is the part of a chat completion request the fake reads.
type chatRequest struct {
	Model               string         `json:"model"`
	Messages            *[]chatMessage `json:"messages"`
	Stream              bool           `json:"stream"`
	StreamOptions       *streamOptions `json:"stream_options"`
	MaxTokens           *int           `json:"max_tokens"`
	MaxCompletionTokens *int           `json:"max_completion_tokens"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Name    string          `json:"name"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// fingerprint is the fake's system_fingerprint.
const fingerprint = "fp_fake"

// completionTokens is the reply length: Options.Chunks capped by the
// request's limit; finish is "length" when the cap cut it.
func (x *exchange) completionTokens(limits ...*int) (n int, finish string) {
	n, finish = x.s.opts.Chunks, "stop"
	for _, l := range limits {
		if l != nil && *l < n {
			n, finish = max(*l, 1), "length"
		}
	}
	return n, finish
}

func (x *exchange) chatCompletion() {
	var req chatRequest
	if !x.decode(&req) {
		return
	}
	if !x.checkModel(req.Model) {
		return
	}
	if req.Messages == nil {
		x.error(http.StatusBadRequest, "invalid_request_error", "missing_required_parameter", "Missing required parameter: 'messages'.", "messages")
		return
	}
	if len(*req.Messages) == 0 {
		x.error(http.StatusBadRequest, "invalid_request_error", "empty_array", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "messages")
		return
	}
	if req.StreamOptions != nil && !req.Stream {
		x.error(http.StatusBadRequest, "invalid_request_error", "", "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")
		return
	}
	var text []byte
	for _, m := range *req.Messages {
		text = append(text, textOfContent(m.Content)...)
	}
	prompt := EstimateTokens(string(text))
	completion, finish := x.completionTokens(req.MaxTokens, req.MaxCompletionTokens)
	id, created := x.nextID("chatcmpl-"), time.Now().Unix()
	if !req.Stream {
		x.setUsageHeaders(prompt + completion)
		x.writeJSON(http.StatusOK, openaiwire.ChatCompletion{
			ID: id, Object: "chat.completion", Created: created, Model: req.Model,
			Choices: []openaiwire.ChatChoice{{Message: openaiwire.ChatMessage{Role: "assistant", Content: ReplyText(completion), Annotations: []json.RawMessage{}},
				FinishReason: finish}},
			Usage: openaiwire.NewUsage(int64(prompt), int64(completion)), ServiceTier: "default", SystemFingerprint: fingerprint,
		})
		return
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	chunk := func(choices []openaiwire.ChatChunkChoice, usage *openaiwire.Usage) any {
		return openaiwire.ChatChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model,
			ServiceTier: "default", SystemFingerprint: fingerprint, Choices: choices, Usage: usage}.Event(includeUsage)
	}
	delta := func(d openaiwire.ChatDelta, finishReason *string) any {
		return chunk([]openaiwire.ChatChunkChoice{{Delta: d, FinishReason: finishReason}}, nil)
	}
	s := x.startStream(prompt + completion)
	empty := ""
	if !s.send("", delta(openaiwire.ChatDelta{Role: "assistant", Content: &empty}, nil)) {
		return
	}
	for i := range completion {
		word := ReplyWord(i)
		if !s.pause() || !s.send("", delta(openaiwire.ChatDelta{Content: &word}, nil)) {
			return
		}
	}
	if !s.send("", delta(openaiwire.ChatDelta{}, &finish)) {
		return
	}
	if includeUsage && !s.send("", chunk([]openaiwire.ChatChunkChoice{}, openaiwire.NewUsage(int64(prompt), int64(completion)))) {
		return
	}
	s.done()
}

// completionRequest is the part of a legacy completion request the fake reads.
type completionRequest struct {
	Model         string          `json:"model"`
	Prompt        json.RawMessage `json:"prompt"`
	MaxTokens     *int            `json:"max_tokens"`
	Stream        bool            `json:"stream"`
	StreamOptions *streamOptions  `json:"stream_options"`
}

// defaultCompletionMaxTokens is the legacy endpoint's documented max_tokens default.
const defaultCompletionMaxTokens = 16

func (x *exchange) completion() {
	var req completionRequest
	if !x.decode(&req) {
		return
	}
	if !x.checkModel(req.Model) {
		return
	}
	if len(req.Prompt) == 0 || string(req.Prompt) == "null" {
		x.error(http.StatusBadRequest, "invalid_request_error", "missing_required_parameter", "Missing required parameter: 'prompt'.", "prompt")
		return
	}
	p, ok := parsePrompts(req.Prompt)
	if !ok {
		x.error(http.StatusBadRequest, "invalid_request_error", "", "Invalid 'prompt': expected a string, an array of strings, an array of tokens or an array of token arrays, none of them empty.", "prompt")
		return
	}
	if req.StreamOptions != nil && !req.Stream {
		x.error(http.StatusBadRequest, "invalid_request_error", "", "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")
		return
	}
	limit := defaultCompletionMaxTokens
	if req.MaxTokens != nil {
		limit = *req.MaxTokens
	}
	perPrompt, finish := x.completionTokens(&limit)
	prompt, completion := sum(p.tokens), perPrompt*len(p.texts)
	id, created := x.nextID("cmpl-"), time.Now().Unix()
	base := openaiwire.TextCompletion{ID: id, Object: "text_completion", Created: created, Model: req.Model, SystemFingerprint: fingerprint}
	if !req.Stream {
		c := base
		for i := range p.texts {
			c.Choices = append(c.Choices, openaiwire.TextChoice{Text: ReplyText(perPrompt), Index: int64(i), FinishReason: &finish})
		}
		c.Usage = openaiwire.NewUsage(int64(prompt), int64(completion))
		x.setUsageHeaders(prompt + completion)
		x.writeJSON(http.StatusOK, c)
		return
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	s := x.startStream(prompt + completion)
	for i := range perPrompt {
		if !s.pause() {
			return
		}
		for j := range p.texts {
			c := base
			var fr *string
			if i == perPrompt-1 {
				fr = &finish
			}
			c.Choices = []openaiwire.TextChoice{{Text: ReplyWord(i), Index: int64(j), FinishReason: fr}}
			if !s.send("", c.Event(includeUsage)) {
				return
			}
		}
	}
	if includeUsage {
		c := base
		c.Choices, c.Usage = []openaiwire.TextChoice{}, openaiwire.NewUsage(int64(prompt), int64(completion))
		if !s.send("", c.Event(includeUsage)) {
			return
		}
	}
	s.done()
}
