package emulator

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

const codeLifetime = 10 * time.Minute

// defaultDelegated is what a delegated .default request grants, standing in
// for the permissions configured on the app registration.
var defaultDelegated = []string{"User.Read", "Mail.Read", "Calendars.Read", "Contacts.Read", "Files.Read.All",
	"Chat.Read", "People.Read", "User.ReadBasic.All", "Team.ReadBasic.All", "Channel.ReadBasic.All",
	"Mail.Read.Shared", "Calendars.Read.Shared"}

type authState struct {
	em            *Emulator
	mu            sync.Mutex
	apps          map[string]*App
	codes         map[string]*authCode
	refresh       map[string]*refreshRec
	noConsent     map[[2]string]bool // (user, client) whose consent was removed
	revokedBefore map[string]time.Time
	issued        []string
	certs         map[string][]appCert // registered certificates by client id (certs.go)
}

type authCode struct {
	client, redirect, user, challenge, method, nonce string
	scopes                                           []string // graph permissions
	oidc                                             []string
	issued                                           time.Time
	used                                             bool
}

type refreshRec struct {
	client, user     string
	scopes, oidc     []string
	issued, lastUsed time.Time
}

type accessClaims struct {
	app        bool
	oid, appid string
	tid        string // the tenant the token is for: the throttling scope of Teams, OneDrive and the directory
	scp, roles []string
	exp        int64
}

func (a *authState) init(em *Emulator) {
	a.em = em
	a.apps = map[string]*App{}
	a.certs = map[string][]appCert{}
	for _, app := range em.cfg.Apps {
		cp := app
		cp.RedirectURIs = slices.Clone(app.RedirectURIs)
		cp.Certificates = slices.Clone(app.Certificates)
		a.apps[app.ClientID] = &cp
		a.certs[app.ClientID], _ = parseCertificates(app.Certificates) // validate checked them
		if app.Secret != "" {
			a.issued = append(a.issued, app.Secret)
		}
	}
	a.codes = map[string]*authCode{}
	a.refresh = map[string]*refreshRec{}
	a.noConsent = map[[2]string]bool{}
	a.revokedBefore = map[string]time.Time{}
}

// IssuedSecrets lists every access token, refresh token, id token,
// authorization code and client secret the emulator ever issued, so that
// tests can scan logs and databases for leaks.
func (em *Emulator) IssuedSecrets() []string {
	em.auth.mu.Lock()
	defer em.auth.mu.Unlock()
	return slices.Clone(em.auth.issued)
}

// RevokeGrant revokes every refresh token of the user issued until now
// (AADSTS50173), as a password reset or an admin revocation does. Access
// tokens stay valid until they expire, as Microsoft documents.
func (em *Emulator) RevokeGrant(userID string) {
	em.auth.mu.Lock()
	defer em.auth.mu.Unlock()
	em.auth.revokedBefore[userID] = em.now()
}

// RemoveConsent withdraws the user's consent to every app: refresh then
// fails with AADSTS65001 until the user signs in interactively again.
func (em *Emulator) RemoveConsent(userID string) {
	em.auth.mu.Lock()
	defer em.auth.mu.Unlock()
	for id := range em.auth.apps {
		em.auth.noConsent[[2]string{userID, id}] = true
	}
}

// ExpireClientSecret makes the app's secret expired (AADSTS7000222).
func (em *Emulator) ExpireClientSecret(clientID string) error {
	em.auth.mu.Lock()
	defer em.auth.mu.Unlock()
	app, ok := em.auth.apps[clientID]
	if !ok {
		return fmt.Errorf("expire client secret: app %q is not registered", clientID)
	}
	app.SecretExpiresAt = em.now().Add(-time.Second)
	return nil
}

func randomToken(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// jwt builds a JWT-shaped token signed with the emulator's key. Clients
// must treat it as opaque; the emulator verifies the signature.
func (em *Emulator) jwt(claims map[string]any) string {
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","alg":"HS256","kid":"graphemu"}`))
	body := base64.RawURLEncoding.EncodeToString(raw(claims))
	m := hmac.New(sha256.New, em.key[:])
	m.Write([]byte(head + "." + body))
	return head + "." + body + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// authenticate validates a Graph bearer token; on failure it returns the
// message Graph uses with InvalidAuthenticationToken.
func (em *Emulator) authenticate(r *http.Request) (*accessClaims, string) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(h, "bearer ")
	}
	tok = strings.TrimSpace(tok)
	if !ok || tok == "" {
		return nil, "Access token is empty."
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, "CompactToken parsing failed with error code: 80049217"
	}
	m := hmac.New(sha256.New, em.key[:])
	m.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, m.Sum(nil)) {
		return nil, "Access token validation failure. Invalid audience."
	}
	body, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var cl struct {
		Aud   string   `json:"aud"`
		Exp   int64    `json:"exp"`
		Nbf   int64    `json:"nbf"`
		Oid   string   `json:"oid"`
		Tid   string   `json:"tid"`
		AppID string   `json:"appid"`
		Scp   string   `json:"scp"`
		Roles []string `json:"roles"`
		IDTyp string   `json:"idtyp"`
	}
	if json.Unmarshal(body, &cl) != nil || cl.Aud != em.cloud().graph {
		return nil, "Access token validation failure. Invalid audience."
	}
	now := em.now().Unix()
	if now >= cl.Exp || now < cl.Nbf-300 {
		return nil, "Access token has expired or is not yet valid."
	}
	return &accessClaims{app: cl.IDTyp == "app", oid: cl.Oid, appid: cl.AppID, tid: cl.Tid, scp: strings.Fields(cl.Scp), roles: cl.Roles, exp: cl.Exp}, ""
}

// serveIdentity serves /{tenant}/oauth2/v2.0/{authorize,token} and
// /{tenant}/adminconsent.
func (em *Emulator) serveIdentity(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("x-ms-request-id", newGUID())
	if len(parts) < 2 {
		http.NotFound(w, r)
		return
	}
	tenant := parts[0]
	rest := strings.Join(parts[1:], "/")
	if !em.knownTenant(tenant) {
		msg := fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant)
		if rest == "oauth2/v2.0/token" {
			em.tokenError(w, http.StatusBadRequest, "invalid_request", 90002, msg, "")
		} else {
			errorPage(w, 90002, msg)
		}
		return
	}
	switch rest {
	case "oauth2/v2.0/authorize":
		em.authorize(w, r, tenant)
	case "oauth2/v2.0/token":
		em.token(w, r, tenant)
	case "adminconsent", "v2.0/adminconsent":
		em.adminConsent(w, r)
	case "v2.0/.well-known/openid-configuration":
		base := "http://" + r.Host + "/" + tenant
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"authorization_endpoint": base + "/oauth2/v2.0/authorize", "token_endpoint": base + "/oauth2/v2.0/token",
			"issuer": em.cloud().login + "/" + em.cfg.TenantID + "/v2.0", "response_types_supported": []string{"code"},
			"scopes_supported": []string{"openid", "profile", "email", "offline_access"},
		})
	default:
		http.NotFound(w, r)
	}
}

func (em *Emulator) knownTenant(t string) bool {
	switch strings.ToLower(t) {
	case "common", "organizations", "consumers", strings.ToLower(em.cfg.TenantID), "contoso.onmicrosoft.com":
		return true
	}
	return slices.ContainsFunc(em.tenants, func(id string) bool { return strings.EqualFold(id, t) })
}

// errorPage stands in for the sign-in page Microsoft shows when it cannot
// trust the redirect URI.
func errorPage(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body><div id=\"error\">AADSTS%d: %s</div></body></html>", code, html.EscapeString(msg))
}

type scopeReq struct {
	graph     []string // permission names
	oidc      []string // openid profile email offline_access, as given
	dflt      bool
	resources []string
}

func (s scopeReq) has(o string) bool { return slices.Contains(s.oidc, o) }

// parseScopes accepts "Mail.Read" and "https://graph.microsoft.com/Mail.Read"
// (any name of Graph: see graphResourceOf; own is the emulator's origin)
// and enforces one resource per request and no .default mixed with others.
func (em *Emulator) parseScopes(raw, own string) (scopeReq, int, string) {
	graphResource := em.cloud().graph
	var s scopeReq
	for _, p := range strings.Fields(raw) {
		switch strings.ToLower(p) {
		case "openid", "profile", "email", "offline_access":
			if !s.has(strings.ToLower(p)) {
				s.oidc = append(s.oidc, strings.ToLower(p))
			}
			continue
		}
		res, perm := graphResource, p
		if i := strings.LastIndex(p, "/"); i >= 0 {
			res, perm = strings.TrimSuffix(p[:i], "/"), p[i+1:]
			if em.graphResourceOf(res, own) {
				res = graphResource
			}
		}
		if !slices.Contains(s.resources, res) {
			s.resources = append(s.resources, res)
		}
		if perm == ".default" {
			s.dflt = true
			continue
		}
		if !slices.ContainsFunc(s.graph, func(g string) bool { return strings.EqualFold(g, perm) }) {
			s.graph = append(s.graph, perm)
		}
	}
	if len(s.resources) > 1 {
		return s, 28000, fmt.Sprintf("Provided value for the input parameter scope is not valid because it contains more than one resource. Scope %s is not valid.", raw)
	}
	if len(s.resources) == 1 && s.resources[0] != graphResource {
		return s, 500011, fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", s.resources[0], "contoso")
	}
	if s.dflt && len(s.graph) > 0 {
		return s, 70011, fmt.Sprintf("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope %s is not valid. .default scope can't be combined with resource-specific scopes.", raw)
	}
	if s.dflt {
		s.graph = slices.Clone(defaultDelegated)
	}
	if len(s.graph) == 0 {
		s.graph = []string{"User.Read"}
	}
	return s, 0, ""
}

func (em *Emulator) authorize(w http.ResponseWriter, r *http.Request, tenant string) {
	q := r.URL.Query()
	clientID := q.Get("client_id")
	if clientID == "" {
		errorPage(w, 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	em.auth.mu.Lock()
	app, ok := em.auth.apps[clientID]
	var redirects []string
	if ok {
		redirects = slices.Clone(app.RedirectURIs)
	}
	em.auth.mu.Unlock()
	if !ok {
		errorPage(w, 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, tenant))
		return
	}
	redirect := q.Get("redirect_uri")
	if !slices.Contains(redirects, redirect) {
		errorPage(w, 50011, fmt.Sprintf("The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this.", redirect, clientID))
		return
	}
	mode := q.Get("response_mode")
	if mode == "" {
		mode = "query"
	}
	state := q.Get("state")
	fail := func(errName string, code int, msg string) {
		v := url.Values{"error": {errName}, "error_description": {fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", code, msg, newGUID(), newGUID(), em.now().UTC().Format("2006-01-02 15:04:05Z"))},
			"error_uri": {fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", code)}}
		if state != "" {
			v.Set("state", state)
		}
		respond(w, redirect, mode, v)
	}
	if rt := q.Get("response_type"); rt != "code" {
		fail("unsupported_response_type", 700054, fmt.Sprintf("response_type '%s' is not enabled for the application.", rt))
		return
	}
	if mode != "query" && mode != "fragment" && mode != "form_post" {
		fail("invalid_request", 900144, fmt.Sprintf("The provided value for the input parameter 'response_mode' is not valid. Value: '%s'.", mode))
		return
	}
	if q.Get("scope") == "" {
		fail("invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		return
	}
	sc, code, msg := em.parseScopes(q.Get("scope"), origin(r))
	if code != 0 {
		fail("invalid_scope", code, msg)
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	if challenge != "" {
		if method == "" {
			method = "plain"
		}
		if method != "plain" && method != "S256" {
			fail("invalid_request", 501491, fmt.Sprintf("Invalid code_challenge_method '%s'.", method))
			return
		}
		if len(challenge) < 43 || len(challenge) > 128 {
			fail("invalid_request", 501491, "Invalid size of Code_Challenge parameter.")
			return
		}
	}
	prompt := q.Get("prompt")
	switch prompt {
	case "", "login", "consent", "select_account", "none":
	default:
		fail("invalid_request", 90023, fmt.Sprintf("Invalid prompt parameter value '%s'.", prompt))
		return
	}
	em.mu.RLock()
	var user *userRec
	if hint := q.Get("login_hint"); hint != "" {
		user = em.lookupUser(hint)
	} else if len(em.users) > 0 {
		user = em.users[0]
	}
	em.mu.RUnlock()
	if user == nil {
		if prompt == "none" {
			fail("login_required", 50058, "A silent sign-in request was sent but no user is signed in.")
			return
		}
		errorPage(w, 50034, fmt.Sprintf("The user account %s does not exist in the '%s' directory. To sign into this application, the account must be added to the directory.", q.Get("login_hint"), em.cfg.TenantID))
		return
	}
	em.auth.mu.Lock()
	key := [2]string{user.id, clientID}
	if em.auth.noConsent[key] && prompt == "none" {
		em.auth.mu.Unlock()
		fail("consent_required", 65001, fmt.Sprintf("The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", clientID, clientID))
		return
	}
	delete(em.auth.noConsent, key) // the (emulated) user consents interactively
	c := randomToken("1.AXEA", 96)
	em.auth.codes[c] = &authCode{client: clientID, redirect: redirect, user: user.id, challenge: challenge, method: method,
		nonce: q.Get("nonce"), scopes: sc.graph, oidc: sc.oidc, issued: em.now()}
	em.auth.issued = append(em.auth.issued, c)
	em.auth.mu.Unlock()
	v := url.Values{"code": {c}, "session_state": {newGUID()}}
	if state != "" {
		v.Set("state", state)
	}
	respond(w, redirect, mode, v)
}

// respond delivers an authorization response by redirect (query or
// fragment) or by an auto-submitting form (form_post).
func respond(w http.ResponseWriter, redirect, mode string, v url.Values) {
	switch mode {
	case "fragment":
		w.Header().Set("Location", redirect+"#"+v.Encode())
	case "form_post":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<html><body onload="document.forms[0].submit()"><form method="POST" action="%s">`, html.EscapeString(redirect))
		for _, k := range sortedKeys(v) {
			fmt.Fprintf(w, `<input type="hidden" name="%s" value="%s"/>`, html.EscapeString(k), html.EscapeString(v.Get(k)))
		}
		fmt.Fprint(w, "</form></body></html>")
		return
	default:
		sep := "?"
		if strings.Contains(redirect, "?") {
			sep = "&"
		}
		w.Header().Set("Location", redirect+sep+v.Encode())
	}
	w.WriteHeader(http.StatusFound)
}

func (em *Emulator) adminConsent(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	em.auth.mu.Lock()
	app, ok := em.auth.apps[q.Get("client_id")]
	em.auth.mu.Unlock()
	if !ok {
		errorPage(w, 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", q.Get("client_id"), em.cfg.TenantID))
		return
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" && len(app.RedirectURIs) > 0 {
		redirect = app.RedirectURIs[0]
	}
	if !slices.Contains(app.RedirectURIs, redirect) {
		errorPage(w, 50011, fmt.Sprintf("The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.", redirect, app.ClientID))
		return
	}
	// The v2.0 endpoint takes the resource's permissions in scope
	// (https://graph.microsoft.com/.default): it names Graph as the client
	// knows it, the cloud's URL or the URL the client uses.
	if sc := q.Get("scope"); sc != "" {
		for _, p := range strings.Fields(sc) {
			res, _, ok := strings.Cut(p, "/.default")
			if i := strings.LastIndex(p, "/"); !ok && i > 0 {
				res = p[:i]
			}
			if !em.graphResourceOf(res, origin(r)) {
				v := url.Values{"error": {"invalid_request"}, "error_description": {fmt.Sprintf("AADSTS500011: The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", res, em.cfg.TenantID)}}
				if s := q.Get("state"); s != "" {
					v.Set("state", s)
				}
				respond(w, redirect, "query", v)
				return
			}
		}
	}
	em.auth.mu.Lock()
	for k := range em.auth.noConsent {
		if k[1] == app.ClientID {
			delete(em.auth.noConsent, k)
		}
	}
	em.auth.mu.Unlock()
	v := url.Values{"admin_consent": {"True"}, "tenant": {em.cfg.TenantID}}
	if s := q.Get("state"); s != "" {
		v.Set("state", s)
	}
	respond(w, redirect, "query", v)
}

type tokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    int    `json:"expires_in"`
	ExtExpiresIn int    `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// tokenError writes the identity platform's error body.
func (em *Emulator) tokenError(w http.ResponseWriter, status int, errName string, code int, msg, suberror string) {
	now := em.now().UTC().Format("2006-01-02 15:04:05Z")
	trace, corr := newGUID(), newGUID()
	body := map[string]any{
		"error":             errName,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", code, msg, trace, corr, now),
		"error_codes":       []int{code},
		"timestamp":         now,
		"trace_id":          trace,
		"correlation_id":    corr,
		"error_uri":         fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", code),
	}
	if suberror != "" {
		body["suberror"] = suberror
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (em *Emulator) token(w http.ResponseWriter, r *http.Request, tenant string) {
	if r.Method != http.MethodPost {
		em.tokenError(w, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a GET request.", "")
		return
	}
	if em.tokenRedirect(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil {
		em.tokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.", "")
		return
	}
	if em.tokenEndpointFault(w) {
		return
	}
	f := r.PostForm
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		u, _ = url.QueryUnescape(u)
		p, _ = url.QueryUnescape(p)
		if clientID != "" && clientID != u {
			em.tokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The client_id in the request body does not match the client_id in the Authorization header.", "")
			return
		}
		clientID, secret = u, p
	}
	if clientID == "" {
		em.tokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.", "")
		return
	}
	grant := f.Get("grant_type")
	if grant == "" {
		em.tokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.", "")
		return
	}
	em.auth.mu.Lock()
	defer em.auth.mu.Unlock()
	app, ok := em.auth.apps[clientID]
	if !ok {
		em.tokenError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, tenant), "")
		return
	}
	if !em.clientAuth(w, r, app, grant, secret, tenant) {
		return
	}
	switch grant {
	case "authorization_code":
		em.redeemCode(w, f, app)
	case "refresh_token":
		em.redeemRefresh(w, f, app, origin(r))
	case "client_credentials":
		em.clientCredentials(w, f, app, tenant, origin(r))
	default:
		em.tokenError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", grant), "")
	}
}

func (em *Emulator) redeemCode(w http.ResponseWriter, f url.Values, app *App) {
	a := &em.auth
	code := f.Get("code")
	if code == "" {
		em.tokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'code'.", "")
		return
	}
	c, ok := a.codes[code]
	switch {
	case !ok:
		em.tokenError(w, http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.", "")
	case c.used:
		em.tokenError(w, http.StatusBadRequest, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.", "")
	case em.now().Sub(c.issued) > codeLifetime:
		em.tokenError(w, http.StatusBadRequest, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.", "")
	case c.client != app.ClientID:
		em.tokenError(w, http.StatusBadRequest, "invalid_grant", 70000, "The provided value for the 'code' parameter is not valid. The code was issued to a different client.", "")
	case f.Get("redirect_uri") != c.redirect:
		em.tokenError(w, http.StatusBadRequest, "invalid_request", 500112, fmt.Sprintf("The reply address '%s' does not match the reply address '%s' provided when requesting Authorization code.", f.Get("redirect_uri"), c.redirect), "")
	case c.challenge != "" && !pkceOK(c.challenge, c.method, f.Get("code_verifier")):
		em.tokenError(w, http.StatusBadRequest, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.", "")
	default:
		c.used = true
		now := em.now()
		em.issue(w, app, c.user, c.scopes, c.oidc, c.nonce, now)
	}
}

func pkceOK(challenge, method, verifier string) bool {
	if verifier == "" {
		return false
	}
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		return base64.RawURLEncoding.EncodeToString(sum[:]) == challenge
	}
	return verifier == challenge
}

func (em *Emulator) redeemRefresh(w http.ResponseWriter, f url.Values, app *App, own string) {
	a := &em.auth
	rt := f.Get("refresh_token")
	if rt == "" {
		em.tokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'refresh_token'.", "")
		return
	}
	rec, ok := a.refresh[rt]
	now := em.now()
	switch {
	case !ok:
		em.tokenError(w, http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.", "")
		return
	case rec.client != app.ClientID:
		em.tokenError(w, http.StatusBadRequest, "invalid_grant", 70000, "The provided value for the input parameter 'refresh_token' or 'assertion' is not valid.", "")
		return
	case now.Sub(rec.lastUsed) > em.cfg.RefreshTokenMaxInactive:
		em.tokenError(w, http.StatusBadRequest, "invalid_grant", 700082, fmt.Sprintf("The refresh token has expired due to inactivity. The token was issued on %s and was inactive for %s.", rec.issued.UTC().Format("2006-01-02T15:04:05.0000000Z"), dotnetSpan(em.cfg.RefreshTokenMaxInactive)), "bad_token")
		return
	}
	if rb, ok := a.revokedBefore[rec.user]; ok && !rec.issued.After(rb) {
		em.tokenError(w, http.StatusBadRequest, "invalid_grant", 50173, fmt.Sprintf("The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '%s' and the TokensValidFrom date (before which tokens are not valid) for this user is '%s'.", rec.issued.UTC().Format("2006-01-02T15:04:05.0000000Z"), rb.UTC().Format("2006-01-02T15:04:05.0000000Z")), "")
		return
	}
	consentMsg := fmt.Sprintf("The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", app.ClientID, app.ClientID)
	if a.noConsent[[2]string{rec.user, app.ClientID}] {
		em.tokenError(w, http.StatusBadRequest, "invalid_grant", 65001, consentMsg, "consent_required")
		return
	}
	scopes, oidc := rec.scopes, rec.oidc
	if res, oidc, ok := em.sharePointScope(f.Get("scope")); ok {
		em.issueSharePoint(w, app, rec, res, oidc, consentMsg, now)
		return
	}
	if s := f.Get("scope"); s != "" {
		sc, code, msg := em.parseScopes(s, own)
		if code != 0 {
			em.tokenError(w, http.StatusBadRequest, "invalid_scope", code, msg, "")
			return
		}
		for _, g := range sc.graph {
			if !hasFold(rec.scopes, g) {
				em.tokenError(w, http.StatusBadRequest, "invalid_grant", 65001, consentMsg, "consent_required")
				return
			}
		}
		scopes, oidc = sc.graph, sc.oidc
	}
	rec.lastUsed = now
	em.cnt.refreshGrant(rec.user, rt, now)
	em.issue(w, app, rec.user, scopes, oidc, "", now)
}

// sharePointScope recognises a refresh asking for a SharePoint token with
// the resource's .default scope (plus OpenID scopes); ok is false for any
// other scope, which parseScopes then judges.
func (em *Emulator) sharePointScope(raw string) (resource string, oidc []string, ok bool) {
	sharePointHosts := em.sharePointHosts()
	for _, p := range strings.Fields(raw) {
		switch lp := strings.ToLower(p); lp {
		case "openid", "profile", "email", "offline_access":
			oidc = append(oidc, lp)
			continue
		}
		res, ok := strings.CutSuffix(p, "/.default")
		res = strings.TrimSuffix(res, "/")
		if !ok || resource != "" || !slices.ContainsFunc(sharePointHosts, func(h string) bool { return strings.EqualFold(h, res) }) {
			return "", nil, false
		}
		resource = strings.ToLower(res)
	}
	return resource, oidc, resource != ""
}

// sharePointPermissions maps the Graph permissions of a grant to the
// SharePoint ones a token for SharePoint carries.
var sharePointPermissions = map[string]string{
	"sites.read.all": "AllSites.Read", "sites.readwrite.all": "AllSites.Write",
	"sites.manage.all": "AllSites.Manage", "sites.fullcontrol.all": "AllSites.FullControl",
	"files.read.all": "MyFiles.Read", "files.readwrite.all": "MyFiles.Write",
}

// issueSharePoint redeems a refresh token for a SharePoint access token, as
// a multi-resource refresh token allows. The rotated refresh token keeps the
// original grant, so it still redeems Graph tokens. Called with
// em.auth.mu held.
func (em *Emulator) issueSharePoint(w http.ResponseWriter, app *App, rec *refreshRec, resource string, oidc []string, consentMsg string, now time.Time) {
	var scp, full []string
	for _, g := range rec.scopes {
		if sp, ok := sharePointPermissions[strings.ToLower(g)]; ok && !slices.Contains(scp, sp) {
			scp = append(scp, sp)
			full = append(full, resource+"/"+sp)
		}
	}
	if !slices.ContainsFunc(scp, func(s string) bool { return strings.HasPrefix(s, "AllSites.") }) {
		em.tokenError(w, http.StatusBadRequest, "invalid_grant", 65001, consentMsg, "consent_required")
		return
	}
	em.mu.RLock()
	u := em.userByID[rec.user]
	em.mu.RUnlock()
	rec.lastUsed = now
	secs := int(em.cfg.AccessTokenLifetime/time.Second) - 1
	resp := tokenResponse{TokenType: "Bearer", Scope: strings.Join(full, " "), ExpiresIn: secs, ExtExpiresIn: secs}
	resp.AccessToken = em.jwt(map[string]any{
		"aud": resource, "iss": "https://sts.windows.net/" + u.tenant + "/", "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(em.cfg.AccessTokenLifetime).Unix(), "appid": app.ClientID, "idtyp": "user", "name": u.name, "oid": u.id,
		"scp": strings.Join(scp, " "), "tid": u.tenant, "upn": u.upn, "uti": randomToken("", 12), "ver": "1.0",
	})
	a := &em.auth
	a.issued = append(a.issued, resp.AccessToken)
	if slices.Contains(oidc, "offline_access") {
		resp.RefreshToken = randomToken("1.AXEA-rt.", 180)
		a.refresh[resp.RefreshToken] = &refreshRec{client: app.ClientID, user: rec.user, scopes: rec.scopes, oidc: rec.oidc, issued: now, lastUsed: now}
		a.issued = append(a.issued, resp.RefreshToken)
	}
	writeTokenJSON(w, resp)
}

// dotnetSpan formats a duration the way AADSTS messages do (90.00:00:00).
func dotnetSpan(d time.Duration) string {
	days := int(d / (24 * time.Hour))
	d -= time.Duration(days) * 24 * time.Hour
	return fmt.Sprintf("%d.%02d:%02d:%02d", days, int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second))
}

func (em *Emulator) clientCredentials(w http.ResponseWriter, f url.Values, app *App, tenant, own string) {
	switch strings.ToLower(tenant) {
	case "common", "consumers":
		em.tokenError(w, http.StatusBadRequest, "invalid_request", 9001023, "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.", "")
		return
	}
	s := strings.TrimSpace(f.Get("scope"))
	res, ok := strings.CutSuffix(s, "/.default")
	if ok && !em.graphResourceOf(res, own) {
		em.tokenError(w, http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", res, em.cfg.TenantID), "")
		return
	}
	if !ok {
		em.tokenError(w, http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", s), "")
		return
	}
	roles := app.Roles
	if roles == nil {
		roles = defaultRoles
	}
	now := em.now()
	at := em.jwt(map[string]any{
		"aud": em.cloud().graph, "iss": "https://sts.windows.net/" + em.cfg.TenantID + "/", "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(em.cfg.AccessTokenLifetime).Unix(), "appid": app.ClientID, "idtyp": "app", "oid": guidFrom(em.cfg.Seed, "sp"+app.ClientID),
		"roles": roles, "tid": em.cfg.TenantID, "uti": randomToken("", 12), "ver": "1.0",
	})
	em.auth.issued = append(em.auth.issued, at)
	secs := int(em.cfg.AccessTokenLifetime/time.Second) - 1
	writeTokenJSON(w, tokenResponse{TokenType: "Bearer", ExpiresIn: secs, ExtExpiresIn: secs, AccessToken: at})
}

// issue mints delegated tokens; called with em.auth.mu held.
func (em *Emulator) issue(w http.ResponseWriter, app *App, userID string, scopes, oidc []string, nonce string, now time.Time) {
	em.mu.RLock()
	u := em.userByID[userID]
	em.mu.RUnlock()
	var full []string
	for _, s := range scopes {
		full = append(full, em.cloud().graph+"/"+s)
	}
	for _, o := range []string{"openid", "profile", "email"} {
		if slices.Contains(oidc, o) {
			full = append(full, o)
		}
	}
	offline := slices.Contains(oidc, "offline_access")
	if offline {
		full = append(full, "offline_access")
	}
	secs := int(em.cfg.AccessTokenLifetime/time.Second) - 1
	resp := tokenResponse{TokenType: "Bearer", Scope: strings.Join(full, " "), ExpiresIn: secs, ExtExpiresIn: secs}
	resp.AccessToken = em.jwt(map[string]any{
		"aud": em.cloud().graph, "iss": "https://sts.windows.net/" + u.tenant + "/", "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(em.cfg.AccessTokenLifetime).Unix(), "appid": app.ClientID, "idtyp": "user", "name": u.name, "oid": u.id,
		"scp": strings.Join(scopes, " "), "sub": u.id, "tid": u.tenant, "unique_name": u.upn, "upn": u.upn,
		"uti": randomToken("", 12), "ver": "1.0",
	})
	a := &em.auth
	a.issued = append(a.issued, resp.AccessToken)
	if offline {
		resp.RefreshToken = randomToken("1.AXEA-rt.", 180)
		a.refresh[resp.RefreshToken] = &refreshRec{client: app.ClientID, user: userID, scopes: scopes, oidc: oidc, issued: now, lastUsed: now}
		a.issued = append(a.issued, resp.RefreshToken)
	}
	if slices.Contains(oidc, "openid") {
		claims := map[string]any{
			"aud": app.ClientID, "iss": em.cloud().login + "/" + u.tenant + "/v2.0", "iat": now.Unix(),
			"nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "name": u.name, "oid": u.id, "preferred_username": u.upn,
			"sub": randomToken("", 20), "tid": u.tenant, "ver": "2.0",
		}
		if nonce != "" {
			claims["nonce"] = nonce
		}
		if slices.Contains(oidc, "email") {
			claims["email"] = u.upn
		}
		resp.IDToken = em.jwt(claims)
		a.issued = append(a.issued, resp.IDToken)
	}
	writeTokenJSON(w, resp)
}

func writeTokenJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Pragma", "no-cache")
	_ = json.NewEncoder(w).Encode(v)
}
