package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// span is the position of a top-level value in a request body: body[start:end]. start < 0 means
// the field is absent.
type span struct{ start, end int }

func (s span) ok() bool { return s.start >= 0 }

var absent = span{-1, -1}

// requestFields are the few top-level fields of a request body the proxy acts on. Everything
// else is passed through byte for byte; the proxy never decodes a whole body.
type requestFields struct {
	// model is the "model" value (quotes included) and modelName its unquoted text.
	model     span
	modelName string
	// stream is the "stream" flag.
	stream bool
	// streamOptions is the "stream_options" value and includeUsage its include_usage flag.
	streamOptions span
	includeUsage  bool
	// maxTokens is max_tokens, max_completion_tokens or max_output_tokens (the largest set), 0 if none.
	maxTokens int64
	// input is the embeddings/responses "input" value.
	input span
	// dimensions and encodingFormat are the embeddings options that change the vectors.
	dimensions     span
	encodingFormat string
	// end is the index of the body's closing brace.
	end int
}

// scanRequest finds the fields the proxy needs in one pass over the top level of body. It
// reports malformed JSON and wrongly typed fields as a 400 *apiError naming the problem.
func scanRequest(body []byte) (requestFields, *apiError) {
	f := requestFields{model: absent, streamOptions: absent, input: absent, dimensions: absent}
	if !gjson.ValidBytes(body) {
		return f, badRequest(jsonErrorMessage(body), "", "invalid_json")
	}
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return f, badRequest("The request body must be a JSON object.", "", "invalid_json")
	}
	i = skipSpace(body, i+1)
	for i < len(body) && body[i] != '}' {
		keyStart := i
		i = skipString(body, i)
		key := body[keyStart+1 : i-1]
		i = skipSpace(body, i)
		i = skipSpace(body, i+1) // ':'
		valStart := i
		i = skipValue(body, i)
		val := span{valStart, i}
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			if json.Unmarshal(body[keyStart:keyStart+len(key)+2], &k) == nil {
				key = []byte(k)
			}
		}
		if err := f.set(key, body, val); err != nil {
			return f, err
		}
		i = skipSpace(body, i)
		if i < len(body) && body[i] == ',' {
			i = skipSpace(body, i+1)
		}
	}
	f.end = i
	return f, nil
}

// set records one top-level member. key stays a byte slice so that the switch's string(key)
// does not allocate; only the error path makes a string of it.
func (f *requestFields) set(key []byte, body []byte, v span) *apiError {
	raw := body[v.start:v.end]
	switch string(key) {
	case "model":
		if raw[0] != '"' {
			if string(raw) == "null" {
				return nil
			}
			return badRequest("model must be a string.", "model", "invalid_type")
		}
		f.model = v
		f.modelName = unquote(raw)
	case "stream":
		switch string(raw) {
		case "true":
			f.stream = true
		case "false", "null":
			f.stream = false
		default:
			return badRequest("stream must be a boolean.", "stream", "invalid_type")
		}
	case "stream_options":
		if raw[0] == '{' {
			f.streamOptions = v
			f.includeUsage = gjson.GetBytes(raw, "include_usage").Type == gjson.True
		} else if string(raw) != "null" {
			return badRequest("stream_options must be an object.", "stream_options", "invalid_type")
		}
	case "max_tokens", "max_completion_tokens", "max_output_tokens":
		if string(raw) == "null" {
			return nil
		}
		n, ok := parseTokenCount(raw)
		if !ok {
			name := string(key)
			return badRequest(name+" must be a non-negative integer.", name, "invalid_type")
		}
		f.maxTokens = max(f.maxTokens, n)
	case "input":
		f.input = v
	case "dimensions":
		f.dimensions = v
	case "encoding_format":
		if raw[0] == '"' {
			f.encodingFormat = unquote(raw)
		}
	}
	return nil
}

// parseTokenCount reads a JSON integer that must not be negative ("-0" is 0), without the
// allocation strconv.ParseInt(string(raw)) costs. ok is false for fractions, exponents,
// negative numbers and values over MaxInt64.
func parseTokenCount(raw []byte) (n int64, ok bool) {
	digits := raw
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if len(digits) < len(raw) && n != 0 {
		return 0, false
	}
	return n, true
}

// unquote returns the text of a JSON string literal.
func unquote(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// jsonErrorMessage describes why body is not JSON, with the byte offset, as encoding/json
// reports it. It runs only on the error path.
func jsonErrorMessage(body []byte) string {
	var v any
	err := json.Unmarshal(body, &v)
	var syn *json.SyntaxError
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		return "We could not parse the JSON body of your request: the body is empty. The API expects a JSON object."
	case errors.As(err, &syn):
		return fmt.Sprintf("We could not parse the JSON body of your request: %s (at byte %d). The API expects a JSON object.", syn.Error(), syn.Offset)
	case err != nil:
		return "We could not parse the JSON body of your request: " + err.Error() + "."
	}
	return "We could not parse the JSON body of your request. The API expects a JSON object."
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// skipString returns the index after the string literal starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the (valid) JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	default:
		for ; i < len(b); i++ {
			switch b[i] {
			case ',', '}', ']', ' ', '\n', '\r', '\t':
				return i
			}
		}
		return i
	}
}

// rewriteBody returns body with the model set to model (when model is not nil, a JSON string
// literal) and stream_options.include_usage set to true (when injectUsage), writing into dst.
// It returns body itself when nothing changes.
func rewriteBody(dst, body []byte, f *requestFields, model []byte, injectUsage bool) []byte {
	if model == nil && !injectUsage {
		return body
	}
	out := dst[:0]
	prev := 0
	emptyObject := skipSpace(body, bytes.IndexByte(body, '{')+1) == f.end
	if model != nil {
		if f.model.ok() {
			out = append(out, body[:f.model.start]...)
			out = append(out, model...)
			prev = f.model.end
		} else {
			open := bytes.IndexByte(body, '{') + 1
			out = append(out, body[:open]...)
			out = append(append(out, `"model":`...), model...)
			if !emptyObject {
				out = append(out, ',')
			}
			prev = open
		}
	}
	if injectUsage && !f.streamOptions.ok() {
		out = append(out, body[prev:f.end]...)
		if emptyObject && model == nil {
			out = append(out, `"stream_options":{"include_usage":true}`...)
		} else {
			out = append(out, `,"stream_options":{"include_usage":true}`...)
		}
		prev = f.end
	}
	out = append(out, body[prev:]...)
	if injectUsage && f.streamOptions.ok() {
		// Rare: the client sent stream_options without include_usage (or with false).
		if edited, err := sjson.SetBytes(out, "stream_options.include_usage", true); err == nil {
			out = edited
		}
	}
	return out
}
