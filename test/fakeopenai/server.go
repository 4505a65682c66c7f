// Package fakeopenai is a fake OpenAI API upstream for tests: it serves the
// documented request and response shapes of chat completions (plain and SSE),
// legacy completions, embeddings, responses and models, with OpenAI's headers
// and error bodies, and injects faults (rate limits, quota errors, 5xx, hangs,
// connection resets before headers and mid-stream, slow chunks, malformed
// JSON) into chosen requests. It listens on 127.0.0.1 only.
//
// Token counts are deterministic so that tests can predict them: prompt tokens
// are EstimateTokens of the request's text, and completions have one token per
// streamed content chunk (Options.Chunks, capped by max_tokens).
package fakeopenai

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Default settings used when Options leaves them zero.
const (
	// DefaultChunks is the number of content chunks (and completion tokens) of a reply.
	DefaultChunks = 5
	// DefaultDimensions is the embedding size of models other than text-embedding-3-large.
	DefaultDimensions = 1536
)

// DefaultModels are listed by GET /v1/models when Options.Models is empty.
var DefaultModels = []string{
	"gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-3.5-turbo-instruct",
	"text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002",
}

// Options configures a Server.
type Options struct {
	// APIKey is the key the server expects as "Authorization: Bearer KEY".
	// Empty accepts any request, with or without a bearer token.
	APIKey string
	// Chunks is the number of content chunks in a reply, each one completion
	// token (default DefaultChunks). max_tokens and its kin cap it per request.
	Chunks int
	// ChunkDelay is the pause before each streamed content chunk.
	ChunkDelay time.Duration
	// Models, when set, is the only set of models served: any other model
	// gets 404 model_not_found. Empty serves any model and lists DefaultModels.
	Models []string
	// Dimensions is the default embedding size when a request does not set
	// "dimensions" (default: 3072 for text-embedding-3-large, else DefaultDimensions).
	Dimensions int
	// NoRecord stops recording requests (for load tests, where Requests would
	// grow without bound). Count still works.
	NoRecord bool
}

// Recorded is one request as the server received it.
type Recorded struct {
	// Method is the HTTP method.
	Method string
	// Path is the URL path, e.g. "/v1/chat/completions".
	Path string
	// Header is a copy of the request headers.
	Header http.Header
	// Body is the request body.
	Body []byte
	// Time is when the request arrived.
	Time time.Time
}

// Server is a running fake OpenAI upstream. Create it with New; it is safe
// for concurrent use.
type Server struct {
	srv    *httptest.Server
	opts   Options
	closed chan struct{}
	seq    atomic.Int64

	mu       sync.Mutex
	apiKey   string
	faults   []Fault
	requests []Recorded
	counts   map[string]int
}

// New starts a fake upstream on 127.0.0.1 at a free port.
func New(opts Options) *Server {
	if opts.Chunks <= 0 {
		opts.Chunks = DefaultChunks
	}
	s := &Server{opts: opts, closed: make(chan struct{}), apiKey: opts.APIKey, counts: map[string]int{}}
	s.srv = httptest.NewServer(s)
	return s
}

// URL is the base URL of the API, ending in "/v1" (as OPENAI_BASE_URL).
func (s *Server) URL() string { return s.srv.URL + "/v1" }

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.srv.Listener.Addr().String() }

// Close stops the server; hanging and streaming handlers return at once.
func (s *Server) Close() {
	select {
	case <-s.closed:
		return
	default:
	}
	close(s.closed)
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Inject queues faults: each applies to exactly one of the next requests, in
// order of arrival, whatever the endpoint; once the queue is empty the server
// behaves normally again.
func (s *Server) Inject(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// Pending is the number of injected faults not yet applied.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.faults)
}

// Requests returns the requests received so far, oldest first.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Count is the number of requests received for a URL path such as
// "/v1/chat/completions" (a path without the "/v1" prefix is also accepted).
func (s *Server) Count(path string) int {
	if !strings.HasPrefix(path, "/v1/") {
		path = "/v1/" + strings.TrimPrefix(path, "/")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[path]
}

// SetAPIKey changes the accepted key ("" accepts any), as a key rotation does.
func (s *Server) SetAPIKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiKey = key
}

// ServeHTTP serves the fake API. It is exported so that a Server can also be
// mounted elsewhere, but New is the usual way to run one.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went away
	}
	s.mu.Lock()
	s.counts[r.URL.Path]++
	if !s.opts.NoRecord {
		s.requests = append(s.requests, Recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Time: start})
	}
	var f *Fault
	if len(s.faults) > 0 {
		next := s.faults[0]
		f = &next
		s.faults = s.faults[1:]
	}
	key := s.apiKey
	s.mu.Unlock()

	x := &exchange{s: s, w: w, r: r, body: body, start: start, fault: f, chunkDelay: s.opts.ChunkDelay}
	x.setCommonHeaders()
	if f != nil {
		for k, v := range f.Headers {
			w.Header().Set(k, v)
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		if f.ChunkDelay > 0 {
			x.chunkDelay = f.ChunkDelay
		}
		if x.applyFault() {
			return
		}
	}
	if !authorized(r.Header.Get("Authorization"), key) {
		if r.Header.Get("Authorization") == "" {
			x.error(http.StatusUnauthorized, "invalid_request_error", "", "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.", "")
			return
		}
		x.error(http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.", "")
		return
	}
	route := r.Method + " " + r.URL.Path
	switch {
	case route == "POST /v1/chat/completions":
		x.chatCompletion()
	case route == "POST /v1/completions":
		x.completion()
	case route == "POST /v1/embeddings":
		x.embeddings()
	case route == "POST /v1/responses":
		x.response()
	case route == "GET /v1/models":
		x.listModels()
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/models/"):
		x.getModel(strings.TrimPrefix(r.URL.Path, "/v1/models/"))
	default:
		x.error(http.StatusNotFound, "invalid_request_error", "", "Invalid URL ("+r.Method+" "+r.URL.Path+")", "")
	}
}

// authorized reports whether an Authorization header carries the expected key.
func authorized(header, key string) bool {
	if key == "" {
		return true
	}
	token, ok := strings.CutPrefix(header, "Bearer ")
	return ok && strings.TrimSpace(token) == key
}

// exchange is one request being answered.
type exchange struct {
	s          *Server
	w          http.ResponseWriter
	r          *http.Request
	body       []byte
	start      time.Time
	fault      *Fault
	chunkDelay time.Duration
}

// Rate-limit quotas advertised in x-ratelimit-* headers.
const (
	requestLimit = 10000
	tokenLimit   = 30000000
)

func (x *exchange) setCommonHeaders() {
	h := x.w.Header()
	var id [16]byte
	_, _ = rand.Read(id[:])
	h.Set("x-request-id", "req_"+hex.EncodeToString(id[:]))
	h.Set("openai-version", "2020-10-01")
	h.Set("openai-organization", "user-fakeopenai")
	h.Set("x-ratelimit-limit-requests", strconv.Itoa(requestLimit))
	h.Set("x-ratelimit-remaining-requests", strconv.Itoa(requestLimit-1))
	h.Set("x-ratelimit-reset-requests", "6ms")
	h.Set("x-ratelimit-limit-tokens", strconv.Itoa(tokenLimit))
	h.Set("x-ratelimit-remaining-tokens", strconv.Itoa(tokenLimit))
	h.Set("x-ratelimit-reset-tokens", "0s")
}

// setUsageHeaders records the tokens a request used in the rate-limit
// headers and the processing time; call it just before the status is written.
func (x *exchange) setUsageHeaders(tokens int) {
	h := x.w.Header()
	h.Set("x-ratelimit-remaining-tokens", strconv.Itoa(tokenLimit-tokens))
	h.Set("openai-processing-ms", strconv.FormatInt(time.Since(x.start).Milliseconds(), 10))
}

// writeJSON writes v as a JSON response with the given status.
func (x *exchange) writeJSON(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		x.error(http.StatusInternalServerError, "server_error", "", "fakeopenai: encoding response: "+err.Error(), "")
		return
	}
	x.writeRaw(status, b)
}

// writeRaw writes a JSON body; for a successful answer it applies the
// MalformedJSON and mid-body reset faults.
func (x *exchange) writeRaw(status int, b []byte) {
	if status == http.StatusOK && x.malformed() {
		b = b[:len(b)/2]
	}
	h := x.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if h.Get("openai-processing-ms") == "" {
		h.Set("openai-processing-ms", strconv.FormatInt(time.Since(x.start).Milliseconds(), 10))
	}
	x.w.WriteHeader(status)
	if status == http.StatusOK && x.resetAfter(0) {
		_, _ = x.w.Write(b[:len(b)/2])
		x.reset()
		return
	}
	_, _ = x.w.Write(b)
}

// decode parses the JSON request body into v; on failure it answers 400 as
// OpenAI does and returns false.
func (x *exchange) decode(v any) bool {
	if len(bytes.TrimSpace(x.body)) == 0 || json.Unmarshal(x.body, v) != nil {
		x.error(http.StatusBadRequest, "invalid_request_error", "", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)", "")
		return false
	}
	return true
}

// checkModel answers 400 for a missing model and 404 model_not_found for one
// not in Options.Models; it returns false when it answered.
func (x *exchange) checkModel(model string) bool {
	if model == "" {
		x.error(http.StatusBadRequest, "invalid_request_error", "", "you must provide a model parameter", "")
		return false
	}
	if len(x.s.opts.Models) > 0 && !slices.Contains(x.s.opts.Models, model) {
		x.error(http.StatusNotFound, "invalid_request_error", "model_not_found", "The model `"+model+"` does not exist or you do not have access to it.", "")
		return false
	}
	return true
}

// nextID returns a unique id with an OpenAI-style prefix ("chatcmpl-", "resp_").
func (x *exchange) nextID(prefix string) string {
	return prefix + "fake" + strconv.FormatInt(x.s.seq.Add(1), 10)
}

// stopped is closed when the client has gone or the server is closing.
func (x *exchange) wait(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-x.r.Context().Done():
	case <-x.s.closed:
	}
	return false
}
