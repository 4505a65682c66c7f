package proxy

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/mosaic-dev/mosaic/internal/proxyconfig"
)

// benchPrompt is a realistic ~1 KB chat request, like the load harness sends.
var benchPrompt = []byte(`{"model":"gpt-4o-mini","max_tokens":64,"messages":[{"role":"system","content":"You are a helpful assistant for an online bookshop. Answer briefly and politely."},` +
	`{"role":"user","content":"` + strings.Repeat("I ordered three books last week and only two arrived. The order number is 88231. ", 10) + `"}]}`)

// benchCompletion is the canned upstream answer.
var benchCompletion = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"I am sorry to hear that. I have asked the warehouse to send the missing book today.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":230,"completion_tokens":20,"total_tokens":250},"system_fingerprint":"fp_bench"}`)

// benchUpstream is a minimal OpenAI-shaped upstream: it reads the body and answers at once.
func benchUpstream(b *testing.B) string {
	return serve(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(benchCompletion)))
		h.Set("x-request-id", "req_bench")
		_, _ = w.Write(benchCompletion)
	}))
}

// exactBody ends the inbound body after ContentLength bytes (golang/go#40747), as the shared
// harness's minproxy does: the bare reverse proxy is the floor Mosaic is compared with.
type exactBody struct {
	io.ReadCloser
	left int64
}

func (e *exactBody) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	n, err := e.ReadCloser.Read(p[:min(int64(len(p)), e.left)])
	if e.left -= int64(n); e.left <= 0 && err == nil {
		err = io.EOF
	}
	return n, err
}

// BenchmarkProxyChat measures one non-streaming chat completion through the same fake upstream
// three ways, in one run so the ratios compare: direct, through a bare httputil.ReverseProxy,
// and through mosaic-proxy with every policy on (sanitization, a rate limit, retries, metrics,
// access logs). Added latency = proxy - direct.
func BenchmarkProxyChat(b *testing.B) {
	upstream := benchUpstream(b)
	target, _ := url.Parse(strings.TrimSuffix(upstream, "/v1"))
	tr := NewTransport()
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
			if r.In.ContentLength > 0 {
				r.Out.Body = &exactBody{r.In.Body, r.In.ContentLength}
			}
		},
		Transport:     tr,
		FlushInterval: -1,
	}
	bare := serve(b, rp)

	cfg, err := proxyconfig.Parse([]byte(cfgHeader + "- name: openai\n  type: OpenAI\n  endpoint: " + upstream + "\n  apiKey: {env: UPSTREAM_KEY}\n" +
		"  models: [{name: gpt-4o-mini}]\n  retry: {maxAttempts: 3}\n" +
		"  sanitization: {detectors: [CreditCard, USSSN, Email, PhoneNumber, SecretKey], action: Redact, maxPromptChars: 100000}\n" +
		"rateLimits:\n- name: bench\n  providers: [openai]\n  requestsPerMinute: 1000000000\n  tokensPerMinute: 1000000000000\n"))
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(cfg, Options{
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Env:    proxyconfig.Environment{DotEnv: map[string]string{"UPSTREAM_KEY": testKey}},
	})
	if err != nil {
		b.Fatal(err)
	}
	mosaic := serve(b, srv)

	client := &http.Client{Transport: NewTransport()}
	for _, target := range []struct{ name, url string }{{"direct", upstream}, {"reverseproxy", bare}, {"mosaic", mosaic}} {
		b.Run(target.name, func(b *testing.B) {
			u := target.url + "/chat/completions"
			b.SetBytes(int64(len(benchPrompt)))
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(benchPrompt))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+placeholderKey)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}

// BenchmarkRouterLookup is the per-request routing work: scan the body's top-level fields and
// find the route of its model.
func BenchmarkRouterLookup(b *testing.B) {
	cfg, err := proxyconfig.Parse([]byte(cfgHeader + "- name: a\n  type: Fake\n  models: [{name: gpt-4o}, {name: gpt-4o-mini}, {name: simple, target: gpt-4o-mini}, {name: text-embedding-3-small}]\n" +
		"- name: b\n  type: Fake\n  models: [{name: llama3}, {name: mistral}]\n"))
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(cfg, Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	rt := srv.cfg.Load()
	body := bytes.Replace(benchPrompt, []byte(`"gpt-4o-mini"`), []byte(`"simple"`), 1)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		f, apiErr := scanRequest(body)
		if apiErr != nil {
			b.Fatal(apiErr)
		}
		if rt.routes[f.modelName] == nil {
			b.Fatal("no route")
		}
	}
}
