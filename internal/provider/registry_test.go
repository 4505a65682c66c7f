package provider

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestDefaultRegistry(t *testing.T) {
	r := Default()
	want := []Type{TypeAnthropic, TypeAzureOpenAI, TypeFake, TypeGemini, TypeOpenAI, TypeOpenAICompatible}
	if got := r.Types(); !slices.Equal(got, want) {
		t.Fatalf("Types() = %v, want %v", got, want)
	}
	for _, typ := range want {
		p, err := r.Get(typ)
		if err != nil {
			t.Fatalf("Get(%s): %v", typ, err)
		}
		if p.Type() != typ {
			t.Errorf("Get(%s) returned an adapter of type %s", typ, p.Type())
		}
	}
}

func TestRegistryGetUnknown(t *testing.T) {
	_, err := Default().Get("Bedrock")
	if !errors.Is(err, ErrUnknownType) {
		t.Fatalf("error = %v, want ErrUnknownType", err)
	}
	for _, part := range []string{`"Bedrock"`, "OpenAI", "Fake"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not mention %s", err, part)
		}
	}
}

func TestNewRegistryRejectsDuplicates(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewRegistry accepted two adapters of one type")
		}
	}()
	NewRegistry(&OpenAI{}, &OpenAI{})
}

func TestDefaultBaseURLs(t *testing.T) {
	want := map[Type]string{
		TypeOpenAI:           "https://api.openai.com/v1",
		TypeAzureOpenAI:      "",
		TypeAnthropic:        "https://api.anthropic.com/v1",
		TypeGemini:           "https://generativelanguage.googleapis.com/v1beta/openai",
		TypeOpenAICompatible: "",
		TypeFake:             "fake://mosaic/v1",
	}
	r := Default()
	for typ, url := range want {
		p, _ := r.Get(typ)
		if got := p.DefaultBaseURL(); got != url {
			t.Errorf("%s DefaultBaseURL = %q, want %q", typ, got, url)
		}
	}
}

func TestAuthorize(t *testing.T) {
	tests := map[string]struct {
		// provider is the adapter.
		provider Provider
		// apiKey is the configured key.
		apiKey string
		// want are the credential headers expected afterwards.
		want map[string]string
	}{
		"OpenAI":                   {provider: &OpenAI{}, apiKey: testKey, want: map[string]string{"Authorization": "Bearer " + testKey}},
		"AzureOpenAI":              {provider: &AzureOpenAI{}, apiKey: testKey, want: map[string]string{"Api-Key": testKey}},
		"Anthropic compatibility":  {provider: &Anthropic{}, apiKey: testKey, want: map[string]string{"Authorization": "Bearer " + testKey}},
		"Gemini compatibility":     {provider: &Gemini{}, apiKey: testKey, want: map[string]string{"Authorization": "Bearer " + testKey}},
		"OpenAICompatible":         {provider: &OpenAICompatible{}, apiKey: testKey, want: map[string]string{"Authorization": "Bearer " + testKey}},
		"OpenAICompatible keyless": {provider: &OpenAICompatible{}, want: map[string]string{}},
		"Fake":                     {provider: &Fake{}, apiKey: testKey, want: map[string]string{"Authorization": "Bearer " + testKey}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			// What an app sends: the placeholder key, in every form an SDK might use.
			h.Set("Authorization", "Bearer placeholder")
			h.Set("api-key", "placeholder")
			h.Set("x-api-key", "placeholder")
			h.Set("x-goog-api-key", "placeholder")
			h.Set("Content-Type", "application/json")
			tc.provider.Authorize(h, tc.apiKey)
			for _, k := range credentialHeaders {
				if got, want := h.Get(k), tc.want[k]; got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if h.Get("Content-Type") != "application/json" {
				t.Error("Authorize removed a non-credential header")
			}
		})
	}
}
