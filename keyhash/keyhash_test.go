package keyhash_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
)

func pepper(tb testing.TB, s string) keyhash.Pepper {
	tb.Helper()
	p, err := keyhash.NewPepper([]byte(s + strings.Repeat("!", 32)))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

const secret = "98Y3E361CZTH4neA7mzSyEf5lCZQOmW6DREvYHXr"

type hasherCase struct {
	name    string
	h       keyward.Hasher
	pattern string
}

func hashers(t *testing.T) []hasherCase {
	a, b := pepper(t, "a"), pepper(t, "b")
	hm, err := keyhash.NewHMAC(a, b)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := keyhash.NewArgon2id(keyhash.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1}, a)
	if err != nil {
		t.Fatal(err)
	}
	arNoPepper, _ := keyhash.NewArgon2id(keyhash.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1})
	bc, err := keyhash.NewBcrypt(4, a)
	if err != nil {
		t.Fatal(err)
	}
	bcNoPepper, _ := keyhash.NewBcrypt(4)
	return []hasherCase{
		{"hmac", hm, `^\$hmac-sha256\$p=` + regexp.QuoteMeta(a.ID) + `\$[A-Za-z0-9+/]{43}$`},
		{"argon2id", ar, `^\$argon2id\$v=19\$m=64,t=1,p=1,k=` + regexp.QuoteMeta(a.ID) + `\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$`},
		{"argon2id without pepper", arNoPepper, `^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$`},
		{"bcrypt", bc, `^\$bcrypt-sha256\$k=` + regexp.QuoteMeta(a.ID) + `\$\$2a\$04\$.{53}$`},
		{"bcrypt without pepper", bcNoPepper, `^\$bcrypt-sha256\$k=-\$\$2a\$04\$.{53}$`},
	}
}

func TestHashAndVerify(t *testing.T) {
	for _, tc := range hashers(t) {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := tc.h.Hash(secret)
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(tc.pattern).MatchString(enc) {
				t.Errorf("hash %q does not match %s", enc, tc.pattern)
			}
			if strings.Contains(enc, secret) {
				t.Fatal("the hash string contains the secret")
			}
			if ok, rehash := tc.h.Verify(secret, enc); !ok || rehash {
				t.Errorf("Verify(right secret) = %v, %v; want true, false", ok, rehash)
			}
			wrong := secret[:39] + "x"
			if ok, _ := tc.h.Verify(wrong, enc); ok {
				t.Error("Verify(wrong secret) = true")
			}
			for _, garbage := range []string{"", "$", enc[:len(enc)-3], enc + "x", strings.Replace(enc, "$", "#", 1)} {
				if ok, _ := tc.h.Verify(secret, garbage); ok {
					t.Errorf("Verify accepted a damaged hash %q", garbage)
				}
			}
		})
	}
}

func TestHMACPepperRotation(t *testing.T) {
	a, b := pepper(t, "a"), pepper(t, "b")
	old, _ := keyhash.NewHMAC(a)
	enc, _ := old.Hash(secret)
	rotated, _ := keyhash.NewHMAC(b, a)
	if ok, rehash := rotated.Verify(secret, enc); !ok || !rehash {
		t.Errorf("hash of the old pepper: ok %v rehash %v; want true, true", ok, rehash)
	}
	onlyNew, _ := keyhash.NewHMAC(b)
	if ok, _ := onlyNew.Verify(secret, enc); ok {
		t.Error("a hash of an unknown pepper verified")
	}
	// Different peppers give different hashes of the same secret.
	encB, _ := onlyNew.Hash(secret)
	if strings.Split(enc, "$")[3] == strings.Split(encB, "$")[3] {
		t.Error("two peppers gave the same MAC")
	}
}

func TestMultiVerifiesEverySchemeAndAsksForRehash(t *testing.T) {
	a := pepper(t, "a")
	hm, _ := keyhash.NewHMAC(a)
	ar, _ := keyhash.NewArgon2id(keyhash.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1}, a)
	bc, _ := keyhash.NewBcrypt(4)
	multi, err := keyhash.NewMulti(hm, ar, bc)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []keyward.Hasher{hm, ar, bc} {
		enc, _ := h.Hash(secret)
		ok, rehash := multi.Verify(secret, enc)
		wantRehash := h != keyward.Hasher(hm)
		if !ok || rehash != wantRehash {
			t.Errorf("%T hash: ok %v rehash %v; want true, %v", h, ok, rehash, wantRehash)
		}
	}
	// Stronger argon2 parameters than a stored hash's ask for a rehash.
	stronger, _ := keyhash.NewArgon2id(keyhash.Argon2Params{Memory: 128, Iterations: 1, Parallelism: 1}, a)
	enc, _ := ar.Hash(secret)
	if ok, rehash := stronger.Verify(secret, enc); !ok || !rehash {
		t.Errorf("weaker argon2 parameters: ok %v rehash %v; want true, true", ok, rehash)
	}
	costlier, _ := keyhash.NewBcrypt(5)
	enc, _ = bc.Hash(secret)
	if ok, rehash := costlier.Verify(secret, enc); !ok || !rehash {
		t.Errorf("lower bcrypt cost: ok %v rehash %v; want true, true", ok, rehash)
	}
}

func TestArgonRefusesAbusiveParameters(t *testing.T) {
	ar, _ := keyhash.NewArgon2id(keyhash.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1})
	// A hash string planted in the database must not make us spend 64 GiB.
	huge := "$argon2id$v=19$m=67108864,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA"
	if ok, _ := ar.Verify(secret, huge); ok {
		t.Error("verified against absurd parameters")
	}
}

func TestPeppers(t *testing.T) {
	if _, err := keyhash.NewPepper([]byte("short")); err == nil {
		t.Error("a 5-byte pepper was accepted")
	}
	ps, err := keyhash.ParsePeppers(" " + strings.Repeat("a", 32) + " ,\n" + strings.Repeat("b", 40) + "\n")
	if err != nil || len(ps) != 2 {
		t.Fatalf("ParsePeppers = %v, %v", ps, err)
	}
	if ps[0].ID == ps[1].ID || strings.Contains(ps[0].ID, "a") && len(ps[0].ID) > 8 {
		t.Errorf("pepper ids %q %q", ps[0].ID, ps[1].ID)
	}
	if _, err := keyhash.ParsePeppers(" , "); err == nil {
		t.Error("an empty pepper list was accepted")
	}
	short := "a-pepper-too-short"
	if _, err := keyhash.ParsePeppers(strings.Repeat("a", 32) + "," + short); err == nil || strings.Contains(err.Error(), short) {
		t.Errorf("ParsePeppers with a short pepper: %v; want an error that does not echo it", err)
	}
}

// TestPepperID reads the pepper id out of the hash strings of every scheme,
// peppered or not, and refuses strings of other schemes.
func TestPepperID(t *testing.T) {
	a := pepper(t, "a")
	params := keyhash.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1}
	hm, _ := keyhash.NewHMAC(a)
	ar, _ := keyhash.NewArgon2id(params, a)
	arBare, _ := keyhash.NewArgon2id(params)
	bc, _ := keyhash.NewBcrypt(4, a)
	bcBare, _ := keyhash.NewBcrypt(4)
	for _, c := range []struct {
		name string
		h    keyward.Hasher
		want string
	}{
		{"hmac", hm, a.ID}, {"argon2id", ar, a.ID}, {"argon2id without pepper", arBare, "-"},
		{"bcrypt", bc, a.ID}, {"bcrypt without pepper", bcBare, "-"},
	} {
		t.Run(c.name, func(t *testing.T) {
			encoded, err := c.h.Hash(secret)
			if err != nil {
				t.Fatal(err)
			}
			if id, ok := keyhash.PepperID(encoded); !ok || id != c.want {
				t.Errorf("PepperID(%s) = %q, %v; want %q, true", encoded, id, ok, c.want)
			}
		})
	}
	for _, s := range []string{"", "plain", "$hmac-sha256$p=", "$bcrypt-sha256$k=$x", "$argon2id$v=19$broken", "$2b$12$abcdefghijklmnopqrstuv"} {
		if id, ok := keyhash.PepperID(s); ok {
			t.Errorf("PepperID(%q) = %q, true; want false", s, id)
		}
	}
}

func TestHMACVerifyAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items on purpose, so allocations are not counted under -race: make test runs this test again without it")
	}
	h, _ := keyhash.NewHMAC(pepper(t, "a"))
	enc, _ := h.Hash(secret)
	if n := testing.AllocsPerRun(1000, func() { h.Verify(secret, enc) }); n != 0 {
		t.Errorf("HMAC Verify allocates %v times", n)
	}
}

func BenchmarkHMACVerify(b *testing.B) {
	h, _ := keyhash.NewHMAC(pepper(b, "a"))
	enc, _ := h.Hash(secret)
	b.ReportAllocs()
	for b.Loop() {
		h.Verify(secret, enc)
	}
}

func BenchmarkArgon2idDefaultVerify(b *testing.B) {
	h, _ := keyhash.NewArgon2id(keyhash.Argon2Params{}, pepper(b, "a"))
	enc, _ := h.Hash(secret)
	b.ReportAllocs()
	for b.Loop() {
		h.Verify(secret, enc)
	}
}

func BenchmarkBcryptDefaultVerify(b *testing.B) {
	h, _ := keyhash.NewBcrypt(0)
	enc, _ := h.Hash(secret)
	b.ReportAllocs()
	for b.Loop() {
		h.Verify(secret, enc)
	}
}
