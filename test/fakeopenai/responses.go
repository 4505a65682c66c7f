package fakeopenai

import (
	"encoding/json"
	"net/http"
	"time"
)

// responseRequest is the part of a Responses API request the fake reads.
type responseRequest struct {
	Model           string          `json:"model"`
	Input           json.RawMessage `json:"input"`
	Instructions    *string         `json:"instructions"`
	MaxOutputTokens *int            `json:"max_output_tokens"`
	Stream          bool            `json:"stream"`
}

// inputItem is a Responses API input item; messages carry content as a
// string or input_text parts, tool outputs carry "output".
type inputItem struct {
	Type    string          `json:"type"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Output  json.RawMessage `json:"output"`
}

type response struct {
	ID                 string          `json:"id"`
	Object             string          `json:"object"`
	CreatedAt          int64           `json:"created_at"`
	Status             string          `json:"status"`
	Error              json.RawMessage `json:"error"`
	IncompleteDetails  any             `json:"incomplete_details"`
	Instructions       *string         `json:"instructions"`
	MaxOutputTokens    *int            `json:"max_output_tokens"`
	Model              string          `json:"model"`
	Output             []outputMessage `json:"output"`
	ParallelToolCalls  bool            `json:"parallel_tool_calls"`
	PreviousResponseID json.RawMessage `json:"previous_response_id"`
	Reasoning          map[string]any  `json:"reasoning"`
	Store              bool            `json:"store"`
	Temperature        float64         `json:"temperature"`
	Text               map[string]any  `json:"text"`
	ToolChoice         string          `json:"tool_choice"`
	Tools              []any           `json:"tools"`
	TopP               float64         `json:"top_p"`
	Truncation         string          `json:"truncation"`
	Usage              *responseUsage  `json:"usage"`
	User               json.RawMessage `json:"user"`
	Metadata           map[string]any  `json:"metadata"`
}

type outputMessage struct {
	Type    string       `json:"type"`
	ID      string       `json:"id"`
	Status  string       `json:"status"`
	Role    string       `json:"role"`
	Content []outputText `json:"content"`
}

type outputText struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
	Logprobs    []any  `json:"logprobs"`
}

type responseUsage struct {
	InputTokens         int            `json:"input_tokens"`
	InputTokensDetails  map[string]int `json:"input_tokens_details"`
	OutputTokens        int            `json:"output_tokens"`
	OutputTokensDetails map[string]int `json:"output_tokens_details"`
	TotalTokens         int            `json:"total_tokens"`
}

// responseInputText is the text of a Responses API "input": a string, or
// the text of every message and tool output in an array of items.
func responseInputText(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var items []inputItem
	if json.Unmarshal(raw, &items) != nil {
		return "", false
	}
	var text []byte
	for _, it := range items {
		text = append(text, textOfContent(it.Content)...)
		text = append(text, textOfContent(it.Output)...)
	}
	return string(text), true
}

func (x *exchange) response() {
	var req responseRequest
	if !x.decode(&req) {
		return
	}
	if !x.checkModel(req.Model) {
		return
	}
	input, ok := responseInputText(req.Input)
	if !ok {
		x.error(http.StatusBadRequest, "invalid_request_error", "", "Invalid 'input': expected a string or an array of input items.", "input")
		return
	}
	if req.Instructions != nil {
		input = *req.Instructions + input
	}
	prompt := EstimateTokens(input)
	completion, _ := x.completionTokens(req.MaxOutputTokens)
	id, msgID := x.nextID("resp_"), x.nextID("msg_")
	r := response{ID: id, Object: "response", CreatedAt: time.Now().Unix(), Status: "completed", Error: jsonNull,
		Instructions: req.Instructions, MaxOutputTokens: req.MaxOutputTokens, Model: req.Model, Output: []outputMessage{},
		ParallelToolCalls: true, PreviousResponseID: jsonNull, Reasoning: map[string]any{"effort": nil, "summary": nil}, Store: true,
		Temperature: 1, Text: map[string]any{"format": map[string]any{"type": "text"}}, ToolChoice: "auto", Tools: []any{},
		TopP: 1, Truncation: "disabled", User: jsonNull, Metadata: map[string]any{}}
	done := r
	text := outputText{Type: "output_text", Text: ReplyText(completion), Annotations: []any{}, Logprobs: []any{}}
	item := outputMessage{Type: "message", ID: msgID, Status: "completed", Role: "assistant", Content: []outputText{text}}
	done.Output = []outputMessage{item}
	done.Usage = &responseUsage{InputTokens: prompt, InputTokensDetails: map[string]int{"cached_tokens": 0},
		OutputTokens: completion, OutputTokensDetails: map[string]int{"reasoning_tokens": 0}, TotalTokens: prompt + completion}
	if !req.Stream {
		x.setUsageHeaders(prompt + completion)
		x.writeJSON(http.StatusOK, done)
		return
	}
	// The documented event sequence of a streamed text response.
	s := x.startStream(prompt + completion)
	seq := 0
	send := func(typ string, fields map[string]any) bool {
		fields["type"], fields["sequence_number"] = typ, seq
		seq++
		return s.send(typ, fields)
	}
	r.Status = "in_progress"
	emptyText := outputText{Type: "output_text", Text: "", Annotations: []any{}, Logprobs: []any{}}
	if !send("response.created", map[string]any{"response": r}) ||
		!send("response.in_progress", map[string]any{"response": r}) ||
		!send("response.output_item.added", map[string]any{"output_index": 0,
			"item": outputMessage{Type: "message", ID: msgID, Status: "in_progress", Role: "assistant", Content: []outputText{}}}) ||
		!send("response.content_part.added", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "part": emptyText}) {
		return
	}
	for i := range completion {
		if !s.pause() || !send("response.output_text.delta", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0,
			"delta": ReplyWord(i), "logprobs": []any{}}) {
			return
		}
	}
	_ = send("response.output_text.done", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "text": text.Text, "logprobs": []any{}}) &&
		send("response.content_part.done", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "part": text}) &&
		send("response.output_item.done", map[string]any{"output_index": 0, "item": item}) &&
		send("response.completed", map[string]any{"response": done})
}
