package fakeopenai

// errorBody is OpenAI's error envelope.
type errorBody struct {
	Error errorDetail `json:"error"`
}

// errorDetail is OpenAI's error object; param and code are null when unset.
type errorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// error answers with an OpenAI error body; empty code and param are null.
func (x *exchange) error(status int, typ, code, message, param string) {
	d := errorDetail{Message: message, Type: typ}
	if code != "" {
		d.Code = &code
	}
	if param != "" {
		d.Param = &param
	}
	x.writeJSON(status, errorBody{Error: d})
}
