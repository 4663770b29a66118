package emulator

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Certificate credentials, as learn.microsoft.com/entra/identity-platform/certificate-credentials
// documents them: a client_assertion JWT signed (RS256 or PS256) with the
// private key of a certificate registered on the app, naming it by x5t or
// x5t#S256, with aud the token endpoint, iss and sub the client id, exp,
// nbf and jti.

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// appCert is a registered certificate with its thumbprints (base64url of
// the SHA-1 and SHA-256 of its DER encoding).
type appCert struct {
	cert         *x509.Certificate
	x5t, x5tS256 string
}

// parseCertificates reads PEM (one or more CERTIFICATE blocks) or DER
// certificates.
func parseCertificates(raws [][]byte) ([]appCert, error) {
	var out []appCert
	add := func(der []byte) error {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
			return errors.New("the certificate's key is not RSA")
		}
		s1, s256 := sha1.Sum(der), sha256.Sum256(der)
		out = append(out, appCert{cert: c, x5t: base64.RawURLEncoding.EncodeToString(s1[:]), x5tS256: base64.RawURLEncoding.EncodeToString(s256[:])})
		return nil
	}
	for i, raw := range raws {
		rest, n := raw, 0
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			n++
			if b.Type != "CERTIFICATE" {
				return nil, fmt.Errorf("certificate %d: a PEM %s block, not CERTIFICATE", i, b.Type)
			}
			if err := add(b.Bytes); err != nil {
				return nil, fmt.Errorf("certificate %d: %w", i, err)
			}
		}
		if n == 0 {
			if err := add(raw); err != nil {
				return nil, fmt.Errorf("certificate %d: neither PEM nor DER: %w", i, err)
			}
		}
	}
	return out, nil
}

// AddCertificate registers a public certificate (PEM or DER) on an app,
// as uploading it under "Certificates & secrets" does.
func (em *Emulator) AddCertificate(clientID string, cert []byte) error {
	certs, err := parseCertificates([][]byte{cert})
	if err != nil {
		return fmt.Errorf("add certificate: %w", err)
	}
	em.auth.mu.Lock()
	defer em.auth.mu.Unlock()
	app, ok := em.auth.apps[clientID]
	if !ok {
		return fmt.Errorf("add certificate: app %q is not registered", clientID)
	}
	app.Certificates = append(app.Certificates, cert)
	em.auth.certs[clientID] = append(em.auth.certs[clientID], certs...)
	return nil
}

// assertionError is an AADSTS code and message for a refused assertion.
type assertionError struct {
	code int
	msg  string
}

const certDocs = "Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."

// checkAssertion validates a client assertion for app, presented at the
// token endpoint of tenant reached through host; em.auth.mu held. The
// checks follow the documented format: signature by a registered,
// unexpired certificate, iss = sub = client id, aud = the token endpoint,
// exp, nbf and jti present, now within [nbf, exp).
func (em *Emulator) checkAssertion(app *App, tenant, own, assertion string) *assertionError {
	malformed := func(why string) *assertionError {
		return &assertionError{50027, "JWT token is invalid or malformed. " + why}
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return malformed("The client assertion is not a compact JWT.")
	}
	var head struct {
		Alg     string `json:"alg"`
		X5t     string `json:"x5t"`
		X5tS256 string `json:"x5t#S256"`
	}
	var claims struct {
		Aud any    `json:"aud"`
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Jti string `json:"jti"`
		Exp *int64 `json:"exp"`
		Nbf *int64 `json:"nbf"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &head) != nil || json.Unmarshal(cb, &claims) != nil {
		return malformed("The client assertion cannot be decoded.")
	}
	if head.Alg != "RS256" && head.Alg != "PS256" {
		return &assertionError{5002730, fmt.Sprintf("Invalid JWT token. Unsupported key for the signing algorithm '%s'.", head.Alg)}
	}
	certs := em.auth.certs[app.ClientID]
	i := slices.IndexFunc(certs, func(c appCert) bool {
		return (head.X5tS256 != "" && c.x5tS256 == head.X5tS256) || (head.X5t != "" && c.x5t == head.X5t)
	})
	thumb := head.X5tS256
	if thumb == "" {
		thumb = head.X5t
	}
	if b, err := base64.RawURLEncoding.DecodeString(thumb); err == nil {
		thumb = strings.ToUpper(hex.EncodeToString(b))
	}
	sigErr := func(reason string) *assertionError {
		return &assertionError{700027, fmt.Sprintf("Client assertion failed signature validation. [Reason - %s, Thumbprint of key used by client: '%s', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'. %s]", reason, thumb, app.ClientID, certDocs)}
	}
	now := em.now()
	if i < 0 {
		return sigErr("The key was not found.")
	}
	c := certs[i]
	if now.After(c.cert.NotAfter) || now.Before(c.cert.NotBefore) {
		return sigErr("The key used is expired.")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	pub := c.cert.PublicKey.(*rsa.PublicKey)
	var err error
	if head.Alg == "PS256" {
		err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	} else {
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	}
	if err != nil {
		return sigErr("The signature is invalid.")
	}
	for k, missing := range map[string]bool{"iss": claims.Iss == "", "sub": claims.Sub == "", "jti": claims.Jti == "", "exp": claims.Exp == nil, "nbf": claims.Nbf == nil, "aud": claims.Aud == nil} {
		if missing {
			return malformed(fmt.Sprintf("The client assertion lacks the claim '%s'.", k))
		}
	}
	switch {
	case claims.Sub != claims.Iss:
		return &assertionError{50048, "Subject mismatches Issuer claim in the client assertion."}
	case claims.Iss != app.ClientID:
		return &assertionError{700021, "Client assertion application identifier doesn't match 'client_id' parameter. " + certDocs}
	case !em.assertionAudience(claims.Aud, tenant, own):
		return &assertionError{700023, "Client assertion audience claim does not match Realm issuer. " + certDocs}
	}
	exp, nbf := time.Unix(*claims.Exp, 0), time.Unix(*claims.Nbf, 0)
	if !now.Before(exp) || now.Before(nbf.Add(-5*time.Minute)) {
		f := "2006-01-02T15:04:05.0000000Z"
		return &assertionError{700024, fmt.Sprintf("Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s. %s",
			now.UTC().Format(f), nbf.UTC().Format(f), exp.UTC().Format(f), certDocs)}
	}
	return nil
}

// assertionAudience accepts the token endpoint the client called: on the
// cloud's sign-in host or on the emulator's own origin, for the tenant in
// the request path or any name of the tenant (v2.0 or v1 path). A request
// through /organizations or /common accepts any of the tenant's names.
func (em *Emulator) assertionAudience(aud any, tenant, own string) bool {
	var auds []string
	switch a := aud.(type) {
	case string:
		auds = []string{a}
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok {
				auds = append(auds, s)
			}
		}
	}
	names := []string{strings.ToLower(tenant), strings.ToLower(em.cfg.TenantID), "contoso.onmicrosoft.com"}
	for _, a := range auds {
		for _, host := range []string{em.cloud().login, own} {
			for _, t := range names {
				for _, p := range []string{"/oauth2/v2.0/token", "/oauth2/token"} {
					if strings.EqualFold(strings.TrimSuffix(a, "/"), host+"/"+t+p) {
						return true
					}
				}
			}
		}
	}
	return false
}

// clientAuth checks how a client authenticates at the token endpoint: a
// certificate assertion, a secret, or (public clients) neither. It writes
// the error and reports false when it refuses. em.auth.mu held.
func (em *Emulator) clientAuth(w http.ResponseWriter, r *http.Request, app *App, grant, secret, tenant string) bool {
	f := r.PostForm
	assertion, kind := f.Get("client_assertion"), f.Get("client_assertion_type")
	confidential := app.Secret != "" || len(em.auth.certs[app.ClientID]) > 0
	if assertion != "" {
		em.auth.issued = append(em.auth.issued, assertion) // a credential: the secret scans look for it
	}
	switch {
	case !confidential && grant != "client_credentials":
		if secret != "" || assertion != "" {
			em.tokenError(w, http.StatusUnauthorized, "invalid_client", 700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.", "")
			return false
		}
		return true
	case assertion != "":
		if kind != jwtBearer {
			em.tokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_assertion_type'.", "")
			return false
		}
		if e := em.checkAssertion(app, tenant, origin(r), assertion); e != nil {
			em.tokenError(w, http.StatusUnauthorized, "invalid_client", e.code, e.msg, "")
			return false
		}
		return true
	case secret == "":
		em.tokenError(w, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", "")
		return false
	case secret != app.Secret:
		em.tokenError(w, http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", app.ClientID), "")
		return false
	case !app.SecretExpiresAt.IsZero() && !em.now().Before(app.SecretExpiresAt):
		em.tokenError(w, http.StatusUnauthorized, "invalid_client", 7000222, fmt.Sprintf("The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.", app.ClientID), "")
		return false
	}
	return true
}
