package keyward

// Hasher turns secrets into self-describing hash strings and checks them.
// Implementations are in package keyhash; they must be safe for concurrent
// use and compare in constant time.
type Hasher interface {
	// Hash returns a hash string of secret that names its own scheme and
	// parameters, so that a Hasher configured later can still verify it.
	Hash(secret string) (string, error)
	// Verify reports whether secret matches encoded, and whether encoded
	// should be replaced by a fresh Hash (older scheme, parameters or
	// pepper). A hash it cannot read is a mismatch.
	Verify(secret, encoded string) (ok, rehash bool)
}
