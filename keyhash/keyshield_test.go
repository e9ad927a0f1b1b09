package keyhash_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/keyward/keyward/keyhash"
)

// Hashes made by keyshield: the Argon2 one by keyshield 2.0.0 itself, the
// bcrypt one by its published scheme (both from the import fixtures in
// cmd/keyward/testdata/import, which say how they were made).
const (
	ksArgonPepper = "keyshield-fixture-pepper-a-2f8c1d7e9b"
	ksArgonSecret = "SMBD6m4NHxG93wiHJOhaNh8gcct1UluXW5v66CMrHU7Az1fTZeTg8aboZOpTJ0ob"
	ksArgonHash   = "$argon2id$v=19$m=65536,t=3,p=4$jWvgrH5U9XR4V1LzIOtQ7w$eNiMc/hySOg7y4Sse51OGL+7g+Rp6vOsvr8WHcbXKbU"

	ksBcryptPepper = "keyshield-fixture-pepper-bcrypt-d73c2ead"
	ksBcryptSecret = "wVOrSeUP0M4QpjY2mMfzq6wBw2cFRYqSR9rGyzwbJlsmk7n4l3Rz0yAKEZvnq7yK"
	ksBcryptHash   = "$2b$12$e2l.gbHjs7jzEaILFqI5rOzQPvHEhX.VdcHF29RQGSoQRz3uuLU5a"
)

func TestKeyshieldVerifiesAsKeyshieldDoes(t *testing.T) {
	kw := pepper(t, "keyward")
	ks, err := keyhash.NewKeyshield(kw)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, pepper, secret, hash, scheme string }{
		{"argon2", ksArgonPepper, ksArgonSecret, ksArgonHash, "$keyshield-argon2$k=" + kw.ID + ",s="},
		{"bcrypt", ksBcryptPepper, ksBcryptSecret, ksBcryptHash, "$keyshield-bcrypt$k=" + kw.ID + ",s="},
	} {
		t.Run(c.name, func(t *testing.T) {
			imp, err := keyhash.NewKeyshieldImport([]byte(c.pepper), kw)
			if err != nil {
				t.Fatal(err)
			}
			if !keyhash.KeyshieldMatches(c.hash, []byte(c.pepper), c.secret) {
				t.Fatal("KeyshieldMatches: the right secret and pepper do not match the hash keyshield made")
			}
			if keyhash.KeyshieldMatches(c.hash, []byte(c.pepper+"x"), c.secret) {
				t.Fatal("KeyshieldMatches: a wrong pepper matches")
			}
			enc, err := imp.Wrap(c.hash)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(enc, c.scheme) || !strings.HasSuffix(enc, c.hash[1:]) {
				t.Errorf("wrapped hash %q: want %s...<sealed>$%s", enc, c.scheme, c.hash[1:])
			}
			if strings.Contains(enc, c.pepper) {
				t.Error("the wrapped hash holds keyshield's pepper in the clear")
			}
			if ok, rehash := ks.Verify(c.secret, enc); !ok || !rehash {
				t.Errorf("Verify(right secret) = %v, %v; want true, true (always upgraded)", ok, rehash)
			}
			if ok, _ := ks.Verify(c.secret[:63]+"x", enc); ok {
				t.Error("a wrong secret verifies")
			}
			// After a rotation of keyward's pepper the old one still opens it.
			rotated, _ := keyhash.NewKeyshield(pepper(t, "next"), kw)
			if ok, _ := rotated.Verify(c.secret, enc); !ok {
				t.Error("the hash no longer verifies once keyward's pepper is rotated")
			}
			other, _ := keyhash.NewKeyshield(pepper(t, "other"))
			if ok, _ := other.Verify(c.secret, enc); ok {
				t.Error("a deployment without the sealing pepper verifies the hash")
			}
			dummy, err := imp.Dummy(c.hash)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(dummy, c.scheme) || dummy == enc {
				t.Errorf("dummy %q: want another hash of scheme %s", dummy, c.scheme)
			}
			if ok, _ := ks.Verify(c.secret, dummy); ok {
				t.Error("the dummy hash matches a real key's secret")
			}
		})
	}
}

func TestKeyshieldInMulti(t *testing.T) {
	kw := pepper(t, "keyward")
	hm, _ := keyhash.NewHMAC(kw)
	ks, _ := keyhash.NewKeyshield(kw)
	m, err := keyhash.NewMulti(hm, ks)
	if err != nil {
		t.Fatal(err)
	}
	imp, _ := keyhash.NewKeyshieldImport([]byte(ksBcryptPepper), kw)
	enc, _ := imp.Wrap(ksBcryptHash)
	if ok, rehash := m.Verify(ksBcryptSecret, enc); !ok || !rehash {
		t.Fatalf("Multi.Verify = %v, %v; want true, true", ok, rehash)
	}
	if _, err := ks.Hash("x"); err == nil {
		t.Error("Keyshield.Hash made a hash")
	}
	if _, err := keyhash.NewMulti(ks); err != nil {
		t.Fatal(err) // allowed, but its Hash fails: keyward.New refuses it
	}
}

// bcryptOverHMAC makes a keyshield bcrypt hash (at bcrypt's lowest cost) of
// secret with pepper, over the HMAC digest raw or in hexadecimal digits.
func bcryptOverHMAC(t *testing.T, pepper, secret string, overHex bool) string {
	t.Helper()
	m := hmac.New(sha256.New, []byte(pepper))
	m.Write([]byte(secret))
	in := m.Sum(nil)
	if overHex {
		in = []byte(hex.EncodeToString(in))
	}
	h, err := bcrypt.GenerateFromPassword(in, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// TestKeyshieldBcryptOverHex: keyshield 2.0 gives bcrypt the HMAC of the
// secret, raw or (the change log does not say) in hexadecimal digits.
// KeyshieldMatch tells which from a key the operator holds, and an import
// told so verifies those hashes, not the others.
func TestKeyshieldBcryptOverHex(t *testing.T) {
	const p, secret = "the keyshield pepper", "wVOrSeUP0M4QpjY2mMfzq6wBw2cFRYqSR9rGyzwbJlsmk7n4l3Rz0yAKEZvnq7yK"
	kw := pepper(t, "keyward")
	ks, _ := keyhash.NewKeyshield(kw)
	for _, overHex := range []bool{false, true} {
		original := bcryptOverHMAC(t, p, secret, overHex)
		if ok, gotHex := keyhash.KeyshieldMatch(original, []byte(p), secret); !ok || gotHex != overHex {
			t.Errorf("over hex %v: KeyshieldMatch = %v, %v; want true, %v", overHex, ok, gotHex, overHex)
		}
		if ok, _ := keyhash.KeyshieldMatch(original, []byte(p+"x"), secret); ok {
			t.Errorf("over hex %v: a wrong pepper matches", overHex)
		}
		for _, told := range []bool{false, true} {
			imp, _ := keyhash.NewKeyshieldImport([]byte(p), kw)
			if told {
				imp.BcryptOverHex()
			}
			enc, err := imp.Wrap(original)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(enc, ",e=hex$") != told {
				t.Errorf("wrapped %.60s...: e=hex should be there only when told", enc)
			}
			if ok, _ := ks.Verify(secret, enc); ok != (told == overHex) {
				t.Errorf("hash over hex %v, import told %v: Verify = %v", overHex, told, ok)
			}
			dummy, err := imp.Dummy(original)
			if err != nil || strings.Contains(dummy, ",e=hex$") != told {
				t.Errorf("dummy %.60s..., %v: want e=hex only when told", dummy, err)
			}
		}
	}
}

func TestKeyshieldImportRefusesOtherHashes(t *testing.T) {
	imp, err := keyhash.NewKeyshieldImport([]byte("p"), pepper(t, "keyward"))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{
		"", "plain", "$hmac-sha256$p=x$abc", "$argon2d$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
		"$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ", "$argon2id$v=19$m=9999999,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
		"$2b$12$short",
	} {
		if w, err := imp.Wrap(h); err == nil {
			t.Errorf("Wrap(%q) = %q, want an error", h, w)
		}
	}
	if _, err := keyhash.NewKeyshieldImport(nil, pepper(t, "keyward")); err == nil {
		t.Error("an empty keyshield pepper was accepted")
	}
}

// BenchmarkKeyshieldVerifyArgon2 is the first verification of a key imported
// from keyshield with its default hasher (Argon2id, 64 MiB, t=3, p=4); later
// ones use keyward's hasher.
func BenchmarkKeyshieldVerifyArgon2(b *testing.B) {
	benchKeyshield(b, ksArgonPepper, ksArgonSecret, ksArgonHash)
}

// BenchmarkKeyshieldVerifyBcrypt is the same with keyshield's bcrypt hasher
// (12 rounds).
func BenchmarkKeyshieldVerifyBcrypt(b *testing.B) {
	benchKeyshield(b, ksBcryptPepper, ksBcryptSecret, ksBcryptHash)
}

func benchKeyshield(b *testing.B, p, secret, hash string) {
	kw := pepper(b, "keyward")
	ks, _ := keyhash.NewKeyshield(kw)
	imp, _ := keyhash.NewKeyshieldImport([]byte(p), kw)
	enc, err := imp.Wrap(hash)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _ := ks.Verify(secret, enc); !ok {
			b.Fatal("no match")
		}
	}
}
