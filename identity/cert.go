package identity

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// Certificate is the app's certificate credential: the certificate
// registered on the app and its RSA private key. The app proves itself
// with a client assertion, a JWT signed with the key, instead of a secret
// (learn.microsoft.com/entra/identity-platform/certificate-credentials).
type Certificate struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

// ParseCertificate reads a PEM bundle holding the certificate (the first
// CERTIFICATE block) and its RSA private key (PKCS #8 or PKCS #1). Errors
// name what is missing or wrong, never the key.
func ParseCertificate(pemData []byte) (*Certificate, error) {
	var c Certificate
	for rest := pemData; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			if c.cert != nil {
				continue // the chain: the first is the app's
			}
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certificate: %w", err)
			}
			c.cert = cert
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, errors.New("certificate: the PRIVATE KEY block is not a PKCS #8 key")
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, errors.New("certificate: the private key is not an RSA key (the identity platform takes RS256 assertions)")
			}
			c.key = rk
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
			if err != nil {
				return nil, errors.New("certificate: the RSA PRIVATE KEY block is not a PKCS #1 key")
			}
			c.key = k
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("certificate: the private key is encrypted; give it unencrypted (PKCS #8 or PKCS #1)")
		}
	}
	switch {
	case c.cert == nil:
		return nil, errors.New("certificate: no CERTIFICATE block in the PEM data")
	case c.key == nil:
		return nil, errors.New("certificate: no private key (PRIVATE KEY or RSA PRIVATE KEY block) in the PEM data")
	}
	pub, ok := c.cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&c.key.PublicKey) {
		return nil, errors.New("certificate: the private key does not belong to the certificate")
	}
	return &c, nil
}

// NotAfter is when the certificate expires: the app can no longer sign in
// with it after that.
func (c *Certificate) NotAfter() time.Time { return c.cert.NotAfter }

// Thumbprint is the certificate's SHA-1 thumbprint in hex, as the Entra
// admin center shows it.
func (c *Certificate) Thumbprint() string {
	sum := sha1.Sum(c.cert.Raw)
	return fmt.Sprintf("%X", sum[:])
}

// assertionLifetime is how long a client assertion is valid: long enough
// for one token request, short enough that a leaked one is soon useless.
const assertionLifetime = 10 * time.Minute

// assertion signs a client assertion for the token endpoint aud: RS256,
// the certificate named by x5t (SHA-1) and x5t#S256 (SHA-256) of its DER,
// iss and sub the client id, a unique jti.
func (c *Certificate) assertion(clientID, aud string, now time.Time) (string, error) {
	sha1sum := sha1.Sum(c.cert.Raw)
	sha256sum := sha256.Sum256(c.cert.Raw)
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("client assertion: %w", err)
	}
	header, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT",
		"x5t": b64(sha1sum[:]), "x5t#S256": b64(sha256sum[:])})
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(map[string]any{"aud": aud, "iss": clientID, "sub": clientID, "jti": b64(jti),
		"nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(assertionLifetime).Unix()})
	if err != nil {
		return "", err
	}
	signing := b64(header) + "." + b64(claims)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, c.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("client assertion: sign: %w", err)
	}
	return signing + "." + b64(sig), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
