package keyhash

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/keyward/keyward"
)

// Hashes imported from keyshield (fastapi-api-key) are kept as keyshield
// wrote them, inside a keyward hash string that also carries keyshield's
// pepper, sealed with a keyward pepper (see [SealPepper]):
//
//	$keyshield-argon2$k=<keyward pepper id>,s=<sealed keyshield pepper>$<argon2 PHC string>
//	$keyshield-bcrypt$k=<keyward pepper id>,s=<sealed keyshield pepper>[,e=hex]$<bcrypt hash>
//
// keyshield hashes its secret (the part after the key id) in one of two
// ways: Argon2 (argon2-cffi's PasswordHasher, whose PHC string names the
// variant and parameters) over the UTF-8 of secret + pepper; or bcrypt over
// the 32 bytes of HMAC-SHA256 keyed by the pepper's UTF-8, of the secret's
// UTF-8 (keyshield 2.0's change log states the HMAC, not how the digest is
// given to bcrypt: raw, or as 64 hexadecimal digits, which "e=hex" marks;
// an import finds out which with the keys the operator holds, see
// [KeyshieldMatch]). [Keyshield] verifies both exactly so and always asks
// for a rehash, so a key moves to keyward's hasher on its first successful
// use.
const (
	keyshieldArgon  = "$keyshield-argon2$"
	keyshieldBcrypt = "$keyshield-bcrypt$"
)

// Keyshield verifies hash strings imported from keyshield. It never makes
// one: Hash returns an error, so it can only be a secondary hasher of a
// [Multi]. It needs the keyward peppers that sealed the keyshield pepper
// (every pepper of the deployment, as given to [NewHMAC]).
//
// Argon2 with keyshield's defaults takes 64 MiB and tens of milliseconds; at
// most GOMAXPROCS verifications run at once, the others wait, so a flood of
// wrong secrets costs CPU time but cannot exhaust memory. It is safe for
// concurrent use.
type Keyshield struct {
	ps      peppers
	slots   chan struct{}
	mu      sync.Mutex
	opened  map[string][]byte // sealed pepper → pepper; guarded by mu
	maxOpen int
}

var _ keyward.Hasher = (*Keyshield)(nil)

// NewKeyshield returns a verifier of imported keyshield hashes, with the
// deployment's keyward peppers (the current one first).
func NewKeyshield(list ...Pepper) (*Keyshield, error) {
	ps, err := newPeppers(list)
	if err != nil {
		return nil, err
	}
	return &Keyshield{
		ps: ps, slots: make(chan struct{}, runtime.GOMAXPROCS(0)),
		opened: map[string][]byte{}, maxOpen: 64,
	}, nil
}

func (ks *Keyshield) owns(encoded string) bool {
	return strings.HasPrefix(encoded, keyshieldArgon) || strings.HasPrefix(encoded, keyshieldBcrypt)
}

// Hash returns an error: keyshield hashes are imported, never made.
func (ks *Keyshield) Hash(string) (string, error) {
	return "", errors.New("keyhash: keyshield hashes are verified, never made: use another hasher as the primary one")
}

// Verify reports whether secret (the part of a keyshield key after its key
// id) matches encoded as keyshield would decide it, and always asks for a
// rehash when it does.
func (ks *Keyshield) Verify(secret, encoded string) (ok, rehash bool) {
	h, err := parseKeyshield(encoded)
	if err != nil {
		return false, false
	}
	pepper, err := ks.open(h.pepperID, h.sealed)
	if err != nil {
		return false, false
	}
	ks.slots <- struct{}{}
	defer func() { <-ks.slots }()
	if !verifyKeyshield(h, pepper, secret) {
		return false, false
	}
	return true, true
}

// open returns the keyshield pepper sealed with the keyward pepper of that
// id, remembering a few of them.
func (ks *Keyshield) open(id, sealed string) ([]byte, error) {
	ks.mu.Lock()
	p, ok := ks.opened[sealed]
	ks.mu.Unlock()
	if ok {
		return p, nil
	}
	kp, known := ks.ps.byID[id]
	if !known {
		return nil, fmt.Errorf("keyhash: keyshield pepper sealed with unknown pepper %q", id)
	}
	p, err := openPepper(kp, sealed)
	if err != nil {
		return nil, err
	}
	ks.mu.Lock()
	if len(ks.opened) < ks.maxOpen {
		ks.opened[sealed] = p
	}
	ks.mu.Unlock()
	return p, nil
}

// keyshieldHash is a parsed keyshield hash string.
type keyshieldHash struct {
	bcrypt   bool
	hexInput bool // bcrypt over the hexadecimal digest ("e=hex")
	pepperID string
	sealed   string
	original string
	argon    phcArgon // when !bcrypt
}

func parseKeyshield(encoded string) (keyshieldHash, error) {
	bad := errors.New("keyhash: not a keyshield hash string")
	var h keyshieldHash
	var rest string
	switch {
	case strings.HasPrefix(encoded, keyshieldArgon):
		rest = encoded[len(keyshieldArgon):]
	case strings.HasPrefix(encoded, keyshieldBcrypt):
		rest, h.bcrypt = encoded[len(keyshieldBcrypt):], true
	default:
		return h, bad
	}
	params, original, found := strings.Cut(rest, "$")
	if !found {
		return h, bad
	}
	for _, kv := range strings.Split(params, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "k":
			h.pepperID = v
		case "s":
			h.sealed = v
		case "e":
			if v != "hex" || !h.bcrypt {
				return h, bad
			}
			h.hexInput = true
		default:
			return h, bad
		}
	}
	if h.pepperID == "" || h.sealed == "" {
		return h, bad
	}
	h.original = "$" + original
	if h.bcrypt {
		if _, err := bcrypt.Cost([]byte(h.original)); err != nil || len(h.original) != bcryptHashLength {
			return h, bad
		}
		return h, nil
	}
	a, err := parsePHCArgon(h.original)
	if err != nil {
		return h, err
	}
	h.argon = a
	return h, nil
}

// verifyKeyshield checks secret against a parsed hash with keyshield's
// pepper.
func verifyKeyshield(h keyshieldHash, pepper []byte, secret string) bool {
	if h.bcrypt {
		return bcrypt.CompareHashAndPassword([]byte(h.original), keyshieldBcryptInput(pepper, secret, h.hexInput)) == nil
	}
	a := h.argon
	in := make([]byte, 0, len(secret)+len(pepper))
	in = append(append(in, secret...), pepper...)
	return subtle.ConstantTimeCompare(a.key(in, a.salt), a.sum) == 1
}

// keyshieldBcryptInput is what keyshield gives bcrypt: the HMAC-SHA256 of
// the secret keyed by the pepper, raw or in hexadecimal digits. (Its bcrypt
// library refuses input with a NUL byte, so no stored hash was made from
// such a raw digest; a presented secret whose digest has one cannot be the
// right one, and bcrypt here simply finds no match.)
func keyshieldBcryptInput(pepper []byte, secret string, hexInput bool) []byte {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte(secret))
	sum := m.Sum(nil)
	if hexInput {
		return []byte(hex.EncodeToString(sum))
	}
	return sum
}

// phcArgon is an Argon2 PHC string as argon2-cffi writes it:
// $argon2id$v=19$m=<KiB>,t=<iterations>,p=<lanes>$<salt>$<hash>, base64
// without padding.
type phcArgon struct {
	variant   string // "argon2id" or "argon2i"
	params    Argon2Params
	salt, sum []byte
}

// key derives the hash of in with salt, this string's variant and
// parameters, and its hash length.
func (a phcArgon) key(in, salt []byte) []byte {
	p := a.params
	if a.variant == "argon2i" {
		return argon2.Key(in, salt, p.Iterations, p.Memory, p.Parallelism, uint32(len(a.sum)))
	}
	return argon2.IDKey(in, salt, p.Iterations, p.Memory, p.Parallelism, uint32(len(a.sum)))
}

func parsePHCArgon(s string) (phcArgon, error) {
	bad := errors.New("keyhash: not an argon2id or argon2i PHC string")
	parts := strings.Split(s, "$")
	// "", variant, "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || (parts[1] != "argon2id" && parts[1] != "argon2i") || parts[2] != "v=19" {
		return phcArgon{}, bad
	}
	a := phcArgon{variant: parts[1]}
	seen := 0
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		if !setArgonParam(&a.params, k, v) {
			return phcArgon{}, bad
		}
		seen++
	}
	// Refuse parameters that would make verification a denial of service.
	p := a.params
	if seen != 3 || p.Iterations < 1 || p.Iterations > 64 || p.Parallelism < 1 || p.Memory < 8*uint32(p.Parallelism) || p.Memory > 1<<20 {
		return phcArgon{}, bad
	}
	var err1, err2 error
	a.salt, err1 = b64.DecodeString(parts[4])
	a.sum, err2 = b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(a.salt) < 8 || len(a.sum) < 4 {
		return phcArgon{}, bad
	}
	return a, nil
}
