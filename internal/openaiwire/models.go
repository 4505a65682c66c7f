package openaiwire

// Model is the model object ("object": "model") of GET /models/{model} and of ModelList.
type Model struct {
	// ID is the model name, e.g. "gpt-4o-mini"; Object is "model".
	ID     string `json:"id"`
	Object string `json:"object"`
	// Created is when the model was created, in Unix seconds.
	Created int64 `json:"created"`
	// OwnedBy is the owning organisation, e.g. "system" or "openai".
	OwnedBy string `json:"owned_by"`
}

// ModelList is the answer of GET /models ("object": "list").
type ModelList struct {
	// Object is "list"; Data holds the models.
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}
