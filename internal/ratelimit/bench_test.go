package ratelimit

import (
	"context"
	"testing"

	"k8s.io/utils/clock"
)

// benchLimits sets every limit, high enough never to refuse, so the benchmark measures the
// admission path that every proxied request takes.
var benchLimits = Limits{RequestsPerMinute: 1 << 40, TokensPerMinute: 1 << 50, TokensPerDay: 1 << 55, MaxConcurrent: 1 << 20}

func BenchmarkAdmitSettle(b *testing.B) {
	newLimiter := func(b *testing.B, chained int) Limiter {
		lims := make([]Limiter, chained)
		for i := range lims {
			l, err := NewLocal(benchLimits, OnLimit{Queue: true, MaxWait: 1 << 40}, clock.RealClock{})
			if err != nil {
				b.Fatal(err)
			}
			lims[i] = l
		}
		if chained == 1 {
			return lims[0]
		}
		return Chain(lims...)
	}
	admitSettle := func(b *testing.B, l Limiter) {
		r, err := l.Admit(context.Background(), 1200)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Settle(900); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name    string
		chained int
	}{{"local", 1}, {"chain2", 2}} {
		b.Run(bc.name+"/serial", func(b *testing.B) {
			l := newLimiter(b, bc.chained)
			b.ReportAllocs()
			for b.Loop() {
				admitSettle(b, l)
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			l := newLimiter(b, bc.chained)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					admitSettle(b, l)
				}
			})
		})
	}
}
