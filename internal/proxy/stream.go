package proxy

import (
	"bufio"
	"bytes"

	"github.com/tidwall/gjson"
)

// sseReader splits a text/event-stream into events without interpreting them: each event is
// returned as its raw bytes, terminating blank line included, so forwarding it changes nothing.
// Lines end in "\n" or "\r\n" (what every LLM API sends); a lone "\r" is not a line end here.
type sseReader struct {
	r   *bufio.Reader
	buf []byte
}

// next returns the raw bytes of the next event, valid until the following call. At the end of
// the stream it returns the unterminated remainder (if any) with io.EOF; a read error is
// returned as is, with the partial event.
func (s *sseReader) next() ([]byte, error) {
	s.buf = s.buf[:0]
	for {
		line, err := s.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			s.buf = append(s.buf, line...)
			continue
		}
		s.buf = append(s.buf, line...)
		if err != nil {
			return s.buf, err
		}
		// A blank line ends the event; leading blank lines are passed on by themselves.
		if len(line) == 1 || (len(line) == 2 && line[0] == '\r') {
			return s.buf, nil
		}
	}
}

// sseData returns the event's data: the value of its data field, or of several data fields
// joined by "\n" (appended to scratch). It returns nil for an event without data (a comment
// or keep-alive) and the event name ("" when unnamed).
func sseData(event, scratch []byte) (data []byte, name []byte) {
	lines := 0
	for len(event) > 0 {
		var line []byte
		if i := bytes.IndexByte(event, '\n'); i >= 0 {
			line, event = event[:i], event[i+1:]
		} else {
			line, event = event, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		field, value, found := bytes.Cut(line, []byte(":"))
		if len(field) == 0 {
			continue // a comment (":...") or the blank line
		}
		if found && len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(field) {
		case "data":
			lines++
			if lines == 1 {
				data = value
			} else {
				if lines == 2 {
					scratch = append(scratch[:0], data...)
				}
				scratch = append(append(scratch, '\n'), value...)
				data = scratch
			}
			if data == nil {
				data = []byte{}
			}
		case "event":
			name = value
		}
	}
	return data, name
}

// usage is the token count of one response.
type usage struct {
	prompt, completion, total int64
	known                     bool
}

// parseUsage reads a usage object: chat/completions/embeddings (prompt_tokens,
// completion_tokens, total_tokens) or Responses (input_tokens, output_tokens, total_tokens).
func parseUsage(u gjson.Result) usage {
	if !u.IsObject() {
		return usage{}
	}
	var out usage
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "prompt_tokens", "input_tokens":
			out.prompt = v.Int()
		case "completion_tokens", "output_tokens":
			out.completion = v.Int()
		case "total_tokens":
			out.total = v.Int()
		}
		return true
	})
	if out.total == 0 {
		out.total = out.prompt + out.completion
	}
	out.known = true
	return out
}

var (
	usageKey = []byte(`"usage"`)
	doneData = []byte("[DONE]")
)

// streamEventKind says what a stream event means to the proxy.
type streamEventKind uint8

const (
	eventForward streamEventKind = iota
	// eventUsageOnly is the extra usage chunk the proxy asked for: counted, not forwarded.
	eventUsageOnly
	eventDone
)

// inspectEvent reads the usage an event carries (into u) and says whether to forward it.
// stripUsage is set when the proxy injected stream_options.include_usage.
func inspectEvent(event, scratch []byte, op operation, stripUsage bool, u *usage) streamEventKind {
	if !bytes.Contains(event, usageKey) {
		if bytes.Contains(event, doneData) {
			if data, _ := sseData(event, scratch); bytes.Equal(bytes.TrimSpace(data), doneData) {
				return eventDone
			}
		}
		return eventForward
	}
	data, _ := sseData(event, scratch)
	if len(data) == 0 {
		return eventForward
	}
	if op == opResponses {
		if got := parseUsage(gjson.GetBytes(data, "response.usage")); got.known {
			*u = got
		}
		return eventForward
	}
	got := parseUsage(gjson.GetBytes(data, "usage"))
	if !got.known {
		return eventForward
	}
	*u = got
	if stripUsage {
		if c := gjson.GetBytes(data, "choices"); !c.Exists() || (c.IsArray() && len(c.Array()) == 0) {
			return eventUsageOnly
		}
	}
	return eventForward
}

// errorEvent is the SSE event sent before cutting a stream the upstream broke: the OpenAI SDKs
// raise it as an error instead of treating the cut as a normal end.
func errorEvent(message, code string) []byte {
	e := apiError{message: message, typ: typeUpstream, code: code}
	b := append([]byte("data: "), bytes.TrimSuffix(e.body(), []byte("\n"))...)
	return append(b, "\n\n"...)
}
