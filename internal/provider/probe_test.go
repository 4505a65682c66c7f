package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	tests := map[string]struct {
		// status is the HTTP status; ignored when transportErr is set.
		status int
		// body is the error body.
		body string
		// transportErr is the round-trip error.
		transportErr error
		// want is the expected reason.
		want Reason
		// message is a substring the message must contain.
		message string
	}{
		"2xx is no failure":           {status: 200, want: ""},
		"401":                         {status: 401, body: openAIInvalidKey, want: InvalidCredentials, message: "Incorrect API key"},
		"403":                         {status: 403, body: anthropicPermission, want: InvalidCredentials, message: "permission"},
		"gemini 400 bad key":          {status: 400, body: geminiInvalidKey, want: InvalidCredentials, message: "API key not valid"},
		"openai 429 quota":            {status: 429, body: openAIQuota, want: QuotaExhausted},
		"openai 429 rate":             {status: 429, body: openAIRate, want: RateLimited},
		"anthropic 429 spend limit":   {status: 429, body: anthropicSpendLimit, want: QuotaExhausted},
		"anthropic 400 credit":        {status: 400, body: anthropicCredit, want: QuotaExhausted},
		"anthropic 402 billing":       {status: 402, body: anthropicBilling, want: QuotaExhausted},
		"gemini per-day quota":        {status: 429, body: geminiPerDay, want: QuotaExhausted},
		"gemini per-minute quota":     {status: 429, body: geminiPerMinute, want: RateLimited},
		"gemini compat array-wrapped": {status: 429, body: "[" + geminiPerDay + "]", want: QuotaExhausted, message: "exceeded your current quota"},
		"429 without body":            {status: 429, want: RateLimited, message: "Too Many Requests"},
		"anthropic 529":               {status: 529, body: anthropicOverloaded, want: UpstreamError, message: "Overloaded"},
		"502 HTML page":               {status: 502, body: "<html><body>Bad Gateway</body></html>", want: UpstreamError, message: "Bad Gateway"},
		"400 other":                   {status: 400, body: `{"error":{"message":"bad","type":"invalid_request_error"}}`, want: UpstreamError, message: "unexpected HTTP status 400 Bad Request: bad"},
		"unknown status":              {status: 418, body: "short and stout", want: UpstreamError, message: "unexpected HTTP status 418 I'm a teapot: short and stout"},
		"connection refused":          {transportErr: &url.Error{Op: "Get", URL: "http://127.0.0.1:1/v1/models", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, want: Unreachable, message: "connection refused: "},
		"DNS":                         {transportErr: &url.Error{Op: "Get", URL: "https://nope.invalid/v1/models", Err: &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}}}, want: Unreachable, message: "DNS lookup failed: "},
		"deadline":                    {transportErr: &url.Error{Op: "Get", URL: "https://api.openai.com/v1/models", Err: context.DeadlineExceeded}, want: Unreachable, message: "timed out: "},
		"canceled":                    {transportErr: context.Canceled, want: Unreachable, message: "canceled: "},
		"other transport error":       {transportErr: errors.New("EOF"), want: Unreachable, message: "connection failed: EOF"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			reason, msg := Classify(tc.status, []byte(tc.body), tc.transportErr)
			if reason != tc.want {
				t.Errorf("reason = %q, want %q (message %q)", reason, tc.want, msg)
			}
			if !strings.Contains(msg, tc.message) {
				t.Errorf("message = %q, want it to contain %q", msg, tc.message)
			}
		})
	}
}

// TestProbeTransportFailures checks that every network adapter reports Unreachable, without
// the key, when there is no HTTP answer.
func TestProbeTransportFailures(t *testing.T) {
	failures := map[string]struct {
		// setup returns the server root URL, the client and the context of the probe.
		setup func(t *testing.T) (root string, client *http.Client, ctx context.Context)
		// message is a substring the message must contain.
		message string
	}{
		"connection refused": {
			setup: func(t *testing.T) (string, *http.Client, context.Context) {
				return "http://" + closedAddress(t), &http.Client{Transport: &http.Transport{}}, context.Background()
			},
			message: "connection refused",
		},
		"untrusted TLS certificate": {
			setup: func(t *testing.T) (string, *http.Client, context.Context) {
				srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					t.Error("request reached a server whose certificate is not trusted")
				}))
				srv.Config.ErrorLog = quietLog()
				t.Cleanup(srv.Close)
				return srv.URL, &http.Client{Transport: &http.Transport{}}, context.Background()
			},
			message: "TLS handshake failed",
		},
		"timeout via the context": {
			setup: func(t *testing.T) (string, *http.Client, context.Context) {
				srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
					<-r.Context().Done()
				}))
				t.Cleanup(srv.Close)
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				t.Cleanup(cancel)
				return srv.URL, srv.Client(), ctx
			},
			message: "timed out",
		},
	}
	for pname, np := range networkProviders() {
		for fname, f := range failures {
			t.Run(pname+"/"+fname, func(t *testing.T) {
				root, client, ctx := f.setup(t)
				_, err := np.provider.Probe(ctx, client, np.endpoint(root), testKey)
				var pe *ProbeError
				if !errors.As(err, &pe) {
					t.Fatalf("error = %v (%T), want *ProbeError", err, err)
				}
				if pe.Reason != Unreachable || pe.HTTPStatus != 0 {
					t.Errorf("got %s/%d, want Unreachable/0: %v", pe.Reason, pe.HTTPStatus, pe)
				}
				if !strings.Contains(pe.Message, f.message) {
					t.Errorf("Message = %q, want it to contain %q", pe.Message, f.message)
				}
				assertNoKey(t, pe.Error())
			})
		}
	}
}

// TestProbeDoesNotFollowRedirects checks that no adapter sends its key to a redirect target.
func TestProbeDoesNotFollowRedirects(t *testing.T) {
	for pname, np := range networkProviders() {
		t.Run(pname, func(t *testing.T) {
			elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				t.Error("the probe followed a redirect")
			}))
			t.Cleanup(elsewhere.Close)
			srv, _ := serveUpstream(t, upstreamAnswer{status: http.StatusFound, header: map[string]string{"Location": elsewhere.URL + "/v1/models"}})
			_, err := np.provider.Probe(context.Background(), srv.Client(), np.endpoint(srv.URL), testKey)
			var pe *ProbeError
			if !errors.As(err, &pe) || pe.Reason != UpstreamError || pe.HTTPStatus != http.StatusFound {
				t.Fatalf("error = %v, want UpstreamError (HTTP 302)", err)
			}
			if !strings.Contains(pe.Message, "redirect") {
				t.Errorf("Message = %q, want it to mention the redirect", pe.Message)
			}
		})
	}
}

func TestProbeBoundsTheBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"object":"list","data":[{"id":"`)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range (maxProbeBody / len(chunk)) + 2 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		fmt.Fprint(w, `"}]}`)
	}))
	t.Cleanup(srv.Close)
	_, err := (&OpenAI{}).Probe(context.Background(), srv.Client(), Endpoint{BaseURL: srv.URL + "/v1"}, testKey)
	var pe *ProbeError
	if !errors.As(err, &pe) || pe.Reason != UpstreamError || !strings.Contains(pe.Message, "larger than 4 MiB") {
		t.Fatalf("error = %v, want UpstreamError about the size", err)
	}
}

func TestProbeErrorMessage(t *testing.T) {
	tests := map[string]struct {
		// msg is the upstream message.
		msg string
		// key is the API key.
		key string
		// want is the expected ProbeError.Message.
		want string
	}{
		"key echoed":        {msg: "bad key " + testKey + " given", key: testKey, want: "bad key [REDACTED] given"},
		"masked key echoed": {msg: "Incorrect API key provided: sk-proj-****************abcd. You can", key: testKey, want: "Incorrect API key provided: [REDACTED] You can"},
		"long message cut":  {msg: strings.Repeat("é", 300), key: testKey, want: strings.Repeat("é", 126) + "…"},
		"key at the cut":    {msg: strings.Repeat("a", 250) + testKey, key: testKey, want: strings.Repeat("a", 250) + "[RE…"},
		"no key configured": {msg: "fine", want: "fine"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pe := newProbeError(UpstreamError, 500, tc.msg, tc.key, Quota{}, 0)
			if pe.Message != tc.want {
				t.Errorf("Message = %q, want %q", pe.Message, tc.want)
			}
			if len(pe.Message) > maxMessageLen {
				t.Errorf("Message is %d bytes, over %d", len(pe.Message), maxMessageLen)
			}
			assertNoKey(t, pe.Error())
		})
	}
}

func TestProbeErrorError(t *testing.T) {
	withStatus := &ProbeError{Reason: RateLimited, HTTPStatus: 429, Message: "slow down"}
	if got, want := withStatus.Error(), "RateLimited (HTTP 429): slow down"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	without := &ProbeError{Reason: Unreachable, Message: "timed out: x"}
	if got, want := without.Error(), "Unreachable: timed out: x"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func FuzzClassify(f *testing.F) {
	for _, b := range []string{openAIQuota, anthropicSpendLimit, geminiPerDay, "[" + geminiPerMinute + "]", `{"error":"x"}`, `{"error":{"details":{"error_code":1}}}`, "", "[]", "null"} {
		f.Add(429, []byte(b))
	}
	valid := map[Reason]bool{"": true, InvalidCredentials: true, QuotaExhausted: true, RateLimited: true, UpstreamError: true}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		reason, msg := Classify(status, body, nil)
		if !valid[reason] {
			t.Fatalf("Classify(%d) = unknown reason %q", status, reason)
		}
		if reason != "" && msg == "" {
			t.Fatalf("Classify(%d) gave reason %s with an empty message", status, reason)
		}
		pe := newProbeError(reason, status, msg, testKey, Quota{}, 0)
		if strings.Contains(pe.Message, testKey) || len(pe.Message) > maxMessageLen {
			t.Fatalf("bad message %q", pe.Message)
		}
	})
}
