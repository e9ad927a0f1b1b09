package keyhash

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/keyward/keyward"
)

// Argon2Params are the Argon2id cost parameters.
type Argon2Params struct {
	// Memory in KiB.
	Memory uint32
	// Iterations (time cost).
	Iterations uint32
	// Parallelism (lanes).
	Parallelism uint8
}

// DefaultArgon2Params are OWASP's recommended minimum for Argon2id:
// 19 MiB of memory, 2 iterations, 1 lane.
var DefaultArgon2Params = Argon2Params{Memory: 19456, Iterations: 2, Parallelism: 1}

const (
	argonScheme  = "$argon2id$"
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Argon2id hashes secrets with Argon2id. Hash strings are
// "$argon2id$v=19$m=<KiB>,t=<iterations>,p=<lanes>[,k=<pepper id>]$<salt>$<hash>".
// It is safe for concurrent use.
type Argon2id struct {
	params Argon2Params
	optionalPeppers
}

var _ keyward.Hasher = (*Argon2id)(nil)

// NewArgon2id returns an Argon2id hasher with the given parameters (the zero
// value means DefaultArgon2Params). With peppers, the input is the
// HMAC-SHA256 of the secret under the current pepper.
func NewArgon2id(params Argon2Params, list ...Pepper) (*Argon2id, error) {
	if params == (Argon2Params{}) {
		params = DefaultArgon2Params
	}
	if params.Memory < 8*uint32(max(params.Parallelism, 1)) || params.Iterations < 1 || params.Parallelism < 1 {
		return nil, fmt.Errorf("keyhash: argon2id parameters out of range: %+v", params)
	}
	op, err := newOptionalPeppers(list)
	if err != nil {
		return nil, err
	}
	return &Argon2id{params: params, optionalPeppers: op}, nil
}

func (a *Argon2id) owns(encoded string) bool { return strings.HasPrefix(encoded, argonScheme) }

// Hash returns an Argon2id hash string with a fresh random salt.
func (a *Argon2id) Hash(secret string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	id := a.pepperID()
	in, _ := a.input(id, secret)
	p := a.params
	sum := argon2.IDKey(in, salt, p.Iterations, p.Memory, p.Parallelism, argonKeyLen)
	params := fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Iterations, p.Parallelism)
	if id != "-" {
		params += ",k=" + id
	}
	return fmt.Sprintf("%sv=%d$%s$%s$%s", argonScheme, argon2.Version, params, b64.EncodeToString(salt), b64.EncodeToString(sum)), nil
}

// Verify reports whether secret matches encoded, and whether encoded used
// other parameters or another pepper than this hasher's.
func (a *Argon2id) Verify(secret, encoded string) (ok, rehash bool) {
	h, err := parseArgon(encoded)
	if err != nil {
		return false, false
	}
	in, found := a.input(h.pepper, secret)
	if !found {
		return false, false
	}
	sum := argon2.IDKey(in, h.salt, h.params.Iterations, h.params.Memory, h.params.Parallelism, uint32(len(h.sum)))
	if subtle.ConstantTimeCompare(sum, h.sum) != 1 {
		return false, false
	}
	return true, h.params != a.params || h.pepper != a.pepperID()
}

// setArgonParam sets the parameter k ("m", "t" or "p") of a PHC argon2
// string to the decimal v; it reports false for another key, a value that is
// not a number, or a parallelism over 255.
func setArgonParam(p *Argon2Params, k, v string) bool {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return false
	}
	switch k {
	case "m":
		p.Memory = uint32(n)
	case "t":
		p.Iterations = uint32(n)
	case "p":
		if n > 255 {
			return false
		}
		p.Parallelism = uint8(n)
	default:
		return false
	}
	return true
}

type argonHash struct {
	params    Argon2Params
	pepper    string
	salt, sum []byte
}

func parseArgon(encoded string) (argonHash, error) {
	bad := errors.New("keyhash: not an argon2id hash string")
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..[,k=..]", salt, hash
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" {
		return argonHash{}, bad
	}
	h := argonHash{pepper: "-"}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		if k == "k" {
			h.pepper = v
			continue
		}
		if !setArgonParam(&h.params, k, v) {
			return argonHash{}, bad
		}
	}
	// Refuse parameters that would make verification a denial of service.
	if h.params.Iterations < 1 || h.params.Iterations > 64 || h.params.Parallelism < 1 ||
		h.params.Memory < 8 || h.params.Memory > 1<<20 {
		return argonHash{}, bad
	}
	var err1, err2 error
	h.salt, err1 = b64.DecodeString(parts[4])
	h.sum, err2 = b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(h.salt) < 8 || len(h.sum) < 16 {
		return argonHash{}, bad
	}
	return h, nil
}

const (
	bcryptScheme     = "$bcrypt-sha256$k="
	bcryptHashLength = 60
)

// Bcrypt hashes secrets with bcrypt over a hex SHA-256 (or, with a pepper,
// HMAC-SHA256) pre-hash, so bcrypt's 72-byte limit never truncates and no NUL
// byte ever reaches it. Hash strings are
// "$bcrypt-sha256$k=<pepper id or ->$<bcrypt hash>". It is safe for
// concurrent use.
type Bcrypt struct {
	cost int
	optionalPeppers
}

var _ keyward.Hasher = (*Bcrypt)(nil)

// DefaultBcryptCost is the bcrypt cost used when none is given.
const DefaultBcryptCost = 12

// NewBcrypt returns a bcrypt hasher with that cost (0 means
// DefaultBcryptCost), peppered when peppers are given.
func NewBcrypt(cost int, list ...Pepper) (*Bcrypt, error) {
	if cost == 0 {
		cost = DefaultBcryptCost
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("keyhash: bcrypt cost must be %d-%d, got %d", bcrypt.MinCost, bcrypt.MaxCost, cost)
	}
	op, err := newOptionalPeppers(list)
	if err != nil {
		return nil, err
	}
	return &Bcrypt{cost: cost, optionalPeppers: op}, nil
}

func (b *Bcrypt) owns(encoded string) bool { return strings.HasPrefix(encoded, bcryptScheme) }

// Hash returns a bcrypt hash string.
func (b *Bcrypt) Hash(secret string) (string, error) {
	id := b.pepperID()
	in, _ := b.input(id, secret)
	h, err := bcrypt.GenerateFromPassword(in, b.cost)
	if err != nil {
		return "", err
	}
	return bcryptScheme + id + "$" + string(h), nil
}

// Verify reports whether secret matches encoded, and whether encoded used
// another cost or pepper than this hasher's.
func (b *Bcrypt) Verify(secret, encoded string) (ok, rehash bool) {
	if !b.owns(encoded) {
		return false, false
	}
	id, hash, found := strings.Cut(encoded[len(bcryptScheme):], "$")
	if !found || len(hash) != bcryptHashLength { // bcrypt would ignore trailing bytes
		return false, false
	}
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil {
		return false, false
	}
	in, known := b.input(id, secret)
	if !known {
		return false, false
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), in) != nil {
		return false, false
	}
	return true, cost != b.cost || id != b.pepperID()
}

// optionalPeppers holds the peppers of a slow hasher, which may have none.
type optionalPeppers struct {
	ps *peppers // nil: no pepper
}

// newOptionalPeppers checks list; an empty list is no pepper.
func newOptionalPeppers(list []Pepper) (optionalPeppers, error) {
	if len(list) == 0 {
		return optionalPeppers{}, nil
	}
	ps, err := newPeppers(list)
	if err != nil {
		return optionalPeppers{}, err
	}
	return optionalPeppers{ps: &ps}, nil
}

// pepperID is the id of the current pepper, "-" without one.
func (o optionalPeppers) pepperID() string {
	if o.ps == nil {
		return "-"
	}
	return o.ps.current.ID
}

// input is what is hashed for secret under the pepper pepperID; false if
// that pepper is unknown.
func (o optionalPeppers) input(pepperID, secret string) ([]byte, bool) {
	ps := peppers{}
	if o.ps != nil {
		ps = *o.ps
	}
	return ps.preHash(pepperID, secret)
}
