package fakeopenai

import (
	"encoding/json"
	"net/http"
)

// eventStream writes a text/event-stream answer, applying the stream faults
// (mid-stream reset, malformed event).
type eventStream struct {
	x      *exchange
	events int // data events written
	broken bool
}

// startStream writes the 200 headers of an SSE answer and flushes them.
func (x *exchange) startStream(tokens int) *eventStream {
	h := x.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	x.setUsageHeaders(tokens)
	x.w.WriteHeader(http.StatusOK)
	x.flush()
	return &eventStream{x: x}
}

func (x *exchange) flush() {
	if f, ok := x.w.(http.Flusher); ok {
		f.Flush()
	}
}

// send writes one event (name "" for a data-only event, as chat completions
// use) and reports whether the stream goes on.
func (s *eventStream) send(name string, v any) bool {
	if s.broken {
		return false
	}
	if s.x.resetAfter(s.events) {
		s.x.reset()
		s.broken = true
		return false
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic("fakeopenai: encoding event: " + err.Error())
	}
	if s.events == 1 && s.x.malformed() {
		b = b[:len(b)/2]
	}
	return s.write(name, b)
}

// done writes the terminating "data: [DONE]" event of chat and completions streams.
func (s *eventStream) done() {
	if s.broken {
		return
	}
	if s.x.resetAfter(s.events) {
		s.x.reset()
		s.broken = true
		return
	}
	s.write("", []byte("[DONE]"))
	s.events-- // [DONE] is not a chunk
}

func (s *eventStream) write(name string, data []byte) bool {
	buf := make([]byte, 0, len(data)+len(name)+16)
	if name != "" {
		buf = append(append(append(buf, "event: "...), name...), '\n')
	}
	buf = append(append(append(buf, "data: "...), data...), "\n\n"...)
	if _, err := s.x.w.Write(buf); err != nil {
		s.broken = true
		return false
	}
	s.x.flush()
	s.events++
	return true
}

// pause waits before a content chunk; false when the client or server went away.
func (s *eventStream) pause() bool {
	if s.broken {
		return false
	}
	if !s.x.wait(s.x.chunkDelay) {
		s.broken = true
		return false
	}
	return true
}
