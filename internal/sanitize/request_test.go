package sanitize

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

const (
	testCard  = "4111 1111 1111 1111"
	testEmail = "jane.doe@example.com"
	testKey   = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
)

func TestSanitizeRequestFields(t *testing.T) {
	tests := map[string]struct {
		// op is the operation.
		op string
		// body is the request body.
		body string
		// want is the expected body after redaction (compared as JSON values).
		want string
		// wantField is the field path a Block policy names.
		wantField string
	}{
		"chat string content": {
			op:        OperationChatCompletions,
			body:      `{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"card ` + testCard + `"}]}`,
			want:      `{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"card [CREDIT_CARD]"}]}`,
			wantField: "messages[1].content",
		},
		"chat content parts": {
			op:        OperationChatCompletions,
			body:      `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x.example/4111111111111111.png"}},{"type":"text","text":"mail ` + testEmail + `"}]}]}`,
			want:      `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x.example/4111111111111111.png"}},{"type":"text","text":"mail [EMAIL]"}]}]}`,
			wantField: "messages[0].content[1].text",
		},
		"chat name": {
			op:        OperationChatCompletions,
			body:      `{"messages":[{"role":"user","name":"` + testEmail + `","content":"hi"}]}`,
			want:      `{"messages":[{"role":"user","name":"[EMAIL]","content":"hi"}]}`,
			wantField: "messages[0].name",
		},
		"chat tool call arguments": {
			op: OperationChatCompletions,
			body: `{"messages":[{"role":"user","content":"pay"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",` +
				`"function":{"name":"pay","arguments":"{\"card\":\"` + testCard + `\",\"amount\":12.5}"}}]}]}`,
			want: `{"messages":[{"role":"user","content":"pay"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",` +
				`"function":{"name":"pay","arguments":"{\"card\":\"[CREDIT_CARD]\",\"amount\":12.5}"}}]}]}`,
			wantField: "messages[1].tool_calls[0].function.arguments",
		},
		"chat legacy function_call": {
			op:        OperationChatCompletions,
			body:      `{"messages":[{"role":"assistant","function_call":{"name":"f","arguments":"{\"k\":\"` + testKey + `\"}"}}]}`,
			want:      `{"messages":[{"role":"assistant","function_call":{"name":"f","arguments":"{\"k\":\"[SECRET_KEY]\"}"}}]}`,
			wantField: "messages[0].function_call.arguments",
		},
		"chat prediction": {
			op:        OperationChatCompletions,
			body:      `{"messages":[],"prediction":{"type":"content","content":"` + testEmail + `"}}`,
			want:      `{"messages":[],"prediction":{"type":"content","content":"[EMAIL]"}}`,
			wantField: "prediction.content",
		},
		"completions prompt string": {
			op:        OperationCompletions,
			body:      `{"model":"m","prompt":"call (555) 123-4567","max_tokens":5}`,
			want:      `{"model":"m","prompt":"call [PHONE_NUMBER]","max_tokens":5}`,
			wantField: "prompt",
		},
		"completions prompt array": {
			op:        OperationCompletions,
			body:      `{"prompt":["fine","ssn 123-45-6789"]}`,
			want:      `{"prompt":["fine","ssn [US_SSN]"]}`,
			wantField: "prompt[1]",
		},
		"embeddings input string": {
			op:        OperationEmbeddings,
			body:      `{"model":"e","input":"` + testEmail + `","encoding_format":"float"}`,
			want:      `{"model":"e","input":"[EMAIL]","encoding_format":"float"}`,
			wantField: "input",
		},
		"embeddings input array": {
			op:        OperationEmbeddings,
			body:      `{"input":["a","b ` + testCard + `"]}`,
			want:      `{"input":["a","b [CREDIT_CARD]"]}`,
			wantField: "input[1]",
		},
		"responses input string": {
			op:        OperationResponses,
			body:      `{"model":"m","input":"key ` + testKey + `"}`,
			want:      `{"model":"m","input":"key [SECRET_KEY]"}`,
			wantField: "input",
		},
		"responses instructions": {
			op:        OperationResponses,
			body:      `{"instructions":"reply to ` + testEmail + `","input":"hi"}`,
			want:      `{"instructions":"reply to [EMAIL]","input":"hi"}`,
			wantField: "instructions",
		},
		"responses message content string": {
			op:        OperationResponses,
			body:      `{"input":[{"role":"user","content":"` + testEmail + `"}]}`,
			want:      `{"input":[{"role":"user","content":"[EMAIL]"}]}`,
			wantField: "input[0].content",
		},
		"responses input parts": {
			op: OperationResponses,
			body: `{"input":[{"type":"message","role":"user","content":[{"type":"input_image","image_url":"data:image/png;base64,AAAA"},` +
				`{"type":"input_text","text":"` + testCard + `"}]},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"ok"}]}]}`,
			want: `{"input":[{"type":"message","role":"user","content":[{"type":"input_image","image_url":"data:image/png;base64,AAAA"},` +
				`{"type":"input_text","text":"[CREDIT_CARD]"}]},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"ok"}]}]}`,
			wantField: "input[0].content[1].text",
		},
		"responses function call and output": {
			op: OperationResponses,
			body: `{"input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},` +
				`{"type":"function_call_output","call_id":"c","output":"owner ` + testEmail + `"}]}`,
			want: `{"input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},` +
				`{"type":"function_call_output","call_id":"c","output":"owner [EMAIL]"}]}`,
			wantField: "input[1].output",
		},
		"escaped string is re-encoded": {
			op:        OperationChatCompletions,
			body:      `{"messages":[{"role":"user","content":"line1\n\"quoted\" \u00e9 \ud83d\ude00 card ` + testCard + `\t"}]}`,
			want:      `{"messages":[{"role":"user","content":"line1\n\"quoted\" é 😀 card [CREDIT_CARD]\t"}]}`,
			wantField: "messages[0].content",
		},
		"escaped key matches": {
			op:        OperationChatCompletions,
			body:      `{"messag\u0065s":[{"role":"user","content":"` + testEmail + `"}]}`,
			want:      `{"messag\u0065s":[{"role":"user","content":"[EMAIL]"}]}`,
			wantField: "messages[0].content",
		},
		"key case folded like encoding/json": {
			op:        OperationChatCompletions,
			body:      `{"Messages":[{"role":"user","Content":"` + testEmail + `"}]}`,
			want:      `{"Messages":[{"role":"user","Content":"[EMAIL]"}]}`,
			wantField: "messages[0].content",
		},
		"duplicate key both scanned": {
			op:        OperationChatCompletions,
			body:      `{"messages":[{"role":"user","content":"fine","content":"` + testEmail + `"}]}`,
			want:      `{"messages":[{"role":"user","content":"fine","content":"[EMAIL]"}]}`,
			wantField: "messages[0].content",
		},
		"detected digits escaped": {
			op:        OperationEmbeddings,
			body:      `{"input":"\u0034111111111111111"}`,
			want:      `{"input":"[CREDIT_CARD]"}`,
			wantField: "input",
		},
	}
	redact := mustNew(t, Policy{Detectors: allDetectors})
	block := mustNew(t, Policy{Detectors: allDetectors, Action: Block})
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, res, err := redact.SanitizeRequest(tc.op, []byte(tc.body))
			if err != nil {
				t.Fatalf("SanitizeRequest: %v", err)
			}
			if len(res.Hits) == 0 {
				t.Errorf("no hits reported")
			}
			assertJSONEqual(t, out, tc.want)

			_, _, err = block.SanitizeRequest(tc.op, []byte(tc.body))
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("Block policy: got %v, want *BlockedError", err)
			}
			if be.Field != tc.wantField {
				t.Errorf("BlockedError.Field = %q, want %q", be.Field, tc.wantField)
			}
		})
	}
}

func assertJSONEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	if !json.Valid(got) {
		t.Fatalf("output is not valid JSON: %s", got)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad test want: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body\n got  %s\n want %s", got, want)
	}
}

func TestSanitizeRequestPassThrough(t *testing.T) {
	tests := map[string]struct {
		// op is the operation.
		op string
		// body is a request with nothing to redact in its text fields.
		body string
	}{
		"chat with unknown fields": {
			op: OperationChatCompletions,
			body: `{"model":"gpt-4o","messages":[{"role":"user","content":"hello","x_custom":{"a":[1,2.5e3,-0.1,true,null]}}],` +
				`"tools":[{"type":"function","function":{"name":"f","description":"card 4111 1111 1111 1111 in a tool description is not a text field","parameters":{}}}],` +
				`"metadata":{"user":"` + testEmail + `"},"stream":true,"stream_options":{"include_usage":true},"temperature":0.7}`,
		},
		"whitespace kept": {
			op:   OperationChatCompletions,
			body: "{\n  \"messages\" : [ { \"role\" : \"user\" , \"content\" : \"hi\" } ]\n}\n",
		},
		"completions token arrays": {
			op:   OperationCompletions,
			body: `{"prompt":[[1212,318,257],[50256]]}`,
		},
		"completions token array": {
			op:   OperationCompletions,
			body: `{"prompt":[1212,318,257]}`,
		},
		"embeddings token arrays": {
			op:   OperationEmbeddings,
			body: `{"input":[[4111,1111,1111,1111]]}`,
		},
		"responses other items": {
			op:   OperationResponses,
			body: `{"input":[{"type":"reasoning","id":"r","summary":[]},{"type":"item_reference","id":"x"}],"tools":[{"type":"web_search"}]}`,
		},
		"other operation fields not scanned": {
			op:   OperationEmbeddings,
			body: `{"input":"ok","messages":[{"content":"` + testEmail + `"}],"prompt":"` + testCard + `"}`,
		},
		"v1 prefix": {
			op:   "/v1/chat/completions",
			body: `{"messages":[]}`,
		},
		"nulls": {
			op:   OperationChatCompletions,
			body: `{"messages":[{"role":"assistant","content":null,"name":null,"tool_calls":null,"function_call":null}],"prediction":null}`,
		},
	}
	s := mustNew(t, Policy{Detectors: allDetectors, Patterns: []Pattern{{Name: "codename", Regex: `\bOsprey\b`}}})
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			body := []byte(tc.body)
			out, res, err := s.SanitizeRequest(tc.op, body)
			if err != nil {
				t.Fatalf("SanitizeRequest: %v", err)
			}
			if len(res.Hits) != 0 {
				t.Errorf("hits %v, want none", res.Hits)
			}
			if len(out) != len(body) || &out[0] != &body[0] {
				t.Errorf("output is not the original body slice")
			}
		})
	}
}

func TestSanitizeRequestKeepsOtherBytes(t *testing.T) {
	// Only the redacted string changes; spacing, key order, number spelling and unknown fields stay.
	body := `{ "z_unknown" : {"deep":[1.50, 2E+3, "` + testEmail + `"]},` + "\n" +
		`  "messages":[ {"content" : "a ` + testEmail + ` b", "role":"user", "extra": "\u00e9"} ], "model":"m" }`
	want := `{ "z_unknown" : {"deep":[1.50, 2E+3, "` + testEmail + `"]},` + "\n" +
		`  "messages":[ {"content" : "a [EMAIL] b", "role":"user", "extra": "\u00e9"} ], "model":"m" }`
	s := mustNew(t, Policy{Detectors: allDetectors})
	out, _, err := s.SanitizeRequest(OperationChatCompletions, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
}

func TestSanitizeRequestResult(t *testing.T) {
	s := mustNew(t, Policy{Detectors: allDetectors})
	body := `{"messages":[{"role":"user","content":"héllo ` + testEmail + ` and ` + testEmail + `"},` +
		`{"role":"user","content":[{"type":"text","text":"` + testCard + `"}]}]}`
	_, res, err := s.SanitizeRequest(OperationChatCompletions, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	wantChars := len([]rune("héllo " + testEmail + " and " + testEmail + testCard))
	want := Result{
		Hits:            []Hit{{Detector: "Email", Action: Redact, Count: 2}, {Detector: "CreditCard", Action: Redact, Count: 1}},
		Chars:           wantChars,
		EstimatedTokens: (wantChars + 3) / 4,
	}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("Result = %+v, want %+v", res, want)
	}
}

func TestSanitizeRequestBlockedNeverEchoes(t *testing.T) {
	secrets := map[string]struct {
		// text is the sensitive value.
		text string
		// detector is the detector that must be named.
		detector string
	}{
		"card":   {text: testCard, detector: "CreditCard"},
		"ssn":    {text: "123-45-6789", detector: "USSSN"},
		"email":  {text: testEmail, detector: "Email"},
		"phone":  {text: "+44 20 7946 0958", detector: "PhoneNumber"},
		"key":    {text: testKey, detector: "SecretKey"},
		"bearer": {text: "Bearer abcdef0123456789xyz", detector: "SecretKey"},
		"custom": {text: "EMP-123456", detector: "employeeId"},
	}
	s := mustNew(t, Policy{Detectors: allDetectors, Action: Block, Patterns: []Pattern{{Name: "employeeId", Regex: `EMP-\d{6}`}}})
	for name, tc := range secrets {
		t.Run(name, func(t *testing.T) {
			body := `{"messages":[{"role":"user","content":"hi"},{"role":"user","content":"mine is ` + tc.text + `"}]}`
			_, res, err := s.SanitizeRequest(OperationChatCompletions, []byte(body))
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("got %v, want *BlockedError", err)
			}
			if be.Detector != tc.detector || be.Field != "messages[1].content" {
				t.Errorf("BlockedError = %+v, want detector %s in messages[1].content", be, tc.detector)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.detector) || !strings.Contains(msg, "messages[1].content") {
				t.Errorf("error %q does not name detector and field", msg)
			}
			for _, part := range strings.Fields(tc.text) {
				if len(part) >= 4 && strings.Contains(msg, part) {
					t.Errorf("error %q echoes the matched text", msg)
				}
			}
			if len(res.Hits) != 1 || res.Hits[0].Action != Block {
				t.Errorf("hits = %v, want one Block hit", res.Hits)
			}
		})
	}
}

func TestSanitizeRequestPatternAction(t *testing.T) {
	// The policy redacts; one pattern blocks.
	s := mustNew(t, Policy{
		Detectors: allDetectors,
		Patterns: []Pattern{
			{Name: "ticket", Regex: `TCK-\d+`},
			{Name: "codename", Regex: `(?i)project osprey`, Action: Block},
		},
	})
	out, res, err := s.SanitizeRequest(OperationChatCompletions, []byte(`{"messages":[{"content":"TCK-42 for `+testEmail+`"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, out, `{"messages":[{"content":"[TICKET] for [EMAIL]"}]}`)
	if len(res.Hits) != 2 {
		t.Errorf("hits = %v", res.Hits)
	}
	_, _, err = s.SanitizeRequest(OperationChatCompletions, []byte(`{"messages":[{"content":"about Project Osprey"}]}`))
	var be *BlockedError
	if !errors.As(err, &be) || be.Detector != "codename" {
		t.Errorf("got %v, want BlockedError for codename", err)
	}
}

func TestSanitizeRequestLimits(t *testing.T) {
	tests := map[string]struct {
		// policy sets the limits.
		policy Policy
		// body is the request.
		body string
		// want is the expected error, nil when the request passes.
		want *LimitError
	}{
		"chars at limit": {
			policy: Policy{MaxPromptChars: 10},
			body:   `{"messages":[{"content":"hello"},{"content":[{"type":"text","text":"wörld"}]}]}`,
		},
		"chars over limit": {
			policy: Policy{MaxPromptChars: 9},
			body:   `{"messages":[{"content":"hello"},{"content":[{"type":"text","text":"wörld"}]}]}`,
			want:   &LimitError{Field: "maxPromptChars", Limit: 9, Actual: 10},
		},
		"escapes count as one character": {
			policy: Policy{MaxPromptChars: 3},
			body:   `{"messages":[{"content":"\n\u00e9\ud83d\ude00"}]}`,
		},
		"tokens at limit": {
			policy: Policy{MaxPromptTokens: 2},
			body:   `{"messages":[{"content":"12345678"}]}`,
		},
		"tokens over limit": {
			policy: Policy{MaxPromptTokens: 2},
			body:   `{"messages":[{"content":"123456789"}]}`,
			want:   &LimitError{Field: "maxPromptTokens", Limit: 2, Actual: 3},
		},
		"non-text fields do not count": {
			policy: Policy{MaxPromptChars: 2},
			body:   `{"model":"a-long-model-name","messages":[{"role":"assistant","content":"ok"}]}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := mustNew(t, tc.policy)
			_, _, err := s.SanitizeRequest(OperationChatCompletions, []byte(tc.body))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var le *LimitError
			if !errors.As(err, &le) {
				t.Fatalf("got %v, want *LimitError", err)
			}
			if *le != *tc.want {
				t.Errorf("LimitError = %+v, want %+v", *le, *tc.want)
			}
		})
	}
}

func TestSanitizeRequestBadRequest(t *testing.T) {
	tests := map[string]struct {
		// op is the operation.
		op string
		// body is the malformed request.
		body string
		// want is the error message.
		want string
	}{
		"empty":               {op: OperationChatCompletions, body: ``, want: "request body: empty body, expected a JSON object"},
		"array body":          {op: OperationChatCompletions, body: `[]`, want: "request body: expected a JSON object, got array"},
		"truncated":           {op: OperationChatCompletions, body: `{"messages":[{"content":"hi"`, want: "messages[0]: invalid JSON: unexpected end of body, expected ',' or '}' after object member"},
		"content number":      {op: OperationChatCompletions, body: `{"messages":[{"content":5}]}`, want: "messages[0].content: expected string or array of content parts, got number"},
		"messages object":     {op: OperationChatCompletions, body: `{"messages":{}}`, want: "messages: expected array of messages, got object"},
		"message string":      {op: OperationChatCompletions, body: `{"messages":["hi"]}`, want: "messages[0]: expected message object, got string"},
		"part string":         {op: OperationChatCompletions, body: `{"messages":[{"content":["hi"]}]}`, want: "messages[0].content[0]: expected content part object, got string"},
		"part text number":    {op: OperationChatCompletions, body: `{"messages":[{"content":[{"type":"text","text":1}]}]}`, want: "messages[0].content[0].text: expected string, got number"},
		"arguments object":    {op: OperationChatCompletions, body: `{"messages":[{"tool_calls":[{"function":{"arguments":{}}}]}]}`, want: "messages[0].tool_calls[0].function.arguments: expected string, got object"},
		"prompt object":       {op: OperationCompletions, body: `{"prompt":{}}`, want: "prompt: expected string, array of strings or token array, got object"},
		"prompt element bool": {op: OperationCompletions, body: `{"prompt":["a",true]}`, want: "prompt[1]: expected string or token array, got boolean"},
		"token array string":  {op: OperationEmbeddings, body: `{"input":[[1,"a"]]}`, want: "input[0][1]: expected token id (integer), got string"},
		"responses item":      {op: OperationResponses, body: `{"input":[1]}`, want: "input[0]: expected input item object, got number"},
		"trailing data":       {op: OperationChatCompletions, body: `{} {}`, want: "request body: invalid JSON: data after the top-level object at byte 3"},
		"bad escape":          {op: OperationChatCompletions, body: `{"messages":[{"content":"\x"}]}`, want: "messages[0].content: invalid JSON: invalid escape in string at byte 25"},
		"control char":        {op: OperationChatCompletions, body: "{\"messages\":[{\"content\":\"a\x01\"}]}", want: "messages[0].content: invalid JSON: control character in string at byte 26"},
		"bad number":          {op: OperationChatCompletions, body: `{"n":01}`, want: "request body: invalid JSON: expected ',' or '}' after object member at byte 6"},
		"bad literal":         {op: OperationChatCompletions, body: `{"n":nul}`, want: "request body: invalid JSON: invalid literal at byte 5"},
		"missing colon":       {op: OperationChatCompletions, body: `{"n" 1}`, want: "request body: invalid JSON: expected ':' after object key at byte 5"},
		"unknown field bad":   {op: OperationChatCompletions, body: `{"x":[1,]}`, want: "request body: invalid JSON: invalid character ']' looking for a value at byte 8"},
	}
	s := mustNew(t, Policy{Detectors: allDetectors})
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, _, err := s.SanitizeRequest(tc.op, []byte(tc.body))
			var be *BadRequestError
			if !errors.As(err, &be) {
				t.Fatalf("got %v, want *BadRequestError", err)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got  %q\n want %q", err.Error(), tc.want)
			}
		})
	}
}

func TestSanitizeRequestUnsupportedOperation(t *testing.T) {
	s := mustNew(t, Policy{})
	_, _, err := s.SanitizeRequest("/images/generations", []byte(`{}`))
	if !errors.Is(err, ErrUnsupportedOperation) {
		t.Errorf("got %v, want ErrUnsupportedOperation", err)
	}
}

func TestSanitizeRequestNoAllocWhenClean(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers")
	}
	s := mustNew(t, Policy{Detectors: allDetectors, MaxPromptChars: 1 << 20})
	body := benchBody(4<<10, false)
	allocs := testing.AllocsPerRun(50, func() {
		if _, _, err := s.SanitizeRequest(OperationChatCompletions, body); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per clean request, want 0", allocs)
	}
}

func TestSanitizeRequestDepth(t *testing.T) {
	s := mustNew(t, Policy{Detectors: allDetectors})
	nest := func(n int) []byte {
		return []byte(`{"x":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`)
	}
	// encoding/json accepts nesting up to 10000 levels, the top-level object included.
	for _, n := range []int{maxDepth, maxDepth + 1} {
		_, _, err := s.SanitizeRequest(OperationChatCompletions, nest(n))
		if valid := json.Valid(nest(n)); (err == nil) != valid {
			t.Errorf("depth %d: err %v, json.Valid %v", n, err, valid)
		}
	}
}
