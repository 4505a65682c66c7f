package proxy

import (
	"net/http"
	"strconv"
)

// apiError is an error answered to the client in OpenAI's shape:
// {"error":{"message":...,"type":...,"param":...,"code":...}}.
type apiError struct {
	status  int
	message string
	// typ is OpenAI's error "type" (invalid_request_error, rate_limit_exceeded, ...).
	typ string
	// code is OpenAI's machine-readable "code"; "" writes null.
	code string
	// param names the request field at fault; "" writes null.
	param string
	// retryAfter, when positive, is sent as the Retry-After header (seconds).
	retryAfter int64
}

func (e *apiError) Error() string { return e.message }

// OpenAI error types used by the proxy.
const (
	typeInvalidRequest = "invalid_request_error"
	typeServer         = "server_error"
	typeUpstream       = "upstream_error"
	typeTimeout        = "timeout_error"
)

// appendJSONString appends s as a JSON string literal.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendNullableString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, s)
}

// body renders the error's JSON body.
func (e *apiError) body() []byte {
	b := make([]byte, 0, 96+len(e.message))
	b = append(b, `{"error":{"message":`...)
	b = appendJSONString(b, e.message)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, e.typ)
	b = append(b, `,"param":`...)
	b = appendNullableString(b, e.param)
	b = append(b, `,"code":`...)
	b = appendNullableString(b, e.code)
	return append(b, "}}\n"...)
}

// write sends the error. Nothing must have been written to w before.
func (e *apiError) write(w http.ResponseWriter) {
	b := e.body()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(e.retryAfter, 10))
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

func badRequest(message, param, code string) *apiError {
	return &apiError{status: http.StatusBadRequest, message: message, typ: typeInvalidRequest, param: param, code: code}
}
