package cache_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	"github.com/keyward/keyward/internal/testkit"
)

// within reports whether s's bytes lie inside outer's.
func within(s, outer string) bool {
	if len(s) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(outer)))
	return p >= lo && p < lo+uintptr(len(outer))
}

// TestCacheDoesNotKeepThePresentedKey: keyward.Parse hands out the id as a
// slice of the presented key string, so a cache that named its entries by
// that slice would hold every presented secret in memory for as long as the
// entry lives (and the whole string, about four times the id's bytes).
// Entries of known keys and of unknown ids must be named by strings of the
// cache's own.
func TestCacheDoesNotKeepThePresentedKey(t *testing.T) {
	e := newEnv(t, newBackend(), testkit.NewClock(t0), cache.Options{})
	iss := e.create(t)
	unknown, _ := keyward.NewToken("kw")
	wrong, _ := keyward.Parse(iss.Secret)
	wrong.Secret = strings.Repeat("b", keyward.SecretLength)
	// Fresh copies, so that no string the test or the store made before
	// shares their bytes.
	presented := []string{strings.Clone(iss.Secret), strings.Clone(unknown.String()), strings.Clone(wrong.String())}
	want := []keyward.Outcome{keyward.OutcomeValid, keyward.OutcomeNotFound, keyward.OutcomeNotFound}
	for i, p := range presented {
		if o := e.verify(t, p); o != want[i] {
			t.Fatalf("presentation %d: %s, want %s", i, o, want[i])
		}
	}
	keys, unknowns := e.cache.Names()
	if len(keys) != 1 || keys[0] != iss.Key.ID || len(unknowns) != 1 || unknowns[0] != unknown.ID {
		t.Fatalf("cached keys %q and unknown ids %q, want [%s] and [%s]", keys, unknowns, iss.Key.ID, unknown.ID)
	}
	for _, name := range append(keys, unknowns...) {
		for i, p := range presented {
			if within(name, p) {
				t.Errorf("the cache names an entry %q by a slice of presented key %d", name, i)
			}
		}
	}
}

// freshBackend says its reads return new instances, and makes them so: Get
// returns a copy of the memory store's key and remembers it.
type freshBackend struct {
	*backend
	last atomic.Pointer[keyward.Key]
}

func (b *freshBackend) ReturnsFreshKeys() bool { return true }

func (b *freshBackend) Get(ctx context.Context, id string) (*keyward.Key, error) {
	k, err := b.backend.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	k = k.Clone()
	b.last.Store(k)
	return k, nil
}

// TestCacheKeepsAFreshStoresInstance: behind a store whose reads return new
// instances (keyward.FreshKeyReader), the cache keeps the instance the store
// returned, with its memo, instead of a copy; behind one that hands out its
// own instance (package memory), it keeps a copy (see
// TestCacheDoesNotMemoizeTheStoresInstance).
func TestCacheKeepsAFreshStoresInstance(t *testing.T) {
	clk := testkit.NewClock(t0)
	for _, tc := range []struct {
		name  string
		fresh bool
	}{{"fresh", true}, {"shared", false}} {
		t.Run(tc.name, func(t *testing.T) {
			fb := &freshBackend{backend: newBackend()}
			var store keyward.Store = fb.backend
			if tc.fresh {
				store = fb
			}
			c, err := cache.New(store, &cache.Options{Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			counted := &countingHasher{Hasher: hasher(t)}
			svc := testkit.NewService(t, c, counted, &keyward.Options{Now: clk.Now})
			iss, err := svc.Create(context.Background(), keyward.CreateParams{Name: "kept"})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Get(context.Background(), iss.Key.ID)
			if err != nil {
				t.Fatal(err)
			}
			stored, _ := fb.backend.Store.Get(context.Background(), iss.Key.ID)
			switch kept := got == fb.last.Load(); {
			case tc.fresh && !kept:
				t.Error("the cache copied an instance the store said was new")
			case !tc.fresh && got == stored:
				t.Error("the cache keeps the memory store's own instance")
			}
			if n := hasherRuns(t, svc, counted, iss.Secret, 3); n != 1 {
				t.Errorf("3 verifications of the kept key ran the hasher %d times, want 1 (its memo)", n)
			}
		})
	}
}
