package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// ProbeResult is what a successful health probe observed.
type ProbeResult struct {
	// Latency is the time from sending the probe request to having read its response.
	Latency time.Duration
	// HTTPStatus is the status code of the probe response.
	HTTPStatus int
	// Models are the model IDs the provider listed, sorted and without duplicates. For Gemini
	// the "models/" prefix is removed.
	Models []string
	// Quota is what the provider reported about rate limits in the response headers.
	Quota Quota
}

// Reason says why a probe failed. The values are spelled like the LLMProvider condition
// reasons of the API package.
type Reason string

// The reasons a probe fails.
const (
	// InvalidCredentials: the provider rejected the key (HTTP 401 or 403, or Gemini's
	// 400 API_KEY_INVALID).
	InvalidCredentials Reason = "InvalidCredentials"
	// QuotaExhausted: the account has no quota or credit left (OpenAI insufficient_quota,
	// Anthropic billing and spend-limit errors, Gemini quota RESOURCE_EXHAUSTED); waiting a
	// minute does not help.
	QuotaExhausted Reason = "QuotaExhausted"
	// RateLimited: the caller exceeded a short-term rate limit (HTTP 429); retrying later helps.
	RateLimited Reason = "RateLimited"
	// Unreachable: no HTTP response (DNS, connection refused, TLS, timeout).
	Unreachable Reason = "Unreachable"
	// UpstreamError: the provider answered with a server error (5xx, Anthropic's 529
	// overloaded) or an unexpected status or body.
	UpstreamError Reason = "UpstreamError"
)

// ProbeError is a failed probe. Its Message never contains the API key.
type ProbeError struct {
	// Reason classifies the failure.
	Reason Reason
	// HTTPStatus is the status code of the provider's answer, or 0 when there was none.
	HTTPStatus int
	// Message is the provider's error message (or the transport error), with the API key
	// scrubbed, truncated to about 256 characters.
	Message string
	// Quota is what the provider reported in the error response's headers, if anything.
	Quota Quota
	// RetryAfter is how long the provider asked the caller to wait (Retry-After header, or
	// Gemini's RetryInfo), or 0 when it named no time.
	RetryAfter time.Duration
}

// Error implements error.
func (e *ProbeError) Error() string {
	if e.HTTPStatus == 0 {
		return fmt.Sprintf("%s: %s", e.Reason, e.Message)
	}
	return fmt.Sprintf("%s (HTTP %d): %s", e.Reason, e.HTTPStatus, e.Message)
}

// maxMessageLen is the length, in bytes, past which ProbeError.Message is truncated.
const maxMessageLen = 256

// maxProbeBody bounds how much of a probe response is read. Model lists of large
// OpenAI-compatible aggregators run to a few hundred KiB.
const maxProbeBody = 4 << 20

// newProbeError builds a ProbeError whose message is scrubbed of apiKey and truncated.
func newProbeError(reason Reason, status int, msg, apiKey string, q Quota, retryAfter time.Duration) *ProbeError {
	return &ProbeError{
		Reason:     reason,
		HTTPStatus: status,
		Message:    truncate(scrubKey(msg, apiKey), maxMessageLen),
		Quota:      q,
		RetryAfter: retryAfter,
	}
}

// maskedKey matches a key as providers echo it masked, e.g. OpenAI's
// "sk-proj-********************************abcd".
var maskedKey = regexp.MustCompile(`\S*\*{4,}\S*`)

// redacted replaces a key in messages.
const redacted = "[REDACTED]"

// scrubKey removes apiKey, and any masked key, from msg.
func scrubKey(msg, apiKey string) string {
	if apiKey != "" {
		msg = strings.ReplaceAll(msg, apiKey, redacted)
	}
	return maskedKey.ReplaceAllString(msg, redacted)
}

// truncate shortens s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// probeSpec is one provider's probe call.
type probeSpec struct {
	url    string
	header http.Header
	apiKey string // only to scrub it from messages; the header carries it
	models func(body []byte) ([]string, error)
	quota  func(h http.Header, now time.Time) Quota
}

// noRedirects keeps the key on the configured origin: net/http forwards custom credential
// headers (api-key, x-api-key, x-goog-api-key) to a redirect target on another host.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// runProbe sends the probe, measures it and classifies the answer.
func runProbe(ctx context.Context, client *http.Client, spec probeSpec) (*ProbeResult, error) {
	if client == nil {
		client = http.DefaultClient
	}
	c := *client
	c.CheckRedirect = noRedirects

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, spec.url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: building probe request: %v", ErrInvalidEndpoint, err)
	}
	for k, v := range spec.header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mosaic-probe")

	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		reason, msg := Classify(0, nil, err)
		return nil, newProbeError(reason, 0, msg, spec.apiKey, Quota{}, 0)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody+1))
	latency := time.Since(start)
	now := time.Now()
	quota := spec.quota(resp.Header, now)
	if err != nil {
		return nil, newProbeError(Unreachable, resp.StatusCode, "reading response: "+transportMessage(err), spec.apiKey, quota, 0)
	}
	if len(body) > maxProbeBody {
		return nil, newProbeError(UpstreamError, resp.StatusCode,
			fmt.Sprintf("response larger than %d MiB", maxProbeBody>>20), spec.apiKey, quota, 0)
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		reason, msg := Classify(resp.StatusCode, body, nil)
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			msg = fmt.Sprintf("unexpected redirect (HTTP %d) to %q, not followed: set the base URL to the final address", resp.StatusCode, resp.Header.Get("Location"))
		}
		retryAfter, ok := ParseRetryAfter(resp.Header, now)
		if !ok {
			retryAfter = parseUpstreamError(body).retryDelay
		}
		return nil, newProbeError(reason, resp.StatusCode, msg, spec.apiKey, quota, retryAfter)
	}

	models, err := spec.models(body)
	if err != nil {
		return nil, newProbeError(UpstreamError, resp.StatusCode, "decoding model list: "+err.Error(), spec.apiKey, quota, 0)
	}
	slices.Sort(models)
	models = slices.Compact(models)
	return &ProbeResult{Latency: latency, HTTPStatus: resp.StatusCode, Models: models, Quota: quota}, nil
}

// parseDataIDs reads the "data[].id" model list of OpenAI, Azure OpenAI, Anthropic and
// OpenAI-compatible servers.
func parseDataIDs(body []byte) ([]string, error) {
	var list struct {
		Data *[]struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("not a JSON model list: %s", jsonErrorText(err))
	}
	if list.Data == nil {
		return nil, errors.New(`no "data" array: is the base URL the API root (ending in /v1)?`)
	}
	ids := make([]string, 0, len(*list.Data))
	for _, m := range *list.Data {
		if m.ID != "" {
			ids = append(ids, m.ID)
		}
	}
	return ids, nil
}

// jsonErrorText describes a JSON decoding error without quoting the body.
func jsonErrorText(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Sprintf("field %q has JSON type %s, want %s", typ.Field, typ.Value, typ.Type)
	}
	return err.Error()
}

// Classify maps an upstream answer to a Reason and a message. transportErr is the error from
// the HTTP round trip (then status and body are ignored); otherwise status and body are the
// provider's response. It understands the error bodies of OpenAI and Azure OpenAI
// ({"error":{"message","type","code"}}), Anthropic ({"type":"error","error":{"type","message"}}),
// Google ({"error":{"code","message","status","details"}}, also wrapped in an array by
// Gemini's OpenAI endpoint) and the flat {"error":"..."} of Ollama and TEI.
//
// 401 and 403 are InvalidCredentials; 429 is QuotaExhausted when the body says the quota or
// credit is gone (OpenAI insufficient_quota, Anthropic enforced_spend_limit_reached, Gemini
// RESOURCE_EXHAUSTED "exceeded your current quota" unless only per-minute quotas are named),
// else RateLimited; Anthropic's 400 "credit balance is too low" and 402 billing_error are
// QuotaExhausted; 5xx (and 529) are UpstreamError; any other status is UpstreamError with the
// status in the message. A 2xx status gives an empty Reason.
//
// The message is the provider's own text. It can contain a key the provider echoed: callers
// that know the key scrub it (ProbeError messages are scrubbed).
func Classify(status int, body []byte, transportErr error) (Reason, string) {
	if transportErr != nil {
		return Unreachable, transportMessage(transportErr)
	}
	if status >= 200 && status <= 299 {
		return "", ""
	}
	e := parseUpstreamError(body)
	msg := e.message
	if msg == "" {
		msg = bodySnippet(body)
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	if msg == "" {
		msg = fmt.Sprintf("HTTP status %d with no error message", status)
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return InvalidCredentials, msg
	case status == http.StatusBadRequest && e.invalidKey():
		return InvalidCredentials, msg
	case status == http.StatusPaymentRequired:
		return QuotaExhausted, msg
	case (status == http.StatusTooManyRequests || status == http.StatusBadRequest) && e.quotaExhausted():
		return QuotaExhausted, msg
	case status == http.StatusTooManyRequests:
		return RateLimited, msg
	case status >= 500:
		return UpstreamError, msg
	default:
		text := http.StatusText(status)
		if text == "" {
			text = "status"
		}
		return UpstreamError, fmt.Sprintf("unexpected HTTP status %d %s: %s", status, text, msg)
	}
}

// transportMessage describes a failed round trip, naming the kind of failure first.
func transportMessage(err error) string {
	kind := "connection failed"
	var dnsErr *net.DNSError
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	var recordErr tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		kind = "timed out"
	case errors.Is(err, context.Canceled):
		kind = "canceled"
	case errors.As(err, &dnsErr):
		kind = "DNS lookup failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		kind = "connection refused"
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr),
		errors.As(err, &invalidCert), errors.As(err, &recordErr), errors.As(err, &alert):
		kind = "TLS handshake failed"
	case errors.As(err, &netErr) && netErr.Timeout():
		kind = "timed out"
	}
	return kind + ": " + err.Error()
}

// bodySnippet returns a short printable prefix of a non-JSON error body (an HTML error page
// from a load balancer, a plain-text message), or "".
func bodySnippet(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" || !utf8.ValidString(s) || strings.HasPrefix(s, "<") || strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
		return ""
	}
	return truncate(strings.Join(strings.Fields(s), " "), maxMessageLen)
}

// upstreamError is what Classify reads from an error body.
type upstreamError struct {
	message string
	// codes are the machine-readable identifiers found: error.type, error.code, Google's
	// error.status and ErrorInfo reasons, Anthropic's error.details.error_code.
	codes []string
	// quotaIDs are the quotaId values of Google QuotaFailure violations.
	quotaIDs []string
	// retryDelay is Google's RetryInfo.retryDelay.
	retryDelay time.Duration
}

func (e upstreamError) has(code string) bool {
	for _, c := range e.codes {
		if strings.EqualFold(c, code) {
			return true
		}
	}
	return false
}

// invalidKey: Gemini answers a bad key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
func (e upstreamError) invalidKey() bool {
	for _, c := range e.codes {
		if strings.HasPrefix(strings.ToUpper(c), "API_KEY_") {
			return true
		}
	}
	return strings.Contains(strings.ToLower(e.message), "api key not valid")
}

// quotaWording is what providers say when the account's quota or credit is used up.
var quotaWording = []string{
	"exceeded your current quota",             // OpenAI, Gemini
	"quota exceeded",                          // Google
	"credit balance is too low",               // Anthropic
	"credits are depleted",                    // Gemini prepay
	"reached your specified api usage limits", // Anthropic workspace limit
	"spend limit",                             // Anthropic
}

func (e upstreamError) quotaExhausted() bool {
	if e.has("insufficient_quota") || e.has("enforced_spend_limit_reached") || e.has("billing_error") {
		return true
	}
	msg := strings.ToLower(e.message)
	worded := false
	for _, w := range quotaWording {
		if strings.Contains(msg, w) {
			worded = true
			break
		}
	}
	if !worded {
		return false
	}
	// Gemini names every quota it hit; when all are per-minute ones, waiting is enough.
	if len(e.quotaIDs) > 0 {
		for _, id := range e.quotaIDs {
			if !strings.Contains(id, "PerMinute") {
				return true
			}
		}
		return false
	}
	return true
}

// errorEnvelope covers the error bodies of every supported provider.
type errorEnvelope struct {
	// Error is an object (OpenAI, Azure, Anthropic, Google, vLLM) or a string (Ollama, TEI).
	Error json.RawMessage `json:"error"`
	// Message and Type are top-level in older vLLM errors and APIM gateway errors.
	Message string `json:"message"`
	Type    string `json:"type"`
	// ErrorType is TEI's error class.
	ErrorType string `json:"error_type"`
}

type errorObject struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"`
	Status  string          `json:"status"`
	Details json.RawMessage `json:"details"`
}

type googleDetail struct {
	Type       string `json:"@type"`
	Reason     string `json:"reason"`
	RetryDelay string `json:"retryDelay"`
	Violations []struct {
		QuotaID string `json:"quotaId"`
	} `json:"violations"`
}

// parseUpstreamError reads an error body; anything it does not understand is left empty.
func parseUpstreamError(body []byte) upstreamError {
	var out upstreamError
	body = []byte(strings.TrimSpace(string(body)))
	if len(body) > 0 && body[0] == '[' {
		// Gemini's OpenAI-compatible endpoint wraps the Google error in an array.
		var list []json.RawMessage
		if json.Unmarshal(body, &list) != nil || len(list) == 0 {
			return out
		}
		body = list[0]
	}
	var env errorEnvelope
	if json.Unmarshal(body, &env) != nil {
		return out
	}
	out.message = env.Message
	out.addCode(env.Type, env.ErrorType)
	if len(env.Error) == 0 || string(env.Error) == "null" {
		return out
	}
	var s string
	if json.Unmarshal(env.Error, &s) == nil {
		out.message = s
		return out
	}
	var obj errorObject
	if json.Unmarshal(env.Error, &obj) != nil {
		return out
	}
	if obj.Message != "" {
		out.message = obj.Message
	}
	out.addCode(obj.Type, obj.Status, rawCode(obj.Code))
	details := []byte(strings.TrimSpace(string(obj.Details)))
	switch {
	case len(details) > 0 && details[0] == '[':
		var gd []googleDetail
		if json.Unmarshal(details, &gd) == nil {
			for _, d := range gd {
				out.addCode(d.Reason)
				for _, v := range d.Violations {
					if v.QuotaID != "" {
						out.quotaIDs = append(out.quotaIDs, v.QuotaID)
					}
				}
				if d.RetryDelay != "" {
					if dd, err := parseOpenAIDuration(d.RetryDelay); err == nil {
						out.retryDelay = min(dd, maxRetryAfter)
					}
				}
			}
		}
	case len(details) > 0 && details[0] == '{':
		var ad struct {
			ErrorCode string `json:"error_code"`
		}
		if json.Unmarshal(details, &ad) == nil {
			out.addCode(ad.ErrorCode)
		}
	}
	return out
}

func (e *upstreamError) addCode(codes ...string) {
	for _, c := range codes {
		if c != "" {
			e.codes = append(e.codes, c)
		}
	}
}

// rawCode renders error.code, a string (OpenAI "insufficient_quota", Azure "429") or a number
// (Google 429).
func rawCode(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}
