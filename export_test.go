package keyward

import "bytes"

// TokenFromRandom builds a token from the given bytes instead of crypto/rand,
// for fuzzing the generator.
func TokenFromRandom(prefix string, random []byte) (Token, error) {
	return newToken(bytes.NewReader(random), prefix)
}
