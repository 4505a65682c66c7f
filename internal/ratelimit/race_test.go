package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentAdmissionsDoNotOvershoot runs 50 admissions at once (run it with -race). A
// ledger, incremented after admission and decremented before settlement, never holds more
// than the limiter counts, so it must never exceed the limit.
func TestConcurrentAdmissionsDoNotOvershoot(t *testing.T) {
	const n = 50
	tests := map[string]struct {
		// limits and on configure the limiter.
		limits Limits
		on     OnLimit
		// settle settles each admitted request at once with 0 tokens, letting queued ones in.
		settle bool
		// wantAll says every request is eventually admitted.
		wantAll bool
	}{
		"tokens, refused at once": {
			limits: Limits{TokensPerMinute: 1000},
		},
		"tokens, queued with refunds": {
			limits: Limits{TokensPerMinute: 1000}, on: OnLimit{Queue: true, MaxWait: time.Hour},
			settle: true, wantAll: true,
		},
		"concurrency, refused at once": {
			limits: Limits{MaxConcurrent: 5},
		},
		"concurrency, queued": {
			limits: Limits{MaxConcurrent: 5}, on: OnLimit{Queue: true, MaxWait: time.Hour},
			settle: true, wantAll: true,
		},
		"requests, refused at once": {
			limits: Limits{RequestsPerMinute: 7},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l, _ := newTestLocal(t, tc.limits, tc.on)
			// The ledger counts tokens for token limits, requests otherwise.
			limit, cost := tc.limits.TokensPerMinute, func(i int) int64 { return 20 + int64(i*37%150) }
			if limit == 0 {
				limit, cost = max(tc.limits.MaxConcurrent, tc.limits.RequestsPerMinute), func(int) int64 { return 1 }
			}
			var (
				ledger, peak, admittedCost atomic.Int64
				admitted                   atomic.Int32
				mu                         sync.Mutex
				refused                    []int64
				wg                         sync.WaitGroup
			)
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					r, err := l.Admit(context.Background(), cost(i))
					if err != nil {
						if !errors.Is(err, ErrLimited) {
							t.Errorf("Admit: %v", err)
						}
						mu.Lock()
						refused = append(refused, cost(i))
						mu.Unlock()
						return
					}
					admitted.Add(1)
					admittedCost.Add(cost(i))
					cur := ledger.Add(cost(i))
					for p := peak.Load(); cur > p && !peak.CompareAndSwap(p, cur); p = peak.Load() {
					}
					if !tc.settle {
						return
					}
					ledger.Add(-cost(i))
					if err := r.Settle(0); err != nil {
						t.Error(err)
					}
				})
			}
			close(start)
			wg.Wait()

			if p := peak.Load(); p > limit {
				t.Errorf("peak %d reserved, limit %d", p, limit)
			}
			if tc.wantAll && admitted.Load() != n {
				t.Errorf("admitted %d of %d", admitted.Load(), n)
			}
			if !tc.settle {
				// Nothing was settled, so whatever was refused could not fit even at the end.
				for _, c := range refused {
					if admittedCost.Load()+c <= limit {
						t.Errorf("refused %d with only %d of %d used", c, admittedCost.Load(), limit)
					}
				}
				if admitted.Load() == 0 {
					t.Error("nothing admitted")
				}
			}
			if u := l.Usage(); u.Queued != 0 {
				t.Errorf("left queued: %+v", u)
			}
		})
	}
}
