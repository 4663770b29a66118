package api

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the API's OpenAPI document; a test checks it against the
// routes.
//
//go:embed openapi.json
var OpenAPI []byte

func (a *API) openAPI(w http.ResponseWriter, r *http.Request, _ *request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(OpenAPI)
}
