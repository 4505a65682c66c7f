package provider

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Quota is what a provider reported about the caller's rate limits in its response headers.
// Absent values are nil: providers differ in what they send (Gemini sends none).
type Quota struct {
	// RequestsLimit is the number of requests allowed in the current window.
	RequestsLimit *int64
	// RequestsRemaining is the number of requests left in the current window.
	RequestsRemaining *int64
	// TokensLimit is the number of tokens allowed in the current window.
	TokensLimit *int64
	// TokensRemaining is the number of tokens left in the current window.
	TokensRemaining *int64
	// ResetAt is the earliest time at which one of the reported limits resets.
	ResetAt *time.Time
}

// IsZero reports whether the provider reported nothing.
func (q Quota) IsZero() bool {
	return q.RequestsLimit == nil && q.RequestsRemaining == nil && q.TokensLimit == nil &&
		q.TokensRemaining == nil && q.ResetAt == nil
}

// headerCount reads a non-negative count header; absent or malformed values give nil.
func headerCount(h http.Header, name string) *int64 {
	v := strings.TrimSpace(h.Get(name))
	if v == "" {
		return nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return nil
		}
		return &n
	}
	// Some servers send counts as floats ("1000.0").
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64/2 {
		return nil
	}
	n := int64(f)
	return &n
}

// headerReset reads a reset header in any format a provider uses; absent or malformed values
// give nil.
func headerReset(h http.Header, name string, now time.Time) *time.Time {
	t, ok := parseReset(h.Get(name), now)
	if !ok {
		return nil
	}
	return &t
}

// parseReset reads a rate-limit reset value: an RFC 3339 time (Anthropic), an OpenAI duration
// such as "6m0s", "1s", "20ms", "17.5s" or "1d2h", or a bare number of seconds.
func parseReset(v string, now time.Time) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, true
	}
	d, err := parseOpenAIDuration(v)
	if err != nil {
		return time.Time{}, false
	}
	// Round(0) drops the monotonic reading: ResetAt is a wall-clock time for status and metrics.
	return now.Add(d).Round(0), true
}

var errBadDuration = errors.New("not an OpenAI duration")

// maxResetDuration bounds parsed durations, so absurd header values cannot overflow.
const maxResetDuration = 366 * 24 * time.Hour

// parseOpenAIDuration parses OpenAI's x-ratelimit-reset-* format: Go duration syntax plus a
// leading days component ("1d3h"), or a bare number of seconds. Negative values are rejected.
func parseOpenAIDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" || strings.HasPrefix(v, "-") || strings.HasPrefix(v, "+") {
		return 0, errBadDuration
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(secs) || math.IsInf(secs, 0) || secs < 0 || secs > maxResetDuration.Seconds() {
			return 0, errBadDuration
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	var total time.Duration
	if days, rest, ok := strings.Cut(v, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 || n > 366 {
			return 0, errBadDuration
		}
		total = time.Duration(n * float64(24*time.Hour))
		v = rest
		if v == "" {
			return total, nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errBadDuration
	}
	total += d
	if total > maxResetDuration {
		return 0, errBadDuration
	}
	return total, nil
}

// earliest returns the earliest non-nil time, or nil.
func earliest(ts ...*time.Time) *time.Time {
	var min *time.Time
	for _, t := range ts {
		if t != nil && (min == nil || t.Before(*min)) {
			min = t
		}
	}
	return min
}

// parseOpenAIQuota reads OpenAI's x-ratelimit-* headers, also sent by Azure OpenAI and many
// OpenAI-compatible servers.
func parseOpenAIQuota(h http.Header, now time.Time) Quota {
	return Quota{
		RequestsLimit:     headerCount(h, "x-ratelimit-limit-requests"),
		RequestsRemaining: headerCount(h, "x-ratelimit-remaining-requests"),
		TokensLimit:       headerCount(h, "x-ratelimit-limit-tokens"),
		TokensRemaining:   headerCount(h, "x-ratelimit-remaining-tokens"),
		ResetAt: earliest(
			headerReset(h, "x-ratelimit-reset-requests", now),
			headerReset(h, "x-ratelimit-reset-tokens", now),
		),
	}
}

// maxRetryAfter caps a provider's retry hint, so a bogus header cannot park a caller for days.
const maxRetryAfter = 24 * time.Hour

// ParseRetryAfter reads how long a provider asked the caller to wait: retry-after-ms
// (milliseconds, sent by OpenAI and Azure OpenAI), then Retry-After (seconds or an HTTP date).
// It reports false when neither header is present and valid. The result is capped at 24h.
func ParseRetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("retry-after-ms")); v != "" {
		if d, ok := scaledDuration(v, time.Millisecond); ok {
			return d, true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return scaledDuration(v, time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return min(d, maxRetryAfter), true
	}
	return 0, false
}

// scaledDuration parses a non-negative number of units, capped at maxRetryAfter.
func scaledDuration(v string, unit time.Duration) (time.Duration, bool) {
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n < 0 || math.IsNaN(n) {
		return 0, false
	}
	if n >= float64(maxRetryAfter/unit) {
		return maxRetryAfter, true
	}
	return time.Duration(n * float64(unit)), true
}
