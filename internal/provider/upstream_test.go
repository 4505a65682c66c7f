package provider

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testKey is the API key used by every test. It must never appear in an error.
const testKey = "sk-test-SECRET-0123456789abcdef"

// upstreamAnswer is what a test upstream answers to the probe.
type upstreamAnswer struct {
	// status is the HTTP status code.
	status int
	// header are response headers, e.g. rate-limit headers.
	header map[string]string
	// body is the response body, as the provider's API reference documents it.
	body string
}

// probeExpectation is what a probe against an upstreamAnswer must report.
type probeExpectation struct {
	// reason is the expected ProbeError reason; "" means the probe must succeed.
	reason Reason
	// models are the expected model IDs of a successful probe.
	models []string
	// message is a substring the ProbeError message must contain.
	message string
	// retryAfter is the expected ProbeError.RetryAfter.
	retryAfter time.Duration
	// quota checks the reported quota (of the result or the error); nil skips the check.
	quota func(t *testing.T, q Quota, sent time.Time)
}

// seenRequest is what the test upstream received.
type seenRequest struct {
	method string
	path   string
	query  string
	header http.Header
}

// serveUpstream starts a server that records the request and answers a.
func serveUpstream(t *testing.T, a upstreamAnswer) (*httptest.Server, <-chan seenRequest) {
	t.Helper()
	seen := make(chan seenRequest, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case seen <- seenRequest{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone()}:
		default:
		}
		if a.header["Content-Type"] == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	return srv, seen
}

// checkProbe runs p's probe against ep with apiKey and compares with want. It also checks
// that testKey never appears in an error.
func checkProbe(t *testing.T, p Provider, ep Endpoint, apiKey string, want probeExpectation) {
	t.Helper()
	sent := time.Now()
	res, err := p.Probe(context.Background(), &http.Client{Timeout: 10 * time.Second}, ep, apiKey)
	if want.reason == "" {
		if err != nil {
			t.Fatalf("Probe: unexpected error %v", err)
		}
		if res.HTTPStatus != http.StatusOK {
			t.Errorf("HTTPStatus = %d, want 200", res.HTTPStatus)
		}
		if strings.Join(res.Models, ",") != strings.Join(want.models, ",") {
			t.Errorf("Models = %q, want %q", res.Models, want.models)
		}
		if res.Latency <= 0 {
			t.Errorf("Latency = %v, want > 0", res.Latency)
		}
		if want.quota != nil {
			want.quota(t, res.Quota, sent)
		}
		return
	}
	var pe *ProbeError
	if !errors.As(err, &pe) {
		t.Fatalf("Probe error = %v (%T), want *ProbeError with reason %s", err, err, want.reason)
	}
	if pe.Reason != want.reason {
		t.Errorf("Reason = %s, want %s (error: %v)", pe.Reason, want.reason, pe)
	}
	if !strings.Contains(pe.Message, want.message) {
		t.Errorf("Message = %q, want it to contain %q", pe.Message, want.message)
	}
	if pe.RetryAfter != want.retryAfter {
		t.Errorf("RetryAfter = %v, want %v", pe.RetryAfter, want.retryAfter)
	}
	if len(pe.Message) > maxMessageLen {
		t.Errorf("Message is %d bytes, want at most %d", len(pe.Message), maxMessageLen)
	}
	assertNoKey(t, pe.Error())
	if want.quota != nil {
		want.quota(t, pe.Quota, sent)
	}
}

// assertNoKey fails when s contains the test key or a recognisable part of it.
func assertNoKey(t *testing.T, s string) {
	t.Helper()
	for _, part := range []string{testKey, "SECRET", "0123456789abcdef"} {
		if strings.Contains(s, part) {
			t.Errorf("error text contains the API key (%q): %s", part, s)
		}
	}
}

// i64 returns a pointer for quota comparisons.
func i64(v int64) *int64 { return &v }

// equalCount compares an optional count.
func equalCount(a, b *int64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func countString(p *int64) string {
	if p == nil {
		return "nil"
	}
	return strconv.FormatInt(*p, 10)
}

// checkCounts compares the four counts of a Quota.
func checkCounts(t *testing.T, got Quota, reqLimit, reqRemaining, tokLimit, tokRemaining *int64) {
	t.Helper()
	for _, c := range []struct {
		name      string
		got, want *int64
	}{
		{"RequestsLimit", got.RequestsLimit, reqLimit},
		{"RequestsRemaining", got.RequestsRemaining, reqRemaining},
		{"TokensLimit", got.TokensLimit, tokLimit},
		{"TokensRemaining", got.TokensRemaining, tokRemaining},
	} {
		if !equalCount(c.got, c.want) {
			t.Errorf("%s = %s, want %s", c.name, countString(c.got), countString(c.want))
		}
	}
}

// checkResetWithin checks that ResetAt is d after a time between sent and now.
func checkResetWithin(t *testing.T, got *time.Time, sent time.Time, d time.Duration) {
	t.Helper()
	if got == nil {
		t.Fatalf("ResetAt = nil, want about now+%v", d)
	}
	if got.Before(sent.Add(d)) || got.After(time.Now().Add(d)) {
		t.Errorf("ResetAt = %v, want between %v and %v", got, sent.Add(d), time.Now().Add(d))
	}
}

// networkProviders are the adapters that call a real upstream, with the endpoint that points
// each at a test server whose root URL is given.
func networkProviders() map[string]struct {
	provider Provider
	endpoint func(root string) Endpoint
} {
	return map[string]struct {
		provider Provider
		endpoint func(root string) Endpoint
	}{
		"OpenAI":           {&OpenAI{}, func(root string) Endpoint { return Endpoint{BaseURL: root + "/v1"} }},
		"AzureOpenAI":      {&AzureOpenAI{}, func(root string) Endpoint { return Endpoint{BaseURL: root} }},
		"Anthropic":        {&Anthropic{}, func(root string) Endpoint { return Endpoint{BaseURL: root + "/v1"} }},
		"Gemini":           {&Gemini{}, func(root string) Endpoint { return Endpoint{BaseURL: root + "/v1beta/openai"} }},
		"OpenAICompatible": {&OpenAICompatible{}, func(root string) Endpoint { return Endpoint{BaseURL: root + "/v1"} }},
	}
}

// closedAddress returns an address nothing listens on.
func closedAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
