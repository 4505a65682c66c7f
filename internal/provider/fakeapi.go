package provider

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mosaic-dev/mosaic/internal/openaiwire"
)

// This file holds the Fake provider's OpenAI API: request parsing, answers and SSE streams.

const fakeFingerprint = "fp_mosaic_fake"

// fakeTokens estimates tokens as one per 4 runes, rounded up.
func fakeTokens(s string) int64 {
	return int64(utf8.RuneCountInString(s)+3) / 4
}

// fakeReply is the fake's answer to a prompt: it names the start of the last user message.
func fakeReply(lastUser string) string {
	const maxWords = 12
	words := make([]string, 0, maxWords+1)
	rest := lastUser
	for len(words) <= maxWords {
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		if rest == "" {
			break
		}
		end := strings.IndexFunc(rest, unicode.IsSpace)
		if end < 0 {
			end = len(rest)
		}
		words = append(words, rest[:end])
		rest = rest[end:]
	}
	if len(words) == 0 {
		return "Hello from the Mosaic fake provider."
	}
	if len(words) > maxWords {
		words = append(words[:maxWords], "…")
	}
	return "Mosaic fake reply to: " + strings.Join(words, " ")
}

// cutToTokens shortens s to at most limit tokens (4 runes each); it reports whether it cut.
func cutToTokens(s string, limit int64) (string, bool) {
	if limit < 0 || fakeTokens(s) <= limit {
		return s, false
	}
	n := 0
	for i := range s {
		if int64(n) == limit*4 {
			return s[:i], true
		}
		n++
	}
	return s, false
}

// streamPieces splits s into word-sized deltas that concatenate back to s.
func streamPieces(s string) []string {
	pieces := strings.SplitAfter(s, " ")
	out := pieces[:0]
	for _, p := range pieces {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// fakeErrorAnswer is an OpenAI error: {"error":{"message","type","param","code"}}.
func fakeErrorAnswer(status int, message, typ, param, code string) fakeAnswer {
	body, _ := json.Marshal(openaiwire.NewErrorBody(message, typ, param, code))
	return fakeAnswer{status: status, contentType: "application/json", body: body}
}

func fakeJSONAnswer(v any, tokens int64) fakeAnswer {
	body, err := json.Marshal(v)
	if err != nil {
		return fakeErrorAnswer(http.StatusInternalServerError, "The fake provider could not encode its answer: "+err.Error(), "server_error", "", "")
	}
	return fakeAnswer{status: http.StatusOK, contentType: "application/json", body: body, tokens: tokens}
}

func fakeBadJSON(err error) fakeAnswer {
	return fakeErrorAnswer(http.StatusBadRequest,
		"We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.) "+jsonErrorText(err),
		"invalid_request_error", "", "")
}

func fakeMissing(param string) fakeAnswer {
	return fakeErrorAnswer(http.StatusBadRequest, fmt.Sprintf("Missing required parameter: '%s'.", param), "invalid_request_error", param, "missing_required_parameter")
}

func fakeInvalid(param, message string) fakeAnswer {
	return fakeErrorAnswer(http.StatusBadRequest, fmt.Sprintf("Invalid '%s': %s", param, message), "invalid_request_error", param, "invalid_value")
}

// fakeTextModel checks a model for a text operation; it returns a non-nil answer on error.
func fakeTextModel(model, operation string) *fakeAnswer {
	if model == "" {
		a := fakeErrorAnswer(http.StatusBadRequest, "you must provide a model parameter", "invalid_request_error", "", "")
		return &a
	}
	m, ok := lookupFakeModel(model)
	if !ok {
		a := fakeErrorAnswer(http.StatusNotFound, fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", model), "invalid_request_error", "", "model_not_found")
		return &a
	}
	if m.dims > 0 {
		a := fakeErrorAnswer(http.StatusBadRequest, fmt.Sprintf("The model `%s` is an embedding model and does not support %s.", model, operation), "invalid_request_error", "model", "model_not_supported")
		return &a
	}
	return nil
}

// fakeContentText reads message content: a string, or an array of parts whose "text" fields
// count (image and audio parts carry no text).
func fakeContentText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", err
	}
	texts := make([]string, 0, len(parts))
	for _, p := range parts {
		if p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n"), nil
}

// fakeStreamOptions is the stream_options object.
type fakeStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// checkStream applies OpenAI's rule that stream_options needs stream.
func checkStream(stream bool, opts *fakeStreamOptions) *fakeAnswer {
	if opts != nil && !stream {
		a := fakeErrorAnswer(http.StatusBadRequest, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "invalid_request_error", "stream_options", "invalid_value")
		return &a
	}
	return nil
}

// checkCount validates n and max-token parameters.
func checkCount(param string, v *int64, lo, hi int64) *fakeAnswer {
	if v != nil && (*v < lo || *v > hi) {
		a := fakeInvalid(param, fmt.Sprintf("integer %d out of range; expected a value between %d and %d.", *v, lo, hi))
		return &a
	}
	return nil
}

// sseWriter builds a text/event-stream body.
type sseWriter struct{ buf bytes.Buffer }

func (w *sseWriter) event(name string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("fake provider: encoding SSE event: %v", err)) // only our own types are encoded
	}
	if name != "" {
		w.buf.WriteString("event: " + name + "\n")
	}
	w.buf.WriteString("data: ")
	w.buf.Write(b)
	w.buf.WriteString("\n\n")
}

func (w *sseWriter) done() { w.buf.WriteString("data: [DONE]\n\n") }

func (w *sseWriter) answer(tokens int64) fakeAnswer {
	return fakeAnswer{status: http.StatusOK, contentType: "text/event-stream; charset=utf-8", body: w.buf.Bytes(), tokens: tokens}
}

// ---- /chat/completions ----

type fakeChatRequest struct {
	Model    string `json:"model"`
	Messages *[]struct {
		Role      string          `json:"role"`
		Content   json.RawMessage `json:"content"`
		ToolCalls []struct {
			Function struct {
				Arguments string `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	} `json:"messages"`
	Stream              bool               `json:"stream"`
	StreamOptions       *fakeStreamOptions `json:"stream_options"`
	MaxTokens           *int64             `json:"max_tokens"`
	MaxCompletionTokens *int64             `json:"max_completion_tokens"`
	N                   *int64             `json:"n"`
}

func (t *fakeTransport) chatCompletion(body []byte, id string) fakeAnswer {
	var req fakeChatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return fakeBadJSON(err)
	}
	if a := fakeTextModel(req.Model, "chat completions"); a != nil {
		return *a
	}
	if req.Messages == nil {
		return fakeMissing("messages")
	}
	if len(*req.Messages) == 0 {
		return fakeInvalid("messages", "empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	for _, a := range []*fakeAnswer{
		checkStream(req.Stream, req.StreamOptions),
		checkCount("n", req.N, 1, 128),
		checkCount("max_tokens", req.MaxTokens, 1, math.MaxInt32),
		checkCount("max_completion_tokens", req.MaxCompletionTokens, 1, math.MaxInt32),
	} {
		if a != nil {
			return *a
		}
	}
	var prompt int64
	lastUser := ""
	for i, m := range *req.Messages {
		text, err := fakeContentText(m.Content)
		if err != nil {
			return fakeInvalid(fmt.Sprintf("messages[%d].content", i), "expected a string or an array of content parts.")
		}
		prompt += fakeTokens(text)
		for _, tc := range m.ToolCalls {
			prompt += fakeTokens(tc.Function.Arguments)
		}
		if m.Role == "user" {
			lastUser = text
		}
	}
	limit := int64(-1)
	if req.MaxCompletionTokens != nil {
		limit = *req.MaxCompletionTokens
	} else if req.MaxTokens != nil {
		limit = *req.MaxTokens
	}
	reply, cut := cutToTokens(fakeReply(lastUser), limit)
	finish := "stop"
	if cut {
		finish = "length"
	}
	n := int64(1)
	if req.N != nil {
		n = *req.N
	}
	usage := openaiwire.NewUsage(prompt, fakeTokens(reply)*n)
	created := t.clock.Now().Unix()
	chatID := "chatcmpl-" + id

	if !req.Stream {
		c := openaiwire.ChatCompletion{
			ID: chatID, Object: "chat.completion", Created: created, Model: req.Model,
			Usage: usage, ServiceTier: "default", SystemFingerprint: fakeFingerprint,
		}
		for i := range n {
			c.Choices = append(c.Choices, openaiwire.ChatChoice{
				Index:        i,
				Message:      openaiwire.ChatMessage{Role: "assistant", Content: reply, Annotations: []json.RawMessage{}},
				FinishReason: finish,
			})
		}
		return fakeJSONAnswer(c, usage.TotalTokens)
	}

	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	var w sseWriter
	emit := func(choices []openaiwire.ChatChunkChoice, u *openaiwire.Usage) {
		w.event("", openaiwire.ChatChunk{
			ID: chatID, Object: "chat.completion.chunk", Created: created, Model: req.Model,
			ServiceTier: "default", SystemFingerprint: fakeFingerprint, Choices: choices, Usage: u,
		}.Event(includeUsage))
	}
	empty := ""
	for i := range n {
		emit([]openaiwire.ChatChunkChoice{{Index: i, Delta: openaiwire.ChatDelta{Role: "assistant", Content: &empty}}}, nil)
		for _, piece := range streamPieces(reply) {
			emit([]openaiwire.ChatChunkChoice{{Index: i, Delta: openaiwire.ChatDelta{Content: &piece}}}, nil)
		}
		emit([]openaiwire.ChatChunkChoice{{Index: i, FinishReason: &finish}}, nil)
	}
	if includeUsage {
		emit([]openaiwire.ChatChunkChoice{}, usage)
	}
	w.done()
	return w.answer(usage.TotalTokens)
}

// ---- /completions ----

type fakeCompletionRequest struct {
	Model         string             `json:"model"`
	Prompt        json.RawMessage    `json:"prompt"`
	Stream        bool               `json:"stream"`
	StreamOptions *fakeStreamOptions `json:"stream_options"`
	MaxTokens     *int64             `json:"max_tokens"`
	N             *int64             `json:"n"`
}

// fakeTextInputs reads a prompt or embeddings input: a string, an array of strings, an array
// of token IDs or an array of token arrays. Token IDs count one token each; their text is
// their decimal form.
func fakeTextInputs(raw json.RawMessage) (texts []string, tokens []int64, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, errMissing
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, []int64{fakeTokens(s)}, nil
	}
	var ss []string
	if json.Unmarshal(raw, &ss) == nil {
		for _, s := range ss {
			texts = append(texts, s)
			tokens = append(tokens, fakeTokens(s))
		}
		return texts, tokens, nil
	}
	var ids []int64
	if json.Unmarshal(raw, &ids) == nil {
		return []string{fmt.Sprint(ids)}, []int64{int64(len(ids))}, nil
	}
	var idss [][]int64
	if json.Unmarshal(raw, &idss) == nil {
		for _, ids := range idss {
			texts = append(texts, fmt.Sprint(ids))
			tokens = append(tokens, int64(len(ids)))
		}
		return texts, tokens, nil
	}
	return nil, nil, errors.New("expected a string, an array of strings, an array of integers or an array of integer arrays")
}

var errMissing = errors.New("missing")

func (t *fakeTransport) completion(body []byte, id string) fakeAnswer {
	var req fakeCompletionRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return fakeBadJSON(err)
	}
	if a := fakeTextModel(req.Model, "completions"); a != nil {
		return *a
	}
	prompts, promptTokens, err := fakeTextInputs(req.Prompt)
	switch {
	case errors.Is(err, errMissing):
		return fakeMissing("prompt")
	case err != nil:
		return fakeInvalid("prompt", err.Error())
	}
	for _, a := range []*fakeAnswer{
		checkStream(req.Stream, req.StreamOptions),
		checkCount("n", req.N, 1, 128),
		checkCount("max_tokens", req.MaxTokens, 0, math.MaxInt32),
	} {
		if a != nil {
			return *a
		}
	}
	limit := int64(16) // the legacy API's default max_tokens
	if req.MaxTokens != nil {
		limit = *req.MaxTokens
	}
	n := int64(1)
	if req.N != nil {
		n = *req.N
	}
	created := t.clock.Now().Unix()
	out := openaiwire.TextCompletion{ID: "cmpl-" + id, Object: "text_completion", Created: created, Model: req.Model, SystemFingerprint: fakeFingerprint}
	usage := &openaiwire.Usage{}
	for p, prompt := range prompts {
		usage.PromptTokens += promptTokens[p]
		reply, cut := cutToTokens(fakeReply(prompt), limit)
		finish := "stop"
		if cut {
			finish = "length"
		}
		for i := range n {
			usage.CompletionTokens += fakeTokens(reply)
			out.Choices = append(out.Choices, openaiwire.TextChoice{Text: reply, Index: int64(p)*n + i, FinishReason: &finish})
		}
	}
	usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens

	if !req.Stream {
		out.Usage = usage
		return fakeJSONAnswer(out, usage.TotalTokens)
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	var w sseWriter
	chunk := func(choices []openaiwire.TextChoice, u *openaiwire.Usage) any {
		c := out
		c.Choices, c.Usage = choices, u
		return c.Event(includeUsage)
	}
	for _, ch := range out.Choices {
		for _, piece := range streamPieces(ch.Text) {
			w.event("", chunk([]openaiwire.TextChoice{{Text: piece, Index: ch.Index}}, nil))
		}
		w.event("", chunk([]openaiwire.TextChoice{{Text: "", Index: ch.Index, FinishReason: ch.FinishReason}}, nil))
	}
	if includeUsage {
		w.event("", chunk([]openaiwire.TextChoice{}, usage))
	}
	w.done()
	return w.answer(usage.TotalTokens)
}

// ---- /embeddings ----

type fakeEmbeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	Dimensions     *int64          `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"`
}

func (t *fakeTransport) embeddings(body []byte, _ string) fakeAnswer {
	var req fakeEmbeddingRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return fakeBadJSON(err)
	}
	if req.Model == "" {
		return fakeErrorAnswer(http.StatusBadRequest, "you must provide a model parameter", "invalid_request_error", "", "")
	}
	m, ok := lookupFakeModel(req.Model)
	if !ok {
		return fakeErrorAnswer(http.StatusNotFound, fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", req.Model), "invalid_request_error", "", "model_not_found")
	}
	if m.dims == 0 {
		return fakeErrorAnswer(http.StatusBadRequest, fmt.Sprintf("The model `%s` does not support embeddings.", req.Model), "invalid_request_error", "model", "model_not_supported")
	}
	texts, tokens, err := fakeTextInputs(req.Input)
	switch {
	case errors.Is(err, errMissing):
		return fakeMissing("input")
	case err != nil:
		return fakeInvalid("input", err.Error())
	case len(texts) == 0:
		return fakeInvalid("input", "empty array. Expected an array with minimum length 1, but got an empty array instead.")
	case len(texts) > 2048:
		return fakeInvalid("input", fmt.Sprintf("array too long. Expected an array with maximum length 2048, but got an array with length %d instead.", len(texts)))
	}
	for i, s := range texts {
		if s == "" {
			return fakeInvalid(fmt.Sprintf("input[%d]", i), "empty string. Expected a non-empty string.")
		}
	}
	dims := m.dims
	if req.Dimensions != nil {
		if m.fixedDims {
			return fakeErrorAnswer(http.StatusBadRequest, "This model does not support specifying dimensions.", "invalid_request_error", "dimensions", "")
		}
		if *req.Dimensions < 1 || *req.Dimensions > int64(m.dims) {
			return fakeInvalid("dimensions", fmt.Sprintf("integer %d out of range; expected a value between 1 and %d.", *req.Dimensions, m.dims))
		}
		dims = int(*req.Dimensions)
	}
	switch req.EncodingFormat {
	case "", "float", "base64":
	default:
		return fakeInvalid("encoding_format", fmt.Sprintf("'%s' is not one of ['float', 'base64'].", req.EncodingFormat))
	}
	out := openaiwire.EmbeddingList{Object: "list", Model: req.Model, Data: make([]openaiwire.Embedding, len(texts))}
	for i, s := range texts {
		vec := fakeVector(req.Model, s, dims)
		var emb any = vec
		if req.EncodingFormat == "base64" {
			raw := make([]byte, 4*len(vec))
			for j, f := range vec {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(raw)
		}
		out.Data[i] = openaiwire.Embedding{Object: "embedding", Embedding: emb, Index: int64(i)}
		out.Usage.PromptTokens += tokens[i]
	}
	out.Usage.TotalTokens = out.Usage.PromptTokens
	return fakeJSONAnswer(out, out.Usage.TotalTokens)
}

// fakeVector is a deterministic unit vector for text: a splitmix64 stream seeded by a hash of
// model and text, truncated to dims and normalised (so a shorter vector is the normalised
// prefix of the full one, as with OpenAI's dimensions parameter).
func fakeVector(model, text string, dims int) []float32 {
	h := fnv.New64a()
	h.Write([]byte(model))
	h.Write([]byte{0})
	h.Write([]byte(text))
	state := h.Sum64()
	vec := make([]float32, dims)
	var norm float64
	for i := range vec {
		state += 0x9e3779b97f4a7c15
		z := state
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		f := float64(z>>11)/float64(1<<53)*2 - 1
		vec[i] = float32(f)
		norm += f * f
	}
	norm = math.Sqrt(norm)
	if norm == 0 {
		return vec
	}
	for i := range vec {
		vec[i] = float32(float64(vec[i]) / norm)
	}
	return vec
}

// ---- /models ----

func fakeModelList() fakeAnswer {
	list := openaiwire.ModelList{Object: "list"}
	for _, m := range fakeModels {
		list.Data = append(list.Data, openaiwire.Model{ID: m.id, Object: "model", Created: m.created, OwnedBy: "system"})
	}
	return fakeJSONAnswer(list, 0)
}

func fakeModelGet(id string) fakeAnswer {
	m, ok := lookupFakeModel(id)
	if !ok {
		return fakeErrorAnswer(http.StatusNotFound, fmt.Sprintf("The model '%s' does not exist", id), "invalid_request_error", "model", "model_not_found")
	}
	return fakeJSONAnswer(openaiwire.Model{ID: m.id, Object: "model", Created: m.created, OwnedBy: "system"}, 0)
}
