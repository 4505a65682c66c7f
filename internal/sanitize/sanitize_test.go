package sanitize

import (
	"errors"
	"reflect"
	"testing"
)

func TestNewErrors(t *testing.T) {
	tests := map[string]struct {
		// policy is the invalid policy.
		policy Policy
		// want is the error message.
		want string
	}{
		"unknown action": {
			policy: Policy{Action: "Drop"},
			want:   `action: unknown action "Drop" (want Redact or Block)`,
		},
		"negative chars": {
			policy: Policy{MaxPromptChars: -1},
			want:   "maxPromptChars: must not be negative, got -1",
		},
		"negative tokens": {
			policy: Policy{MaxPromptTokens: -5},
			want:   "maxPromptTokens: must not be negative, got -5",
		},
		"unknown detector": {
			policy: Policy{Detectors: []Detector{Email, "IBAN"}},
			want:   `detectors[1]: unknown detector "IBAN" (want one of CreditCard, USSSN, Email, PhoneNumber, SecretKey)`,
		},
		"bad regex": {
			policy: Policy{Patterns: []Pattern{{Name: "a", Regex: "a"}, {Name: "b", Regex: "b"}, {Name: "c", Regex: "(unclosed"}}},
			want:   "patterns[2].regex: error parsing regexp: missing closing ): `(unclosed`",
		},
		"empty regex": {
			policy: Policy{Patterns: []Pattern{{Name: "a"}}},
			want:   "patterns[0].regex: must not be empty",
		},
		"regex matching empty": {
			policy: Policy{Patterns: []Pattern{{Name: "a", Regex: "x*"}}},
			want:   "patterns[0].regex: matches the empty string",
		},
		"empty name": {
			policy: Policy{Patterns: []Pattern{{Regex: "x"}}},
			want:   "patterns[0].name: must not be empty",
		},
		"duplicate name": {
			policy: Policy{Patterns: []Pattern{{Name: "x", Regex: "x"}, {Name: "x", Regex: "y"}}},
			want:   `patterns[1].name: "x" is already the name of patterns[0]`,
		},
		"detector name": {
			policy: Policy{Patterns: []Pattern{{Name: "Email", Regex: "x"}}},
			want:   `patterns[0].name: "Email" is the name of a built-in detector`,
		},
		"name without letters": {
			policy: Policy{Patterns: []Pattern{{Name: "--", Regex: "x"}}},
			want:   `patterns[0].name: "--" has no letter or digit to make a tag of`,
		},
		"pattern action": {
			policy: Policy{Patterns: []Pattern{{Name: "x", Regex: "x", Action: "redact"}}},
			want:   `patterns[0].action: unknown action "redact" (want Redact or Block)`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.policy)
			if err == nil {
				t.Fatal("New succeeded")
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got  %q\n want %q", err.Error(), tc.want)
			}
		})
	}
}

func TestUpperSnake(t *testing.T) {
	tests := map[string]struct {
		// name is the pattern name.
		name string
		// want is its tag text.
		want string
	}{
		"camel":       {name: "employeeId", want: "EMPLOYEE_ID"},
		"kebab":       {name: "employee-id", want: "EMPLOYEE_ID"},
		"snake":       {name: "employee_id", want: "EMPLOYEE_ID"},
		"acronym":     {name: "ACMEProject", want: "ACME_PROJECT"},
		"spaces":      {name: " internal  code ", want: "INTERNAL_CODE"},
		"digits":      {name: "ticket2", want: "TICKET2"},
		"upper":       {name: "IBAN", want: "IBAN"},
		"single":      {name: "x", want: "X"},
		"non-ascii":   {name: "kundennummer-ä", want: "KUNDENNUMMER_Ä"},
		"punctuation": {name: "!!", want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := upperSnake(tc.name); got != tc.want {
				t.Errorf("upperSnake(%q) = %q, want %q", tc.name, got, tc.want)
			}
		})
	}
}

func TestEstimateTokens(t *testing.T) {
	tests := map[string]struct {
		// chars is the rune count.
		chars int
		// want is the estimate.
		want int
	}{
		"zero":     {chars: 0, want: 0},
		"negative": {chars: -3, want: 0},
		"one":      {chars: 1, want: 1},
		"four":     {chars: 4, want: 1},
		"five":     {chars: 5, want: 2},
		"eight":    {chars: 8, want: 2},
		"large":    {chars: 4001, want: 1001},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := EstimateTokens(tc.chars); got != tc.want {
				t.Errorf("EstimateTokens(%d) = %d, want %d", tc.chars, got, tc.want)
			}
		})
	}
}

func TestSanitizeText(t *testing.T) {
	s := mustNew(t, Policy{
		Detectors: allDetectors,
		Patterns: []Pattern{
			{Name: "employeeId", Regex: `\bEMP-\d{6}\b`},
			{Name: "ticket", Regex: `TCK-(\d+)`},
		},
	})
	in := "EMP-123456 mailed " + testEmail + " about TCK-9 and EMP-654321; card " + testCard
	got, hits, err := s.SanitizeText(in)
	if err != nil {
		t.Fatal(err)
	}
	const want = "[EMPLOYEE_ID] mailed [EMAIL] about [TICKET] and [EMPLOYEE_ID]; card [CREDIT_CARD]"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	wantHits := []Hit{
		{Detector: "Email", Action: Redact, Count: 1},
		{Detector: "CreditCard", Action: Redact, Count: 1},
		{Detector: "employeeId", Action: Redact, Count: 2},
		{Detector: "ticket", Action: Redact, Count: 1},
	}
	if !reflect.DeepEqual(hits, wantHits) {
		t.Errorf("hits = %v, want %v", hits, wantHits)
	}

	clean := "nothing to see"
	got, hits, err = s.SanitizeText(clean)
	if err != nil || got != clean || hits != nil {
		t.Errorf("clean text: got %q, %v, %v", got, hits, err)
	}
}

func TestSanitizeTextBlock(t *testing.T) {
	s := mustNew(t, Policy{Detectors: []Detector{SecretKey}, Action: Block})
	_, _, err := s.SanitizeText("use " + testKey)
	var be *BlockedError
	if !errors.As(err, &be) || be.Detector != "SecretKey" || be.Field != "text" {
		t.Fatalf("got %v, want BlockedError{SecretKey, text}", err)
	}
	if want := "blocked by sanitization policy: SecretKey detected in text"; err.Error() != want {
		t.Errorf("error %q, want %q", err.Error(), want)
	}
}

func TestPatternPriority(t *testing.T) {
	// At the same position the earlier pattern wins; patterns see the text after the detectors.
	s := mustNew(t, Policy{
		Detectors: []Detector{Email},
		Patterns: []Pattern{
			{Name: "short", Regex: `ab`},
			{Name: "long", Regex: `abc`},
			{Name: "tag", Regex: `\[EMAIL\]`},
		},
	})
	got, _, err := s.SanitizeText("abc x@y.com")
	if err != nil {
		t.Fatal(err)
	}
	if want := "[SHORT]c [TAG]"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
