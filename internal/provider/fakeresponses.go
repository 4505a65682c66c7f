package provider

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// The Fake provider's Responses API (POST /responses).

type fakeResponseRequest struct {
	Model           string          `json:"model"`
	Input           json.RawMessage `json:"input"`
	Instructions    *string         `json:"instructions"`
	MaxOutputTokens *int64          `json:"max_output_tokens"`
	Stream          bool            `json:"stream"`
}

// fakeResponseItem is an input item: a message (easy form or typed), or a tool output.
type fakeResponseItem struct {
	Type    string          `json:"type"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Output  json.RawMessage `json:"output"`
}

type fakeOutputText struct {
	Type        string   `json:"type"`
	Text        string   `json:"text"`
	Annotations []string `json:"annotations"`
	Logprobs    []string `json:"logprobs"`
}

type fakeOutputMessage struct {
	ID      string           `json:"id"`
	Type    string           `json:"type"`
	Status  string           `json:"status"`
	Role    string           `json:"role"`
	Content []fakeOutputText `json:"content"`
}

type fakeResponseUsage struct {
	InputTokens        int64 `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int64 `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int64 `json:"total_tokens"`
}

type fakeIncomplete struct {
	Reason string `json:"reason"`
}

type fakeResponse struct {
	ID                 string              `json:"id"`
	Object             string              `json:"object"`
	CreatedAt          int64               `json:"created_at"`
	Status             string              `json:"status"`
	Background         bool                `json:"background"`
	Error              *struct{}           `json:"error"`
	IncompleteDetails  *fakeIncomplete     `json:"incomplete_details"`
	Instructions       *string             `json:"instructions"`
	MaxOutputTokens    *int64              `json:"max_output_tokens"`
	Model              string              `json:"model"`
	Output             []fakeOutputMessage `json:"output"`
	ParallelToolCalls  bool                `json:"parallel_tool_calls"`
	PreviousResponseID *string             `json:"previous_response_id"`
	Reasoning          struct {
		Effort  *string `json:"effort"`
		Summary *string `json:"summary"`
	} `json:"reasoning"`
	ServiceTier string  `json:"service_tier"`
	Store       bool    `json:"store"`
	Temperature float64 `json:"temperature"`
	Text        struct {
		Format struct {
			Type string `json:"type"`
		} `json:"format"`
	} `json:"text"`
	ToolChoice string             `json:"tool_choice"`
	Tools      []string           `json:"tools"`
	TopP       float64            `json:"top_p"`
	Truncation string             `json:"truncation"`
	Usage      *fakeResponseUsage `json:"usage"`
	User       *string            `json:"user"`
	Metadata   map[string]string  `json:"metadata"`
}

// fakeResponseInput reads the input: a string, or a list of items. It returns the token count
// of every text and the last user text.
func fakeResponseInput(raw json.RawMessage) (tokens int64, lastUser string, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, "", errMissing
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return fakeTokens(s), s, nil
	}
	var items []fakeResponseItem
	if err := json.Unmarshal(raw, &items); err != nil {
		return 0, "", fmt.Errorf("expected a string or an array of input items")
	}
	for i, it := range items {
		text, err := fakeContentText(it.Content)
		if err != nil {
			return 0, "", fmt.Errorf("input[%d].content: expected a string or an array of content parts", i)
		}
		if out, err := fakeContentText(it.Output); err == nil {
			text += out
		}
		tokens += fakeTokens(text)
		if it.Role == "user" {
			lastUser = text
		}
	}
	return tokens, lastUser, nil
}

func (t *fakeTransport) response(body []byte, id string) fakeAnswer {
	var req fakeResponseRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return fakeBadJSON(err)
	}
	if a := fakeTextModel(req.Model, "responses"); a != nil {
		return *a
	}
	inputTokens, lastUser, err := fakeResponseInput(req.Input)
	switch {
	case err == errMissing:
		return fakeMissing("input")
	case err != nil:
		return fakeInvalid("input", err.Error())
	}
	if a := checkCount("max_output_tokens", req.MaxOutputTokens, 16, math.MaxInt32); a != nil {
		return *a
	}
	if req.Instructions != nil {
		inputTokens += fakeTokens(*req.Instructions)
	}
	limit := int64(-1)
	if req.MaxOutputTokens != nil {
		limit = *req.MaxOutputTokens
	}
	reply, cut := cutToTokens(fakeReply(lastUser), limit)

	r := fakeResponse{
		ID: "resp_" + id, Object: "response", CreatedAt: t.clock.Now().Unix(), Status: "completed",
		Instructions: req.Instructions, MaxOutputTokens: req.MaxOutputTokens, Model: req.Model,
		ParallelToolCalls: true, ServiceTier: "default", Store: true, Temperature: 1, ToolChoice: "auto",
		Tools: []string{}, TopP: 1, Truncation: "disabled", Metadata: map[string]string{},
	}
	r.Text.Format.Type = "text"
	msg := fakeOutputMessage{
		ID: "msg_" + id, Type: "message", Status: "completed", Role: "assistant",
		Content: []fakeOutputText{{Type: "output_text", Text: reply, Annotations: []string{}, Logprobs: []string{}}},
	}
	usage := &fakeResponseUsage{InputTokens: inputTokens, OutputTokens: fakeTokens(reply)}
	usage.TotalTokens = usage.InputTokens + usage.OutputTokens
	final := r
	final.Output = []fakeOutputMessage{msg}
	final.Usage = usage
	if cut {
		final.Status = "incomplete"
		final.IncompleteDetails = &fakeIncomplete{Reason: "max_output_tokens"}
		final.Output[0].Status = "incomplete"
	}
	if !req.Stream {
		return fakeJSONAnswer(final, usage.TotalTokens)
	}

	// The event sequence of a streamed response; it ends without "data: [DONE]".
	var w sseWriter
	seq := 0
	emit := func(typ string, fields map[string]any) {
		fields["type"] = typ
		fields["sequence_number"] = seq
		seq++
		w.event(typ, fields)
	}
	started := r
	started.Status = "in_progress"
	started.Output = []fakeOutputMessage{}
	emit("response.created", map[string]any{"response": started})
	emit("response.in_progress", map[string]any{"response": started})
	item := msg
	item.Status = "in_progress"
	item.Content = []fakeOutputText{}
	emit("response.output_item.added", map[string]any{"output_index": 0, "item": item})
	emptyPart := fakeOutputText{Type: "output_text", Text: "", Annotations: []string{}, Logprobs: []string{}}
	where := func(m map[string]any) map[string]any {
		m["item_id"], m["output_index"], m["content_index"] = msg.ID, 0, 0
		return m
	}
	emit("response.content_part.added", where(map[string]any{"part": emptyPart}))
	for _, piece := range streamPieces(reply) {
		emit("response.output_text.delta", where(map[string]any{"delta": piece, "logprobs": []string{}}))
	}
	emit("response.output_text.done", where(map[string]any{"text": reply, "logprobs": []string{}}))
	emit("response.content_part.done", where(map[string]any{"part": msg.Content[0]}))
	emit("response.output_item.done", map[string]any{"output_index": 0, "item": final.Output[0]})
	last := "response.completed"
	if cut {
		last = "response.incomplete"
	}
	emit(last, map[string]any{"response": final})
	return w.answer(usage.TotalTokens)
}
