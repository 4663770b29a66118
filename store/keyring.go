package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Keyring seals token columns with AES-256-GCM. The first key encrypts; every
// key decrypts, so keys can be rotated: put the new key first, run
// `graphsync keys rotate`, then drop the old one.
type Keyring struct {
	primary *sealKey
	byID    map[string]*sealKey
}

type sealKey struct {
	id   string
	aead cipher.AEAD
}

// ErrDecrypt is returned when a ciphertext cannot be opened: the key that
// sealed it is not in the keyring, or the data was altered.
var ErrDecrypt = errors.New("cannot decrypt token")

// ParseKeyring parses GRAPHSYNC_ENCRYPTION_KEY: one or more base64-encoded
// 32-byte keys separated by commas, the first being the one that encrypts.
// A key's id is derived from the key itself, so it needs no name.
func ParseKeyring(spec string) (*Keyring, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("GRAPHSYNC_ENCRYPTION_KEY is empty: generate one with `graphsync keys generate`")
	}
	kr := &Keyring{byID: map[string]*sealKey{}}
	for i, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		raw, err := base64.StdEncoding.DecodeString(part)
		if err != nil {
			raw, err = base64.RawURLEncoding.DecodeString(part)
		}
		if err != nil {
			return nil, fmt.Errorf("GRAPHSYNC_ENCRYPTION_KEY: key %d is not base64", i+1)
		}
		if len(raw) != 32 {
			return nil, fmt.Errorf("GRAPHSYNC_ENCRYPTION_KEY: key %d is %d bytes; AES-256 needs 32", i+1, len(raw))
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("GRAPHSYNC_ENCRYPTION_KEY: key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("GRAPHSYNC_ENCRYPTION_KEY: key %d: %w", i+1, err)
		}
		sum := sha256.Sum256(append([]byte("graphsync key id\x00"), raw...))
		k := &sealKey{id: hex.EncodeToString(sum[:6]), aead: aead}
		if _, dup := kr.byID[k.id]; dup {
			return nil, fmt.Errorf("GRAPHSYNC_ENCRYPTION_KEY: key %d repeats an earlier key", i+1)
		}
		kr.byID[k.id] = k
		if i == 0 {
			kr.primary = k
		}
	}
	return kr, nil
}

// GenerateKey returns a new random key in the form ParseKeyring accepts.
func GenerateKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// PrimaryID is the id of the key that encrypts.
func (k *Keyring) PrimaryID() string { return k.primary.id }

// seal encrypts plaintext under the primary key. aad binds the ciphertext to
// its row and column so ciphertexts cannot be swapped between rows.
func (k *Keyring) seal(plaintext, aad string) []byte {
	if plaintext == "" {
		return nil
	}
	nonce := make([]byte, k.primary.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return k.primary.aead.Seal(nonce, nonce, []byte(plaintext), []byte(aad))
}

// open decrypts a ciphertext sealed under the key keyID.
func (k *Keyring) open(keyID string, ciphertext []byte, aad string) (string, error) {
	if len(ciphertext) == 0 {
		return "", nil
	}
	key, ok := k.byID[keyID]
	if !ok {
		return "", fmt.Errorf("%w: sealed with key %s, which GRAPHSYNC_ENCRYPTION_KEY does not hold", ErrDecrypt, keyID)
	}
	ns := key.aead.NonceSize()
	if len(ciphertext) < ns {
		return "", fmt.Errorf("%w: ciphertext too short", ErrDecrypt)
	}
	pt, err := key.aead.Open(nil, ciphertext[:ns], ciphertext[ns:], []byte(aad))
	if err != nil {
		return "", fmt.Errorf("%w: key %s does not open it (wrong key or altered data)", ErrDecrypt, keyID)
	}
	return string(pt), nil
}
