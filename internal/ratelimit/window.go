package ratelimit

import (
	"math"
	"math/bits"
	"time"
)

// minuteNanos is the refill period of the request bucket, in the unit of its fractional level.
const minuteNanos = uint64(time.Minute)

// requestBucket is the RequestsPerMinute token bucket. Its level is kept in exact integer
// arithmetic: whole requests plus a fraction in units of 1/minuteNanos request, so refill
// (perMinute requests per minuteNanos nanoseconds) never drifts.
type requestBucket struct {
	// perMinute is both the capacity and the refill per minute; 0 means unlimited.
	perMinute int64
	// level is the whole requests available, 0..perMinute.
	level int64
	// frac is the part of the next request refilled so far, in 1/minuteNanos request; < minuteNanos.
	frac uint64
	// last is when the level was last brought up to date.
	last time.Duration
}

func (b *requestBucket) advance(now time.Duration) {
	elapsed := now - b.last
	if elapsed <= 0 {
		return
	}
	b.last = now
	if b.level >= b.perMinute {
		return
	}
	if elapsed >= time.Minute {
		b.fill()
		return
	}
	// elapsed < 2^36 and perMinute < 2^63, so hi < 2^35 < minuteNanos and Div64 cannot overflow.
	hi, lo := bits.Mul64(uint64(elapsed), uint64(b.perMinute))
	lo, carry := bits.Add64(lo, b.frac, 0)
	hi += carry
	q, r := bits.Div64(hi, lo, minuteNanos)
	if q >= uint64(b.perMinute-b.level) {
		b.fill()
		return
	}
	b.level += int64(q)
	b.frac = r
}

func (b *requestBucket) fill() {
	b.level = b.perMinute
	b.frac = 0
}

// wait is the time until one request is available.
func (b *requestBucket) wait() time.Duration {
	if b.level >= 1 {
		return 0
	}
	need := minuteNanos - b.frac
	p := uint64(b.perMinute)
	return time.Duration((need + p - 1) / p)
}

func (b *requestBucket) take() { b.level-- }

func (b *requestBucket) refund() {
	if b.level++; b.level >= b.perMinute {
		b.fill()
	}
}

// resize changes the bucket's size, keeping what was taken: a bucket that was unlimited
// starts full, a smaller bucket is clamped.
func (b *requestBucket) resize(perMinute int64) {
	if b.perMinute == 0 {
		b.perMinute = perMinute
		b.fill()
		return
	}
	b.perMinute = perMinute
	if b.level >= perMinute {
		b.fill()
	}
}

// tokenWindow counts tokens charged over a rolling window, in slots of a fixed width. It holds
// one slot more than the window, so a charge stays counted for at least a full window.
type tokenWindow struct {
	// width is the slot width.
	width time.Duration
	// slots is a ring indexed by absolute slot number modulo its length.
	slots []int64
	// total is the sum of slots.
	total int64
	// head is the absolute number of the newest slot.
	head int64
}

func newTokenWindow(window, width time.Duration) tokenWindow {
	return tokenWindow{width: width, slots: make([]int64, int(window/width)+1)}
}

func (w *tokenWindow) advance(now time.Duration) {
	idx := int64(now / w.width)
	if idx <= w.head {
		return
	}
	n := int64(len(w.slots))
	if idx-w.head >= n {
		clear(w.slots)
		w.total = 0
	} else {
		for i := w.head + 1; i <= idx; i++ {
			s := &w.slots[i%n]
			w.total -= *s
			*s = 0
		}
	}
	w.head = idx
}

// wait is the time until need more tokens fit under limit: when enough of the oldest slots
// have left the window. need must not exceed limit.
func (w *tokenWindow) wait(now time.Duration, need, limit int64) time.Duration {
	if w.total <= limit-need {
		return 0
	}
	excess := w.total - (limit - need)
	n := int64(len(w.slots))
	var freed int64
	for i := max(w.head-n+1, 0); i <= w.head; i++ {
		freed += w.slots[i%n]
		if freed >= excess {
			return time.Duration(i+n)*w.width - now
		}
	}
	// Only reached if need > limit; the whole window then clears after the newest slot leaves.
	return time.Duration(w.head+n)*w.width - now
}

func (w *tokenWindow) charge(tokens int64) {
	s := &w.slots[w.head%int64(len(w.slots))]
	*s = saturatingAdd(*s, tokens)
	w.total = saturatingAdd(w.total, tokens)
}

// refund takes back up to tokens charged in the slot of at, if that slot is still in the window.
func (w *tokenWindow) refund(at time.Duration, tokens int64) {
	idx := int64(at / w.width)
	n := int64(len(w.slots))
	if idx <= w.head-n || idx > w.head {
		return
	}
	s := &w.slots[idx%n]
	c := min(tokens, *s)
	*s -= c
	w.total -= c
}

func saturatingAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
