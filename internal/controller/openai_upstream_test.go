package controller

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
)

// upstreamBehaviour is how the fake OpenAI answers one key.
type upstreamBehaviour struct {
	// status is the HTTP status of GET /v1/models: 200, 429 (insufficient_quota) or 500.
	status int
	// requestsLimit, requestsRemaining, tokensLimit and tokensRemaining are sent in the
	// x-ratelimit-* headers.
	requestsLimit, requestsRemaining, tokensLimit, tokensRemaining int64
}

// healthyUpstream answers the model list with OpenAI's default tier-1 limits.
var healthyUpstream = upstreamBehaviour{
	status:        http.StatusOK,
	requestsLimit: 10000, requestsRemaining: 9999,
	tokensLimit: 30000000, tokensRemaining: 29999950,
}

// fakeOpenAI is an HTTPS server answering GET /v1/models as api.openai.com documents it
// (https://platform.openai.com/docs/api-reference/models/list and .../docs/guides/error-codes):
// a model list with x-ratelimit-* headers for a known key, 401 invalid_api_key (echoing the key
// masked, as OpenAI does) for an unknown one, 429 insufficient_quota, 500 server_error.
type fakeOpenAI struct {
	*httptest.Server

	mu   sync.Mutex
	keys map[string]upstreamBehaviour
}

func newFakeOpenAI() *fakeOpenAI {
	f := &fakeOpenAI{keys: map[string]upstreamBehaviour{}}
	f.Server = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	return f
}

// baseURL is the API root to put in spec.endpoint.
func (f *fakeOpenAI) baseURL() string { return f.URL + "/v1" }

// newKey registers a fresh key answered with b and returns it.
func (f *fakeOpenAI) newKey(b upstreamBehaviour) string {
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		panic(err)
	}
	key := "sk-proj-" + hex.EncodeToString(buf)
	f.setKey(key, b)
	return key
}

// setKey sets how the server answers key.
func (f *fakeOpenAI) setKey(key string, b upstreamBehaviour) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[key] = b
}

func (f *fakeOpenAI) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", "req_"+strconv.FormatInt(int64(len(r.URL.Path)), 16)+"4f1c2a")
	w.Header().Set("Openai-Processing-Ms", "12")
	if r.Method != http.MethodGet || r.URL.Path != "/v1/models" {
		writeOpenAIError(w, http.StatusNotFound, fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path), "invalid_request_error", "")
		return
	}
	auth := r.Header.Get("Authorization")
	key, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || key == "" {
		writeOpenAIError(w, http.StatusUnauthorized,
			"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
			"invalid_request_error", "")
		return
	}
	f.mu.Lock()
	b, known := f.keys[key]
	f.mu.Unlock()
	if !known {
		writeOpenAIError(w, http.StatusUnauthorized,
			fmt.Sprintf("Incorrect API key provided: %s. You can find your API key at https://platform.openai.com/account/api-keys.", maskKey(key)),
			"invalid_request_error", "invalid_api_key")
		return
	}
	h := w.Header()
	h.Set("x-ratelimit-limit-requests", strconv.FormatInt(b.requestsLimit, 10))
	h.Set("x-ratelimit-remaining-requests", strconv.FormatInt(b.requestsRemaining, 10))
	h.Set("x-ratelimit-limit-tokens", strconv.FormatInt(b.tokensLimit, 10))
	h.Set("x-ratelimit-remaining-tokens", strconv.FormatInt(b.tokensRemaining, 10))
	h.Set("x-ratelimit-reset-requests", "8.64s")
	h.Set("x-ratelimit-reset-tokens", "6ms")
	switch b.status {
	case http.StatusOK:
		_, _ = w.Write([]byte(`{
  "object": "list",
  "data": [
    {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
    {"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"},
    {"id": "text-embedding-3-small", "object": "model", "created": 1705948997, "owned_by": "system"}
  ]
}`))
	case http.StatusTooManyRequests:
		writeOpenAIError(w, http.StatusTooManyRequests,
			"You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
			"insufficient_quota", "insufficient_quota")
	default:
		writeOpenAIError(w, b.status,
			"The server had an error while processing your request. Sorry about that!", "server_error", "")
	}
}

// maskKey masks a key the way OpenAI's 401 message does: a prefix, asterisks, the last four.
func maskKey(key string) string {
	if len(key) < 12 {
		return strings.Repeat("*", len(key))
	}
	return key[:3] + strings.Repeat("*", len(key)-7) + key[len(key)-4:]
}

// writeOpenAIError writes OpenAI's error envelope; an empty code is JSON null.
func writeOpenAIError(w http.ResponseWriter, status int, message, typ, code string) {
	var c any
	if code != "" {
		c = code
	}
	body, _ := json.Marshal(map[string]any{"error": map[string]any{
		"message": message, "type": typ, "param": nil, "code": c,
	}})
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
