package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/graphsync/graphsync/api"
)

// TestOpenAPIMatchesRoutes checks the OpenAPI document against the routes
// the API serves: every route is documented with its method, and every
// documented operation is served. The document is served as is.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	b := setup(t, options{emu: emulatorUsers(1), noConnect: true})
	a, err := b.w.API(b.client, api.Config{})
	if err != nil {
		t.Fatal(err)
	}
	methods := []string{"get", "post", "put", "patch", "delete"}
	served := map[string][]string{} // documented path -> methods served
	for _, pattern := range a.Routes() {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			method, path = "", pattern
		}
		path = strings.ReplaceAll(path, "...}", "}")
		ops, documented := doc.Paths[path]
		if !documented {
			t.Errorf("route %s is not in openapi.json", pattern)
			continue
		}
		want := []string{strings.ToLower(method)}
		if method == "" {
			want = methods
		}
		for _, m := range want {
			if _, ok := ops[m]; !ok {
				t.Errorf("route %s: openapi.json does not document %s", pattern, strings.ToUpper(m))
			}
		}
		served[path] = append(served[path], want...)
	}
	for path, ops := range doc.Paths {
		for m := range ops {
			if slices.Contains(methods, m) && !slices.Contains(served[path], m) {
				t.Errorf("openapi.json documents %s %s, which no route serves", strings.ToUpper(m), path)
			}
		}
	}
	status, body, h := b.call(t, "GET", "/v1/openapi.json", "", nil)
	if status != http.StatusOK || string(body) != string(api.OpenAPI) || h.Get("Content-Type") != "application/json" {
		t.Errorf("GET /v1/openapi.json: %d %s", status, h.Get("Content-Type"))
	}
	status, body, _ = b.call(t, "GET", "/v1/nothing", "", nil)
	if status != http.StatusNotFound || errorCode(t, body) != "not_found" {
		t.Errorf("unknown route: %d %s", status, body)
	}
}
