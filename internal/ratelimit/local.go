package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

const (
	// minuteSlot and daySlot are the slot widths of the token windows.
	minuteSlot = 100 * time.Millisecond
	daySlot    = time.Minute
	// concurrencyRetryAfter is reported when only MaxConcurrent refuses: when a slot frees up
	// depends on other responses, so there is no exact answer.
	concurrencyRetryAfter = time.Second
)

// Local enforces one policy's limits in this process's memory. The zero value is not usable;
// build it with NewLocal.
type Local struct {
	clk  clock.Clock
	base time.Time

	mu      sync.Mutex
	limits  Limits
	onLimit OnLimit
	// now is the latest time seen, relative to base; it never goes back.
	now      time.Duration
	requests requestBucket
	// minute and day track usage even when their limit is 0, so a reconfiguration that sets
	// a limit starts from the real history.
	minute   tokenWindow
	day      tokenWindow
	inFlight int64
	queue    waitQueue
}

var _ Limiter = (*Local)(nil)

// NewLocal returns a Local enforcing l, handling refusals as on says, timed by clk (a nil clk
// means the real clock).
func NewLocal(l Limits, on OnLimit, clk clock.Clock) (*Local, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if err := on.Validate(); err != nil {
		return nil, err
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	lim := &Local{
		clk:     clk,
		base:    clk.Now(),
		limits:  l,
		onLimit: on,
		minute:  newTokenWindow(time.Minute, minuteSlot),
		day:     newTokenWindow(24*time.Hour, daySlot),
	}
	lim.requests.resize(l.RequestsPerMinute)
	return lim, nil
}

// Reconfigure applies new limits and refusal handling, keeping the usage counted so far:
// reloading a policy does not hand out a fresh budget. Requests already queued keep their
// deadline.
func (l *Local) Reconfigure(lim Limits, on OnLimit) error {
	if err := lim.Validate(); err != nil {
		return err
	}
	if err := on.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.advance()
	l.requests.resize(lim.RequestsPerMinute)
	l.limits, l.onLimit = lim, on
	l.queue.wakeHead()
	return nil
}

// Usage is a snapshot of a Local's counters, for metrics and tests.
type Usage struct {
	// RequestsAvailable is the whole requests left in the bucket (0 when RequestsPerMinute is unlimited).
	RequestsAvailable int64
	// TokensLastMinute and TokensLastDay are the tokens counted in the windows: estimates of
	// unsettled requests plus the settled usage of earlier ones.
	TokensLastMinute, TokensLastDay int64
	// InFlight is the requests admitted and not yet settled or released.
	InFlight int64
	// Queued is the requests waiting for admission.
	Queued int
}

// Usage returns the current counters.
func (l *Local) Usage() Usage {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.advance()
	return Usage{
		RequestsAvailable: l.requests.level,
		TokensLastMinute:  l.minute.total,
		TokensLastDay:     l.day.total,
		InFlight:          l.inFlight,
		Queued:            l.queue.n,
	}
}

// Admit implements Limiter.
func (l *Local) Admit(ctx context.Context, estimatedTokens int64) (*Reservation, error) {
	if estimatedTokens < 0 {
		return nil, fmt.Errorf("ratelimit: estimated tokens is %d: must not be negative", estimatedTokens)
	}
	l.mu.Lock()
	now := l.advance()
	v := l.check(now, estimatedTokens)
	if v.tooLarge {
		l.mu.Unlock()
		return nil, v.tooLargeError()
	}
	if v.limit == "" && (l.queue.head == nil || !l.onLimit.Queue) {
		l.grant(estimatedTokens)
		l.mu.Unlock()
		return &Reservation{owner: l, tokens: estimatedTokens, admittedAt: now}, nil
	}
	if !l.onLimit.Queue || v.wait > l.onLimit.MaxWait {
		l.mu.Unlock()
		return nil, v.limitedError()
	}
	w := &waiter{tokens: estimatedTokens, wake: make(chan struct{}, 1)}
	l.queue.push(w)
	deadline := time.Duration(saturatingAdd(int64(now), int64(l.onLimit.MaxWait)))
	l.mu.Unlock()
	return l.waitQueued(ctx, w, now, deadline)
}

// waitQueued waits for w's turn and capacity, until deadline. w is in the queue on entry and
// out of it on return.
func (l *Local) waitQueued(ctx context.Context, w *waiter, start, deadline time.Duration) (*Reservation, error) {
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		l.mu.Lock()
		now := l.advance()
		remaining := deadline - now
		v := l.check(now, w.tokens)
		isHead := l.queue.head == w
		switch {
		case v.tooLarge: // the limits were reconfigured below this request
			l.queue.remove(w)
			l.mu.Unlock()
			return nil, v.tooLargeError()
		case v.limit == "" && (isHead || remaining <= 0):
			l.queue.remove(w)
			l.grant(w.tokens)
			l.mu.Unlock()
			return &Reservation{owner: l, tokens: w.tokens, admittedAt: now, queueWait: now - start}, nil
		case v.limit != "" && (v.wait > remaining || remaining <= 0):
			l.queue.remove(w)
			l.mu.Unlock()
			return nil, v.limitedError()
		}
		sleep := remaining
		if isHead && v.wait > 0 && v.wait < sleep {
			sleep = v.wait
		}
		l.mu.Unlock()

		if timer != nil {
			timer.Stop()
		}
		timer = l.clk.NewTimer(sleep)
		select {
		case <-ctx.Done():
			l.mu.Lock()
			l.queue.remove(w)
			l.mu.Unlock()
			return nil, ctx.Err()
		case <-timer.C():
		case <-w.wake:
		}
	}
}

// advance brings every counter up to the clock and returns the current time. l.mu is held.
func (l *Local) advance() time.Duration {
	if now := l.clk.Since(l.base); now > l.now {
		l.now = now
	}
	if l.limits.RequestsPerMinute > 0 {
		l.requests.advance(l.now)
	}
	l.minute.advance(l.now)
	l.day.advance(l.now)
	return l.now
}

// verdict is what the limits say about one request now.
type verdict struct {
	// limit is the limit with the longest wait, "" when every limit admits the request.
	limit LimitName
	// wait is the time until the time-based limits admit the request (0 if they do now).
	wait time.Duration
	// retryAfter is wait, or the nominal concurrency wait if that is longer.
	retryAfter time.Duration
	// max, used and requested describe limit.
	max, used, requested int64
	// tooLarge says the request exceeds limit on its own.
	tooLarge bool
}

func (v *verdict) consider(limit LimitName, wait, retryAfter time.Duration, maxValue, used, requested int64) {
	v.wait = max(v.wait, wait)
	if v.limit == "" || retryAfter > v.retryAfter {
		v.limit, v.retryAfter, v.max, v.used, v.requested = limit, retryAfter, maxValue, used, requested
	}
}

func (v *verdict) limitedError() *LimitedError {
	return &LimitedError{Limit: v.limit, RetryAfter: v.retryAfter, Max: v.max, Used: v.used, Requested: v.requested}
}

func (v *verdict) tooLargeError() *RequestTooLargeError {
	return &RequestTooLargeError{Limit: v.limit, Max: v.max, Requested: v.requested}
}

// check judges a request of tokens at now. l.mu is held and the counters are advanced.
func (l *Local) check(now time.Duration, tokens int64) verdict {
	lim := &l.limits
	for _, t := range [...]struct {
		name  LimitName
		limit int64
	}{{LimitTokensPerMinute, lim.TokensPerMinute}, {LimitTokensPerDay, lim.TokensPerDay}} {
		if t.limit > 0 && tokens > t.limit {
			return verdict{limit: t.name, max: t.limit, requested: tokens, tooLarge: true}
		}
	}
	var v verdict
	if lim.RequestsPerMinute > 0 {
		if w := l.requests.wait(); w > 0 {
			v.consider(LimitRequestsPerMinute, w, w, lim.RequestsPerMinute, lim.RequestsPerMinute-l.requests.level, 1)
		}
	}
	if lim.TokensPerMinute > 0 {
		if w := l.minute.wait(now, tokens, lim.TokensPerMinute); w > 0 {
			v.consider(LimitTokensPerMinute, w, w, lim.TokensPerMinute, l.minute.total, tokens)
		}
	}
	if lim.TokensPerDay > 0 {
		if w := l.day.wait(now, tokens, lim.TokensPerDay); w > 0 {
			v.consider(LimitTokensPerDay, w, w, lim.TokensPerDay, l.day.total, tokens)
		}
	}
	if lim.MaxConcurrent > 0 && l.inFlight >= lim.MaxConcurrent {
		v.consider(LimitMaxConcurrentRequests, 0, concurrencyRetryAfter, lim.MaxConcurrent, l.inFlight, 1)
	}
	return v
}

// grant takes capacity for an admitted request. l.mu is held and check admitted it.
func (l *Local) grant(tokens int64) {
	if l.limits.RequestsPerMinute > 0 {
		l.requests.take()
	}
	l.minute.charge(tokens)
	l.day.charge(tokens)
	l.inFlight++
}

// settle implements settler.
func (l *Local) settle(r *Reservation, actualTokens int64, reachedUpstream bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	diff := actualTokens - r.tokens
	if reachedUpstream && diff > 0 {
		// Extra usage is charged now, so the windows must be current. Refunds need no clock
		// read: a slot that has left the window in real time but not yet in the ring is
		// cleared, refund included, at the next advance.
		l.advance()
	}
	switch {
	case !reachedUpstream:
		if l.limits.RequestsPerMinute > 0 {
			l.requests.refund()
		}
		l.minute.refund(r.admittedAt, r.tokens)
		l.day.refund(r.admittedAt, r.tokens)
	case diff < 0:
		l.minute.refund(r.admittedAt, -diff)
		l.day.refund(r.admittedAt, -diff)
	case diff > 0:
		l.minute.charge(diff)
		l.day.charge(diff)
	}
	l.inFlight--
	l.queue.wakeHead()
	return nil
}

// waiter is one queued Admit.
type waiter struct {
	tokens int64
	// wake is signalled (never closed) when capacity may have returned or w became the head.
	wake       chan struct{}
	prev, next *waiter
}

// waitQueue is a FIFO of waiters, guarded by Local.mu.
type waitQueue struct {
	head, tail *waiter
	n          int
}

func (q *waitQueue) push(w *waiter) {
	w.prev = q.tail
	if q.tail == nil {
		q.head = w
	} else {
		q.tail.next = w
	}
	q.tail = w
	q.n++
}

// remove takes w out of the queue and wakes the next head if w was the head.
func (q *waitQueue) remove(w *waiter) {
	wasHead := q.head == w
	if w.prev == nil {
		q.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		q.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next = nil, nil
	q.n--
	if wasHead {
		q.wakeHead()
	}
}

func (q *waitQueue) wakeHead() {
	if q.head == nil {
		return
	}
	select {
	case q.head.wake <- struct{}{}:
	default:
	}
}
