package openaiwire

import "encoding/json"

// TextCompletion is the legacy completion object ("object": "text_completion") of
// POST /completions, and also each chunk of its stream.
type TextCompletion struct {
	// ID ("cmpl-..."), Object ("text_completion"), Created (Unix seconds) and Model identify the
	// completion.
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	// SystemFingerprint names the backend that answered.
	SystemFingerprint string `json:"system_fingerprint"`
	// Choices holds n choices per prompt (streamed: the pieces of this chunk).
	Choices []TextChoice `json:"choices"`
	// Usage counts the request's tokens; in a stream only the last chunk, asked for with
	// include_usage, has it (see Event).
	Usage *Usage `json:"usage,omitempty"`
}

// TextCompletionWithNullUsage is a TextCompletion whose "usage" key is always present, null when
// Usage is nil, as on every streamed chunk but the last with include_usage.
type TextCompletionWithNullUsage struct {
	TextCompletion
	// Usage shadows TextCompletion.Usage without omitempty.
	Usage *Usage `json:"usage"`
}

// Event is c as a stream chunk: with includeUsage every chunk carries "usage" (null but on the
// last chunk); without it no chunk does.
func (c TextCompletion) Event(includeUsage bool) any {
	if includeUsage {
		return TextCompletionWithNullUsage{TextCompletion: c, Usage: c.Usage}
	}
	return c
}

// TextChoice is one choice of a TextCompletion.
type TextChoice struct {
	// Text is the completion (streamed: its next piece).
	Text string `json:"text"`
	// Index is the choice's position: prompt index × n + completion index.
	Index int64 `json:"index"`
	// Logprobs is null (nil) unless requested.
	Logprobs json.RawMessage `json:"logprobs"`
	// FinishReason is "stop" or "length"; null on streamed chunks before the choice's last.
	FinishReason *string `json:"finish_reason"`
}
