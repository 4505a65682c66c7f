package provider

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/mosaic-dev/mosaic/internal/openaiwire"
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

	r := openaiwire.NewResponse("resp_"+id, req.Model, t.clock.Now().Unix())
	r.Instructions, r.MaxOutputTokens = req.Instructions, req.MaxOutputTokens
	msg := openaiwire.OutputMessage{
		Type: "message", ID: "msg_" + id, Status: "completed", Role: "assistant",
		Content: []openaiwire.OutputText{openaiwire.NewOutputText(reply)},
	}
	usage := openaiwire.NewResponseUsage(inputTokens, fakeTokens(reply))
	final := r
	final.Output = []openaiwire.OutputMessage{msg}
	final.Usage = usage
	if cut {
		final.Status = "incomplete"
		final.IncompleteDetails = &openaiwire.IncompleteDetails{Reason: "max_output_tokens"}
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
	started.Output = []openaiwire.OutputMessage{}
	emit("response.created", map[string]any{"response": started})
	emit("response.in_progress", map[string]any{"response": started})
	item := msg
	item.Status = "in_progress"
	item.Content = []openaiwire.OutputText{}
	emit("response.output_item.added", map[string]any{"output_index": 0, "item": item})
	emptyPart := openaiwire.NewOutputText("")
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
