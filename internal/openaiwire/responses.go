package openaiwire

import "encoding/json"

// Response is the response object ("object": "response") of POST /responses, and the
// "response" of its response.created, response.in_progress and response.completed (or
// response.incomplete) stream events. NewResponse fills in the defaults OpenAI reports.
type Response struct {
	// ID ("resp_..."), Object ("response") and CreatedAt (Unix seconds) identify the response.
	ID        string `json:"id"`
	Object    string `json:"object"`
	CreatedAt int64  `json:"created_at"`
	// Status is "completed", "incomplete" or, while streaming, "in_progress"; Background is
	// whether it was run in the background.
	Status     string `json:"status"`
	Background bool   `json:"background"`
	// Error is set when the model failed; IncompleteDetails says why Status is "incomplete".
	Error             *ResponseError     `json:"error"`
	IncompleteDetails *IncompleteDetails `json:"incomplete_details"`
	// Instructions, MaxOutputTokens and Model echo the request.
	Instructions    *string `json:"instructions"`
	MaxOutputTokens *int64  `json:"max_output_tokens"`
	Model           string  `json:"model"`
	// Output holds the generated items: here one assistant message.
	Output []OutputMessage `json:"output"`
	// ParallelToolCalls, PreviousResponseID, Reasoning, ServiceTier, Store, Temperature, Text,
	// ToolChoice, Tools, TopP and Truncation are the settings the response ran with.
	ParallelToolCalls  bool              `json:"parallel_tool_calls"`
	PreviousResponseID *string           `json:"previous_response_id"`
	Reasoning          Reasoning         `json:"reasoning"`
	ServiceTier        string            `json:"service_tier"`
	Store              bool              `json:"store"`
	Temperature        float64           `json:"temperature"`
	Text               TextConfig        `json:"text"`
	ToolChoice         string            `json:"tool_choice"`
	Tools              []json.RawMessage `json:"tools"`
	TopP               float64           `json:"top_p"`
	Truncation         string            `json:"truncation"`
	// Usage counts the tokens; null until the response is done.
	Usage *ResponseUsage `json:"usage"`
	// User and Metadata echo the request's end-user ID and key/value pairs.
	User     *string           `json:"user"`
	Metadata map[string]string `json:"metadata"`
}

// NewResponse is a completed response with OpenAI's default settings and no output yet.
func NewResponse(id, model string, createdAt int64) Response {
	return Response{
		ID: id, Object: "response", CreatedAt: createdAt, Status: "completed", Model: model,
		Output: []OutputMessage{}, ParallelToolCalls: true, ServiceTier: "default", Store: true,
		Temperature: 1, Text: TextConfig{Format: TextFormat{Type: "text"}}, ToolChoice: "auto",
		Tools: []json.RawMessage{}, TopP: 1, Truncation: "disabled", Metadata: map[string]string{},
	}
}

// ResponseError is the error of a failed Response.
type ResponseError struct {
	// Code is the machine-readable code, e.g. "server_error"; Message describes it.
	Code    string `json:"code"`
	Message string `json:"message"`
}

// IncompleteDetails says why a Response is incomplete.
type IncompleteDetails struct {
	// Reason is "max_output_tokens" or "content_filter".
	Reason string `json:"reason"`
}

// Reasoning is a Response's reasoning configuration; null fields for models that do not reason.
type Reasoning struct {
	// Effort ("low", "medium", "high") and Summary ("auto", "concise", "detailed") are null (nil)
	// when unset.
	Effort  *string `json:"effort"`
	Summary *string `json:"summary"`
}

// TextConfig is a Response's text output configuration.
type TextConfig struct {
	// Format is the output format.
	Format TextFormat `json:"format"`
}

// TextFormat is the format of a Response's text output.
type TextFormat struct {
	// Type is "text" for plain text.
	Type string `json:"type"`
}

// OutputMessage is an output item of "type": "message".
type OutputMessage struct {
	// Type is "message"; ID ("msg_...") names the item in stream events.
	Type string `json:"type"`
	ID   string `json:"id"`
	// Status is "completed", "incomplete" or, while streaming, "in_progress".
	Status string `json:"status"`
	// Role is "assistant"; Content holds the message's text parts.
	Role    string       `json:"role"`
	Content []OutputText `json:"content"`
}

// OutputText is a content part of "type": "output_text".
type OutputText struct {
	// Type is "output_text"; Text is the text.
	Type string `json:"type"`
	Text string `json:"text"`
	// Annotations (citations) and Logprobs are empty arrays here.
	Annotations []json.RawMessage `json:"annotations"`
	Logprobs    []json.RawMessage `json:"logprobs"`
}

// NewOutputText is an output_text part of text without annotations or log probabilities.
func NewOutputText(text string) OutputText {
	return OutputText{Type: "output_text", Text: text, Annotations: []json.RawMessage{}, Logprobs: []json.RawMessage{}}
}

// ResponseUsage is the usage object of a Response.
type ResponseUsage struct {
	// InputTokens counts the input; InputTokensDetails breaks it down.
	InputTokens        int64              `json:"input_tokens"`
	InputTokensDetails InputTokensDetails `json:"input_tokens_details"`
	// OutputTokens counts the output; OutputTokensDetails breaks it down.
	OutputTokens        int64               `json:"output_tokens"`
	OutputTokensDetails OutputTokensDetails `json:"output_tokens_details"`
	// TotalTokens is InputTokens + OutputTokens.
	TotalTokens int64 `json:"total_tokens"`
}

// NewResponseUsage is the usage of input and output tokens.
func NewResponseUsage(input, output int64) *ResponseUsage {
	return &ResponseUsage{InputTokens: input, OutputTokens: output, TotalTokens: input + output}
}

// InputTokensDetails breaks down ResponseUsage.InputTokens.
type InputTokensDetails struct {
	// CachedTokens are the input tokens read from the prompt cache.
	CachedTokens int64 `json:"cached_tokens"`
}

// OutputTokensDetails breaks down ResponseUsage.OutputTokens.
type OutputTokensDetails struct {
	// ReasoningTokens are the output tokens spent reasoning.
	ReasoningTokens int64 `json:"reasoning_tokens"`
}
