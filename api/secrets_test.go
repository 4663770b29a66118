package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/internal/secretscan"
	"github.com/graphsync/graphsync/store"
)

// TestAPINoSecretLeaks uses every route, refusals included, with every log
// level on, then looks for the API keys, the sessions' link secrets and
// OAuth states, and every token, code and client secret the identity
// platform issued, in the logs, /metrics, the error bodies and the API's
// tables: none may appear.
func TestAPINoSecretLeaks(t *testing.T) {
	t.Parallel()
	page := newApp(t)
	public := freeAddr(t)
	o := options{emu: emulatorUsers(1), publicAddr: public, returnURLs: []string{page.srv.URL}}
	b := setup(t, o)
	b.process(t, o, b.store, public)
	conn := b.conns[0]
	key, _ := b.key(t, store.NewAPIKey{All: true})
	revoked, rk := b.key(t, store.NewAPIKey{All: true})
	if err := b.store.RevokeAPIKey(context.Background(), rk.ID); err != nil {
		t.Fatal(err)
	}
	limited, _ := b.key(t, store.NewAPIKey{Connections: []int64{conn.ID + 100}})
	secrets := []string{key, revoked, limited}
	var errorBodies []string
	call := func(method, path, key, body string) {
		status, out, _ := b.call(t, method, path, key, strings.NewReader(body))
		if status >= 400 {
			errorBodies = append(errorBodies, string(out))
		}
	}
	b.expireToken(t, conn.ID, 0)
	id := fmt.Sprint(conn.ID)
	call("GET", "/v1/connections/"+id+"/token", key, "")
	call("GET", "/v1/connections/"+id+"/token", revoked, "")
	call("GET", "/v1/connections/"+id+"/token", limited, "")
	call("GET", "/v1/connections/"+id+"/token", key[:len(key)-1]+"x", "")
	call("GET", "/v1/connections/"+id+"/graph/v1.0/me/mailFolders/inbox/messages/delta", key, "")
	call("GET", "/v1/connections/"+id+"/graph/v1.0/me/nothing", key, "")
	call("GET", "/v1/changes?after=now", key, "")
	call("GET", "/v1/changes", limited, "")

	// A completed session, a replayed answer and an unused one.
	for range 2 {
		status, out, _ := b.call(t, "POST", "/v1/connect/sessions", key, strings.NewReader(
			fmt.Sprintf(`{"resources":["mail"],"return_url":%q}`, page.srv.URL+"/back")))
		if status != http.StatusCreated {
			t.Fatalf("create session: %d %s", status, out)
		}
		link := between(string(out), `"url":"`, `"`)
		secrets = append(secrets, link[strings.LastIndex(link, "/")+1:])
	}
	callback := startOnly(t, b, key, page, "")
	u, _ := url.Parse(callback)
	secrets = append(secrets, u.Query().Get("state"), u.Query().Get("code"))
	browse(t, callback)
	browse(t, callback)
	time.Sleep(100 * time.Millisecond)

	secrets = append(secrets, b.em.IssuedSecrets()...)
	secrets = append(secrets, testSecret)
	_, metrics, _ := b.call(t, "GET", "/metrics", "", nil)
	var rows strings.Builder
	for _, table := range []string{"api_keys", "connect_sessions"} {
		r, err := b.store.Pool().Query(context.Background(), "SELECT row_to_json(t)::text FROM "+table+" t")
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var s string
			if err := r.Scan(&s); err != nil {
				t.Fatal(err)
			}
			rows.WriteString(s + "\n")
		}
		r.Close()
	}
	if !strings.Contains(b.logs.String(), "api request") || rows.Len() == 0 {
		t.Fatal("nothing to scan")
	}
	var found []secretscan.Finding
	found = append(found, secretscan.Scan("logs", b.logs.Bytes(), secrets)...)
	found = append(found, secretscan.Scan("/metrics", metrics, secrets)...)
	found = append(found, secretscan.Scan("error bodies", []byte(strings.Join(errorBodies, "\n")), secrets)...)
	found = append(found, secretscan.Scan("api tables", []byte(rows.String()), secrets)...)
	found = append(found, secretscan.Links("logs", b.logs.Bytes())...)
	for _, f := range found {
		t.Error(f)
	}
}

func between(s, from, to string) string {
	_, rest, _ := strings.Cut(s, from)
	v, _, _ := strings.Cut(rest, to)
	return v
}
