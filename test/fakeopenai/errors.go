package fakeopenai

import "github.com/mosaic-dev/mosaic/internal/openaiwire"

// error answers with an OpenAI error body; empty code and param are null.
func (x *exchange) error(status int, typ, code, message, param string) {
	x.writeJSON(status, openaiwire.NewErrorBody(message, typ, param, code))
}
