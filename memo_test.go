package keyward

import (
	"strings"
	"testing"
)

// plainHasher is a stand-in Hasher for the memo's tests: it counts the
// comparisons it makes, which is all these tests look at.
type plainHasher struct{ verifies int }

func (h *plainHasher) Hash(secret string) (string, error) { return "plain$" + secret, nil }

func (h *plainHasher) Verify(secret, encoded string) (ok, rehash bool) {
	h.verifies++
	return encoded == "plain$"+secret, false
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
