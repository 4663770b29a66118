package identity_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/internal/emutest"
)

// newCertificate makes a self-signed RSA certificate valid until notAfter
// and returns the PEM bundle graphsync reads (certificate and key) and the
// certificate alone, as registered on the app.
func newCertificate(t *testing.T, notAfter time.Time) (bundle, cert []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "graphsync test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(append([]byte{}, cert...), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})...), cert
}

// certAuth is an Auth of the test app proving itself with cert.
func certAuth(t *testing.T, b *emutest.Bundle, cert *identity.Certificate) *identity.Auth {
	t.Helper()
	a, err := identity.NewAuth(identity.Config{LoginURL: b.Srv.URL(), Tenant: b.Srv.TenantID(), ClientID: emutest.ClientID,
		Certificate: cert, RedirectURL: emutest.Redirect})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The app authenticates with a certificate instead of a secret: app-only
// tokens, the authorization code and refreshes, each with a fresh signed
// assertion; an unregistered certificate is refused as the identity
// platform refuses it, and no error carries the assertion.
func TestCertificateCredentials(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{Users: 1, MessagesPerUser: 5})
	expires := time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second)
	bundle, public := newCertificate(t, expires)
	cert, err := identity.ParseCertificate(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.NotAfter().Equal(expires.UTC()) {
		t.Fatalf("NotAfter = %s, want %s", cert.NotAfter(), expires)
	}
	a := certAuth(t, b, cert)

	_, err = a.ClientCredentials(emutest.Context(t))
	var te *identity.TokenError
	if !errors.As(err, &te) || te.Code != "invalid_client" || te.AADSTS() != 700027 {
		t.Fatalf("unregistered certificate: %v, want invalid_client AADSTS700027", err)
	}
	for _, s := range b.Srv.IssuedSecrets() {
		if strings.Contains(err.Error(), s) {
			t.Fatal("the error carries the client assertion")
		}
	}

	if err := b.Srv.AddCertificate(emutest.ClientID, public); err != nil {
		t.Fatal(err)
	}
	tok, err := a.ClientCredentials(emutest.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	c := b.Client(t, graph.Config{})
	var u graphsync.User
	if err := c.Get(emutest.Context(t), graph.Call{Token: tok.AccessToken, Service: graphsync.Directory, Tenant: tok.TenantID, Resource: "users"},
		"/users/"+b.User.ID, &u); err != nil || u.ID != b.User.ID {
		t.Fatalf("app-only GET user with the certificate's token: %v %+v", err, u)
	}

	// Delegated: the code and the refresh are redeemed with assertions too.
	cb := &emutest.Bundle{Srv: b.Srv, User: b.User, Auth: a}
	first := cb.SignIn(t, mailScopes())
	second, err := a.Refresh(emutest.Context(t), first.RefreshToken, mailScopes())
	if err != nil || second.AccessToken == "" {
		t.Fatalf("refresh with the certificate: %v", err)
	}
}

func TestParseCertificateRefusesWhatItCannotUse(t *testing.T) {
	t.Parallel()
	bundle, public := newCertificate(t, time.Now().Add(time.Hour))
	other, _ := newCertificate(t, time.Now().Add(time.Hour))
	keyOnly := other[len(public):] // another certificate's key block
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "no CERTIFICATE"},
		{"no key", public, "no private key"},
		{"another key", append(append([]byte{}, public...), keyOnly...), "does not belong"},
		{"encrypted", append(append([]byte{}, public...), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}})...), "encrypted"},
	} {
		if _, err := identity.ParseCertificate(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	if _, err := identity.ParseCertificate(bundle); err != nil {
		t.Fatal(err)
	}
}

// In a national cloud, .default scopes and admin consent name Graph by
// the configured Graph URL: the global Graph is another resource there.
func TestNationalCloudScopesFollowGraphURL(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{Users: 1, MessagesPerUser: 5, Cloud: "usgov"})
	_, err := b.Auth.ClientCredentials(emutest.Context(t))
	var te *identity.TokenError
	if !errors.As(err, &te) || te.AADSTS() != 500011 {
		t.Fatalf("global Graph in the US Government cloud: %v, want AADSTS500011", err)
	}
	a, err := identity.NewAuth(identity.Config{LoginURL: b.Srv.URL(), Tenant: b.Srv.TenantID(), ClientID: emutest.ClientID,
		ClientSecret: emutest.Secret, RedirectURL: emutest.Redirect, GraphURL: b.Srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ClientCredentials(emutest.Context(t)); err != nil {
		t.Fatalf("app-only token for the configured Graph URL: %v", err)
	}
	consent, err := url.Parse(a.AdminConsentURL("s"))
	if err != nil {
		t.Fatal(err)
	}
	if got := consent.Query().Get("scope"); got != b.Srv.URL()+"/.default" {
		t.Fatalf("admin consent scope %q, want %q", got, b.Srv.URL()+"/.default")
	}
	if _, err := identity.NewAuth(identity.Config{LoginURL: b.Srv.URL(), Tenant: "t", ClientID: "c", GraphURL: "https://graph.microsoft.us/v1.0"}); err == nil {
		t.Fatal("a Graph URL with a path was accepted")
	}
}
