package fakeopenai

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"

	"github.com/mosaic-dev/mosaic/internal/openaiwire"
)

// embeddingRequest is the part of an embeddings request the fake reads.
type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
}

// Dimensions is the embedding size the fake uses for a model when a request
// does not set "dimensions".
func (s *Server) Dimensions(model string) int {
	switch {
	case s.opts.Dimensions > 0:
		return s.opts.Dimensions
	case model == "text-embedding-3-large":
		return 3072
	}
	return DefaultDimensions
}

func (x *exchange) embeddings() {
	var req embeddingRequest
	if !x.decode(&req) {
		return
	}
	if !x.checkModel(req.Model) {
		return
	}
	if len(req.Input) == 0 || string(req.Input) == "null" {
		x.error(http.StatusBadRequest, "invalid_request_error", "missing_required_parameter", "Missing required parameter: 'input'.", "input")
		return
	}
	p, ok := parsePrompts(req.Input)
	if !ok {
		x.error(http.StatusBadRequest, "invalid_request_error", "", "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", "")
		return
	}
	if req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64" {
		x.error(http.StatusBadRequest, "invalid_request_error", "", "Invalid value for 'encoding_format': '"+req.EncodingFormat+"'. Supported values are: 'float' and 'base64'.", "encoding_format")
		return
	}
	dims := x.s.Dimensions(req.Model)
	if req.Dimensions != nil {
		if req.Model == "text-embedding-ada-002" {
			x.error(http.StatusBadRequest, "invalid_request_error", "", "This model does not support specifying dimensions.", "dimensions")
			return
		}
		if *req.Dimensions < 1 {
			x.error(http.StatusBadRequest, "invalid_request_error", "", "Invalid 'dimensions': integer below minimum value. Expected a value >= 1.", "dimensions")
			return
		}
		dims = *req.Dimensions
	}
	out := openaiwire.EmbeddingList{Object: "list", Model: req.Model, Data: make([]openaiwire.Embedding, len(p.texts))}
	for i, text := range p.texts {
		v := EmbeddingVector(text, dims)
		var e any = v
		if req.EncodingFormat == "base64" {
			e = EncodeBase64(v)
		}
		out.Data[i] = openaiwire.Embedding{Object: "embedding", Embedding: e, Index: int64(i)}
	}
	tokens := sum(p.tokens)
	out.Usage = openaiwire.EmbeddingUsage{PromptTokens: int64(tokens), TotalTokens: int64(tokens)}
	x.setUsageHeaders(tokens)
	x.writeJSON(http.StatusOK, out)
}

// EncodeBase64 is OpenAI's base64 embedding encoding: little-endian float32s.
func EncodeBase64(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}
