package keyhash

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// A foreign system's pepper (keyshield's) is a secret like keyward's own: it
// is never stored in the clear. It is sealed with AES-256-GCM under a key
// derived from a keyward pepper, whose id is recorded beside it, so a
// database dump alone does not reveal it, and every instance and the CLI
// (which have keyward's peppers) open it without being given it again.
const sealLabel = "keyward: legacy pepper seal"

var sealEncoding = base64.RawURLEncoding // no '$' or ',' in hash strings

func sealAEAD(kp Pepper) (cipher.AEAD, error) {
	m := hmac.New(sha256.New, kp.Secret)
	m.Write([]byte(sealLabel))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealPepper returns secret sealed with kp, base64url: nonce and ciphertext.
func sealPepper(kp Pepper, secret []byte) (string, error) {
	aead, err := sealAEAD(kp)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return sealEncoding.EncodeToString(aead.Seal(nonce, nonce, secret, []byte(sealLabel))), nil
}

// openPepper opens what sealPepper sealed with kp.
func openPepper(kp Pepper, sealed string) ([]byte, error) {
	aead, err := sealAEAD(kp)
	if err != nil {
		return nil, err
	}
	b, err := sealEncoding.DecodeString(sealed)
	if err != nil || len(b) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("keyhash: not a sealed pepper")
	}
	p, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], []byte(sealLabel))
	if err != nil {
		return nil, fmt.Errorf("keyhash: opening a sealed pepper with pepper %q: %w", kp.ID, err)
	}
	return p, nil
}

// KeyshieldImport turns the hashes of a keyshield table into keyward hash
// strings that [Keyshield] verifies. It holds keyshield's pepper, sealed once
// with a keyward pepper for every hash of the import.
type KeyshieldImport struct {
	pepper    []byte
	params    string // "k=<id>,s=<sealed>"
	bcryptHex bool   // bcrypt hashes are over the hexadecimal digest
}

// NewKeyshieldImport prepares an import of hashes made with keyshield's
// pepper, sealing it with the keyward pepper seal (the deployment's current
// one).
func NewKeyshieldImport(keyshieldPepper []byte, seal Pepper) (*KeyshieldImport, error) {
	if len(keyshieldPepper) == 0 {
		return nil, errors.New("keyhash: keyshield pepper is empty")
	}
	if seal.ID == "" || strings.ContainsAny(seal.ID, "$,=") || len(seal.Secret) < MinPepperLength {
		return nil, fmt.Errorf("keyhash: pepper %q cannot seal: make it with NewPepper", seal.ID)
	}
	sealed, err := sealPepper(seal, keyshieldPepper)
	if err != nil {
		return nil, err
	}
	return &KeyshieldImport{pepper: append([]byte(nil), keyshieldPepper...), params: "k=" + seal.ID + ",s=" + sealed}, nil
}

// BcryptOverHex records that keyshield gave bcrypt the HMAC digest in
// hexadecimal digits, not raw (as [KeyshieldMatch] found on a key the
// operator holds): the bcrypt hashes that Wrap and Dummy make from then on
// are verified so.
func (ki *KeyshieldImport) BcryptOverHex() { ki.bcryptHex = true }

// Wrap returns the keyward hash string of a hash keyshield stored, or an
// error saying why keyshield could not have made it (only Argon2id, Argon2i
// and bcrypt hashes are).
func (ki *KeyshieldImport) Wrap(original string) (string, error) {
	var out string
	switch {
	case strings.HasPrefix(original, "$argon2"):
		out = keyshieldArgon + ki.params + "$" + original[1:]
	case strings.HasPrefix(original, "$2") && ki.bcryptHex:
		out = keyshieldBcrypt + ki.params + ",e=hex$" + original[1:]
	case strings.HasPrefix(original, "$2"):
		out = keyshieldBcrypt + ki.params + "$" + original[1:]
	default:
		return "", errors.New("keyhash: not an Argon2 or bcrypt hash string")
	}
	if _, err := parseKeyshield(out); err != nil {
		if strings.HasPrefix(original, "$argon2d$") {
			return "", errors.New("keyhash: argon2d hashes are not supported (argon2id and argon2i are)")
		}
		return "", errors.New("keyhash: not a well-formed Argon2id, Argon2i or bcrypt hash string")
	}
	return out, nil
}

// KeyshieldMatches reports whether secret (the part of a keyshield key after
// its key id) matches original, a hash string as keyshield stored it, with
// keyshield's pepper: a wrong pepper matches nothing. An import checks the
// pepper with it on keys the operator holds.
func KeyshieldMatches(original string, keyshieldPepper []byte, secret string) bool {
	ok, _ := KeyshieldMatch(original, keyshieldPepper, secret)
	return ok
}

// KeyshieldMatch is KeyshieldMatches, and also reports, for a bcrypt hash
// that matches, whether keyshield gave bcrypt the HMAC digest in
// hexadecimal digits rather than raw (see [KeyshieldImport.BcryptOverHex]).
func KeyshieldMatch(original string, keyshieldPepper []byte, secret string) (ok, bcryptOverHex bool) {
	scheme := keyshieldArgon
	if strings.HasPrefix(original, "$2") {
		scheme = keyshieldBcrypt
	}
	h, err := parseKeyshield(scheme + "k=-,s=-$" + strings.TrimPrefix(original, "$"))
	if err != nil {
		return false, false
	}
	if verifyKeyshield(h, keyshieldPepper, secret) {
		return true, false
	}
	if !h.bcrypt {
		return false, false
	}
	h.hexInput = true
	ok = verifyKeyshield(h, keyshieldPepper, secret)
	return ok, ok
}

// Dummy returns a keyward hash string in the scheme and with the parameters
// of original, of a random secret that no key has: verifying an unknown id
// against it costs what a wrong secret on an imported key costs.
func (ki *KeyshieldImport) Dummy(original string) (string, error) {
	w, err := ki.Wrap(original)
	if err != nil {
		return "", err
	}
	h, _ := parseKeyshield(w)
	secret := make([]byte, 48)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	s := sealEncoding.EncodeToString(secret) // 64 characters, as keyshield's secrets
	if h.bcrypt {
		cost, _ := bcrypt.Cost([]byte(h.original))
		d, err := bcrypt.GenerateFromPassword(keyshieldBcryptInput(ki.pepper, s, ki.bcryptHex), cost)
		if err != nil {
			return "", err
		}
		return ki.Wrap(string(d))
	}
	a := h.argon
	salt := make([]byte, len(a.salt))
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	in := append([]byte(s), ki.pepper...)
	p := a.params
	return ki.Wrap(fmt.Sprintf("$%s$v=19$m=%d,t=%d,p=%d$%s$%s", a.variant, p.Memory, p.Iterations, p.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(a.key(in, salt))))
}
