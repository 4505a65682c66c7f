package fakeopenai

import (
	"net"
	"net/http"
	"time"
)

// Fault changes how the server answers one request. Faults are queued with
// Server.Inject and each is used by exactly one request. Build them with the
// constructors below; in a Fault literal that should still send a normal
// answer (SlowChunks-like or Headers-only faults), set ResetAfterChunks to -1,
// because its zero value means "reset right after the headers".
//
// The first of these that is set decides the answer: ResetBeforeHeaders,
// Hang, Status; otherwise the endpoint answers normally, shaped by
// MalformedJSON, ChunkDelay and ResetAfterChunks. Headers and RetryAfter are
// added to whatever answer is sent.
type Fault struct {
	// Status, when non-zero, answers with this HTTP status and an OpenAI
	// error body built from ErrorType, ErrorCode and Message (defaults
	// depend on the status).
	Status int
	// RetryAfter is the value of a Retry-After header ("" = no header).
	RetryAfter string
	// ErrorType is the error body's "type" (e.g. "requests", "server_error").
	ErrorType string
	// ErrorCode is the error body's "code" (e.g. "rate_limit_exceeded"); "" = null.
	ErrorCode string
	// Message is the error body's "message".
	Message string
	// Hang sends nothing and blocks until the client gives up (its request
	// context ends) or the server closes.
	Hang bool
	// ResetBeforeHeaders resets the TCP connection (RST) before any byte of
	// the response is sent.
	ResetBeforeHeaders bool
	// ResetAfterChunks resets the connection after the response headers and
	// this many SSE data events of a stream (the role chunk counts as one);
	// a non-streaming answer is cut after half its body. -1 means no reset.
	ResetAfterChunks int
	// ChunkDelay, when non-zero, replaces Options.ChunkDelay for this request.
	ChunkDelay time.Duration
	// MalformedJSON answers 200 with a body that is not valid JSON: a
	// truncated object for a plain answer, a truncated data event after the
	// role chunk of a stream.
	MalformedJSON bool
	// Headers are set on the response.
	Headers map[string]string
}

// RateLimited is OpenAI's 429 for an exhausted requests-per-minute limit,
// with a Retry-After header when retryAfter is not "".
func RateLimited(retryAfter string) Fault {
	f := Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter, ErrorType: "requests", ErrorCode: "rate_limit_exceeded",
		Message:          "Rate limit reached for gpt-4o-mini in organization org-fakeopenai on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits to learn more.",
		ResetAfterChunks: -1, Headers: map[string]string{"x-ratelimit-remaining-requests": "0"}}
	if retryAfter != "" {
		f.Headers["x-ratelimit-reset-requests"] = retryAfter + "s"
	}
	return f
}

// InsufficientQuota is OpenAI's 429 for an account out of credit, which a
// client must not retry.
func InsufficientQuota() Fault {
	return Fault{Status: http.StatusTooManyRequests, ErrorType: "insufficient_quota", ErrorCode: "insufficient_quota",
		Message:          "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
		ResetAfterChunks: -1}
}

// ServerError answers with a 5xx status (500, 502, 503, ...) and OpenAI's
// server_error body.
func ServerError(status int) Fault {
	return Fault{Status: status, ResetAfterChunks: -1}
}

// Hang never answers.
func Hang() Fault { return Fault{Hang: true, ResetAfterChunks: -1} }

// ResetBeforeHeaders resets the connection before any response byte.
func ResetBeforeHeaders() Fault { return Fault{ResetBeforeHeaders: true, ResetAfterChunks: -1} }

// ResetMidStream resets the connection after n SSE data events (counting
// the role chunk), or after half of a non-streaming body.
func ResetMidStream(n int) Fault { return Fault{ResetAfterChunks: max(n, 0)} }

// SlowChunks pauses d before each streamed content chunk.
func SlowChunks(d time.Duration) Fault { return Fault{ChunkDelay: d, ResetAfterChunks: -1} }

// MalformedJSON answers 200 with an invalid JSON body or SSE event.
func MalformedJSON() Fault { return Fault{MalformedJSON: true, ResetAfterChunks: -1} }

// applyFault answers the request when the fault replaces the normal answer
// and reports whether it did.
func (x *exchange) applyFault() bool {
	f := x.fault
	switch {
	case f.ResetBeforeHeaders:
		x.reset()
		return true
	case f.Hang:
		select {
		case <-x.r.Context().Done():
		case <-x.s.closed:
		}
		return true
	case f.Status != 0:
		typ, code, msg := f.ErrorType, f.ErrorCode, f.Message
		if typ == "" {
			typ = defaultErrorType(f.Status)
		}
		if msg == "" {
			msg = defaultErrorMessage(f.Status)
		}
		x.error(f.Status, typ, code, msg, "")
		return true
	}
	return false
}

// resetAfter reports whether the fault asks for a reset after n events.
func (x *exchange) resetAfter(n int) bool {
	return x.fault != nil && x.fault.ResetAfterChunks >= 0 && n >= x.fault.ResetAfterChunks
}

func (x *exchange) malformed() bool { return x.fault != nil && x.fault.MalformedJSON }

// reset closes the client connection with a TCP RST, flushing whatever the
// handler had written.
func (x *exchange) reset() {
	hj, ok := x.w.(http.Hijacker)
	if !ok {
		panic("fakeopenai: response writer cannot be hijacked")
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	_ = buf.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func defaultErrorType(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "requests"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}

func defaultErrorMessage(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "Rate limit reached. Please try again later."
	case http.StatusInternalServerError:
		return "The server had an error while processing your request. Sorry about that!"
	case http.StatusBadGateway:
		return "Bad gateway."
	case http.StatusServiceUnavailable:
		return "The server is overloaded or not ready yet."
	case http.StatusGatewayTimeout:
		return "Gateway timeout."
	}
	return http.StatusText(status)
}
