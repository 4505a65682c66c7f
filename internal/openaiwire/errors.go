package openaiwire

// ErrorBody is OpenAI's error envelope: {"error": {...}}.
type ErrorBody struct {
	// Error describes what went wrong.
	Error ErrorObject `json:"error"`
}

// ErrorObject is OpenAI's error object.
type ErrorObject struct {
	// Message is the human-readable description; Type is the class, e.g. "invalid_request_error".
	Message string `json:"message"`
	Type    string `json:"type"`
	// Param names the request parameter at fault and Code is the machine-readable code, e.g.
	// "model_not_found"; each is null (nil) when it does not apply.
	Param *string `json:"param"`
	Code  *string `json:"code"`
}

// NewErrorBody is the error body of message and typ; an empty param or code encodes as null.
func NewErrorBody(message, typ, param, code string) ErrorBody {
	e := ErrorObject{Message: message, Type: typ}
	if param != "" {
		e.Param = &param
	}
	if code != "" {
		e.Code = &code
	}
	return ErrorBody{Error: e}
}
