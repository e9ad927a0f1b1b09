package client_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// TestPolicyAndHygiene: Policy reads what the server applies; the list
// filters by use and expiry and the hygiene counts reach the server; a
// filter the server refuses is ErrInvalid.
func TestPolicyAndHygiene(t *testing.T) {
	svc, c := inProcess(t)
	ctx := context.Background()
	if p, err := c.Policy(ctx); err != nil || !p.Equal(keyward.Policy{}) {
		t.Fatalf("Policy with none set: %+v %v", p, err)
	}
	forever, err := c.CreateKey(ctx, keyward.CreateParams{Name: "forever"})
	if err != nil {
		t.Fatal(err)
	}
	soon, err := c.CreateKey(ctx, keyward.CreateParams{Name: "soon", ExpiresIn: keyward.Ptr(keyward.Duration(100 * time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	def, maxLife := 720*time.Hour, 1440*time.Hour
	want := keyward.Policy{DefaultKeyLifetime: &def, MaxKeyLifetime: &maxLife}
	if _, err := svc.SetPolicy(ctx, want); err != nil {
		t.Fatal(err)
	}
	if p, err := c.Policy(ctx); err != nil || !p.Equal(want) {
		t.Errorf("Policy: %+v %v, want %+v", p, err, want)
	}
	before := time.Now()
	iss, err := c.CreateKey(ctx, keyward.CreateParams{Name: "defaulted"})
	if e := iss.Key.ExpiresAt; err != nil || e == nil || e.Before(before.Add(def).Truncate(time.Millisecond)) || e.After(time.Now().Add(def)) {
		t.Errorf("CreateKey under a default of 720h: %+v %v", iss.Key.ExpiresAt, err)
	}
	if _, err := c.CreateKey(ctx, keyward.CreateParams{Name: "x", ExpiresIn: keyward.Ptr(keyward.Never)}); !errors.Is(err, keyward.ErrInvalid) {
		t.Errorf(`CreateKey "never" under a maximum: %v, want ErrInvalid`, err)
	}

	names := func(p keyward.ListParams) []string {
		t.Helper()
		page, err := c.ListKeys(ctx, p)
		if err != nil {
			t.Fatalf("ListKeys %+v: %v", p, err)
		}
		var out []string
		for _, k := range page.Items {
			out = append(out, k.Name)
		}
		return out
	}
	for _, tc := range []struct {
		p    keyward.ListParams
		want []string
	}{
		{keyward.ListParams{NoExpiry: true}, []string{forever.Key.Name}},
		{keyward.ListParams{ExpiresWithin: 168 * time.Hour}, []string{soon.Key.Name}},
		{keyward.ListParams{NeverUsed: true, Query: "o"}, []string{soon.Key.Name, forever.Key.Name}},
		{keyward.ListParams{UnusedFor: time.Hour}, nil},
	} {
		// Which keys, not their order: both keys may be created within the
		// same millisecond, and then their order is that of their random ids.
		got := names(tc.p)
		slices.Sort(got)
		slices.Sort(tc.want)
		if !slices.Equal(got, tc.want) {
			t.Errorf("ListKeys %+v: %v, want %v", tc.p, got, tc.want)
		}
	}
	if _, err := c.ListKeys(ctx, keyward.ListParams{UnusedFor: -time.Hour}); !errors.Is(err, keyward.ErrInvalid) {
		t.Errorf("ListKeys with a negative unused_for: %v, want ErrInvalid", err)
	}
	h, err := c.Hygiene(ctx)
	wantH := keyward.Hygiene{NeverUsed: 3, Unused: 0, UnusedFor: keyward.Duration(keyward.HygieneUnusedFor),
		Expiring: 1, ExpiresWithin: keyward.Duration(keyward.HygieneExpiresWithin), NoExpiry: 1}
	if err != nil || h != wantH {
		t.Errorf("Hygiene: %+v %v, want %+v", h, err, wantH)
	}
}
