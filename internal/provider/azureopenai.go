package provider

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// AzureDefaultAPIVersion is the api-version used when an Endpoint names none: the latest GA
// version of the Azure OpenAI data-plane inference API.
const AzureDefaultAPIVersion = "2024-10-21"

// AzureOpenAI is the adapter for Azure OpenAI. The base URL is the resource endpoint,
// e.g. https://NAME.openai.azure.com (a trailing /openai is accepted); there is no default.
// The key goes in the "api-key" header.
//
// Requests are deployment-scoped: the model name is the deployment name, and chat
// completions go to {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=V
// (likewise /completions and /embeddings). /models lists the resource's models at
// {endpoint}/openai/models?api-version=V. /responses exists only in Azure's v1 API, so it
// goes to {endpoint}/openai/v1/responses.
//
// A base URL ending in /openai/v1 selects Azure's v1 API instead: every operation at
// {base}{operation}, the deployment name in the body's "model", and no api-version.
type AzureOpenAI struct{}

var _ Provider = (*AzureOpenAI)(nil)

// Type implements Provider.
func (*AzureOpenAI) Type() Type { return TypeAzureOpenAI }

// DefaultBaseURL implements Provider: there is none; each resource has its own endpoint.
func (*AzureOpenAI) DefaultBaseURL() string { return "" }

// Authorize implements Provider: "api-key: <key>".
func (*AzureOpenAI) Authorize(h http.Header, apiKey string) {
	clearCredentials(h)
	if apiKey != "" {
		h.Set("api-key", apiKey)
	}
}

// azureEndpoint is a parsed Azure base URL.
type azureEndpoint struct {
	// root is the resource endpoint without /openai or /openai/v1.
	root *url.URL
	// v1 is true when the base URL selected Azure's v1 API.
	v1 bool
	// apiVersion is the api-version query value of the deployment API.
	apiVersion string
}

func (p *AzureOpenAI) endpoint(ep Endpoint) (azureEndpoint, error) {
	base, err := baseURL(p.Type(), ep.BaseURL, "", "http", "https")
	if err != nil {
		return azureEndpoint{}, err
	}
	out := azureEndpoint{root: base, apiVersion: ep.APIVersion}
	switch {
	case strings.HasSuffix(base.Path, "/openai/v1"):
		out.v1 = true
		root := *base
		root.Path = strings.TrimSuffix(base.Path, "/openai/v1")
		out.root = &root
	case strings.HasSuffix(base.Path, "/openai"):
		root := *base
		root.Path = strings.TrimSuffix(base.Path, "/openai")
		out.root = &root
	}
	if out.apiVersion == "" {
		out.apiVersion = AzureDefaultAPIVersion
	}
	if strings.ContainsAny(out.apiVersion, " \t\r\n/?#&") {
		return azureEndpoint{}, fmt.Errorf("%w: %s api-version %q is not a version like %s", ErrInvalidEndpoint, p.Type(), out.apiVersion, AzureDefaultAPIVersion)
	}
	return out, nil
}

func (e azureEndpoint) query() url.Values {
	return url.Values{"api-version": []string{e.apiVersion}}
}

// RequestURL implements Provider. model is the deployment name.
func (p *AzureOpenAI) RequestURL(ep Endpoint, operation, model string) (string, error) {
	if err := checkOpenAIOperation(p.Type(), operation); err != nil {
		return "", err
	}
	e, err := p.endpoint(ep)
	if err != nil {
		return "", err
	}
	if e.v1 {
		return joinPath(e.root, "/openai/v1"+operation, nil), nil
	}
	switch operation {
	case OperationModels:
		return joinPath(e.root, "/openai/models", e.query()), nil
	case OperationResponses:
		return joinPath(e.root, "/openai/v1/responses", nil), nil
	}
	if err := checkDeployment(model); err != nil {
		return "", fmt.Errorf("%w: %s %s: %v", ErrInvalidEndpoint, p.Type(), operation, err)
	}
	return joinPath(e.root, "/openai/deployments/"+model+operation, e.query()), nil
}

// checkDeployment rejects names that would change the URL's path or query.
func checkDeployment(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("the model (the Azure deployment name) is required")
	case name == "." || name == "..":
		return fmt.Errorf("deployment name %q is not valid", name)
	case strings.ContainsAny(name, "/\\?#% \t\r\n"):
		return fmt.Errorf("deployment name %q must not contain '/', '\\', '?', '#', '%%' or spaces", name)
	}
	return nil
}

// Probe implements Provider: GET {endpoint}/openai/models?api-version=V (the data-plane model
// list), or {base}/models on the v1 API.
func (p *AzureOpenAI) Probe(ctx context.Context, client *http.Client, ep Endpoint, apiKey string) (*ProbeResult, error) {
	u, err := p.RequestURL(ep, OperationModels, "")
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	p.Authorize(h, apiKey)
	return runProbe(ctx, client, probeSpec{
		url:    u,
		header: h,
		apiKey: apiKey,
		models: parseDataIDs,
		quota:  p.ParseQuota,
	})
}

// ParseQuota implements Provider: Azure sends x-ratelimit-remaining-requests and
// x-ratelimit-remaining-tokens (and, on newer API versions, the OpenAI limit and reset
// headers).
func (*AzureOpenAI) ParseQuota(h http.Header, now time.Time) Quota { return parseOpenAIQuota(h, now) }
