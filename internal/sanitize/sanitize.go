// Package sanitize finds sensitive data in the text of OpenAI-style API requests and in streamed
// completions, and redacts it or refuses the request, as a Policy says.
//
// Built-in detectors are hand-written scanners (no regular expressions), so that a request with no
// match costs one pass over its text and no allocation:
//
//   - CreditCard: 13-19 digits, whole or in groups of 3-6 split by single spaces or dashes, first digit
//     1-6 (the payment-card industry identifiers), passing the Luhn check, not part of a longer digit run
//     or decimal number. Tag [CREDIT_CARD].
//   - USSSN: AAA-GG-SSSS (dashes or spaces) outside the ranges the SSA never issues (area 000, 666 and
//     9xx, group 00, serial 0000). Nine bare digits are not matched. Tag [US_SSN].
//   - Email: local@domain with a local part of [A-Za-z0-9._%+-] (of a longer run only the 64
//     characters before the '@' are taken) and a domain of at least two labels ending in an alphabetic
//     top-level label, at most 253 characters. Tag [EMAIL].
//   - PhoneNumber: North American numbers (555-123-4567, 555.123.4567, (555) 123-4567, 1-800-555-1234)
//     and international numbers written with a leading plus (+44 20 7946 0958, +15551234567: 8-15
//     digits). Bare digit runs and dates are not matched. Tag [PHONE_NUMBER].
//   - SecretKey: OpenAI and Anthropic keys (sk-..., sk-proj-..., sk-ant-...), Stripe keys (sk_live_,
//     sk_test_, rk_live_, rk_test_), AWS access key IDs (AKIA/ASIA + 16), Google API keys (AIza + 35),
//     GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_), Slack tokens (xoxb- ...), JSON Web
//     Tokens (eyJ...eyJ...) and the token after "Bearer " (at least 16 token characters, one a digit).
//     Tag [SECRET_KEY]; for a bearer token only the token is replaced.
//
// User patterns are RE2 expressions applied, in order of priority, to the text after the built-in
// detectors ran; their tag is the pattern name in upper snake case ("employeeId" -> [EMPLOYEE_ID]).
// They run on Go's regexp engine (tens of MB/s), but only on text that contains a literal each
// pattern requires (such as "EMP-" in `\bEMP-\d{6}\b`), found at memory speed; a pattern without
// such a literal makes every text go through the regexp.
//
// The Block action refuses the whole request with a *BlockedError that names the detector and the
// JSON field, never the matched text. Length limits give a *LimitError; a body that is not valid JSON
// or not of the operation's shape gives a *BadRequestError.
//
// A Sanitizer is immutable and safe for concurrent use. A StreamFilter is not: use one per stream.
package sanitize

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode"
)

// Action is what happens when a detector or pattern matches.
type Action string

// The actions.
const (
	// Redact replaces each match with its tag and lets the request through.
	Redact Action = "Redact"
	// Block refuses the whole request.
	Block Action = "Block"
)

// Detector names a built-in detector.
type Detector string

// The built-in detectors.
const (
	// CreditCard finds Luhn-valid payment card numbers.
	CreditCard Detector = "CreditCard"
	// USSSN finds US social security numbers.
	USSSN Detector = "USSSN"
	// Email finds e-mail addresses.
	Email Detector = "Email"
	// PhoneNumber finds North American and plus-prefixed international phone numbers.
	PhoneNumber Detector = "PhoneNumber"
	// SecretKey finds well-known API key and token formats.
	SecretKey Detector = "SecretKey"
)

// Pattern is a user-defined detector.
type Pattern struct {
	// Name identifies the pattern in hits and errors; its upper snake case form is the redaction tag.
	Name string
	// Regex is an RE2 regular expression (Go regexp syntax). It must not match the empty string.
	Regex string
	// Action overrides the policy's default action; "" means the policy default.
	Action Action
}

// Policy is what the proxy configuration asks the sanitizer to do.
type Policy struct {
	// MaxPromptChars refuses requests whose text fields hold more runes than this; 0 means no limit.
	MaxPromptChars int
	// MaxPromptTokens refuses requests whose EstimateTokens of the runes exceeds this; 0 means no limit.
	MaxPromptTokens int
	// Detectors are the built-in detectors to run; none when empty.
	Detectors []Detector
	// Patterns are user detectors, run after the built-in ones.
	Patterns []Pattern
	// Action is the default action for detectors and patterns; "" means Redact.
	Action Action
}

// Hit counts the matches of one detector or pattern.
type Hit struct {
	// Detector is the built-in detector name (e.g. "CreditCard") or the user pattern's name.
	Detector string
	// Action is what was done with the matches.
	Action Action
	// Count is the number of matches.
	Count int
}

// Result describes what SanitizeRequest saw and did.
type Result struct {
	// Hits lists the detectors and patterns that matched, in the order they first matched; nil when none.
	Hits []Hit
	// Chars is the number of runes in all covered text fields, before redaction.
	Chars int
	// EstimatedTokens is EstimateTokens(Chars), what the proxy reserves against token limits.
	EstimatedTokens int
}

// BlockedError refuses a request in which a detector or pattern with the Block action matched.
type BlockedError struct {
	// Detector is the built-in detector name or the pattern name that matched.
	Detector string
	// Field is the JSON path of the text field, e.g. "messages[1].content", or "text"/"output" outside requests.
	Field string
}

// Error names the detector and the field; it never contains the matched text.
func (e *BlockedError) Error() string {
	return fmt.Sprintf("blocked by sanitization policy: %s detected in %s", e.Detector, e.Field)
}

// LimitError refuses a request whose text exceeds a length limit.
type LimitError struct {
	// Field is the policy field whose limit was exceeded: "maxPromptChars" or "maxPromptTokens".
	Field string
	// Limit is the configured limit.
	Limit int
	// Actual is the request's character count or estimated token count.
	Actual int
}

// Error says which limit was exceeded and by how much.
func (e *LimitError) Error() string {
	unit := "characters"
	if e.Field == "maxPromptTokens" {
		unit = "estimated tokens"
	}
	return fmt.Sprintf("prompt has %d %s, over the %s limit of %d", e.Actual, unit, e.Field, e.Limit)
}

// BadRequestError reports a request body that is not valid JSON or not of the operation's shape.
type BadRequestError struct {
	// Field is the JSON path where the problem is, e.g. "messages[0].content"; "" for the body itself.
	Field string
	// Reason says what is wrong.
	Reason string
}

// Error is "<field>: <reason>".
func (e *BadRequestError) Error() string {
	if e.Field == "" {
		return "request body: " + e.Reason
	}
	return e.Field + ": " + e.Reason
}

// ErrUnsupportedOperation is returned (wrapped) by SanitizeRequest for an operation it does not know.
var ErrUnsupportedOperation = errors.New("unsupported operation")

// EstimateTokens estimates the tokens of a prompt of chars runes with the usual heuristic of about four
// characters per token for English text, rounded up: EstimateTokens(1) == 1, EstimateTokens(8) == 2.
// Non-positive counts give 0.
func EstimateTokens(chars int) int {
	if chars <= 0 {
		return 0
	}
	return (chars + 3) / 4
}

// detector indexes the built-in detectors; it is also the rule index of each.
type detector uint8

const (
	detCreditCard detector = iota
	detUSSSN
	detEmail
	detPhone
	detSecret
	numDetectors
)

var detectorInfo = [numDetectors]struct {
	name Detector
	tag  string
}{
	detCreditCard: {CreditCard, "[CREDIT_CARD]"},
	detUSSSN:      {USSSN, "[US_SSN]"},
	detEmail:      {Email, "[EMAIL]"},
	detPhone:      {PhoneNumber, "[PHONE_NUMBER]"},
	detSecret:     {SecretKey, "[SECRET_KEY]"},
}

// rule is one detector or pattern as configured.
type rule struct {
	name   string
	tag    string
	action Action
}

// Sanitizer applies one Policy. Build it with New.
type Sanitizer struct {
	// on has bit 1<<d set for each enabled built-in detector d.
	on uint8
	// trig maps a byte to the trigger kind it may start (0: none), for the enabled detectors.
	trig [256]uint8
	// rules holds the built-in detectors at their detector index, then the patterns in order.
	rules []rule
	// patterns is the alternation of all user patterns, each wrapped in a capture group; nil if none.
	patterns *regexp.Regexp
	// patternGroups is the capture group index wrapping each user pattern in patterns.
	patternGroups []int
	// patternLiterals holds a required literal of each pattern, or is nil when some pattern has none.
	patternLiterals []requiredLiteral
	maxChars        int
	maxTokens       int
}

// New validates p and builds its Sanitizer. Errors name the offending policy field, e.g.
// `patterns[2].regex: error parsing regexp: ...` or `detectors[0]: unknown detector "IBAN"`.
func New(p Policy) (*Sanitizer, error) {
	def, err := checkAction(p.Action, "action", Redact)
	if err != nil {
		return nil, err
	}
	if p.MaxPromptChars < 0 {
		return nil, fmt.Errorf("maxPromptChars: must not be negative, got %d", p.MaxPromptChars)
	}
	if p.MaxPromptTokens < 0 {
		return nil, fmt.Errorf("maxPromptTokens: must not be negative, got %d", p.MaxPromptTokens)
	}
	s := &Sanitizer{maxChars: p.MaxPromptChars, maxTokens: p.MaxPromptTokens}
	s.rules = make([]rule, numDetectors, int(numDetectors)+len(p.Patterns))
	for d := detector(0); d < numDetectors; d++ {
		s.rules[d] = rule{name: string(detectorInfo[d].name), tag: detectorInfo[d].tag, action: def}
	}
	for i, name := range p.Detectors {
		d, ok := detectorByName(name)
		if !ok {
			return nil, fmt.Errorf("detectors[%d]: unknown detector %q (want one of CreditCard, USSSN, Email, PhoneNumber, SecretKey)", i, string(name))
		}
		s.on |= 1 << d
	}
	s.buildTriggers()

	if len(p.Patterns) > 0 {
		var alt strings.Builder
		group := 1
		seen := make(map[string]int, len(p.Patterns))
		for i, pat := range p.Patterns {
			field := fmt.Sprintf("patterns[%d]", i)
			if pat.Name == "" {
				return nil, fmt.Errorf("%s.name: must not be empty", field)
			}
			if _, ok := detectorByName(Detector(pat.Name)); ok {
				return nil, fmt.Errorf("%s.name: %q is the name of a built-in detector", field, pat.Name)
			}
			if j, ok := seen[pat.Name]; ok {
				return nil, fmt.Errorf("%s.name: %q is already the name of patterns[%d]", field, pat.Name, j)
			}
			seen[pat.Name] = i
			tag := upperSnake(pat.Name)
			if tag == "" {
				return nil, fmt.Errorf("%s.name: %q has no letter or digit to make a tag of", field, pat.Name)
			}
			if pat.Regex == "" {
				return nil, fmt.Errorf("%s.regex: must not be empty", field)
			}
			re, err := regexp.Compile(pat.Regex)
			if err != nil {
				return nil, fmt.Errorf("%s.regex: %w", field, err)
			}
			if re.MatchString("") {
				return nil, fmt.Errorf("%s.regex: matches the empty string", field)
			}
			act, err := checkAction(pat.Action, field+".action", def)
			if err != nil {
				return nil, err
			}
			s.rules = append(s.rules, rule{name: pat.Name, tag: "[" + tag + "]", action: act})
			if i > 0 {
				alt.WriteByte('|')
			}
			alt.WriteString("(")
			alt.WriteString(pat.Regex)
			alt.WriteString(")")
			s.patternGroups = append(s.patternGroups, group)
			group += 1 + re.NumSubexp()
			if lit, ok := literalOf(pat.Regex); ok && (i == 0 || s.patternLiterals != nil) {
				s.patternLiterals = append(s.patternLiterals, lit)
			} else {
				s.patternLiterals = nil
			}
		}
		re, err := regexp.Compile(alt.String())
		if err != nil {
			// Each pattern compiled alone; their alternation can only fail on size limits.
			return nil, fmt.Errorf("patterns: %w", err)
		}
		s.patterns = re
	}
	return s, nil
}

func checkAction(a Action, field string, def Action) (Action, error) {
	switch a {
	case "":
		return def, nil
	case Redact, Block:
		return a, nil
	}
	return "", fmt.Errorf("%s: unknown action %q (want Redact or Block)", field, string(a))
}

func detectorByName(name Detector) (detector, bool) {
	for d := detector(0); d < numDetectors; d++ {
		if detectorInfo[d].name == name {
			return d, true
		}
	}
	return 0, false
}

// upperSnake turns a pattern name into its tag text: "employeeId" and "employee-id" give
// "EMPLOYEE_ID", "ACMEProject" gives "ACME_PROJECT".
func upperSnake(name string) string {
	rs := []rune(name)
	var b strings.Builder
	sep := false
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			sep = true
			continue
		}
		if b.Len() > 0 {
			boundary := sep
			if !boundary && unicode.IsUpper(r) {
				prev := rs[i-1]
				boundary = unicode.IsLower(prev) || unicode.IsDigit(prev) ||
					(unicode.IsUpper(prev) && i+1 < len(rs) && unicode.IsLower(rs[i+1]))
			}
			if boundary {
				b.WriteByte('_')
			}
		}
		sep = false
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// scratch holds the buffers one sanitization call reuses.
type scratch struct {
	dec  []byte // unescaped JSON string
	red  []byte // text after built-in detectors
	red2 []byte // text after user patterns
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// maxPooledBuffer keeps one huge request from pinning its buffers in the pool.
const maxPooledBuffer = 1 << 20

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(sc *scratch) {
	if cap(sc.dec) > maxPooledBuffer || cap(sc.red) > maxPooledBuffer || cap(sc.red2) > maxPooledBuffer {
		return
	}
	scratchPool.Put(sc)
}

// addHit counts one match of rule r.
func addHit(hits *[]Hit, r *rule) {
	for i := range *hits {
		if (*hits)[i].Detector == r.name {
			(*hits)[i].Count++
			return
		}
	}
	*hits = append(*hits, Hit{Detector: r.name, Action: r.action, Count: 1})
}

// sanitize runs the built-in detectors, then the user patterns, over text. It returns the redacted
// text (text itself, or a buffer of sc, when nothing changed or something did) and whether it changed.
// A match whose rule blocks stops it and returns that rule's index as blocked (otherwise -1).
func (s *Sanitizer) sanitize(text []byte, sc *scratch, hits *[]Hit) (out []byte, changed bool, blocked int) {
	cur := text
	if s.on != 0 {
		dst := sc.red[:0]
		pos := 0
		for {
			m, v := s.next(text, pos, pos, true)
			if v != vMatch {
				break
			}
			r := &s.rules[m.det]
			addHit(hits, r)
			if r.action == Block {
				return nil, false, int(m.det)
			}
			dst = append(dst, text[pos:m.start]...)
			dst = append(dst, r.tag...)
			pos = m.end
			changed = true
		}
		if changed {
			dst = append(dst, text[pos:]...)
			sc.red = dst
			cur = dst
		}
	}
	if s.patterns != nil && s.patternsMayMatch(cur) && s.patterns.Match(cur) {
		dst := sc.red2[:0]
		last := 0
		matched := false
		for _, loc := range s.patterns.FindAllSubmatchIndex(cur, -1) {
			if loc[0] == loc[1] {
				continue
			}
			k := s.whichPattern(loc)
			r := &s.rules[int(numDetectors)+k]
			addHit(hits, r)
			if r.action == Block {
				return nil, false, int(numDetectors) + k
			}
			dst = append(dst, cur[last:loc[0]]...)
			dst = append(dst, r.tag...)
			last = loc[1]
			matched = true
		}
		if matched {
			dst = append(dst, cur[last:]...)
			sc.red2 = dst
			cur = dst
			changed = true
		}
	}
	return cur, changed, -1
}

// whichPattern returns the index of the user pattern whose wrapping group took part in match loc.
func (s *Sanitizer) whichPattern(loc []int) int {
	for k, g := range s.patternGroups {
		if loc[2*g] >= 0 {
			return k
		}
	}
	return 0
}

// SanitizeText redacts s as one text field. A Block match gives a *BlockedError whose Field is "text".
// The returned string is s itself when nothing was redacted.
func (s *Sanitizer) SanitizeText(text string) (string, []Hit, error) {
	var hits []Hit
	sc := getScratch()
	defer putScratch(sc)
	out, changed, blocked := s.sanitize(bytesOf(text), sc, &hits)
	if blocked >= 0 {
		return "", hits, &BlockedError{Detector: s.rules[blocked].name, Field: "text"}
	}
	if !changed {
		return text, hits, nil
	}
	return string(out), hits, nil
}
