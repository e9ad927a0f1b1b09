package keyward

import (
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestTokenChecksum compares tokenChecksum with crc32.ChecksumIEEE for every
// body length up to a string of twice the longest key, on random bytes.
func TestTokenChecksum(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 2*maxTokenLength; n++ {
		for range 50 {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			s := string(b)
			for body := 0; body <= n; body++ {
				if got, want := tokenChecksum(s, body), crc32.ChecksumIEEE(b[:body]); got != want {
					t.Fatalf("string of %d, body %d: %#08x, want %#08x", n, body, got, want)
				}
			}
		}
	}
}

func FuzzTokenChecksum(f *testing.F) {
	f.Add("kw_0123456789ABCDEF_"+strings.Repeat("x", SecretLength)+"abcdef", 60)
	f.Fuzz(func(t *testing.T, s string, body int) {
		if body < 0 || body > len(s) {
			return
		}
		if got, want := tokenChecksum(s, body), crc32.ChecksumIEEE([]byte(s[:body])); got != want {
			t.Fatalf("string of %d, body %d: %#08x, want %#08x", len(s), body, got, want)
		}
	})
}

// BenchmarkTokenChecksum: the checksum of a key with the default prefix,
// by tables (crc32.ChecksumIEEE of the body) and by tokenChecksum.
func BenchmarkTokenChecksum(b *testing.B) {
	s := "kw_0123456789ABCDEF_" + strings.Repeat("x", SecretLength) + "abcdef"
	body := len(s) - ChecksumLength
	b.Run("tables", func(b *testing.B) {
		for b.Loop() {
			crc32.ChecksumIEEE([]byte(s[:body]))
		}
	})
	b.Run("tokenChecksum", func(b *testing.B) {
		for b.Loop() {
			tokenChecksum(s, body)
		}
	})
}
