package sanitize

import (
	"errors"
	"strings"
	"testing"
)

// streamTexts mix every detector, near misses and ordinary prose.
var streamTexts = []string{
	"card 4111 1111 1111 1111 thanks, and 4111 1111 1111 1112 is not one",
	"ssn 123-45-6789; call +44 20 7946 0958 or (555) 123-4567 or 1-800-555-1234.",
	"mail john.doe+tag@example.co.uk, or x@y.io. ping @alice",
	"key sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z AKIAIOSFODNN7EXAMPLE ghp_16C7e42F292c6912E7710c838347Ae178B4a",
	"Authorization: Bearer abcdef0123456789xyz\nBearer tokens are fine",
	"jwt eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U ok",
	"sk-abcdefghijklmnopqrstuvwxyz+15551234567 4111111111111111.x@y.com",
	"卡号4111111111111111。 héllo wörld 😀 " + testEmail,
	strings.Join(benchTurns, "\n"),
}

func TestStreamFilterMatchesWholeText(t *testing.T) {
	s := mustNew(t, Policy{Detectors: allDetectors})
	for i, text := range streamTexts {
		want, _, err := s.SanitizeText(text)
		if err != nil {
			t.Fatal(err)
		}
		// Every two-way split, and byte-by-byte deltas.
		for cut := 0; cut <= len(text); cut++ {
			if got := streamThrough(s, text[:cut], text[cut:]); got != want {
				t.Fatalf("text %d split at %d:\n got  %q\n want %q", i, cut, got, want)
			}
		}
		var deltas []string
		for k := 0; k < len(text); k++ {
			deltas = append(deltas, text[k:k+1])
		}
		if got := streamThrough(s, deltas...); got != want {
			t.Fatalf("text %d byte by byte:\n got  %q\n want %q", i, got, want)
		}
	}
}

func streamThrough(s *Sanitizer, deltas ...string) string {
	f := s.NewStreamFilter()
	var b strings.Builder
	for _, d := range deltas {
		b.WriteString(f.Write(d))
	}
	b.WriteString(f.Flush())
	return b.String()
}

func TestStreamFilterHoldsBackLittle(t *testing.T) {
	tests := map[string]struct {
		// detectors are the enabled detectors.
		detectors []Detector
		// deltas are written in order.
		deltas []string
		// want is what the writes return in all, before Flush.
		want string
	}{
		"words go out once they end": {
			detectors: allDetectors,
			deltas:    []string{"Hello", " wor", "ld, how", " are you"},
			want:      "Hello world, how are ",
		},
		"without e-mail words go out at once": {
			detectors: []Detector{CreditCard, PhoneNumber},
			deltas:    []string{"Hello", " wor", "ld"},
			want:      "Hello world",
		},
		"candidate card held until decided": {
			detectors: allDetectors,
			deltas:    []string{"pay 4111 1111", " 1111 11"},
			want:      "pay ",
		},
		"decided card goes out": {
			detectors: allDetectors,
			deltas:    []string{"pay 4111 1111", " 1111 1111", " now"},
			want:      "pay [CREDIT_CARD] ",
		},
		"recognised secret is replaced before it ends": {
			detectors: allDetectors,
			deltas:    []string{"key sk-abcdefghij", "klmnopqrstuvwxyz0123", "456789"},
			want:      "key [SECRET_KEY]",
		},
		"split rune held": {
			detectors: []Detector{CreditCard},
			deltas:    []string{"caf\xc3"},
			want:      "caf",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := mustNew(t, Policy{Detectors: tc.detectors}).NewStreamFilter()
			var b strings.Builder
			for _, d := range tc.deltas {
				b.WriteString(f.Write(d))
			}
			if got := b.String(); got != tc.want {
				t.Errorf("written %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStreamFilterBoundedBuffer(t *testing.T) {
	s := mustNew(t, Policy{Detectors: allDetectors})
	f := s.NewStreamFilter()
	var b strings.Builder
	b.WriteString(f.Write("key sk-"))
	// A very long key run, then ordinary words and digits, in small deltas.
	for k := 0; k < 2000; k++ {
		b.WriteString(f.Write("abcdefgh0123"))
		if len(f.buf) > 256 {
			t.Fatalf("buffer grew to %d bytes inside a secret run", len(f.buf))
		}
	}
	for k := 0; k < 2000; k++ {
		b.WriteString(f.Write(" word 12 "))
		if len(f.buf) > 256 {
			t.Fatalf("buffer grew to %d bytes on prose", len(f.buf))
		}
	}
	b.WriteString(f.Flush())
	want := "key [SECRET_KEY]" + strings.Repeat(" word 12 ", 2000)
	if b.String() != want {
		t.Errorf("output differs: %.60q...", b.String())
	}
}

func TestStreamFilterBlock(t *testing.T) {
	s := mustNew(t, Policy{Detectors: []Detector{SecretKey}, Action: Block})
	f := s.NewStreamFilter()
	out := f.Write("here: "+testKey+" done") + f.Flush()
	if strings.Contains(out, testKey) {
		t.Errorf("blocked secret went out: %q", out)
	}
	var be *BlockedError
	if !errors.As(f.Err(), &be) || be.Detector != "SecretKey" || be.Field != "output" {
		t.Errorf("Err() = %v, want BlockedError{SecretKey, output}", f.Err())
	}
	if hits := f.Hits(); len(hits) != 1 || hits[0].Count != 1 {
		t.Errorf("Hits() = %v", hits)
	}
	if err := s.NewStreamFilter().Err(); err != nil {
		t.Errorf("fresh filter Err() = %v", err)
	}
}

func TestStreamFilterPatterns(t *testing.T) {
	s := mustNew(t, Policy{Detectors: allDetectors, Patterns: []Pattern{{Name: "employeeId", Regex: `\bEMP-\d{6}\b`}}})
	text := strings.Repeat("The employee EMP-123456 wrote to "+testEmail+". ", 20)
	want, _, err := s.SanitizeText(text)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{1, 3, 7, 64, 1000} {
		var deltas []string
		for k := 0; k < len(text); k += size {
			deltas = append(deltas, text[k:min(k+size, len(text))])
		}
		if got := streamThrough(s, deltas...); got != want {
			t.Errorf("deltas of %d:\n got  %q\n want %q", size, got, want)
		}
	}
}

func TestStreamFilterNoPolicy(t *testing.T) {
	f := mustNew(t, Policy{}).NewStreamFilter()
	if got := f.Write("4111 1111 1111 1111"); got != "4111 1111 1111 1111" {
		t.Errorf("Write = %q", got)
	}
	if got := f.Flush(); got != "" {
		t.Errorf("Flush = %q", got)
	}
}

func TestStreamFilterReuseAfterFlush(t *testing.T) {
	s := mustNew(t, Policy{Detectors: allDetectors})
	f := s.NewStreamFilter()
	first := f.Write("a "+testEmail) + f.Flush()
	second := f.Write("b "+testCard) + f.Flush()
	if first != "a [EMAIL]" || second != "b [CREDIT_CARD]" {
		t.Errorf("got %q, %q", first, second)
	}
}
