package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/mosaic-dev/mosaic/internal/proxyconfig"
	"github.com/mosaic-dev/mosaic/test/fakeopenai"
)

// testKey is the provider key the proxy holds; the application only ever sends placeholderKey.
const (
	testKey        = "sk-proj-MosaicTestKey0123456789abcdef"
	placeholderKey = "sk-placeholder-app-key"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logLines decodes the JSON log lines whose msg is msg.
func (s *syncBuffer) logLines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// requestLogs waits until the proxy logged n access lines (a handler logs after the client may
// already have read the end of its response) and returns them.
func (h *harness) requestLogs(n int) []map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines := h.logs.logLines(h.t, "request")
		if len(lines) >= n || time.Now().After(deadline) {
			return lines
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// harness is a proxy served on 127.0.0.1 in front of fake upstreams, with an openai-go client.
type harness struct {
	t      *testing.T
	srv    *Server
	url    string
	logs   *syncBuffer
	client openai.Client
}

// startProxy parses cfgYAML (after replacing each {{name}} by the base URL of upstreams[name])
// and serves it.
func startProxy(t *testing.T, cfgYAML string, upstreams map[string]*fakeopenai.Server) *harness {
	t.Helper()
	for name, up := range upstreams {
		cfgYAML = strings.ReplaceAll(cfgYAML, "{{"+name+"}}", up.URL())
	}
	cfg, err := proxyconfig.Parse([]byte(cfgYAML))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &syncBuffer{}
	srv, err := New(cfg, Options{
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Env:    proxyconfig.Environment{DotEnv: map[string]string{"UPSTREAM_KEY": testKey}},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	url := serve(t, srv)
	h := &harness{t: t, srv: srv, url: url, logs: logs}
	h.client = openai.NewClient(option.WithBaseURL(url), option.WithAPIKey(placeholderKey), option.WithMaxRetries(0),
		option.WithRequestTimeout(30*time.Second))
	return h
}

// serve runs handler on a free 127.0.0.1 port and returns its /v1 base URL.
func serve(t testing.TB, handler http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return "http://" + ln.Addr().String() + "/v1"
}

func newUpstream(t testing.TB, opts fakeopenai.Options) *fakeopenai.Server {
	t.Helper()
	if opts.APIKey == "" {
		opts.APIKey = testKey
	}
	up := fakeopenai.New(opts)
	t.Cleanup(up.Close)
	return up
}

// post sends a raw request to the proxy and returns status, headers and body.
func (h *harness) post(path, body string, header ...string) (int, http.Header, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+placeholderKey)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// chat sends a minimal chat completion through the SDK.
func (h *harness) chat(ctx context.Context, model, prompt string, opts ...option.RequestOption) (*openai.ChatCompletion, error) {
	return h.client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)},
	}, opts...)
}

// errorBody decodes an OpenAI error body.
func errorBody(t *testing.T, b []byte) (message, typ, code, param string) {
	t.Helper()
	var e struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Code    *string `json:"code"`
			Param   *string `json:"param"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Message == "" {
		t.Fatalf("not an OpenAI error body: %s", b)
	}
	if e.Error.Code != nil {
		code = *e.Error.Code
	}
	if e.Error.Param != nil {
		param = *e.Error.Param
	}
	return e.Error.Message, e.Error.Type, code, param
}

// bodyField reads one field of a recorded upstream request body.
func bodyField(t *testing.T, body []byte, field string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("upstream body is not JSON: %s", body)
	}
	return m[field]
}

// openaiProvider is a provider entry for an OpenAI-typed fake upstream named up.
func openaiProvider(name, up, extra string) string {
	return "- name: " + name + "\n  type: OpenAI\n  endpoint: {{" + up + "}}\n  apiKey: {env: UPSTREAM_KEY}\n" + extra
}

const cfgHeader = "apiVersion: proxy.llm.mosaic.dev/v1alpha1\nkind: ProxyConfig\nproviders:\n"
