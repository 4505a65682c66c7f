package proxyconfig

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/mosaic-dev/mosaic/internal/provider"
)

// FieldError is one invalid field, named by its path in the file.
type FieldError struct {
	// Path is the field's path, e.g. providers[1].retry.maxAttempts.
	Path string
	// Message says what is wrong.
	Message string
}

// Error formats the error as "path: message".
func (e *FieldError) Error() string { return e.Path + ": " + e.Message }

// fieldErrors collects FieldErrors in file order.
type fieldErrors []error

func (fe *fieldErrors) add(path, format string, args ...any) {
	*fe = append(*fe, &FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

var namePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9./_-]*[a-z0-9])?$`)

// Validate checks a defaulted configuration (see SetDefaults). It reports every invalid field, one
// *FieldError per line (errors.Join), each naming the field path.
func (c *Config) Validate() error {
	var errs fieldErrors
	if c.APIVersion != APIVersion {
		errs.add("apiVersion", "must be %q, got %q", APIVersion, c.APIVersion)
	}
	if c.Kind != Kind {
		errs.add("kind", "must be %q, got %q", Kind, c.Kind)
	}
	if c.Server.MaxRequestBytes < 1 {
		errs.add("server.maxRequestBytes", "must be positive")
	}
	if c.Server.StreamIdleTimeout < 0 {
		errs.add("server.streamIdleTimeout", "must not be negative")
	}
	if c.Server.DefaultMaxTokens < 1 {
		errs.add("server.defaultMaxTokens", "must be positive")
	}

	if len(c.Providers) == 0 {
		errs.add("providers", "at least one provider is required")
	}
	index := make(map[string]int, len(c.Providers))
	for i := range c.Providers {
		p := &c.Providers[i]
		path := fmt.Sprintf("providers[%d]", i)
		switch {
		case p.Name == "":
			errs.add(path+".name", "is required")
		case !namePattern.MatchString(p.Name):
			errs.add(path+".name", "%q must be lower-case letters, digits, '.', '_', '/' or '-'", p.Name)
		default:
			if j, dup := index[p.Name]; dup {
				errs.add(path+".name", "%q is already used by providers[%d]", p.Name, j)
			} else {
				index[p.Name] = i
			}
		}
		p.validate(path, &errs)
	}
	for i := range c.Providers {
		c.validateFallback(i, index, &errs)
	}

	limitNames := map[string]int{}
	for i := range c.RateLimits {
		l := &c.RateLimits[i]
		path := fmt.Sprintf("rateLimits[%d]", i)
		if l.Name == "" {
			errs.add(path+".name", "is required")
		} else if j, dup := limitNames[l.Name]; dup {
			errs.add(path+".name", "%q is already used by rateLimits[%d]", l.Name, j)
		} else {
			limitNames[l.Name] = i
		}
		if len(l.Providers) == 0 {
			errs.add(path+".providers", "at least one provider name is required")
		}
		seen := map[string]bool{}
		for j, name := range l.Providers {
			if _, ok := index[name]; !ok {
				errs.add(fmt.Sprintf("%s.providers[%d]", path, j), "no provider is named %q", name)
			} else if seen[name] {
				errs.add(fmt.Sprintf("%s.providers[%d]", path, j), "%q is listed twice", name)
			}
			seen[name] = true
		}
		for _, f := range []struct {
			name string
			v    int64
		}{{"requestsPerMinute", l.RequestsPerMinute}, {"tokensPerMinute", l.TokensPerMinute}, {"tokensPerDay", l.TokensPerDay}, {"maxConcurrentRequests", l.MaxConcurrentRequests}} {
			if f.v < 0 {
				errs.add(path+"."+f.name, "must not be negative")
			}
		}
		if l.RequestsPerMinute <= 0 && l.TokensPerMinute <= 0 && l.TokensPerDay <= 0 && l.MaxConcurrentRequests <= 0 {
			errs.add(path, "set at least one of requestsPerMinute, tokensPerMinute, tokensPerDay, maxConcurrentRequests")
		}
		switch l.Scope {
		case ScopePod:
		case ScopeGlobal:
			errs.add(path+".scope", "Global (Redis-backed) limits are not supported by this mosaic-proxy version; use Pod")
		default:
			errs.add(path+".scope", "must be Pod, got %q", l.Scope)
		}
		switch l.OnLimit.Action {
		case LimitReject:
			if l.OnLimit.MaxWait != 0 {
				errs.add(path+".onLimit.maxWait", "only applies to action Queue")
			}
		case LimitQueue:
			if l.OnLimit.MaxWait <= 0 {
				errs.add(path+".onLimit.maxWait", "must be positive with action Queue")
			}
		default:
			errs.add(path+".onLimit.action", "must be Reject or Queue, got %q", l.OnLimit.Action)
		}
	}

	ec := c.EmbeddingsCache
	if ec.MaxEntries != nil && *ec.MaxEntries < 0 {
		errs.add("embeddingsCache.maxEntries", "must not be negative")
	}
	if ec.MaxBytes < 0 {
		errs.add("embeddingsCache.maxBytes", "must not be negative")
	}
	if ec.TTL < 0 {
		errs.add("embeddingsCache.ttl", "must not be negative")
	}
	return errors.Join(errs...)
}

func (p *Provider) validate(path string, errs *fieldErrors) {
	switch p.Type {
	case provider.TypeOpenAI, provider.TypeAzureOpenAI, provider.TypeAnthropic, provider.TypeGemini, provider.TypeOpenAICompatible, provider.TypeFake:
	case "":
		errs.add(path+".type", "is required (OpenAI, AzureOpenAI, Anthropic, Gemini, OpenAICompatible or Fake)")
	default:
		errs.add(path+".type", "must be OpenAI, AzureOpenAI, Anthropic, Gemini, OpenAICompatible or Fake, got %q", p.Type)
	}
	if p.Endpoint == "" {
		if p.Type == provider.TypeAzureOpenAI || p.Type == provider.TypeOpenAICompatible {
			errs.add(path+".endpoint", "is required for type %s", p.Type)
		}
	} else if msg := checkEndpoint(p.Endpoint, p.Type); msg != "" {
		errs.add(path+".endpoint", "%s", msg)
	}
	if p.Azure != nil && p.Type != provider.TypeAzureOpenAI {
		errs.add(path+".azure", "only applies to type AzureOpenAI")
	}
	if p.Type == provider.TypeAzureOpenAI && (p.Azure == nil || p.Azure.APIVersion == "") {
		errs.add(path+".azure.apiVersion", "is required for type AzureOpenAI")
	}
	switch k := p.APIKey; {
	case k == nil:
		if p.Type != provider.TypeOpenAICompatible && p.Type != provider.TypeFake && p.Type != "" {
			errs.add(path+".apiKey", "is required for type %s (set file or env)", p.Type)
		}
	case k.File != "" && k.Env != "":
		errs.add(path+".apiKey", "set exactly one of file and env")
	case k.File == "" && k.Env == "":
		errs.add(path+".apiKey", "set one of file and env")
	case k.Env != "" && !envNamePattern.MatchString(k.Env):
		errs.add(path+".apiKey.env", "%q is not an environment variable name", k.Env)
	}

	if len(p.Models) == 0 {
		errs.add(path+".models", "at least one model is required")
	}
	names := map[string]int{}
	for j, m := range p.Models {
		mp := fmt.Sprintf("%s.models[%d]", path, j)
		if strings.TrimSpace(m.Name) == "" {
			errs.add(mp+".name", "is required")
			continue
		}
		if k, dup := names[m.Name]; dup {
			errs.add(mp+".name", "%q is already listed as models[%d]", m.Name, k)
		}
		names[m.Name] = j
		if m.Target != "" && strings.TrimSpace(m.Target) == "" {
			errs.add(mp+".target", "must not be blank")
		}
	}
	if _, ok := names[p.DefaultModel]; p.DefaultModel != "" && !ok {
		errs.add(path+".defaultModel", "%q is not one of models[].name", p.DefaultModel)
	}
	if p.Timeout <= 0 {
		errs.add(path+".timeout", "must be positive")
	}

	r := &p.Retry
	rp := path + ".retry"
	if r.MaxAttempts < 1 || r.MaxAttempts > 10 {
		errs.add(rp+".maxAttempts", "must be between 1 and 10")
	}
	if r.Backoff.Initial <= 0 {
		errs.add(rp+".backoff.initial", "must be positive")
	}
	if r.Backoff.Max < r.Backoff.Initial {
		errs.add(rp+".backoff.max", "must be at least backoff.initial (%s)", r.Backoff.Initial)
	}
	seen := map[RetryCondition]bool{}
	for j, c := range r.RetryOn {
		switch c {
		case RetryOnRateLimited, RetryOnServerError, RetryOnConnectError, RetryOnTimeout:
		default:
			errs.add(fmt.Sprintf("%s.retryOn[%d]", rp, j), "must be RateLimited, ServerError, ConnectError or Timeout, got %q", c)
		}
		if seen[c] {
			errs.add(fmt.Sprintf("%s.retryOn[%d]", rp, j), "%q is listed twice", c)
		}
		seen[c] = true
	}
	if r.MaxRetryAfter < 0 {
		errs.add(rp+".maxRetryAfter", "must not be negative")
	}
	if r.PerTryTimeout < 0 {
		errs.add(rp+".perTryTimeout", "must not be negative")
	} else if r.PerTryTimeout > p.Timeout && p.Timeout > 0 {
		errs.add(rp+".perTryTimeout", "must not exceed timeout (%s)", p.Timeout)
	}
	if b := r.BudgetPercent; b != nil && (*b < 0 || *b > 100) {
		errs.add(rp+".budgetPercent", "must be between 0 and 100")
	}

	if s := p.Sanitization; s != nil {
		sp := path + ".sanitization"
		if s.MaxPromptChars < 0 {
			errs.add(sp+".maxPromptChars", "must not be negative")
		}
		if s.MaxPromptTokens < 0 {
			errs.add(sp+".maxPromptTokens", "must not be negative")
		}
		checkAction(sp+".action", s.Action, false, errs)
		seenD := map[Detector]bool{}
		for j, d := range s.Detectors {
			switch d {
			case DetectorCreditCard, DetectorUSSSN, DetectorEmail, DetectorPhoneNumber, DetectorSecretKey:
			default:
				errs.add(fmt.Sprintf("%s.detectors[%d]", sp, j), "must be CreditCard, USSSN, Email, PhoneNumber or SecretKey, got %q", d)
			}
			if seenD[d] {
				errs.add(fmt.Sprintf("%s.detectors[%d]", sp, j), "%q is listed twice", d)
			}
			seenD[d] = true
		}
		seenP := map[string]bool{}
		for j, pat := range s.Patterns {
			pp := fmt.Sprintf("%s.patterns[%d]", sp, j)
			if pat.Name == "" {
				errs.add(pp+".name", "is required")
			} else if seenP[pat.Name] {
				errs.add(pp+".name", "%q is already used", pat.Name)
			}
			seenP[pat.Name] = true
			if pat.Regex == "" {
				errs.add(pp+".regex", "is required")
			} else if _, err := regexp.Compile(pat.Regex); err != nil {
				errs.add(pp+".regex", "is not an RE2 expression: %v", err)
			}
			checkAction(pp+".action", pat.Action, true, errs)
		}
	}
}

func checkAction(path string, a SanitizeAction, emptyOK bool, errs *fieldErrors) {
	switch a {
	case ActionRedact, ActionBlock:
	case "":
		if !emptyOK {
			errs.add(path, "is required (Redact or Block)")
		}
	default:
		errs.add(path, "must be Redact or Block, got %q", a)
	}
}

func (c *Config) validateFallback(i int, index map[string]int, errs *fieldErrors) {
	p := &c.Providers[i]
	f := p.Fallback
	if f == nil {
		return
	}
	path := fmt.Sprintf("providers[%d].fallback", i)
	switch {
	case f.Provider != "" && f.StaticResponse != nil:
		errs.add(path, "set exactly one of provider and staticResponse")
		return
	case f.Provider == "" && f.StaticResponse == nil:
		errs.add(path, "set one of provider and staticResponse")
		return
	case f.StaticResponse != nil:
		return
	}
	if _, ok := index[f.Provider]; !ok {
		errs.add(path+".provider", "no provider is named %q", f.Provider)
		return
	}
	// Follow the chain; coming back to a provider already visited is a cycle.
	visited := map[string]bool{p.Name: true}
	chain := []string{p.Name}
	for next := f.Provider; next != ""; {
		chain = append(chain, next)
		if visited[next] {
			errs.add(path+".provider", "fallback chain loops: %s", strings.Join(chain, " -> "))
			return
		}
		visited[next] = true
		j, ok := index[next]
		if !ok || c.Providers[j].Fallback == nil {
			return
		}
		next = c.Providers[j].Fallback.Provider
	}
}

func checkEndpoint(raw string, t ProviderType) string {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("%q is not a URL: %v", raw, err)
	}
	if u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Sprintf("%q must be an absolute http or https URL", raw)
	}
	if u.User != nil {
		return "must not hold credentials; use apiKey"
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Sprintf("%q must not have a query or fragment", raw)
	}
	if u.Scheme == "http" && t != provider.TypeOpenAICompatible && t != provider.TypeFake && !isLoopback(u.Hostname()) {
		return fmt.Sprintf("%q must use https (plain http is allowed only for OpenAICompatible servers and loopback hosts)", raw)
	}
	return ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
