package sanitize

import "unsafe"

// The scanner walks text once, left to right. Most bytes cost one table lookup; a byte that may start
// a match (a digit, '+', '(', '@' or the first letter of a secret prefix) runs the matchers of the
// enabled detectors there. Every matcher reads a bounded number of bytes around its start (a secret
// run is the one unbounded read, handled as an "open" match), which lets StreamFilter run the same
// code over a growing buffer and decide exactly what whole-text scanning would.

// verdict is what a matcher concluded.
type verdict uint8

const (
	vNone  verdict = iota // no match here
	vMatch                // a match
	vMore                 // the text ended before a decision; only when not final
)

// match is one detector match in text[start:end].
type match struct {
	start, end int
	det        detector
	// open is the character class of a secret run that reached the end of non-final text: the
	// match goes on over every following byte of that class.
	open uint16
}

// Character classes.
const (
	clDigit    uint16 = 1 << iota // 0-9
	clAlpha                       // A-Z a-z
	clWord                        // A-Z a-z 0-9 _
	clLocal                       // e-mail local part: A-Z a-z 0-9 . _ % + -
	clLabel                       // domain label: A-Z a-z 0-9 -
	clSecret                      // key characters: A-Z a-z 0-9 _ -
	clBearer                      // RFC 6750 b64token: A-Z a-z 0-9 - . _ ~ + / =
	clJWT                         // JWT: A-Z a-z 0-9 _ - .
	clUpperNum                    // A-Z 0-9
)

var class = func() (t [256]uint16) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		digit := b >= '0' && b <= '9'
		upper := b >= 'A' && b <= 'Z'
		alpha := upper || (b >= 'a' && b <= 'z')
		alnum := digit || alpha
		var k uint16
		if digit {
			k |= clDigit
		}
		if alpha {
			k |= clAlpha
		}
		if alnum || b == '_' {
			k |= clWord | clSecret | clJWT
		}
		if alnum || b == '.' || b == '_' || b == '%' || b == '+' || b == '-' {
			k |= clLocal
		}
		if alnum || b == '-' {
			k |= clLabel | clSecret | clJWT
		}
		if alnum || b == '-' || b == '.' || b == '_' || b == '~' || b == '+' || b == '/' || b == '=' {
			k |= clBearer
		}
		if b == '.' {
			k |= clJWT
		}
		if upper || digit {
			k |= clUpperNum
		}
		t[c] = k
	}
	return t
}()

// Trigger kinds in Sanitizer.trig.
const (
	tDigit uint8 = 1 + iota
	tPlus
	tParen
	tAt
	tSecret
)

// secretFirst are the first letters of the secret formats.
const secretFirst = "srAgxeBb"

func (s *Sanitizer) buildTriggers() {
	if s.enabled(detCreditCard) || s.enabled(detUSSSN) || s.enabled(detPhone) {
		for c := '0'; c <= '9'; c++ {
			s.trig[c] = tDigit
		}
	}
	if s.enabled(detPhone) {
		s.trig['+'] = tPlus
		s.trig['('] = tParen
	}
	if s.enabled(detEmail) {
		s.trig['@'] = tAt
	}
	if s.enabled(detSecret) {
		for i := 0; i < len(secretFirst); i++ {
			s.trig[secretFirst[i]] = tSecret
		}
	}
}

func (s *Sanitizer) enabled(d detector) bool { return s.on&(1<<d) != 0 }

// next finds the first match in text that starts at or after pos (an e-mail may start before pos,
// but never before lastEnd, the end of the previous match). Bytes before pos are context only.
// With final false the text may go on: next then returns vMore, with start set to the position it
// could not decide, as soon as a decision needs bytes past the end.
func (s *Sanitizer) next(text []byte, pos, lastEnd int, final bool) (match, verdict) {
	trig := &s.trig
	i := pos
	// Only the first byte of a word can start a match (or '@' and other non-word bytes), so the
	// loop looks at those and skips the rest of each word.
	if i > 0 && i != lastEnd {
		i = skipWord(text, i, i-1)
	}
	for i < len(text) {
		c := text[i]
		t := trig[c]
		if t == 0 {
			i = skipWord(text, i+1, i)
			continue
		}
		var m match
		var v verdict
		switch t {
		case tDigit:
			if digitStart(text, i, lastEnd) {
				m, v = s.digits(text, i, final)
			}
		case tPlus:
			if wordStart(text, i, lastEnd) {
				m.start, m.det = i, detPhone
				m.end, v = intlPhone(text, i, final)
			}
		case tParen:
			if wordStart(text, i, lastEnd) {
				m.start, m.det = i, detPhone
				m.end, v = nanpPhone(text, i, final)
			}
		case tAt:
			m, v = email(text, i, lastEnd, final)
		case tSecret:
			if (i+1 >= len(text) || secretSecond(c, text[i+1])) && secretStart(text, i, lastEnd) {
				m, v = secret(text, i, final)
			}
		}
		switch v {
		case vMatch:
			return m, vMatch
		case vMore:
			return match{start: i}, vMore
		}
		i = skipWord(text, i+1, i)
	}
	return match{}, vNone
}

// skipWord returns the first position from i that is not inside the word that text[prev] is part
// of: i itself when text[prev] is not a word character.
func skipWord(text []byte, i, prev int) int {
	if class[text[prev]]&clWord == 0 {
		return i
	}
	for i < len(text) && class[text[i]]&clWord != 0 {
		i++
	}
	return i
}

// A redacted match leaves a tag ending in ']' behind, so a position right after a match counts as a
// boundary: scanning the redacted text again finds what scanning the original found.

// wordStart reports whether text[i] is not glued to a preceding word character.
func wordStart(text []byte, i, lastEnd int) bool {
	return i == 0 || i == lastEnd || class[text[i-1]]&clWord == 0
}

// digitStart is wordStart that also refuses the fraction of a decimal number ("3.14159...").
func digitStart(text []byte, i, lastEnd int) bool {
	if i == 0 || i == lastEnd {
		return true
	}
	p := text[i-1]
	if class[p]&clWord != 0 {
		return false
	}
	return !((p == '.' || p == ',') && i-2 >= lastEnd && class[text[i-2]]&clDigit != 0)
}

// secretSecond reports whether c2 may follow c in a secret prefix: a cheap filter for words that
// merely start with the same letter.
func secretSecond(c, c2 byte) bool {
	switch c {
	case 's', 'r':
		return c2 == 'k'
	case 'A':
		return c2 == 'K' || c2 == 'S' || c2 == 'I'
	case 'g':
		return c2 == 'h' || c2 == 'i'
	case 'x':
		return c2 == 'o'
	case 'e':
		return c2 == 'y'
	case 'B', 'b':
		return c2 == 'e' || c2 == 'E'
	}
	return false
}

// secretStart is wordStart that also refuses a hyphenated word ("my-sk-...").
func secretStart(text []byte, i, lastEnd int) bool {
	return wordStart(text, i, lastEnd) && (i == 0 || i == lastEnd || text[i-1] != '-')
}

// peek returns text[j]; past the end it returns 0 (which no matcher accepts) when final, or more.
func peek(text []byte, j int, final bool) (c byte, more bool) {
	if j < len(text) {
		return text[j], false
	}
	return 0, !final
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// digits runs the digit-started detectors at text[i] in priority order: SSN, card, phone.
func (s *Sanitizer) digits(text []byte, i int, final bool) (match, verdict) {
	// The length of the leading digit run rules out most detectors: an SSN and a North American
	// number start with 3 digits (or "1" and a separator), a card with 3-6 or 13-19.
	r := 0
	for i+r < len(text) && isDigit(text[i+r]) && r < 20 {
		r++
	}
	if i+r == len(text) && !final && r < 20 {
		return match{}, vMore
	}
	switch {
	case r == 3:
	case r == 1 && text[i] == '1':
		if s.enabled(detPhone) {
			if end, v := nanpPhone(text, i, final); v != vNone {
				return match{start: i, end: end, det: detPhone}, v
			}
		}
		return match{}, vNone
	case (r >= 4 && r <= 6) || (r >= 13 && r <= 19):
		if s.enabled(detCreditCard) {
			if end, v := card(text, i, final); v != vNone {
				return match{start: i, end: end, det: detCreditCard}, v
			}
		}
		return match{}, vNone
	default:
		return match{}, vNone
	}
	if s.enabled(detUSSSN) {
		if end, v := ssn(text, i, final); v != vNone {
			return match{start: i, end: end, det: detUSSSN}, v
		}
	}
	if s.enabled(detCreditCard) {
		if end, v := card(text, i, final); v != vNone {
			return match{start: i, end: end, det: detCreditCard}, v
		}
	}
	if s.enabled(detPhone) {
		if end, v := nanpPhone(text, i, final); v != vNone {
			return match{start: i, end: end, det: detPhone}, v
		}
	}
	return match{}, vNone
}

// numberEnd checks that a number ends at text[j]: no word character follows, nor a '.', ',' or '-'
// followed by a digit.
func numberEnd(text []byte, j int, final bool) verdict {
	c, more := peek(text, j, final)
	if more {
		return vMore
	}
	if class[c]&clWord != 0 {
		return vNone
	}
	if c == '.' || c == ',' || c == '-' {
		c2, more := peek(text, j+1, final)
		if more {
			return vMore
		}
		if isDigit(c2) {
			return vNone
		}
	}
	return vMatch
}

// fixedDigits reads n digits at text[j].
func fixedDigits(text []byte, j, n int, final bool, dst []byte) verdict {
	for k := 0; k < n; k++ {
		c, more := peek(text, j+k, final)
		if more {
			return vMore
		}
		if !isDigit(c) {
			return vNone
		}
		if dst != nil {
			dst[k] = c - '0'
		}
	}
	return vMatch
}

// ssn matches AAA-GG-SSSS (or with spaces) at text[i].
func ssn(text []byte, i int, final bool) (int, verdict) {
	var d [9]byte
	if v := fixedDigits(text, i, 3, final, d[0:3]); v != vMatch {
		return 0, v
	}
	sep, more := peek(text, i+3, final)
	if more {
		return 0, vMore
	}
	if sep != '-' && sep != ' ' {
		return 0, vNone
	}
	if v := fixedDigits(text, i+4, 2, final, d[3:5]); v != vMatch {
		return 0, v
	}
	c, more := peek(text, i+6, final)
	if more {
		return 0, vMore
	}
	if c != sep {
		return 0, vNone
	}
	if v := fixedDigits(text, i+7, 4, final, d[5:9]); v != vMatch {
		return 0, v
	}
	area := int(d[0])*100 + int(d[1])*10 + int(d[2])
	group := int(d[3])*10 + int(d[4])
	serial := int(d[5])*1000 + int(d[6])*100 + int(d[7])*10 + int(d[8])
	if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
		return 0, vNone
	}
	end := i + 11
	if v := numberEnd(text, end, final); v != vMatch {
		return 0, v
	}
	return end, vMatch
}

// card matches a payment card number at text[i]: the longest run of digit groups with 13-19 digits
// in all that passes the Luhn check.
func card(text []byte, i int, final bool) (int, verdict) {
	if text[i] < '1' || text[i] > '6' {
		return 0, vNone
	}
	var d [19]byte
	n, groups, best := 0, 0, -1
	sized := true // every group has 3-6 digits, as when a card is written in groups
	j := i
	for {
		glen := 0
		for {
			c, more := peek(text, j, final)
			if more {
				return 0, vMore
			}
			if !isDigit(c) {
				break
			}
			if n == len(d) {
				return cardResult(best)
			}
			d[n] = c - '0'
			n++
			glen++
			j++
		}
		groups++
		if glen < 3 || glen > 6 {
			sized = false
		}
		c, _ := peek(text, j, final)
		if class[c]&clWord != 0 {
			break
		}
		if c == '.' || c == ',' {
			c2, more := peek(text, j+1, final)
			if more {
				return 0, vMore
			}
			if isDigit(c2) {
				break
			}
		}
		if n >= 13 && (groups == 1 || sized) && luhn(d[:n]) {
			best = j
		}
		if !sized || (c != ' ' && c != '-') {
			break
		}
		c2, more := peek(text, j+1, final)
		if more {
			return 0, vMore
		}
		if !isDigit(c2) {
			break
		}
		j++
	}
	return cardResult(best)
}

func cardResult(best int) (int, verdict) {
	if best < 0 {
		return 0, vNone
	}
	return best, vMatch
}

// luhn reports whether the digits pass the Luhn checksum.
func luhn(d []byte) bool {
	sum := 0
	double := false
	for k := len(d) - 1; k >= 0; k-- {
		x := int(d[k])
		if double {
			x *= 2
			if x > 9 {
				x -= 9
			}
		}
		sum += x
		double = !double
	}
	return sum%10 == 0
}

func isPhoneSep(c byte) bool { return c == ' ' || c == '-' || c == '.' }

// nanpPhone matches a North American number at text[i]: [1 ]AAA-EEE-LLLL or [1 ](AAA) EEE-LLLL,
// with spaces, dashes or (all) dots between groups.
func nanpPhone(text []byte, i int, final bool) (int, verdict) {
	j := i
	if text[j] == '1' {
		c, more := peek(text, j+1, final)
		if more {
			return 0, vMore
		}
		if isPhoneSep(c) {
			c2, more := peek(text, j+2, final)
			if more {
				return 0, vMore
			}
			if !isDigit(c2) && c2 != '(' {
				return 0, vNone
			}
			j += 2
		}
	}
	var s1 byte
	if text[j] == '(' {
		if v := fixedDigits(text, j+1, 3, final, nil); v != vMatch {
			return 0, v
		}
		c, more := peek(text, j+4, final)
		if more {
			return 0, vMore
		}
		if c != ')' {
			return 0, vNone
		}
		j += 5
		c, more = peek(text, j, final)
		if more {
			return 0, vMore
		}
		if c == ' ' || c == '-' {
			j++
		}
	} else {
		if v := fixedDigits(text, j, 3, final, nil); v != vMatch {
			return 0, v
		}
		c, more := peek(text, j+3, final)
		if more {
			return 0, vMore
		}
		if !isPhoneSep(c) {
			return 0, vNone
		}
		s1 = c
		j += 4
	}
	if v := fixedDigits(text, j, 3, final, nil); v != vMatch {
		return 0, v
	}
	s2, more := peek(text, j+3, final)
	if more {
		return 0, vMore
	}
	if !isPhoneSep(s2) || (s1 != 0 && (s1 == '.') != (s2 == '.')) {
		return 0, vNone
	}
	j += 4
	if v := fixedDigits(text, j, 4, final, nil); v != vMatch {
		return 0, v
	}
	j += 4
	if v := numberEnd(text, j, final); v != vMatch {
		return 0, v
	}
	return j, vMatch
}

// intlPhone matches "+" and 8-15 digits in groups split by single spaces, dashes or dots, or
// parenthesised ("+44 (0)20 7946 0958"), at text[i]: the longest such prefix.
func intlPhone(text []byte, i int, final bool) (int, verdict) {
	c, more := peek(text, i+1, final)
	if more {
		return 0, vMore
	}
	if c < '1' || c > '9' {
		return 0, vNone
	}
	j := i + 1
	n, best := 0, -1
	for {
		c, more := peek(text, j, final)
		if more {
			return 0, vMore
		}
		if c == '(' {
			k := 0
			j++
			for {
				c, more = peek(text, j, final)
				if more {
					return 0, vMore
				}
				if !isDigit(c) {
					break
				}
				k++
				n++
				j++
				if k > 4 || n > 15 {
					return phoneResult(best)
				}
			}
			if k == 0 || c != ')' {
				return phoneResult(best)
			}
			j++
			c, more = peek(text, j, final)
			if more {
				return 0, vMore
			}
			if c == ' ' || c == '-' {
				c2, more := peek(text, j+1, final)
				if more {
					return 0, vMore
				}
				if !isDigit(c2) {
					return phoneResult(best)
				}
				j++
				continue
			}
			if !isDigit(c) {
				return phoneResult(best)
			}
			continue
		}
		for isDigit(c) {
			n++
			if n > 15 {
				return phoneResult(best)
			}
			j++
			c, more = peek(text, j, final)
			if more {
				return 0, vMore
			}
		}
		if class[c]&clWord != 0 {
			return phoneResult(best)
		}
		var c2 byte
		if c == ',' || isPhoneSep(c) {
			c2, more = peek(text, j+1, final)
			if more {
				return 0, vMore
			}
			if c == ',' && isDigit(c2) {
				return phoneResult(best)
			}
		}
		if n >= 8 {
			best = j
		}
		switch {
		case isPhoneSep(c) && (isDigit(c2) || c2 == '('):
			j++
		case c == '(':
		default:
			return phoneResult(best)
		}
	}
}

func phoneResult(best int) (int, verdict) { return cardResult(best) }

// email matches an address around the '@' at text[at]. The local part runs back at most 64
// characters and never before lastEnd.
func email(text []byte, at, lastEnd int, final bool) (match, verdict) {
	floor := max(lastEnd, at-64)
	ls := at
	for ls > floor && class[text[ls-1]]&clLocal != 0 {
		ls--
	}
	for ls < at && text[ls] == '.' {
		ls++
	}
	if ls == at {
		return match{}, vNone
	}
	j := at + 1
	labels, best := 0, -1
	for {
		start := j
		alpha := true
		for {
			c, more := peek(text, j, final)
			if more {
				return match{}, vMore
			}
			k := class[c]
			if k&clLabel == 0 {
				break
			}
			if k&clAlpha == 0 {
				alpha = false
			}
			j++
			if j-at-1 > 253 {
				return match{}, vNone
			}
		}
		if j == start {
			break
		}
		labels++
		if labels >= 2 && alpha && j-start >= 2 {
			best = j
		}
		c, _ := peek(text, j, final)
		if c != '.' {
			break
		}
		c2, more := peek(text, j+1, final)
		if more {
			return match{}, vMore
		}
		if class[c2]&clLabel == 0 {
			break
		}
		j++
	}
	if best < 0 {
		return match{}, vNone
	}
	return match{start: ls, end: best, det: detEmail}, vMatch
}

// secretFormat is a secret that starts with a fixed prefix.
type secretFormat struct {
	prefix string
	// min is the least number of class characters after the prefix; the match runs to the end of
	// the run. When exact is set the run must be exactly min long and not followed by an endClass byte.
	min      int
	class    uint16
	exact    bool
	endClass uint16
}

var secretFormats = []secretFormat{
	{prefix: "sk-", min: 20, class: clSecret},
	{prefix: "sk_live_", min: 20, class: clSecret},
	{prefix: "sk_test_", min: 20, class: clSecret},
	{prefix: "rk_live_", min: 20, class: clSecret},
	{prefix: "rk_test_", min: 20, class: clSecret},
	{prefix: "AKIA", min: 16, class: clUpperNum, exact: true, endClass: clWord},
	{prefix: "ASIA", min: 16, class: clUpperNum, exact: true, endClass: clWord},
	{prefix: "AIza", min: 35, class: clSecret, exact: true, endClass: clSecret},
	{prefix: "ghp_", min: 30, class: clSecret},
	{prefix: "gho_", min: 30, class: clSecret},
	{prefix: "ghu_", min: 30, class: clSecret},
	{prefix: "ghs_", min: 30, class: clSecret},
	{prefix: "ghr_", min: 30, class: clSecret},
	{prefix: "github_pat_", min: 30, class: clSecret},
	{prefix: "xoxa-", min: 10, class: clSecret},
	{prefix: "xoxb-", min: 10, class: clSecret},
	{prefix: "xoxe-", min: 10, class: clSecret},
	{prefix: "xoxp-", min: 10, class: clSecret},
	{prefix: "xoxr-", min: 10, class: clSecret},
	{prefix: "xoxs-", min: 10, class: clSecret},
}

const (
	jwtMinSegment   = 8    // characters after "eyJ" in the header
	jwtMaxHeader    = 1024 // longest header looked through for the '.'
	bearerMinToken  = 16
	bearerDigitSpan = 256 // a bearer token must have a digit within this many characters
	bearerMaxSpaces = 8
)

// prefixAt compares text[i:] with p (case-insensitively for letters when fold is set).
func prefixAt(text []byte, i int, p string, fold, final bool) verdict {
	for k := 0; k < len(p); k++ {
		c, more := peek(text, i+k, final)
		if more {
			return vMore
		}
		if fold && c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != p[k] {
			return vNone
		}
	}
	return vMatch
}

// run matches at least min bytes of class cl at text[j], through to the end of the run. A long enough
// run that reaches the end of non-final text is an open match.
func run(text []byte, j, min int, cl uint16, final bool) (end int, open uint16, v verdict) {
	k := j
	for k < len(text) && class[text[k]]&cl != 0 {
		k++
	}
	switch {
	case k < len(text) || final:
		if k-j < min {
			return 0, 0, vNone
		}
		return k, 0, vMatch
	case k-j >= min:
		return k, cl, vMatch
	}
	return 0, 0, vMore
}

// secret matches a secret format at text[i].
func secret(text []byte, i int, final bool) (match, verdict) {
	c := text[i]
	if c == 'B' || c == 'b' {
		return bearer(text, i, final)
	}
	if c == 'e' {
		return jwt(text, i, final)
	}
	sawMore := false
	for fi := range secretFormats {
		f := &secretFormats[fi]
		if f.prefix[0] != c {
			continue
		}
		switch prefixAt(text, i, f.prefix, false, final) {
		case vMore:
			sawMore = true
			continue
		case vNone:
			continue
		}
		j := i + len(f.prefix)
		if f.exact {
			for k := 0; k < f.min; k++ {
				c, more := peek(text, j+k, final)
				if more {
					return match{}, vMore
				}
				if class[c]&f.class == 0 {
					return match{}, vNone
				}
			}
			end := j + f.min
			c, more := peek(text, end, final)
			if more {
				return match{}, vMore
			}
			if class[c]&f.endClass != 0 {
				return match{}, vNone
			}
			return match{start: i, end: end, det: detSecret}, vMatch
		}
		end, open, v := run(text, j, f.min, f.class, final)
		return match{start: i, end: end, det: detSecret, open: open}, v
	}
	if sawMore {
		return match{}, vMore
	}
	return match{}, vNone
}

// jwt matches eyJ<header>.eyJ<payload>[.<signature>] at text[i].
func jwt(text []byte, i int, final bool) (match, verdict) {
	if v := prefixAt(text, i, "eyJ", false, final); v != vMatch {
		return match{}, v
	}
	j := i + 3
	for {
		c, more := peek(text, j, final)
		if more {
			return match{}, vMore
		}
		if class[c]&clSecret == 0 {
			if c != '.' || j-i-3 < jwtMinSegment {
				return match{}, vNone
			}
			break
		}
		j++
		if j-i > jwtMaxHeader {
			return match{}, vNone
		}
	}
	if v := prefixAt(text, j+1, "eyJ", false, final); v != vMatch {
		return match{}, v
	}
	end, open, v := run(text, j+4, 0, clJWT, final)
	return match{start: i, end: end, det: detSecret, open: open}, v
}

// bearer matches the token after "Bearer " at text[i]; the match covers the token only.
func bearer(text []byte, i int, final bool) (match, verdict) {
	if v := prefixAt(text, i, "bearer", true, final); v != vMatch {
		return match{}, v
	}
	j := i + 6
	for {
		c, more := peek(text, j, final)
		if more {
			return match{}, vMore
		}
		if c != ' ' && c != '\t' {
			break
		}
		j++
		if j-i-6 > bearerMaxSpaces {
			return match{}, vNone
		}
	}
	if j == i+6 {
		return match{}, vNone
	}
	k := j
	digit := false
	for {
		if k >= len(text) {
			if final {
				break
			}
			if digit && k-j >= bearerMinToken {
				return match{start: j, end: k, det: detSecret, open: clBearer}, vMatch
			}
			return match{}, vMore
		}
		cl := class[text[k]]
		if cl&clBearer == 0 {
			break
		}
		if cl&clDigit != 0 {
			digit = true
		}
		k++
		if !digit && k-j >= bearerDigitSpan {
			return match{}, vNone
		}
	}
	if !digit || k-j < bearerMinToken {
		return match{}, vNone
	}
	return match{start: j, end: k, det: detSecret}, vMatch
}

// bytesOf views s as bytes without copying; the result must not be written.
func bytesOf(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
