package proxy

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/mosaic-dev/mosaic/internal/proxyconfig"
	"github.com/mosaic-dev/mosaic/internal/sanitize"
)

// promptSanitizer is the proxy's seam to internal/sanitize.
type promptSanitizer interface {
	// sanitize returns the body to send (body itself when nothing changed), the estimated prompt
	// tokens, and a 400 *apiError when the request is refused.
	sanitize(s *Server, op operation, body []byte) ([]byte, int64, *apiError)
}

// policySanitizer applies one provider's sanitization policy.
type policySanitizer struct {
	s *sanitize.Sanitizer
	// scanResponses is kept for output filtering (see ScanResponses in proxyconfig).
	scanResponses bool
}

func newPromptSanitizer(c *proxyconfig.Sanitization) (promptSanitizer, error) {
	p := sanitize.Policy{MaxPromptChars: c.MaxPromptChars, MaxPromptTokens: c.MaxPromptTokens, Action: sanitize.Action(c.Action)}
	for _, d := range c.Detectors {
		p.Detectors = append(p.Detectors, sanitize.Detector(d))
	}
	for _, pat := range c.Patterns {
		p.Patterns = append(p.Patterns, sanitize.Pattern{Name: pat.Name, Regex: pat.Regex, Action: sanitize.Action(pat.Action)})
	}
	s, err := sanitize.New(p)
	if err != nil {
		return nil, err
	}
	return &policySanitizer{s: s, scanResponses: c.ScanResponses}, nil
}

func (ps *policySanitizer) sanitize(srv *Server, op operation, body []byte) ([]byte, int64, *apiError) {
	out, res, err := ps.s.SanitizeRequest(op.path(), body)
	for _, h := range res.Hits {
		srv.metrics.sanitizerHits.WithLabelValues(h.Detector, string(h.Action)).Add(float64(h.Count))
	}
	if err == nil {
		return out, int64(res.EstimatedTokens), nil
	}
	var blocked *sanitize.BlockedError
	var limit *sanitize.LimitError
	var bad *sanitize.BadRequestError
	switch {
	case errors.As(err, &blocked):
		return nil, 0, &apiError{status: http.StatusBadRequest, typ: typeInvalidRequest, code: "content_blocked", param: blocked.Field,
			message: "The request was blocked by the sanitization policy: " + blocked.Detector + " detected in " + blocked.Field + "."}
	case errors.As(err, &limit):
		srv.metrics.sanitizerHits.WithLabelValues(limit.Field, "Limit").Inc()
		return nil, 0, &apiError{status: http.StatusBadRequest, typ: typeInvalidRequest, code: "prompt_too_long",
			message: "The prompt is too long for the sanitization policy: " + strconv.Itoa(limit.Actual) + " is over the " + limit.Field + " limit of " + strconv.Itoa(limit.Limit) + "."}
	case errors.As(err, &bad):
		return nil, 0, badRequest("Invalid request: "+bad.Error()+".", bad.Field, "invalid_request")
	}
	return nil, 0, &apiError{status: http.StatusInternalServerError, typ: typeServer, code: "sanitizer_error", message: "The sanitizer failed: " + err.Error()}
}

// outputFilter redacts completions on their way back (sanitization.scanResponses): the
// message content of chat completions and the text of legacy completions, whole or streamed.
// Responses API output is not filtered yet.
type outputFilter struct {
	s       *sanitize.Sanitizer
	op      operation
	streams map[int64]*sanitize.StreamFilter
	hits    []sanitize.Hit
}

// newOutputFilter returns the filter for one response, or nil when none applies.
func newOutputFilter(san promptSanitizer, op operation) *outputFilter {
	ps, ok := san.(*policySanitizer)
	if !ok || !ps.scanResponses || (op != opChat && op != opCompletions) {
		return nil
	}
	return &outputFilter{s: ps.s, op: op}
}

// contentPath is the text field of choice k in a whole answer (stream false) or a chunk.
func (of *outputFilter) contentPath(k int, stream bool) string {
	switch {
	case of.op == opCompletions:
		return "choices." + strconv.Itoa(k) + ".text"
	case stream:
		return "choices." + strconv.Itoa(k) + ".delta.content"
	}
	return "choices." + strconv.Itoa(k) + ".message.content"
}

// outputBlocked is the error for a Block match in a completion.
func outputBlocked(err error) *apiError {
	var blocked *sanitize.BlockedError
	detector := "a detector"
	if errors.As(err, &blocked) {
		detector = blocked.Detector
	}
	return &apiError{status: http.StatusBadGateway, typ: typeUpstream, code: "content_blocked",
		message: "The provider's answer was blocked by the sanitization policy: " + detector + " detected in the output."}
}

// filterBody redacts a whole (non-streamed) answer.
func (of *outputFilter) filterBody(body []byte) ([]byte, *apiError) {
	choices := gjson.GetBytes(body, "choices")
	if !choices.IsArray() {
		return body, nil
	}
	for k := range choices.Array() {
		path := of.contentPath(k, false)
		text := gjson.GetBytes(body, path)
		if text.Type != gjson.String {
			continue
		}
		out, hits, err := of.s.SanitizeText(text.Str)
		of.hits = append(of.hits, hits...)
		if err != nil {
			return nil, outputBlocked(err)
		}
		if out != text.Str {
			if edited, err := sjson.SetBytes(body, path, out); err == nil {
				body = edited
			}
		}
	}
	return body, nil
}

// filterEvent redacts one streamed chunk, holding back text that may still become part of a
// match; a choice's held-back text is released with its finish_reason.
func (of *outputFilter) filterEvent(event []byte) ([]byte, *apiError) {
	data, _ := sseData(event, nil)
	if len(data) == 0 || data[0] != '{' {
		return event, nil
	}
	choices := gjson.GetBytes(data, "choices")
	if !choices.IsArray() {
		return event, nil
	}
	changed := false
	for k, c := range choices.Array() {
		idx := c.Get("index").Int()
		if of.streams == nil {
			of.streams = map[int64]*sanitize.StreamFilter{}
		}
		f := of.streams[idx]
		if f == nil {
			f = of.s.NewStreamFilter()
			of.streams[idx] = f
		}
		path := of.contentPath(k, true)
		text := gjson.GetBytes(data, path)
		out := text.Str
		if text.Type == gjson.String {
			out = f.Write(text.Str)
		}
		if fin := c.Get("finish_reason"); fin.Type == gjson.String {
			out += f.Flush()
			of.hits = append(of.hits, f.Hits()...)
		}
		if err := f.Err(); err != nil {
			return nil, outputBlocked(err)
		}
		if out != text.Str && (text.Type == gjson.String || out != "") {
			if edited, err := sjson.SetBytes(data, path, out); err == nil {
				data = edited
				changed = true
			}
		}
	}
	if !changed {
		return event, nil
	}
	ev := make([]byte, 0, len(data)+8)
	ev = append(append(append(ev, "data: "...), data...), "\n\n"...)
	return ev, nil
}

// record counts the filter's matches.
func (of *outputFilter) record(m *Metrics) {
	for _, h := range of.hits {
		m.sanitizerHits.WithLabelValues(h.Detector, string(h.Action)).Add(float64(h.Count))
	}
	of.hits = nil
}
