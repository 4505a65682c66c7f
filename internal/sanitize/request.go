package sanitize

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The operations SanitizeRequest knows, as OpenAI paths (a "/v1" prefix is also accepted).
const (
	OperationChatCompletions = "/chat/completions"
	OperationCompletions     = "/completions"
	OperationEmbeddings      = "/embeddings"
	OperationResponses       = "/responses"
)

// maxDepth bounds JSON nesting, as encoding/json does.
const maxDepth = 10000

// SanitizeRequest checks and redacts the text fields of an OpenAI-style request body for operation
// (one of the Operation constants). The text fields are:
//
//   - /chat/completions: messages[].content (a string, or parts whose "text" is scanned; image, audio
//     and file parts pass), messages[].name, messages[].tool_calls[].function.arguments,
//     messages[].function_call.arguments and prediction.content;
//   - /completions: prompt (a string or an array of strings; token arrays pass);
//   - /embeddings: input (a string or an array of strings; token arrays pass);
//   - /responses: instructions, and input as a string or an array of items whose content or output
//     is a string or an array of parts with "text", and whose arguments is a string.
//
// Keys match case-insensitively, as encoding/json matches them, so a differently cased duplicate
// cannot carry text past the scan. The whole body is validated as JSON; every other byte is kept.
//
// When nothing is redacted out is body itself (no copy); otherwise out is a new body in which only
// the redacted strings differ. A Block match returns *BlockedError, an exceeded limit *LimitError,
// a malformed body *BadRequestError; res is filled as far as the scan went.
func (s *Sanitizer) SanitizeRequest(operation string, body []byte) (out []byte, res Result, err error) {
	op := strings.TrimPrefix(operation, "/v1")
	switch op {
	case OperationChatCompletions, OperationCompletions, OperationEmbeddings, OperationResponses:
	default:
		return nil, res, fmt.Errorf("sanitize: %w %q", ErrUnsupportedOperation, operation)
	}
	w := requestWalker{s: s, body: body, sc: getScratch()}
	defer putScratch(w.sc)
	err = w.request(op)
	w.res.EstimatedTokens = EstimateTokens(w.res.Chars)
	if err != nil {
		return nil, w.res, err
	}
	if s.maxChars > 0 && w.res.Chars > s.maxChars {
		return nil, w.res, &LimitError{Field: "maxPromptChars", Limit: s.maxChars, Actual: w.res.Chars}
	}
	if s.maxTokens > 0 && w.res.EstimatedTokens > s.maxTokens {
		return nil, w.res, &LimitError{Field: "maxPromptTokens", Limit: s.maxTokens, Actual: w.res.EstimatedTokens}
	}
	if w.out == nil {
		return body, w.res, nil
	}
	return append(w.out, body[w.copied:]...), w.res, nil
}

// pathElem is one step of a JSON path: a key, or an index when key is "".
type pathElem struct {
	key   string
	index int
}

// fieldPath is the JSON path of the value being walked, kept as a stack without allocating; String
// renders it for errors. Steps deeper than elems are counted but not named.
type fieldPath struct {
	elems [6]pathElem
	n     int
}

func (p *fieldPath) push(e pathElem) {
	if p.n < len(p.elems) {
		p.elems[p.n] = e
	}
	p.n++
}

func (p *fieldPath) pop() { p.n-- }

// String renders the path as messages[1].content[0].text.
func (p *fieldPath) String() string {
	var b strings.Builder
	for _, e := range p.elems[:min(p.n, len(p.elems))] {
		if e.key == "" {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(e.index))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(e.key)
	}
	return b.String()
}

// requestWalker validates a JSON body in one pass, scanning the text fields it meets and writing
// a new body only from the first redaction on.
type requestWalker struct {
	s      *Sanitizer
	body   []byte
	i      int
	out    []byte // nil until something is redacted
	copied int    // body[:copied] is already in out
	res    Result
	sc     *scratch
	depth  int // open objects and arrays
	path   fieldPath
	keyBuf [32]byte
}

func (w *requestWalker) syntaxErr(what string) error {
	reason := "invalid JSON: "
	if w.i >= len(w.body) {
		reason += "unexpected end of body"
		if what != "" {
			reason += ", " + what
		}
	} else {
		reason += fmt.Sprintf("%s at byte %d", what, w.i)
	}
	return &BadRequestError{Field: w.path.String(), Reason: reason}
}

func (w *requestWalker) shapeErr(want string) error {
	if k := w.kind(); k == "invalid JSON" || k == "nothing" {
		return w.skip() // reports the syntax error
	}
	return &BadRequestError{Field: w.path.String(), Reason: "expected " + want + ", got " + w.kind()}
}

// kind names the JSON type of the value at w.i.
func (w *requestWalker) kind() string {
	if w.i >= len(w.body) {
		return "nothing"
	}
	switch c := w.body[w.i]; {
	case c == '"':
		return "string"
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	case c == '-' || isDigit(c):
		return "number"
	}
	return "invalid JSON"
}

func (w *requestWalker) ws() {
	for w.i < len(w.body) {
		switch w.body[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

func (w *requestWalker) peek() byte {
	if w.i < len(w.body) {
		return w.body[w.i]
	}
	return 0
}

func (w *requestWalker) request(op string) error {
	w.ws()
	if w.peek() != '{' {
		if w.i >= len(w.body) {
			return &BadRequestError{Reason: "empty body, expected a JSON object"}
		}
		if w.kind() == "invalid JSON" {
			return w.syntaxErr(fmt.Sprintf("invalid character %q", w.body[w.i]))
		}
		return &BadRequestError{Reason: "expected a JSON object, got " + w.kind()}
	}
	var err error
	switch op {
	case OperationChatCompletions:
		err = w.object("JSON object", []string{"messages", "prediction"}, func(name string) error {
			if name == "messages" {
				return w.messages()
			}
			return w.prediction()
		})
	case OperationCompletions:
		err = w.objectKey("JSON object", "prompt", w.promptLike)
	case OperationEmbeddings:
		err = w.objectKey("JSON object", "input", w.promptLike)
	case OperationResponses:
		err = w.object("JSON object", []string{"input", "instructions"}, func(name string) error {
			if name == "input" {
				return w.responsesInput()
			}
			return w.text()
		})
	}
	if err != nil {
		return err
	}
	w.ws()
	if w.i < len(w.body) {
		return w.syntaxErr("data after the top-level object")
	}
	return nil
}

// keyIs compares a decoded object key with name as encoding/json does: exactly, else case-folded.
func keyIs(key []byte, name string) bool {
	return string(key) == name || bytes.EqualFold(key, []byte(name))
}

// matchKey returns the first of names that key matches (see keyIs).
func matchKey(key []byte, names []string) (string, bool) {
	for _, name := range names {
		if keyIs(key, name) {
			return name, true
		}
	}
	return "", false
}

// member moves to the next member of the object whose '{' is at w.i (when *first) or that is
// being read, and returns its decoded key with w.i at the value. ok is false after the '}'.
func (w *requestWalker) member(first *bool) (key []byte, ok bool, err error) {
	if *first {
		*first = false
		if err := w.enter(); err != nil {
			return nil, false, err
		}
		w.ws()
		if w.peek() == '}' {
			w.i++
			w.depth--
			return nil, false, nil
		}
	} else {
		w.ws()
		switch w.peek() {
		case ',':
			w.i++
			w.ws()
		case '}':
			w.i++
			w.depth--
			return nil, false, nil
		default:
			return nil, false, w.syntaxErr("expected ',' or '}' after object member")
		}
	}
	if w.peek() != '"' {
		return nil, false, w.syntaxErr("expected object key")
	}
	start, end, esc, _, err := w.stringToken()
	if err != nil {
		return nil, false, err
	}
	key = w.body[start:end]
	if esc {
		key = appendUnescaped(w.keyBuf[:0], key)
	}
	w.ws()
	if w.peek() != ':' {
		return nil, false, w.syntaxErr("expected ':' after object key")
	}
	w.i++
	w.ws()
	return key, true, nil
}

// element moves to the next element of the array whose '[' is at w.i (when *first) or that is
// being read, leaving w.i at the element. ok is false after the ']'.
func (w *requestWalker) element(first *bool) (ok bool, err error) {
	if *first {
		*first = false
		if err := w.enter(); err != nil {
			return false, err
		}
		w.ws()
		if w.peek() == ']' {
			w.i++
			w.depth--
			return false, nil
		}
		return true, nil
	}
	w.ws()
	switch w.peek() {
	case ',':
		w.i++
		w.ws()
		return true, nil
	case ']':
		w.i++
		w.depth--
		return false, nil
	}
	return false, w.syntaxErr("expected ',' or ']' after array element")
}

// enter consumes the '{' or '[' at w.i.
func (w *requestWalker) enter() error {
	if w.depth >= maxDepth {
		return w.syntaxErr("nesting too deep")
	}
	w.depth++
	w.i++
	return nil
}

// strSpecial marks the bytes that end a run of plain string content.
var strSpecial = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'] = true
	t['\\'] = true
	return t
}()

// stringToken reads the JSON string at w.i and returns the bounds of its content (without the
// quotes), whether it holds escapes and, when it does not, its number of runes.
func (w *requestWalker) stringToken() (start, end int, esc bool, runes int, err error) {
	b := w.body
	i := w.i + 1
	start = i
	cont := 0 // UTF-8 continuation bytes
	for {
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			if hasStringSpecial(x) {
				break
			}
			if x&swarHigh != 0 {
				cont += bits.OnesCount64(x &^ (x << 1) & swarHigh)
			}
			i += 8
		}
		for i < len(b) && !strSpecial[b[i]] {
			if b[i]&0xc0 == 0x80 {
				cont++
			}
			i++
		}
		if i >= len(b) {
			w.i = i
			return 0, 0, false, 0, w.syntaxErr("unterminated string")
		}
		switch b[i] {
		case '"':
			w.i = i + 1
			return start, i, esc, i - start - cont, nil
		case '\\':
			esc = true
			if i+1 >= len(b) {
				w.i = i + 1
				return 0, 0, false, 0, w.syntaxErr("unterminated string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					w.i = i
					return 0, 0, false, 0, w.syntaxErr(`invalid \u escape in string`)
				}
				i += 6
			default:
				w.i = i
				return 0, 0, false, 0, w.syntaxErr("invalid escape in string")
			}
		default:
			w.i = i
			return 0, 0, false, 0, w.syntaxErr("control character in string")
		}
	}
}

const (
	swarLow  = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

// hasStringSpecial reports whether any byte of x is '"', '\\' or below 0x20.
func hasStringSpecial(x uint64) bool {
	q := x ^ (swarLow * '"')
	bs := x ^ (swarLow * '\\')
	return ((x-swarLow*0x20)&^x|(q-swarLow)&^q|(bs-swarLow)&^bs)&swarHigh != 0
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !isDigit(c) && (c|0x20 < 'a' || c|0x20 > 'f') {
			return false
		}
	}
	return true
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case isDigit(c):
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// appendUnescaped appends the decoded form of valid JSON string content raw to dst, as encoding/json
// decodes it (an unpaired surrogate becomes U+FFFD).
func appendUnescaped(dst, raw []byte) []byte {
	for len(raw) > 0 {
		k := bytes.IndexByte(raw, '\\')
		if k < 0 {
			return append(dst, raw...)
		}
		dst = append(dst, raw[:k]...)
		raw = raw[k:]
		switch c := raw[1]; c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[2:])
			raw = raw[6:]
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if len(raw) >= 6 && raw[0] == '\\' && raw[1] == 'u' {
					r2 = hex4(raw[2:])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					raw = raw[6:]
					r = dec
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
		raw = raw[2:]
	}
	return dst
}

// appendEscaped appends text as JSON string content: quotes, backslashes and control characters
// are escaped, every other byte is kept.
func appendEscaped(dst, text []byte) []byte {
	const hexDigits = "0123456789abcdef"
	start := 0
	for i := 0; i < len(text); i++ {
		c := text[i]
		if !strSpecial[c] {
			continue
		}
		dst = append(dst, text[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	return append(dst, text[start:]...)
}

// skip validates and passes over any JSON value at w.i.
func (w *requestWalker) skip() error {
	switch c := w.peek(); c {
	case '"':
		_, _, _, _, err := w.stringToken()
		return err
	case '{':
		first := true
		for {
			_, ok, err := w.member(&first)
			if err != nil || !ok {
				return err
			}
			if err := w.skip(); err != nil {
				return err
			}
		}
	case '[':
		first := true
		for {
			ok, err := w.element(&first)
			if err != nil || !ok {
				return err
			}
			if err := w.skip(); err != nil {
				return err
			}
		}
	case 't':
		return w.literal("true")
	case 'f':
		return w.literal("false")
	case 'n':
		return w.literal("null")
	case 0:
		if w.i >= len(w.body) {
			return w.syntaxErr("expected a value")
		}
	}
	if c := w.peek(); c == '-' || isDigit(c) {
		return w.number()
	}
	return w.syntaxErr(fmt.Sprintf("invalid character %q looking for a value", w.body[w.i]))
}

func (w *requestWalker) literal(lit string) error {
	if !bytes.HasPrefix(w.body[w.i:], []byte(lit)) {
		return w.syntaxErr("invalid literal")
	}
	w.i += len(lit)
	return nil
}

func (w *requestWalker) number() error {
	b := w.body
	i := w.i
	if b[i] == '-' {
		i++
	}
	digits := func() int {
		k := i
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		return i - k
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		w.i = i
		return w.syntaxErr("invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			w.i = i
			return w.syntaxErr("invalid number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			w.i = i
			return w.syntaxErr("invalid number")
		}
	}
	w.i = i
	return nil
}

// text scans the string (or null) at w.i as one text field.
func (w *requestWalker) text() error {
	switch w.peek() {
	case 'n':
		return w.literal("null")
	case '"':
	default:
		return w.shapeErr("string")
	}
	tok := w.i
	start, end, esc, runes, err := w.stringToken()
	if err != nil {
		return err
	}
	txt := w.body[start:end]
	if esc {
		w.sc.dec = appendUnescaped(w.sc.dec[:0], txt)
		txt = w.sc.dec
		runes = utf8.RuneCount(txt)
	}
	w.res.Chars += runes
	red, changed, blocked := w.s.sanitize(txt, w.sc, &w.res.Hits)
	if blocked >= 0 {
		return &BlockedError{Detector: w.s.rules[blocked].name, Field: w.path.String()}
	}
	if !changed {
		return nil
	}
	if w.out == nil {
		w.out = make([]byte, 0, len(w.body)+64)
	}
	w.out = append(w.out, w.body[w.copied:tok]...)
	w.out = append(w.out, '"')
	if esc {
		w.out = appendEscaped(w.out, red)
	} else {
		// Content without escapes has no byte that needs one, and tags add none.
		w.out = append(w.out, red...)
	}
	w.out = append(w.out, '"')
	w.copied = w.i
	return nil
}

// object walks the object at w.i. The value of a member whose key is one of names (matched as
// encoding/json matches keys) is walked by value, given that name; every other value is validated
// and skipped. Anything but an object is a shape error naming what.
func (w *requestWalker) object(what string, names []string, value func(name string) error) error {
	if w.peek() != '{' {
		return w.shapeErr(what)
	}
	first := true
	for {
		key, ok, err := w.member(&first)
		if err != nil || !ok {
			return err
		}
		if name, ok := matchKey(key, names); ok {
			w.path.push(pathElem{key: name})
			err = value(name)
			w.path.pop()
		} else {
			err = w.skip()
		}
		if err != nil {
			return err
		}
	}
}

// objectKey walks the object at w.i, walking the value of the member name with walk and skipping
// every other member.
func (w *requestWalker) objectKey(what, name string, walk func() error) error {
	return w.object(what, []string{name}, func(string) error { return walk() })
}

// array walks the array (or null) at w.i, walking each element with elem. Anything else is a shape
// error naming what.
func (w *requestWalker) array(what string, elem func() error) error {
	switch w.peek() {
	case 'n':
		return w.literal("null")
	case '[':
	default:
		return w.shapeErr(what)
	}
	first := true
	for k := 0; ; k++ {
		ok, err := w.element(&first)
		if err != nil || !ok {
			return err
		}
		w.path.push(pathElem{index: k})
		err = elem()
		w.path.pop()
		if err != nil {
			return err
		}
	}
}

// messages walks the chat messages array.
func (w *requestWalker) messages() error {
	return w.array("array of messages", w.message)
}

// message walks one chat message.
func (w *requestWalker) message() error {
	names := []string{"content", "name", "tool_calls", "function_call"}
	return w.object("message object", names, func(name string) error {
		switch name {
		case "content":
			return w.content()
		case "name":
			return w.text()
		case "tool_calls":
			return w.array("array of tool calls", w.toolCall)
		}
		return w.function()
	})
}

// content walks a string, null, or an array of content parts.
func (w *requestWalker) content() error {
	if c := w.peek(); c == '"' || c == 'n' {
		return w.text()
	}
	return w.array("string or array of content parts", w.part)
}

// part walks one content part, scanning its "text" whatever its type.
func (w *requestWalker) part() error {
	return w.objectKey("content part object", "text", w.text)
}

// toolCall walks one element of a message's tool_calls.
func (w *requestWalker) toolCall() error {
	return w.objectKey("tool call object", "function", w.function)
}

// function walks {"name": ..., "arguments": "<JSON text>"} or null; arguments is scanned as text.
func (w *requestWalker) function() error {
	if w.peek() == 'n' {
		return w.literal("null")
	}
	return w.objectKey("function object", "arguments", w.text)
}

// prediction walks the chat predicted-output object (or null), whose content is like a message's.
func (w *requestWalker) prediction() error {
	if w.peek() == 'n' {
		return w.literal("null")
	}
	return w.objectKey("prediction object", "content", w.content)
}

// promptLike walks a completions prompt or embeddings input: a string, an array of strings, a token
// array, or an array of token arrays.
func (w *requestWalker) promptLike() error {
	if c := w.peek(); c == '"' || c == 'n' {
		return w.text()
	}
	return w.array("string, array of strings or token array", w.promptElem)
}

// promptElem walks one element of a prompt array: a string, a token id or a token array.
func (w *requestWalker) promptElem() error {
	switch c := w.peek(); {
	case c == '"':
		return w.text()
	case c == '-' || isDigit(c):
		return w.number()
	case c == '[':
		return w.array("token array", w.token)
	}
	return w.shapeErr("string or token array")
}

// token walks one token id of a token array.
func (w *requestWalker) token() error {
	if c := w.peek(); c != '-' && !isDigit(c) {
		return w.shapeErr("token id (integer)")
	}
	return w.number()
}

// responsesInput walks the Responses API input: a string or an array of input items.
func (w *requestWalker) responsesInput() error {
	if c := w.peek(); c == '"' || c == 'n' {
		return w.text()
	}
	return w.array("string or array of input items", w.responsesItem)
}

// responsesItem walks one input item: a message (content), a function call (arguments) or a
// function call output (output), whatever its type says.
func (w *requestWalker) responsesItem() error {
	return w.object("input item object", []string{"content", "output", "arguments"}, func(name string) error {
		if name == "arguments" {
			return w.text()
		}
		return w.content()
	})
}
