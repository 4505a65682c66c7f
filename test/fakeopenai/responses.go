package fakeopenai

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/mosaic-dev/mosaic/internal/openaiwire"
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
	r := openaiwire.NewResponse(id, req.Model, time.Now().Unix())
	r.Instructions = req.Instructions
	if req.MaxOutputTokens != nil {
		limit := int64(*req.MaxOutputTokens)
		r.MaxOutputTokens = &limit
	}
	done := r
	text := openaiwire.NewOutputText(ReplyText(completion))
	item := openaiwire.OutputMessage{Type: "message", ID: msgID, Status: "completed", Role: "assistant", Content: []openaiwire.OutputText{text}}
	done.Output = []openaiwire.OutputMessage{item}
	done.Usage = openaiwire.NewResponseUsage(int64(prompt), int64(completion))
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
	emptyText := openaiwire.NewOutputText("")
	if !send("response.created", map[string]any{"response": r}) ||
		!send("response.in_progress", map[string]any{"response": r}) ||
		!send("response.output_item.added", map[string]any{"output_index": 0,
			"item": openaiwire.OutputMessage{Type: "message", ID: msgID, Status: "in_progress", Role: "assistant", Content: []openaiwire.OutputText{}}}) ||
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
