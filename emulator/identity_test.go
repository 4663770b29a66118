package emulator

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// tokenErr decodes the identity platform's error body and checks its shape.
// https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow#error-response-1
func tokenErr(t *testing.T, body string) (string, []int, string) {
	t.Helper()
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Codes       []int  `json:"error_codes"`
		Timestamp   string `json:"timestamp"`
		TraceID     string `json:"trace_id"`
		CorrID      string `json:"correlation_id"`
		URI         string `json:"error_uri"`
		Suberror    string `json:"suberror"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	if !strings.HasPrefix(e.Description, "AADSTS") || !strings.Contains(e.Description, "\r\nTrace ID: ") ||
		!strings.Contains(e.Description, "\r\nCorrelation ID: ") || !strings.Contains(e.Description, "\r\nTimestamp: ") ||
		e.TraceID == "" || e.CorrID == "" || e.Timestamp == "" || !strings.HasPrefix(e.URI, "https://login.microsoftonline.com/error?code=") {
		t.Errorf("error body shape: %s", body)
	}
	return e.Error, e.Codes, e.Suberror
}

func wantTokenErr(t *testing.T, status int, body string, wantStatus int, wantErr string, wantCode int) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("status %d, want %d: %s", status, wantStatus, body)
	}
	e, codes, _ := tokenErr(t, body)
	if e != wantErr || !slices.Contains(codes, wantCode) {
		t.Errorf("got %s %v, want %s %d", e, codes, wantErr, wantCode)
	}
}

// https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow
func TestAuthCodeFlow(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 5, Users: 3, MessagesPerUser: 1})
	users := b.srv.Users()
	verifier := strings.Repeat("v3rifier-", 6)
	sum := sha256.Sum256([]byte(verifier))
	q := authQuery("openid profile email offline_access https://graph.microsoft.com/Mail.Read User.Read")
	q.Set("login_hint", users[2].UserPrincipalName)
	q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
	q.Set("code_challenge_method", "S256")
	q.Set("prompt", "select_account")
	status, rq, body := b.authorize(t, q)
	if status != http.StatusFound || rq.Get("state") != "st-123" || rq.Get("code") == "" {
		t.Fatalf("authorize: %d %v %s", status, rq, body)
	}
	form := url.Values{"client_id": {defaultClientID}, "grant_type": {"authorization_code"}, "code": {rq.Get("code")},
		"redirect_uri": {defaultRedirect}, "code_verifier": {"wrong" + verifier}}
	req := func(f url.Values, basic bool) (int, string) {
		if !basic {
			f.Set("client_secret", defaultSecret)
			return b.postForm(t, "/organizations/oauth2/v2.0/token", f)
		}
		r, _ := http.NewRequestWithContext(ctxT(t), http.MethodPost, b.srv.URL()+"/organizations/oauth2/v2.0/token", strings.NewReader(f.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(defaultClientID, defaultSecret)
		resp, err := b.client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, tb := req(form, false)
	wantTokenErr(t, st, tb, 400, "invalid_grant", 501481) // PKCE mismatch
	form.Set("code_verifier", verifier)
	form.Set("redirect_uri", "http://127.0.0.1:9999/other")
	st, tb = req(form, false)
	wantTokenErr(t, st, tb, 400, "invalid_request", 500112)
	form.Set("redirect_uri", defaultRedirect)
	st, tb = req(form, true) // HTTP Basic client authentication
	if st != 200 {
		t.Fatalf("redeem: %d %s", st, tb)
	}
	var resp map[string]any
	_ = json.Unmarshal([]byte(tb), &resp)
	for _, k := range []string{"token_type", "scope", "expires_in", "ext_expires_in", "access_token", "refresh_token", "id_token"} {
		if _, ok := resp[k]; !ok {
			t.Errorf("success body lacks %s: %s", k, tb)
		}
	}
	if len(resp) != 7 {
		t.Errorf("success body has extra fields: %s", tb)
	}
	if resp["expires_in"].(float64) != 3599 || resp["token_type"] != "Bearer" {
		t.Errorf("expires_in/token_type: %v %v", resp["expires_in"], resp["token_type"])
	}
	scope := resp["scope"].(string)
	for _, s := range []string{"https://graph.microsoft.com/Mail.Read", "https://graph.microsoft.com/User.Read", "openid", "profile", "email", "offline_access"} {
		if !slices.Contains(strings.Fields(scope), s) {
			t.Errorf("scope %q lacks %s", scope, s)
		}
	}
	parts := strings.Split(resp["id_token"].(string), ".")
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var idt map[string]any
	_ = json.Unmarshal(raw, &idt)
	for _, k := range []string{"tid", "oid", "preferred_username", "name", "aud", "iss", "iat", "exp"} {
		if _, ok := idt[k]; !ok {
			t.Errorf("id_token lacks %s", k)
		}
	}
	if idt["preferred_username"] != users[2].UserPrincipalName || idt["aud"] != defaultClientID {
		t.Errorf("id_token for wrong user/app: %v", idt)
	}
	// The code is single use.
	st, tb = req(form, false)
	wantTokenErr(t, st, tb, 400, "invalid_grant", 54005)
	// The access token reads the signed-in user's mailbox.
	at := resp["access_token"].(string)
	r, body2 := b.get(t, at, "/v1.0/me")
	if r.StatusCode != 200 || !strings.Contains(string(body2), users[2].ID) {
		t.Errorf("/me: %d %s", r.StatusCode, body2)
	}
	// Refresh rotates: each use returns a new refresh token; old ones keep working.
	rt1 := resp["refresh_token"].(string)
	st, tb = b.postForm(t, "/common/oauth2/v2.0/token", url.Values{"client_id": {defaultClientID}, "client_secret": {defaultSecret},
		"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
	rt2 := jsonField(t, tb, "refresh_token")
	if st != 200 || rt2 == "" || rt2 == rt1 {
		t.Fatalf("refresh: %d %s", st, tb)
	}
	st, tb = b.postForm(t, "/common/oauth2/v2.0/token", url.Values{"client_id": {defaultClientID}, "client_secret": {defaultSecret},
		"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
	if st != 200 {
		t.Errorf("old refresh token stopped working: %d %s", st, tb)
	}
	// Every token is in IssuedSecrets.
	secrets := b.srv.IssuedSecrets()
	for _, s := range []string{at, rt1, rt2, rq.Get("code"), defaultSecret} {
		if !slices.Contains(secrets, s) {
			t.Errorf("IssuedSecrets lacks a secret (%.12s…)", s)
		}
	}
}

// https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
func TestTokenErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 6, Users: 2, MessagesPerUser: 1,
		Apps: []App{{ClientID: defaultClientID, Secret: defaultSecret, RedirectURIs: []string{defaultRedirect}},
			{ClientID: "other-app", Secret: "other-secret", RedirectURIs: []string{defaultRedirect}}}})
	em := b.srv.Emulator
	now := time.Now()
	advance := func(d time.Duration) {
		now = now.Add(d)
		fixed := now
		em.setClock(func() time.Time { return fixed })
	}
	advance(0)
	post := func(tenant string, f url.Values) (int, string) {
		return b.postForm(t, "/"+tenant+"/oauth2/v2.0/token", f)
	}
	code := func() string {
		_, rq, _ := b.authorize(t, authQuery("offline_access Mail.Read"))
		return rq.Get("code")
	}
	cc := url.Values{"client_id": {defaultClientID}, "client_secret": {defaultSecret}, "grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"}}
	st, body := post("common", cc)
	wantTokenErr(t, st, body, 400, "invalid_request", 9001023)
	st, body = post("consumers", cc)
	wantTokenErr(t, st, body, 400, "invalid_request", 9001023)
	st, body = post("organizations", cc)
	if st != 200 || strings.Contains(body, "refresh_token") || strings.Contains(body, "id_token") {
		t.Errorf("client credentials: %d %s", st, body)
	}
	wrong := url.Values{"client_id": {defaultClientID}, "client_secret": {"nope"}, "grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"}}
	st, body = post(em.TenantID(), wrong)
	wantTokenErr(t, st, body, 401, "invalid_client", 7000215)
	st, body = post(em.TenantID(), url.Values{"client_id": {"nobody"}, "client_secret": {"x"}, "grant_type": {"client_credentials"}})
	wantTokenErr(t, st, body, 400, "unauthorized_client", 700016)

	// Codes expire after about ten minutes.
	c := code()
	advance(11 * time.Minute)
	st, body = post("common", url.Values{"client_id": {defaultClientID}, "client_secret": {defaultSecret}, "grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {defaultRedirect}})
	wantTokenErr(t, st, body, 400, "invalid_grant", 70008)

	redeem := func() string {
		st, body := post("common", url.Values{"client_id": {defaultClientID}, "client_secret": {defaultSecret}, "grant_type": {"authorization_code"}, "code": {code()}, "redirect_uri": {defaultRedirect}})
		if st != 200 {
			t.Fatalf("redeem: %d %s", st, body)
		}
		return jsonField(t, body, "refresh_token")
	}
	refresh := func(rt string) (int, string) {
		return post("common", url.Values{"client_id": {defaultClientID}, "client_secret": {defaultSecret}, "grant_type": {"refresh_token"}, "refresh_token": {rt}})
	}
	st, body = refresh("garbage")
	wantTokenErr(t, st, body, 400, "invalid_grant", 9002313)
	// Inactivity: 90 days unused gives 700082.
	rt := redeem()
	advance(91 * 24 * time.Hour)
	st, body = refresh(rt)
	wantTokenErr(t, st, body, 400, "invalid_grant", 700082)
	// Revocation gives 50173.
	rt = redeem()
	advance(time.Second)
	em.RevokeGrant(em.Users()[0].ID)
	st, body = refresh(rt)
	wantTokenErr(t, st, body, 400, "invalid_grant", 50173)
	// Consent removal gives 65001 with suberror consent_required.
	advance(time.Second)
	rt = redeem()
	em.RemoveConsent(em.Users()[0].ID)
	st, body = refresh(rt)
	wantTokenErr(t, st, body, 400, "invalid_grant", 65001)
	if _, _, sub := tokenErr(t, body); sub != "consent_required" {
		t.Errorf("suberror %q", sub)
	}
	// prompt=none without consent is refused on the redirect.
	q := authQuery("Mail.Read")
	q.Set("prompt", "none")
	if _, rq, _ := b.authorize(t, q); rq.Get("error") != "consent_required" || rq.Get("state") != "st-123" {
		t.Errorf("prompt=none without consent: %v", rq)
	}
	// An expired secret gives 7000222.
	if err := em.ExpireClientSecret(defaultClientID); err != nil {
		t.Fatal(err)
	}
	st, body = post(em.TenantID(), cc)
	wantTokenErr(t, st, body, 401, "invalid_client", 7000222)
}

// https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow#request-an-authorization-code
func TestAuthorizeErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 7, Users: 1, MessagesPerUser: 1})
	q := authQuery("Mail.Read")
	q.Set("client_id", "unknown")
	if st, _, body := b.authorize(t, q); st != 400 || !strings.Contains(body, "AADSTS700016") {
		t.Errorf("unknown client: %d %s", st, body)
	}
	q = authQuery("Mail.Read")
	q.Set("redirect_uri", defaultRedirect+"/x")
	if st, _, body := b.authorize(t, q); st != 400 || !strings.Contains(body, "AADSTS50011") {
		t.Errorf("redirect mismatch: %d %s", st, body)
	}
	for _, tc := range []struct{ scope, err, code string }{
		{"https://graph.microsoft.com/.default Mail.Read", "invalid_scope", "AADSTS70011"},
		{"Mail.Read https://outlook.office.com/Mail.Read", "invalid_scope", "AADSTS28000"},
	} {
		st, rq, _ := b.authorize(t, authQuery(tc.scope))
		if st != 302 || rq.Get("error") != tc.err || !strings.HasPrefix(rq.Get("error_description"), tc.code) || rq.Get("state") != "st-123" {
			t.Errorf("scope %q: %d %v", tc.scope, st, rq)
		}
	}
	q = authQuery("Mail.Read")
	q.Set("response_type", "token")
	if _, rq, _ := b.authorize(t, q); rq.Get("error") != "unsupported_response_type" {
		t.Errorf("response_type: %v", rq)
	}
	// Admin consent redirects with admin_consent=True, the tenant and state.
	resp, got := b.adminConsent(t, "/common/adminconsent", url.Values{"client_id": {defaultClientID}, "redirect_uri": {defaultRedirect}, "state": {"s1"}})
	if resp.StatusCode != 302 || got.Get("admin_consent") != "True" || got.Get("tenant") != b.srv.TenantID() || got.Get("state") != "s1" {
		t.Errorf("admin consent: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// https://learn.microsoft.com/en-us/graph/errors and the 401 shape in
// https://learn.microsoft.com/en-us/graph/resolve-auth-errors
func TestGraphAuthErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 8, Users: 2, MessagesPerUser: 3, AccessTokenLifetime: time.Hour})
	em := b.srv.Emulator
	for _, tok := range []string{"", "garbage", "a.b.c"} {
		resp, body := b.get(t, tok, "/v1.0/users", "client-request-id", "abc-123")
		code, _ := graphErr(t, body)
		if resp.StatusCode != 401 || code != "InvalidAuthenticationToken" || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("token %q: %d %s", tok, resp.StatusCode, body)
		}
		if resp.Header.Get("client-request-id") != "abc-123" || resp.Header.Get("request-id") == "" || resp.Header.Get("x-ms-ags-diagnostic") == "" {
			t.Errorf("headers: %v", resp.Header)
		}
	}
	at := b.userTokens(t, "User.Read", "")["access_token"].(string)
	// A token without Mail.Read cannot read mail: Outlook's ErrorAccessDenied.
	resp, body := b.get(t, at, "/v1.0/me/mailFolders/delta")
	if code, _ := graphErr(t, body); resp.StatusCode != 403 || code != "ErrorAccessDenied" {
		t.Errorf("missing scope: %d %s", resp.StatusCode, body)
	}
	// Expired access token.
	em.setClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
	resp, body = b.get(t, at, "/v1.0/me")
	if code, msg := graphErr(t, body); resp.StatusCode != 401 || code != "InvalidAuthenticationToken" || msg != "Access token has expired or is not yet valid." {
		t.Errorf("expired: %d %s", resp.StatusCode, body)
	}
	em.setClock(time.Now)
	// /me with an app token is a 400.
	app := b.appToken(t)
	resp, body = b.get(t, app, "/v1.0/me")
	if resp.StatusCode != 400 {
		t.Errorf("/me app-only: %d %s", resp.StatusCode, body)
	}
	// Unknown user.
	resp, body = b.get(t, app, "/v1.0/users/nobody@contoso.onmicrosoft.com/mailFolders/delta")
	if code, _ := graphErr(t, body); resp.StatusCode != 404 || code != "Request_ResourceNotFound" {
		t.Errorf("unknown user: %d %s", resp.StatusCode, body)
	}
}

// Users spread over home tenants get tokens naming their own tenant, as the
// users of a multi-tenant app do; application tokens stay the app tenant's.
func TestHomeTenants(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 31, Users: 4, Tenants: 3, MessagesPerUser: 1})
	claims := func(jwt string) map[string]any {
		parts := strings.Split(jwt, ".")
		if len(parts) != 3 {
			t.Fatalf("not a JWT: %q", jwt)
		}
		raw, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	seen := map[string]bool{}
	for i, u := range b.srv.Users() {
		if want := b.srv.Users()[i%3].TenantID; u.TenantID != want && i >= 3 {
			t.Errorf("user %d in tenant %s, want %s (i mod 3)", i, u.TenantID, want)
		}
		seen[u.TenantID] = true
		tok := b.userTokens(t, "openid offline_access https://graph.microsoft.com/Mail.Read", u.UserPrincipalName)
		for _, k := range []string{"access_token", "id_token"} {
			if got := claims(tok[k].(string))["tid"]; got != u.TenantID {
				t.Errorf("user %d %s tid = %v, want home tenant %s", i, k, got, u.TenantID)
			}
		}
		resp, body := b.get(t, tok["access_token"].(string), "/v1.0/me/mailFolders")
		if resp.StatusCode != 200 {
			t.Errorf("user %d: Graph refused a home-tenant token: %d %s", i, resp.StatusCode, body)
		}
	}
	if len(seen) != 3 || !seen[b.srv.TenantID()] {
		t.Errorf("home tenants %v: want 3, the first being %s", seen, b.srv.TenantID())
	}
	if got := claims(b.appToken(t))["tid"]; got != b.srv.TenantID() {
		t.Errorf("application token tid = %v, want %s", got, b.srv.TenantID())
	}
	// A user's own tenant is a valid authority.
	home := b.srv.Users()[1].TenantID
	if st, body := b.postForm(t, "/"+home+"/oauth2/v2.0/token", url.Values{"client_id": {defaultClientID}, "client_secret": {defaultSecret},
		"grant_type": {"authorization_code"}, "code": {"bogus"}, "redirect_uri": {defaultRedirect}}); st != 400 || !strings.Contains(body, "invalid_grant") {
		t.Errorf("token endpoint of home tenant %s: %d %s, want invalid_grant for a bogus code", home, st, body)
	}
}

// The default app is registered with graphsync's default redirect URI,
// http://localhost:8085/callback, and its 127.0.0.1 form; Entra matches
// redirect URIs exactly, so any other (another port) is AADSTS50011.
// https://learn.microsoft.com/entra/identity-platform/reply-url
func TestDefaultRedirectURIs(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 7, Users: 1, MessagesPerUser: 1})
	for _, uri := range []string{"http://localhost:8085/callback", "http://127.0.0.1:8085/callback"} {
		q := authQuery("Mail.Read")
		q.Set("redirect_uri", uri)
		st, rq, body := b.authorize(t, q)
		if st != http.StatusFound || rq.Get("code") == "" {
			t.Errorf("%s: %d %v %s", uri, st, rq, body)
			continue
		}
		if st, body := b.postForm(t, "/common/oauth2/v2.0/token", url.Values{"client_id": {defaultClientID}, "client_secret": {defaultSecret},
			"grant_type": {"authorization_code"}, "code": {rq.Get("code")}, "redirect_uri": {uri}}); st != 200 {
			t.Errorf("%s: redeem: %d %s", uri, st, body)
		}
	}
	for _, uri := range []string{"http://localhost:8086/callback", "https://localhost:8085/callback"} {
		q := authQuery("Mail.Read")
		q.Set("redirect_uri", uri)
		if st, _, body := b.authorize(t, q); st != 400 || !strings.Contains(body, "AADSTS50011") {
			t.Errorf("%s accepted: %d %s", uri, st, body)
		}
	}
}
