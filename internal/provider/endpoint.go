package provider

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The OpenAI-style operations an adapter can map to an upstream URL: the path a client uses
// below the OpenAI base URL (https://api.openai.com/v1).
const (
	OperationChatCompletions = "/chat/completions"
	OperationCompletions     = "/completions"
	OperationEmbeddings      = "/embeddings"
	OperationResponses       = "/responses"
	OperationModels          = "/models"
)

// Sentinel errors, for errors.Is.
var (
	// ErrUnknownType is returned by Registry.Get for a type no adapter serves.
	ErrUnknownType = errors.New("unknown provider type")
	// ErrUnsupportedOperation is returned by RequestURL for an operation the upstream API
	// does not offer (for example embeddings on Anthropic).
	ErrUnsupportedOperation = errors.New("operation not supported by provider")
	// ErrInvalidEndpoint is returned by RequestURL and Probe when the configured Endpoint
	// cannot make a valid upstream URL (missing or malformed base URL, bad deployment name).
	ErrInvalidEndpoint = errors.New("invalid provider endpoint")
)

// openAIOperations are the operations of an API that mirrors OpenAI's paths one to one.
var openAIOperations = map[string]bool{
	OperationChatCompletions: true,
	OperationCompletions:     true,
	OperationEmbeddings:      true,
	OperationResponses:       true,
	OperationModels:          true,
}

// baseURL parses the configured base URL of t, falling back to def when raw is empty. Only
// the schemes listed are accepted (any scheme when none are). The result never has a
// trailing slash. Errors never echo a URL that carries credentials.
func baseURL(t Type, raw, def string, schemes ...string) (*url.URL, error) {
	if raw == "" {
		raw = def
	}
	if raw == "" {
		return nil, fmt.Errorf("%w: %s needs a base URL (spec.endpoint.baseURL); the type has no default", ErrInvalidEndpoint, t)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the input, which may hold credentials: do not wrap it.
		return nil, fmt.Errorf("%w: %s base URL is not a valid URL", ErrInvalidEndpoint, t)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: %s base URL %s must not contain credentials: the API key comes from the Secret", ErrInvalidEndpoint, t, u.Redacted())
	}
	if u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("%w: %s base URL %q must be absolute, like https://host/v1", ErrInvalidEndpoint, t, u.Redacted())
	}
	if len(schemes) > 0 && !containsFold(schemes, u.Scheme) {
		return nil, fmt.Errorf("%w: %s base URL %q has scheme %q, want one of %s", ErrInvalidEndpoint, t, u.Redacted(), u.Scheme, strings.Join(schemes, ", "))
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, fmt.Errorf("%w: %s base URL %q must not have a query or fragment", ErrInvalidEndpoint, t, u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// joinPath returns base with path appended to its path, and query (when non-nil) encoded.
func joinPath(base *url.URL, path string, query url.Values) string {
	u := *base
	u.Path = base.Path + path
	u.RawPath = ""
	if query != nil {
		u.RawQuery = query.Encode()
	}
	return u.String()
}

// checkOperation returns ErrUnsupportedOperation, naming the type and what it does offer,
// when op is not one of supported.
func checkOperation(t Type, op string, supported ...string) error {
	for _, s := range supported {
		if op == s {
			return nil
		}
	}
	return fmt.Errorf("%w: %s does not offer %q (supported: %s)", ErrUnsupportedOperation, t, op, strings.Join(supported, ", "))
}

// checkOpenAIOperation accepts the five operations of an OpenAI-shaped API.
func checkOpenAIOperation(t Type, op string) error {
	if openAIOperations[op] {
		return nil
	}
	return checkOperation(t, op, OperationChatCompletions, OperationCompletions, OperationEmbeddings, OperationResponses, OperationModels)
}

// credentialHeaders are every header any supported upstream reads a key from.
var credentialHeaders = []string{"Authorization", "Api-Key", "X-Api-Key", "X-Goog-Api-Key"}

// clearCredentials removes any credential a client sent, so only the configured key goes
// upstream.
func clearCredentials(h http.Header) {
	for _, k := range credentialHeaders {
		h.Del(k)
	}
}

// setBearer replaces any client credential with "Authorization: Bearer apiKey".
func setBearer(h http.Header, apiKey string) {
	clearCredentials(h)
	if apiKey != "" {
		h.Set("Authorization", "Bearer "+apiKey)
	}
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
