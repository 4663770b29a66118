package emulator

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// bundle is what most tests need: a running emulator and a client.
type bundle struct {
	srv    *Server
	client *http.Client
}

func setup(t *testing.T, cfg Config) *bundle {
	t.Helper()
	srv, err := Start(cfg)
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &bundle{srv: srv, client: &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// appToken gets an app-only token with client credentials.
func (b *bundle) appToken(t *testing.T) string {
	t.Helper()
	status, body := b.postForm(t, "/"+b.srv.TenantID()+"/oauth2/v2.0/token", url.Values{
		"client_id": {defaultClientID}, "client_secret": {defaultSecret}, "grant_type": {"client_credentials"},
		"scope": {"https://graph.microsoft.com/.default"}})
	if status != 200 {
		t.Fatalf("client credentials: %d %s", status, body)
	}
	return jsonField(t, body, "access_token")
}

// authCode runs the authorize endpoint and returns the redirect's query.
func (b *bundle) authorize(t *testing.T, q url.Values) (int, url.Values, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxT(t), http.MethodGet, b.srv.URL()+"/common/oauth2/v2.0/authorize?"+q.Encode(), nil)
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil {
		return resp.StatusCode, nil, string(body)
	}
	return resp.StatusCode, loc.Query(), string(body)
}

func authQuery(scope string) url.Values {
	return url.Values{"client_id": {defaultClientID}, "response_type": {"code"}, "redirect_uri": {defaultRedirect},
		"scope": {scope}, "state": {"st-123"}}
}

// userTokens runs the authorization code flow for login_hint (or the first
// user) and returns the token response.
func (b *bundle) userTokens(t *testing.T, scope, loginHint string) map[string]any {
	t.Helper()
	q := authQuery(scope)
	if loginHint != "" {
		q.Set("login_hint", loginHint)
	}
	status, rq, body := b.authorize(t, q)
	if status != http.StatusFound || rq.Get("code") == "" {
		t.Fatalf("authorize: %d %v %s", status, rq, body)
	}
	st, tb := b.postForm(t, "/common/oauth2/v2.0/token", url.Values{"client_id": {defaultClientID}, "client_secret": {defaultSecret},
		"grant_type": {"authorization_code"}, "code": {rq.Get("code")}, "redirect_uri": {defaultRedirect}})
	if st != 200 {
		t.Fatalf("redeem code: %d %s", st, tb)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(tb), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// adminConsent runs the admin consent endpoint at path (after the origin)
// and returns the response and its redirect's query.
func (b *bundle) adminConsent(t *testing.T, path string, q url.Values) (*http.Response, url.Values) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxT(t), http.MethodGet, b.srv.URL()+path+"?"+q.Encode(), nil)
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatalf("admin consent: %v", err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil {
		return resp, nil
	}
	return resp, loc.Query()
}

func (b *bundle) postForm(t *testing.T, path string, f url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxT(t), http.MethodPost, b.srv.URL()+path, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatalf("post %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// get performs a Graph GET; url may be absolute (a nextLink) or a path.
func (b *bundle) get(t *testing.T, token, u string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.srv.URL() + u
	}
	req, _ := http.NewRequestWithContext(ctxT(t), http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", u, err)
	}
	return resp, body
}

func jsonField(t *testing.T, body, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	s, _ := m[field].(string)
	return s
}

// graphErr decodes a Graph error body.
func graphErr(t *testing.T, body []byte) (code, msg string) {
	t.Helper()
	var e struct {
		Error struct {
			Code       string            `json:"code"`
			Message    string            `json:"message"`
			InnerError map[string]string `json:"innerError"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("decode error body %q: %v", body, err)
	}
	if e.Error.InnerError["request-id"] == "" || e.Error.InnerError["date"] == "" {
		t.Errorf("error body lacks innerError request-id/date: %s", body)
	}
	return e.Error.Code, e.Error.Message
}

type page struct {
	Value     []map[string]json.RawMessage `json:"value"`
	NextLink  string                       `json:"@odata.nextLink"`
	DeltaLink string                       `json:"@odata.deltaLink"`
}

// syncRound follows nextLinks from start to the deltaLink, applying items
// to state via apply. It returns the deltaLink.
func (b *bundle) syncRound(t *testing.T, token, start string, apply func(map[string]json.RawMessage), hdr ...string) string {
	t.Helper()
	link := start
	for i := 0; i < 10000; i++ {
		resp, body := b.get(t, token, link, hdr...)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", link, resp.StatusCode, body)
		}
		var p page
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("decode page: %v", err)
		}
		for _, it := range p.Value {
			apply(it)
		}
		if p.DeltaLink != "" {
			return p.DeltaLink
		}
		if p.NextLink == "" {
			t.Fatalf("page has neither nextLink nor deltaLink: %s", body)
		}
		link = p.NextLink
	}
	t.Fatal("delta round did not end")
	return ""
}

func str(m map[string]json.RawMessage, k string) string {
	var s string
	_ = json.Unmarshal(m[k], &s)
	return s
}
