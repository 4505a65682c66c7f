package sanitize

import (
	"bytes"
	"regexp/syntax"
	"unicode/utf8"
)

// requiredLiteral is a string that every match of a pattern contains. Go's regexp engine scans at
// tens of MB/s, while bytes.Index finds a literal at memory speed, so a text that holds none of the
// patterns' literals skips the regexp.
type requiredLiteral struct {
	text []byte
	// fold means ASCII case-insensitive: the literal came from a (?i) part of the pattern.
	fold bool
}

// literalOf returns the longest literal every match of expr must contain, if there is one of at
// least two bytes. Case-folded literals are only used when ASCII folding equals Unicode folding
// for them (no k or s, which also fold to the Kelvin sign and the long s).
func literalOf(expr string) (requiredLiteral, bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return requiredLiteral{}, false
	}
	lit, fold := longestRequired(re.Simplify())
	if len(lit) < 2 {
		return requiredLiteral{}, false
	}
	if fold {
		for _, c := range lit {
			if c >= utf8.RuneSelf || c == 'k' || c == 'K' || c == 's' || c == 'S' {
				return requiredLiteral{}, false
			}
		}
	}
	return requiredLiteral{text: []byte(string(lit)), fold: fold}, true
}

func longestRequired(re *syntax.Regexp) (lit []rune, fold bool) {
	switch re.Op {
	case syntax.OpLiteral:
		return re.Rune, re.Flags&syntax.FoldCase != 0
	case syntax.OpCapture, syntax.OpPlus:
		return longestRequired(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return longestRequired(re.Sub[0])
		}
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if l, f := longestRequired(sub); len(l) > len(lit) {
				lit, fold = l, f
			}
		}
	}
	return lit, fold
}

// in reports whether text contains the literal.
func (l *requiredLiteral) in(text []byte) bool {
	if !l.fold {
		return bytes.Contains(text, l.text)
	}
	first := l.text[0]
	other := first ^ 0x20
	if !isASCIILetter(first) {
		other = first
	}
	for i := 0; i+len(l.text) <= len(text); i++ {
		k := bytes.IndexByte(text[i:], first)
		if other != first {
			if k2 := bytes.IndexByte(text[i:], other); k2 >= 0 && (k < 0 || k2 < k) {
				k = k2
			}
		}
		if k < 0 {
			return false
		}
		i += k
		if i+len(l.text) <= len(text) && equalFoldASCII(text[i:i+len(l.text)], l.text) {
			return true
		}
	}
	return false
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func equalFoldASCII(a, b []byte) bool {
	for i := range a {
		x, y := a[i], b[i]
		if x != y && !(isASCIILetter(x) && x^0x20 == y) {
			return false
		}
	}
	return true
}

// patternsMayMatch reports whether the user patterns need to run on text: false only when every
// pattern has a required literal and none of them occurs in text.
func (s *Sanitizer) patternsMayMatch(text []byte) bool {
	if s.patternLiterals == nil {
		return true
	}
	for i := range s.patternLiterals {
		if s.patternLiterals[i].in(text) {
			return true
		}
	}
	return false
}
