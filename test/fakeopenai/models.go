package fakeopenai

import (
	"net/http"
	"strings"

	"github.com/mosaic-dev/mosaic/internal/openaiwire"
)

// models is the list the fake serves: Options.Models, or DefaultModels.
func (s *Server) models() []string {
	if len(s.opts.Models) > 0 {
		return s.opts.Models
	}
	return DefaultModels
}

func newModel(id string) openaiwire.Model {
	owner := "system"
	if strings.HasPrefix(id, "gpt-") {
		owner = "openai"
	}
	return openaiwire.Model{ID: id, Object: "model", Created: 1686935002, OwnedBy: owner}
}

func (x *exchange) listModels() {
	list := openaiwire.ModelList{Object: "list", Data: []openaiwire.Model{}}
	for _, id := range x.s.models() {
		list.Data = append(list.Data, newModel(id))
	}
	x.writeJSON(http.StatusOK, list)
}

func (x *exchange) getModel(id string) {
	for _, m := range x.s.models() {
		if m == id {
			x.writeJSON(http.StatusOK, newModel(id))
			return
		}
	}
	x.error(http.StatusNotFound, "invalid_request_error", "model_not_found", "The model '"+id+"' does not exist", "model")
}
