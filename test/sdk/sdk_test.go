package sdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaic-dev/mosaic/test/fakeopenai"
)

// upstreamKey is the real provider key the proxy reads from a file; the SDK
// only ever holds placeholderKey.
const (
	upstreamKey    = "sk-sdktest-upstream-7f3a9c2e51"
	placeholderKey = "sk-mosaic-placeholder"
)

func TestOpenAINodeSDK(t *testing.T) {
	if _, err := os.Stat("node_modules/openai/package.json"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("test/sdk/node_modules is missing (run `npm ci` in test/sdk): %v", err)
		}
		t.Skip("test/sdk/node_modules is missing; run `npm ci` in test/sdk to run this test")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH although test/sdk/node_modules is installed: %v", err)
	}
	proxyBin := buildProxy(t)

	tests := map[string]struct {
		// cases is MOSAIC_SDK_CASES.
		cases string
		// env adds variables for the Node script.
		env map[string]string
		// provider is extra YAML for the provider entry (indented two spaces).
		provider string
		// rateLimits is the YAML of the rateLimits list ("" = none).
		rateLimits string
		// faults are injected into the upstream before the script runs.
		faults []fakeopenai.Fault
		// check asserts what the upstream saw.
		check func(t *testing.T, upstream *fakeopenai.Server)
	}{
		"API surface through an alias": {
			cases: "chat,stream,embeddings,responses,models,unknown_model",
			env: map[string]string{"MOSAIC_SDK_MODEL": "fast", "MOSAIC_SDK_EXPECT_MODELS": "fast,gpt-4o-mini,text-embedding-3-small",
				"MOSAIC_SDK_EXPECT_TEXT": fakeopenai.ReplyText(fakeopenai.DefaultChunks)},
			check: func(t *testing.T, upstream *fakeopenai.Server) {
				for path, want := range map[string]int{"/v1/chat/completions": 3, "/v1/responses": 1} {
					if got := upstream.Count(path); got != want {
						t.Errorf("upstream saw %d requests to %s, want %d", got, path, want)
					}
				}
				if upstream.Count("/v1/embeddings") == 0 {
					t.Errorf("upstream saw no embeddings request")
				}
				for _, r := range upstream.Requests() {
					var body struct {
						Model string `json:"model"`
					}
					_ = json.Unmarshal(r.Body, &body)
					if body.Model == "fast" || body.Model == "no-such-model-xyz" {
						t.Errorf("upstream saw model %q: the alias was not rewritten or the unknown model not refused", body.Model)
					}
				}
			},
		},
		"blocked prompt": {
			cases:    "blocked",
			provider: "  sanitization: {detectors: [CreditCard], action: Block}\n",
			check: func(t *testing.T, upstream *fakeopenai.Server) {
				if n := upstream.Count("/v1/chat/completions"); n != 0 {
					t.Errorf("a blocked prompt reached the upstream (%d requests)", n)
				}
			},
		},
		"rate limited by the proxy": {
			cases:      "rate_limited",
			rateLimits: "- {name: sdk, providers: [openai], requestsPerMinute: 1}\n",
			check: func(t *testing.T, upstream *fakeopenai.Server) {
				if n := upstream.Count("/v1/chat/completions"); n != 1 {
					t.Errorf("upstream saw %d chat requests, want 1 (the rest refused by the proxy)", n)
				}
			},
		},
		"rate limited upstream, retries exhausted": {
			cases:  "rate_limited",
			faults: []fakeopenai.Fault{fakeopenai.RateLimited("7")},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			upstream := fakeopenai.New(fakeopenai.Options{APIKey: upstreamKey,
				Models: []string{"gpt-4o-mini", "text-embedding-3-small"}})
			defer upstream.Close()
			upstream.Inject(tc.faults...)
			dir := t.TempDir()
			keyFile := filepath.Join(dir, "api-key")
			if err := os.WriteFile(keyFile, []byte(upstreamKey+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			config := fmt.Sprintf(`apiVersion: proxy.llm.mosaic.dev/v1alpha1
kind: ProxyConfig
providers:
- name: openai
  type: OpenAI
  endpoint: %q
  apiKey: {file: %q}
  models: [{name: gpt-4o-mini}, {name: fast, target: gpt-4o-mini}, {name: text-embedding-3-small}]
  retry: {maxAttempts: 1}
%s`, upstream.URL(), keyFile, tc.provider)
			if tc.rateLimits != "" {
				config += "rateLimits:\n" + tc.rateLimits
			}
			proxy := startProxy(t, proxyBin, dir, config)

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "--test", "openai.test.mjs")
			cmd.Env = append(scriptEnv(), "OPENAI_BASE_URL=http://"+proxy.addr+"/v1", "OPENAI_API_KEY="+placeholderKey, "MOSAIC_SDK_CASES="+tc.cases)
			for k, v := range tc.env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("node --test openai.test.mjs (cases %s): %v\n%s\nproxy log:\n%s", tc.cases, err, out, proxy.log.String())
			}
			if want := fmt.Sprintf("# pass %d\n", len(strings.Split(tc.cases, ","))); err == nil && !strings.Contains(string(out), want) {
				t.Errorf("node --test did not pass every case of %s (want %q in its report):\n%s", tc.cases, strings.TrimSpace(want), out)
			}
			if strings.Contains(string(out), upstreamKey) || strings.Contains(proxy.log.String(), upstreamKey) {
				t.Errorf("the upstream key appears in the script output or the proxy log")
			}
			requests := upstream.Requests()
			for _, r := range requests {
				if got := r.Header.Get("Authorization"); got != "Bearer "+upstreamKey {
					t.Errorf("upstream request %s %s carried Authorization %q, want the real key", r.Method, r.Path, redact(got))
				}
				for name, values := range r.Header {
					for _, v := range values {
						if strings.Contains(v, placeholderKey) {
							t.Errorf("upstream request %s %s carried the placeholder key in %s", r.Method, r.Path, name)
						}
					}
				}
			}
			if tc.check != nil {
				tc.check(t, upstream)
			}
		})
	}
}

// redact hides all but the start of a header value that may hold a key.
func redact(v string) string {
	if len(v) > 12 {
		return v[:12] + "..."
	}
	return v
}

// scriptEnv is the test's environment without OPENAI_* and MOSAIC_SDK_* variables.
func scriptEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OPENAI_") && !strings.HasPrefix(kv, "MOSAIC_SDK_") {
			env = append(env, kv)
		}
	}
	return env
}

// buildProxy builds cmd/mosaic-proxy into a temporary directory.
func buildProxy(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mosaic-proxy")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/mosaic-dev/mosaic/cmd/mosaic-proxy")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building mosaic-proxy: %v\n%s", err, out)
	}
	return bin
}

// runningProxy is a mosaic-proxy process.
type runningProxy struct {
	addr string
	log  *syncBuffer
}

// startProxy starts mosaic-proxy with config in dir and waits until /readyz
// answers; the process is stopped when the test ends.
func startProxy(t *testing.T, bin, dir, config string) runningProxy {
	t.Helper()
	cfg := filepath.Join(dir, "proxy.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, maddr := freeAddr(t), freeAddr(t)
	log := &syncBuffer{}
	cmd := exec.Command(bin, "--config", cfg, "--listen", addr, "--metrics-listen", maddr, "--log-level", "debug")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting mosaic-proxy: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := client.Get("http://" + maddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return runningProxy{addr: addr, log: log}
			}
		}
		select {
		case <-exited:
			t.Fatalf("mosaic-proxy exited at start:\n%s", log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosaic-proxy not ready after 20s:\n%s", log.String())
		}
	}
}

// freeAddr is a 127.0.0.1 address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for a process's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
