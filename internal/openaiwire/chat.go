package openaiwire

import "encoding/json"

// Usage is the usage object (CompletionUsage) of chat completions and legacy completions.
type Usage struct {
	// PromptTokens, CompletionTokens and TotalTokens count the request's input, its output and
	// their sum.
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
	// PromptTokensDetails and CompletionTokensDetails break the counts down; the fakes have no
	// cache, audio, reasoning or predictions, so their counts are zero.
	PromptTokensDetails     PromptTokensDetails     `json:"prompt_tokens_details"`
	CompletionTokensDetails CompletionTokensDetails `json:"completion_tokens_details"`
}

// NewUsage is the usage of prompt input and completion output tokens.
func NewUsage(prompt, completion int64) *Usage {
	return &Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
}

// PromptTokensDetails breaks down Usage.PromptTokens.
type PromptTokensDetails struct {
	// CachedTokens and AudioTokens are the prompt tokens read from the prompt cache and given as audio.
	CachedTokens int64 `json:"cached_tokens"`
	AudioTokens  int64 `json:"audio_tokens"`
}

// CompletionTokensDetails breaks down Usage.CompletionTokens.
type CompletionTokensDetails struct {
	// ReasoningTokens and AudioTokens are the completion tokens spent reasoning and produced as audio.
	ReasoningTokens int64 `json:"reasoning_tokens"`
	AudioTokens     int64 `json:"audio_tokens"`
	// AcceptedPredictionTokens and RejectedPredictionTokens count the tokens of a predicted
	// output that appeared, and did not appear, in the completion.
	AcceptedPredictionTokens int64 `json:"accepted_prediction_tokens"`
	RejectedPredictionTokens int64 `json:"rejected_prediction_tokens"`
}

// ChatCompletion is the chat completion object ("object": "chat.completion") that
// POST /chat/completions answers without "stream".
type ChatCompletion struct {
	// ID ("chatcmpl-..."), Object ("chat.completion"), Created (Unix seconds) and Model identify
	// the completion.
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	// Choices holds one choice per requested completion ("n").
	Choices []ChatChoice `json:"choices"`
	// Usage counts the request's tokens.
	Usage *Usage `json:"usage"`
	// ServiceTier ("default") and SystemFingerprint name the backend that answered.
	ServiceTier       string `json:"service_tier"`
	SystemFingerprint string `json:"system_fingerprint"`
}

// ChatChoice is one choice of a ChatCompletion.
type ChatChoice struct {
	// Index is the choice's position, 0 to n-1.
	Index int64 `json:"index"`
	// Message is the assistant's reply.
	Message ChatMessage `json:"message"`
	// Logprobs is the log probability information: null (nil) unless requested.
	Logprobs json.RawMessage `json:"logprobs"`
	// FinishReason is why the model stopped: "stop", or "length" at the token limit.
	FinishReason string `json:"finish_reason"`
}

// ChatMessage is the assistant message of a ChatChoice.
type ChatMessage struct {
	// Role is always "assistant"; Content is the reply text.
	Role    string `json:"role"`
	Content string `json:"content"`
	// Refusal is the model's refusal message, null (nil) when it answered.
	Refusal *string `json:"refusal"`
	// Annotations are the message's URL citations; the fakes send an empty array.
	Annotations []json.RawMessage `json:"annotations"`
}

// ChatChunk is one streamed chunk ("object": "chat.completion.chunk") of a chat completion.
// Every chunk of a stream has the same ID, Created and Model.
type ChatChunk struct {
	// ID, Object ("chat.completion.chunk"), Created and Model identify the completion.
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	// ServiceTier and SystemFingerprint name the backend that answered.
	ServiceTier       string `json:"service_tier"`
	SystemFingerprint string `json:"system_fingerprint"`
	// Choices holds the deltas of this chunk; it is empty on the usage chunk.
	Choices []ChatChunkChoice `json:"choices"`
	// Usage is set on the last chunk when "stream_options": {"include_usage": true} asked for
	// it. Without include_usage the key is absent; see Event for the chunks before the last.
	Usage *Usage `json:"usage,omitempty"`
}

// ChatChunkWithNullUsage is a ChatChunk whose "usage" key is always present, null when Usage is
// nil: with include_usage OpenAI sends "usage": null on every chunk but the last.
type ChatChunkWithNullUsage struct {
	ChatChunk
	// Usage shadows ChatChunk.Usage without omitempty.
	Usage *Usage `json:"usage"`
}

// Event is c as it goes on the wire: with includeUsage every chunk carries "usage" (null but on
// the last chunk); without it no chunk does.
func (c ChatChunk) Event(includeUsage bool) any {
	if includeUsage {
		return ChatChunkWithNullUsage{ChatChunk: c, Usage: c.Usage}
	}
	return c
}

// ChatChunkChoice is one choice's delta in a ChatChunk.
type ChatChunkChoice struct {
	// Index is the choice this delta extends.
	Index int64 `json:"index"`
	// Delta is the new part of the message.
	Delta ChatDelta `json:"delta"`
	// Logprobs is null (nil) unless requested.
	Logprobs json.RawMessage `json:"logprobs"`
	// FinishReason is null until the choice's last chunk, then "stop" or "length".
	FinishReason *string `json:"finish_reason"`
}

// ChatDelta is the new part of a streamed message; absent keys did not change.
type ChatDelta struct {
	// Role is "assistant" on a choice's first chunk only.
	Role string `json:"role,omitempty"`
	// Content is the next piece of text; the first chunk carries "".
	Content *string `json:"content,omitempty"`
	// Refusal is the next piece of a refusal.
	Refusal *string `json:"refusal,omitempty"`
}
