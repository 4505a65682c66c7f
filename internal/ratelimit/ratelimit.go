// Package ratelimit is mosaic-proxy's admission control: it decides, before a request goes
// upstream, whether the request fits the request-rate, token-rate, daily token budget and
// concurrency limits of the RateLimitPolicy objects attached to a provider.
//
// # Model
//
// A Limiter admits a request with Admit and returns a Reservation, or refuses it with a
// *LimitedError (try again after RetryAfter) or a *RequestTooLargeError (it can never fit).
// The caller estimates the request's tokens before it is sent (prompt tokens + max_tokens) and
// settles the reservation when the response ends:
//
//   - Settle(actual) when the upstream answered: the token reservation is adjusted to the real
//     usage (refunding or charging the difference) and the concurrency slot is freed. If the
//     upstream was reached but the usage is unknown (the stream was cut before the usage chunk),
//     settle with EstimatedTokens(): the provider may have billed it, so the estimate stays charged.
//     An upstream error response (4xx/5xx, which providers do not bill) settles with 0.
//   - Release() when the request never reached the upstream (a later limiter in a Chain refused
//     it, the sanitizer blocked it, the client went away first): everything is refunded, the
//     request itself included, as if it had never been admitted.
//
// Exactly one of Settle and Release takes effect; later calls do nothing, so
// `defer res.Release()` right after Admit is a safe backstop for every error path.
//
// # Limits
//
//   - RequestsPerMinute is a token bucket holding RequestsPerMinute requests (the burst) and
//     refilled continuously at RequestsPerMinute/60 per second.
//   - TokensPerMinute and TokensPerDay are rolling windows of 60 s and 24 h. A request's estimate
//     is charged when it is admitted and stays in the window until the window has moved past the
//     admission time; settling refunds unused tokens at once and charges extra tokens at the time
//     of settlement. Windows are kept in slots (100 ms for the minute, 1 min for the day) and a
//     charge leaves the window at the end of the slot one full window later, so a charge stays
//     counted between one window and one window plus one slot: no interval of 60 s (or 24 h)
//     ever holds more than the limit (apart from usage above the estimate, which is charged
//     after the fact). A rolling day was chosen over a calendar day so that a budget cannot be
//     spent twice across midnight.
//   - MaxConcurrent counts requests between Admit and Settle/Release.
//
// A zero limit is unlimited. A request whose estimate alone exceeds TokensPerMinute or
// TokensPerDay can never be admitted: Admit returns *RequestTooLargeError at once instead of
// queueing.
//
// # Retry-After
//
// LimitedError.RetryAfter is the exact time until every time-based limit would admit this
// request if nothing else were admitted meanwhile: bucket refill for requests, and for tokens
// the moment enough of the oldest charges leave the window. When several limits refuse, the
// longest wait is reported. Concurrency has no computable wait (it depends on when other
// responses end); a refusal on MaxConcurrent alone reports one second.
//
// # Queueing
//
// With OnLimit.Queue, a request that cannot be admitted waits up to OnLimit.MaxWait, in FIFO
// order: only the oldest waiter is admitted when capacity returns, and a new arrival queues
// behind existing waiters even if it would fit. A waiter that would fit is admitted at its own
// deadline even if the oldest waiter is still blocked. If the time-based wait alone exceeds
// the remaining MaxWait, Admit fails at once with *LimitedError rather than sleeping for
// nothing. Reservation.QueueWait reports the time spent queued.
//
// # How mosaic-proxy answers
//
// The answers mirror what OpenAI itself returns, so applications keep their existing handling:
//
//   - *LimitedError: 429, header `Retry-After: RetryAfterSeconds()`, body
//     {"error":{"message":"Rate limit reached on tokens per min (TPM): Limit 10000, Used 8554,
//     Requested 3082. Please try again in 9.816s.","type":"tokens","code":"rate_limit_exceeded"}}
//     (type "requests" for the request and concurrency limits).
//   - *RequestTooLargeError: 429 without Retry-After, type "tokens", code "rate_limit_exceeded",
//     message "Request too large on tokens per min (TPM): Limit 10000, Requested 15000. The input
//     or output tokens must be reduced in order to run successfully." This is OpenAI's own
//     answer to the same situation; retrying is useless but cheap, as the proxy refuses at once.
//   - a context error: the client is gone; nothing is sent upstream.
//
// # Implementations
//
// Local keeps the state of one policy in the proxy's memory (one mutex, no goroutines, one
// allocation per admitted request: the Reservation). A Redis-backed implementation for global
// limits belongs in this package behind the same Limiter interface; it implements settler to
// receive Settle and Release. Chain combines limiters all-or-nothing.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Limiter admits requests to one provider under one set of limits. Implementations are safe
// for concurrent use.
type Limiter interface {
	// Admit reserves capacity for one request estimated at estimatedTokens (prompt tokens plus
	// max_tokens). It returns a Reservation to settle when the response ends, or an error:
	// *LimitedError when a limit refuses the request now (after queueing, if configured),
	// *RequestTooLargeError when the estimate can never fit, ctx.Err() when the context ends
	// while queued, or an error describing bad input or a failing backend.
	Admit(ctx context.Context, estimatedTokens int64) (*Reservation, error)
}

// LimitName names one kind of limit. The values are the RateLimitPolicy field names; they are
// also the bounded "limit" label of rate-limit metrics.
type LimitName string

// The limits a Limiter enforces.
const (
	// LimitRequestsPerMinute is the request-rate token bucket.
	LimitRequestsPerMinute LimitName = "requestsPerMinute"
	// LimitTokensPerMinute is the rolling 60 s token window.
	LimitTokensPerMinute LimitName = "tokensPerMinute"
	// LimitTokensPerDay is the rolling 24 h token window.
	LimitTokensPerDay LimitName = "tokensPerDay"
	// LimitMaxConcurrentRequests is the number of requests in flight.
	LimitMaxConcurrentRequests LimitName = "maxConcurrentRequests"
)

// Limits are the limits of one policy. A zero field is unlimited; negative fields are invalid.
type Limits struct {
	// RequestsPerMinute is the size of the request bucket (the largest burst) and its refill per
	// minute, spread evenly over the minute.
	RequestsPerMinute int64
	// TokensPerMinute caps the tokens reserved or used in any rolling 60 s.
	TokensPerMinute int64
	// TokensPerDay caps the tokens reserved or used in any rolling 24 h.
	TokensPerDay int64
	// MaxConcurrent caps the requests admitted and not yet settled or released.
	MaxConcurrent int64
}

// Validate reports the first negative field.
func (l Limits) Validate() error {
	for _, f := range []struct {
		name  string
		value int64
	}{
		{"requestsPerMinute", l.RequestsPerMinute},
		{"tokensPerMinute", l.TokensPerMinute},
		{"tokensPerDay", l.TokensPerDay},
		{"maxConcurrent", l.MaxConcurrent},
	} {
		if f.value < 0 {
			return fmt.Errorf("ratelimit: %s is %d: must be 0 (unlimited) or positive", f.name, f.value)
		}
	}
	return nil
}

// OnLimit says what happens to a request that a limit refuses.
type OnLimit struct {
	// Queue makes the request wait for capacity instead of being refused at once.
	Queue bool
	// MaxWait is the longest a queued request waits. It must be positive when Queue is set.
	MaxWait time.Duration
}

// Validate reports a negative MaxWait, or a queue that could never wait.
func (o OnLimit) Validate() error {
	if o.MaxWait < 0 {
		return fmt.Errorf("ratelimit: maxWait is %s: must not be negative", o.MaxWait)
	}
	if o.Queue && o.MaxWait == 0 {
		return errors.New("ratelimit: maxWait must be positive when queueing is enabled")
	}
	return nil
}

// Sentinel errors for errors.Is; the typed errors below carry the details.
var (
	// ErrLimited matches every *LimitedError.
	ErrLimited = errors.New("rate limit reached")
	// ErrRequestTooLarge matches every *RequestTooLargeError.
	ErrRequestTooLarge = errors.New("request too large for rate limit")
)

// LimitedError refuses a request that a limit does not admit now.
type LimitedError struct {
	// Limit is the limit that refused the request (the one with the longest wait when several did).
	Limit LimitName
	// RetryAfter is the exact time until the time-based limits would admit this request, or one
	// second when only MaxConcurrent refused it.
	RetryAfter time.Duration
	// Max is Limit's configured value.
	Max int64
	// Used is what counts against Max now: requests taken from the bucket, tokens in the window,
	// or requests in flight.
	Used int64
	// Requested is what this request needs of Limit: 1 request, or its estimated tokens.
	Requested int64
}

// Error describes the refusal without any request content.
func (e *LimitedError) Error() string {
	return fmt.Sprintf("rate limit %s reached (limit %d, used %d, requested %d): retry after %s",
		e.Limit, e.Max, e.Used, e.Requested, e.RetryAfter)
}

// Is makes errors.Is(err, ErrLimited) true.
func (e *LimitedError) Is(target error) bool { return target == ErrLimited }

// RetryAfterSeconds is RetryAfter rounded up to whole seconds, at least 1: the value of the
// HTTP Retry-After header.
func (e *LimitedError) RetryAfterSeconds() int64 {
	s := int64((e.RetryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}

// RequestTooLargeError refuses a request whose estimate alone exceeds a token limit: it can
// never be admitted, however long it waits.
type RequestTooLargeError struct {
	// Limit is LimitTokensPerMinute or LimitTokensPerDay.
	Limit LimitName
	// Max is Limit's configured value.
	Max int64
	// Requested is the request's estimated tokens.
	Requested int64
}

// Error says what to reduce.
func (e *RequestTooLargeError) Error() string {
	return fmt.Sprintf("request needs %d tokens (prompt + max_tokens) but %s allows %d: reduce the input or max_tokens",
		e.Requested, e.Limit, e.Max)
}

// Is makes errors.Is(err, ErrRequestTooLarge) true.
func (e *RequestTooLargeError) Is(target error) bool { return target == ErrRequestTooLarge }

// settler is implemented by the limiter that granted a Reservation, to apply its end.
type settler interface {
	// settle applies the end of r: the real usage when reachedUpstream, else a full refund.
	settle(r *Reservation, actualTokens int64, reachedUpstream bool) error
}

// Reservation is capacity held for one admitted request until Settle or Release. A Reservation
// from Chain holds one per chained limiter and settles them all.
type Reservation struct {
	owner settler
	// next links the reservations of a Chain.
	next *Reservation
	// tokens is the estimate charged at admission.
	tokens int64
	// admittedAt is the admission time on the owner's clock, used to find the window slot to refund.
	admittedAt time.Duration
	queueWait  time.Duration
	done       atomic.Bool
}

// Settle ends the reservation of a request the upstream answered, adjusting the token charge to
// actualTokens (the response's usage.total_tokens) and freeing the concurrency slot. Only the
// first Settle or Release takes effect. A negative actualTokens is reported as an error and the
// estimate stays charged.
func (r *Reservation) Settle(actualTokens int64) error {
	if r == nil {
		return nil
	}
	var bad error
	if actualTokens < 0 {
		bad = fmt.Errorf("ratelimit: settling with %d actual tokens: must not be negative; kept the estimate of %d",
			actualTokens, r.tokens)
		actualTokens = r.tokens
	}
	if err := r.finish(actualTokens, true); err != nil {
		return errors.Join(bad, err)
	}
	return bad
}

// Release ends the reservation of a request that never reached the upstream: its tokens and
// its request are refunded and the concurrency slot freed. Only the first Settle or Release
// takes effect. Release on a nil Reservation does nothing.
func (r *Reservation) Release() error {
	if r == nil {
		return nil
	}
	return r.finish(0, false)
}

func (r *Reservation) finish(actualTokens int64, reachedUpstream bool) error {
	if !r.done.CompareAndSwap(false, true) {
		return nil
	}
	var errs error
	for x := r; x != nil; x = x.next {
		if x != r && !x.done.CompareAndSwap(false, true) {
			continue
		}
		if x.owner == nil {
			continue
		}
		if err := x.owner.settle(x, actualTokens, reachedUpstream); err != nil {
			errs = errors.Join(errs, err)
		}
	}
	return errs
}

// EstimatedTokens is the token estimate charged at admission.
func (r *Reservation) EstimatedTokens() int64 { return r.tokens }

// QueueWait is the time the request spent queued before admission (summed over a Chain).
func (r *Reservation) QueueWait() time.Duration {
	var d time.Duration
	for x := r; x != nil; x = x.next {
		d += x.queueWait
	}
	return d
}
