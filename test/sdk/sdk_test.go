package sdk_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-dev/mosaic/test/fakeopenai"
	"github.com/mosaic-dev/mosaic/test/proxyproc"
	"github.com/mosaic-dev/mosaic/test/sdk"
)

// upstreamKey is the real provider key the proxy reads from a file; the SDK
// only ever holds placeholderKey.
const (
	upstreamKey    = "sk-sdktest-upstream-7f3a9c2e51"
	placeholderKey = "sk-mosaic-placeholder"
)

func TestOpenAINodeSDK(t *testing.T) {
	script := sdk.FindScript(t)
	proxyBin, err := proxyproc.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

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
			env := []string{"OPENAI_BASE_URL=http://" + proxy.addr + "/v1", "OPENAI_API_KEY=" + placeholderKey}
			for k, v := range tc.env {
				env = append(env, k+"="+v)
			}
			out, err := script.Command(ctx, tc.cases, env...).CombinedOutput()
			if err != nil {
				t.Errorf("node --test openai.test.mjs (cases %s): %v\n%s\nproxy log:\n%s", tc.cases, err, out, proxy.log.String())
			} else if err := sdk.CheckPassed(out, tc.cases); err != nil {
				t.Errorf("%v:\n%s", err, out)
			}
			if strings.Contains(string(out), upstreamKey) || strings.Contains(proxy.log.String(), upstreamKey) {
				t.Errorf("the upstream key appears in the script output or the proxy log")
			}
			requests := upstream.Requests()
			for _, r := range requests {
				if got := r.Header.Get("Authorization"); got != "Bearer "+upstreamKey {
					t.Errorf("upstream request %s %s carried Authorization %s, want the real key", r.Method, r.Path, describeAuth(got))
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

// describeAuth says what an Authorization value is without printing any part of a key.
func describeAuth(v string) string {
	switch {
	case v == "":
		return "(none)"
	case strings.Contains(v, placeholderKey):
		return "with the placeholder key"
	default:
		return fmt.Sprintf("of %d bytes, not the real key", len(v))
	}
}

// runningProxy is a mosaic-proxy process.
type runningProxy struct {
	addr string
	log  *proxyproc.Log
}

// startProxy writes config into dir, starts mosaic-proxy with it and waits until /readyz
// answers; the process is stopped when the test ends.
func startProxy(t *testing.T, bin, dir, config string) runningProxy {
	t.Helper()
	cfg := filepath.Join(dir, "proxy.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, maddr := proxyproc.FreeAddr(t), proxyproc.FreeAddr(t)
	p := proxyproc.Start(t, bin, proxyproc.Options{
		Args: []string{"--config", cfg, "--listen", addr, "--metrics-listen", maddr, "--log-level", "debug"},
		Dir:  dir, ReadyURL: "http://" + maddr + "/readyz",
	})
	return runningProxy{addr: addr, log: p.Log}
}
