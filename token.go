package keyward

import (
	"crypto/rand"
	"hash/crc32"
	"io"
	"unsafe"
)

// Lengths of the parts of a key string; see the package documentation, "Key format".
const (
	IDLength         = 16
	SecretLength     = 40
	ChecksumLength   = 6
	MaxPrefixLength  = 20
	DefaultPrefix    = "kw"
	minTokenLength   = 1 + 1 + IDLength + 1 + SecretLength + ChecksumLength
	maxTokenLength   = MaxPrefixLength + 1 + IDLength + 1 + SecretLength + ChecksumLength
	base62Alphabet   = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	secretAndSumSize = SecretLength + ChecksumLength
)

// Token is a key string taken apart: the prefix, the public id and the secret.
// Its String method puts it back together with the checksum. The zero value is
// not a valid token; use [NewToken] or [Parse].
type Token struct {
	Prefix string
	ID     string
	Secret string
}

// NewToken returns a token with the given prefix and a fresh id and secret
// drawn from crypto/rand. An empty prefix means [DefaultPrefix].
func NewToken(prefix string) (Token, error) {
	return newToken(rand.Reader, prefix)
}

// newToken draws id and secret from r; tests and fuzzing pass their own reader.
func newToken(r io.Reader, prefix string) (Token, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if err := ValidatePrefix(prefix); err != nil {
		return Token{}, err
	}
	var buf [IDLength + SecretLength]byte
	if err := randomBase62(r, buf[:]); err != nil {
		return Token{}, err
	}
	// Two strings, not slices of one: a key's id is kept (in stores, caches,
	// logs) long after the secret must be gone, and would keep its bytes.
	return Token{Prefix: prefix, ID: string(buf[:IDLength]), Secret: string(buf[IDLength:])}, nil
}

// NewID returns a fresh random key id.
func NewID() (string, error) {
	var buf [IDLength]byte
	if err := randomBase62(rand.Reader, buf[:]); err != nil {
		return "", err
	}
	return string(buf[:]), nil
}

// randomBase62 fills dst with uniformly distributed base62 characters. Each
// random byte gives 6 bits; values 62 and 63 are thrown away (rejection
// sampling), so no character is more likely than another.
func randomBase62(r io.Reader, dst []byte) error {
	var pool [64]byte
	n := 0
	for n < len(dst) {
		if _, err := io.ReadFull(r, pool[:]); err != nil {
			return &randomError{err}
		}
		for _, b := range pool {
			v := b >> 2
			if v >= 62 {
				continue
			}
			dst[n] = base62Alphabet[v]
			n++
			if n == len(dst) {
				break
			}
		}
	}
	return nil
}

type randomError struct{ err error }

func (e *randomError) Error() string { return "keyward: reading random bytes: " + e.err.Error() }
func (e *randomError) Unwrap() error { return e.err }

// String returns the full key string, checksum included.
func (t Token) String() string {
	n := len(t.Prefix) + 1 + len(t.ID) + 1 + len(t.Secret)
	b := make([]byte, 0, n+ChecksumLength)
	b = append(b, t.Prefix...)
	b = append(b, '_')
	b = append(b, t.ID...)
	b = append(b, '_')
	b = append(b, t.Secret...)
	b = appendChecksum(b, crc32.ChecksumIEEE(b))
	return string(b)
}

// appendChecksum appends sum in base62, most significant digit first,
// left-padded with '0' to ChecksumLength characters.
func appendChecksum(b []byte, sum uint32) []byte {
	var d [ChecksumLength]byte
	v := sum
	for i := ChecksumLength - 1; i >= 0; i-- {
		d[i] = base62Alphabet[v%62]
		v /= 62
	}
	return append(b, d[:]...)
}

// ParseError says why a string is not a well-formed key. It matches
// [ErrMalformed] with errors.Is.
type ParseError struct {
	Reason string
}

func (e *ParseError) Error() string { return "keyward: malformed key: " + e.Reason }

// Is reports whether target is ErrMalformed.
func (e *ParseError) Is(target error) bool { return target == ErrMalformed }

// ChecksumOnly reports whether the string had the layout and characters of
// a key and only its checksum was wrong: a mistyped native key, not a key
// of another system's format (see [LegacyFormat]).
func (e *ParseError) ChecksumOnly() bool { return e == errChecksum }

// The parse errors are fixed values so that rejecting garbage allocates nothing.
var (
	errLength   = &ParseError{Reason: "wrong length"}
	errLayout   = &ParseError{Reason: "expected <prefix>_<id>_<secret><checksum>"}
	errPrefix   = &ParseError{Reason: "prefix must match [a-z][a-z0-9_]{0,19}"}
	errCharset  = &ParseError{Reason: "id and secret must be base62"}
	errChecksum = &ParseError{Reason: "checksum mismatch"}
)

// Parse takes a key string apart, from the right: the last 46 characters are
// the secret and the checksum, the 16 before the last '_' are the id, and
// everything before the '_' that precedes the id is the prefix. It checks the
// character sets and the checksum and returns a *[ParseError] (matching
// [ErrMalformed]) for anything else. The returned fields share memory with s;
// Parse does not allocate.
func Parse(s string) (Token, error) {
	n := len(s)
	if n < minTokenLength || n > maxTokenLength {
		return Token{}, errLength
	}
	sep2 := n - secretAndSumSize - 1
	sep1 := sep2 - IDLength - 1
	if s[sep2] != '_' || s[sep1] != '_' {
		return Token{}, errLayout
	}
	prefix, id, rest := s[:sep1], s[sep1+1:sep2], s[sep2+1:]
	if !validPrefix(prefix) {
		return Token{}, errPrefix
	}
	if !isBase62(id) || !isBase62(rest) {
		return Token{}, errCharset
	}
	if decodeChecksum(s[n-ChecksumLength:]) != uint64(tokenChecksum(s, n-ChecksumLength)) {
		return Token{}, errChecksum
	}
	return Token{Prefix: prefix, ID: id, Secret: rest[:SecretLength]}, nil
}

// stringBytes views s as bytes without copying, for functions that only read
// their input: crc32 dispatches through a function value, so a copy would
// escape to the heap on every call.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// ValidatePrefix returns an error unless p matches [a-z][a-z0-9_]{0,19}.
func ValidatePrefix(p string) error {
	if !validPrefix(p) {
		return invalid("prefix", "must match [a-z][a-z0-9_]{0,19}")
	}
	return nil
}

func validPrefix(p string) bool {
	if len(p) == 0 || len(p) > MaxPrefixLength || p[0] < 'a' || p[0] > 'z' {
		return false
	}
	for i := 1; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ValidID reports whether s has the form of a key id: 16 base62 characters.
func ValidID(s string) bool { return len(s) == IDLength && isBase62(s) }

// base62Values maps each byte of the base62 alphabet to its value and every
// other byte to 0xff: one read-only table serves the character check and the
// checksum decoding on the verification path.
var base62Values = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(base62Alphabet); i++ {
		t[base62Alphabet[i]] = byte(i)
	}
	return t
}()

// isBase62 reports whether every byte of s is in the base62 alphabet. It
// looks at all of them, without a branch per byte.
func isBase62(s string) bool {
	var bad byte
	for i := 0; i < len(s); i++ {
		bad |= base62Values[s[i]]
	}
	return bad&0x80 == 0
}

// decodeChecksum returns the value of ChecksumLength base62 digits, most
// significant first; every byte of d must be base62.
func decodeChecksum(d string) uint64 {
	var v uint64
	for i := 0; i < ChecksumLength; i++ {
		v = v*62 + uint64(base62Values[d[i]])
	}
	return v
}
