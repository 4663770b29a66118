package emulator

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// testCert is a self-signed certificate and its key.
type testCert struct {
	key *rsa.PrivateKey
	der []byte
}

func newTestCert(t *testing.T, notBefore, notAfter time.Time) testCert {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "graphsync test"},
		NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{key: key, der: der}
}

func (c testCert) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der})
}

// assertion signs a client assertion; edit changes the header and claims
// before signing.
func (c testCert) assertion(t *testing.T, alg string, claims map[string]any, edit func(head map[string]any)) string {
	t.Helper()
	s256 := sha256.Sum256(c.der)
	head := map[string]any{"alg": alg, "typ": "JWT", "x5t#S256": base64.RawURLEncoding.EncodeToString(s256[:])}
	if edit != nil {
		edit(head)
	}
	hb, _ := json.Marshal(head)
	cb, _ := json.Marshal(claims)
	signing := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	digest := sha256.Sum256([]byte(signing))
	var sig []byte
	var err error
	if alg == "PS256" {
		sig, err = rsa.SignPSS(rand.Reader, c.key, crypto.SHA256, digest[:], nil)
	} else {
		sig, err = rsa.SignPKCS1v15(rand.Reader, c.key, crypto.SHA256, digest[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// Certificate credentials: an app authenticates with a client assertion
// signed by a registered certificate, as the identity platform documents
// (learn.microsoft.com/entra/identity-platform/certificate-credentials:
// alg PS256 or RS256, x5t#S256 or x5t, aud the token endpoint, iss = sub =
// the client id, exp, nbf, jti); a bad or expired assertion gets the
// documented AADSTS codes (reference-error-codes, and the Azure SDK's
// troubleshooting page for 700021, 700023 and 700024).
func TestCertificateCredentials(t *testing.T) {
	t.Parallel()
	now := time.Now()
	good := newTestCert(t, now.Add(-time.Hour), now.Add(24*time.Hour))
	other := newTestCert(t, now.Add(-time.Hour), now.Add(24*time.Hour))
	expired := newTestCert(t, now.Add(-48*time.Hour), now.Add(-time.Hour))
	const client = "cert-client"
	b := setup(t, Config{Seed: 81, Users: 2, MessagesPerUser: 3,
		Apps: []App{{ClientID: client, RedirectURIs: []string{defaultRedirect}, Certificates: [][]byte{good.pem(), expired.der}}}})
	tenant := b.srv.TenantID()
	endpoint := "/" + tenant + "/oauth2/v2.0/token"
	claims := func(aud string) map[string]any {
		return map[string]any{"aud": aud, "iss": client, "sub": client, "jti": newGUID(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	}
	ownAud := b.srv.URL() + endpoint
	post := func(assertion string, extra ...string) (int, string) {
		f := url.Values{"client_id": {client}, "grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"},
			"client_assertion_type": {jwtBearer}, "client_assertion": {assertion}}
		for i := 0; i+1 < len(extra); i += 2 {
			f.Set(extra[i], extra[i+1])
		}
		return b.postForm(t, endpoint, f)
	}
	for name, a := range map[string]string{
		"RS256, x5t#S256, the emulator's endpoint": good.assertion(t, "RS256", claims(ownAud), nil),
		"PS256, x5t, login.microsoftonline.com": good.assertion(t, "PS256", claims("https://login.microsoftonline.com/"+tenant+"/oauth2/v2.0/token"), func(h map[string]any) {
			delete(h, "x5t#S256")
			s1 := sha1.Sum(good.der)
			h["x5t"] = base64.RawURLEncoding.EncodeToString(s1[:])
		}),
		"the tenant's domain in aud": good.assertion(t, "PS256", claims("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"), nil),
	} {
		st, body := post(a)
		if st != 200 {
			t.Errorf("%s: %d %s", name, st, body)
			continue
		}
		tok := jsonField(t, body, "access_token")
		if resp, body := b.get(t, tok, "/v1.0/users"); resp.StatusCode != 200 {
			t.Errorf("%s: Graph refused the token: %d %s", name, resp.StatusCode, body)
		}
	}
	sent := good.assertion(t, "RS256", claims(ownAud), nil)
	post(sent)
	if !slices.Contains(b.srv.IssuedSecrets(), sent) {
		t.Error("a client assertion is missing from IssuedSecrets, so secret scans cannot look for it")
	}

	bad := func(name string, wantStatus, wantCode int, assertion string, extra ...string) {
		t.Helper()
		st, body := post(assertion, extra...)
		var e struct {
			Error string `json:"error"`
			Codes []int  `json:"error_codes"`
		}
		_ = json.Unmarshal([]byte(body), &e)
		if st != wantStatus || len(e.Codes) == 0 || e.Codes[0] != wantCode {
			t.Errorf("%s: %d %s; want %d AADSTS%d", name, st, body, wantStatus, wantCode)
		}
	}
	c := claims(ownAud)
	bad("signed by another key", 401, 700027, other.assertion(t, "RS256", c, func(h map[string]any) {
		s256 := sha256.Sum256(good.der)
		h["x5t#S256"] = base64.RawURLEncoding.EncodeToString(s256[:])
	}))
	bad("an unregistered certificate", 401, 700027, other.assertion(t, "RS256", c, nil))
	bad("an expired certificate", 401, 700027, expired.assertion(t, "RS256", c, nil))
	old := claims(ownAud)
	old["nbf"], old["exp"] = now.Add(-time.Hour).Unix(), now.Add(-30*time.Minute).Unix()
	bad("an expired assertion", 401, 700024, good.assertion(t, "RS256", old, nil))
	mis := claims(ownAud)
	mis["sub"] = "someone-else"
	bad("sub unlike iss", 401, 50048, good.assertion(t, "RS256", mis, nil))
	mis = claims(ownAud)
	mis["iss"], mis["sub"] = "another-app", "another-app"
	bad("iss and sub of another app", 401, 700021, good.assertion(t, "RS256", mis, nil))
	bad("aud of another tenant", 401, 700023, good.assertion(t, "RS256", claims("https://login.microsoftonline.com/"+guidFrom(9, "x")+"/oauth2/v2.0/token"), nil))
	noJti := claims(ownAud)
	delete(noJti, "jti")
	bad("no jti", 401, 50027, good.assertion(t, "RS256", noJti, nil))
	bad("HS256", 401, 5002730, good.assertion(t, "RS256", c, func(h map[string]any) { h["alg"] = "HS256" }))
	bad("garbage", 401, 50027, "not.a.jwt!")
	bad("wrong assertion type", 400, 900144, good.assertion(t, "RS256", c, nil), "client_assertion_type", "urn:example")
	st, body := b.postForm(t, endpoint, url.Values{"client_id": {client}, "grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"}})
	if st != 401 || !strings.Contains(body, "AADSTS7000218") {
		t.Errorf("a certificate app without an assertion: %d %s", st, body)
	}

	// The authorization code flow takes an assertion for the secret, and
	// AddCertificate registers a DER certificate later.
	if err := b.srv.AddCertificate(client, other.der); err != nil {
		t.Fatal(err)
	}
	q := authQuery("offline_access Mail.Read")
	q.Set("client_id", client)
	status, rq, page := b.authorize(t, q)
	if status != http.StatusFound {
		t.Fatalf("authorize: %d %s", status, page)
	}
	st, body = b.postForm(t, endpoint, url.Values{"client_id": {client}, "grant_type": {"authorization_code"}, "code": {rq.Get("code")},
		"redirect_uri": {defaultRedirect}, "client_assertion_type": {jwtBearer}, "client_assertion": {other.assertion(t, "PS256", claims(ownAud), nil)}})
	if st != 200 || jsonField(t, body, "refresh_token") == "" {
		t.Errorf("code redeemed with an assertion of the added certificate: %d %s", st, body)
	}
	third := newTestCert(t, now.Add(-time.Hour), now.Add(time.Hour))
	resp, err := b.client.Post(b.srv.URL()+"/_emulator/apps/"+client+"/certificates", "application/x-pem-file", strings.NewReader(string(third.pem())))
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("control plane certificate: %v %v", resp, err)
	}
	resp.Body.Close()
	if st, body := post(third.assertion(t, "RS256", claims(ownAud), nil)); st != 200 {
		t.Errorf("assertion of a certificate added through the control plane: %d %s", st, body)
	}
	if err := b.srv.AddCertificate(client, []byte("not a certificate")); err == nil {
		t.Error("a bad certificate was registered")
	}
	if _, err := New(Config{Apps: []App{{ClientID: "x", Certificates: [][]byte{[]byte("junk")}}}}); err == nil {
		t.Error("a bad certificate in Config was accepted")
	}
}

// A public client presenting a secret or an assertion is refused
// (AADSTS700025, reference-error-codes).
func TestPublicClientCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 82, Users: 1, MessagesPerUser: 1, Apps: []App{{ClientID: "public", RedirectURIs: []string{defaultRedirect}}}})
	q := authQuery("Mail.Read")
	q.Set("client_id", "public")
	_, rq, _ := b.authorize(t, q)
	st, body := b.postForm(t, "/common/oauth2/v2.0/token", url.Values{"client_id": {"public"}, "client_secret": {"guess"},
		"grant_type": {"authorization_code"}, "code": {rq.Get("code")}, "redirect_uri": {defaultRedirect}})
	if st != 401 || !strings.Contains(body, "AADSTS700025") {
		t.Errorf("public client with a secret: %d %s", st, body)
	}
}

// National clouds: configured as usgov, the emulator issues tokens for
// https://graph.microsoft.us, accepts scopes and admin consent naming it or
// the URL the client uses for Graph (the emulator's origin), and refuses
// https://graph.microsoft.com as a resource it does not know (AADSTS500011);
// SharePoint lives on contoso.sharepoint.us.
// https://learn.microsoft.com/graph/deployments
func TestNationalCloud(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{Cloud: "mars"}); err == nil {
		t.Fatal("an unknown cloud was accepted")
	}
	b := setup(t, Config{Seed: 83, Users: 2, MessagesPerUser: 2, Cloud: "usgov"})
	tenant := b.srv.TenantID()
	cc := func(scope string) (int, string) {
		return b.postForm(t, "/"+tenant+"/oauth2/v2.0/token", url.Values{"client_id": {defaultClientID}, "client_secret": {defaultSecret},
			"grant_type": {"client_credentials"}, "scope": {scope}})
	}
	for _, scope := range []string{"https://graph.microsoft.us/.default", b.srv.URL() + "/.default", graphAppID + "/.default"} {
		st, body := cc(scope)
		if st != 200 {
			t.Errorf("%s: %d %s", scope, st, body)
			continue
		}
		tok := jsonField(t, body, "access_token")
		var cl struct{ Aud string }
		p, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
		_ = json.Unmarshal(p, &cl)
		if cl.Aud != "https://graph.microsoft.us" {
			t.Errorf("%s: aud %q", scope, cl.Aud)
		}
		if resp, _ := b.get(t, tok, "/v1.0/users"); resp.StatusCode != 200 {
			t.Errorf("%s: Graph answered %d", scope, resp.StatusCode)
		}
	}
	if st, body := cc("https://graph.microsoft.com/.default"); st != 400 || !strings.Contains(body, "AADSTS500011") {
		t.Errorf("graph.microsoft.com in usgov: %d %s", st, body)
	}
	// Delegated: scopes name Graph by the client's URL.
	tokens := b.userTokens(t, "offline_access "+b.srv.URL()+"/Mail.Read "+b.srv.URL()+"/Sites.Read.All", "")
	if s, _ := tokens["scope"].(string); !strings.Contains(s, "https://graph.microsoft.us/Mail.Read") {
		t.Errorf("granted scope %q", s)
	}
	q := authQuery("https://graph.microsoft.com/Mail.Read")
	if _, rq, _ := b.authorize(t, q); rq.Get("error") == "" {
		t.Errorf("authorize with graph.microsoft.com in usgov: %v", rq)
	}
	// Admin consent follows the same rule.
	consent := func(scope string) url.Values {
		_, got := b.adminConsent(t, "/"+tenant+"/v2.0/adminconsent", url.Values{"client_id": {defaultClientID},
			"redirect_uri": {defaultRedirect}, "scope": {scope}, "state": {"s1"}})
		return got
	}
	if got := consent("https://graph.microsoft.us/.default"); got.Get("admin_consent") != "True" || got.Get("state") != "s1" {
		t.Errorf("admin consent for graph.microsoft.us: %v", got)
	}
	if got := consent(b.srv.URL() + "/.default"); got.Get("admin_consent") != "True" {
		t.Errorf("admin consent for the emulator's URL: %v", got)
	}
	if got := consent("https://graph.microsoft.com/.default"); got.Get("error") == "" || !strings.Contains(got.Get("error_description"), "AADSTS500011") {
		t.Errorf("admin consent for graph.microsoft.com in usgov: %v", got)
	}
	// SharePoint: tokens for the cloud's host, sites on it.
	st, body := b.postForm(t, "/common/oauth2/v2.0/token", url.Values{"client_id": {defaultClientID}, "client_secret": {defaultSecret},
		"grant_type": {"refresh_token"}, "refresh_token": {tokens["refresh_token"].(string)}, "scope": {"https://contoso.sharepoint.us/.default offline_access"}})
	if st != 200 {
		t.Errorf("SharePoint token in usgov: %d %s", st, body)
	}
	for _, s := range b.srv.Sites() {
		if !strings.HasPrefix(s.WebURL, "https://contoso.sharepoint.us") || !strings.HasPrefix(s.ID, "contoso.sharepoint.us,") {
			t.Errorf("site %s at %s", s.ID, s.WebURL)
		}
	}
}
