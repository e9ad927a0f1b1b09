package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// HygieneNow is the time at which the keys of [SeedHygiene] are judged.
var HygieneNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// SeedHygiene adds n keys to s, spread as in a deployment two years old at
// [HygieneNow]: created evenly over the two years; 40% without expiry, the
// others living 30 days (20%), 90 days (25%) or a year (15%) from their
// creation; a quarter never used, the others last used at an even time
// between their creation and the earlier of their expiry and now; 5%
// revoked, 3% disabled. About 0.6% of the keys expire within the next 7
// days and about 60% are unused for 90 days. The spread is the same on
// every run (the ids differ).
func SeedHygiene(tb testing.TB, s keyward.Store, n int) {
	tb.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	const batch = 5000
	span := 730 * 24 * time.Hour
	start := time.Now()
	for done := 0; done < n; {
		keys := make([]*keyward.Key, 0, batch)
		for i := done; i < min(done+batch, n); i++ {
			created := HygieneNow.Add(-time.Duration(r.Int64N(int64(span)))).Truncate(time.Millisecond)
			k := plain(tb, fmt.Sprintf("key %d of team %d", i, i%50), created)
			k.Owner = fmt.Sprintf("team-%d", i%50)
			k.Scopes = []string{"read", "write"}
			k.Metadata = json.RawMessage(`{"plan":"pro"}`)
			k.Hash = "$hmac-sha256$p=bench$0123456789abcdef0123456789abcdef0123456789abcdef"
			end := HygieneNow
			switch p := r.IntN(100); {
			case p < 20:
				k.ExpiresAt = keyward.Ptr(created.Add(30 * 24 * time.Hour))
			case p < 45:
				k.ExpiresAt = keyward.Ptr(created.Add(90 * 24 * time.Hour))
			case p < 60:
				k.ExpiresAt = keyward.Ptr(created.Add(365 * 24 * time.Hour))
			}
			if k.ExpiresAt != nil && k.ExpiresAt.Before(end) {
				end = *k.ExpiresAt
			}
			if r.IntN(4) > 0 {
				k.LastUsedAt = keyward.Ptr(created.Add(time.Duration(r.Int64N(int64(end.Sub(created)) + 1))).Truncate(time.Millisecond))
			}
			switch p := r.IntN(100); {
			case p < 5:
				k.RevokedAt = keyward.Ptr(end)
			case p < 8:
				k.Enabled = false
			}
			keys = append(keys, k)
		}
		if _, err := s.CreateBatch(ctx, keys, make([]*keyward.AuditEntry, len(keys))); err != nil {
			tb.Fatal(err)
		}
		done += len(keys)
	}
	tb.Logf("seeded %d keys in %v", n, time.Since(start).Round(time.Second))
}

// BenchListFilters measures [keyward.Service.List] on s, seeded by
// [SeedHygiene], at [HygieneNow]: a page of 100 keys without filter and with
// each filter on use and expiry, from the start of the list and from a
// cursor in the middle of the table; and [keyward.Service.Hygiene]. A
// filtered page should cost about what an unfiltered one does.
func BenchListFilters(b *testing.B, s keyward.Store) {
	ctx := context.Background()
	svc := service(b, s, HygieneNow)
	middle := middleCursor(b, svc)
	filters := []struct {
		name string
		p    keyward.ListParams
	}{
		{"unfiltered", keyward.ListParams{}},
		{"unused_for=90d", keyward.ListParams{UnusedFor: 90 * 24 * time.Hour}},
		{"expires_within=7d", keyward.ListParams{ExpiresWithin: 7 * 24 * time.Hour}},
		{"never_used", keyward.ListParams{NeverUsed: true}},
		{"no_expiry", keyward.ListParams{NoExpiry: true}},
		{"active,unused_for=90d", keyward.ListParams{Status: keyward.StatusActive, UnusedFor: 90 * 24 * time.Hour}},
		{"active,expires_within=7d", keyward.ListParams{Status: keyward.StatusActive, ExpiresWithin: 7 * 24 * time.Hour}},
	}
	for _, f := range filters {
		for _, at := range []struct{ name, cursor string }{{"first", ""}, {"middle", middle}} {
			b.Run(f.name+"/"+at.name, func(b *testing.B) {
				p := f.p
				p.Limit, p.Cursor = 100, at.cursor
				b.ReportAllocs()
				var n int
				for b.Loop() {
					page, err := svc.List(ctx, p)
					if err != nil {
						b.Fatal(err)
					}
					n = len(page.Items)
				}
				b.ReportMetric(float64(n), "keys/page")
			})
		}
	}
	b.Run("hygiene_counts", func(b *testing.B) {
		for b.Loop() {
			if _, err := svc.Hygiene(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// middleCursor returns the list cursor after half of the keys.
func middleCursor(b *testing.B, svc *keyward.Service) string {
	ctx := context.Background()
	counts, err := svc.Counts(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, c := range counts {
		n += c
	}
	cursor := ""
	for seen := int64(0); seen < n/2; {
		page, err := svc.List(ctx, keyward.ListParams{Limit: int(min(keyward.MaxPageSize, n/2-seen)), Cursor: cursor})
		if err != nil {
			b.Fatal(err)
		}
		seen += int64(len(page.Items))
		cursor = page.NextCursor
	}
	return cursor
}
