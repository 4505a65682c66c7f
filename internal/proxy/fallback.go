package proxy

import (
	"net/http"
	"strconv"
	"time"
)

// respondStatic answers with a provider's configured static response: a valid chat.completion,
// or its chunk stream when the request streams, with header x-mosaic-fallback: static.
func (x *exchange) respondStatic(content string) {
	model := x.asked.model
	id := "chatcmpl-" + x.id
	created := strconv.FormatInt(time.Now().Unix(), 10)
	h := x.w.Header()
	h.Set("X-Mosaic-Fallback", "static")
	x.status = http.StatusOK
	x.usage = usage{known: true}
	x.commit()
	if !x.f.stream {
		b := make([]byte, 0, 256+len(content))
		b = append(b, `{"id":`...)
		b = appendJSONString(b, id)
		b = append(b, `,"object":"chat.completion","created":`...)
		b = append(b, created...)
		b = append(b, `,"model":`...)
		b = appendJSONString(b, model)
		b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
		b = appendJSONString(b, content)
		b = append(b, `,"refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}`...)
		writeJSON(x.w, http.StatusOK, b)
		return
	}
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	x.w.WriteHeader(http.StatusOK)
	chunk := func(delta, finish string, usage bool) []byte {
		b := make([]byte, 0, 256+len(delta))
		b = append(b, `data: {"id":`...)
		b = appendJSONString(b, id)
		b = append(b, `,"object":"chat.completion.chunk","created":`...)
		b = append(b, created...)
		b = append(b, `,"model":`...)
		b = appendJSONString(b, model)
		if usage {
			b = append(b, `,"choices":[],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}`...)
			return append(b, "\n\n"...)
		}
		b = append(b, `,"choices":[{"index":0,"delta":`...)
		b = append(b, delta...)
		b = append(b, `,"logprobs":null,"finish_reason":`...)
		b = appendNullableString(b, finish)
		return append(b, "}]}\n\n"...)
	}
	role := append(append([]byte(`{"role":"assistant","content":`), appendJSONString(nil, "")...), '}')
	text := append(append([]byte(`{"content":`), appendJSONString(nil, content)...), '}')
	events := [][]byte{chunk(string(role), "", false), chunk(string(text), "", false), chunk("{}", "stop", false)}
	if x.f.includeUsage {
		events = append(events, chunk("", "", true))
	}
	events = append(events, []byte("data: [DONE]\n\n"))
	flusher, _ := x.w.(http.Flusher)
	for _, ev := range events {
		if _, err := x.w.Write(ev); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}
