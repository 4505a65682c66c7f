package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Gemini is the adapter for the Google Gemini API. The base URL is Gemini's OpenAI
// compatibility endpoint, https://generativelanguage.googleapis.com/v1beta/openai, which
// serves /chat/completions, /embeddings and /models with Bearer authentication.
//
// The probe uses the native API, at the base URL without its /openai suffix: GET
// {root}/models with "x-goog-api-key", whose answer is {"models":[{"name":"models/..."}]}.
// Gemini sends no rate-limit headers, so Quota stays empty; a 429 carries Google's RetryInfo,
// which becomes ProbeError.RetryAfter.
type Gemini struct{}

var _ Provider = (*Gemini)(nil)

// Type implements Provider.
func (*Gemini) Type() Type { return TypeGemini }

// DefaultBaseURL implements Provider.
func (*Gemini) DefaultBaseURL() string {
	return "https://generativelanguage.googleapis.com/v1beta/openai"
}

// Authorize implements Provider for the OpenAI compatibility endpoint: "Authorization:
// Bearer <key>".
func (*Gemini) Authorize(h http.Header, apiKey string) { setBearer(h, apiKey) }

// RequestURL implements Provider: /chat/completions, /embeddings and /models at
// {base}{operation}.
func (p *Gemini) RequestURL(ep Endpoint, operation, _ string) (string, error) {
	if err := checkOperation(p.Type(), operation, OperationChatCompletions, OperationEmbeddings, OperationModels); err != nil {
		return "", err
	}
	base, err := baseURL(p.Type(), ep.BaseURL, p.DefaultBaseURL(), "http", "https")
	if err != nil {
		return "", err
	}
	return joinPath(base, operation, nil), nil
}

// Probe implements Provider: GET {root}/models?pageSize=1000 on the native API.
func (p *Gemini) Probe(ctx context.Context, client *http.Client, ep Endpoint, apiKey string) (*ProbeResult, error) {
	base, err := baseURL(p.Type(), ep.BaseURL, p.DefaultBaseURL(), "http", "https")
	if err != nil {
		return nil, err
	}
	root := *base
	root.Path = strings.TrimSuffix(base.Path, "/openai")
	h := http.Header{}
	clearCredentials(h)
	if apiKey != "" {
		h.Set("x-goog-api-key", apiKey)
	}
	return runProbe(ctx, client, probeSpec{
		url:    joinPath(&root, "/models", url.Values{"pageSize": []string{"1000"}}),
		header: h,
		apiKey: apiKey,
		models: parseGeminiModels,
		quota:  p.ParseQuota,
	})
}

// parseGeminiModels reads {"models":[{"name":"models/gemini-2.0-flash"}],"nextPageToken":...}.
func parseGeminiModels(body []byte) ([]string, error) {
	var list struct {
		Models *[]struct {
			Name string `json:"name"`
		} `json:"models"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("not a JSON model list: %s", jsonErrorText(err))
	}
	if list.Models == nil {
		// The API omits "models" for an empty list; an empty object is that answer.
		if strings.TrimSpace(string(body)) == "{}" {
			return []string{}, nil
		}
		return nil, errors.New(`no "models" array: is the base URL the Gemini API (ending in /v1beta/openai)?`)
	}
	ids := make([]string, 0, len(*list.Models))
	for _, m := range *list.Models {
		if id := strings.TrimPrefix(m.Name, "models/"); id != "" {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// ParseQuota implements Provider: Gemini reports no quota in headers.
func (*Gemini) ParseQuota(http.Header, time.Time) Quota { return Quota{} }
