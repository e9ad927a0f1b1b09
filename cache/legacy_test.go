package cache_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	"github.com/keyward/keyward/internal/testkit"
)

// importLegacy imports one key of a legacy format whose hash is keyward's
// HMAC, as a keyshield key's is after its first verification (or a
// fastapi_simple_security key's at once), and returns its key string.
func importLegacy(tb testing.TB, e *env, f keyward.LegacyFormat) string {
	tb.Helper()
	key, id := "755700d9-c33e-4e3b-9cb4-b5cf31608bb8", keyward.SimpleSecurityID("755700d9-c33e-4e3b-9cb4-b5cf31608bb8")
	secret := key
	if f.Kind == keyward.LegacyKeyshield {
		id, secret = "02664fa94dc64da3", strings.Repeat("S3cr", 16)
		key = f.Prefix + f.Separator + id + f.Separator + secret
	}
	hash, err := hasher(tb).Hash(secret)
	if err != nil {
		tb.Fatal(err)
	}
	k := &keyward.Key{ID: id, Prefix: "kw", Name: "imported", Enabled: true, Hash: hash}
	if err := e.svc.ValidateImport(k); err != nil {
		tb.Fatal(err)
	}
	if _, err := e.svc.ImportLegacy(context.Background(), f, []*keyward.Key{k}); err != nil {
		tb.Fatal(err)
	}
	if o := e.verify(tb, key); o != keyward.OutcomeValid {
		tb.Fatalf("imported key: %v", o)
	}
	return key
}

var (
	keyshieldFormat = keyward.LegacyFormat{Kind: keyward.LegacyKeyshield, Prefix: "ak_v1", Separator: "-"}
	simpleFormat    = keyward.LegacyFormat{Kind: keyward.LegacySimpleSecurity}
)

// BenchmarkVerifyCacheHitKeyshield is BenchmarkVerifyCacheHit for a key
// imported from keyshield, once its hash is keyward's: the native parse
// fails, the recorded formats are consulted, the rest is the same.
func BenchmarkVerifyCacheHitKeyshield(b *testing.B) {
	benchLegacy(b, keyshieldFormat)
}

// BenchmarkVerifyCacheHitSimpleSecurity is the same for a key imported from
// fastapi_simple_security (its id is a SHA-256 of the key string).
func BenchmarkVerifyCacheHitSimpleSecurity(b *testing.B) {
	benchLegacy(b, simpleFormat)
}

// BenchmarkVerifyCacheHitWithLegacyFormats is BenchmarkVerifyCacheHit (a
// native key) on a deployment that has legacy formats recorded.
func BenchmarkVerifyCacheHitWithLegacyFormats(b *testing.B) {
	e := newEnv(b, newBackend(), testkit.NewClock(t0), cache.Options{TTL: time.Hour})
	importLegacy(b, e, keyshieldFormat)
	importLegacy(b, e, simpleFormat)
	iss := e.create(b)
	e.verify(b, iss.Secret)
	req := keyward.VerifyRequest{Key: iss.Secret}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := e.svc.Verify(ctx, req); !r.Valid() {
			b.Fatal(r.Outcome)
		}
	}
}

func benchLegacy(b *testing.B, f keyward.LegacyFormat) {
	e := newEnv(b, newBackend(), testkit.NewClock(t0), cache.Options{TTL: time.Hour})
	req := keyward.VerifyRequest{Key: importLegacy(b, e, f)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := e.svc.Verify(ctx, req); !r.Valid() {
			b.Fatal(r.Outcome)
		}
	}
}

// TestLegacyKeysAreCachedLikeNativeOnes checks that a second verification of
// an imported key is answered from the cache and the memo: no store lookup
// and no hash.
func TestLegacyKeysAreCachedLikeNativeOnes(t *testing.T) {
	for _, f := range []keyward.LegacyFormat{keyshieldFormat, simpleFormat} {
		e := newEnv(t, newBackend(), testkit.NewClock(t0), cache.Options{TTL: time.Hour})
		key := importLegacy(t, e, f)
		gets := e.back.gets.Load()
		for range 3 {
			if o := e.verify(t, key); o != keyward.OutcomeValid {
				t.Fatalf("%s: %v", f, o)
			}
		}
		if n := e.back.gets.Load() - gets; n != 0 {
			t.Errorf("%s: %d store lookups for a cached imported key, want 0", f, n)
		}
	}
}
