package keyward

import (
	"bytes"
	"hash/crc32"
	"unsafe"
)

// keyTail is the length of a key after its prefix: '_', the id, '_', the
// secret and the checksum.
const keyTail = 1 + IDLength + 1 + secretAndSumSize

// MaxKeyLength is the length of the longest key string: a prefix of
// MaxPrefixLength characters. Whether a key ends at some byte depends only on
// that byte and the MaxKeyLength bytes before it, so a reader that looks for
// keys in a stream with [FindKeys] can carry the last MaxKeyLength bytes of
// one buffer over to the start of the next and take from that next buffer
// only the keys that end past them (and, unless the stream ends there,
// before its last byte).
const MaxKeyLength = maxTokenLength

// FindKeys calls fn, in order, with the bounds of every key string in b
// whose checksum is right: b[start:end] is the key. It is what keyward scan
// and secret scanners need: the checksum decides, so text that only looks
// like a key (the right shape, a wrong checksum) is never reported.
//
// A key ends at the end of b or before a character that is neither base62
// nor '_' (a key is exactly 46 characters after its id, so a longer run is
// not one). Its start is not so clear: a prefix may hold '_' (sk_live), and
// leaked keys are often glued to what comes before them ("API_KEY_sk_live_...",
// an escaped newline "\nkw_...", a URL-encoded "=" "%3Dkw_..."). So FindKeys
// tries each start that gives a well-formed prefix, the longest first, and the
// checksum decides: "foo_sk_live_..." is the key "foo_sk_live_..." if that
// checksum is right, else "sk_live_..." or "live_..." if one of theirs is.
// The chance that a wrong candidate passes the 32-bit checksum is about one
// in 2^32 for each of them, and reported keys never overlap. The ends of b
// count as boundaries: a caller that feeds a stream in pieces must drop keys
// that touch a cut (see [MaxKeyLength]).
//
// FindKeys does not allocate and does not keep b. Most bytes are skipped
// by a search for '_'; each '_' costs a look at the byte 17 places on.
func FindKeys(b []byte, fn func(start, end int)) { findKeys(b, fn, false) }

// FindGluedKeys is FindKeys for redaction: a key may also be followed by a
// base62 character or '_' ("kw_..._<secret><checksum>abc"), which FindKeys
// takes for a longer run that is not a key. Text that hides a key must not
// let it through because something was pasted after it; a report of keys
// (keyward scan) wants FindKeys, where the boundary keeps the finds exact.
func FindGluedKeys(b []byte, fn func(start, end int)) { findKeys(b, fn, true) }

func findKeys(b []byte, fn func(start, end int), glued bool) {
	i := 0
	for {
		j := bytes.IndexByte(b[i:], '_')
		if j < 0 {
			return
		}
		sep := i + j // the '_' before the id, if this is a key
		end := sep + keyTail
		if end > len(b) {
			return // no room for a key after this '_' or any later one
		}
		i = sep + 1
		if b[sep+1+IDLength] != '_' || !glued && end < len(b) && isWordByte(b[end]) || !keyShaped(b[sep:end]) {
			continue
		}
		if start, ok := keyStart(b, sep, end); ok {
			fn(start, end)
			i = end
		}
	}
}

// isWordByte reports whether c may be part of a key: base62 or '_'.
func isWordByte(c byte) bool { return c == '_' || base62Values[c] != 0xff }

// isPrefixByte reports whether c may follow the first character of a prefix.
func isPrefixByte(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' }

// keyShaped reports whether t (the '_' before the id to the end of the
// checksum) holds base62 id, secret and checksum characters; the caller has
// checked both '_'.
func keyShaped(t []byte) bool {
	var bad byte
	for _, c := range t[1 : 1+IDLength] {
		bad |= base62Values[c]
	}
	for _, c := range t[2+IDLength:] {
		bad |= base62Values[c]
	}
	return bad&0x80 == 0
}

// keyStart returns where the key that ends at end begins, given the '_' at
// sep before its id: the longest prefix before sep that gives a key that
// parses (checksum included). Rather than computing a CRC for each candidate
// prefix, it runs the CRC backwards once from the checksum (see
// checksum.go): through the bytes from sep on, then through the candidate
// prefix bytes one by one; where the register is back at its initial value,
// the bytes from there on have that checksum. Parse confirms the choice.
func keyStart(b []byte, sep, end int) (int, bool) {
	want := decodeChecksum(unsafe.String(&b[end-ChecksumLength], ChecksumLength))
	if want > 1<<32-1 {
		return 0, false // no CRC-32 has this value
	}
	t := crc32.IEEETable
	r := ^uint32(want) // the register after the last byte of the body
	start := -1
	for i := end - ChecksumLength - 1; i >= max(sep-MaxPrefixLength, 0); i-- {
		if i < sep && !isPrefixByte(b[i]) {
			break
		}
		j := crcByTop[r>>24] // undo the step of b[i]
		r = (r^t[j])<<8 | uint32(j^b[i])
		if i < sep && r == 0xffffffff && b[i] >= 'a' && b[i] <= 'z' {
			start = i // keep going: a longer prefix wins
		}
	}
	if start < 0 {
		return 0, false
	}
	_, err := Parse(unsafe.String(&b[start], end-start))
	return start, err == nil
}
