package keyward_test

import (
	"context"
	"testing"

	"github.com/keyward/keyward"
)

// BenchmarkVerify measures Service.Verify on the memory store with the HMAC
// hasher: parse, lookup, constant-time HMAC check, the rules, the usage count.
func BenchmarkVerify(b *testing.B) {
	e := newEnv(b)
	iss := e.create(b, keyward.CreateParams{Scopes: []string{"read"}})
	req := keyward.VerifyRequest{Key: iss.Secret, Scopes: []string{"read"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := e.svc.Verify(ctx, req); !r.Valid() {
			b.Fatal(r.Outcome)
		}
	}
}

// BenchmarkVerifyParallel is BenchmarkVerify from every core at once.
func BenchmarkVerifyParallel(b *testing.B) {
	e := newEnv(b)
	iss := e.create(b, keyward.CreateParams{})
	req := keyward.VerifyRequest{Key: iss.Secret}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r, _ := e.svc.Verify(ctx, req); !r.Valid() {
				b.Error(r.Outcome)
				return
			}
		}
	})
}

// BenchmarkVerifyNotFound presents a well-formed key with an unknown id: it
// costs a dummy hash comparison, like a wrong secret.
func BenchmarkVerifyNotFound(b *testing.B) {
	e := newEnv(b)
	tok, _ := keyward.NewToken("kw")
	req := keyward.VerifyRequest{Key: tok.String()}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := e.svc.Verify(ctx, req); r.Outcome != keyward.OutcomeNotFound {
			b.Fatal(r.Outcome)
		}
	}
}

// BenchmarkVerifyMalformed presents garbage: rejected by the parser alone.
func BenchmarkVerifyMalformed(b *testing.B) {
	e := newEnv(b)
	req := keyward.VerifyRequest{Key: "kw_0123456789abcdef_0123456789012345678901234567890123456789zzzzzz"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e.svc.Verify(ctx, req)
	}
}

// BenchmarkVerifyRateLimited verifies a key with a rate limit, through the
// in-process limiter.
func BenchmarkVerifyRateLimited(b *testing.B) {
	e := newEnv(b)
	iss := e.create(b, keyward.CreateParams{RateLimit: &keyward.RateLimit{Limit: 1 << 40, Period: keyward.Duration(60e9)}})
	req := keyward.VerifyRequest{Key: iss.Secret}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := e.svc.Verify(ctx, req); !r.Valid() {
			b.Fatal(r.Outcome)
		}
	}
}
