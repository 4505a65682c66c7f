package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/mosaic-dev/mosaic/test/fakeopenai"
)

func TestSanitization(t *testing.T) {
	up := newUpstream(t, fakeopenai.Options{})
	h := startProxy(t, cfgHeader+openaiProvider("openai", "up", basicModels+
		"  sanitization: {detectors: [CreditCard, Email], patterns: [{name: ticket, regex: 'TKT-[0-9]+', action: Block}], action: Redact}\n"),
		map[string]*fakeopenai.Server{"up": up})
	ctx := context.Background()
	tests := map[string]struct {
		// prompt is the user message.
		prompt string
		// upstreamHas and upstreamLacks are substrings of the body the upstream must (not) see;
		// blocked is the detector named by the 400, "" when the request passes.
		upstreamHas, upstreamLacks []string
		blocked                    string
	}{
		"card number and e-mail are redacted": {
			prompt:        "My card is 4111 1111 1111 1111, mail me at jane.doe@example.com",
			upstreamHas:   []string{"[CREDIT_CARD]", "[EMAIL]"},
			upstreamLacks: []string{"4111 1111", "jane.doe"},
		},
		"a Block pattern refuses the request without echoing it": {
			prompt:  "see TKT-12345 for details",
			blocked: "ticket",
		},
		"clean text passes unchanged": {
			prompt:      "What is the capital of France?",
			upstreamHas: []string{"What is the capital of France?"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := len(up.Requests())
			_, err := h.chat(ctx, "gpt-4o-mini", tc.prompt)
			if tc.blocked != "" {
				var apiErr *openai.Error
				if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "content_blocked" {
					t.Fatalf("want a 400 content_blocked, got %v", err)
				}
				if !strings.Contains(apiErr.Message, tc.blocked) || strings.Contains(apiErr.Message, "TKT-12345") || strings.Contains(apiErr.RawJSON(), "12345") {
					t.Errorf("block message must name %q and not echo the match: %s", tc.blocked, apiErr.RawJSON())
				}
				if len(up.Requests()) != before {
					t.Error("a blocked request reached the upstream")
				}
				if strings.Contains(h.logs.String(), "TKT-12345") {
					t.Error("the blocked text reached the logs")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			reqs := up.Requests()
			body := string(reqs[len(reqs)-1].Body)
			for _, s := range tc.upstreamHas {
				if !strings.Contains(body, s) {
					t.Errorf("upstream body lacks %q: %s", s, body)
				}
			}
			for _, s := range tc.upstreamLacks {
				if strings.Contains(body, s) {
					t.Errorf("upstream body still has %q: %s", s, body)
				}
			}
		})
	}
}

func TestRateLimitReject(t *testing.T) {
	up := newUpstream(t, fakeopenai.Options{})
	h := startProxy(t, cfgHeader+openaiProvider("openai", "up", basicModels)+
		"rateLimits:\n- name: team\n  providers: [openai]\n  requestsPerMinute: 2\n", map[string]*fakeopenai.Server{"up": up})
	for i := range 2 {
		if _, err := h.chat(context.Background(), "gpt-4o-mini", "hi"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	status, header, body := h.post("/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	if status != 429 {
		t.Fatalf("third request: status %d, want 429", status)
	}
	ra := header.Get("Retry-After")
	if ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q, want the seconds until the bucket refills (about 30)", ra)
	}
	msg, typ, code, _ := errorBody(t, body)
	if code != "rate_limit_exceeded" || typ != "requests" || !strings.Contains(msg, "requestsPerMinute") {
		t.Errorf("429 body: %s", body)
	}
	if n := up.Count("/v1/chat/completions"); n != 2 {
		t.Errorf("upstream got %d requests, want 2", n)
	}
}

func TestRateLimitQueue(t *testing.T) {
	up := newUpstream(t, fakeopenai.Options{})
	// One request per second with a burst of... 60 per minute is a bucket of 60; use 1 concurrent instead.
	h := startProxy(t, cfgHeader+openaiProvider("openai", "up", basicModels)+
		"rateLimits:\n- name: team\n  providers: [openai]\n  maxConcurrentRequests: 1\n  onLimit: {action: Queue, maxWait: 10s}\n",
		map[string]*fakeopenai.Server{"up": up})
	up.Inject(fakeopenai.SlowChunks(0)) // no-op fault keeps ordering simple
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := h.client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
			for stream.Next() {
			}
			errs <- stream.Err()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a queued request failed: %v", err)
		}
	}
	if n := up.Count("/v1/chat/completions"); n != 4 {
		t.Errorf("upstream got %d requests, want 4 (all queued, none refused)", n)
	}
}

// TestTokenLimitNotOvershot fires 50 concurrent requests at a tokens-per-minute limit that
// admits only a few: the tokens charged to admitted requests never exceed the limit.
func TestTokenLimitNotOvershot(t *testing.T) {
	up := newUpstream(t, fakeopenai.Options{Chunks: 5, ChunkDelay: 20 * time.Millisecond})
	const limit = 300
	h := startProxy(t, cfgHeader+openaiProvider("openai", "up", basicModels)+
		"rateLimits:\n- name: team\n  providers: [openai]\n  tokensPerMinute: 300\n", map[string]*fakeopenai.Server{"up": up})
	var ok, limited, used atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
				MaxTokens: openai.Int(40), Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("count to five")}})
			var apiErr *openai.Error
			switch {
			case err == nil && resp.Usage.TotalTokens > 0:
				ok.Add(1)
				used.Add(resp.Usage.TotalTokens)
			case errors.As(err, &apiErr) && apiErr.StatusCode == 429:
				limited.Add(1)
			default:
				t.Errorf("unexpected answer: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load()+limited.Load() != 50 {
		t.Fatalf("answered %d + %d of 50", ok.Load(), limited.Load())
	}
	// Admission reserves prompt estimate + max_tokens (40); settlement refunds down to the real
	// usage. Whatever the interleaving, the tokens spent in the minute stay within the limit.
	if used.Load() > limit {
		t.Errorf("%d tokens used under a limit of %d tokens/min (%d requests admitted)", used.Load(), limit, ok.Load())
	}
	if ok.Load() == 0 || limited.Load() == 0 {
		t.Errorf("%d admitted, %d limited: the limit should admit some and refuse others", ok.Load(), limited.Load())
	}
	if n := int64(up.Count("/v1/chat/completions")); n != ok.Load() {
		t.Errorf("upstream got %d requests, %d were admitted", n, ok.Load())
	}
}

func TestRetries(t *testing.T) {
	tests := map[string]struct {
		// retry is the provider's retry block; faults are injected in order.
		retry  string
		faults []fakeopenai.Fault
		// wantStatus is the client's status; wantUpstream the upstream request count.
		wantStatus, wantUpstream int
	}{
		"429, 500 and 503 are retried until success": {
			retry:      "{maxAttempts: 4, backoff: {initial: 1ms, max: 5ms}}",
			faults:     []fakeopenai.Fault{fakeopenai.RateLimited(""), fakeopenai.ServerError(500), fakeopenai.ServerError(503)},
			wantStatus: 200, wantUpstream: 4,
		},
		"reset before headers is a retried connect error": {
			retry:      "{maxAttempts: 2, backoff: {initial: 1ms, max: 5ms}}",
			faults:     []fakeopenai.Fault{fakeopenai.ResetBeforeHeaders()},
			wantStatus: 200, wantUpstream: 2,
		},
		"attempts are bounded": {
			retry:      "{maxAttempts: 2, backoff: {initial: 1ms, max: 5ms}}",
			faults:     []fakeopenai.Fault{fakeopenai.ServerError(502), fakeopenai.ServerError(502), fakeopenai.ServerError(502)},
			wantStatus: 502, wantUpstream: 2,
		},
		"retryOn excludes server errors": {
			retry:      "{maxAttempts: 3, retryOn: [RateLimited], backoff: {initial: 1ms, max: 5ms}}",
			faults:     []fakeopenai.Fault{fakeopenai.ServerError(500)},
			wantStatus: 500, wantUpstream: 1,
		},
		"insufficient_quota is never retried": {
			retry:      "{maxAttempts: 3, backoff: {initial: 1ms, max: 5ms}}",
			faults:     []fakeopenai.Fault{fakeopenai.InsufficientQuota()},
			wantStatus: 429, wantUpstream: 1,
		},
		"Retry-After over maxRetryAfter is not retried": {
			retry:      "{maxAttempts: 3, maxRetryAfter: 2s, backoff: {initial: 1ms, max: 5ms}}",
			faults:     []fakeopenai.Fault{fakeopenai.RateLimited("120")},
			wantStatus: 429, wantUpstream: 1,
		},
		"per-try timeout on a hang is retried": {
			retry:      "{maxAttempts: 2, perTryTimeout: 200ms, backoff: {initial: 1ms, max: 5ms}}",
			faults:     []fakeopenai.Fault{fakeopenai.Hang()},
			wantStatus: 200, wantUpstream: 2,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			up := newUpstream(t, fakeopenai.Options{})
			h := startProxy(t, cfgHeader+openaiProvider("openai", "up", basicModels+"  retry: "+tc.retry+"\n"), map[string]*fakeopenai.Server{"up": up})
			up.Inject(tc.faults...)
			status, header, body := h.post("/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tc.wantStatus, body)
			}
			if status != 200 {
				errorBody(t, body) // every error is OpenAI-shaped
			}
			if status == 429 && tc.faults[0].RetryAfter != "" && header.Get("Retry-After") != tc.faults[0].RetryAfter {
				t.Errorf("the upstream's Retry-After was not passed on: %q", header.Get("Retry-After"))
			}
			if n := up.Count("/v1/chat/completions"); n != tc.wantUpstream {
				t.Errorf("upstream got %d requests, want %d", n, tc.wantUpstream)
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	up := newUpstream(t, fakeopenai.Options{})
	h := startProxy(t, cfgHeader+openaiProvider("openai", "up", basicModels+"  retry: {maxAttempts: 2, backoff: {initial: 1ms, max: 2ms}}\n"),
		map[string]*fakeopenai.Server{"up": up})
	up.Inject(fakeopenai.RateLimited("1"))
	if _, err := h.chat(context.Background(), "gpt-4o-mini", "hi"); err != nil {
		t.Fatal(err)
	}
	reqs := up.Requests()
	if len(reqs) != 2 {
		t.Fatalf("upstream got %d requests, want 2", len(reqs))
	}
	// The backoff alone would wait at most 2ms: the second attempt waited for Retry-After.
	if gap := reqs[1].Time.Sub(reqs[0].Time); gap < 900*time.Millisecond {
		t.Errorf("retried after %s, before the upstream's Retry-After of 1s", gap)
	}
}

// TestRetryBudgetUnder429Storm sends requests at an upstream that answers 429 to everything:
// retries stay within the budget (20% of requests, at least 10 per window) and every request
// is answered exactly once.
func TestRetryBudgetUnder429Storm(t *testing.T) {
	up := newUpstream(t, fakeopenai.Options{})
	h := startProxy(t, cfgHeader+openaiProvider("openai", "up", basicModels+"  retry: {maxAttempts: 3, budgetPercent: 20, respectRetryAfter: false, backoff: {initial: 1ms, max: 2ms}}\n"),
		map[string]*fakeopenai.Server{"up": up})
	const requests = 100
	faults := make([]fakeopenai.Fault, 3*requests)
	for i := range faults {
		faults[i] = fakeopenai.RateLimited("")
	}
	up.Inject(faults...)
	var wg sync.WaitGroup
	var answered atomic.Int64
	for range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _, _ := h.post("/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
			if status == 429 {
				answered.Add(1)
			}
		}()
	}
	wg.Wait()
	if answered.Load() != requests {
		t.Errorf("%d of %d requests answered 429", answered.Load(), requests)
	}
	n := up.Count("/v1/chat/completions")
	maxRetries := max(budgetFloor, requests*20/100)
	if n > requests+maxRetries {
		t.Errorf("upstream got %d requests for %d client requests: more than the budget of %d retries", n, requests, maxRetries)
	}
	if n <= requests {
		t.Errorf("no retries at all (%d upstream requests)", n)
	}
}

// TestNoRetryAfterBytesReachedClient cuts a stream after two chunks: the client sees an error,
// and the upstream got exactly one request although retries are configured.
func TestNoRetryAfterBytesReachedClient(t *testing.T) {
	up := newUpstream(t, fakeopenai.Options{Chunks: 5})
	h := startProxy(t, cfgHeader+openaiProvider("openai", "up", basicModels+"  retry: {maxAttempts: 5, backoff: {initial: 1ms, max: 2ms}}\n"),
		map[string]*fakeopenai.Server{"up": up})
	up.Inject(fakeopenai.ResetMidStream(2))
	stream := h.client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	chunks := 0
	for stream.Next() {
		chunks++
	}
	if stream.Err() == nil {
		t.Fatalf("the client saw a clean end of a broken stream (%d chunks)", chunks)
	}
	if chunks == 0 {
		t.Error("the chunks before the cut were not forwarded")
	}
	if n := up.Count("/v1/chat/completions"); n != 1 {
		t.Errorf("upstream got %d requests after bytes reached the client, want exactly 1", n)
	}
	// A malformed non-streaming answer is not retried either (the upstream began answering).
	up.Inject(fakeopenai.MalformedJSON())
	status, _, body := h.post("/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	if status != http.StatusBadGateway {
		t.Errorf("malformed upstream JSON: status %d: %s", status, body)
	}
	if n := up.Count("/v1/chat/completions"); n != 2 {
		t.Errorf("a malformed answer was retried: %d upstream requests", n)
	}
}

func TestFallback(t *testing.T) {
	primary := newUpstream(t, fakeopenai.Options{})
	secondary := newUpstream(t, fakeopenai.Options{})
	cfg := cfgHeader +
		openaiProvider("primary", "primary", basicModels+"  retry: {maxAttempts: 2, backoff: {initial: 1ms, max: 2ms}}\n  fallback: {provider: secondary}\n") +
		openaiProvider("secondary", "secondary", "  models: [{name: backup-model, target: gpt-4o}]\n  retry: {maxAttempts: 1}\n  fallback: {staticResponse: {content: \"Sorry, the assistant is unavailable.\"}}\n")
	h := startProxy(t, cfg, map[string]*fakeopenai.Server{"primary": primary, "secondary": secondary})

	t.Run("to the next provider", func(t *testing.T) {
		primary.Inject(fakeopenai.ServerError(503), fakeopenai.ServerError(503))
		var header http.Header
		resp, err := h.chat(context.Background(), "gpt-4o-mini", "hi", option.WithResponseInto(new(*http.Response)), captureHeader(&header))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Choices[0].Message.Content == "" || header.Get("X-Mosaic-Fallback") != "secondary" {
			t.Errorf("fallback answer: %+v, header %q", resp, header.Get("X-Mosaic-Fallback"))
		}
		reqs := secondary.Requests()
		if len(reqs) != 1 || bodyField(t, reqs[0].Body, "model") != "gpt-4o" {
			t.Fatalf("secondary should get the request for its default model's target gpt-4o: %d requests", len(reqs))
		}
	})
	t.Run("to a static response at the end of the chain", func(t *testing.T) {
		primary.Inject(fakeopenai.ServerError(500), fakeopenai.ServerError(500))
		secondary.Inject(fakeopenai.ServerError(500))
		var header http.Header
		resp, err := h.chat(context.Background(), "gpt-4o-mini", "hi", captureHeader(&header))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Choices[0].Message.Content != "Sorry, the assistant is unavailable." || resp.Object != "chat.completion" || header.Get("X-Mosaic-Fallback") != "static" {
			t.Errorf("static answer: %+v, header %q", resp, header.Get("X-Mosaic-Fallback"))
		}
		// Streaming clients get the static answer as chunks.
		primary.Inject(fakeopenai.ServerError(500), fakeopenai.ServerError(500))
		secondary.Inject(fakeopenai.ServerError(500))
		stream := h.client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		var text strings.Builder
		for stream.Next() {
			if c := stream.Current(); len(c.Choices) > 0 {
				text.WriteString(c.Choices[0].Delta.Content)
			}
		}
		if stream.Err() != nil || text.String() != "Sorry, the assistant is unavailable." {
			t.Errorf("static stream: %q, %v", text.String(), stream.Err())
		}
	})
	t.Run("a client error does not fall back", func(t *testing.T) {
		before := len(secondary.Requests())
		primary.Inject(fakeopenai.Fault{Status: 400, Message: "bad temperature", ResetAfterChunks: -1})
		status, _, _ := h.post("/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
		if status != 400 || len(secondary.Requests()) != before {
			t.Errorf("status %d, secondary requests %d -> %d", status, before, len(secondary.Requests()))
		}
	})
}

// captureHeader stores the response headers of an SDK call.
func captureHeader(dst *http.Header) option.RequestOption {
	return option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		resp, err := next(r)
		if resp != nil {
			*dst = resp.Header
		}
		return resp, err
	})
}

// TestClientDisconnectCancelsUpstream checks that a client going away cancels the upstream
// request, streaming or not.
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	for _, stream := range []bool{false, true} {
		canceled := make(chan struct{}, 1)
		started := make(chan struct{}, 1)
		upstream := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body) // a server notices a closed connection once it has read the body
			if stream {
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = w.Write([]byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"))
				w.(http.Flusher).Flush()
			}
			started <- struct{}{}
			<-r.Context().Done()
			canceled <- struct{}{}
		}))
		h := startProxy(t, cfgHeader+"- name: local\n  type: OpenAICompatible\n  endpoint: "+upstream+"\n  models: [{name: m}]\n", nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if stream {
				s := h.client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
				for s.Next() {
				}
				return
			}
			_, _ = h.chat(ctx, "m", "hi")
		}()
		<-started
		cancel()
		select {
		case <-canceled:
		case <-time.After(10 * time.Second):
			t.Fatalf("stream=%v: the upstream request was not cancelled when the client left", stream)
		}
		<-done
	}
}

// TestKeyNeverLeaks drives successes, upstream errors and proxy errors and checks that the
// provider key appears in no log line and no response.
func TestKeyNeverLeaks(t *testing.T) {
	up := newUpstream(t, fakeopenai.Options{})
	h := startProxy(t, cfgHeader+openaiProvider("openai", "up", basicModels+"  retry: {maxAttempts: 2, backoff: {initial: 1ms, max: 2ms}}\n"),
		map[string]*fakeopenai.Server{"up": up})
	var bodies []string
	send := func(body string) {
		_, header, b := h.post("/chat/completions", body)
		bodies = append(bodies, string(b))
		for k, v := range header {
			bodies = append(bodies, k+": "+strings.Join(v, ","))
		}
	}
	send(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	up.Inject(fakeopenai.Fault{Status: 401, ErrorCode: "invalid_api_key", Message: "Incorrect API key provided: " + testKey, ResetAfterChunks: -1})
	send(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	up.Inject(fakeopenai.ServerError(500), fakeopenai.ServerError(500))
	send(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	send(`{"model":"nope"}`)
	send(`{bad json`)
	h.requestLogs(5)
	for _, b := range bodies {
		if strings.Contains(b, testKey) {
			t.Errorf("a response carries the provider key: %s", b)
		}
	}
	if strings.Contains(h.logs.String(), testKey) || strings.Contains(h.logs.String(), testKey[8:20]) {
		t.Errorf("the logs carry the provider key:\n%s", h.logs.String())
	}
	if strings.Contains(h.logs.String(), "Bearer") {
		t.Error("the logs carry an Authorization value")
	}
}
