package ratelimit

import (
	"context"
	"errors"
	"fmt"
)

// Chain returns a Limiter that admits a request only if every limiter admits it, asking them
// in order: when one refuses, the reservations already taken are released (refunded in full)
// and its error is returned. The Reservation it returns settles or releases every limiter's.
//
// Each limiter queues under its own OnLimit, holding the earlier limiters' reservations while
// it waits, so the worst-case wait is the sum of their MaxWait; bound it with ctx. Put the
// limiters in the same order everywhere. Nil limiters are skipped; a Chain of none admits
// everything.
func Chain(limiters ...Limiter) Limiter {
	c := make(chain, 0, len(limiters))
	for _, l := range limiters {
		if l != nil {
			c = append(c, l)
		}
	}
	return c
}

type chain []Limiter

// Admit implements Limiter.
func (c chain) Admit(ctx context.Context, estimatedTokens int64) (*Reservation, error) {
	if estimatedTokens < 0 {
		return nil, fmt.Errorf("ratelimit: estimated tokens is %d: must not be negative", estimatedTokens)
	}
	var head, tail *Reservation
	for _, l := range c {
		r, err := l.Admit(ctx, estimatedTokens)
		if err != nil {
			if relErr := head.Release(); relErr != nil {
				return nil, errors.Join(err, fmt.Errorf("ratelimit: releasing earlier reservations: %w", relErr))
			}
			return nil, err
		}
		if head == nil {
			head = r
		} else {
			tail.next = r
		}
		for tail = r; tail.next != nil; tail = tail.next {
		}
	}
	if head == nil {
		return &Reservation{tokens: estimatedTokens}, nil
	}
	return head, nil
}
