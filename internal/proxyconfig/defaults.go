package proxyconfig

import (
	"time"

	"github.com/mosaic-dev/mosaic/internal/provider"
)

// The defaults SetDefaults applies.
const (
	DefaultMaxRequestBytes      = 4 << 20
	DefaultStreamIdleTimeout    = 60 * time.Second
	DefaultMaxTokens            = 1024
	DefaultTimeout              = 60 * time.Second
	DefaultMaxAttempts          = 3
	DefaultBackoffInitial       = 500 * time.Millisecond
	DefaultBackoffMax           = 10 * time.Second
	DefaultMaxRetryAfter        = 30 * time.Second
	DefaultBudgetPercent        = 20
	DefaultAzureAPIVersion      = "2024-10-21"
	DefaultEmbeddingsMaxEntries = 10000
	DefaultEmbeddingsMaxBytes   = 16 << 20
	DefaultEmbeddingsTTL        = time.Hour
)

// AllRetryConditions is the default retryOn list.
var AllRetryConditions = []RetryCondition{RetryOnRateLimited, RetryOnServerError, RetryOnConnectError, RetryOnTimeout}

// SetDefaults fills every unset field that has a default. It is the one place defaults live;
// Parse calls it before Validate.
func (c *Config) SetDefaults() {
	if c.Server.MaxRequestBytes == 0 {
		c.Server.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.Server.StreamIdleTimeout == 0 {
		c.Server.StreamIdleTimeout = Duration(DefaultStreamIdleTimeout)
	}
	if c.Server.DefaultMaxTokens == 0 {
		c.Server.DefaultMaxTokens = DefaultMaxTokens
	}
	for i := range c.Providers {
		p := &c.Providers[i]
		if p.Type == provider.TypeAzureOpenAI {
			if p.Azure == nil {
				p.Azure = &Azure{}
			}
			if p.Azure.APIVersion == "" {
				p.Azure.APIVersion = DefaultAzureAPIVersion
			}
		}
		if p.DefaultModel == "" && len(p.Models) > 0 {
			p.DefaultModel = p.Models[0].Name
		}
		if p.Timeout == 0 {
			p.Timeout = Duration(DefaultTimeout)
		}
		r := &p.Retry
		if r.MaxAttempts == 0 {
			r.MaxAttempts = DefaultMaxAttempts
		}
		if r.Backoff.Initial == 0 {
			r.Backoff.Initial = Duration(DefaultBackoffInitial)
		}
		if r.Backoff.Max == 0 {
			r.Backoff.Max = Duration(DefaultBackoffMax)
		}
		if len(r.RetryOn) == 0 {
			r.RetryOn = append([]RetryCondition(nil), AllRetryConditions...)
		}
		if r.RespectRetryAfter == nil {
			t := true
			r.RespectRetryAfter = &t
		}
		if r.MaxRetryAfter == 0 {
			r.MaxRetryAfter = Duration(DefaultMaxRetryAfter)
		}
		if r.BudgetPercent == nil {
			b := DefaultBudgetPercent
			r.BudgetPercent = &b
		}
		if s := p.Sanitization; s != nil && s.Action == "" {
			s.Action = ActionRedact
		}
	}
	for i := range c.RateLimits {
		l := &c.RateLimits[i]
		if l.Scope == "" {
			l.Scope = ScopePod
		}
		if l.OnLimit.Action == "" {
			l.OnLimit.Action = LimitReject
		}
	}
	ec := &c.EmbeddingsCache
	if ec.MaxEntries == nil {
		n := DefaultEmbeddingsMaxEntries
		ec.MaxEntries = &n
	}
	if ec.MaxBytes == 0 {
		ec.MaxBytes = DefaultEmbeddingsMaxBytes
	}
	if ec.TTL == 0 {
		ec.TTL = Duration(DefaultEmbeddingsTTL)
	}
}
