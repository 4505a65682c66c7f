package sanitize

import (
	"regexp"
	"testing"
)

func TestLiteralOf(t *testing.T) {
	tests := map[string]struct {
		// expr is the pattern.
		expr string
		// want is the required literal, "" when none may be used.
		want string
		// fold is whether it is case-insensitive.
		fold bool
	}{
		"plain":                {expr: `EMP-\d{6}`, want: "EMP-"},
		"word boundaries":      {expr: `\bEMP-\d{6}\b`, want: "EMP-"},
		"longest of concat":    {expr: `a\d+project-x`, want: "project-x"},
		"inside capture":       {expr: `(ACME)-\d+`, want: "ACME"},
		"repeat at least once": {expr: `(?:ab){2,}c`, want: "ab"},
		"optional":             {expr: `(?:abc)?\d+`, want: ""},
		"alternation":          {expr: `falcon|osprey`, want: ""},
		"fold":                 {expr: `(?i)project (?:falcon|osprey)`, want: "PROJECT ", fold: true},
		"fold with k":          {expr: `(?i)kelvin`, want: ""},
		"fold with s":          {expr: `(?i)secret`, want: ""},
		"unicode":              {expr: `café \d`, want: "café "},
		"quoted":               {expr: `\Qa.b\E`, want: "a.b"},
		"single byte":          {expr: `x\d+`, want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			lit, ok := literalOf(tc.expr)
			if got := string(lit.text); ok != (tc.want != "") || got != tc.want || lit.fold != tc.fold {
				t.Errorf("literalOf(%q) = %q fold %v ok %v, want %q fold %v", tc.expr, got, lit.fold, ok, tc.want, tc.fold)
			}
		})
	}
}

func TestPrefilterNeverHidesAMatch(t *testing.T) {
	exprs := []string{`\bEMP-\d{6}\b`, `(?i)project (?:falcon|osprey)`, `(ACME)-\d+`, `café \d`, `(?:ab){2,}c`}
	texts := []string{
		"EMP-123456", "emp-123456", "PROJECT FALCON", "Project Osprey", "pRoJeCt falcon", "ACME-1",
		"CAFÉ 1", "café 1", "ababc", "abc", "xx ProJect osprey yy", "project", "",
	}
	for _, expr := range exprs {
		re := regexp.MustCompile(expr)
		lit, ok := literalOf(expr)
		if !ok {
			t.Fatalf("no literal for %q", expr)
		}
		for _, text := range texts {
			if re.MatchString(text) && !lit.in([]byte(text)) {
				t.Errorf("%q matches %q but its literal %q was not found", expr, text, lit.text)
			}
		}
	}
}

func TestPatternsSkippedWithoutLiteral(t *testing.T) {
	tests := map[string]struct {
		// patterns are the user patterns.
		patterns []Pattern
		// text is scanned.
		text string
		// want is whether the patterns must run.
		want bool
	}{
		"literal absent":          {patterns: []Pattern{{Name: "e", Regex: `EMP-\d+`}}, text: "nothing here", want: false},
		"literal present":         {patterns: []Pattern{{Name: "e", Regex: `EMP-\d+`}}, text: "EMP-x", want: true},
		"one pattern lacks":       {patterns: []Pattern{{Name: "e", Regex: `EMP-\d+`}, {Name: "d", Regex: `\d{9}`}}, text: "nothing", want: true},
		"second literal present":  {patterns: []Pattern{{Name: "e", Regex: `EMP-\d+`}, {Name: "t", Regex: `TCK-\d+`}}, text: "a TCK-1", want: true},
		"fold literal any casing": {patterns: []Pattern{{Name: "p", Regex: `(?i)project x`}}, text: "PROJECT X", want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := mustNew(t, Policy{Patterns: tc.patterns})
			if got := s.patternsMayMatch([]byte(tc.text)); got != tc.want {
				t.Errorf("patternsMayMatch = %v, want %v", got, tc.want)
			}
		})
	}
}
