package ratelimit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

var epoch = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

func newTestLocal(t *testing.T, l Limits, on OnLimit) (*Local, *clocktesting.FakeClock) {
	t.Helper()
	clk := clocktesting.NewFakeClock(epoch)
	lim, err := NewLocal(l, on, clk)
	if err != nil {
		t.Fatalf("NewLocal: %v", err)
	}
	return lim, clk
}

// charge is one admission made while setting up a test.
type charge struct {
	// after is how far the clock moves before the admission.
	after time.Duration
	// tokens is the admission's estimate.
	tokens int64
}

func repeat(n int, c charge) []charge {
	cs := make([]charge, n)
	for i := range cs {
		cs[i] = c
	}
	return cs
}

// admitAll admits every charge in order, failing the test on a refusal, and returns the
// (unsettled) reservations.
func admitAll(t *testing.T, l *Local, clk *clocktesting.FakeClock, cs []charge) []*Reservation {
	t.Helper()
	rs := make([]*Reservation, 0, len(cs))
	for i, c := range cs {
		clk.Step(c.after)
		r, err := l.Admit(context.Background(), c.tokens)
		if err != nil {
			t.Fatalf("setup admission %d (%d tokens): %v", i, c.tokens, err)
		}
		rs = append(rs, r)
	}
	return rs
}

// awaitTimers waits until n timers are pending on clk, i.e. queued Admits have gone to sleep,
// so that stepping the clock reaches them. It is a synchronisation, not a timing assertion.
func awaitTimers(t *testing.T, clk *clocktesting.FakeClock, n int) {
	t.Helper()
	for i := 0; clk.Waiters() != n; i++ {
		if i == 10000 {
			t.Fatalf("waited for %d pending timers, have %d", n, clk.Waiters())
		}
		time.Sleep(time.Millisecond)
	}
}

// admission is the outcome of an Admit run in a goroutine.
type admission struct {
	r   *Reservation
	err error
}

func admitAsync(l Limiter, ctx context.Context, tokens int64) <-chan admission {
	ch := make(chan admission, 1)
	go func() {
		r, err := l.Admit(ctx, tokens)
		ch <- admission{r, err}
	}()
	return ch
}

func receive(t *testing.T, ch <-chan admission) admission {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("queued Admit did not return")
		return admission{}
	}
}

func asLimited(t *testing.T, err error) *LimitedError {
	t.Helper()
	var le *LimitedError
	if !errors.As(err, &le) {
		t.Fatalf("want *LimitedError, got %v", err)
	}
	if !errors.Is(err, ErrLimited) {
		t.Errorf("errors.Is(%v, ErrLimited) = false", err)
	}
	return le
}

func TestNewLocalValidation(t *testing.T) {
	tests := map[string]struct {
		// limits and on are the configuration.
		limits Limits
		on     OnLimit
		// wantErr is a substring of the expected error, "" for success.
		wantErr string
	}{
		"all unlimited":             {},
		"all set, queueing":         {limits: Limits{1, 2, 3, 4}, on: OnLimit{Queue: true, MaxWait: time.Second}},
		"negative requests/minute":  {limits: Limits{RequestsPerMinute: -1}, wantErr: "requestsPerMinute is -1"},
		"negative tokens/minute":    {limits: Limits{TokensPerMinute: -2}, wantErr: "tokensPerMinute is -2"},
		"negative tokens/day":       {limits: Limits{TokensPerDay: -3}, wantErr: "tokensPerDay is -3"},
		"negative max concurrent":   {limits: Limits{MaxConcurrent: -4}, wantErr: "maxConcurrent is -4"},
		"negative max wait":         {on: OnLimit{MaxWait: -time.Second}, wantErr: "maxWait is -1s"},
		"queue without max wait":    {on: OnLimit{Queue: true}, wantErr: "maxWait must be positive when queueing"},
		"max wait without queueing": {on: OnLimit{MaxWait: time.Second}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(epoch)
			_, err := NewLocal(tc.limits, tc.on, clk)
			checkErr(t, "NewLocal", err, tc.wantErr)

			l, err := NewLocal(Limits{}, OnLimit{}, clk)
			if err != nil {
				t.Fatal(err)
			}
			checkErr(t, "Reconfigure", l.Reconfigure(tc.limits, tc.on), tc.wantErr)
		})
	}
}

func checkErr(t *testing.T, what string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: unexpected error %v", what, err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("%s: error %v, want it to contain %q", what, err, want)
	}
}

func TestAdmitRejectsNegativeEstimate(t *testing.T) {
	l, _ := newTestLocal(t, Limits{}, OnLimit{})
	for name, lim := range map[string]Limiter{"Local": l, "Chain": Chain(l)} {
		_, err := lim.Admit(context.Background(), -1)
		checkErr(t, name, err, "estimated tokens is -1")
	}
}

func TestRequestBucketRefill(t *testing.T) {
	tests := map[string]struct {
		// rpm is RequestsPerMinute.
		rpm int64
		// burst is the requests admitted at once at the start.
		burst int
		// steps move the clock, one after the other, after the burst.
		steps []time.Duration
		// wantAvailable is the whole requests in the bucket afterwards.
		wantAvailable int64
	}{
		"starts full":                  {rpm: 60, wantAvailable: 60},
		"burst empties it":             {rpm: 60, burst: 60, wantAvailable: 0},
		"one per second":               {rpm: 60, burst: 60, steps: []time.Duration{time.Second}, wantAvailable: 1},
		"not before the full second":   {rpm: 60, burst: 60, steps: []time.Duration{time.Second - 1}, wantAvailable: 0},
		"half a minute refills half":   {rpm: 60, burst: 60, steps: []time.Duration{30 * time.Second}, wantAvailable: 30},
		"capped at capacity":           {rpm: 60, burst: 10, steps: []time.Duration{20 * time.Second}, wantAvailable: 60},
		"refill adds to what is left":  {rpm: 60, burst: 10, steps: []time.Duration{5 * time.Second}, wantAvailable: 55},
		"partial burst refills":        {rpm: 600, burst: 600, steps: []time.Duration{5 * time.Second}, wantAvailable: 50},
		"long idle refills everything": {rpm: 60, burst: 60, steps: []time.Duration{48 * time.Hour}, wantAvailable: 60},
		"uneven rate, just short":      {rpm: 7, burst: 7, steps: []time.Duration{8571428571}, wantAvailable: 0},
		"uneven rate, exactly":         {rpm: 7, burst: 7, steps: []time.Duration{8571428572}, wantAvailable: 1},
		"fractions accumulate exactly": {rpm: 7, burst: 7, steps: []time.Duration{2857142857, 2857142857, 2857142858}, wantAvailable: 1},
		"fractions do not round up":    {rpm: 7, burst: 7, steps: []time.Duration{2857142857, 2857142857, 2857142857}, wantAvailable: 0},
		"huge rate does not overflow":  {rpm: 1 << 62, burst: 1, steps: []time.Duration{time.Nanosecond}, wantAvailable: 1 << 62},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l, clk := newTestLocal(t, Limits{RequestsPerMinute: tc.rpm}, OnLimit{})
			admitAll(t, l, clk, repeat(tc.burst, charge{}))
			for _, s := range tc.steps {
				clk.Step(s)
				l.Usage() // bring the bucket up to date at every step
			}
			if got := l.Usage().RequestsAvailable; got != tc.wantAvailable {
				t.Errorf("RequestsAvailable = %d, want %d", got, tc.wantAvailable)
			}
			_, err := l.Admit(context.Background(), 0)
			if (err == nil) != (tc.wantAvailable > 0) {
				t.Errorf("Admit = %v with %d available", err, tc.wantAvailable)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	tests := map[string]struct {
		// limits is the configuration.
		limits Limits
		// history is admitted (and left unsettled) before the request.
		history []charge
		// wait moves the clock after the history.
		wait time.Duration
		// tokens is the request's estimate.
		tokens int64
		// want is the refusal; RetryAfter must be exact unless nominal is set.
		want LimitedError
		// wantHeader is the Retry-After header value.
		wantHeader int64
		// nominal says RetryAfter is not a computed wait (concurrency).
		nominal bool
	}{
		"request bucket empty": {
			limits:     Limits{RequestsPerMinute: 60},
			history:    repeat(60, charge{}),
			wait:       400 * time.Millisecond,
			want:       LimitedError{Limit: LimitRequestsPerMinute, RetryAfter: 600 * time.Millisecond, Max: 60, Used: 60, Requested: 1},
			wantHeader: 1,
		},
		"request bucket with an uneven rate": {
			limits:     Limits{RequestsPerMinute: 7},
			history:    repeat(7, charge{}),
			want:       LimitedError{Limit: LimitRequestsPerMinute, RetryAfter: 8571428572, Max: 7, Used: 7, Requested: 1},
			wantHeader: 9,
		},
		"tokens: the oldest charge leaving is enough": {
			limits:     Limits{TokensPerMinute: 1000},
			history:    []charge{{tokens: 400}, {after: 10 * time.Second, tokens: 500}},
			wait:       10 * time.Second,
			tokens:     300,
			want:       LimitedError{Limit: LimitTokensPerMinute, RetryAfter: 40*time.Second + minuteSlot, Max: 1000, Used: 900, Requested: 300},
			wantHeader: 41,
		},
		"tokens: two charges must leave": {
			limits:     Limits{TokensPerMinute: 1000},
			history:    []charge{{tokens: 400}, {after: 10 * time.Second, tokens: 500}},
			wait:       10 * time.Second,
			tokens:     600,
			want:       LimitedError{Limit: LimitTokensPerMinute, RetryAfter: 50*time.Second + minuteSlot, Max: 1000, Used: 900, Requested: 600},
			wantHeader: 51,
		},
		"tokens: charge within a slot leaves at the slot's end": {
			limits:     Limits{TokensPerMinute: 1000},
			history:    []charge{{after: 250 * time.Millisecond, tokens: 1000}},
			tokens:     1,
			want:       LimitedError{Limit: LimitTokensPerMinute, RetryAfter: 60*time.Second + 50*time.Millisecond, Max: 1000, Used: 1000, Requested: 1},
			wantHeader: 61,
		},
		"tokens per day": {
			limits:     Limits{TokensPerDay: 10000},
			history:    []charge{{tokens: 6000}, {after: time.Hour, tokens: 3000}},
			wait:       time.Hour,
			tokens:     2000,
			want:       LimitedError{Limit: LimitTokensPerDay, RetryAfter: 22*time.Hour + daySlot, Max: 10000, Used: 9000, Requested: 2000},
			wantHeader: 22*3600 + 60,
		},
		"the longest wait is reported": {
			limits:     Limits{RequestsPerMinute: 2, TokensPerMinute: 1000},
			history:    []charge{{tokens: 600}, {after: 10 * time.Second, tokens: 300}},
			wait:       10 * time.Second,
			tokens:     200,
			want:       LimitedError{Limit: LimitTokensPerMinute, RetryAfter: 40*time.Second + minuteSlot, Max: 1000, Used: 900, Requested: 200},
			wantHeader: 41,
		},
		"requests outlast tokens": {
			limits:     Limits{RequestsPerMinute: 1, TokensPerMinute: 1000},
			history:    []charge{{tokens: 999}},
			wait:       30 * time.Second,
			tokens:     1,
			want:       LimitedError{Limit: LimitRequestsPerMinute, RetryAfter: 30 * time.Second, Max: 1, Used: 1, Requested: 1},
			wantHeader: 30,
		},
		"concurrency alone is nominal": {
			limits:     Limits{MaxConcurrent: 2},
			history:    repeat(2, charge{}),
			want:       LimitedError{Limit: LimitMaxConcurrentRequests, RetryAfter: time.Second, Max: 2, Used: 2, Requested: 1},
			wantHeader: 1,
			nominal:    true,
		},
		"a computed wait beats the nominal one": {
			limits:     Limits{MaxConcurrent: 1, RequestsPerMinute: 1},
			history:    repeat(1, charge{}),
			want:       LimitedError{Limit: LimitRequestsPerMinute, RetryAfter: time.Minute, Max: 1, Used: 1, Requested: 1},
			wantHeader: 60,
			nominal:    true, // the slot stays held, so stepping does not admit
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l, clk := newTestLocal(t, tc.limits, OnLimit{})
			admitAll(t, l, clk, tc.history)
			clk.Step(tc.wait)

			_, err := l.Admit(context.Background(), tc.tokens)
			le := asLimited(t, err)
			if *le != tc.want {
				t.Fatalf("refusal = %+v, want %+v", *le, tc.want)
			}
			if got := le.RetryAfterSeconds(); got != tc.wantHeader {
				t.Errorf("RetryAfterSeconds = %d, want %d", got, tc.wantHeader)
			}
			if tc.nominal {
				return
			}
			// Accurate: refused one nanosecond before RetryAfter, admitted at RetryAfter.
			clk.Step(le.RetryAfter - 1)
			_, err = l.Admit(context.Background(), tc.tokens)
			if le := asLimited(t, err); le.RetryAfter != 1 {
				t.Errorf("1ns before RetryAfter: RetryAfter = %s, want 1ns", le.RetryAfter)
			}
			clk.Step(1)
			if _, err := l.Admit(context.Background(), tc.tokens); err != nil {
				t.Errorf("at RetryAfter: %v", err)
			}
		})
	}
}

func TestRequestTooLarge(t *testing.T) {
	tests := map[string]struct {
		// limits is the configuration.
		limits Limits
		// queue enables queueing, which must not delay the answer.
		queue bool
		// tokens is the request's estimate.
		tokens int64
		// want is the expected error, nil when the request is admitted.
		want *RequestTooLargeError
	}{
		"above tokens per minute": {
			limits: Limits{TokensPerMinute: 1000, TokensPerDay: 100000},
			tokens: 1001,
			want:   &RequestTooLargeError{Limit: LimitTokensPerMinute, Max: 1000, Requested: 1001},
		},
		"above tokens per day": {
			limits: Limits{TokensPerMinute: 100000, TokensPerDay: 5000},
			tokens: 5001,
			want:   &RequestTooLargeError{Limit: LimitTokensPerDay, Max: 5000, Requested: 5001},
		},
		"queueing answers at once": {
			limits: Limits{TokensPerMinute: 1000},
			queue:  true,
			tokens: 2000,
			want:   &RequestTooLargeError{Limit: LimitTokensPerMinute, Max: 1000, Requested: 2000},
		},
		"exactly the limit fits": {limits: Limits{TokensPerMinute: 1000, TokensPerDay: 1000}, tokens: 1000},
		"unlimited":              {tokens: 1 << 40},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l, clk := newTestLocal(t, tc.limits, OnLimit{Queue: tc.queue, MaxWait: time.Hour})
			_, err := l.Admit(context.Background(), tc.tokens)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Admit: %v", err)
				}
				return
			}
			var tl *RequestTooLargeError
			if !errors.As(err, &tl) || !errors.Is(err, ErrRequestTooLarge) {
				t.Fatalf("want *RequestTooLargeError, got %v", err)
			}
			if *tl != *tc.want {
				t.Errorf("error = %+v, want %+v", *tl, *tc.want)
			}
			if errors.Is(err, ErrLimited) {
				t.Error("a request that can never fit must not look retryable")
			}
			if u := l.Usage(); u.Queued != 0 || clk.Waiters() != 0 {
				t.Errorf("request was queued: %+v", u)
			}
		})
	}
}

func TestSettle(t *testing.T) {
	tests := map[string]struct {
		// estimate is charged at admission, at the start.
		estimate int64
		// settleAfter moves the clock between admission and settlement.
		settleAfter time.Duration
		// actual is the usage settled; release releases instead.
		actual  int64
		release bool
		// wantMinute and wantDay are the window totals after settlement.
		wantMinute, wantDay int64
		// next is a request made right after; wantNextErr says it must be refused.
		next        int64
		wantNextErr bool
	}{
		"settle down refunds the unused tokens": {estimate: 800, actual: 300, wantMinute: 300, wantDay: 300, next: 700},
		"settle up charges the extra":           {estimate: 300, actual: 800, wantMinute: 800, wantDay: 800, next: 201, wantNextErr: true},
		"settle exact changes nothing":          {estimate: 500, actual: 500, wantMinute: 500, wantDay: 500, next: 500},
		"settle zero refunds everything":        {estimate: 500, actual: 0, wantMinute: 0, wantDay: 0, next: 1000},
		"release refunds everything":            {estimate: 900, actual: 900, release: true, wantMinute: 0, wantDay: 0, next: 1000},
		"settle up beyond the limit is debt": {
			estimate: 900, settleAfter: 30 * time.Second, actual: 1500,
			wantMinute: 1500, wantDay: 1500, next: 1, wantNextErr: true,
		},
		"refund after the charge left the minute": {
			estimate: 800, settleAfter: 61 * time.Second, actual: 0,
			wantMinute: 0, wantDay: 0, next: 1000,
		},
		"settle down after the charge left the minute": {
			estimate: 800, settleAfter: 61 * time.Second, actual: 100,
			wantMinute: 0, wantDay: 100, next: 1000,
		},
		"settle up after the charge left the minute": {
			estimate: 100, settleAfter: 61 * time.Second, actual: 800,
			wantMinute: 700, wantDay: 800, next: 301, wantNextErr: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l, clk := newTestLocal(t, Limits{TokensPerMinute: 1000, TokensPerDay: 100000}, OnLimit{})
			r := admitAll(t, l, clk, []charge{{tokens: tc.estimate}})[0]
			if got := r.EstimatedTokens(); got != tc.estimate {
				t.Errorf("EstimatedTokens = %d, want %d", got, tc.estimate)
			}
			clk.Step(tc.settleAfter)
			var err error
			if tc.release {
				err = r.Release()
			} else {
				err = r.Settle(tc.actual)
			}
			if err != nil {
				t.Fatal(err)
			}
			u := l.Usage()
			if u.TokensLastMinute != tc.wantMinute || u.TokensLastDay != tc.wantDay || u.InFlight != 0 {
				t.Errorf("usage = %+v, want minute %d, day %d, nothing in flight", u, tc.wantMinute, tc.wantDay)
			}
			if _, err := l.Admit(context.Background(), tc.next); (err != nil) != tc.wantNextErr {
				t.Errorf("next Admit(%d) = %v, want refused: %v", tc.next, err, tc.wantNextErr)
			}
		})
	}
}

func TestSettleDebtRetryAfter(t *testing.T) {
	l, clk := newTestLocal(t, Limits{TokensPerMinute: 1000}, OnLimit{})
	r := admitAll(t, l, clk, []charge{{tokens: 900}})[0]
	clk.Step(30 * time.Second)
	if err := r.Settle(1500); err != nil { // 900 at 0 s, 600 more at 30 s
		t.Fatal(err)
	}
	_, err := l.Admit(context.Background(), 100)
	// 100 fits once 600 have left: the 900 charged at 0 s leave at 60.1 s.
	if le := asLimited(t, err); le.RetryAfter != 30*time.Second+minuteSlot {
		t.Errorf("RetryAfter = %s, want 30.1s", le.RetryAfter)
	}
	_, err = l.Admit(context.Background(), 1000)
	if le := asLimited(t, err); le.RetryAfter != 60*time.Second+minuteSlot {
		t.Errorf("RetryAfter = %s, want 60.1s (when the extra charged at settlement leaves)", le.RetryAfter)
	}
}

func TestSettleNegativeKeepsEstimate(t *testing.T) {
	l, clk := newTestLocal(t, Limits{TokensPerMinute: 1000, MaxConcurrent: 1}, OnLimit{})
	r := admitAll(t, l, clk, []charge{{tokens: 400}})[0]
	checkErr(t, "Settle(-5)", r.Settle(-5), "settling with -5 actual tokens")
	if u := l.Usage(); u.TokensLastMinute != 400 || u.InFlight != 0 {
		t.Errorf("usage = %+v, want the estimate kept and the slot freed", u)
	}
}

func TestReleaseRefundsRequest(t *testing.T) {
	tests := map[string]struct {
		// burst is the requests admitted at the start; the first is released.
		burst int
		// releaseAfter moves the clock before the release.
		releaseAfter time.Duration
		// wantAvailable is the whole requests in the bucket afterwards.
		wantAvailable int64
	}{
		"refund returns the request":         {burst: 2, wantAvailable: 9},
		"refund is capped at capacity":       {burst: 1, releaseAfter: 10 * time.Second, wantAvailable: 10},
		"refund adds to a partly refilled":   {burst: 10, releaseAfter: 6 * time.Second, wantAvailable: 2},
		"refund of the last taken is exact":  {burst: 10, wantAvailable: 1},
		"refund after a full refill is lost": {burst: 10, releaseAfter: time.Minute, wantAvailable: 10},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l, clk := newTestLocal(t, Limits{RequestsPerMinute: 10}, OnLimit{})
			rs := admitAll(t, l, clk, repeat(tc.burst, charge{}))
			clk.Step(tc.releaseAfter)
			if err := rs[0].Release(); err != nil {
				t.Fatal(err)
			}
			if got := l.Usage().RequestsAvailable; got != tc.wantAvailable {
				t.Errorf("RequestsAvailable = %d, want %d", got, tc.wantAvailable)
			}
		})
	}
}

func TestSettleIsIdempotent(t *testing.T) {
	type call struct {
		// release calls Release; otherwise Settle(actual).
		release bool
		actual  int64
	}
	tests := map[string]struct {
		// calls are made in order on one reservation of 500 tokens.
		calls []call
		// wantMinute is the tokens counted afterwards.
		wantMinute int64
		// wantAvailable is the requests in the bucket afterwards (10 per minute, one taken).
		wantAvailable int64
	}{
		"settle twice":           {calls: []call{{actual: 100}, {actual: 300}}, wantMinute: 100, wantAvailable: 9},
		"settle then release":    {calls: []call{{actual: 100}, {release: true}}, wantMinute: 100, wantAvailable: 9},
		"release then settle":    {calls: []call{{release: true}, {actual: 300}}, wantMinute: 0, wantAvailable: 10},
		"release twice":          {calls: []call{{release: true}, {release: true}}, wantMinute: 0, wantAvailable: 10},
		"settle up then release": {calls: []call{{actual: 700}, {release: true}, {actual: 1}}, wantMinute: 700, wantAvailable: 9},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l, clk := newTestLocal(t, Limits{RequestsPerMinute: 10, TokensPerMinute: 1000, MaxConcurrent: 5}, OnLimit{})
			r := admitAll(t, l, clk, []charge{{tokens: 500}})[0]
			for _, c := range tc.calls {
				var err error
				if c.release {
					err = r.Release()
				} else {
					err = r.Settle(c.actual)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			u := l.Usage()
			if u.TokensLastMinute != tc.wantMinute || u.RequestsAvailable != tc.wantAvailable || u.InFlight != 0 {
				t.Errorf("usage = %+v, want minute %d, available %d, in flight 0", u, tc.wantMinute, tc.wantAvailable)
			}
		})
	}
}

func TestSettleIsIdempotentUnderRace(t *testing.T) {
	l, clk := newTestLocal(t, Limits{TokensPerMinute: 1000, MaxConcurrent: 5}, OnLimit{})
	r := admitAll(t, l, clk, []charge{{tokens: 500}})[0]
	done := make(chan struct{})
	for i := range 16 {
		go func() {
			defer func() { done <- struct{}{} }()
			if i%2 == 0 {
				_ = r.Release()
			} else {
				_ = r.Settle(200)
			}
		}()
	}
	for range 16 {
		<-done
	}
	u := l.Usage()
	if u.InFlight != 0 || (u.TokensLastMinute != 0 && u.TokensLastMinute != 200) {
		t.Errorf("usage = %+v, want one settlement (0 or 200 tokens) and nothing in flight", u)
	}
}

func TestNilReservation(t *testing.T) {
	var r *Reservation
	if err := r.Release(); err != nil {
		t.Error(err)
	}
	if err := r.Settle(1); err != nil {
		t.Error(err)
	}
}

func TestMaxConcurrent(t *testing.T) {
	tests := map[string]struct {
		// release frees the slot with Release instead of Settle.
		release bool
	}{
		"settle frees the slot":  {},
		"release frees the slot": {release: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l, clk := newTestLocal(t, Limits{MaxConcurrent: 2}, OnLimit{})
			rs := admitAll(t, l, clk, repeat(2, charge{tokens: 10}))
			_, err := l.Admit(context.Background(), 10)
			if le := asLimited(t, err); le.Limit != LimitMaxConcurrentRequests || le.Used != 2 {
				t.Errorf("refusal = %+v", *le)
			}
			clk.Step(time.Hour) // time does not free a slot
			if _, err := l.Admit(context.Background(), 10); err == nil {
				t.Fatal("admitted a third request with two slots held")
			}
			if tc.release {
				err = rs[1].Release()
			} else {
				err = rs[1].Settle(10)
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Admit(context.Background(), 10); err != nil {
				t.Errorf("after freeing a slot: %v", err)
			}
			if got := l.Usage().InFlight; got != 2 {
				t.Errorf("InFlight = %d, want 2", got)
			}
		})
	}
}

func TestTokensPerDayRolls(t *testing.T) {
	tests := map[string]struct {
		// wait is how long after a 1000-token charge at the start the next request comes.
		wait time.Duration
		// wantAdmitted says a full-budget request is admitted then.
		wantAdmitted bool
	}{
		"an hour later":                    {wait: time.Hour},
		"after midnight (no calendar day)": {wait: 16 * time.Hour},
		"at 24 h, still in the window":     {wait: 24 * time.Hour},
		"after 24 h and the slot":          {wait: 24*time.Hour + daySlot, wantAdmitted: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l, clk := newTestLocal(t, Limits{TokensPerDay: 1000}, OnLimit{})
			r := admitAll(t, l, clk, []charge{{tokens: 1000}})[0]
			if err := r.Settle(1000); err != nil {
				t.Fatal(err)
			}
			clk.Step(tc.wait)
			if _, err := l.Admit(context.Background(), 1000); (err == nil) != tc.wantAdmitted {
				t.Errorf("Admit = %v, want admitted: %v", err, tc.wantAdmitted)
			}
		})
	}
}

func TestQueueAdmitsWhenCapacityReturns(t *testing.T) {
	tests := map[string]struct {
		// limits is the configuration; queued requests wait up to maxWait.
		limits  Limits
		maxWait time.Duration
		// held is admitted at the start and kept.
		held []charge
		// tokens is the queued request's estimate.
		tokens int64
		// step moves the clock once the request is queued.
		step time.Duration
		// settleHeld, when >= 0, settles the first held reservation with that usage after step.
		settleHeld int64
		// wantQueueWait is the reported time in the queue.
		wantQueueWait time.Duration
	}{
		"request bucket refill": {
			limits: Limits{RequestsPerMinute: 60}, maxWait: 5 * time.Second,
			held: repeat(60, charge{}), step: time.Second, settleHeld: -1,
			wantQueueWait: time.Second,
		},
		"token window slides": {
			limits: Limits{TokensPerMinute: 1000}, maxWait: 20 * time.Second,
			held: []charge{{tokens: 1000}, {after: 50 * time.Second}}, tokens: 500,
			step: 10*time.Second + minuteSlot, settleHeld: -1,
			wantQueueWait: 10*time.Second + minuteSlot,
		},
		"settle down refunds to the queue": {
			limits: Limits{TokensPerMinute: 1000}, maxWait: 70 * time.Second,
			held: []charge{{tokens: 1000}}, tokens: 500,
			step: 2 * time.Second, settleHeld: 400,
			wantQueueWait: 2 * time.Second,
		},
		"concurrency slot freed": {
			limits: Limits{MaxConcurrent: 1}, maxWait: 5 * time.Second,
			held: []charge{{tokens: 1}}, tokens: 1,
			step: 3 * time.Second, settleHeld: 1,
			wantQueueWait: 3 * time.Second,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l, clk := newTestLocal(t, tc.limits, OnLimit{Queue: true, MaxWait: tc.maxWait})
			held := admitAll(t, l, clk, tc.held)
			ch := admitAsync(l, context.Background(), tc.tokens)
			awaitTimers(t, clk, 1)
			if q := l.Usage().Queued; q != 1 {
				t.Fatalf("Queued = %d, want 1", q)
			}
			clk.Step(tc.step)
			if tc.settleHeld >= 0 {
				if err := held[0].Settle(tc.settleHeld); err != nil {
					t.Fatal(err)
				}
			}
			a := receive(t, ch)
			if a.err != nil {
				t.Fatalf("queued Admit: %v", a.err)
			}
			if got := a.r.QueueWait(); got != tc.wantQueueWait {
				t.Errorf("QueueWait = %s, want %s", got, tc.wantQueueWait)
			}
			if u := l.Usage(); u.Queued != 0 || clk.Waiters() != 0 {
				t.Errorf("after admission: %+v, %d timers pending", u, clk.Waiters())
			}
		})
	}
}

func TestQueueFailsFast(t *testing.T) {
	tests := map[string]struct {
		// limits is the configuration; queued requests wait up to maxWait.
		limits  Limits
		maxWait time.Duration
		// held is admitted at the start and kept.
		held []charge
		// tokens is the request's estimate.
		tokens int64
		// want is the immediate refusal.
		want LimitedError
	}{
		"bucket refill slower than max wait": {
			limits: Limits{RequestsPerMinute: 60}, maxWait: 500 * time.Millisecond,
			held: repeat(60, charge{}),
			want: LimitedError{Limit: LimitRequestsPerMinute, RetryAfter: time.Second, Max: 60, Used: 60, Requested: 1},
		},
		"token window slower than max wait": {
			limits: Limits{TokensPerMinute: 1000}, maxWait: 30 * time.Second,
			held: []charge{{tokens: 900}, {after: 20 * time.Second}}, tokens: 200,
			want: LimitedError{Limit: LimitTokensPerMinute, RetryAfter: 40*time.Second + minuteSlot, Max: 1000, Used: 900, Requested: 200},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l, clk := newTestLocal(t, tc.limits, OnLimit{Queue: true, MaxWait: tc.maxWait})
			admitAll(t, l, clk, tc.held)
			// The clock never moves: a request that queued instead of failing would never return.
			a := receive(t, admitAsync(l, context.Background(), tc.tokens))
			if le := asLimited(t, a.err); *le != tc.want {
				t.Errorf("refusal = %+v, want %+v", *le, tc.want)
			}
			if u := l.Usage(); u.Queued != 0 || clk.Waiters() != 0 {
				t.Errorf("request was queued: %+v", u)
			}
		})
	}
}

// A queued request whose wait grows past its deadline (the request ahead took the refill)
// fails as soon as that is known, not at its deadline.
func TestQueueFailsFastOnceBehind(t *testing.T) {
	l, clk := newTestLocal(t, Limits{RequestsPerMinute: 60}, OnLimit{Queue: true, MaxWait: 1500 * time.Millisecond})
	admitAll(t, l, clk, repeat(60, charge{}))
	first := admitAsync(l, context.Background(), 0)
	awaitTimers(t, clk, 1)
	second := admitAsync(l, context.Background(), 0)
	awaitTimers(t, clk, 2)

	clk.Step(time.Second)
	if a := receive(t, first); a.err != nil {
		t.Fatalf("first: %v", a.err)
	}
	a := receive(t, second) // at 1 s, with 0.5 s left and 1 s to wait
	if le := asLimited(t, a.err); le.RetryAfter != time.Second {
		t.Errorf("second: RetryAfter = %s, want 1s", le.RetryAfter)
	}
	if u := l.Usage(); u.Queued != 0 || clk.Waiters() != 0 {
		t.Errorf("after: %+v, %d timers pending", u, clk.Waiters())
	}
}

func TestQueueDeadline(t *testing.T) {
	l, clk := newTestLocal(t, Limits{MaxConcurrent: 1}, OnLimit{Queue: true, MaxWait: 2 * time.Second})
	admitAll(t, l, clk, []charge{{}})
	ch := admitAsync(l, context.Background(), 0)
	awaitTimers(t, clk, 1)
	clk.Step(2 * time.Second)
	if le := asLimited(t, receive(t, ch).err); le.Limit != LimitMaxConcurrentRequests {
		t.Errorf("refusal = %+v", *le)
	}
	if u := l.Usage(); u.Queued != 0 || u.InFlight != 1 {
		t.Errorf("after: %+v", u)
	}
}

func TestQueueContextCancel(t *testing.T) {
	l, clk := newTestLocal(t, Limits{RequestsPerMinute: 60}, OnLimit{Queue: true, MaxWait: 5 * time.Second})
	admitAll(t, l, clk, repeat(60, charge{}))
	ctx, cancel := context.WithCancel(context.Background())
	ch := admitAsync(l, ctx, 0)
	awaitTimers(t, clk, 1)
	cancel()
	if a := receive(t, ch); !errors.Is(a.err, context.Canceled) {
		t.Fatalf("Admit = %v, want context.Canceled", a.err)
	}
	if u := l.Usage(); u.Queued != 0 || clk.Waiters() != 0 {
		t.Errorf("after cancel: %+v, %d timers pending", u, clk.Waiters())
	}
	clk.Step(time.Second)
	if _, err := l.Admit(context.Background(), 0); err != nil {
		t.Errorf("the cancelled request took capacity: %v", err)
	}
}

func TestQueueIsFIFO(t *testing.T) {
	l, clk := newTestLocal(t, Limits{TokensPerMinute: 1000}, OnLimit{Queue: true, MaxWait: 70 * time.Second})
	admitAll(t, l, clk, []charge{{tokens: 500}})
	big := admitAsync(l, context.Background(), 600) // does not fit until the 500 leave
	awaitTimers(t, clk, 1)

	// A small request would fit now, but must queue behind the big one: with its context
	// already done, queueing shows as context.Canceled instead of a Reservation.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if r, err := l.Admit(done, 100); !errors.Is(err, context.Canceled) {
		t.Fatalf("small request overtook the queue: %v, %v", r, err)
	}

	small := admitAsync(l, context.Background(), 100)
	awaitTimers(t, clk, 2)
	clk.Step(60*time.Second + minuteSlot)
	for name, ch := range map[string]<-chan admission{"big": big, "small": small} {
		a := receive(t, ch)
		if a.err != nil {
			t.Fatalf("%s: %v", name, a.err)
		}
		if got := a.r.QueueWait(); got != 60*time.Second+minuteSlot {
			t.Errorf("%s: QueueWait = %s, want 60.1s", name, got)
		}
	}
	if got := l.Usage().TokensLastMinute; got != 700 {
		t.Errorf("TokensLastMinute = %d, want 700", got)
	}
}

func TestReconfigure(t *testing.T) {
	tests := map[string]struct {
		// before and after are the limits before and after reconfiguration.
		before, after Limits
		// used is admitted (and settled at its estimate) before reconfiguration.
		used []charge
		// tokens is a request made afterwards; wantErr is the limit that refuses it, "" if admitted.
		tokens  int64
		wantErr LimitName
	}{
		"usage carries over a lower limit": {
			before: Limits{TokensPerMinute: 1000}, after: Limits{TokensPerMinute: 600},
			used: []charge{{tokens: 500}}, tokens: 200, wantErr: LimitTokensPerMinute,
		},
		"usage counted while unlimited": {
			after: Limits{TokensPerDay: 1000},
			used:  []charge{{tokens: 900}}, tokens: 200, wantErr: LimitTokensPerDay,
		},
		"a new request limit starts full": {
			after: Limits{RequestsPerMinute: 2},
			used:  repeat(5, charge{}),
		},
		"a smaller bucket is clamped": {
			before: Limits{RequestsPerMinute: 10}, after: Limits{RequestsPerMinute: 3},
			used: repeat(8, charge{}), tokens: 0, wantErr: "", // 2 left of 10, clamped to 3: still 2
		},
		"a larger limit admits": {
			before: Limits{TokensPerMinute: 500}, after: Limits{TokensPerMinute: 1000},
			used: []charge{{tokens: 500}}, tokens: 500,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l, clk := newTestLocal(t, tc.before, OnLimit{})
			for _, r := range admitAll(t, l, clk, tc.used) {
				if err := r.Settle(r.EstimatedTokens()); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Reconfigure(tc.after, OnLimit{}); err != nil {
				t.Fatal(err)
			}
			_, err := l.Admit(context.Background(), tc.tokens)
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("Admit: %v", err)
				}
				return
			}
			if le := asLimited(t, err); le.Limit != tc.wantErr {
				t.Errorf("refused by %s, want %s", le.Limit, tc.wantErr)
			}
		})
	}
}

func TestLimitedErrorHeader(t *testing.T) {
	tests := map[string]struct {
		// retryAfter is the exact wait; want is the header value.
		retryAfter time.Duration
		want       int64
	}{
		"zero is still a second":    {0, 1},
		"a nanosecond rounds up":    {1, 1},
		"whole seconds stay":        {3 * time.Second, 3},
		"just over rounds up":       {3*time.Second + 1, 4},
		"a tenth over rounds up":    {40*time.Second + 100*time.Millisecond, 41},
		"hours are kept in seconds": {22*time.Hour + time.Minute, 79260},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := &LimitedError{Limit: LimitTokensPerMinute, RetryAfter: tc.retryAfter}
			if got := e.RetryAfterSeconds(); got != tc.want {
				t.Errorf("RetryAfterSeconds = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	tests := map[string]struct {
		// err is the error; want is its message.
		err  error
		want string
	}{
		"limited": {
			err:  &LimitedError{Limit: LimitTokensPerMinute, RetryAfter: 9816 * time.Millisecond, Max: 10000, Used: 8554, Requested: 3082},
			want: "rate limit tokensPerMinute reached (limit 10000, used 8554, requested 3082): retry after 9.816s",
		},
		"too large": {
			err:  &RequestTooLargeError{Limit: LimitTokensPerDay, Max: 5000, Requested: 5001},
			want: "request needs 5001 tokens (prompt + max_tokens) but tokensPerDay allows 5000: reduce the input or max_tokens",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewLocalDefaultsToRealClock(t *testing.T) {
	l, err := NewLocal(Limits{RequestsPerMinute: 1}, OnLimit{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Admit(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Admit(context.Background(), 0); !errors.Is(err, ErrLimited) {
		t.Errorf("second request within a minute: %v", err)
	}
}
