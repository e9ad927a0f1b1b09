package cache_test

import (
	"strings"
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
