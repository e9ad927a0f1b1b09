package httpauth

import (
	"unsafe"

	"github.com/keyward/keyward"
)

// Redacted replaces the secret and checksum of a key that [RedactKeys] cuts.
const Redacted = "[redacted]"

// minKeyLength is the length of the shortest key string: a one-letter prefix.
const minKeyLength = 1 + 1 + keyward.IDLength + 1 + keyward.SecretLength + keyward.ChecksumLength

// RedactKeys returns s with the secret and checksum of every keyward key in
// it replaced by [Redacted]: "kw_32pl2YI89o7WJi3Z_[redacted]". The prefix
// and id stay, since they are public and say which key leaked. A key is
// found by [keyward.FindKeys]: its checksum decides, so text that only looks
// like a key is left alone; a key glued to what follows it is redacted too
// ([keyward.FindGluedKeys]). Use it on whatever reaches a log from a request
// (a path, a query, a header), where a careless client may have put a key:
// nothing in key format is then ever logged.
//
// It allocates only when s holds a key, and returns s itself otherwise.
func RedactKeys(s string) string {
	if len(s) < minKeyLength {
		return s
	}
	var out []byte
	last := 0
	keyward.FindGluedKeys(unsafe.Slice(unsafe.StringData(s), len(s)), func(start, end int) {
		if out == nil {
			out = make([]byte, 0, len(s))
		}
		cut := end - keyward.SecretLength - keyward.ChecksumLength
		out = append(out, s[last:cut]...)
		out = append(out, Redacted...)
		last = end
	})
	if out == nil {
		return s
	}
	return string(append(out, s[last:]...))
}
