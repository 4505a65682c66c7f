package openaiwire

// EmbeddingList is the answer of POST /embeddings ("object": "list").
type EmbeddingList struct {
	// Object is "list"; Data holds one embedding per input, in input order.
	Object string      `json:"object"`
	Data   []Embedding `json:"data"`
	// Model is the model that computed the embeddings.
	Model string `json:"model"`
	// Usage counts the input tokens.
	Usage EmbeddingUsage `json:"usage"`
}

// Embedding is one embedding vector ("object": "embedding").
type Embedding struct {
	// Object is "embedding".
	Object string `json:"object"`
	// Embedding is the vector: a []float32 for "encoding_format": "float", or for "base64" a
	// string of the little-endian float32s.
	Embedding any `json:"embedding"`
	// Index is the input's position in the request.
	Index int64 `json:"index"`
}

// EmbeddingUsage is the usage object of EmbeddingList: embeddings have no output tokens.
type EmbeddingUsage struct {
	// PromptTokens and TotalTokens are both the input's token count.
	PromptTokens int64 `json:"prompt_tokens"`
	TotalTokens  int64 `json:"total_tokens"`
}
