package provider

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"k8s.io/utils/clock"
)

// FakeDefaultBaseURL is the Fake provider's base URL. The fake:// scheme is never dialled:
// requests to any URL go through Fake.RoundTripper, which routes on the path's last segments
// (/chat/completions, /completions, /embeddings, /responses, /models), so an OpenAI SDK
// configured with this base URL and that RoundTripper works unchanged.
const FakeDefaultBaseURL = "fake://mosaic/v1"

// Fake is a real, user-selectable provider that answers in process, with no network, in the
// shapes of the OpenAI API: for demos, local development and tests. It is deterministic:
// the same request gets the same answer (except "created" timestamps).
//
//   - GET /models lists FakeModels(); GET /models/{id} retrieves one.
//   - POST /chat/completions answers a chat.completion whose text names the last user message;
//     "stream": true gives chat.completion.chunk SSE events ending in "data: [DONE]", with a
//     usage chunk when stream_options.include_usage is true. max_tokens and
//     max_completion_tokens cut the answer (finish_reason "length"), n gives n choices.
//   - POST /completions does the same for legacy text completions (max_tokens defaults to 16).
//   - POST /embeddings gives unit vectors derived from a hash of each input, of the model's
//     size or the requested dimensions, as floats or base64 (encoding_format).
//   - POST /responses answers a completed response object, or its SSE event sequence.
//
// Usage counts one token per 4 characters (runes), rounded up, of each text. Every answer
// carries OpenAI's x-ratelimit-* headers. Any key, or none, is accepted. Errors have OpenAI's
// shape and status codes (400 for bad bodies, 404 for unknown models and paths).
type Fake struct {
	// Clock supplies "created" timestamps; nil means the real clock.
	Clock clock.PassiveClock
}

var (
	_ Provider  = (*Fake)(nil)
	_ InProcess = (*Fake)(nil)
)

// Type implements Provider.
func (*Fake) Type() Type { return TypeFake }

// DefaultBaseURL implements Provider: FakeDefaultBaseURL.
func (*Fake) DefaultBaseURL() string { return FakeDefaultBaseURL }

// Authorize implements Provider: "Authorization: Bearer <key>", like OpenAI.
func (*Fake) Authorize(h http.Header, apiKey string) { setBearer(h, apiKey) }

// RequestURL implements Provider: {base}{operation}. Any base URL scheme is accepted, since
// the fake never dials.
func (p *Fake) RequestURL(ep Endpoint, operation, _ string) (string, error) {
	if err := checkOpenAIOperation(p.Type(), operation); err != nil {
		return "", err
	}
	base, err := baseURL(p.Type(), ep.BaseURL, FakeDefaultBaseURL)
	if err != nil {
		return "", err
	}
	return joinPath(base, operation, nil), nil
}

// Probe implements Provider: GET {base}/models through RoundTripper. client is not used (the
// fake has no network); ctx still bounds the call.
func (p *Fake) Probe(ctx context.Context, _ *http.Client, ep Endpoint, apiKey string) (*ProbeResult, error) {
	u, err := p.RequestURL(ep, OperationModels, "")
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	p.Authorize(h, apiKey)
	return runProbe(ctx, &http.Client{Transport: p.RoundTripper()}, probeSpec{
		url:    u,
		header: h,
		apiKey: apiKey,
		models: parseDataIDs,
		quota:  p.ParseQuota,
	})
}

// ParseQuota implements Provider: the fake sends OpenAI's headers.
func (*Fake) ParseQuota(h http.Header, now time.Time) Quota { return parseOpenAIQuota(h, now) }

// RoundTripper implements InProcess: it answers every request in process.
func (p *Fake) RoundTripper() http.RoundTripper {
	c := p.Clock
	if c == nil {
		c = clock.RealClock{}
	}
	return &fakeTransport{clock: c}
}

// fakeModel is one model the fake serves.
type fakeModel struct {
	id      string
	created int64
	// dims is the native embedding size; 0 for a text model.
	dims int
	// fixedDims is true for models that reject the dimensions parameter.
	fixedDims bool
}

var fakeModels = []fakeModel{
	{id: "gpt-3.5-turbo-instruct", created: 1692901427},
	{id: "gpt-4.1-mini", created: 1744318173},
	{id: "gpt-4o", created: 1715367049},
	{id: "gpt-4o-mini", created: 1721172741},
	{id: "text-embedding-3-large", created: 1705953180, dims: 3072},
	{id: "text-embedding-3-small", created: 1705948997, dims: 1536},
	{id: "text-embedding-ada-002", created: 1671217299, dims: 1536, fixedDims: true},
}

// FakeModels returns the IDs of the models the Fake provider serves, sorted.
func FakeModels() []string {
	ids := make([]string, len(fakeModels))
	for i, m := range fakeModels {
		ids[i] = m.id
	}
	return ids
}

func lookupFakeModel(id string) (fakeModel, bool) {
	for _, m := range fakeModels {
		if m.id == id {
			return m, true
		}
	}
	return fakeModel{}, false
}

// The fake's advertised rate limits.
const (
	fakeRequestsLimit = 10000
	fakeTokensLimit   = 2000000
	// fakeMaxBody is the largest request body the fake reads.
	fakeMaxBody = 32 << 20
)

// fakeTransport is the Fake provider's http.RoundTripper.
type fakeTransport struct {
	clock clock.PassiveClock
}

// fakeAnswer is a handler's result before it becomes an *http.Response.
type fakeAnswer struct {
	status      int
	contentType string
	body        []byte
	// tokens is what the request consumed, for the rate-limit headers.
	tokens int64
}

// RoundTrip implements http.RoundTripper.
func (t *fakeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(io.LimitReader(req.Body, fakeMaxBody+1))
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("fake provider: reading request body: %w", err)
		}
		body = b
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	id := fakeRequestID(req, body)
	var a fakeAnswer
	if len(body) > fakeMaxBody {
		a = fakeErrorAnswer(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body too large: the limit is %d bytes.", fakeMaxBody), "invalid_request_error", "", "")
	} else {
		a = t.route(req.Method, req.URL.Path, body, id)
	}
	h := http.Header{}
	h.Set("Content-Type", a.contentType)
	h.Set("X-Request-Id", "req_"+id)
	h.Set("Openai-Processing-Ms", "0")
	setFakeQuotaHeaders(h, a.tokens)
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", a.status, http.StatusText(a.status)),
		StatusCode:    a.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(a.body)),
		ContentLength: int64(len(a.body)),
		Request:       req,
	}, nil
}

// route dispatches on the path's last segments, whatever prefix (/v1, /openai/v1) precedes.
func (t *fakeTransport) route(method, path string, body []byte, id string) fakeAnswer {
	path = strings.TrimRight(path, "/")
	var handler func(body []byte, id string) fakeAnswer
	want := http.MethodPost
	switch {
	case strings.HasSuffix(path, OperationChatCompletions):
		handler = t.chatCompletion
	case strings.HasSuffix(path, OperationCompletions):
		handler = t.completion
	case strings.HasSuffix(path, OperationEmbeddings):
		handler = t.embeddings
	case strings.HasSuffix(path, OperationResponses):
		handler = t.response
	case strings.HasSuffix(path, OperationModels):
		want, handler = http.MethodGet, func([]byte, string) fakeAnswer { return fakeModelList() }
	case strings.Contains(path, "/models/"):
		model := path[strings.LastIndex(path, "/models/")+len("/models/"):]
		want, handler = http.MethodGet, func([]byte, string) fakeAnswer { return fakeModelGet(model) }
	default:
		return fakeErrorAnswer(http.StatusNotFound, fmt.Sprintf("Invalid URL (%s %s)", method, path), "invalid_request_error", "", "")
	}
	if method != want {
		return fakeErrorAnswer(http.StatusMethodNotAllowed, fmt.Sprintf("Invalid method for URL (%s %s)", method, path), "invalid_request_error", "", "")
	}
	return handler(body, id)
}

// fakeRequestID derives a stable ID from the request, so equal requests get equal answers.
func fakeRequestID(req *http.Request, body []byte) string {
	h := sha256.New()
	io.WriteString(h, req.Method+" "+req.URL.Path+"\n")
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// setFakeQuotaHeaders writes OpenAI-style rate-limit headers as if the fake's window had just
// opened and this request were its first.
func setFakeQuotaHeaders(h http.Header, tokens int64) {
	tokens = min(max(tokens, 0), fakeTokensLimit)
	h.Set("x-ratelimit-limit-requests", strconv.Itoa(fakeRequestsLimit))
	h.Set("x-ratelimit-limit-tokens", strconv.Itoa(fakeTokensLimit))
	h.Set("x-ratelimit-remaining-requests", strconv.Itoa(fakeRequestsLimit-1))
	h.Set("x-ratelimit-remaining-tokens", strconv.FormatInt(fakeTokensLimit-tokens, 10))
	h.Set("x-ratelimit-reset-requests", (time.Minute / fakeRequestsLimit).String())
	h.Set("x-ratelimit-reset-tokens", (time.Duration(tokens) * time.Minute / fakeTokensLimit).String())
}
