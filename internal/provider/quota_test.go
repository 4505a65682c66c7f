package provider

import (
	"io"
	"log"
	"net/http"
	"testing"
	"time"
)

// quietLog discards a test server's log (TLS handshake errors are the point of some tests).
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }

func TestParseOpenAIDuration(t *testing.T) {
	tests := map[string]struct {
		// in is the header value.
		in string
		// want is the expected duration.
		want time.Duration
		// wantErr says the value must be rejected.
		wantErr bool
	}{
		"6m0s":          {in: "6m0s", want: 6 * time.Minute},
		"1s":            {in: "1s", want: time.Second},
		"20ms":          {in: "20ms", want: 20 * time.Millisecond},
		"17.5s":         {in: "17.5s", want: 17500 * time.Millisecond},
		"0s":            {in: "0s", want: 0},
		"days":          {in: "2d", want: 48 * time.Hour},
		"days and more": {in: "1d1h30m", want: 24*time.Hour + 90*time.Minute},
		"bare seconds":  {in: "2.5", want: 2500 * time.Millisecond},
		"spaces":        {in: " 1s ", want: time.Second},
		"empty":         {in: "", wantErr: true},
		"negative":      {in: "-1s", wantErr: true},
		"plus":          {in: "+1s", wantErr: true},
		"unit only":     {in: "s", wantErr: true},
		"bad days":      {in: "xd1s", wantErr: true},
		"huge":          {in: "99999999h", wantErr: true},
		"huge seconds":  {in: "1e300", wantErr: true},
		"NaN":           {in: "NaN", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseOpenAIDuration(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("parseOpenAIDuration(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		// header are the response headers.
		header map[string]string
		// want is the expected wait.
		want time.Duration
		// wantOK says a wait must be found.
		wantOK bool
	}{
		"seconds":               {header: map[string]string{"Retry-After": "20"}, want: 20 * time.Second, wantOK: true},
		"milliseconds first":    {header: map[string]string{"Retry-After": "6", "retry-after-ms": "5500"}, want: 5500 * time.Millisecond, wantOK: true},
		"HTTP date":             {header: map[string]string{"Retry-After": "Fri, 27 Nov 2026 12:00:30 GMT"}, want: 30 * time.Second, wantOK: true},
		"HTTP date in the past": {header: map[string]string{"Retry-After": "Fri, 27 Nov 2026 11:00:00 GMT"}, want: 0, wantOK: true},
		"capped":                {header: map[string]string{"Retry-After": "99999999999"}, want: 24 * time.Hour, wantOK: true},
		"capped ms":             {header: map[string]string{"retry-after-ms": "1e300"}, want: 24 * time.Hour, wantOK: true},
		"bad ms falls back":     {header: map[string]string{"retry-after-ms": "soon", "Retry-After": "3"}, want: 3 * time.Second, wantOK: true},
		"negative":              {header: map[string]string{"Retry-After": "-3"}},
		"garbage":               {header: map[string]string{"Retry-After": "later"}},
		"absent":                {header: map[string]string{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			got, ok := ParseRetryAfter(h, now)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("ParseRetryAfter = %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestHeaderCount(t *testing.T) {
	tests := map[string]struct {
		// in is the header value.
		in string
		// want is the expected count; nil when absent or invalid.
		want *int64
	}{
		"integer":  {in: "59", want: i64(59)},
		"zero":     {in: "0", want: i64(0)},
		"float":    {in: "1000.0", want: i64(1000)},
		"negative": {in: "-4"},
		"text":     {in: "lots"},
		"empty":    {in: ""},
		"huge":     {in: "1e300"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			h.Set("x", tc.in)
			if got := headerCount(h, "x"); !equalCount(got, tc.want) {
				t.Errorf("headerCount(%q) = %s, want %s", tc.in, countString(got), countString(tc.want))
			}
		})
	}
}

func FuzzParseReset(f *testing.F) {
	for _, s := range []string{"6m0s", "1d2h", "17.5s", "2026-11-27T12:00:00Z", "60", "-1", "1e308", "9223372036s"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		got, ok := parseReset(v, now)
		if ok && got.IsZero() {
			t.Fatalf("parseReset(%q) reported a zero time", v)
		}
		if d, err := parseOpenAIDuration(v); err == nil && (d < 0 || d > maxResetDuration) {
			t.Fatalf("parseOpenAIDuration(%q) = %v, out of range", v, d)
		}
	})
}

func BenchmarkOpenAIParseQuota(b *testing.B) {
	h := http.Header{}
	h.Set("x-ratelimit-limit-requests", "10000")
	h.Set("x-ratelimit-limit-tokens", "30000000")
	h.Set("x-ratelimit-remaining-requests", "9999")
	h.Set("x-ratelimit-remaining-tokens", "29999000")
	h.Set("x-ratelimit-reset-requests", "6ms")
	h.Set("x-ratelimit-reset-tokens", "17.5s")
	now := time.Now()
	p := &OpenAI{}
	b.ReportAllocs()
	for b.Loop() {
		_ = p.ParseQuota(h, now)
	}
}
