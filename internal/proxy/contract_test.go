package proxy

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mosaic-dev/mosaic/internal/proxyconfig"
)

// rawUpstream is an upstream whose every answer is written by handler: for the malformed or
// unusual answers fakeopenai does not produce.
func rawUpstream(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	up := httptest.NewServer(handler)
	t.Cleanup(up.Close)
	return up.URL + "/v1"
}

// startRawProxy serves a proxy with one OpenAI provider "openai" at endpoint, limited by a
// tokens-per-minute and concurrency policy named "team", with the given transport (nil: default).
func startRawProxy(t *testing.T, endpoint, extra string, transport http.RoundTripper) (*Server, string, *syncBuffer) {
	t.Helper()
	yaml := cfgHeader + "- name: openai\n  type: OpenAI\n  endpoint: " + endpoint + "\n  apiKey: {env: UPSTREAM_KEY}\n" + basicModels +
		"  retry: {maxAttempts: 1}\n" + extra +
		"rateLimits:\n- name: team\n  providers: [openai]\n  tokensPerMinute: 100000\n  maxConcurrentRequests: 4\n"
	cfg, err := proxyconfig.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &syncBuffer{}
	srv, err := New(cfg, Options{
		Transport: transport,
		Logger:    slog.New(slog.NewJSONHandler(logs, nil)),
		Env:       proxyconfig.Environment{DotEnv: map[string]string{"UPSTREAM_KEY": testKey}},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return srv, serve(t, srv), logs
}

func rawPost(t *testing.T, url, body string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// panickingTransport stands in for any bug on the request path.
type panickingTransport struct{}

func (panickingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	panic("bug in the request path")
}

// TestPanicReleasesReservation: a panic while a request holds a reservation is answered with an
// OpenAI-shaped 500 and gives its concurrency slot back.
func TestPanicReleasesReservation(t *testing.T) {
	srv, url, logs := startRawProxy(t, "http://127.0.0.1:1/v1", "", panickingTransport{})
	for range 6 { // more than maxConcurrentRequests: a leaked slot would turn into 429s
		status, _, body := rawPost(t, url+"/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
		if status != http.StatusInternalServerError {
			t.Fatalf("status %d, want 500: %s", status, body)
		}
		if _, _, code, _ := errorBody(t, body); code != "internal_error" {
			t.Errorf("code %q, want internal_error", code)
		}
	}
	if u := srv.limiters["team"].Usage(); u.InFlight != 0 {
		t.Errorf("%d requests still in flight after every request panicked", u.InFlight)
	}
	if !strings.Contains(logs.String(), "panic while serving a request") {
		t.Errorf("the panic was not logged: %s", logs.String())
	}
}

// TestSuccessWithoutUsageKeepsEstimate: a 2xx answer without usage may have been billed, so
// the reservation keeps its estimate instead of being settled to nothing.
func TestSuccessWithoutUsageKeepsEstimate(t *testing.T) {
	endpoint := rawUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}`)
	})
	srv, url, _ := startRawProxy(t, endpoint, "", nil)
	status, _, body := rawPost(t, url+"/chat/completions", `{"model":"gpt-4o-mini","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	u := srv.limiters["team"].Usage()
	if u.TokensLastMinute < 50 {
		t.Errorf("%d tokens charged, want at least the 50 of max_tokens", u.TokensLastMinute)
	}
	if u.InFlight != 0 {
		t.Errorf("%d requests still in flight", u.InFlight)
	}
}

// TestUpstream429AlwaysHasRetryAfter: a 429 passed on from the upstream carries Retry-After
// even when the upstream sent none.
func TestUpstream429AlwaysHasRetryAfter(t *testing.T) {
	tests := map[string]struct {
		// body and retryAfter are the upstream's 429 answer.
		body, retryAfter string
		// want is the Retry-After the client must see.
		want string
	}{
		"OpenAI-shaped, no header":     {body: `{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`, want: "1"},
		"OpenAI-shaped, header kept":   {body: `{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`, retryAfter: "7", want: "7"},
		"not OpenAI-shaped, no header": {body: `too many requests`, want: "1"},
		"not OpenAI-shaped, header":    {body: `too many requests`, retryAfter: "2.5", want: "3"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			endpoint := rawUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = io.WriteString(w, tc.body)
			})
			_, url, _ := startRawProxy(t, endpoint, "", nil)
			status, header, body := rawPost(t, url+"/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
			if status != http.StatusTooManyRequests {
				t.Fatalf("status %d, want 429: %s", status, body)
			}
			errorBody(t, body)
			if got := header.Get("Retry-After"); got != tc.want {
				t.Errorf("Retry-After %q, want %q", got, tc.want)
			}
		})
	}
}

// TestEmbeddingsPartialAnswerIsBadGateway: when only the cache misses were sent upstream and the
// upstream answered fewer vectors, the proxy answers 502 rather than a list with holes.
func TestEmbeddingsPartialAnswerIsBadGateway(t *testing.T) {
	calls := 0
	endpoint := rawUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		calls++
		w.Header().Set("Content-Type", "application/json")
		data := `{"object":"embedding","index":0,"embedding":[0.1,0.2]}`
		if calls == 1 {
			data += `,{"object":"embedding","index":1,"embedding":[0.3,0.4]}`
		}
		// The second call asks for two inputs and gets one vector.
		_, _ = io.WriteString(w, `{"object":"list","data":[`+data+`],"model":"text-embedding-3-small","usage":{"prompt_tokens":2,"total_tokens":2}}`)
	})
	_, url, _ := startRawProxy(t, endpoint, "", nil)
	status, _, body := rawPost(t, url+"/embeddings", `{"model":"text-embedding-3-small","input":["a","b"]}`)
	if status != http.StatusOK {
		t.Fatalf("first request: status %d: %s", status, body)
	}
	status, _, body = rawPost(t, url+"/embeddings", `{"model":"text-embedding-3-small","input":["a","c","d"]}`)
	if status != http.StatusBadGateway {
		t.Fatalf("status %d, want 502: %s", status, body)
	}
	if _, _, code, _ := errorBody(t, body); code != "bad_upstream_response" {
		t.Errorf("code %q, want bad_upstream_response", code)
	}
}
