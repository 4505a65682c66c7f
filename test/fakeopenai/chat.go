package fakeopenai

import (
	"encoding/json"
	"net/http"
	"time"
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

// chatUsage is the usage object of chat and legacy completions.
type chatUsage struct {
	PromptTokens            int                     `json:"prompt_tokens"`
	CompletionTokens        int                     `json:"completion_tokens"`
	TotalTokens             int                     `json:"total_tokens"`
	PromptTokensDetails     promptTokensDetails     `json:"prompt_tokens_details"`
	CompletionTokensDetails completionTokensDetails `json:"completion_tokens_details"`
}

type promptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
	AudioTokens  int `json:"audio_tokens"`
}

type completionTokensDetails struct {
	ReasoningTokens          int `json:"reasoning_tokens"`
	AudioTokens              int `json:"audio_tokens"`
	AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
	RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
}

func newChatUsage(prompt, completion int) *chatUsage {
	return &chatUsage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
}

type chatCompletion struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"`
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	SystemFingerprint string       `json:"system_fingerprint"`
	ServiceTier       string       `json:"service_tier"`
	Choices           []chatChoice `json:"choices"`
	Usage             *chatUsage   `json:"usage"`
}

type chatChoice struct {
	Index        int             `json:"index"`
	Message      chatReply       `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

type chatReply struct {
	Role        string          `json:"role"`
	Content     string          `json:"content"`
	Refusal     json.RawMessage `json:"refusal"`
	Annotations []any           `json:"annotations"`
}

type chatChunk struct {
	ID                string            `json:"id"`
	Object            string            `json:"object"`
	Created           int64             `json:"created"`
	Model             string            `json:"model"`
	SystemFingerprint string            `json:"system_fingerprint"`
	ServiceTier       string            `json:"service_tier"`
	Choices           []chatChunkChoice `json:"choices"`
	Usage             *chatUsage        `json:"usage,omitempty"`
}

// chatChunkWithUsage is a chunk when include_usage is on: "usage" is
// present in every chunk, null until the last.
type chatChunkWithUsage struct {
	chatChunk
	Usage *chatUsage `json:"usage"`
}

type chatChunkChoice struct {
	Index        int             `json:"index"`
	Delta        chatDelta       `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

type chatDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
	Refusal *string `json:"refusal,omitempty"`
}

var jsonNull = json.RawMessage("null")

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
		x.writeJSON(http.StatusOK, chatCompletion{
			ID: id, Object: "chat.completion", Created: created, Model: req.Model, SystemFingerprint: "fp_fake", ServiceTier: "default",
			Choices: []chatChoice{{Message: chatReply{Role: "assistant", Content: ReplyText(completion), Refusal: jsonNull, Annotations: []any{}},
				Logprobs: jsonNull, FinishReason: finish}},
			Usage: newChatUsage(prompt, completion),
		})
		return
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	chunk := func(delta chatDelta, finishReason *string) any {
		c := chatChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model, SystemFingerprint: "fp_fake", ServiceTier: "default",
			Choices: []chatChunkChoice{{Delta: delta, Logprobs: jsonNull, FinishReason: finishReason}}}
		if includeUsage {
			return chatChunkWithUsage{chatChunk: c}
		}
		return c
	}
	s := x.startStream(prompt + completion)
	empty := ""
	if !s.send("", chunk(chatDelta{Role: "assistant", Content: &empty, Refusal: nil}, nil)) {
		return
	}
	for i := range completion {
		word := ReplyWord(i)
		if !s.pause() || !s.send("", chunk(chatDelta{Content: &word}, nil)) {
			return
		}
	}
	if !s.send("", chunk(chatDelta{}, &finish)) {
		return
	}
	if includeUsage {
		last := chatChunkWithUsage{chatChunk: chatChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model,
			SystemFingerprint: "fp_fake", ServiceTier: "default", Choices: []chatChunkChoice{}}, Usage: newChatUsage(prompt, completion)}
		if !s.send("", last) {
			return
		}
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

type textCompletion struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"`
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	SystemFingerprint string       `json:"system_fingerprint"`
	Choices           []textChoice `json:"choices"`
	Usage             *chatUsage   `json:"usage,omitempty"`
}

type textCompletionWithUsage struct {
	textCompletion
	Usage *chatUsage `json:"usage"`
}

type textChoice struct {
	Text         string          `json:"text"`
	Index        int             `json:"index"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
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
	base := textCompletion{ID: id, Object: "text_completion", Created: created, Model: req.Model, SystemFingerprint: "fp_fake"}
	if !req.Stream {
		c := base
		for i := range p.texts {
			c.Choices = append(c.Choices, textChoice{Text: ReplyText(perPrompt), Index: i, Logprobs: jsonNull, FinishReason: &finish})
		}
		c.Usage = newChatUsage(prompt, completion)
		x.setUsageHeaders(prompt + completion)
		x.writeJSON(http.StatusOK, c)
		return
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	event := func(c textCompletion) any {
		if includeUsage {
			return textCompletionWithUsage{textCompletion: c}
		}
		return c
	}
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
			c.Choices = []textChoice{{Text: ReplyWord(i), Index: j, Logprobs: jsonNull, FinishReason: fr}}
			if !s.send("", event(c)) {
				return
			}
		}
	}
	if includeUsage {
		c := base
		c.Choices = []textChoice{}
		if !s.send("", textCompletionWithUsage{textCompletion: c, Usage: newChatUsage(prompt, completion)}) {
			return
		}
	}
	s.done()
}
