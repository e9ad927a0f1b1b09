package keyward_test

import (
	"bytes"
	"errors"
	"hash/crc32"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"unsafe"

	"github.com/keyward/keyward"
)

var keyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,19}_[0-9A-Za-z]{16}_[0-9A-Za-z]{46}$`)

// checksum computes the contract's checksum independently of the package:
// CRC32 (IEEE) as an unsigned integer in base62, most significant digit
// first, left-padded with '0' to 6 characters.
func checksum(body string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	n := new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(body))))
	var out []byte
	sixtyTwo := big.NewInt(62)
	for n.Sign() > 0 {
		var m big.Int
		n.DivMod(n, sixtyTwo, &m)
		out = append([]byte{alphabet[m.Int64()]}, out...)
	}
	return strings.Repeat("0", 6-len(out)) + string(out)
}

func TestNewTokenFormat(t *testing.T) {
	for _, prefix := range []string{"", "kw", "sk_live", "a", "abcdefghij0123456789"} {
		tok, err := keyward.NewToken(prefix)
		if err != nil {
			t.Fatalf("NewToken(%q): %v", prefix, err)
		}
		s := tok.String()
		if !keyPattern.MatchString(s) {
			t.Errorf("key %q does not match %s", s, keyPattern)
		}
		want := prefix
		if want == "" {
			want = keyward.DefaultPrefix
		}
		if !strings.HasPrefix(s, want+"_") {
			t.Errorf("key %q does not start with %q", s, want+"_")
		}
		body, sum := s[:len(s)-6], s[len(s)-6:]
		if got := checksum(body); got != sum {
			t.Errorf("checksum of %q = %q, want %q", body, sum, got)
		}
		if len(tok.ID) != keyward.IDLength || len(tok.Secret) != keyward.SecretLength {
			t.Errorf("id %q secret length %d", tok.ID, len(tok.Secret))
		}
	}
}

// TestNewTokenIDHoldsNoSecret: a key's id is kept in stores, caches and
// logs long after its secret must be gone; were the two slices of one
// string, the id would keep the secret's bytes in memory with it.
func TestNewTokenIDHoldsNoSecret(t *testing.T) {
	for range 100 {
		tok, err := keyward.NewToken("kw")
		if err != nil {
			t.Fatal(err)
		}
		id, secret := uintptr(unsafe.Pointer(unsafe.StringData(tok.ID))), uintptr(unsafe.Pointer(unsafe.StringData(tok.Secret)))
		if id+uintptr(len(tok.ID)) == secret || secret+uintptr(len(tok.Secret)) == id {
			t.Fatalf("the id and the secret of %s are one piece of memory", tok.ID)
		}
	}
}

func TestNewTokenRejectsBadPrefix(t *testing.T) {
	for _, p := range []string{"Kw", "1kw", "kw-live", "abcdefghij0123456789x", "_kw", "kw live"} {
		if _, err := keyward.NewToken(p); !errors.Is(err, keyward.ErrInvalid) {
			t.Errorf("NewToken(%q) err = %v, want ErrInvalid", p, err)
		}
	}
}

// TestNewTokenUniform draws many secrets and checks that every base62
// character shows up about equally often: a modulo bias (256 % 62 = 8) would
// make the first 8 characters about 25% more frequent.
func TestNewTokenUniform(t *testing.T) {
	const draws = 2500
	var counts [128]int
	total := 0
	for range draws {
		tok, err := keyward.NewToken("kw")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []byte(tok.ID + tok.Secret) {
			counts[c]++
			total++
		}
	}
	expected := float64(total) / 62
	lo, hi := 0.0, 0.0
	for _, c := range "01234567" {
		lo += float64(counts[c])
	}
	for _, c := range "stuvwxyz" {
		hi += float64(counts[c])
	}
	// With 140,000 characters, each count is expected ~2258 with sd ~47; 8
	// characters together ~18,065 with sd ~133. A 25% bias would add ~4,500.
	if ratio := lo / hi; ratio > 1.05 || ratio < 0.95 {
		t.Errorf("first 8 vs last 8 characters drawn %v vs %v times (ratio %.3f): biased", lo, hi, ratio)
	}
	for i := range counts {
		c := counts[i]
		if c == 0 {
			continue
		}
		if float64(c) < expected*0.85 || float64(c) > expected*1.15 {
			t.Errorf("character %q drawn %d times, expected about %.0f", rune(i), c, expected)
		}
	}
}

func TestParse(t *testing.T) {
	tok, err := keyward.NewToken("sk_live")
	if err != nil {
		t.Fatal(err)
	}
	good := tok.String()
	got, err := keyward.Parse(good)
	if err != nil || got != tok {
		t.Fatalf("Parse(%q) = %+v, %v; want %+v", good, got, err, tok)
	}
	// The design document's example key.
	doc := "kw_32pl2YI89o7WJi3Z_98Y3E361CZTH4neA7mzSyEf5lCZQOmW6DREvYHXr3fH4MW"
	if c := checksum(doc[:len(doc)-6]); c == doc[len(doc)-6:] {
		if _, err := keyward.Parse(doc); err != nil {
			t.Errorf("Parse(design example) = %v", err)
		}
	}

	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	bad := map[string]string{
		"empty":              "",
		"short":              good[:len(good)-1],
		"long":               "a" + strings.Repeat("b", 20) + good[len("sk_live"):],
		"no separators":      strings.ReplaceAll(good, "_", "x"),
		"id separator moved": good[:len("sk_live")] + "x" + good[len("sk_live")+1:],
		"upper prefix":       "SK_live" + good[len("sk_live"):],
		"digit first":        "1k_live" + good[len("sk_live"):],
		"dash in secret":     good[:len(good)-20] + "-" + good[len(good)-19:],
		"changed checksum":   flip(good, len(good)-1),
		"changed secret":     flip(good, len(good)-10),
		"changed id":         flip(good, len("sk_live")+3),
		"changed prefix":     "sk_lave" + good[len("sk_live"):],
		"space":              " " + good[1:],
		"newline at end":     good[:len(good)-1] + "\n",
		"unicode":            "ü" + good[2:],
	}
	for name, s := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := keyward.Parse(s)
			var pe *keyward.ParseError
			if !errors.Is(err, keyward.ErrMalformed) || !errors.As(err, &pe) {
				t.Errorf("Parse(%q) err = %v, want a *ParseError matching ErrMalformed", s, err)
			}
		})
	}
}

// TestParseEveryCharacterMatters changes each character of a key in turn:
// every change must be caught (by the layout rules or the checksum).
func TestParseEveryCharacterMatters(t *testing.T) {
	tok, _ := keyward.NewToken("kw")
	s := tok.String()
	for i := range len(s) {
		for _, c := range []byte("0aZ_") {
			if s[i] == c {
				continue
			}
			b := []byte(s)
			b[i] = c
			if got, err := keyward.Parse(string(b)); err == nil {
				t.Errorf("changing position %d to %q still parses: %+v", i, c, got)
			}
		}
	}
}

func TestParseAllocatesNothing(t *testing.T) {
	tok, _ := keyward.NewToken("kw")
	good, bad := tok.String(), tok.String()[:60]+"zzzzzz"
	if n := testing.AllocsPerRun(100, func() { keyward.Parse(good) }); n != 0 {
		t.Errorf("Parse(valid) allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { keyward.Parse(bad) }); n != 0 {
		t.Errorf("Parse(malformed) allocates %v times", n)
	}
}

// FuzzParse feeds arbitrary strings: Parse must never panic, and whatever it
// accepts must format back to the same string.
func FuzzParse(f *testing.F) {
	tok, _ := keyward.NewToken("sk_live")
	for _, s := range []string{tok.String(), "", "kw__", "kw_" + strings.Repeat("A", 63), strings.Repeat("_", 84)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := keyward.Parse(s)
		if err != nil {
			if !errors.Is(err, keyward.ErrMalformed) {
				t.Fatalf("Parse(%q) err = %v, not ErrMalformed", s, err)
			}
			return
		}
		if got.String() != s {
			t.Fatalf("Parse(%q) = %+v, which formats as %q", s, got, got.String())
		}
	})
}

// FuzzRoundTrip builds tokens from fuzzed prefixes and random bytes:
// Parse(k.String()) == k for every key that can be generated.
func FuzzRoundTrip(f *testing.F) {
	f.Add("kw", []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))
	f.Add("sk_live_2", bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, prefix string, random []byte) {
		tok, err := keyward.TokenFromRandom(prefix, random)
		if err != nil {
			return // bad prefix or not enough random bytes
		}
		s := tok.String()
		if !keyPattern.MatchString(s) {
			t.Fatalf("generated %q does not match the key pattern", s)
		}
		got, err := keyward.Parse(s)
		if err != nil || got != tok {
			t.Fatalf("Parse(String(%+v)) = %+v, %v", tok, got, err)
		}
	})
}
