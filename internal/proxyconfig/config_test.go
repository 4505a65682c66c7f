package proxyconfig

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml")

// TestParseGolden parses each testdata/*.yaml and compares the defaulted result, marshalled back
// to YAML, with its .golden.yaml file.
func TestParseGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden.yaml") {
			continue
		}
		t.Run(filepath.Base(in), func(t *testing.T) {
			c, err := Load(in)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got, err := Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(in, ".yaml") + ".golden.yaml"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("defaulted config differs from %s:\n%s", golden, got)
			}
			// The rendered form parses back to the same thing.
			again, err := Parse(got)
			if err != nil {
				t.Fatalf("golden does not parse: %v", err)
			}
			if round, _ := Marshal(again); string(round) != string(got) {
				t.Errorf("round trip changed the config:\n%s", round)
			}
		})
	}
}

const header = "apiVersion: proxy.llm.mosaic.dev/v1alpha1\nkind: ProxyConfig\n"

// providerYAML is a valid provider entry that cases append fields to.
const providerYAML = "providers:\n- name: openai\n  type: OpenAI\n  apiKey: {env: OPENAI_API_KEY}\n  models: [{name: gpt-4o-mini}]\n"

func TestParseErrors(t *testing.T) {
	tests := map[string]struct {
		// yaml is the whole file.
		yaml string
		// want are substrings the error must contain (each names a field path).
		want []string
	}{
		"unknown field is refused": {
			yaml: header + providerYAML + "  retries: 3\n",
			want: []string{"providers[0].retries: unknown field"},
		},
		"wrong apiVersion and kind": {
			yaml: "apiVersion: v1\nkind: ConfigMap\n" + providerYAML,
			want: []string{`apiVersion: must be "proxy.llm.mosaic.dev/v1alpha1"`, `kind: must be "ProxyConfig"`},
		},
		"no providers": {
			yaml: header,
			want: []string{"providers: at least one provider is required"},
		},
		"maxAttempts out of range names the index": {
			yaml: header + providerYAML + "- name: b\n  type: Fake\n  models: [{name: m}]\n  retry: {maxAttempts: 11}\n",
			want: []string{"providers[1].retry.maxAttempts: must be between 1 and 10"},
		},
		"duration must be a string": {
			yaml: header + providerYAML + "  timeout: 60\n",
			want: []string{`a duration must be a string such as "60s"`},
		},
		"bad duration": {
			yaml: header + providerYAML + "  timeout: 60 seconds\n",
			want: []string{`invalid duration "60 seconds"`},
		},
		"missing key for OpenAI": {
			yaml: header + "providers:\n- name: openai\n  type: OpenAI\n  models: [{name: m}]\n",
			want: []string{"providers[0].apiKey: is required for type OpenAI"},
		},
		"both key sources": {
			yaml: header + "providers:\n- name: openai\n  type: OpenAI\n  apiKey: {env: A, file: /x}\n  models: [{name: m}]\n",
			want: []string{"providers[0].apiKey: set exactly one of file and env"},
		},
		"azure needs an endpoint": {
			yaml: header + "providers:\n- name: az\n  type: AzureOpenAI\n  apiKey: {env: K}\n  models: [{name: m}]\n",
			want: []string{"providers[0].endpoint: is required for type AzureOpenAI"},
		},
		"plain http to a public OpenAI endpoint": {
			yaml: header + providerYAML + "  endpoint: http://api.openai.com/v1\n",
			want: []string{"providers[0].endpoint:", "must use https"},
		},
		"unknown type": {
			yaml: header + "providers:\n- name: x\n  type: Cohere\n  models: [{name: m}]\n",
			want: []string{`providers[0].type: must be OpenAI, AzureOpenAI, Anthropic, Gemini, OpenAICompatible or Fake, got "Cohere"`},
		},
		"duplicate provider and model names": {
			yaml: header + providerYAML + "- name: openai\n  type: Fake\n  models: [{name: a}, {name: a}]\n",
			want: []string{`providers[1].name: "openai" is already used by providers[0]`, `providers[1].models[1].name: "a" is already listed as models[0]`},
		},
		"defaultModel must be listed": {
			yaml: header + providerYAML + "  defaultModel: gpt-5\n",
			want: []string{`providers[0].defaultModel: "gpt-5" is not one of models[].name`},
		},
		"retryOn value": {
			yaml: header + providerYAML + "  retry: {retryOn: [RateLimited, Flaky]}\n",
			want: []string{`providers[0].retry.retryOn[1]: must be RateLimited, ServerError, ConnectError or Timeout, got "Flaky"`},
		},
		"backoff max below initial": {
			yaml: header + providerYAML + "  retry: {backoff: {initial: 2s, max: 1s}}\n",
			want: []string{"providers[0].retry.backoff.max: must be at least backoff.initial (2s)"},
		},
		"budget over 100": {
			yaml: header + providerYAML + "  retry: {budgetPercent: 120}\n",
			want: []string{"providers[0].retry.budgetPercent: must be between 0 and 100"},
		},
		"fallback to an unknown provider": {
			yaml: header + providerYAML + "  fallback: {provider: nope}\n",
			want: []string{`providers[0].fallback.provider: no provider is named "nope"`},
		},
		"fallback cycle": {
			yaml: header + providerYAML + "  fallback: {provider: b}\n- name: b\n  type: Fake\n  models: [{name: m}]\n  fallback: {provider: openai}\n",
			want: []string{"providers[0].fallback.provider: fallback chain loops: openai -> b -> openai"},
		},
		"fallback with both": {
			yaml: header + providerYAML + "  fallback: {provider: x, staticResponse: {content: hi}}\n",
			want: []string{"providers[0].fallback: set exactly one of provider and staticResponse"},
		},
		"bad regex and detector": {
			yaml: header + providerYAML + "  sanitization: {detectors: [IBAN], patterns: [{name: t, regex: 'a(b'}]}\n",
			want: []string{`providers[0].sanitization.detectors[0]: must be CreditCard, USSSN, Email, PhoneNumber or SecretKey, got "IBAN"`, "providers[0].sanitization.patterns[0].regex: is not an RE2 expression"},
		},
		"global scope is refused for now": {
			yaml: header + providerYAML + "rateLimits:\n- name: r\n  providers: [openai]\n  requestsPerMinute: 1\n  scope: Global\n",
			want: []string{"rateLimits[0].scope: Global (Redis-backed) limits are not supported"},
		},
		"rate limit without limits or known provider": {
			yaml: header + providerYAML + "rateLimits:\n- name: r\n  providers: [other]\n",
			want: []string{`rateLimits[0].providers[0]: no provider is named "other"`, "rateLimits[0]: set at least one of"},
		},
		"queue needs maxWait": {
			yaml: header + providerYAML + "rateLimits:\n- name: r\n  providers: [openai]\n  requestsPerMinute: 1\n  onLimit: {action: Queue}\n",
			want: []string{"rateLimits[0].onLimit.maxWait: must be positive with action Queue"},
		},
		"negative cache size": {
			yaml: header + providerYAML + "embeddingsCache: {maxEntries: -1}\n",
			want: []string{"embeddingsCache.maxEntries: must not be negative"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatal("Parse accepted an invalid config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestValidateReturnsFieldErrors(t *testing.T) {
	c := &Config{APIVersion: APIVersion, Kind: Kind, Providers: []Provider{{Name: "p", Type: "Fake", Models: []Model{{Name: "m"}}, Retry: Retry{MaxAttempts: 20}}}}
	c.SetDefaults()
	var fe *FieldError
	if err := c.Validate(); !errors.As(err, &fe) || fe.Path != "providers[0].retry.maxAttempts" {
		t.Fatalf("want a FieldError for providers[0].retry.maxAttempts, got %v", err)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(header + providerYAML))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Providers[0]
	if p.Retry.MaxAttempts != 3 || p.Retry.Backoff.Initial.D() != 500*time.Millisecond || !*p.Retry.RespectRetryAfter || *p.Retry.BudgetPercent != 20 {
		t.Errorf("retry defaults not applied: %+v", p.Retry)
	}
	if p.DefaultModel != "gpt-4o-mini" || p.Timeout.D() != DefaultTimeout {
		t.Errorf("provider defaults not applied: %+v", p)
	}
	if *c.EmbeddingsCache.MaxEntries != DefaultEmbeddingsMaxEntries || c.Server.MaxRequestBytes != DefaultMaxRequestBytes {
		t.Errorf("cache/server defaults not applied: %+v %+v", c.EmbeddingsCache, c.Server)
	}
}

func TestParseDotEnv(t *testing.T) {
	tests := map[string]struct {
		// in is the .env content.
		in string
		// want is the variables read; nil means an error is expected.
		want map[string]string
	}{
		"plain, export, comments and quotes": {
			in:   "# local keys\nOPENAI_API_KEY=sk-test\nexport B=two # note\nC='lit $x'\nD=\"a\\nb\"\n\nE=\n",
			want: map[string]string{"OPENAI_API_KEY": "sk-test", "B": "two", "C": "lit $x", "D": "a\nb", "E": ""},
		},
		"missing equals":     {in: "JUSTTEXT\n"},
		"unterminated quote": {in: "A=\"open\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseDotEnv([]byte(tc.in))
			if tc.want == nil {
				if err == nil {
					t.Fatalf("want an error, got %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestKeySourceResolve(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "api-key")
	if err := os.WriteFile(keyFile, []byte("sk-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MOSAIC_TEST_REAL", "sk-real")
	env := Environment{DotEnv: map[string]string{"MOSAIC_TEST_REAL": "sk-dotenv", "MOSAIC_TEST_DOTENV_ONLY": "sk-dotenv-only"}}
	tests := map[string]struct {
		// src is the key source.
		src KeySource
		// want is the key; "" means an error is expected.
		want string
	}{
		"file, trailing newline trimmed": {src: KeySource{File: keyFile}, want: "sk-from-file"},
		"real env wins over .env":        {src: KeySource{Env: "MOSAIC_TEST_REAL"}, want: "sk-real"},
		".env when env is unset":         {src: KeySource{Env: "MOSAIC_TEST_DOTENV_ONLY"}, want: "sk-dotenv-only"},
		"missing variable":               {src: KeySource{Env: "MOSAIC_TEST_MISSING"}},
		"missing file":                   {src: KeySource{File: filepath.Join(dir, "nope")}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := tc.src.Resolve(env)
			if tc.want == "" {
				if err == nil {
					t.Fatal("want an error")
				}
				if strings.Contains(err.Error(), "sk-") {
					t.Fatalf("error leaks a key: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
