package proxy

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

func TestScanRequest(t *testing.T) {
	tests := map[string]struct {
		// body is the request body.
		body string
		// model, stream, includeUsage, maxTokens are the expected fields; errCode a 400's code.
		model                string
		stream, includeUsage bool
		maxTokens            int64
		errCode              string
	}{
		"chat":                   {body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"{\"model\":\"x\"}"}],"max_tokens":30}`, model: "gpt-4o-mini", maxTokens: 30},
		"stream with usage":      {body: ` { "stream" : true , "stream_options":{"include_usage":true}, "model" : "a\u00e9" } `, model: "aé", stream: true, includeUsage: true},
		"max_completion_tokens":  {body: `{"model":"m","max_completion_tokens":12,"max_tokens":null}`, model: "m", maxTokens: 12},
		"escaped key":            {body: `{"mo\u0064el":"m"}`, model: "m"},
		"no model":               {body: `{"messages":[]}`},
		"invalid JSON":           {body: `{"model":"m",}`, errCode: "invalid_json"},
		"array":                  {body: `[]`, errCode: "invalid_json"},
		"stream not a bool":      {body: `{"stream":"yes"}`, errCode: "invalid_type"},
		"negative max_tokens":    {body: `{"max_tokens":-1}`, errCode: "invalid_type"},
		"stream_options not obj": {body: `{"stream_options":true}`, errCode: "invalid_type"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f, err := scanRequest([]byte(tc.body))
			if tc.errCode != "" {
				if err == nil || err.code != tc.errCode || err.status != 400 {
					t.Fatalf("want a 400 %s, got %+v", tc.errCode, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.modelName != tc.model || f.stream != tc.stream || f.includeUsage != tc.includeUsage || f.maxTokens != tc.maxTokens {
				t.Errorf("got model %q stream %v usage %v max %d", f.modelName, f.stream, f.includeUsage, f.maxTokens)
			}
		})
	}
}

func TestRewriteBody(t *testing.T) {
	tests := map[string]struct {
		// body is the client's body; model the replacement model ("" none); inject adds include_usage.
		body   string
		model  string
		inject bool
		// want is the expected JSON (compared semantically).
		want string
	}{
		"alias":                     {body: `{"model":"simple","messages":[]}`, model: "gpt-4o-mini", want: `{"model":"gpt-4o-mini","messages":[]}`},
		"inject usage":              {body: `{"model":"m","stream":true}`, inject: true, want: `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`},
		"alias and inject":          {body: `{"stream":true, "model":"a" }`, model: "b", inject: true, want: `{"stream":true,"model":"b","stream_options":{"include_usage":true}}`},
		"insert model":              {body: `{"messages":[]}`, model: "m", want: `{"model":"m","messages":[]}`},
		"insert model in empty obj": {body: `{ }`, model: "m", want: `{"model":"m"}`},
		"stream_options present":    {body: `{"model":"m","stream":true,"stream_options":{"include_obfuscation":false}}`, inject: true, want: `{"model":"m","stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true}}`},
		"include_usage false":       {body: `{"model":"m","stream":true,"stream_options":{"include_usage":false}}`, inject: true, want: `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`},
		"nothing to do":             {body: `{"model":"m"}`, want: `{"model":"m"}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f, err := scanRequest([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			var model []byte
			if tc.model != "" {
				model = appendJSONString(nil, tc.model)
			}
			got := rewriteBody(nil, []byte(tc.body), &f, model, tc.inject)
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("rewritten body is not JSON: %s", got)
			}
			_ = json.Unmarshal([]byte(tc.want), &w)
			gb, _ := json.Marshal(g)
			wb, _ := json.Marshal(w)
			if string(gb) != string(wb) {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestAPIErrorBody(t *testing.T) {
	e := &apiError{status: 400, message: "bad \"x\"\n<tag>", typ: typeInvalidRequest, code: "c"}
	var v struct {
		Error struct {
			Message string  `json:"message"`
			Param   *string `json:"param"`
		} `json:"error"`
	}
	if err := json.Unmarshal(e.body(), &v); err != nil || v.Error.Message != e.message || v.Error.Param != nil {
		t.Fatalf("body %s: %v", e.body(), err)
	}
	if strings.Contains(string(e.body()), "<") {
		t.Error("HTML characters must be escaped")
	}
}

// TestParseTokenCount checks the max_tokens parser against strconv.ParseInt, whose accepting
// behaviour (n >= 0, no error) it replaces on the request path.
func TestParseTokenCount(t *testing.T) {
	for _, raw := range []string{"0", "64", "-0", "-00", "007", "-1", "1.0", "1e3", "9223372036854775807",
		"9223372036854775808", "99999999999999999999", "-", "", "1a", "\"5\""} {
		t.Run(raw, func(t *testing.T) {
			want, err := strconv.ParseInt(raw, 10, 64)
			wantOK := err == nil && want >= 0
			got, ok := parseTokenCount([]byte(raw))
			if ok != wantOK || (ok && got != want) {
				t.Errorf("parseTokenCount(%q) = %d, %t; strconv.ParseInt accepts: %t with %d", raw, got, ok, wantOK, want)
			}
		})
	}
}
