package proxy

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/mosaic-dev/mosaic/internal/proxyconfig"
)

// failure classifies one failed upstream attempt.
type failure uint8

const (
	failNone failure = iota
	// failRateLimited is HTTP 429 other than insufficient_quota.
	failRateLimited
	// failQuota is HTTP 429 insufficient_quota: retrying cannot help, a fallback can.
	failQuota
	// failServer is HTTP 500, 502, 503, 504 or 529.
	failServer
	// failConnect is a transport error before any response (refused, reset, DNS, TLS).
	failConnect
	// failTimeout is an attempt that exceeded perTryTimeout.
	failTimeout
	// failDeadline is the request's overall timeout.
	failDeadline
	// failClient is any other upstream status: the request itself is at fault; passed through.
	failClient
	// failBadResponse is a 2xx answer that is not valid JSON, or was cut before its end.
	failBadResponse
	// failCanceled is the client going away.
	failCanceled
)

// label is the upstream_errors_total class.
func (f failure) label() string {
	switch f {
	case failRateLimited:
		return "rate_limited"
	case failQuota:
		return "quota_exhausted"
	case failServer:
		return "server_error"
	case failConnect:
		return "connect_error"
	case failTimeout, failDeadline:
		return "timeout"
	case failClient:
		return "client_error"
	case failBadResponse:
		return "bad_response"
	case failCanceled:
		return "canceled"
	}
	return "none"
}

// condition is the retryOn condition that covers f, or "" when f is never retried.
func (f failure) condition() proxyconfig.RetryCondition {
	switch f {
	case failRateLimited:
		return proxyconfig.RetryOnRateLimited
	case failServer:
		return proxyconfig.RetryOnServerError
	case failConnect:
		return proxyconfig.RetryOnConnectError
	case failTimeout:
		return proxyconfig.RetryOnTimeout
	}
	return ""
}

// fallsBack reports whether a request that ended with f may be answered by a fallback: every
// availability failure may, a request the upstream refused as invalid may not.
func (f failure) fallsBack() bool {
	switch f {
	case failRateLimited, failQuota, failServer, failConnect, failTimeout, failDeadline:
		return true
	}
	return false
}

// retryPolicy is a provider's compiled retry configuration.
type retryPolicy struct {
	maxAttempts       int
	initial, maxDelay time.Duration
	retryOn           [failCanceled + 1]bool
	respectRetryAfter bool
	maxRetryAfter     time.Duration
	perTryTimeout     time.Duration
	budgetPercent     int
}

func compileRetry(r proxyconfig.Retry) retryPolicy {
	p := retryPolicy{
		maxAttempts:       r.MaxAttempts,
		initial:           r.Backoff.Initial.D(),
		maxDelay:          r.Backoff.Max.D(),
		respectRetryAfter: r.RespectRetryAfter == nil || *r.RespectRetryAfter,
		maxRetryAfter:     r.MaxRetryAfter.D(),
		perTryTimeout:     r.PerTryTimeout.D(),
		budgetPercent:     proxyconfig.DefaultBudgetPercent,
	}
	if r.BudgetPercent != nil {
		p.budgetPercent = *r.BudgetPercent
	}
	for _, c := range r.RetryOn {
		for f := failNone; f <= failCanceled; f++ {
			if f.condition() == c {
				p.retryOn[f] = true
			}
		}
	}
	return p
}

// backoff is the full-jitter delay before retry n (1-based): a random time in
// [0, min(max, initial*2^(n-1))].
func (p *retryPolicy) backoff(n int) time.Duration {
	ceiling := p.initial
	for i := 1; i < n && ceiling < p.maxDelay; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.maxDelay)
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}

// Retry budget: retries in the last budgetWindow may not exceed budgetPercent of the requests in
// it, plus budgetFloor so that a quiet sidecar still retries.
const (
	budgetWindow  = 10 * time.Second
	budgetBuckets = 10
	budgetFloor   = 10
)

// retryBudget counts first attempts and retries of one provider over a sliding window of
// per-second buckets. It outlives configuration reloads.
type retryBudget struct {
	mu       sync.Mutex
	requests [budgetBuckets]int64
	retries  [budgetBuckets]int64
	// epoch is the second of each bucket's data.
	epoch [budgetBuckets]int64
	now   func() time.Time
}

func newRetryBudget(now func() time.Time) *retryBudget {
	return &retryBudget{now: now}
}

func (b *retryBudget) bucket() int {
	sec := b.now().Unix()
	i := int(sec % budgetBuckets)
	if b.epoch[i] != sec {
		b.epoch[i], b.requests[i], b.retries[i] = sec, 0, 0
	}
	return i
}

// request records a first attempt.
func (b *retryBudget) request() {
	b.mu.Lock()
	b.requests[b.bucket()]++
	b.mu.Unlock()
}

// tryRetry reserves a retry if the budget allows one.
func (b *retryBudget) tryRetry(percent int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.bucket()
	sec := b.epoch[i]
	var reqs, rets int64
	for k := range budgetBuckets {
		if sec-b.epoch[k] < budgetBuckets {
			reqs += b.requests[k]
			rets += b.retries[k]
		}
	}
	if rets >= budgetFloor && rets*100 >= reqs*int64(percent) {
		return false
	}
	b.retries[i]++
	return true
}
