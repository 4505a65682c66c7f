package renderer

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/proxyconfig"
)

// ErrInvalidConfig is returned (wrapped) when the objects render into a configuration mosaic-proxy
// would refuse. The message names each object and spec field at fault.
var ErrInvalidConfig = errors.New("the objects render into an invalid mosaic-proxy configuration")

var indexedPath = regexp.MustCompile(`^(providers|rateLimits)\[(\d+)\](?:\.(.*))?$`)

// describeValidation rewrites proxyconfig's field errors (providers[1].retry.perTryTimeout) into
// the objects and fields a user edits (LLMProvider "b": spec.retry.perTryTimeout).
func describeValidation(err error, cfg *proxyconfig.Config, namespace string) error {
	var problems []string
	for _, e := range flatten(err) {
		var fe *proxyconfig.FieldError
		if !errors.As(e, &fe) {
			problems = append(problems, e.Error())
			continue
		}
		problems = append(problems, describeField(fe, cfg, namespace))
	}
	return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(problems, "; "))
}

func describeField(fe *proxyconfig.FieldError, cfg *proxyconfig.Config, namespace string) string {
	m := indexedPath.FindStringSubmatch(fe.Path)
	if m == nil {
		return "proxy configuration " + fe.Error()
	}
	i, _ := strconv.Atoi(m[2])
	switch m[1] {
	case "providers":
		if i < len(cfg.Providers) {
			return fmt.Sprintf("LLMProvider %q: %s: %s", cfg.Providers[i].Name, ProviderFieldPath(m[3]), fe.Message)
		}
	case "rateLimits":
		if i < len(cfg.RateLimits) {
			name := strings.TrimPrefix(cfg.RateLimits[i].Name, namespace+"/")
			return fmt.Sprintf("RateLimitPolicy %q: %s: %s", name, policyFieldPath(m[3]), fe.Message)
		}
	}
	return "proxy configuration " + fe.Error()
}

// ProviderFieldPath maps the path of a field inside one provider of a ProxyConfig (as in
// "providers[0].<path>") to the LLMProvider field it was rendered from, e.g. "retry.maxAttempts"
// to "spec.retry.maxAttempts" and "apiKey" to "spec.apiKeySecretRef".
func ProviderFieldPath(path string) string {
	switch {
	case path == "":
		return "spec"
	case path == "name":
		return "metadata.name"
	case path == "apiKey" || strings.HasPrefix(path, "apiKey."):
		return "spec.apiKeySecretRef"
	case path == "fallback.provider":
		return "spec.fallback.providerRef.name"
	}
	return "spec." + path
}

func policyFieldPath(path string) string {
	switch {
	case path == "":
		return "spec.limits"
	case path == "name":
		return "metadata.name"
	case strings.HasPrefix(path, "providers"):
		return "spec.targetRefs"
	case strings.HasPrefix(path, "onLimit"), path == "scope":
		return "spec." + path
	}
	return "spec.limits." + path
}

// flatten unwraps errors.Join trees into their leaves.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// ProviderFieldErrors renders one LLMProvider on its own and returns what mosaic-proxy would refuse
// in it, as field errors on the LLMProvider's spec (for the validating webhook): the checks that
// CEL cannot express, such as RE2 patterns that do not compile, perTryTimeout longer than timeout,
// or credentials in the endpoint URL. Fallback references are not followed here: they span
// providers (see RenderDetailed).
func ProviderFieldErrors(p *v1alpha1.LLMProvider) field.ErrorList {
	c := p.DeepCopy()
	if f := c.Spec.Fallback; f != nil && f.ProviderRef != nil {
		c.Spec.Fallback = nil
	}
	cfg := &proxyconfig.Config{APIVersion: proxyconfig.APIVersion, Kind: proxyconfig.Kind, Providers: []proxyconfig.Provider{renderProvider(c)}}
	cfg.SetDefaults()
	var errs field.ErrorList
	for _, e := range flatten(cfg.Validate()) {
		var fe *proxyconfig.FieldError
		if e == nil || !errors.As(e, &fe) {
			continue
		}
		m := indexedPath.FindStringSubmatch(fe.Path)
		if m == nil || m[1] != "providers" {
			continue
		}
		errs = append(errs, &field.Error{Type: field.ErrorTypeInvalid, Field: ProviderFieldPath(m[3]), BadValue: field.OmitValueType{}, Detail: fe.Message})
	}
	return errs
}
