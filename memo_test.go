package keyward

import (
	"strings"
	"testing"
)

// plainHasher is a stand-in Hasher for the memo's tests: it counts the
// comparisons it makes, which is all these tests look at, and asks for a
// rehash when told to.
type plainHasher struct {
	verifies int
	rehash   bool
}

func (h *plainHasher) Hash(secret string) (string, error) { return "plain$" + secret, nil }

func (h *plainHasher) Verify(secret, encoded string) (ok, rehash bool) {
	h.verifies++
	ok = encoded == "plain$"+secret
	return ok, ok && h.rehash
}

func TestVerifyMemo(t *testing.T) {
	a, b := strings.Repeat("a", SecretLength), strings.Repeat("b", SecretLength)
	h := &plainHasher{}
	s := &Service{hasher: h}
	check := func(k *Key, secret string, wantOK bool, wantVerifies int) {
		t.Helper()
		if ok, _ := s.checkSecret(k, secret); ok != wantOK {
			t.Errorf("checkSecret(%.1s...) = %v, want %v", secret, ok, wantOK)
		}
		if h.verifies != wantVerifies {
			t.Errorf("the hasher ran %d times, want %d", h.verifies, wantVerifies)
		}
	}

	hashA, _ := h.Hash(a)
	k := &Key{Hash: hashA}
	k.EnableVerifyMemo()
	check(k, a, true, 1)  // first success: the hasher decides
	check(k, a, true, 1)  // remembered
	check(k, b, false, 2) // a wrong secret always goes to the hasher
	check(k, a, true, 2)  // still remembered

	// A copy with another hash (what a rotation or a rehash produces) shares
	// the memo's pointer but not its answer.
	other := *k
	other.Hash, _ = h.Hash(b)
	check(&other, a, false, 3)
	check(&other, b, true, 4)

	if k.Clone().memo != nil {
		t.Error("Clone copied the memo")
	}

	// Without EnableVerifyMemo every check runs the hasher.
	plain := &Key{Hash: hashA}
	check(plain, a, true, 5)
	check(plain, a, true, 6)
}

// TestVerifyMemoKeepsRehash: a hash the hasher wants redone is still
// reported as such when the memo answers, so a failed rehash is retried.
func TestVerifyMemoKeepsRehash(t *testing.T) {
	a := strings.Repeat("a", SecretLength)
	h := &plainHasher{rehash: true}
	s := &Service{hasher: h}
	hash, _ := h.Hash(a)
	k := &Key{Hash: hash}
	k.EnableVerifyMemo()
	for i := range 3 {
		if ok, rehash := s.checkSecret(k, a); !ok || !rehash {
			t.Fatalf("check %d: ok %v, rehash %v; want true, true", i, ok, rehash)
		}
	}
	if h.verifies != 1 {
		t.Errorf("the hasher ran %d times, want 1", h.verifies)
	}
}

// TestVerifyMemoIsPerService: a key instance shared by two Services (one
// caching Store behind both) answers from the memo only the Service whose
// hasher accepted the secret.
func TestVerifyMemoIsPerService(t *testing.T) {
	a := strings.Repeat("a", SecretLength)
	h1, h2 := &plainHasher{}, &plainHasher{}
	s1, s2 := &Service{hasher: h1}, &Service{hasher: h2}
	hash, _ := h1.Hash(a)
	k := &Key{Hash: hash}
	k.EnableVerifyMemo()
	s1.checkSecret(k, a)
	s1.checkSecret(k, a)
	s2.checkSecret(k, a)
	if h1.verifies != 1 || h2.verifies != 1 {
		t.Errorf("hasher runs: first Service %d, second %d; want 1 and 1", h1.verifies, h2.verifies)
	}
}
