// Package keyhash turns key secrets into self-describing hash strings and
// checks them: HMAC-SHA256 with a server pepper (the default), Argon2id and
// bcrypt. Every hasher implements [keyward.Hasher].
//
// Hash strings name their scheme and parameters, PHC style:
//
//	$hmac-sha256$p=<pepper id>$<base64 MAC>
//	$argon2id$v=19$m=19456,t=2,p=1[,k=<pepper id>]$<base64 salt>$<base64 hash>
//	$bcrypt-sha256$k=<pepper id or ->$<bcrypt hash of the hex pre-hash>
//
// so a [Multi] configured with several hashers and several peppers verifies
// any stored key and reports when a hash should be upgraded (an older scheme,
// weaker parameters, or a pepper that is no longer the current one).
//
// A secret has about 238 bits of entropy: a fast keyed hash is as safe as a
// slow one against guessing, and costs about 200 ns instead of tens of
// milliseconds. Argon2id and bcrypt are here for policies that mandate them.
package keyhash

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/keyward/keyward"
)

// MinPepperLength is the shortest pepper accepted, in bytes.
const MinPepperLength = 32

// Pepper is a server-side secret mixed into every hash. ID names it in hash
// strings so that several peppers can be configured during a rotation.
type Pepper struct {
	ID     string
	Secret []byte
}

// NewPepper returns a pepper with an id derived from the secret (8 characters
// of the base64url SHA-256 of a labelled secret: the id names the pepper but
// tells nothing useful about it). The secret must have at least
// MinPepperLength bytes. To read KEYWARD_PEPPER or a pepper file, use
// [ParsePeppers]: it is what keyward serve and the CLI use.
func NewPepper(secret []byte) (Pepper, error) {
	if len(secret) < MinPepperLength {
		return Pepper{}, fmt.Errorf("keyhash: pepper must be at least %d bytes, got %d", MinPepperLength, len(secret))
	}
	sum := sha256.Sum256(append([]byte("keyward pepper id\x00"), secret...))
	return Pepper{ID: base64.RawURLEncoding.EncodeToString(sum[:6]), Secret: append([]byte(nil), secret...)}, nil
}

// ParsePeppers reads a list of peppers separated by commas or newlines, the
// current one first (the form of KEYWARD_PEPPER and of a pepper file).
// Surrounding spaces are ignored; empty entries are skipped; a pepper given
// twice counts once. It is the one way keyward reads peppers: keyward serve
// and the CLI call it on KEYWARD_PEPPER and on the pepper file, so a program
// that embeds the library and reads the same variable with
//
//	peppers, err := keyhash.ParsePeppers(os.Getenv("KEYWARD_PEPPER"))
//
// hashes and verifies exactly as they do, during a rotation ("new,old") too.
// It returns an error for an empty list and for a pepper shorter than
// MinPepperLength, naming no secret.
func ParsePeppers(s string) ([]Pepper, error) {
	var out []Pepper
	seen := map[string]bool{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := NewPepper([]byte(f))
		if err != nil {
			return nil, err
		}
		if !seen[p.ID] {
			seen[p.ID] = true
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("keyhash: no pepper given")
	}
	return out, nil
}

// PepperID returns the id of the pepper a hash string of this package names
// (p= in an HMAC-SHA256 hash, k= in Argon2id and bcrypt hashes), or "-" for
// a hash made without a pepper. ok is false for a string of another scheme.
// It answers "which keys still need pepper X" during a rotation.
func PepperID(encoded string) (id string, ok bool) {
	switch {
	case strings.HasPrefix(encoded, hmacScheme):
		id, _, ok = strings.Cut(encoded[len(hmacScheme):], "$")
		return id, ok && id != ""
	case strings.HasPrefix(encoded, bcryptScheme):
		id, _, ok = strings.Cut(encoded[len(bcryptScheme):], "$")
		return id, ok && id != ""
	case strings.HasPrefix(encoded, argonScheme):
		h, err := parseArgon(encoded)
		if err != nil {
			return "", false
		}
		return h.pepper, true
	}
	return "", false
}

// peppers holds a current pepper and the older ones still accepted.
type peppers struct {
	current Pepper
	byID    map[string]Pepper
}

func newPeppers(list []Pepper) (peppers, error) {
	if len(list) == 0 {
		return peppers{}, errors.New("keyhash: at least one pepper is needed")
	}
	ps := peppers{current: list[0], byID: make(map[string]Pepper, len(list))}
	for _, p := range list {
		if len(p.Secret) < MinPepperLength {
			return peppers{}, fmt.Errorf("keyhash: pepper %q must be at least %d bytes", p.ID, MinPepperLength)
		}
		if p.ID == "" || strings.ContainsAny(p.ID, "$,=") {
			return peppers{}, fmt.Errorf("keyhash: pepper id %q must be non-empty without '$', ',' or '='", p.ID)
		}
		if _, dup := ps.byID[p.ID]; dup {
			return peppers{}, fmt.Errorf("keyhash: pepper id %q given twice", p.ID)
		}
		ps.byID[p.ID] = p
	}
	return ps, nil
}

// preHash returns the hex HMAC-SHA256 of secret under the pepper with that
// id, or the hex SHA-256 when id is "-" (no pepper). It feeds the slow
// hashers a fixed-length ASCII input: never raw digest bytes (a NUL would be
// truncated by some bcrypt implementations) and never more than 72 bytes.
func (ps peppers) preHash(id, secret string) ([]byte, bool) {
	var sum []byte
	if id == "-" {
		s := sha256.Sum256([]byte(secret))
		sum = s[:]
	} else {
		p, ok := ps.byID[id]
		if !ok {
			return nil, false
		}
		m := hmac.New(sha256.New, p.Secret)
		m.Write([]byte(secret))
		sum = m.Sum(nil)
	}
	out := make([]byte, 64)
	const hexdigits = "0123456789abcdef"
	for i, b := range sum {
		out[2*i], out[2*i+1] = hexdigits[b>>4], hexdigits[b&15]
	}
	return out, true
}

// Multi hashes with a primary hasher and verifies hash strings of any of its
// hashers, dispatching on the scheme name. A hash of another scheme than the
// primary's always needs a rehash.
type Multi struct {
	primary scheme
	all     []scheme
}

// scheme is a Hasher that recognises its own hash strings.
type scheme interface {
	keyward.Hasher
	owns(encoded string) bool
}

var _ keyward.Hasher = (*Multi)(nil)

// NewMulti returns a hasher that hashes with primary and also verifies the
// hash strings of others. Every hasher must come from this package.
func NewMulti(primary keyward.Hasher, others ...keyward.Hasher) (*Multi, error) {
	m := &Multi{}
	for i, h := range append([]keyward.Hasher{primary}, others...) {
		s, ok := h.(scheme)
		if !ok {
			return nil, fmt.Errorf("keyhash: hasher %T is not from package keyhash", h)
		}
		if i == 0 {
			m.primary = s
		}
		m.all = append(m.all, s)
	}
	return m, nil
}

// Hash hashes with the primary hasher.
func (m *Multi) Hash(secret string) (string, error) { return m.primary.Hash(secret) }

// Verify checks secret with the hasher that owns encoded's scheme.
func (m *Multi) Verify(secret, encoded string) (ok, rehash bool) {
	for _, s := range m.all {
		if s.owns(encoded) {
			ok, rehash = s.Verify(secret, encoded)
			return ok, rehash || s != m.primary
		}
	}
	return false, false
}

var b64 = base64.RawStdEncoding
