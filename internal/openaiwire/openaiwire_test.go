package openaiwire

import (
	"encoding/json"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
)

func TestWireShape(t *testing.T) {
	stop := "stop"
	hello := "Hello"
	tests := map[string]struct {
		// value is what a fake sends.
		value any
		// want is its exact JSON: keys, their order, and null versus absent.
		want string
	}{
		"chat completion: logprobs and refusal null, annotations empty": {
			value: ChatCompletion{ID: "chatcmpl-1", Object: "chat.completion", Created: 7, Model: "m",
				Choices: []ChatChoice{{Message: ChatMessage{Role: "assistant", Content: "Hi", Annotations: []json.RawMessage{}}, FinishReason: "stop"}},
				Usage:   NewUsage(2, 3), ServiceTier: "default", SystemFingerprint: "fp"},
			want: `{"id":"chatcmpl-1","object":"chat.completion","created":7,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],` +
				`"usage":{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},` +
				`"service_tier":"default","system_fingerprint":"fp"}`,
		},
		"chat chunk without include_usage: no usage key": {
			value: ChatChunk{ID: "c", Object: "chat.completion.chunk", Created: 7, Model: "m", ServiceTier: "default", SystemFingerprint: "fp",
				Choices: []ChatChunkChoice{{Delta: ChatDelta{Content: &hello}}}}.Event(false),
			want: `{"id":"c","object":"chat.completion.chunk","created":7,"model":"m","service_tier":"default","system_fingerprint":"fp","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}`,
		},
		"chat chunk with include_usage before the last: usage null": {
			value: ChatChunk{ID: "c", Object: "chat.completion.chunk", Created: 7, Model: "m",
				Choices: []ChatChunkChoice{{Delta: ChatDelta{}, FinishReason: &stop}}}.Event(true),
			want: `{"id":"c","object":"chat.completion.chunk","created":7,"model":"m","service_tier":"","system_fingerprint":"","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}`,
		},
		"chat chunk with include_usage, the last: usage set, choices empty": {
			value: ChatChunk{ID: "c", Object: "chat.completion.chunk", Created: 7, Model: "m", Choices: []ChatChunkChoice{}, Usage: &Usage{TotalTokens: 4}}.Event(true),
			want: `{"id":"c","object":"chat.completion.chunk","created":7,"model":"m","service_tier":"","system_fingerprint":"","choices":[],` +
				`"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":4,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}`,
		},
		"text completion chunk without include_usage: no usage key": {
			value: TextCompletion{ID: "cmpl-1", Object: "text_completion", Created: 7, Model: "m", SystemFingerprint: "fp",
				Choices: []TextChoice{{Text: "Hi", Index: 1}}}.Event(false),
			want: `{"id":"cmpl-1","object":"text_completion","created":7,"model":"m","system_fingerprint":"fp","choices":[{"text":"Hi","index":1,"logprobs":null,"finish_reason":null}]}`,
		},
		"text completion chunk with include_usage: usage null": {
			value: TextCompletion{ID: "cmpl-1", Object: "text_completion", Created: 7, Model: "m", Choices: []TextChoice{{Text: "Hi", FinishReason: &stop}}}.Event(true),
			want:  `{"id":"cmpl-1","object":"text_completion","created":7,"model":"m","system_fingerprint":"","choices":[{"text":"Hi","index":0,"logprobs":null,"finish_reason":"stop"}],"usage":null}`,
		},
		"embedding list: object, embedding, index": {
			value: EmbeddingList{Object: "list", Data: []Embedding{{Object: "embedding", Embedding: []float32{0.5}, Index: 0}}, Model: "e", Usage: EmbeddingUsage{PromptTokens: 1, TotalTokens: 1}},
			want:  `{"object":"list","data":[{"object":"embedding","embedding":[0.5],"index":0}],"model":"e","usage":{"prompt_tokens":1,"total_tokens":1}}`,
		},
		"model list": {
			value: ModelList{Object: "list", Data: []Model{{ID: "m", Object: "model", Created: 1, OwnedBy: "system"}}},
			want:  `{"object":"list","data":[{"id":"m","object":"model","created":1,"owned_by":"system"}]}`,
		},
		"error without param or code: both null": {
			value: NewErrorBody("Bad.", "invalid_request_error", "", ""),
			want:  `{"error":{"message":"Bad.","type":"invalid_request_error","param":null,"code":null}}`,
		},
		"error with param and code": {
			value: NewErrorBody("Missing required parameter: 'input'.", "invalid_request_error", "input", "missing_required_parameter"),
			want:  `{"error":{"message":"Missing required parameter: 'input'.","type":"invalid_request_error","param":"input","code":"missing_required_parameter"}}`,
		},
		"output text: empty annotations and logprobs": {
			value: NewOutputText("Hi"),
			want:  `{"type":"output_text","text":"Hi","annotations":[],"logprobs":[]}`,
		},
		"response defaults": {
			value: NewResponse("resp_1", "m", 7),
			want: `{"id":"resp_1","object":"response","created_at":7,"status":"completed","background":false,"error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":"m","output":[],` +
				`"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"service_tier":"default","store":true,"temperature":1,"text":{"format":{"type":"text"}},` +
				`"tool_choice":"auto","tools":[],"top_p":1,"truncation":"disabled","usage":null,"user":null,"metadata":{}}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := json.Marshal(tc.value)
			if err != nil {
				t.Fatalf("encoding: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestOfficialSDKParses decodes the types with openai-go's own response types, as an app would.
func TestOfficialSDKParses(t *testing.T) {
	stop := "stop"
	chat, _ := json.Marshal(ChatCompletion{ID: "chatcmpl-1", Object: "chat.completion", Created: 7, Model: "m",
		Choices: []ChatChoice{{Message: ChatMessage{Role: "assistant", Content: "Hi", Annotations: []json.RawMessage{}}, FinishReason: stop}},
		Usage:   NewUsage(2, 3), ServiceTier: "default", SystemFingerprint: "fp"})
	var c openai.ChatCompletion
	if err := json.Unmarshal(chat, &c); err != nil || c.Choices[0].Message.Content != "Hi" || c.Usage.TotalTokens != 5 || c.Choices[0].FinishReason != "stop" {
		t.Errorf("chat completion: err %v, parsed %+v", err, c)
	}

	chunk, _ := json.Marshal(ChatChunk{ID: "c", Object: "chat.completion.chunk", Choices: []ChatChunkChoice{{FinishReason: &stop}}}.Event(true))
	var ch openai.ChatCompletionChunk
	if err := json.Unmarshal(chunk, &ch); err != nil || ch.Choices[0].FinishReason != "stop" || ch.JSON.Usage.Valid() {
		t.Errorf("chat chunk: err %v, parsed %+v", err, ch)
	}

	text, _ := json.Marshal(TextCompletion{ID: "cmpl-1", Object: "text_completion", Model: "m", Choices: []TextChoice{{Text: "Hi", FinishReason: &stop}}, Usage: NewUsage(1, 1)})
	var tc openai.Completion
	if err := json.Unmarshal(text, &tc); err != nil || tc.Choices[0].Text != "Hi" || tc.Usage.TotalTokens != 2 {
		t.Errorf("text completion: err %v, parsed %+v", err, tc)
	}

	emb, _ := json.Marshal(EmbeddingList{Object: "list", Data: []Embedding{{Object: "embedding", Embedding: []float32{0.5, -0.5}, Index: 0}}, Model: "e", Usage: EmbeddingUsage{PromptTokens: 1, TotalTokens: 1}})
	var el openai.CreateEmbeddingResponse
	if err := json.Unmarshal(emb, &el); err != nil || len(el.Data) != 1 || len(el.Data[0].Embedding) != 2 || el.Usage.PromptTokens != 1 {
		t.Errorf("embeddings: err %v, parsed %+v", err, el)
	}

	r := NewResponse("resp_1", "m", 7)
	r.Output = []OutputMessage{{Type: "message", ID: "msg_1", Status: "completed", Role: "assistant", Content: []OutputText{NewOutputText("Hi")}}}
	r.Usage = NewResponseUsage(2, 3)
	resp, _ := json.Marshal(r)
	var rr responses.Response
	if err := json.Unmarshal(resp, &rr); err != nil || rr.OutputText() != "Hi" || rr.Usage.TotalTokens != 5 || rr.Status != "completed" {
		t.Errorf("response: err %v, parsed %+v", err, rr)
	}
}
