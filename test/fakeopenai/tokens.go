package fakeopenai

import (
	"encoding/json"
	"hash/fnv"
	"math"
	"strings"
	"unicode/utf8"
)

// EstimateTokens is the fake's token count for a text: ceil(characters/4),
// where characters are Unicode code points; 0 for "".
func EstimateTokens(text string) int {
	return (utf8.RuneCountInString(text) + 3) / 4
}

var replyWords = strings.Fields("The quick brown fox jumps over the lazy dog while a fake upstream streams tokens back to the proxy under test")

// ReplyWord is the content of the i-th (0-based) chunk of a reply: a word,
// preceded by a space after the first.
func ReplyWord(i int) string {
	w := replyWords[i%len(replyWords)]
	if i > 0 {
		return " " + w
	}
	return w
}

// ReplyText is the full text of a reply of n completion tokens, the
// concatenation of ReplyWord(0..n-1).
func ReplyText(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(ReplyWord(i))
	}
	return b.String()
}

// EmbeddingVector is the unit vector of dims float32s the fake returns for a
// text input. A token-array input is keyed by its JSON text, e.g. "[1,2,3]".
// Equal inputs always give equal vectors; different inputs differ.
func EmbeddingVector(input string, dims int) []float32 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(input))
	state := h.Sum64() | 1
	v := make([]float32, dims)
	var norm float64
	for i := range v {
		state ^= state << 13 // xorshift64
		state ^= state >> 7
		state ^= state << 17
		f := float64(int64(state>>11))/float64(1<<52) - 1
		v[i] = float32(f)
		norm += f * f
	}
	if norm = math.Sqrt(norm); norm > 0 {
		for i := range v {
			v[i] = float32(float64(v[i]) / norm)
		}
	}
	return v
}

// textOfContent returns the text of a chat message's content: a string, or
// the "text" of each part of an array of content parts.
func textOfContent(raw json.RawMessage) string {
	if len(raw) == 0 || raw[0] == 'n' {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) == nil {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.Text)
		}
		return b.String()
	}
	return ""
}

// prompts is a legacy completions "prompt" or embeddings "input": a string,
// an array of strings, an array of tokens or an array of token arrays.
type prompts struct {
	texts  []string // one per input: the text, or the JSON of a token array
	tokens []int    // token count of each input
}

// parsePrompts reads a prompt/input value; ok is false when it has none of
// the documented shapes or is empty.
func parsePrompts(raw json.RawMessage) (p prompts, ok bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return prompts{texts: []string{s}, tokens: []int{EstimateTokens(s)}}, s != ""
	}
	var ss []string
	if json.Unmarshal(raw, &ss) == nil {
		for _, s := range ss {
			if s == "" {
				return p, false
			}
			p.texts, p.tokens = append(p.texts, s), append(p.tokens, EstimateTokens(s))
		}
		return p, len(ss) > 0
	}
	var toks []int
	if json.Unmarshal(raw, &toks) == nil {
		b, _ := json.Marshal(toks)
		return prompts{texts: []string{string(b)}, tokens: []int{len(toks)}}, len(toks) > 0
	}
	var batches [][]int
	if json.Unmarshal(raw, &batches) == nil {
		for _, t := range batches {
			if len(t) == 0 {
				return p, false
			}
			b, _ := json.Marshal(t)
			p.texts, p.tokens = append(p.texts, string(b)), append(p.tokens, len(t))
		}
		return p, len(batches) > 0
	}
	return p, false
}

func sum(xs []int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}
