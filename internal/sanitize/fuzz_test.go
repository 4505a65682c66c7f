package sanitize

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

var fuzzOperations = []string{OperationChatCompletions, OperationCompletions, OperationEmbeddings, OperationResponses}

// FuzzSanitizeRequest checks, for any body: no panic; invalid JSON is always refused as a bad
// request; an accepted body is valid JSON, comes back as the same slice when nothing matched, and
// its output holds nothing a second pass would redact (no card number or other match survives).
// Seeds are in testdata/fuzz/FuzzSanitizeRequest.
func FuzzSanitizeRequest(f *testing.F) {
	f.Add(uint8(0), []byte(`{"messages":[{"role":"user","content":"card 4111 1111 1111 1111"}]}`))
	s, err := New(Policy{Detectors: allDetectors, Patterns: []Pattern{{Name: "employeeId", Regex: `\bEMP-\d{6}\b`}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		operation := fuzzOperations[int(op)%len(fuzzOperations)]
		out, res, err := s.SanitizeRequest(operation, body)
		valid := json.Valid(body)
		if err != nil {
			var be *BadRequestError
			if !errors.As(err, &be) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			if valid && strings.Contains(be.Reason, "invalid JSON") {
				t.Fatalf("valid JSON refused as invalid: %v", err)
			}
			return
		}
		if !valid {
			t.Fatalf("invalid JSON accepted: %q", body)
		}
		if !json.Valid(out) {
			t.Fatalf("output is not valid JSON: %q", out)
		}
		if res.EstimatedTokens != EstimateTokens(res.Chars) {
			t.Fatalf("EstimatedTokens %d for %d chars", res.EstimatedTokens, res.Chars)
		}
		if len(res.Hits) == 0 {
			if len(out) != len(body) || (len(out) > 0 && &out[0] != &body[0]) {
				t.Fatalf("nothing matched but the output is not the input slice")
			}
			return
		}
		var before, after any
		if json.Unmarshal(body, &before) != nil || json.Unmarshal(out, &after) != nil {
			t.Fatalf("cannot decode body or output")
		}
		if !sameExceptRedactions(before, after) {
			t.Fatalf("output changed more than redacted strings:\n in  %q\n out %q", body, out)
		}
		again, res2, err := s.SanitizeRequest(operation, out)
		if err != nil {
			t.Fatalf("second pass: %v", err)
		}
		if len(res2.Hits) != 0 {
			t.Fatalf("second pass found %v in %q", res2.Hits, out)
		}
		if &again[0] != &out[0] {
			t.Fatalf("second pass rewrote the body")
		}
	})
}

// FuzzStreamFilter checks that streaming text in deltas of any sizes gives exactly SanitizeText of
// the whole text, that the filter's buffer stays bounded, and that redaction is idempotent.
// Each byte of sizes is the length of one delta (1-32); the last size repeats.
// Seeds are in testdata/fuzz/FuzzStreamFilter.
func FuzzStreamFilter(f *testing.F) {
	f.Add("card 4111 1111 1111 1111, mail a@b.com", []byte{3, 1, 7})
	s, err := New(Policy{Detectors: allDetectors})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string, sizes []byte) {
		want, _, err := s.SanitizeText(text)
		if err != nil {
			t.Fatal(err)
		}
		if _, hits, _ := s.SanitizeText(want); len(hits) != 0 {
			t.Fatalf("second pass found %v in %q", hits, want)
		}
		fl := s.NewStreamFilter()
		var b strings.Builder
		size := 1
		for k, rest := 0, text; len(rest) > 0; k++ {
			if k < len(sizes) {
				size = 1 + int(sizes[k])%32
			}
			d := rest[:min(size, len(rest))]
			rest = rest[len(d):]
			b.WriteString(fl.Write(d))
			if held := len(fl.buf) - len(d); held > 1200 {
				t.Fatalf("filter holds %d bytes", held)
			}
		}
		b.WriteString(fl.Flush())
		if got := b.String(); got != want {
			t.Fatalf("stream output differs\n got  %q\n want %q", got, want)
		}
	})
}

// sameExceptRedactions reports whether two decoded JSON values are equal, except for strings of
// after that differ from before and hold a redaction tag.
func sameExceptRedactions(before, after any) bool {
	switch b := before.(type) {
	case map[string]any:
		a, ok := after.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, bv := range b {
			av, ok := a[k]
			if !ok || !sameExceptRedactions(bv, av) {
				return false
			}
		}
		return true
	case []any:
		a, ok := after.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range b {
			if !sameExceptRedactions(b[i], a[i]) {
				return false
			}
		}
		return true
	case string:
		a, ok := after.(string)
		return ok && (a == b || strings.Contains(a, "[") && strings.Contains(a, "]"))
	}
	return reflect.DeepEqual(before, after)
}
