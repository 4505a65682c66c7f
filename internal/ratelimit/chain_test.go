package ratelimit

import (
	"context"
	"errors"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// newLocals builds one Local per Limits, all on clk.
func newLocals(t *testing.T, clk *clocktesting.FakeClock, on OnLimit, limits ...Limits) []*Local {
	t.Helper()
	ls := make([]*Local, len(limits))
	for i, l := range limits {
		var err error
		if ls[i], err = NewLocal(l, on, clk); err != nil {
			t.Fatal(err)
		}
	}
	return ls
}

func chainOf(ls []*Local) Limiter {
	lims := make([]Limiter, len(ls))
	for i, l := range ls {
		lims[i] = l
	}
	return Chain(lims...)
}

func checkUsage(t *testing.T, when string, ls []*Local, want []Usage) {
	t.Helper()
	for i, l := range ls {
		if got := l.Usage(); got != want[i] {
			t.Errorf("%s: limiter %d usage = %+v, want %+v", when, i, got, want[i])
		}
	}
}

func TestChain(t *testing.T) {
	tests := map[string]struct {
		// limits configures one Local per entry, chained in order.
		limits []Limits
		// held is admitted directly on a limiter (by index) before the chain, and kept.
		held map[int]int64
		// tokens is the chained request's estimate.
		tokens int64
		// wantErr is the sentinel the chain's error matches, nil when admitted.
		wantErr error
		// wantUsage is every limiter's usage after Admit.
		wantUsage []Usage
		// wantSettled is every limiter's usage after Settle(40), when admitted.
		wantSettled []Usage
	}{
		"all admit": {
			limits: []Limits{{RequestsPerMinute: 10}, {TokensPerMinute: 1000, MaxConcurrent: 1}},
			tokens: 100,
			wantUsage: []Usage{
				{RequestsAvailable: 9, TokensLastMinute: 100, TokensLastDay: 100, InFlight: 1},
				{TokensLastMinute: 100, TokensLastDay: 100, InFlight: 1},
			},
			wantSettled: []Usage{
				{RequestsAvailable: 9, TokensLastMinute: 40, TokensLastDay: 40},
				{TokensLastMinute: 40, TokensLastDay: 40},
			},
		},
		"the last is too small: the first is refunded": {
			limits:  []Limits{{RequestsPerMinute: 10, TokensPerMinute: 1000, MaxConcurrent: 1}, {TokensPerMinute: 50}},
			tokens:  100,
			wantErr: ErrRequestTooLarge,
			wantUsage: []Usage{
				{RequestsAvailable: 10},
				{},
			},
		},
		"a middle one is limited: earlier ones are refunded, later ones untouched": {
			limits:  []Limits{{RequestsPerMinute: 10}, {TokensPerMinute: 1000}, {RequestsPerMinute: 5}},
			held:    map[int]int64{1: 950},
			tokens:  100,
			wantErr: ErrLimited,
			wantUsage: []Usage{
				{RequestsAvailable: 10},
				{TokensLastMinute: 950, TokensLastDay: 950, InFlight: 1},
				{RequestsAvailable: 5},
			},
		},
		"the first is limited: later ones untouched": {
			limits:  []Limits{{MaxConcurrent: 1}, {RequestsPerMinute: 10}},
			held:    map[int]int64{0: 0},
			wantErr: ErrLimited,
			wantUsage: []Usage{
				{InFlight: 1},
				{RequestsAvailable: 10},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(epoch)
			ls := newLocals(t, clk, OnLimit{}, tc.limits...)
			for i, tokens := range tc.held {
				if _, err := ls[i].Admit(context.Background(), tokens); err != nil {
					t.Fatal(err)
				}
			}
			r, err := chainOf(ls).Admit(context.Background(), tc.tokens)
			if !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil) {
				t.Fatalf("Admit = %v, want %v", err, tc.wantErr)
			}
			checkUsage(t, "after Admit", ls, tc.wantUsage)
			if err != nil {
				return
			}
			if err := r.Settle(40); err != nil {
				t.Fatal(err)
			}
			checkUsage(t, "after Settle", ls, tc.wantSettled)
			if err := r.Release(); err != nil {
				t.Fatal(err)
			}
			checkUsage(t, "after a second Release", ls, tc.wantSettled)
		})
	}
}

func TestChainNestedReleasesAll(t *testing.T) {
	clk := clocktesting.NewFakeClock(epoch)
	ls := newLocals(t, clk, OnLimit{}, Limits{MaxConcurrent: 1}, Limits{MaxConcurrent: 1}, Limits{MaxConcurrent: 1})
	c := Chain(Chain(ls[0], ls[1]), nil, ls[2])
	r, err := c.Admit(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	checkUsage(t, "after Admit", ls, []Usage{{TokensLastMinute: 10, TokensLastDay: 10, InFlight: 1}, {TokensLastMinute: 10, TokensLastDay: 10, InFlight: 1}, {TokensLastMinute: 10, TokensLastDay: 10, InFlight: 1}})
	if err := r.Release(); err != nil {
		t.Fatal(err)
	}
	checkUsage(t, "after Release", ls, []Usage{{}, {}, {}})
}

func TestChainOfNoneAdmits(t *testing.T) {
	r, err := Chain().Admit(context.Background(), 123)
	if err != nil {
		t.Fatal(err)
	}
	if r.EstimatedTokens() != 123 || r.QueueWait() != 0 {
		t.Errorf("reservation = %+v", r)
	}
	if err := r.Settle(5); err != nil {
		t.Error(err)
	}
}

func TestChainQueueWaitAddsUp(t *testing.T) {
	clk := clocktesting.NewFakeClock(epoch)
	on := OnLimit{Queue: true, MaxWait: 5 * time.Second}
	ls := newLocals(t, clk, on, Limits{RequestsPerMinute: 60}, Limits{RequestsPerMinute: 30})
	for _, l := range ls {
		admitAll(t, l, clk, repeat(int(l.Usage().RequestsAvailable), charge{}))
	}
	ch := admitAsync(chainOf(ls), context.Background(), 0)
	awaitTimers(t, clk, 1) // queued on the first: 1 s
	clk.Step(time.Second)
	awaitTimers(t, clk, 1) // queued on the second: 2 s from the start, 1 s left
	clk.Step(time.Second)
	a := receive(t, ch)
	if a.err != nil {
		t.Fatal(a.err)
	}
	if got := a.r.QueueWait(); got != 2*time.Second {
		t.Errorf("QueueWait = %s, want 2s", got)
	}
}

func TestChainContextCancelReleasesEarlier(t *testing.T) {
	clk := clocktesting.NewFakeClock(epoch)
	on := OnLimit{Queue: true, MaxWait: 5 * time.Second}
	ls := newLocals(t, clk, on, Limits{TokensPerMinute: 1000, MaxConcurrent: 1}, Limits{MaxConcurrent: 1})
	admitAll(t, ls[1], clk, []charge{{}})
	ctx, cancel := context.WithCancel(context.Background())
	ch := admitAsync(chainOf(ls), ctx, 300)
	awaitTimers(t, clk, 1) // admitted by the first, queued on the second
	cancel()
	if a := receive(t, ch); !errors.Is(a.err, context.Canceled) {
		t.Fatalf("Admit = %v, want context.Canceled", a.err)
	}
	checkUsage(t, "after cancel", ls, []Usage{{}, {InFlight: 1}})
}
